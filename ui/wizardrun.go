package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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

// runScreen is screen (c) and (d): one run, its steps on the left and the
// current step (or a step under review, or the end and its report) on the
// right. The engine runs on a goroutine of its own; everything it tells
// or asks reaches the widgets through env.do.
type runScreen struct {
	w    *Wizard
	p    *procedure.Procedure
	opts procedure.Options
	eng  *procedure.Engine
	// updates are the engine's, waiting for the next frame: see observe.
	updates inOrder[runmodel.Update]

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

// observe is the engine's Observe: it copies the update and hands it to
// the UI goroutine through the frame bridge, so that a burst of updates
// (a step's requests and answers, a wait's progress) is drawn once.
func (r *runScreen) observe(u procedure.Update) {
	if r.updates.add(runmodel.Copy(u)) {
		r.w.env.do(r.applyQueued)
	}
}

// applyQueued takes the engine's updates queued since the last frame into
// the run, in order, and draws what they changed, each part once.
func (r *runScreen) applyQueued() {
	var all runmodel.Changed
	rows := map[int]bool{}
	for _, u := range r.updates.take() {
		ch := r.m.Apply(u, requestLine)
		if ch.Row >= 0 {
			rows[ch.Row] = true
		}
		all.Header = all.Header || ch.Header
		all.Servers = all.Servers || ch.Servers
		all.Current = all.Current || ch.Current
		all.Review = all.Review || ch.Review
		all.Activity = all.Activity || ch.Activity
		all.Progress = all.Progress || ch.Progress
	}
	if all.Header {
		r.showHeader()
	}
	for _, row := range slices.Sorted(maps.Keys(rows)) {
		r.showRow(row)
	}
	if all.Servers {
		r.nudge()
	}
	if all.Current {
		r.showCurrent()
	}
	if all.Review {
		r.showReview()
	}
	if all.Activity {
		r.showActivity()
	}
	if all.Progress {
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
	said := res.Say()
	line := "answer from " + server + ": " + dash(said.Head())
	if c := said.FirstChange(0); c != "" {
		line += "; " + c
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
