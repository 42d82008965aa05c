// Package runmodel is a procedure run as the wizard shows it, without a
// widget: the steps' records and what was sent and heard in each, the
// step the engine is at and the one under review, the question the
// engine waits on, how the run ended, and what the operator may do now.
// The wizard's views draw it; its tests drive it without a window.
package runmodel

import (
	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/procedure"
)

// Ask is which of the engine's Prompter methods asks a question.
type Ask string

// Question kinds.
const (
	AskConfirm Ask = "confirm"
	AskChoose  Ask = "choose"
	AskSignOff Ask = "sign-off"
)

// Question is what the engine waits for: its goroutine blocks on Reply
// until the operator answers on the UI goroutine, which never blocks on
// it (Reply holds one answer).
type Question struct {
	Kind  Ask
	Q     procedure.Question
	Reply chan Reply
}

// NewQuestion is a question of kind, with room for its one answer.
func NewQuestion(kind Ask, q procedure.Question) *Question {
	return &Question{Kind: kind, Q: q, Reply: make(chan Reply, 1)}
}

// Reply is the operator's answer, or why there is none.
type Reply struct {
	A   procedure.Answer
	Err error
}

// States a step's tag shows besides the records' own.
const (
	// StepPending: not reached yet.
	StepPending model.StepState = "pending"
	// StepYourTurn: the engine waits for the operator at this step.
	StepYourTurn model.StepState = "your-turn"
)

// Pane is what the right side shows.
type Pane int

// Panes.
const (
	PaneCurrent Pane = iota // the step the engine is at
	PaneReview              // an earlier step's record, read-only
	PaneEnd                 // how the run ended, and its report
)

// Run is one run as the wizard shows it. Its methods are called on the UI
// goroutine only.
type Run struct {
	RunID    uint
	Recs     []*model.ProcedureStepRecord // per step: its last record; nil until it starts
	Activity [][]string                   // per step: the requests sent and their answers
	Current  int                          // the step the engine is at; -1 before the first
	Review   int                          // the step shown for review, or -1
	Q        *Question                    // the question the engine waits on, or nil
	Percent  float64                      // a wait step's progress, or -1
	Progress string
	Devs     []string // deviations recorded during the run

	Active  bool                // the engine's goroutine runs
	Stopped *model.ProcedureRun // the run as stored, when the wizard opened on a stopped run
	Out     *procedure.Outcome
	RunErr  error
	Report  *procedure.Report
}

// New is a run of a procedure of steps steps, before the engine starts.
func New(steps int) *Run {
	return &Run{Current: -1, Review: -1, Percent: -1,
		Recs: make([]*model.ProcedureStepRecord, steps), Activity: make([][]string, steps)}
}

// Update is an engine update copied on the engine's goroutine, so that
// the UI goroutine reads nothing the engine may still change.
type Update struct {
	Kind    procedure.UpdateKind
	Run     uint
	Step    procedure.Step
	HasStep bool
	Rec     *model.ProcedureStepRecord
	Server  string
	Req     *actions.Request
	Res     *actions.Result
	Percent float64
	Text    string
}

// Copy copies an engine update; call it on the engine's goroutine.
func Copy(u procedure.Update) Update {
	c := Update{Kind: u.Kind, Run: u.Run, Server: u.Server, Percent: u.Percent, Text: u.Text}
	if u.Step != nil {
		c.Step, c.HasStep = *u.Step, true
	}
	if u.Record != nil {
		rec := *u.Record
		c.Rec = &rec
	}
	if u.Request != nil {
		req := *u.Request
		c.Req = &req
	}
	if u.Result != nil {
		res := *u.Result
		c.Res = &res
	}
	return c
}

// Changed says what an update changed, for the views to draw again.
type Changed struct {
	Header   bool // the run's id
	Row      int  // a step whose tag changed, or -1
	Current  bool // the current step's pane
	Review   bool // the pane of the step under review
	Activity bool // what was sent and heard in the current step
	Progress bool // the current wait step's progress
	Servers  bool // a step started or ended: read the servers again
}

// Apply takes an engine update into the run. requestLine says a request
// and its answer in a line.
func (r *Run) Apply(u Update, requestLine func(server string, req actions.Request, res *actions.Result) string) Changed {
	ch := Changed{Row: -1}
	i := u.Step.Index
	if u.HasStep && (i < 0 || i >= len(r.Recs)) {
		return ch
	}
	switch u.Kind {
	case procedure.UpdateStarted:
		r.RunID = u.Run
		ch.Header = true
	case procedure.UpdateStepStart:
		r.Recs[i], r.Current, r.Activity[i] = u.Rec, i, nil
		r.Percent, r.Progress = -1, ""
		ch.Row, ch.Servers, ch.Current = i, true, true
	case procedure.UpdateStepEnd:
		r.Recs[i] = u.Rec
		ch.Row, ch.Servers = i, true
		ch.Current = i == r.Current
		ch.Review = i == r.Review
	case procedure.UpdateRequest:
		r.Activity[i] = append(r.Activity[i], requestLine(u.Server, *u.Req, u.Res))
		ch.Activity = i == r.Current
	case procedure.UpdateProgress:
		r.Percent, r.Progress = u.Percent, u.Text
		ch.Progress = i == r.Current
	case procedure.UpdateDeviation:
		r.Devs = append(r.Devs, u.Text)
		if r.Current >= 0 {
			r.Activity[r.Current] = append(r.Activity[r.Current], "deviation: "+u.Text)
			ch.Activity = true
		}
	}
	return ch
}

// Ask makes q the open question, at its step, ahead of any review. It
// is refused (false) once the engine no longer runs.
func (r *Run) Ask(q *Question) bool {
	if !r.Active {
		return false
	}
	r.Q = q
	r.Review = -1 // the operator's turn comes first
	r.Current = q.Q.Step.Index
	return true
}

// Drop withdraws q when it is still the open question (the run stopped
// while it waited).
func (r *Run) Drop(q *Question) bool {
	if r.Q != q {
		return false
	}
	r.Q = nil
	return true
}

// Answer hands the operator's answer to the engine's goroutine and closes
// the question; it returns the question answered, or nil when none was
// open.
func (r *Run) Answer(a procedure.Answer, err error) *Question {
	q := r.Q
	if q == nil {
		return nil
	}
	r.Q = nil
	q.Reply <- Reply{A: a, Err: err}
	return q
}

// Start marks the engine's goroutine as running a run (new or resumed).
func (r *Run) Start() {
	r.Active, r.Out, r.RunErr = true, nil, nil
}

// Finish records how the engine's goroutine ended.
func (r *Run) Finish(out procedure.Outcome, err error) {
	r.Active, r.Q = false, nil
	if out.Run != 0 {
		r.RunID = out.Run
	}
	r.Out, r.RunErr = &out, err
}

// StateOf is the state step i's tag shows.
func (r *Run) StateOf(i int) model.StepState {
	if r.Q != nil && r.Q.Q.Step.Index == i {
		return StepYourTurn
	}
	rec := r.Recs[i]
	switch {
	case rec == nil:
		return StepPending
	case rec.State == model.StepRunning && !r.Active:
		return model.StepInterrupted
	}
	return rec.State
}

// EndShown reports whether the run is over, as far as this window knows:
// it ended, stopped, or could not be run.
func (r *Run) EndShown() bool {
	return !r.Active && (r.Out != nil || r.Stopped != nil || r.RunErr != nil)
}

// Pane is what the right side shows.
func (r *Run) Pane() Pane {
	switch {
	case r.Review >= 0:
		return PaneReview
	case r.EndShown():
		return PaneEnd
	}
	return PaneCurrent
}

// Marked reports whether step i is the one the right side shows.
func (r *Run) Marked(i int) bool {
	return i == r.Review || (r.Review < 0 && i == r.Current && !r.EndShown())
}

// Earlier is the step with a record before the one shown, for Back.
func (r *Run) Earlier() (int, bool) {
	from := r.Review
	if from < 0 {
		from = r.Current
		if from < 0 || r.EndShown() {
			from = len(r.Recs)
		}
	}
	for i := min(from, len(r.Recs)) - 1; i >= 0; i-- {
		if r.Recs[i] != nil {
			return i, true
		}
	}
	return -1, false
}

// ReviewStep shows step i's record, read-only; the step the engine is at
// now is shown as the current step instead.
func (r *Run) ReviewStep(i int) {
	if i == r.Current && r.Active {
		r.Review = -1
	} else {
		r.Review = i
	}
}

// Outcome is how the run ended, or stands when it stopped; "" while it
// runs.
func (r *Run) Outcome() model.RunState {
	switch {
	case r.Active:
		return ""
	case r.Out != nil && r.Out.State != "":
		return r.Out.State
	case r.Report != nil:
		return r.Report.Run.State
	case r.Stopped != nil:
		return r.Stopped.State
	case r.RunErr != nil:
		return model.RunFailed
	}
	return ""
}

// Summary is where things stand, when the run did not complete.
func (r *Run) Summary() string {
	switch {
	case r.Active:
		return ""
	case r.Out != nil && r.Out.Summary != "":
		return r.Out.Summary
	case r.Report != nil:
		return r.Report.Run.Summary
	}
	return ""
}
