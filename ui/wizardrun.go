package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/procedure"
	"github.com/vigilops/vigil/ui/runmodel"
)

var _ procedure.Prompter = (*runScreen)(nil)

// stopRequest is why the operator stopped a run that was not waiting for
// an answer: to abort it, or to leave it to resume later.
type stopRequest struct {
	abort  bool
	by     string
	reason string
}

// runScreen is screen (c) and (d): one run, its steps on the left and the
// current step (or a step under review, or the end and its report) on the
// right. The engine runs on a goroutine of its own; everything it tells
// or asks reaches the widgets through env.do.
type runScreen struct {
	w    *Wizard
	p    *procedure.Procedure
	opts procedure.Options
	eng  *procedure.Engine

	// m is the run as the views show it: its records, where the engine
	// is, the open question, how it ended.
	m        *runmodel.Run
	names    boundNames        // binding -> server names
	vars     map[string]string // the run's parameters and answers, as preflight gave them
	bindings map[string]string // agent id -> binding
	cancel   context.CancelFunc
	stopWith atomic.Pointer[stopRequest]
	// onStopped runs once the engine has stopped (the window closes).
	onStopped func()
	reportMD  string
	following bool
	poke      chan struct{}

	// The left side and the bar.
	title  *widget.Label
	people *widget.Label
	rows   []*stepRowView
	abort  *widget.Button
	back   *widget.Button
	next   *widget.Button
	status *widget.Label
	bar    *fyne.Container

	// The current step.
	curTag      *stateTag
	curHead     *widget.Label
	docText     *widget.Label
	vigilText   *widget.Label
	danger      *widget.Label
	dangerRow   fyne.CanvasObject
	askText     *widget.Label
	askRow      fyne.CanvasObject
	preview     *widget.Label
	previewRow  fyne.CanvasObject
	choices     *widget.RadioGroup
	choiceVals  map[string]string // label -> value
	signName    *widget.Entry
	signRow     fyne.CanvasObject
	note        *widget.Entry
	saveNote    *widget.Button
	busy        *widget.Activity
	busyText    *widget.Label
	busyRow     fyne.CanvasObject
	meter       *widget.ProgressBar
	meterText   *widget.Label
	progressRow fyne.CanvasObject
	activityTxt *widget.Label
	activityRow fyne.CanvasObject
	servers     *fyne.Container
	serversNote *widget.Label

	// A step under review.
	revTag      *stateTag
	revHead     *widget.Label
	revDoc      *widget.Label
	revResult   *widget.Label
	revEvidence *widget.Label
	revMore     *widget.Label

	// The end.
	endTag     *stateTag
	endHead    *widget.Label
	endSummary *widget.Label
	endWayBack *widget.Label
	wayBackRow fyne.CanvasObject
	resume     *widget.Button
	abortOld   *widget.Button
	reportView *widget.RichText
	savePath   *widget.Entry
	saveMD     *widget.Button
	saveHTML   *widget.Button
	saveChoose *widget.Button
	saveStatus *widget.Label
	// replaceAsk is the question before a typed path's file is replaced,
	// while shown.
	replaceAsk *dialog.ConfirmDialog

	left        *fyne.Container
	currentPane fyne.CanvasObject
	reviewPane  fyne.CanvasObject
	endPane     fyne.CanvasObject
	content     fyne.CanvasObject

	popup *widget.PopUp // the abort or close question, while shown
	// abortReason and abortGo are the abort question's fields, while shown.
	abortReason *widget.Entry
	abortGo     *widget.Button
	leave       *widget.Button
}

// The note's placeholder, while the run asks nothing and with a question.
const (
	notePlaceholder       = "A note for the record: what you did by hand, what you saw, why"
	answerNotePlaceholder = "A note to go with your answer (optional)"
)

// stepRowView is one step's line in the step list.
type stepRowView struct {
	tag   *stateTag
	title *widget.Label
	mark  *canvas.Rectangle
	obj   fyne.CanvasObject
}

func newRunScreen(w *Wizard, p *procedure.Procedure, o procedure.Options) *runScreen {
	r := &runScreen{w: w, p: p, opts: o, m: runmodel.New(len(p.Steps)), names: boundNames{}, vars: map[string]string{}, bindings: map[string]string{},
		poke: make(chan struct{}, 1)}
	r.eng = w.env.desk.Engine(r, r.observe)
	r.build()
	return r
}

// beginRun starts a new run of p after a preflight that passed.
func (w *Wizard) beginRun(p *procedure.Procedure, o procedure.Options, pf procedure.Preflight) {
	r := newRunScreen(w, p, o)
	r.vars = pf.Vars
	for name, list := range pf.Bound {
		for _, s := range list {
			r.names[name] = append(r.names[name], s.Name)
			r.bindings[s.ID] = name
		}
	}
	w.run = r
	w.setScreen("run", r.content)
	r.showCurrent()
	r.start(func(ctx context.Context) (procedure.Outcome, error) { return r.eng.Start(ctx, p, o, pf) })
}

// showStopped opens the run screen on a run that stopped without ending.
func (w *Wizard) showStopped(run model.ProcedureRun) {
	p, err := procedure.Parse(run.SourceFile, []byte(run.Source))
	if err != nil {
		l := wrapping(widget.NewLabel(fmt.Sprintf("Run %d cannot be shown: its procedure as recorded does not parse: %v", run.ID, err)))
		l.Importance = widget.DangerImportance
		w.setScreen("error", container.NewPadded(l))
		return
	}
	w.setTitle(p.Title)
	o := procedure.Options{System: run.System, Operator: w.env.desk.OperatorName(), Supervisor: run.Supervisor, Rehearsal: run.Rehearsal}
	r := newRunScreen(w, p, o)
	r.m.RunID, r.m.Stopped = run.ID, &run
	var bound map[string][]struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	json.Unmarshal([]byte(run.Bindings), &bound)
	json.Unmarshal([]byte(run.Vars), &r.vars)
	for name, list := range bound {
		for _, s := range list {
			r.names[name] = append(r.names[name], s.Name)
			r.bindings[s.ID] = name
		}
	}
	w.run = r
	w.setScreen("run", r.content)
	r.showHeader()
	r.loadReport(run.ID, nil)
	r.follow()
}

func (r *runScreen) build() {
	r.title = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	r.title.SizeName = theme.SizeNameSubHeadingText
	r.title.Truncation = fyne.TextTruncateEllipsis
	r.people = widget.NewLabel("")
	r.people.Truncation = fyne.TextTruncateEllipsis
	top := container.NewVBox(r.title, r.people)
	if r.opts.Rehearsal {
		l := widget.NewLabelWithStyle("REHEARSAL: every change is sent as a dry run; nothing on the servers changes.",
			fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		l.Wrapping = fyne.TextWrapWord
		top.Add(tinted(infoTint, container.NewBorder(nil, nil, widget.NewIcon(theme.InfoIcon()), nil, l)))
	}

	// The step list.
	list := container.NewVBox()
	for i, st := range r.p.Steps {
		row := r.newStepRow(i, st)
		r.rows = append(r.rows, row)
		list.Add(row.obj)
	}
	// The servers stay in sight under the steps, whatever the right side
	// shows.
	r.servers = container.NewVBox()
	r.serversNote = wrapping(widget.NewLabel("Reading the servers…"))
	r.serversNote.TextStyle.Italic = true
	servers := container.NewVBox(widget.NewSeparator(), heading("Servers now"),
		container.NewThemeOverride(container.NewVBox(r.servers, r.serversNote), compactTheme{}))
	left := container.NewBorder(heading("Steps"), servers, nil, nil, container.NewVScroll(list))
	r.left = left

	// The current step.
	r.curTag = newStateTag(lookOfStep(runmodel.StepPending), theme.SizeNameSubHeadingText, stepWords)
	r.curHead = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	r.curHead.SizeName = theme.SizeNameSubHeadingText
	r.curHead.Wrapping = fyne.TextWrapWord
	r.docText = wrapping(widget.NewLabel(""))
	r.docText.SizeName = theme.SizeNameSubHeadingText
	r.vigilText = wrapping(widget.NewLabel(""))
	r.danger = wrapping(widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
	r.danger.Importance = widget.DangerImportance
	r.dangerRow = tinted(dangerTint, container.NewBorder(nil, nil,
		container.NewVBox(widget.NewIcon(theme.NewErrorThemedResource(theme.WarningIcon()))), nil, r.danger))
	r.askText = wrapping(widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
	r.askText.SizeName = theme.SizeNameSubHeadingText
	r.preview = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	r.preview.Selectable = true
	r.preview.Wrapping = fyne.TextWrapWord
	r.previewRow = container.NewVBox(heading("Dry run: what the agent says this will change"), codeBox(r.preview))
	r.choices = widget.NewRadioGroup(nil, nil)
	r.choices.Required = true
	r.signName = widget.NewEntry()
	r.signName.SetPlaceHolder("the supervisor's name")
	r.signRow = container.New(layout.NewFormLayout(), key("Signed off by"), r.signName)
	r.askRow = tinted(warningTint, container.NewVBox(r.askText, r.previewRow, r.choices, r.signRow))
	r.note = widget.NewMultiLineEntry()
	r.note.SetPlaceHolder(notePlaceholder)
	r.note.SetMinRowsVisible(2)
	r.note.Wrapping = fyne.TextWrapWord
	r.saveNote = widget.NewButtonWithIcon("Record note", theme.DocumentCreateIcon(), r.recordNote)
	r.busy = widget.NewActivity()
	r.busyText = widget.NewLabel("")
	r.busyRow = container.NewHBox(r.busy, r.busyText)
	r.meter = widget.NewProgressBar()
	r.meterText = wrapping(widget.NewLabel(""))
	r.progressRow = container.NewVBox(r.meter, r.meterText)
	r.activityTxt = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	r.activityTxt.Wrapping = fyne.TextWrapWord
	r.activityRow = container.NewVBox(heading("What Vigil sent and heard"), r.activityTxt)
	current := container.NewVBox(
		container.NewBorder(nil, nil, container.NewCenter(r.curTag), nil, r.curHead),
		r.dangerRow,
		heading("The document says"), r.docText,
		heading("What Vigil does"), r.vigilText,
		r.busyRow, r.progressRow,
		r.askRow,
		container.NewBorder(nil, nil, nil, container.NewVBox(r.saveNote), r.note),
		r.activityRow,
	)
	r.currentPane = container.NewVScroll(container.NewPadded(current))

	// A step under review.
	r.revTag = newStateTag(lookOfStep(runmodel.StepPending), theme.SizeNameSubHeadingText, stepWords)
	r.revHead = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	r.revHead.SizeName = theme.SizeNameSubHeadingText
	r.revHead.Wrapping = fyne.TextWrapWord
	r.revDoc = wrapping(widget.NewLabel(""))
	r.revResult = wrapping(widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
	r.revEvidence = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	r.revEvidence.Wrapping = fyne.TextWrapWord
	r.revEvidence.Selectable = true
	r.revMore = wrapping(widget.NewLabel(""))
	readOnly := widget.NewLabelWithStyle("Reviewing a step: this is its record, read-only. The run goes on meanwhile.",
		fyne.TextAlignLeading, fyne.TextStyle{Italic: true})
	readOnly.Wrapping = fyne.TextWrapWord
	r.reviewPane = container.NewVScroll(container.NewPadded(container.NewVBox(
		container.NewBorder(nil, nil, container.NewCenter(r.revTag), nil, r.revHead), readOnly,
		heading("The document says"), r.revDoc,
		heading("Result"), r.revResult,
		heading("Evidence"), codeBox(r.revEvidence),
		r.revMore)))

	// The end.
	r.endTag = newStateTag(lookOfOutcome(model.RunRunning, false), theme.SizeNameHeadingText, nil)
	r.endHead = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	r.endHead.Wrapping = fyne.TextWrapWord
	r.endSummary = wrapping(widget.NewLabel(""))
	r.endWayBack = wrapping(widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
	r.wayBackRow = tinted(warningTint, container.NewVBox(heading("The document's way back"), r.endWayBack))
	r.resume = widget.NewButtonWithIcon("Resume", theme.MediaPlayIcon(), r.resumeStopped)
	r.resume.Importance = widget.HighImportance
	r.abortOld = widget.NewButtonWithIcon("Abort the run…", theme.CancelIcon(), r.askAbort)
	r.abortOld.Importance = widget.DangerImportance
	r.reportView = widget.NewRichTextFromMarkdown("")
	r.reportView.Wrapping = fyne.TextWrapWord
	r.savePath = widget.NewEntry()
	r.saveMD = widget.NewButtonWithIcon("Save Markdown", theme.DocumentSaveIcon(), func() { r.saveReport("md") })
	r.saveHTML = widget.NewButtonWithIcon("Save HTML", theme.DocumentSaveIcon(), func() { r.saveReport("html") })
	r.saveChoose = widget.NewButtonWithIcon("Choose…", theme.FolderOpenIcon(), r.chooseReport)
	r.saveStatus = wrapping(widget.NewLabel(""))
	r.saveStatus.Hide()
	closeBtn := widget.NewButtonWithIcon("Close window", theme.CancelIcon(), r.w.requestClose)
	r.endPane = container.NewVScroll(container.NewPadded(container.NewVBox(
		container.NewHBox(r.endTag), r.endHead,
		heading("Where things stand"), r.endSummary,
		r.wayBackRow,
		container.NewHBox(r.resume, r.abortOld),
		widget.NewSeparator(),
		container.NewBorder(nil, nil, widget.NewLabel("Save the report as"), container.NewHBox(r.saveChoose, r.saveMD, r.saveHTML), r.savePath),
		r.saveStatus,
		widget.NewSeparator(),
		r.reportView,
		container.NewHBox(layout.NewSpacer(), closeBtn))))

	// The bar.
	// Abort is plain: red is kept for the one button that changes
	// production, and Abort asks before it does anything.
	r.abort = widget.NewButtonWithIcon("Abort run…", theme.CancelIcon(), r.askAbort)
	r.back = widget.NewButtonWithIcon("Back", theme.NavigateBackIcon(), r.goBack)
	r.next = widget.NewButtonWithIcon("Next", theme.NavigateNextIcon(), r.goNext)
	r.next.IconPlacement = widget.ButtonIconTrailingText
	r.status = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	r.status.Truncation = fyne.TextTruncateEllipsis
	r.bar = container.NewBorder(nil, nil, r.abort, container.NewHBox(r.back, r.next), r.status)

	split := container.NewHSplit(left, container.NewStack(r.currentPane, r.reviewPane, r.endPane))
	split.Offset = 0.36
	r.content = container.NewBorder(container.NewVBox(top, widget.NewSeparator()), container.NewVBox(widget.NewSeparator(), r.bar), nil, nil, split)
	r.reviewPane.Hide()
	r.endPane.Hide()
	r.showHeader()
}

func codeBox(l *widget.Label) fyne.CanvasObject {
	bg := canvas.NewRectangle(theme.Color(theme.ColorNameInputBackground))
	bg.CornerRadius = theme.Size(theme.SizeNameInputRadius)
	return container.NewStack(bg, l)
}

func (r *runScreen) newStepRow(i int, st procedure.Step) *stepRowView {
	row := &stepRowView{
		tag:   newStateTag(lookOfStep(runmodel.StepPending), "", stepWords),
		title: widget.NewLabel(fmt.Sprintf("%d. %s", i+1, stepTitle(st))),
		mark:  canvas.NewRectangle(theme.Color(theme.ColorNameSelection)),
	}
	row.title.Wrapping = fyne.TextWrapWord
	row.mark.Hide()
	doc := widget.NewLabelWithStyle(docStep(st), fyne.TextAlignTrailing, fyne.TextStyle{Italic: true})
	row.obj = newRowTap(container.NewStack(row.mark,
		container.NewBorder(nil, nil, container.NewCenter(row.tag), doc, row.title)), func() { r.reviewStep(i) })
	return row
}

func (r *runScreen) showHeader() {
	kind := "Run"
	if r.opts.Rehearsal {
		kind = "Rehearsal"
	}
	t := kind
	if r.m.RunID != 0 {
		t += fmt.Sprintf(" %d", r.m.RunID)
	}
	r.title.SetText(t + ": " + r.p.Title)
	people := fmt.Sprintf("On %s · operator %s", r.opts.System, dash(r.opts.Operator))
	if r.opts.Supervisor != "" {
		people += " · supervisor " + r.opts.Supervisor
	}
	r.people.SetText(people + " · " + documentLine(r.p))
}

// running reports whether the engine's goroutine is running the run.
func (r *runScreen) running() bool { return r.m.Active }

// start runs the run on a goroutine of its own: a new run or a resume.
func (r *runScreen) start(run func(ctx context.Context) (procedure.Outcome, error)) {
	env := r.w.env
	ctx, cancel := context.WithCancel(r.w.ctx)
	r.cancel = cancel
	r.m.Start()
	r.stopWith.Store(nil)
	eng := r.eng
	started := env.requests.goRequest(func() {
		defer cancel()
		out, err := run(ctx)
		if stop := r.stopWith.Load(); stop != nil && stop.abort && err == nil && out.State == model.RunInterrupted && out.Run != 0 {
			// The operator aborted while no question was open: the run
			// stopped where it was, and is ended as aborted with the
			// reason, where things stand and the way back.
			out, err = eng.Abort(context.WithoutCancel(ctx), out.Run, stop.by, stop.reason)
		}
		var rep *procedure.Report
		var repErr error
		if out.Run != 0 {
			rep, repErr = procedure.LoadReport(context.WithoutCancel(ctx), eng.Store, out.Run)
		}
		env.do(func() { r.finished(out, err, rep, repErr) })
	})
	if !started {
		cancel()
		r.m.Active = false
		r.status.SetText("The console is closing: the run was not started.")
		return
	}
	r.follow()
	r.sync()
}

// follow reads the system's servers while the window is open: at once,
// when one of them changes (a fleet that watches, as the console's over
// its monitor does), when a step starts or ends, and every statusEvery.
func (r *runScreen) follow() {
	if r.following {
		return
	}
	r.following = true
	env, ctx, fleet, system, poke := r.w.env, r.w.ctx, r.eng.Fleet, r.opts.System, r.poke
	env.requests.goRequest(func() {
		var tick <-chan time.Time
		if env.statusEvery > 0 {
			t := time.NewTicker(env.statusEvery)
			defer t.Stop()
			tick = t.C
		}
		var changed <-chan struct{}
		if w, ok := fleet.(procedure.Watcher); ok {
			var stop func()
			changed, stop = w.Changes(system)
			defer stop()
		}
		for {
			list, err := fleet.Servers(ctx, system)
			if ctx.Err() != nil {
				return
			}
			env.do(func() { r.showServers(list, err) })
			select {
			case <-ctx.Done():
				return
			case <-tick:
			case <-poke:
			case <-changed:
				// A system of many busy servers changes often: the
				// list is drawn at most every serverListGap.
				select {
				case <-ctx.Done():
					return
				case <-time.After(serverListGap):
				}
			}
		}
	})
}

// serverListGap is the least time between two drawings of a run's server
// list that changes of the servers ask for.
const serverListGap = 100 * time.Millisecond

func (r *runScreen) nudge() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

// observe is the engine's Observe: it copies the update and hands it to
// the UI goroutine.
func (r *runScreen) observe(u procedure.Update) {
	c := runmodel.Copy(u)
	r.w.env.do(func() { r.apply(c) })
}

// apply takes an engine update into the run and draws what it changed.
func (r *runScreen) apply(u runmodel.Update) {
	ch := r.m.Apply(u, requestLine)
	if ch.Header {
		r.showHeader()
	}
	if ch.Row >= 0 {
		r.showRow(ch.Row)
	}
	if ch.Servers {
		r.nudge()
	}
	if ch.Current {
		r.showCurrent()
	}
	if ch.Review {
		r.showReview()
	}
	if ch.Activity {
		r.showActivity()
	}
	if ch.Progress {
		r.showProgress()
	}
}

// requestLine is one line of what Vigil sent and heard in a step.
func requestLine(server string, req actions.Request, res *actions.Result) string {
	what := procedure.Describe(req.Action, req.Params, server)
	if res == nil {
		if req.DryRun {
			return "dry run sent: " + what
		}
		return "sending: " + what
	}
	line := "answer from " + server + ": " + dash(res.State)
	if res.DryRun {
		line += " (dry run)"
	}
	if res.Error != "" {
		line += ": " + res.Error
	}
	if o := res.Outcome; o != nil {
		switch {
		case o.Diff != "":
			d, _, _ := strings.Cut(strings.TrimSpace(o.Diff), "\n")
			line += "; " + d
		case o.Value != "":
			line += "; " + o.Value
		}
	}
	return line
}

// Prompter: the engine's goroutine blocks here until the operator answers.

// Confirm is part of procedure.Prompter.
func (r *runScreen) Confirm(ctx context.Context, q procedure.Question) (procedure.Answer, error) {
	return r.ask(ctx, runmodel.AskConfirm, q)
}

// Choose is part of procedure.Prompter.
func (r *runScreen) Choose(ctx context.Context, q procedure.Question) (procedure.Answer, error) {
	return r.ask(ctx, runmodel.AskChoose, q)
}

// SignOff is part of procedure.Prompter.
func (r *runScreen) SignOff(ctx context.Context, q procedure.Question) (procedure.Answer, error) {
	return r.ask(ctx, runmodel.AskSignOff, q)
}

func (r *runScreen) ask(ctx context.Context, kind runmodel.Ask, q procedure.Question) (procedure.Answer, error) {
	qq := runmodel.NewQuestion(kind, q)
	r.w.env.do(func() { r.showQuestion(qq) })
	select {
	case a := <-qq.Reply:
		return a.A, a.Err
	case <-ctx.Done():
		r.w.env.do(func() { r.dropQuestion(qq) })
		return procedure.Answer{}, ctx.Err()
	}
}

func (r *runScreen) showQuestion(qq *runmodel.Question) {
	if !r.m.Ask(qq) {
		return
	}
	r.choices.Options, r.choiceVals = nil, map[string]string{}
	r.choices.Selected = ""
	for _, c := range qq.Q.Choices {
		label := c.Label
		if label == "" {
			label = c.Value
		}
		r.choices.Options = append(r.choices.Options, label)
		r.choiceVals[label] = c.Value
		if c.Value == qq.Q.Default {
			r.choices.Selected = label
		}
	}
	r.choices.Refresh()
	r.signName.SetText(qq.Q.Supervisor)
	var lines []string
	for _, pv := range qq.Q.Preview {
		lines = append(lines, previewLines(pv))
	}
	r.preview.SetText(strings.Join(lines, "\n\n"))
	r.showRow(r.m.Current)
	r.showCurrent()
	r.w.win.RequestFocus()
}

func (r *runScreen) dropQuestion(qq *runmodel.Question) {
	if !r.m.Drop(qq) {
		return
	}
	if r.m.Current >= 0 {
		r.showRow(r.m.Current)
	}
	r.showCurrent()
}

// answer hands the operator's answer to the engine's goroutine.
func (r *runScreen) answer(a procedure.Answer, err error) {
	qq := r.m.Answer(a, err)
	if qq == nil {
		return
	}
	r.note.SetText("")
	r.showRow(qq.Q.Step.Index)
	r.showCurrent()
}

// goNext answers the open question as the form says, or returns from a
// review.
func (r *runScreen) goNext() {
	if r.m.Review >= 0 {
		r.m.Review = -1
		r.showPane()
		return
	}
	qq := r.m.Q
	if qq == nil {
		return
	}
	note := strings.TrimSpace(r.note.Text)
	a := procedure.Answer{OK: true, By: r.opts.Operator, Note: note}
	switch qq.Kind {
	case runmodel.AskChoose:
		a.Value = r.choiceVals[r.choices.Selected]
		if a.Value == "" {
			r.status.SetText("Choose one of the document's answers first.")
			return
		}
	case runmodel.AskSignOff:
		a.By = strings.TrimSpace(r.signName.Text)
		if a.By == "" {
			r.status.SetText("Type the name of the supervisor who signs off.")
			return
		}
	}
	r.answer(a, nil)
}

// goBack shows the record of the step before the one shown.
func (r *runScreen) goBack() {
	if i, ok := r.m.Earlier(); ok {
		r.reviewStep(i)
	}
}

// reviewStep shows step i's record, read-only.
func (r *runScreen) reviewStep(i int) {
	r.m.ReviewStep(i)
	r.showPane()
}

// showPane shows the current step, the step under review or the end.
func (r *runScreen) showPane() {
	for i, row := range r.rows {
		setVisible(row.mark, r.m.Marked(i))
	}
	switch r.m.Pane() {
	case runmodel.PaneReview:
		r.showReview()
		r.currentPane.Hide()
		r.endPane.Hide()
		r.reviewPane.Show()
	case runmodel.PaneEnd:
		r.currentPane.Hide()
		r.reviewPane.Hide()
		r.endPane.Show()
	default:
		r.reviewPane.Hide()
		r.endPane.Hide()
		r.currentPane.Show()
	}
	r.sync()
}

func (r *runScreen) showRow(i int) {
	r.rows[i].tag.set(lookOfStep(r.m.StateOf(i)))
}

func (r *runScreen) showCurrent() {
	r.showPane()
	i := r.m.Current
	if i < 0 {
		r.curTag.set(lookOfStep(runmodel.StepPending))
		r.curHead.SetText("Starting the run…")
		r.docText.SetText("")
		r.vigilText.SetText("Vigil records the run, then runs step 1.")
		r.dangerRow.Hide()
		r.askRow.Hide()
		r.progressRow.Hide()
		r.activityRow.Hide()
		r.showBusy()
		r.currentPane.Refresh()
		return
	}
	st := r.p.Steps[i]
	r.curTag.set(lookOfStep(r.m.StateOf(i)))
	r.curHead.SetText(stepHeading(st, len(r.p.Steps)))
	r.docText.SetText(strings.TrimSpace(st.Text))
	r.vigilText.SetText(whatVigilDoes(r.p, st, r.names, r.vars, r.opts.Supervisor, r.opts.Rehearsal))
	destructive := st.Type == procedure.StepAction && st.Destructive && !r.opts.Rehearsal
	if destructive {
		r.danger.SetText("DESTRUCTIVE: this step changes production. " + upper(procedure.Describe(st.Action, expandParams(st.Params, r.vars), r.names.of(st.Server))) + ".")
	}
	setVisible(r.dangerRow, destructive)

	qq := r.m.Q
	setVisible(r.askRow, qq != nil)
	if qq != nil {
		r.askText.SetText(qq.Q.Text)
		setVisible(r.previewRow, len(qq.Q.Preview) > 0)
		setVisible(r.choices, qq.Kind == runmodel.AskChoose)
		setVisible(r.signRow, qq.Kind == runmodel.AskSignOff)
	}
	r.showBusy()
	r.showProgress()
	r.showActivity()
	state := "running"
	if qq != nil {
		state = "your turn"
	}
	r.w.setTitle(fmt.Sprintf("step %d of %d, %s - %s", i+1, len(r.p.Steps), state, r.p.Title))
	r.sync()
	// Rows shown or hidden above change the layout of the whole pane.
	r.currentPane.Refresh()
}

func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (r *runScreen) showBusy() {
	on := r.m.Active && r.m.Q == nil
	if on {
		text := "Vigil is running this step…"
		if r.m.Current < 0 {
			text = "Starting…"
		} else if rec := r.m.Recs[r.m.Current]; rec != nil && rec.State != model.StepRunning {
			text = "Going on to the next step…"
		}
		r.busyText.SetText(text)
		r.busy.Start()
	} else {
		r.busy.Stop()
	}
	setVisible(r.busyRow, on)
}

func (r *runScreen) showProgress() {
	i := r.m.Current
	waits := i >= 0 && (r.p.Steps[i].Type == procedure.StepWait || r.p.Steps[i].Type == procedure.StepVerify)
	setVisible(r.progressRow, waits && (r.m.Progress != "" || r.m.Percent >= 0))
	setVisible(r.meter, r.m.Percent >= 0)
	if r.m.Percent >= 0 {
		r.meter.SetValue(min(max(r.m.Percent/100, 0), 1))
	}
	if r.m.Progress != "" && r.meterText.Text != "Now: "+r.m.Progress {
		r.meterText.SetText("Now: " + r.m.Progress)
		r.currentPane.Refresh() // the new words may take more or fewer lines
	}
}

func (r *runScreen) showActivity() {
	i := r.m.Current
	if i < 0 || len(r.m.Activity[i]) == 0 {
		r.activityRow.Hide()
		return
	}
	r.activityTxt.SetText(strings.Join(r.m.Activity[i], "\n"))
	r.activityRow.Show()
	r.currentPane.Refresh()
}

// showServers shows the bound servers' live role and health, or every
// server of the system before they are bound.
func (r *runScreen) showServers(list []procedure.Server, err error) {
	r.servers.RemoveAll()
	if err != nil {
		r.serversNote.SetText("The servers could not be read: " + err.Error())
		r.serversNote.Show()
		r.left.Refresh()
		return
	}
	n := 0
	for _, s := range list {
		binding, bound := r.bindings[s.ID]
		if len(r.bindings) > 0 && !bound {
			continue
		}
		n++
		name := widget.NewLabelWithStyle(s.Name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		what := s.VendorRole
		if bound {
			b, _ := r.p.Binding(binding)
			doc := b.DocumentName
			if doc == "" {
				doc = "“" + binding + "”"
			}
			what = strings.TrimPrefix(what+" · "+doc, " · ")
		}
		detail := widget.NewLabelWithStyle(what, fyne.TextAlignLeading, fyne.TextStyle{Italic: true})
		detail.Truncation = fyne.TextTruncateEllipsis
		look := lookOfHealth(s.Health)
		health := widget.NewLabelWithStyle(look.word, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true})
		health.Importance = look.importance
		r.servers.Add(container.NewVBox(
			container.NewBorder(nil, nil, container.NewHBox(container.NewCenter(NewRoleBadge(s.Role)), name),
				container.NewHBox(widget.NewIcon(look.icon), health)),
			detail))
	}
	r.serversNote.SetText("As read at " + r.w.env.now().Format("15:04:05"))
	if n == 0 {
		r.serversNote.SetText("No server of " + r.opts.System + " is known to this console.")
	}
	r.serversNote.Show()
	r.left.Refresh() // the servers' box may have grown or shrunk
}

func (r *runScreen) showReview() {
	i := r.m.Review
	if i < 0 {
		return
	}
	st := r.p.Steps[i]
	r.revTag.set(lookOfStep(r.m.StateOf(i)))
	r.revHead.SetText(stepHeading(st, len(r.p.Steps)))
	r.revDoc.SetText(strings.TrimSpace(st.Text))
	rec := r.m.Recs[i]
	if rec == nil {
		r.revResult.SetText("Not reached yet. " + whatVigilDoes(r.p, st, r.names, r.vars, r.opts.Supervisor, r.opts.Rehearsal))
		r.revEvidence.SetText("none yet")
		r.revMore.SetText("")
		return
	}
	r.revResult.SetText(dash(rec.Result))
	ev := evidenceLines(*rec)
	if len(ev) == 0 {
		r.revEvidence.SetText("none recorded")
	} else {
		r.revEvidence.SetText(strings.Join(ev, "\n"))
	}
	var more []string
	if rec.Note != "" {
		more = append(more, "Note: "+rec.Note)
	}
	if rec.Actor != "" {
		more = append(more, "By: "+rec.Actor)
	}
	when := "Started " + rec.Started.Local().Format("15:04:05")
	if rec.Ended != nil {
		when += fmt.Sprintf(", took %v", rec.Ended.Sub(rec.Started).Round(time.Millisecond))
	}
	if rec.Attempt > 1 {
		when += fmt.Sprintf(" (attempt %d)", rec.Attempt)
	}
	r.revMore.SetText(strings.Join(append(more, when), "\n"))
	r.reviewPane.Refresh()
}

// sync sets the bar's buttons for what is shown.
func (r *runScreen) sync() {
	setVisible(r.abort, r.m.Active)
	setEnabled(r.abort, r.m.Active && r.popup == nil)
	_, hasEarlier := r.m.Earlier()
	setEnabled(r.back, hasEarlier)
	r.next.Importance = widget.HighImportance
	qq := r.m.Q
	switch {
	case r.m.Review >= 0 && r.m.EndShown():
		r.next.SetText("Back to the report")
		setEnabled(r.next, true)
	case r.m.Review >= 0:
		r.next.SetText("Back to the current step")
		setEnabled(r.next, true)
	case qq != nil:
		r.next.SetText(answerLabel(qq, r.opts.Rehearsal))
		if qq.Kind == runmodel.AskConfirm && len(qq.Q.Preview) > 0 && qq.Q.Step.Destructive {
			r.next.Importance = widget.DangerImportance
		}
		setEnabled(r.next, true)
	default:
		r.next.SetText("Next")
		setEnabled(r.next, false)
	}
	setVisible(r.next, r.m.Active || r.m.Review >= 0)
	r.bar.Refresh() // the buttons' words change their widths
	setVisible(r.note, r.m.Active)
	setVisible(r.saveNote, r.m.Active && qq == nil)
	if ph := map[bool]string{true: answerNotePlaceholder, false: notePlaceholder}[qq != nil]; r.note.PlaceHolder != ph {
		r.note.SetPlaceHolder(ph)
	}
	switch {
	case qq != nil:
		r.status.Importance = widget.WarningImportance
		r.status.SetText(fmt.Sprintf("Step %d waits for you.", qq.Q.Step.Index+1))
	case r.m.Active:
		r.status.Importance = widget.MediumImportance
		r.status.SetText("The run is going on; it asks you when it needs you.")
	default:
		r.status.SetText("")
	}
}

// answerLabel is what the Next button says for a question.
func answerLabel(qq *runmodel.Question, rehearsal bool) string {
	switch qq.Kind {
	case runmodel.AskChoose:
		return "Next with this answer"
	case runmodel.AskSignOff:
		return "Sign off"
	}
	if len(qq.Q.Preview) > 0 {
		return "Approve and send"
	}
	return "Confirm, done"
}

// recordNote records the note as a deviation of the run, when no question
// is open to take it with its answer.
func (r *runScreen) recordNote() {
	text := strings.TrimSpace(r.note.Text)
	if text == "" || r.m.RunID == 0 {
		return
	}
	if r.m.Q != nil {
		r.status.SetText("The note goes with your answer to this step.")
		return
	}
	env, db, id, step := r.w.env, r.eng.Store, r.m.RunID, r.m.Current
	d := model.ProcedureDeviation{RunID: id, StepIndex: step, Time: env.now(),
		Text: fmt.Sprintf("note by %s: %s", dash(r.opts.Operator), text)}
	r.note.SetText("")
	env.requests.goRequest(func() {
		err := db.AddProcedureDeviation(env.ctx, d)
		env.do(func() {
			if err != nil {
				r.status.SetText("The note could not be recorded: " + err.Error())
				r.note.SetText(text)
				return
			}
			r.m.Devs = append(r.m.Devs, d.Text)
			if step >= 0 {
				r.m.Activity[step] = append(r.m.Activity[step], d.Text)
				r.showActivity()
			}
		})
	})
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
