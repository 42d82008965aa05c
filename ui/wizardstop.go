package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"github.com/vigilops/vigil/procedure"
)

// Stopping a run: the abort and close questions, and resuming or
// aborting a run that stopped without ending.

// stopRequest is why the operator stopped a run that was not waiting for
// an answer: to abort it, or to leave it to resume later.
type stopRequest struct {
	abort  bool
	by     string
	reason string
}

// askAbort asks, in plain words, whether to abort the run, and why.
func (r *runScreen) askAbort() {
	if r.popup != nil {
		return
	}
	at := "before its first step"
	if r.m.Current >= 0 {
		at = fmt.Sprintf("at step %d of %d", r.m.Current+1, len(r.p.Steps))
	} else if r.m.Stopped != nil {
		at = fmt.Sprintf("at step %d of %d", r.m.Stopped.Cursor+1, len(r.p.Steps))
	}
	text := "Vigil stops the run " + at + " and records it as aborted, with where things stand. " +
		"Steps already done are not undone: the next screen shows the document's way back."
	if r.m.Active && r.m.Q == nil {
		text += " A request already sent to an agent is still carried out by the agent; the summary lists it."
	}
	r.abortReason = widget.NewEntry()
	r.abortReason.SetPlaceHolder("Why (recorded in the report)")
	keep := widget.NewButtonWithIcon("Keep the run", theme.CancelIcon(), r.closePopup)
	r.abortGo = widget.NewButtonWithIcon("Abort the run", theme.ConfirmIcon(), func() {
		reason := strings.TrimSpace(r.abortReason.Text)
		r.closePopup()
		r.abortRun(reason)
	})
	r.abortGo.Importance = widget.DangerImportance
	r.showPopup("Abort this run?", text, r.abortReason, container.NewHBox(layout.NewSpacer(), keep, r.abortGo), keep)
}

// askClose asks what to do with a run in progress when its window closes.
func (r *runScreen) askClose() {
	if r.popup != nil {
		return
	}
	at := "at its start"
	if r.m.Current >= 0 {
		at = fmt.Sprintf("at step %d of %d", r.m.Current+1, len(r.p.Steps))
	}
	text := "The run is in progress, " + at + ". Leave it to resume later: Vigil stops it where it is, and the console " +
		"offers to resume it at this step when it is opened again (or `vigil procedure resume " + fmt.Sprint(r.m.RunID) + "`). " +
		"Or abort it: it is recorded as aborted, with where things stand."
	keep := widget.NewButton("Keep the window open", r.closePopup)
	r.leave = widget.NewButtonWithIcon("Leave it to resume later", theme.MediaPauseIcon(), func() {
		r.closePopup()
		r.onStopped = r.w.close
		r.stopWith.Store(&stopRequest{})
		r.status.SetText("Stopping the run where it is…")
		r.cancel()
	})
	r.leave.Importance = widget.HighImportance
	r.abortGo = widget.NewButtonWithIcon("Abort the run and close", theme.CancelIcon(), func() {
		r.closePopup()
		r.onStopped = r.w.close
		r.abortRun("the operator closed the wizard")
	})
	r.abortGo.Importance = widget.DangerImportance
	r.showPopup("Close the wizard?", text, nil, container.NewHBox(keep, layout.NewSpacer(), r.leave, r.abortGo), keep)
}

func (r *runScreen) showPopup(title, text string, field fyne.CanvasObject, buttons fyne.CanvasObject, focus fyne.Focusable) {
	head := widget.NewLabelWithStyle(title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	head.SizeName = theme.SizeNameSubHeadingText
	body := container.NewVBox(
		container.NewBorder(nil, nil, widget.NewIcon(theme.NewWarningThemedResource(theme.QuestionIcon())), nil, head),
		wrapping(widget.NewLabel(text)))
	if field != nil {
		body.Add(field)
	}
	body.Add(buttons)
	r.popup = modalOfWidth(body, 640, r.w.win.Canvas())
	r.popup.Show()
	if focus != nil {
		r.w.win.Canvas().Focus(focus)
	}
	r.sync()
}

func (r *runScreen) closePopup() {
	if r.popup != nil {
		r.popup.Hide()
		r.popup = nil
	}
	r.sync()
}

// abortRun aborts: an open question is answered ErrAborted, as the engine
// expects of an operator who aborts instead of answering; otherwise the
// run is stopped where it is and ended as aborted.
func (r *runScreen) abortRun(reason string) {
	by := r.opts.Operator
	if reason == "" {
		reason = "no reason given"
	}
	if !r.m.Active {
		if r.m.Stopped != nil {
			r.abortStopped(reason)
		}
		return
	}
	r.stopWith.Store(&stopRequest{abort: true, by: by, reason: reason})
	r.status.SetText("Aborting the run…")
	if r.m.Q != nil {
		r.answer(procedure.Answer{By: by, Note: reason}, procedure.ErrAborted)
		return
	}
	r.cancel()
}

// resumeStopped resumes a stopped run at the step it stopped in.
func (r *runScreen) resumeStopped() {
	if r.m.Active || r.m.RunID == 0 {
		return
	}
	id, op := r.m.RunID, r.opts.Operator
	r.m.Stopped = nil
	r.m.Out = nil
	r.reportMD = ""
	r.m.Review = -1
	r.m.Current = -1
	r.showCurrent()
	r.start(func(ctx context.Context) (procedure.Outcome, error) { return r.eng.Resume(ctx, id, op) })
}

// abortStopped ends a stopped run as aborted, on a goroutine of its own.
func (r *runScreen) abortStopped(reason string) {
	env, eng, id, by := r.w.env, r.eng, r.m.RunID, r.opts.Operator
	setEnabled(r.abortOld, false)
	setEnabled(r.resume, false)
	env.requests.goRequest(func() {
		out, err := eng.Abort(env.ctx, id, by, reason)
		rep, repErr := procedure.LoadReport(env.ctx, eng.Store, id)
		env.do(func() {
			r.m.Stopped = nil
			r.finished(out, err, rep, repErr)
		})
	})
}
