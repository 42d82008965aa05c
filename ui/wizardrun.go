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
)

var _ procedure.Prompter = (*runScreen)(nil)

// Question kinds: which Prompter method asks.
const (
	askConfirm = "confirm"
	askChoose  = "choose"
	askSignOff = "sign-off"
)

// question is what the engine waits for: its goroutine blocks on reply
// until the operator answers on the UI goroutine, which never blocks on
// it (reply holds one answer).
type question struct {
	kind  string
	q     procedure.Question
	reply chan reply
}

type reply struct {
	a   procedure.Answer
	err error
}

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

	runID    uint
	names    boundNames        // binding -> server names
	vars     map[string]string // the run's parameters and answers, as preflight gave them
	bindings map[string]string // agent id -> binding
	recs     []*model.ProcedureStepRecord
	activity [][]string // per step: the requests sent and their answers
	current  int        // the step the engine is at; -1 before the first
	review   int        // the step shown for review, or -1
	q        *question
	percent  float64 // a wait step's progress, or -1
	progress string
	devs     []string

	active   bool // the engine's goroutine runs
	cancel   context.CancelFunc
	stopWith atomic.Pointer[stopRequest]
	// onStopped runs once the engine has stopped (the window closes).
	onStopped func()
	stopped   *model.ProcedureRun // the run as stored, when the screen opened on a stopped run
	out       *procedure.Outcome
	runErr    error
	reportMD  string
	report    *procedure.Report
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
	r := &runScreen{w: w, p: p, opts: o, names: boundNames{}, vars: map[string]string{}, bindings: map[string]string{}, current: -1, review: -1, percent: -1,
		recs: make([]*model.ProcedureStepRecord, len(p.Steps)), activity: make([][]string, len(p.Steps)),
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
	r.runID, r.stopped = run.ID, &run
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
	r.curTag = newStateTag(lookOfStep(stepPending), theme.SizeNameSubHeadingText, stepWords)
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
	r.revTag = newStateTag(lookOfStep(stepPending), theme.SizeNameSubHeadingText, stepWords)
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
		tag:   newStateTag(lookOfStep(stepPending), "", stepWords),
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
	if r.runID != 0 {
		t += fmt.Sprintf(" %d", r.runID)
	}
	r.title.SetText(t + ": " + r.p.Title)
	people := fmt.Sprintf("On %s · operator %s", r.opts.System, dash(r.opts.Operator))
	if r.opts.Supervisor != "" {
		people += " · supervisor " + r.opts.Supervisor
	}
	r.people.SetText(people + " · " + documentLine(r.p))
}

// running reports whether the engine's goroutine is running the run.
func (r *runScreen) running() bool { return r.active }

// start runs the run on a goroutine of its own: a new run or a resume.
func (r *runScreen) start(run func(ctx context.Context) (procedure.Outcome, error)) {
	env := r.w.env
	ctx, cancel := context.WithCancel(r.w.ctx)
	r.cancel, r.active, r.out, r.runErr = cancel, true, nil, nil
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
		r.active = false
		r.status.SetText("The console is closing: the run was not started.")
		return
	}
	r.follow()
	r.sync()
}

// follow reads the system's servers while the window is open: at once,
// every statusEvery, and when a step starts or ends.
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
			}
		}
	})
}

func (r *runScreen) nudge() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

// update is an engine Update copied on the engine's goroutine, so that
// the UI goroutine reads nothing the engine may still change.
type update struct {
	kind    procedure.UpdateKind
	run     uint
	step    procedure.Step
	hasStep bool
	rec     *model.ProcedureStepRecord
	server  string
	req     *actions.Request
	res     *actions.Result
	percent float64
	text    string
}

// observe is the engine's Observe: it copies the update and hands it to
// the UI goroutine.
func (r *runScreen) observe(u procedure.Update) {
	c := update{kind: u.Kind, run: u.Run, server: u.Server, percent: u.Percent, text: u.Text}
	if u.Step != nil {
		c.step, c.hasStep = *u.Step, true
	}
	if u.Record != nil {
		rec := *u.Record
		c.rec = &rec
	}
	if u.Request != nil {
		req := *u.Request
		c.req = &req
	}
	if u.Result != nil {
		res := *u.Result
		c.res = &res
	}
	r.w.env.do(func() { r.apply(c) })
}

func (r *runScreen) apply(c update) {
	i := c.step.Index
	if c.hasStep && (i < 0 || i >= len(r.p.Steps)) {
		return
	}
	switch c.kind {
	case procedure.UpdateStarted:
		r.runID = c.run
		r.showHeader()
	case procedure.UpdateStepStart:
		r.recs[i], r.current, r.activity[i] = c.rec, i, nil
		r.percent, r.progress = -1, ""
		r.showRow(i)
		r.nudge()
		r.showCurrent()
	case procedure.UpdateStepEnd:
		r.recs[i] = c.rec
		r.showRow(i)
		r.nudge()
		if i == r.current {
			r.showCurrent()
		}
		if i == r.review {
			r.showReview()
		}
	case procedure.UpdateRequest:
		line := requestLine(c.server, *c.req, c.res)
		r.activity[i] = append(r.activity[i], line)
		if i == r.current {
			r.showActivity()
		}
	case procedure.UpdateProgress:
		r.percent, r.progress = c.percent, c.text
		if i == r.current {
			r.showProgress()
		}
	case procedure.UpdateDeviation:
		r.devs = append(r.devs, c.text)
		if r.current >= 0 {
			r.activity[r.current] = append(r.activity[r.current], "deviation: "+c.text)
			r.showActivity()
		}
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
	return r.ask(ctx, askConfirm, q)
}

// Choose is part of procedure.Prompter.
func (r *runScreen) Choose(ctx context.Context, q procedure.Question) (procedure.Answer, error) {
	return r.ask(ctx, askChoose, q)
}

// SignOff is part of procedure.Prompter.
func (r *runScreen) SignOff(ctx context.Context, q procedure.Question) (procedure.Answer, error) {
	return r.ask(ctx, askSignOff, q)
}

func (r *runScreen) ask(ctx context.Context, kind string, q procedure.Question) (procedure.Answer, error) {
	qq := &question{kind: kind, q: q, reply: make(chan reply, 1)}
	r.w.env.do(func() { r.showQuestion(qq) })
	select {
	case a := <-qq.reply:
		return a.a, a.err
	case <-ctx.Done():
		r.w.env.do(func() { r.dropQuestion(qq) })
		return procedure.Answer{}, ctx.Err()
	}
}

func (r *runScreen) showQuestion(qq *question) {
	if !r.active {
		return
	}
	r.q = qq
	r.review = -1 // the operator's turn comes first
	r.current = qq.q.Step.Index
	r.choices.Options, r.choiceVals = nil, map[string]string{}
	r.choices.Selected = ""
	for _, c := range qq.q.Choices {
		label := c.Label
		if label == "" {
			label = c.Value
		}
		r.choices.Options = append(r.choices.Options, label)
		r.choiceVals[label] = c.Value
		if c.Value == qq.q.Default {
			r.choices.Selected = label
		}
	}
	r.choices.Refresh()
	r.signName.SetText(qq.q.Supervisor)
	var lines []string
	for _, pv := range qq.q.Preview {
		lines = append(lines, previewLines(pv))
	}
	r.preview.SetText(strings.Join(lines, "\n\n"))
	r.showRow(r.current)
	r.showCurrent()
	r.w.win.RequestFocus()
}

func (r *runScreen) dropQuestion(qq *question) {
	if r.q != qq {
		return
	}
	r.q = nil
	if r.current >= 0 {
		r.showRow(r.current)
	}
	r.showCurrent()
}

// answer hands the operator's answer to the engine's goroutine.
func (r *runScreen) answer(a procedure.Answer, err error) {
	qq := r.q
	if qq == nil {
		return
	}
	r.q = nil
	qq.reply <- reply{a: a, err: err}
	r.note.SetText("")
	r.showRow(qq.q.Step.Index)
	r.showCurrent()
}

// goNext answers the open question as the form says, or returns from a
// review.
func (r *runScreen) goNext() {
	if r.review >= 0 {
		r.review = -1
		r.showPane()
		return
	}
	qq := r.q
	if qq == nil {
		return
	}
	note := strings.TrimSpace(r.note.Text)
	a := procedure.Answer{OK: true, By: r.opts.Operator, Note: note}
	switch qq.kind {
	case askChoose:
		a.Value = r.choiceVals[r.choices.Selected]
		if a.Value == "" {
			r.status.SetText("Choose one of the document's answers first.")
			return
		}
	case askSignOff:
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
	from := r.review
	if from < 0 {
		from = r.current
		if from < 0 || r.endShown() {
			from = len(r.p.Steps)
		}
	}
	for i := from - 1; i >= 0; i-- {
		if r.recs[i] != nil {
			r.reviewStep(i)
			return
		}
	}
}

// reviewStep shows step i's record, read-only.
func (r *runScreen) reviewStep(i int) {
	if i == r.current && r.active {
		r.review = -1
	} else {
		r.review = i
	}
	r.showPane()
}

func (r *runScreen) endShown() bool {
	return !r.active && (r.out != nil || r.stopped != nil || r.runErr != nil)
}

// showPane shows the current step, the step under review or the end.
func (r *runScreen) showPane() {
	for i, row := range r.rows {
		setVisible(row.mark, i == r.review || (r.review < 0 && i == r.current && !r.endShown()))
	}
	switch {
	case r.review >= 0:
		r.showReview()
		r.currentPane.Hide()
		r.endPane.Hide()
		r.reviewPane.Show()
	case r.endShown():
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

// stateOf is the word step i's tag shows.
func (r *runScreen) stateOf(i int) string {
	if r.q != nil && r.q.q.Step.Index == i {
		return stepYourTurn
	}
	rec := r.recs[i]
	switch {
	case rec == nil:
		return stepPending
	case rec.State == procedure.StepRunning && !r.active:
		return procedure.StepInterrupted
	}
	return rec.State
}

func (r *runScreen) showRow(i int) {
	r.rows[i].tag.set(lookOfStep(r.stateOf(i)))
}

func (r *runScreen) showCurrent() {
	r.showPane()
	i := r.current
	if i < 0 {
		r.curTag.set(lookOfStep(stepPending))
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
	r.curTag.set(lookOfStep(r.stateOf(i)))
	r.curHead.SetText(stepHeading(st, len(r.p.Steps)))
	r.docText.SetText(strings.TrimSpace(st.Text))
	r.vigilText.SetText(whatVigilDoes(r.p, st, r.names, r.vars, r.opts.Supervisor, r.opts.Rehearsal))
	destructive := st.Type == procedure.StepAction && st.Destructive && !r.opts.Rehearsal
	if destructive {
		r.danger.SetText("DESTRUCTIVE: this step changes production. " + upper(procedure.Describe(st.Action, expandParams(st.Params, r.vars), r.names.of(st.Server))) + ".")
	}
	setVisible(r.dangerRow, destructive)

	qq := r.q
	setVisible(r.askRow, qq != nil)
	if qq != nil {
		r.askText.SetText(qq.q.Text)
		setVisible(r.previewRow, len(qq.q.Preview) > 0)
		setVisible(r.choices, qq.kind == askChoose)
		setVisible(r.signRow, qq.kind == askSignOff)
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
	on := r.active && r.q == nil
	if on {
		text := "Vigil is running this step…"
		if r.current < 0 {
			text = "Starting…"
		} else if rec := r.recs[r.current]; rec != nil && rec.State != procedure.StepRunning {
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
	i := r.current
	waits := i >= 0 && (r.p.Steps[i].Type == procedure.StepWait || r.p.Steps[i].Type == procedure.StepVerify)
	setVisible(r.progressRow, waits && (r.progress != "" || r.percent >= 0))
	setVisible(r.meter, r.percent >= 0)
	if r.percent >= 0 {
		r.meter.SetValue(min(max(r.percent/100, 0), 1))
	}
	if r.progress != "" && r.meterText.Text != "Now: "+r.progress {
		r.meterText.SetText("Now: " + r.progress)
		r.currentPane.Refresh() // the new words may take more or fewer lines
	}
}

func (r *runScreen) showActivity() {
	i := r.current
	if i < 0 || len(r.activity[i]) == 0 {
		r.activityRow.Hide()
		return
	}
	r.activityTxt.SetText(strings.Join(r.activity[i], "\n"))
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
	i := r.review
	if i < 0 {
		return
	}
	st := r.p.Steps[i]
	r.revTag.set(lookOfStep(r.stateOf(i)))
	r.revHead.SetText(stepHeading(st, len(r.p.Steps)))
	r.revDoc.SetText(strings.TrimSpace(st.Text))
	rec := r.recs[i]
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
	setVisible(r.abort, r.active)
	setEnabled(r.abort, r.active && r.popup == nil)
	hasEarlier := false
	from := r.review
	if from < 0 {
		from = r.current
		if r.endShown() {
			from = len(r.p.Steps)
		}
	}
	for i := 0; i < from && i < len(r.recs); i++ {
		if r.recs[i] != nil {
			hasEarlier = true
		}
	}
	setEnabled(r.back, hasEarlier)
	r.next.Importance = widget.HighImportance
	qq := r.q
	switch {
	case r.review >= 0 && r.endShown():
		r.next.SetText("Back to the report")
		setEnabled(r.next, true)
	case r.review >= 0:
		r.next.SetText("Back to the current step")
		setEnabled(r.next, true)
	case qq != nil:
		r.next.SetText(answerLabel(qq, r.opts.Rehearsal))
		if qq.kind == askConfirm && len(qq.q.Preview) > 0 && qq.q.Step.Destructive {
			r.next.Importance = widget.DangerImportance
		}
		setEnabled(r.next, true)
	default:
		r.next.SetText("Next")
		setEnabled(r.next, false)
	}
	setVisible(r.next, r.active || r.review >= 0)
	r.bar.Refresh() // the buttons' words change their widths
	setVisible(r.note, r.active)
	setVisible(r.saveNote, r.active && qq == nil)
	if ph := map[bool]string{true: answerNotePlaceholder, false: notePlaceholder}[qq != nil]; r.note.PlaceHolder != ph {
		r.note.SetPlaceHolder(ph)
	}
	switch {
	case qq != nil:
		r.status.Importance = widget.WarningImportance
		r.status.SetText(fmt.Sprintf("Step %d waits for you.", qq.q.Step.Index+1))
	case r.active:
		r.status.Importance = widget.MediumImportance
		r.status.SetText("The run is going on; it asks you when it needs you.")
	default:
		r.status.SetText("")
	}
}

// answerLabel is what the Next button says for a question.
func answerLabel(qq *question, rehearsal bool) string {
	switch qq.kind {
	case askChoose:
		return "Next with this answer"
	case askSignOff:
		return "Sign off"
	}
	if len(qq.q.Preview) > 0 {
		return "Approve and send"
	}
	return "Confirm, done"
}

// recordNote records the note as a deviation of the run, when no question
// is open to take it with its answer.
func (r *runScreen) recordNote() {
	text := strings.TrimSpace(r.note.Text)
	if text == "" || r.runID == 0 {
		return
	}
	if r.q != nil {
		r.status.SetText("The note goes with your answer to this step.")
		return
	}
	env, store, id, step := r.w.env, r.eng.Store, r.runID, r.current
	d := model.ProcedureDeviation{RunID: id, StepIndex: step, Time: env.now(),
		Text: fmt.Sprintf("note by %s: %s", dash(r.opts.Operator), text)}
	r.note.SetText("")
	env.requests.goRequest(func() {
		err := store.AddProcedureDeviation(env.ctx, d)
		env.do(func() {
			if err != nil {
				r.status.SetText("The note could not be recorded: " + err.Error())
				r.note.SetText(text)
				return
			}
			r.devs = append(r.devs, d.Text)
			if step >= 0 {
				r.activity[step] = append(r.activity[step], d.Text)
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
	if r.current >= 0 {
		at = fmt.Sprintf("at step %d of %d", r.current+1, len(r.p.Steps))
	} else if r.stopped != nil {
		at = fmt.Sprintf("at step %d of %d", r.stopped.Cursor+1, len(r.p.Steps))
	}
	text := "Vigil stops the run " + at + " and records it as aborted, with where things stand. " +
		"Steps already done are not undone: the next screen shows the document's way back."
	if r.active && r.q == nil {
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
	if r.current >= 0 {
		at = fmt.Sprintf("at step %d of %d", r.current+1, len(r.p.Steps))
	}
	text := "The run is in progress, " + at + ". Leave it to resume later: Vigil stops it where it is, and the console " +
		"offers to resume it at this step when it is opened again (or `vigil procedure resume " + fmt.Sprint(r.runID) + "`). " +
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
	if !r.active {
		if r.stopped != nil {
			r.abortStopped(reason)
		}
		return
	}
	r.stopWith.Store(&stopRequest{abort: true, by: by, reason: reason})
	r.status.SetText("Aborting the run…")
	if r.q != nil {
		r.answer(procedure.Answer{By: by, Note: reason}, procedure.ErrAborted)
		return
	}
	r.cancel()
}

// resumeStopped resumes a stopped run at the step it stopped in.
func (r *runScreen) resumeStopped() {
	if r.active || r.runID == 0 {
		return
	}
	id, op := r.runID, r.opts.Operator
	r.stopped = nil
	r.out = nil
	r.reportMD = ""
	r.review = -1
	r.current = -1
	r.showCurrent()
	r.start(func(ctx context.Context) (procedure.Outcome, error) { return r.eng.Resume(ctx, id, op) })
}

// abortStopped ends a stopped run as aborted, on a goroutine of its own.
func (r *runScreen) abortStopped(reason string) {
	env, eng, id, by := r.w.env, r.eng, r.runID, r.opts.Operator
	setEnabled(r.abortOld, false)
	setEnabled(r.resume, false)
	env.requests.goRequest(func() {
		out, err := eng.Abort(env.ctx, id, by, reason)
		rep, repErr := procedure.LoadReport(env.ctx, eng.Store, id)
		env.do(func() {
			r.stopped = nil
			r.finished(out, err, rep, repErr)
		})
	})
}

// finished shows how the run ended, its steps as recorded and its report.
func (r *runScreen) finished(out procedure.Outcome, err error, rep *procedure.Report, repErr error) {
	r.active = false
	r.q = nil
	if r.cancel != nil {
		r.cancel()
	}
	r.out, r.runErr = &out, err
	if out.Run != 0 {
		r.runID = out.Run
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
	env, store := r.w.env, r.eng.Store
	r.endHead.SetText("Reading run " + fmt.Sprint(id) + "…")
	env.requests.goRequest(func() {
		rep, err := procedure.LoadReport(env.ctx, store, id)
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
		r.report = rep
		// The records as stored: a resumed step's newest attempt wins, and
		// steps the end marked (aborted) read as it says.
		for _, s := range rep.Steps {
			if s.Index >= 0 && s.Index < len(r.recs) {
				rec := s.ProcedureStepRecord
				r.recs[s.Index] = &rec
			}
		}
		r.reportMD = rep.Markdown()
		r.reportView.ParseMarkdown(r.reportMD)
		if r.stopped != nil {
			r.stopped.State, r.stopped.Summary = rep.Run.State, rep.Run.Summary
		}
	}
	for i := range r.rows {
		r.showRow(i)
	}
	state := r.outcomeState()
	r.endTag.set(lookOfOutcome(state, r.opts.Rehearsal))
	head := fmt.Sprintf("Run %d of %s on %s.", r.runID, r.p.Title, r.opts.System)
	if r.runErr != nil {
		head = "The run could not go on: " + r.runErr.Error()
	}
	if repErr != nil {
		head += " The report could not be read: " + repErr.Error()
	}
	r.endHead.SetText(head)
	summary := r.summaryText()
	if summary == "" && state == model.RunCompleted {
		summary = "Every step is done. The report below is the record of the run."
	}
	r.endSummary.SetText(summary)
	wayBack := ""
	if r.out != nil {
		wayBack = r.out.WayBack
	}
	if wayBack == "" && rep != nil {
		wayBack = rep.Run.WayBack
	}
	r.endWayBack.SetText(wayBack)
	setVisible(r.wayBackRow, wayBack != "")
	open := model.RunOpen(state) && !r.active
	setVisible(r.resume, open)
	setVisible(r.abortOld, open)
	setEnabled(r.resume, open)
	setEnabled(r.abortOld, open)
	if open && rep != nil {
		r.resume.SetText(fmt.Sprintf("Resume at step %d", rep.Run.Cursor+1))
	}
	if r.savePath.Text == "" && r.runID != 0 {
		r.savePath.SetText(defaultReportPath(r.runID, r.p.ID))
	}
	r.w.setTitle(strings.ToLower(lookOfOutcome(state, r.opts.Rehearsal).word) + " - " + r.p.Title)
	r.showPane()
	r.endPane.Refresh()
}

// outcomeState is how the run ended, or stands when it stopped.
func (r *runScreen) outcomeState() string {
	switch {
	case r.active:
		return ""
	case r.out != nil && r.out.State != "":
		return r.out.State
	case r.report != nil:
		return r.report.Run.State
	case r.stopped != nil:
		return r.stopped.State
	case r.runErr != nil:
		return model.RunFailed
	}
	return ""
}

// summaryText is where things stand, when the run did not complete.
func (r *runScreen) summaryText() string {
	switch {
	case r.active:
		return ""
	case r.out != nil && r.out.Summary != "":
		return r.out.Summary
	case r.report != nil:
		return r.report.Run.Summary
	}
	return ""
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
	rep := r.report
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
	rep := r.report
	if rep == nil {
		return
	}
	base := strings.TrimSpace(r.savePath.Text)
	if base == "" {
		base = defaultReportPath(r.runID, r.p.ID)
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
