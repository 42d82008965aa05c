package procedure

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/vigilops/vigil/model"
)

// ReportStore is what a report reads.
type ReportStore interface {
	ProcedureRun(ctx context.Context, id uint) (model.ProcedureRun, error)
	ProcedureSteps(ctx context.Context, runID uint) ([]model.ProcedureStepRecord, error)
	ProcedureActions(ctx context.Context, runID uint) ([]model.ProcedureAction, error)
	ProcedureDeviations(ctx context.Context, runID uint) ([]model.ProcedureDeviation, error)
}

// Report is the after-action report of one run.
type Report struct {
	Run        model.ProcedureRun
	Procedure  *Procedure // as recorded with the run; nil if it no longer parses
	Steps      []ReportStep
	Actions    []model.ProcedureAction
	Deviations []model.ProcedureDeviation
	Checks     []Check // the preflight
	Bindings   map[string][]string
	// Recovery is the time from the first destructive step to recovery
	// (the procedure's recovered_at step, or the end); Recovered is false
	// when the run did not get there.
	Recovery  time.Duration
	Recovered bool
	// RecoveryFrom says what the recovery time counts from.
	RecoveryFrom string
}

// ReportStep is one step record with what it needs for display.
type ReportStep struct {
	model.ProcedureStepRecord
	Label    string
	Evidence []string
	Took     time.Duration
}

// LoadReport gathers the report of run id.
func LoadReport(ctx context.Context, s ReportStore, id uint) (*Report, error) {
	run, err := s.ProcedureRun(ctx, id)
	if err != nil {
		return nil, err
	}
	rep := &Report{Run: run, Bindings: map[string][]string{}}
	if p, err := Parse(run.SourceFile, []byte(run.Source)); err == nil {
		rep.Procedure = p
	}
	recs, err := s.ProcedureSteps(ctx, id)
	if err != nil {
		return nil, err
	}
	if rep.Actions, err = s.ProcedureActions(ctx, id); err != nil {
		return nil, err
	}
	if rep.Deviations, err = s.ProcedureDeviations(ctx, id); err != nil {
		return nil, err
	}
	json.Unmarshal([]byte(run.Preflight), &rep.Checks)
	var bound map[string][]boundServer
	json.Unmarshal([]byte(run.Bindings), &bound)
	for name, list := range bound {
		for _, s := range list {
			rep.Bindings[name] = append(rep.Bindings[name], s.Name)
		}
	}
	for _, r := range recs {
		rs := ReportStep{ProcedureStepRecord: r, Label: fmt.Sprintf("step %d", r.Index+1)}
		if r.DocStep != "" {
			rs.Label += " (document " + r.DocStep + ")"
		}
		json.Unmarshal([]byte(r.Evidence), &rs.Evidence)
		if r.Ended != nil {
			rs.Took = r.Ended.Sub(r.Started)
		}
		rep.Steps = append(rep.Steps, rs)
	}
	rep.recovery()
	return rep, nil
}

// recovery works out the recovery time: from the start of the first
// destructive step (else the run's start) to the end of the recovered_at
// step (else the run's end).
func (rep *Report) recovery() {
	from := rep.Run.Started
	rep.RecoveryFrom = "the start of the run"
	if p := rep.Procedure; p != nil {
		destructive := map[int]bool{}
		for _, st := range p.Steps {
			destructive[st.Index] = st.Destructive
		}
		for _, s := range rep.Steps {
			if destructive[s.Index] && (s.State == model.StepPassed || s.State == model.StepFailed) {
				from = s.Started
				rep.RecoveryFrom = "the start of " + s.Label + ", the first change to production"
				break
			}
		}
		if p.RecoveredAt != "" {
			at := p.StepByID(p.RecoveredAt)
			for _, s := range rep.Steps {
				if s.Index == at && s.State == model.StepPassed && s.Ended != nil {
					rep.Recovery, rep.Recovered = s.Ended.Sub(from), true
					return
				}
			}
			return
		}
	}
	if rep.Run.State == model.RunCompleted && rep.Run.Ended != nil {
		rep.Recovery, rep.Recovered = rep.Run.Ended.Sub(from), true
	}
}

// RecoveryText says the recovery time against the target.
func (rep *Report) RecoveryText() string {
	if rep.Run.Rehearsal {
		return "A rehearsal: nothing was changed, so there was no recovery to time."
	}
	target := time.Duration(rep.Run.TargetRecovery)
	if !rep.Recovered {
		if target > 0 {
			return fmt.Sprintf("Not recovered: the run ended %s. Target: %v.", rep.Run.State, target)
		}
		return fmt.Sprintf("Not recovered: the run ended %s.", rep.Run.State)
	}
	s := fmt.Sprintf("%v from %s", roundDuration(rep.Recovery), rep.RecoveryFrom)
	switch {
	case target == 0:
		return s + "; the procedure sets no target."
	case rep.Recovery <= target:
		return s + fmt.Sprintf(", within the target of %v.", target)
	}
	return s + fmt.Sprintf(", over the target of %v by %v.", target, roundDuration(rep.Recovery-target))
}

// SignOffs lists who signed off and who confirmed what.
func (rep *Report) SignOffs() []string {
	var out []string
	if rep.Run.SignedOffBy != "" {
		at := ""
		if rep.Run.SignedOffAt != nil {
			at = " at " + stamp(*rep.Run.SignedOffAt)
		}
		out = append(out, fmt.Sprintf("Supervisor %s signed off%s.", rep.Run.SignedOffBy, at))
	} else if rep.Run.Supervisor != "" {
		out = append(out, fmt.Sprintf("Supervisor %s was named but did not sign off.", rep.Run.Supervisor))
	}
	for _, s := range rep.Steps {
		if s.Actor == "" || (s.Type != string(StepConfirm) && s.Type != string(StepChoose) && s.Type != string(StepAction)) {
			continue
		}
		line := fmt.Sprintf("%s: %s", s.Label, s.Result)
		if s.Note != "" {
			line += " — note: " + s.Note
		}
		out = append(out, line)
	}
	return out
}

// roundDuration keeps a duration readable: milliseconds under a minute,
// seconds above.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

func stamp(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }

func clock(t time.Time) string { return t.Local().Format("15:04:05.000") }

func (rep *Report) kindWord() string {
	if rep.Run.Rehearsal {
		return "Rehearsal"
	}
	return "Run"
}

// Markdown renders the report as Markdown.
func (rep *Report) Markdown() string {
	var b strings.Builder
	r := rep.Run
	fmt.Fprintf(&b, "# %s %d: %s\n\n", rep.kindWord(), r.ID, mdInline(r.Title))
	fmt.Fprintf(&b, "- Procedure: `%s` (%s, %s)\n", r.ProcedureID, r.Profile, r.Kind)
	if p := rep.Procedure; p != nil {
		fmt.Fprintf(&b, "- Document: %s", mdInline(p.Document.File))
		if p.Document.Section != "" {
			fmt.Fprintf(&b, ", \"%s\"", mdInline(p.Document.Section))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "- System: %s\n", mdInline(r.System))
	fmt.Fprintf(&b, "- Outcome: **%s**\n", r.State)
	fmt.Fprintf(&b, "- Operator: %s\n", mdInline(orUnknownOp(r.Operator)))
	if r.Supervisor != "" {
		fmt.Fprintf(&b, "- Supervisor: %s\n", mdInline(r.Supervisor))
	}
	fmt.Fprintf(&b, "- Started: %s\n", stamp(r.Started))
	if r.Ended != nil {
		fmt.Fprintf(&b, "- Ended: %s (%v)\n", stamp(*r.Ended), r.Ended.Sub(r.Started).Round(time.Millisecond))
	}
	if len(rep.Bindings) > 0 {
		b.WriteString("- Servers: ")
		b.WriteString(mdInline(rep.bindingText()))
		b.WriteString("\n")
	}

	b.WriteString("\n## Recovery\n\n")
	fmt.Fprintf(&b, "- Recovery time: %s\n", mdInline(rep.RecoveryText()))
	if r.RecoveryPoint != "" {
		fmt.Fprintf(&b, "- Recovery point: %s\n", mdInline(r.RecoveryPoint))
	} else {
		b.WriteString("- Recovery point: not given by any fact of this procedure\n")
	}

	if r.Summary != "" || r.WayBack != "" {
		b.WriteString("\n## Where things stand\n\n")
		if r.Summary != "" {
			b.WriteString(mdInline(r.Summary) + "\n")
		}
		if r.WayBack != "" {
			fmt.Fprintf(&b, "\nThe document's way back: %s\n", mdInline(r.WayBack))
		}
	}

	if len(rep.Checks) > 0 {
		b.WriteString("\n## Preflight\n\n")
		for _, c := range rep.Checks {
			mark := "ok"
			switch {
			case !c.OK:
				mark = "FAILED"
			case c.Warning:
				mark = "note"
			}
			fmt.Fprintf(&b, "- %s %s: %s\n", mark, mdInline(c.Name), mdInline(c.Detail))
		}
	}

	b.WriteString("\n## Timeline\n\n")
	b.WriteString("| Step | Type | Started | Took | Result | What happened |\n|---|---|---|---|---|---|\n")
	for _, s := range rep.Steps {
		fmt.Fprintf(&b, "| %s | %s | %s | %v | %s | %s |\n", s.Label, s.Type, clock(s.Started), s.Took.Round(time.Millisecond),
			s.State, mdCell(s.Result))
	}
	b.WriteString("\n### Steps in the document's words, with evidence\n\n")
	for _, s := range rep.Steps {
		fmt.Fprintf(&b, "**%s** (%s, attempt %d): %s\n\n", s.Label, s.State, s.Attempt, mdInline(s.Text))
		for _, e := range s.Evidence {
			fmt.Fprintf(&b, "- %s\n", mdInline(e))
		}
		if s.Note != "" {
			fmt.Fprintf(&b, "- Note: %s\n", mdInline(s.Note))
		}
		if len(s.Evidence) > 0 || s.Note != "" {
			b.WriteString("\n")
		}
	}

	b.WriteString("## Requests sent to agents\n\n")
	if len(rep.Actions) == 0 {
		b.WriteString("None.\n")
	}
	for _, a := range rep.Actions {
		kind := ""
		switch {
		case a.Preview:
			kind = " (preview, dry run)"
		case a.DryRun:
			kind = " (dry run)"
		}
		fmt.Fprintf(&b, "- `%s` %s on %s%s: %s\n", a.RequestID, a.Action, mdInline(a.Server), kind, a.State)
	}

	b.WriteString("\n## Deviations\n\n")
	if len(rep.Deviations) == 0 {
		b.WriteString("None.\n")
	}
	for _, d := range rep.Deviations {
		fmt.Fprintf(&b, "- %s: %s\n", clock(d.Time), mdInline(d.Text))
	}

	b.WriteString("\n## Sign-offs\n\n")
	signs := rep.SignOffs()
	if len(signs) == 0 {
		b.WriteString("None.\n")
	}
	for _, s := range signs {
		fmt.Fprintf(&b, "- %s\n", mdInline(s))
	}
	return b.String()
}

func (rep *Report) bindingText() string {
	var parts []string
	if p := rep.Procedure; p != nil {
		for _, bd := range p.Bindings {
			s := bd.Name
			if bd.DocumentName != "" {
				s += " (" + bd.DocumentName + " in the document)"
			}
			parts = append(parts, s+" = "+strings.Join(rep.Bindings[bd.Name], ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// mdInline keeps text from being read as Markdown markup.
func mdInline(s string) string {
	r := strings.NewReplacer("\\", "\\\\", "*", "\\*", "_", "\\_", "`", "\\`", "[", "\\[", "]", "\\]", "<", "&lt;", "\n", " ")
	return r.Replace(s)
}

func mdCell(s string) string { return strings.ReplaceAll(mdInline(s), "|", "\\|") }

var htmlReport = template.Must(template.New("report").Funcs(template.FuncMap{
	"stamp": stamp, "clock": clock,
	"round": func(d time.Duration) time.Duration { return d.Round(time.Millisecond) },
	"sub":   func(a, b time.Time) time.Duration { return a.Sub(b).Round(time.Millisecond) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Kind}} {{.R.Run.ID}}: {{.R.Run.Title}}</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:70em}
table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em .5em;vertical-align:top;text-align:left}
.passed,.completed{color:#161}.failed,.aborted,.interrupted{color:#a11}.skipped,.rehearsed{color:#555}
</style></head><body>
<h1>{{.Kind}} {{.R.Run.ID}}: {{.R.Run.Title}}</h1>
<ul>
<li>Procedure: <code>{{.R.Run.ProcedureID}}</code> ({{.R.Run.Profile}}, {{.R.Run.Kind}})</li>
{{with .R.Procedure}}<li>Document: {{.Document.File}}{{with .Document.Section}}, “{{.}}”{{end}}</li>{{end}}
<li>System: {{.R.Run.System}}</li>
<li>Outcome: <strong class="{{.R.Run.State}}">{{.R.Run.State}}</strong></li>
<li>Operator: {{.Operator}}</li>
{{with .R.Run.Supervisor}}<li>Supervisor: {{.}}</li>{{end}}
<li>Started: {{stamp .R.Run.Started}}</li>
{{with .R.Run.Ended}}<li>Ended: {{stamp .}} ({{sub . $.R.Run.Started}})</li>{{end}}
{{with .Bindings}}<li>Servers: {{.}}</li>{{end}}
</ul>
<h2>Recovery</h2>
<ul><li>Recovery time: {{.R.RecoveryText}}</li>
<li>Recovery point: {{with .R.Run.RecoveryPoint}}{{.}}{{else}}not given by any fact of this procedure{{end}}</li></ul>
{{if or .R.Run.Summary .R.Run.WayBack}}<h2>Where things stand</h2>
{{with .R.Run.Summary}}<p>{{.}}</p>{{end}}
{{with .R.Run.WayBack}}<p>The document's way back: {{.}}</p>{{end}}{{end}}
{{with .R.Checks}}<h2>Preflight</h2><ul>
{{range .}}<li>{{if .Warning}}note{{else if .OK}}ok{{else}}<strong class="failed">FAILED</strong>{{end}} {{.Name}}: {{.Detail}}</li>
{{end}}</ul>{{end}}
<h2>Timeline</h2>
<table><tr><th>Step</th><th>Type</th><th>Started</th><th>Took</th><th>Result</th><th>The document's words</th><th>What happened</th></tr>
{{range .R.Steps}}<tr><td>{{.Label}}{{if gt .Attempt 1}} (attempt {{.Attempt}}){{end}}</td><td>{{.Type}}</td><td>{{clock .Started}}</td><td>{{round .Took}}</td>
<td class="{{.State}}">{{.State}}</td><td>{{.Text}}</td><td>{{.Result}}{{if .Evidence}}<ul>{{range .Evidence}}<li>{{.}}</li>{{end}}</ul>{{end}}{{with .Note}}<p>Note: {{.}}</p>{{end}}</td></tr>
{{end}}</table>
<h2>Requests sent to agents</h2>
{{if .R.Actions}}<ul>{{range .R.Actions}}<li><code>{{.RequestID}}</code> {{.Action}} on {{.Server}}{{if .Preview}} (preview, dry run){{else if .DryRun}} (dry run){{end}}: {{.State}}</li>
{{end}}</ul>{{else}}<p>None.</p>{{end}}
<h2>Deviations</h2>
{{if .R.Deviations}}<ul>{{range .R.Deviations}}<li>{{clock .Time}}: {{.Text}}</li>
{{end}}</ul>{{else}}<p>None.</p>{{end}}
<h2>Sign-offs</h2>
{{if .SignOffs}}<ul>{{range .SignOffs}}<li>{{.}}</li>
{{end}}</ul>{{else}}<p>None.</p>{{end}}
</body></html>
`))

// HTML renders the report as a standalone HTML page.
func (rep *Report) HTML() (string, error) {
	var b bytes.Buffer
	err := htmlReport.Execute(&b, map[string]any{"R": rep, "Kind": rep.kindWord(), "Operator": orUnknownOp(rep.Run.Operator),
		"Bindings": rep.bindingText(), "SignOffs": rep.SignOffs()})
	if err != nil {
		return "", fmt.Errorf("render the report of run %d: %w", rep.Run.ID, err)
	}
	return b.String(), nil
}
