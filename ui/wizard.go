package ui

import (
	"context"
	"fmt"
	"image/color"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/procedure"
	"github.com/vigilops/vigil/ui/runmodel"
)

// ProcedureDesk is what the procedure wizard needs of the console: the
// procedures that fit a system, the runs that wait to be resumed, and an
// engine over the console's fleet and store. The console implements it;
// tests implement it over an in-memory fleet.
type ProcedureDesk interface {
	// Procedures lists the procedures that fit system (its profile), each
	// with when it was last run and last rehearsed there.
	Procedures(ctx context.Context, system string) ([]procedure.Entry, error)
	// StoppedRuns lists the runs of system ("" for every system) that
	// stopped without ending and that no live process runs: they wait to
	// be resumed or aborted.
	StoppedRuns(ctx context.Context, system string) ([]model.ProcedureRun, error)
	// Engine returns an engine over the console's fleet and store that
	// asks prompt and tells observe. Observe is called on the engine's
	// goroutine.
	Engine(prompt procedure.Prompter, observe func(procedure.Update)) *procedure.Engine
	// OperatorName is who runs procedures from this console, unless the
	// operator types another name.
	OperatorName() string
	// ProcedureTitle is the title of the procedure with id, or id when
	// there is none.
	ProcedureTitle(id string) string
}

// Procedures opens procedure wizards, each in a window of its own, and
// offers to resume the runs a console that was killed left stopped. Its
// methods must be called on the UI goroutine.
type Procedures struct {
	// Do runs a change on the UI goroutine: fyne.Do unless set. Tests of
	// the console set it to run the changes on their own goroutine.
	Do func(func())
	// StatusEvery is how often the servers of a run are read again while
	// the wizard shows it: 2 s unless set; negative reads them only when a
	// step starts or ends.
	StatusEvery time.Duration

	ctx       context.Context
	desk      ProcedureDesk
	newWindow func(title string) fyne.Window
	requests  *requests
	listeners []func()
}

// NewProcedures returns the console's procedure wizards. Their runs and
// reads end when ctx is done; Wait waits for them.
func NewProcedures(ctx context.Context, a fyne.App, desk ProcedureDesk) *Procedures {
	return &Procedures{ctx: ctx, desk: desk, newWindow: a.NewWindow, requests: &requests{}}
}

// Title is the title of the procedure with id, or id.
func (p *Procedures) Title(id string) string { return p.desk.ProcedureTitle(id) }

// Readiness is whether a procedure can start on a system now, as its
// preflight finds the fleet: ready, or blocked and why. What the operator
// gives when starting (parameters, the supervisor) does not count.
type Readiness struct {
	Ready   bool
	Blocked string // the first check of the fleet that failed, in words
}

// Readiness runs the preflight of procedure id on system. It reads the
// servers: call it off the UI goroutine.
func (p *Procedures) Readiness(ctx context.Context, system, id string) (Readiness, error) {
	entries, err := p.desk.Procedures(ctx, system)
	if err != nil {
		return Readiness{}, err
	}
	for _, e := range entries {
		if e.Procedure.ID != id {
			continue
		}
		pf, err := p.desk.Engine(nil, nil).Preflight(ctx, e.Procedure, procedure.Options{System: system, Operator: p.desk.OperatorName()})
		if err != nil {
			return Readiness{}, err
		}
		if c, blocked := pf.Blocker(); blocked {
			return Readiness{Blocked: c.Detail}, nil
		}
		return Readiness{Ready: true}, nil
	}
	return Readiness{}, fmt.Errorf("no procedure %s for %s", id, system)
}

// OnRunEnded adds fn to what is called, on the UI goroutine, when a run
// of any wizard ends or stops: the history shown elsewhere changed.
func (p *Procedures) OnRunEnded(fn func()) { p.listeners = append(p.listeners, fn) }

// Wait waits, once ctx is done, for every run to stop and every read to
// end. A run stopped this way is left to resume, as if the console had
// been killed.
func (p *Procedures) Wait() { p.requests.closeAndWait() }

func (p *Procedures) env() wizEnv {
	do := p.Do
	if do == nil {
		do = fyne.Do
	}
	every := p.StatusEvery
	if every == 0 {
		every = 2 * time.Second
	}
	return wizEnv{ctx: p.ctx, desk: p.desk, do: do, now: time.Now, statusEvery: every, requests: p.requests,
		ended: func() {
			for _, fn := range p.listeners {
				fn()
			}
		}}
}

// Open opens a wizard on system's procedures.
func (p *Procedures) Open(system string) *Wizard {
	w := newWizard(p.env(), p.newWindow(wizardTitle(system, "")), system)
	w.showChooser("")
	w.win.Show()
	return w
}

// OpenProcedure opens a wizard on procedure id for system, at its start.
func (p *Procedures) OpenProcedure(system, id string) *Wizard {
	w := newWizard(p.env(), p.newWindow(wizardTitle(system, "")), system)
	w.showChooser(id)
	w.win.Show()
	return w
}

// Resume opens a wizard on a run that stopped without ending: its steps so
// far, where things stand, and the choice to resume it at the step it
// stopped in or to abort it.
func (p *Procedures) Resume(run model.ProcedureRun) *Wizard {
	w := newWizard(p.env(), p.newWindow(wizardTitle(run.System, "")), run.System)
	w.showStopped(run)
	w.win.Show()
	return w
}

// OfferResume asks, over parent, whether to resume each run that stopped
// without ending (the console was killed, the power failed); it asks
// nothing when there is none.
func (p *Procedures) OfferResume(parent fyne.Window) {
	env := p.env()
	env.requests.goRequest(func() {
		runs, err := p.desk.StoppedRuns(env.ctx, "")
		if err != nil || len(runs) == 0 {
			return
		}
		env.do(func() { p.showOffer(parent, runs) })
	})
}

func (p *Procedures) showOffer(parent fyne.Window, runs []model.ProcedureRun) {
	var popup *widget.PopUp
	head := widget.NewLabelWithStyle("A procedure did not finish", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	head.SizeName = theme.SizeNameSubHeadingText
	body := container.NewVBox(
		container.NewBorder(nil, nil, widget.NewIcon(theme.NewWarningThemedResource(theme.WarningIcon())), nil, head),
		wrapping(widget.NewLabel("The console stopped while these runs were in progress. Nothing more was done since. "+
			"Open a run to see where it stands, then resume it at the step it stopped in, or abort it. "+
			"The Procedures tab lists them too.")))
	for _, r := range runs {
		run := r
		open := widget.NewButtonWithIcon("Open run "+fmt.Sprint(run.ID), theme.MediaPlayIcon(), func() {
			popup.Hide()
			p.Resume(run)
		})
		open.Importance = widget.HighImportance
		body.Add(container.NewBorder(nil, nil, nil, container.NewCenter(open), wrapping(widget.NewLabel(stoppedRunLine(run)))))
	}
	later := widget.NewButton("Later", func() { popup.Hide() })
	body.Add(container.NewHBox(layout.NewSpacer(), later))
	popup = modalOfWidth(body, 640, parent.Canvas())
	popup.Show()
}

// modalOfWidth is a modal pop-up of body at width. A wrapping label in a
// pop-up, which takes its content's minimum size, would be one word wide;
// laid out at the width first, the labels say how tall they are.
func modalOfWidth(body fyne.CanvasObject, width float32, c fyne.Canvas) *widget.PopUp {
	body.Resize(fyne.NewSize(width, body.MinSize().Height))
	return widget.NewModalPopUp(container.NewPadded(container.NewGridWrap(fyne.NewSize(width, body.MinSize().Height), body)), c)
}

// stoppedRunLine says what a stopped run is and where it stopped.
func stoppedRunLine(r model.ProcedureRun) string {
	kind := "Run"
	if r.Rehearsal {
		kind = "Rehearsal"
	}
	s := fmt.Sprintf("%s %d: %s on %s, stopped at step %d (started %s by %s).", kind, r.ID, r.Title, r.System, r.Cursor+1,
		r.Started.Local().Format("2006-01-02 15:04"), dash(r.Operator))
	if r.Summary != "" {
		s += " " + r.Summary
	}
	return s
}

func wizardTitle(system, state string) string {
	// Plain ASCII: window managers that read the old WM_NAME property
	// show anything else garbled.
	t := "Vigil procedure on " + system
	if state != "" {
		t += ": " + state
	}
	return t
}

// wizEnv is what every wizard takes from the Procedures that opened it.
type wizEnv struct {
	ctx         context.Context
	desk        ProcedureDesk
	do          func(func())
	now         func() time.Time
	statusEvery time.Duration
	requests    *requests
	ended       func()
}

// Wizard is one procedure wizard window: the procedures of a system to
// choose from, then the chosen one's start (warnings, parameters, the
// people, preflight), then its run step by step to its report. Its methods
// must be called on the UI goroutine.
type Wizard struct {
	env    wizEnv
	win    fyne.Window
	system string
	ctx    context.Context // ends when the window closes
	cancel context.CancelFunc

	screen string // choose, start, run
	holder *fyne.Container

	// choose
	picks map[string]*widget.Button // by procedure id
	// start
	start *startScreen
	// run
	run *runScreen
}

func newWizard(env wizEnv, win fyne.Window, system string) *Wizard {
	ctx, cancel := context.WithCancel(env.ctx)
	w := &Wizard{env: env, win: win, system: system, ctx: ctx, cancel: cancel, holder: container.NewStack()}
	win.SetContent(w.holder)
	win.Resize(fyne.NewSize(1100, 720))
	win.SetCloseIntercept(w.requestClose)
	return w
}

func (w *Wizard) setScreen(name string, content fyne.CanvasObject) {
	w.screen = name
	w.holder.Objects = []fyne.CanvasObject{content}
	w.holder.Refresh()
}

func (w *Wizard) setTitle(state string) { w.win.SetTitle(wizardTitle(w.system, state)) }

// requestClose closes the window, after asking what to do with a run in
// progress.
func (w *Wizard) requestClose() {
	if w.run != nil && w.run.running() {
		w.run.askClose()
		return
	}
	w.close()
}

func (w *Wizard) close() {
	w.cancel()
	w.win.Close()
}

// screen (a): the procedures that fit the system.

func (w *Wizard) showChooser(want string) {
	w.setTitle("")
	w.picks = map[string]*widget.Button{}
	status := wrapping(widget.NewLabel("Reading the procedures for " + w.system + "…"))
	list := container.NewVBox()
	head := widget.NewLabelWithStyle("Procedures for "+w.system, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	head.SizeName = theme.SizeNameSubHeadingText
	intro := wrapping(widget.NewLabel("The vendor's procedures for this system, with when each was last run and last rehearsed " +
		"here. Choose one to read its warnings and run its preflight; nothing is done before you start it."))
	w.setScreen("choose", container.NewBorder(container.NewVBox(head, intro, widget.NewSeparator()), nil, nil, nil,
		container.NewVScroll(container.NewVBox(status, list))))
	env, ctx, system := w.env, w.ctx, w.system
	env.requests.goRequest(func() {
		entries, err := env.desk.Procedures(ctx, system)
		stopped, serr := env.desk.StoppedRuns(ctx, system)
		if err == nil {
			err = serr
		}
		env.do(func() { w.fillChooser(status, list, entries, stopped, err, want) })
	})
}

func (w *Wizard) fillChooser(status *widget.Label, list *fyne.Container, entries []procedure.Entry, stopped []model.ProcedureRun, err error, want string) {
	if w.screen != "choose" {
		return
	}
	switch {
	case err != nil:
		status.Importance = widget.DangerImportance
		status.SetText("The procedures could not be read: " + err.Error())
		return
	case len(entries) == 0:
		status.SetText("No procedure fits " + w.system + ": Vigil knows no procedure for its profile, or none of its servers is known yet.")
		return
	}
	status.Hide()
	now := w.env.now()
	for _, r := range stopped {
		run := r
		open := widget.NewButtonWithIcon("Open run "+fmt.Sprint(run.ID), theme.MediaPlayIcon(), func() { w.showStopped(run) })
		open.Importance = widget.HighImportance
		line := wrapping(widget.NewLabelWithStyle(stoppedRunLine(run), fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
		line.Importance = widget.WarningImportance
		list.Add(tinted(warningTint, container.NewBorder(nil, nil, widget.NewIcon(theme.NewWarningThemedResource(theme.WarningIcon())),
			container.NewCenter(open), line)))
	}
	for _, e := range entries {
		p := e.Procedure
		pick := widget.NewButtonWithIcon("Choose", theme.NavigateNextIcon(), func() { w.showStart(p) })
		pick.Importance = widget.HighImportance
		w.picks[p.ID] = pick
		title := widget.NewLabelWithStyle(p.Title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		title.Wrapping = fyne.TextWrapWord
		facts := []string{string(p.Kind), fmt.Sprintf("%d steps", len(p.Steps))}
		if p.TargetRecovery > 0 {
			facts = append(facts, "target recovery "+p.TargetRecovery.String())
		}
		if p.Supervised {
			facts = append(facts, "supervised")
		}
		doc := wrapping(widget.NewLabel(documentLine(p) + " · " + strings.Join(facts, " · ")))
		last := widget.NewLabelWithStyle(lastTimes(e.Last, now), fyne.TextAlignLeading, fyne.TextStyle{Italic: true})
		last.Wrapping = fyne.TextWrapWord
		if e.Last.LastRehearsal.IsZero() && e.Last.LastRun.IsZero() {
			last.Importance = widget.WarningImportance
		}
		list.Add(card(container.NewBorder(nil, nil, nil, container.NewCenter(pick), container.NewVBox(title, doc, last))))
	}
	list.Refresh()
	if want != "" {
		if b := w.picks[want]; b != nil {
			b.OnTapped()
		}
	}
}

func documentLine(p *procedure.Procedure) string {
	s := "From " + p.Document.File
	if p.Document.Section != "" {
		s += ", “" + p.Document.Section + "”"
	}
	return s
}

// card sets content on the header background, as the board's system
// cards are.
func card(content fyne.CanvasObject) fyne.CanvasObject {
	bg := canvas.NewRectangle(theme.Color(theme.ColorNameHeaderBackground))
	bg.CornerRadius = theme.Size(theme.SizeNameInputRadius)
	return container.NewStack(bg, container.NewPadded(content))
}

var (
	warningTint = color.NRGBA{R: 0xef, G: 0x6c, B: 0x00, A: 0x30}
	dangerTint  = color.NRGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0x30}
	infoTint    = color.NRGBA{R: 0x15, G: 0x65, B: 0xc0, A: 0x20}
)

// tinted sets content on a faint colour, for what must not be missed.
func tinted(tint color.NRGBA, content fyne.CanvasObject) fyne.CanvasObject {
	bg := canvas.NewRectangle(tint)
	bg.CornerRadius = theme.Size(theme.SizeNameInputRadius)
	return container.NewStack(bg, container.NewPadded(content))
}

// screen (b): the start of a procedure.

// startScreen is the procedure before its run: its warnings, its
// parameters, who runs and supervises it, and its preflight.
type startScreen struct {
	p          *procedure.Procedure
	params     []paramInput
	operator   *widget.Entry
	supervisor *widget.Entry // nil unless the procedure is supervised
	preflight  *widget.Button
	startBtn   *widget.Button
	rehearse   *widget.Button
	back       *widget.Button
	activity   *widget.Activity
	summary    *widget.Label
	checks     *fyne.Container
	right      *fyne.Container // the preflight's side

	busy bool
	gen  int // counts preflights, so that an answer to an older one is dropped
	// pf is the last preflight, made with opts; nil when the inputs
	// changed since.
	pf   *procedure.Preflight
	opts procedure.Options
}

// paramInput is one parameter's field.
type paramInput struct {
	name  string
	entry *widget.Entry
	sel   *widget.Select
}

func (in paramInput) value() string {
	if in.sel != nil {
		return in.sel.Selected
	}
	return strings.TrimSpace(in.entry.Text)
}

func (w *Wizard) showStart(p *procedure.Procedure) {
	w.setTitle(p.Title)
	s := &startScreen{p: p, operator: widget.NewEntry(), activity: widget.NewActivity(),
		summary: wrapping(widget.NewLabel("")), checks: container.NewVBox()}
	w.start = s
	s.summary.TextStyle.Bold = true
	s.summary.Hide()
	s.activity.Hide()

	head := widget.NewLabelWithStyle(p.Title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	head.SizeName = theme.SizeNameSubHeadingText
	head.Wrapping = fyne.TextWrapWord
	facts := fmt.Sprintf("On %s · %s · %d steps", w.system, p.Kind, len(p.Steps))
	if p.TargetRecovery > 0 {
		facts += " · target recovery " + p.TargetRecovery.String()
	}
	top := container.NewVBox(head, wrapping(widget.NewLabel(documentLine(p))), widget.NewLabel(facts))

	body := container.NewVBox()
	if len(p.Warnings) > 0 {
		warn := container.NewVBox()
		for _, text := range p.Warnings {
			l := wrapping(widget.NewLabelWithStyle(text, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
			warn.Add(container.NewBorder(nil, nil, container.NewVBox(widget.NewIcon(theme.NewWarningThemedResource(theme.WarningIcon()))), nil, l))
		}
		wh := heading("The document warns")
		body.Add(tinted(warningTint, container.NewVBox(wh, warn)))
	}
	if p.Supervised {
		l := wrapping(widget.NewLabel("This procedure is supervised: the supervisor named here signs off in the wizard before " +
			"any step that changes production."))
		body.Add(tinted(infoTint, l))
	}

	form := container.New(layout.NewFormLayout())
	for _, prm := range p.Parameters {
		in := paramInput{name: prm.Name}
		var field fyne.CanvasObject
		if len(prm.Choices) > 0 {
			in.sel = widget.NewSelect(prm.Choices, func(string) { w.inputsChanged() })
			if prm.Default != "" {
				in.sel.SetSelected(prm.Default)
			}
			field = in.sel
		} else {
			in.entry = widget.NewEntry()
			in.entry.SetText(prm.Default)
			in.entry.SetPlaceHolder("required")
			in.entry.OnChanged = func(string) { w.inputsChanged() }
			field = in.entry
		}
		s.params = append(s.params, in)
		form.Add(key(prm.Name))
		form.Add(container.NewVBox(field, hint(prm.Prompt)))
	}
	s.operator.SetText(w.env.desk.OperatorName())
	s.operator.OnChanged = func(string) { w.inputsChanged() }
	form.Add(key("Operator"))
	form.Add(container.NewVBox(s.operator, hint("Who runs it: recorded with the run, in the report and in the agents' audit trails.")))
	if p.Supervised {
		s.supervisor = widget.NewEntry()
		s.supervisor.SetPlaceHolder("the supervisor's name")
		s.supervisor.OnChanged = func(string) { w.inputsChanged() }
		form.Add(key("Supervisor"))
		form.Add(container.NewVBox(s.supervisor, hint("Who supervises and signs off before the first destructive step.")))
	}
	body.Add(heading("Before you start"))
	body.Add(form)

	// The preflight has the right side to itself, so that every check
	// result is in sight at once, beside what it checked.
	s.preflight = widget.NewButtonWithIcon("Run preflight", theme.SearchIcon(), func() { w.runPreflight(false) })
	s.preflight.Importance = widget.HighImportance
	explain := wrapping(widget.NewLabel("Preflight checks the servers, the bindings, the people and the document's first checks, " +
		"all at once, and changes nothing. Start is possible once every check passes."))
	s.right = container.NewBorder(container.NewVBox(heading("Preflight"), explain, container.NewHBox(s.preflight, s.activity), s.summary),
		nil, nil, nil, container.NewVScroll(container.NewThemeOverride(s.checks, compactTheme{})))

	s.back = widget.NewButtonWithIcon("All procedures", theme.NavigateBackIcon(), func() { w.showChooser("") })
	s.rehearse = widget.NewButtonWithIcon("Rehearse (dry run)", theme.VisibilityIcon(), func() { w.runPreflight(true) })
	s.startBtn = widget.NewButtonWithIcon("Start run", theme.MediaPlayIcon(), w.startRun)
	s.startBtn.Importance = widget.DangerImportance
	bar := container.NewHBox(s.back, layout.NewSpacer(), s.rehearse, s.startBtn)
	split := container.NewHSplit(container.NewVScroll(container.NewPadded(body)), container.NewPadded(s.right))
	split.Offset = 0.45
	w.setScreen("start", container.NewBorder(container.NewVBox(top, widget.NewSeparator()), container.NewVBox(widget.NewSeparator(), bar),
		nil, nil, split))
	w.syncStart()
}

func hint(s string) *widget.Label {
	l := wrapping(widget.NewLabel(s))
	l.TextStyle.Italic = true
	return l
}

// options are the run's options as the fields give them.
func (s *startScreen) options(system string, rehearsal bool) procedure.Options {
	o := procedure.Options{System: system, Operator: strings.TrimSpace(s.operator.Text), Params: map[string]string{}, Rehearsal: rehearsal}
	for _, in := range s.params {
		if v := in.value(); v != "" {
			o.Params[in.name] = v
		}
	}
	if s.supervisor != nil {
		o.Supervisor = strings.TrimSpace(s.supervisor.Text)
	}
	return o
}

func (w *Wizard) inputsChanged() {
	s := w.start
	if s == nil || s.pf == nil {
		return
	}
	s.pf = nil
	s.gen++
	s.summary.Importance = widget.WarningImportance
	s.summary.SetText("The fields changed since the preflight: run it again before you start.")
	s.right.Refresh()
	w.syncStart()
}

func (w *Wizard) syncStart() {
	s := w.start
	setEnabled(s.preflight, !s.busy)
	setEnabled(s.rehearse, !s.busy)
	setEnabled(s.startBtn, !s.busy && s.pf != nil && s.pf.OK() && !s.opts.Rehearsal)
	setEnabled(s.back, !s.busy)
}

// runPreflight checks everything that can be checked before step 1, on a
// goroutine of its own; for a rehearsal it then starts the rehearsal if
// every check passed.
func (w *Wizard) runPreflight(rehearsal bool) {
	s := w.start
	o := s.options(w.system, rehearsal)
	if o.Operator == "" {
		s.summary.Importance = widget.DangerImportance
		s.summary.SetText("Give the operator's name: the run, its report and the agents' audit trails record it.")
		s.summary.Show()
		s.right.Refresh()
		return
	}
	s.busy, s.pf = true, nil
	s.gen++
	gen := s.gen
	s.checks.RemoveAll()
	s.summary.Importance = widget.MediumImportance
	s.summary.SetText("Running the preflight…")
	s.summary.Show()
	s.activity.Show()
	s.activity.Start()
	s.right.Refresh()
	w.syncStart()
	eng := w.env.desk.Engine(nil, nil)
	env, ctx, p := w.env, w.ctx, s.p
	started := env.requests.goRequest(func() {
		pf, err := eng.Preflight(ctx, p, o)
		env.do(func() { w.preflightDone(gen, o, pf, err) })
	})
	if !started {
		s.busy = false
		w.syncStart()
	}
}

func (w *Wizard) preflightDone(gen int, o procedure.Options, pf procedure.Preflight, err error) {
	s := w.start
	if w.screen != "start" || s == nil || gen != s.gen {
		return
	}
	s.busy = false
	s.activity.Stop()
	s.activity.Hide()
	defer s.right.Refresh()
	defer w.syncStart()
	if err != nil {
		s.summary.Importance = widget.DangerImportance
		s.summary.SetText("The preflight could not be made: " + err.Error())
		return
	}
	s.pf, s.opts = &pf, o
	s.checks.RemoveAll()
	// Failures first, then notes: what stops the run is never below the
	// fold.
	rank := func(c procedure.Check) int {
		switch {
		case !c.OK:
			return 0
		case c.Warning:
			return 1
		}
		return 2
	}
	checks := slices.Clone(pf.Checks)
	slices.SortStableFunc(checks, func(a, b procedure.Check) int { return rank(a) - rank(b) })
	for _, c := range checks {
		s.checks.Add(checkRow(c))
	}
	s.summary.SetText(preflightSummary(pf, o.Rehearsal))
	switch {
	case !pf.OK():
		s.summary.Importance = widget.DangerImportance
	case o.Rehearsal:
		s.summary.Importance = widget.SuccessImportance
		w.beginRun(s.p, o, pf)
	default:
		s.summary.Importance = widget.SuccessImportance
	}
}

// checkRow is one preflight check: its word (OK, FAILED, NOTE), its name
// and its detail.
func checkRow(c procedure.Check) fyne.CanvasObject {
	look := tagLook{"OK", fillGreen, white}
	switch {
	case !c.OK:
		look = tagLook{"FAILED", fillRed, white}
	case c.Warning:
		look = tagLook{"NOTE", lookOfStep(runmodel.StepYourTurn).fill, white}
	}
	tag := newStateTag(look, "", nil)
	name := widget.NewLabelWithStyle(c.Name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	name.Wrapping = fyne.TextWrapWord
	detail := wrapping(widget.NewLabel(wizardWords(c.Detail)))
	if !c.OK {
		detail.Importance = widget.DangerImportance
	}
	row := container.NewBorder(nil, nil, container.NewVBox(sized(tag, checkTagWidth())), nil, container.NewVBox(name, detail))
	if !c.OK {
		return tinted(dangerTint, row)
	}
	return row
}

func checkTagWidth() float32 {
	return fyne.MeasureText("FAILED", theme.TextSize(), fyne.TextStyle{Bold: true}).Width + 2*theme.InnerPadding()
}

func (w *Wizard) startRun() {
	s := w.start
	if s.pf == nil || !s.pf.OK() || s.opts.Rehearsal || s.busy {
		return
	}
	w.beginRun(s.p, s.opts, *s.pf)
}

// Automation: what the operator's buttons do, for the demo's screenshots
// and for tests of the console. Each reports whether its button was on
// screen and enabled, and taps it if so. Call them on the UI goroutine.

// Pick chooses procedure id on the list of procedures.
func (w *Wizard) Pick(id string) bool {
	if w.screen != "choose" {
		return false
	}
	return tapIfEnabled(w.picks[id])
}

// RunPreflight runs the preflight on the start screen.
func (w *Wizard) RunPreflight() bool {
	if w.screen != "start" {
		return false
	}
	return tapIfEnabled(w.start.preflight)
}

// StartRun starts the run after a preflight that passed.
func (w *Wizard) StartRun() bool {
	if w.screen != "start" {
		return false
	}
	return tapIfEnabled(w.start.startBtn)
}

// Next answers the question the run waits on with the answer the form
// shows: approve, confirm, sign off, or the chosen answer.
func (w *Wizard) Next() bool {
	if w.screen != "run" {
		return false
	}
	return tapIfEnabled(w.run.next)
}

func tapIfEnabled(b *widget.Button) bool {
	if b == nil || b.Disabled() || !b.Visible() || b.OnTapped == nil {
		return false
	}
	b.OnTapped()
	return true
}

// WizardSnapshot is what a wizard shows, in words.
type WizardSnapshot struct {
	Screen      string   // choose, start or run
	Procedures  []string // the ids on the list of procedures
	Preflight   string   // the preflight's summary line; "" before one
	PreflightOK bool
	Steps       []string     // the word on each step's tag, in order
	Question    runmodel.Ask // what the run waits for: confirm, choose or sign-off; "" when nothing
	Preview     string       // the dry run shown with an approval
	Run         uint
	Outcome     model.RunState // the run's end state; "" while it runs
	Summary     string         // where things stand, when it did not complete
	Report      string         // the report shown, as Markdown
}

// Snapshot says what the wizard shows now.
func (w *Wizard) Snapshot() WizardSnapshot {
	s := WizardSnapshot{Screen: w.screen}
	switch w.screen {
	case "choose":
		for id := range w.picks {
			s.Procedures = append(s.Procedures, id)
		}
		slices.Sort(s.Procedures)
	case "start":
		if w.start.summary.Visible() {
			s.Preflight = w.start.summary.Text
		}
		s.PreflightOK = w.start.pf != nil && w.start.pf.OK()
	case "run":
		r := w.run
		for _, row := range r.rows {
			s.Steps = append(s.Steps, row.tag.Text())
		}
		if r.m.Q != nil {
			s.Question = r.m.Q.Kind
			s.Preview = r.preview.Text
		}
		s.Run, s.Outcome, s.Summary, s.Report = r.m.RunID, r.m.Outcome(), r.m.Summary(), r.reportMD
	}
	return s
}
