package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/procedure"
)

// The end of a run: how it ended, where things stand, and its report,
// shown and saved as Markdown or HTML.

// finished shows how the run ended, its steps as recorded and its report.
func (r *runScreen) finished(out procedure.Outcome, err error, rep *procedure.Report, repErr error) {
	r.m.Finish(out, err)
	if r.cancel != nil {
		r.cancel()
	}
	r.showReport(rep, repErr)
	if r.w.env.ended != nil {
		r.w.env.ended()
	}
	if fn := r.onStopped; fn != nil {
		r.onStopped = nil
		fn()
	}
}

// loadReport reads a run's report and shows it with the run's end (or
// where a stopped run stands).
func (r *runScreen) loadReport(id uint, then func()) {
	env, db := r.w.env, r.eng.Store
	r.endHead.SetText("Reading run " + fmt.Sprint(id) + "…")
	env.requests.goRequest(func() {
		rep, err := procedure.LoadReport(env.ctx, db, id)
		env.do(func() {
			r.showReport(rep, err)
			if then != nil {
				then()
			}
		})
	})
}

func (r *runScreen) showReport(rep *procedure.Report, repErr error) {
	if rep != nil {
		r.m.Report = rep
		// The records as stored: a resumed step's newest attempt wins, and
		// steps the end marked (aborted) read as it says.
		for _, s := range rep.Steps {
			if s.Index >= 0 && s.Index < len(r.m.Recs) {
				rec := s.ProcedureStepRecord
				r.m.Recs[s.Index] = &rec
			}
		}
		r.reportMD = rep.Markdown()
		r.reportView.ParseMarkdown(r.reportMD)
		if r.m.Stopped != nil {
			r.m.Stopped.State, r.m.Stopped.Summary = rep.Run.State, rep.Run.Summary
		}
	}
	for i := range r.rows {
		r.showRow(i)
	}
	state := r.m.Outcome()
	r.endTag.set(lookOfOutcome(state, r.opts.Rehearsal))
	head := fmt.Sprintf("Run %d of %s on %s.", r.m.RunID, r.p.Title, r.opts.System)
	if r.m.RunErr != nil {
		head = "The run could not go on: " + r.m.RunErr.Error()
	}
	if repErr != nil {
		head += " The report could not be read: " + repErr.Error()
	}
	r.endHead.SetText(head)
	summary := r.m.Summary()
	if summary == "" && state == model.RunCompleted {
		summary = "Every step is done. The report below is the record of the run."
	}
	r.endSummary.SetText(summary)
	wayBack := ""
	if r.m.Out != nil {
		wayBack = r.m.Out.WayBack
	}
	if wayBack == "" && rep != nil {
		wayBack = rep.Run.WayBack
	}
	r.endWayBack.SetText(wayBack)
	setVisible(r.wayBackRow, wayBack != "")
	open := state.Open() && !r.m.Active
	setVisible(r.resume, open)
	setVisible(r.abortOld, open)
	setEnabled(r.resume, open)
	setEnabled(r.abortOld, open)
	if open && rep != nil {
		r.resume.SetText(fmt.Sprintf("Resume at step %d", rep.Run.Cursor+1))
	}
	if r.savePath.Text == "" && r.m.RunID != 0 {
		r.savePath.SetText(defaultReportPath(r.m.RunID, r.p.ID))
	}
	r.w.setTitle(strings.ToLower(lookOfOutcome(state, r.opts.Rehearsal).word) + " - " + r.p.Title)
	r.showPane()
	r.endPane.Refresh()
}

// defaultReportPath is where a report is saved unless the operator says
// otherwise: the home directory, without the extension the format adds.
func defaultReportPath(id uint, procedureID string) string {
	dir, err := os.UserHomeDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, fmt.Sprintf("vigil-run-%d-%s", id, procedureID))
}

// saveReport writes the report as Markdown or HTML beside the path given,
// on a goroutine of its own. A file already there is replaced only after
// the operator says so.
func (r *runScreen) saveReport(format string) {
	rep := r.m.Report
	base := strings.TrimSpace(r.savePath.Text)
	if rep == nil || base == "" {
		return
	}
	path := strings.TrimSuffix(strings.TrimSuffix(base, ".md"), ".html") + "." + format
	if _, err := os.Stat(path); err == nil {
		r.replaceAsk = askReplace(r.w.win, path, func() { r.writeReport(rep, format, path, nil) })
		return
	}
	r.writeReport(rep, format, path, nil)
}

// chooseReport picks the report's file in a file save dialog and writes
// it there at once: as HTML when the name chosen ends in .html or .htm,
// as Markdown otherwise. The path chosen goes into the entry, so the save
// buttons write beside it.
func (r *runScreen) chooseReport() {
	rep := r.m.Report
	if rep == nil {
		return
	}
	base := strings.TrimSpace(r.savePath.Text)
	if base == "" {
		base = defaultReportPath(r.m.RunID, r.p.ID)
	}
	if ext := filepath.Ext(base); ext != ".md" && ext != ".html" && ext != ".htm" {
		base += ".md"
	}
	chooseSaveFile(r.w.win, base, func(path string, out fyne.URIWriteCloser) {
		r.savePath.SetText(path)
		format := "md"
		if ext := strings.ToLower(filepath.Ext(path)); ext == ".html" || ext == ".htm" {
			format = "html"
		}
		r.writeReport(rep, format, path, out)
	})
}

// writeReport writes rep in format to out, or to the file at path when
// out is nil, on a goroutine of its own, and says how it went.
func (r *runScreen) writeReport(rep *procedure.Report, format, path string, out io.WriteCloser) {
	env := r.w.env
	r.saveStatus.Importance = widget.MediumImportance
	r.saveStatus.SetText("Saving " + path + "…")
	r.saveStatus.Show()
	env.requests.goRequest(func() {
		var text string
		var err error
		if format == "html" {
			text, err = rep.HTML()
		} else {
			text = rep.Markdown()
		}
		switch {
		case out != nil:
			if err == nil {
				_, err = io.WriteString(out, text)
			}
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		case err == nil:
			err = os.WriteFile(path, []byte(text), 0o644)
		}
		env.do(func() {
			if err != nil {
				r.saveStatus.Importance = widget.DangerImportance
				r.saveStatus.SetText("The report was not saved: " + err.Error())
				return
			}
			r.saveStatus.Importance = widget.SuccessImportance
			r.saveStatus.SetText("Saved " + path)
		})
	})
}

// decodeList reads a JSON list of strings; anything else reads as none.
func decodeList(s string) []string {
	var out []string
	if s != "" {
		json.Unmarshal([]byte(s), &out)
	}
	return out
}
