package runmodel

import (
	"errors"
	"testing"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/procedure"
)

func line(server string, req actions.Request, res *actions.Result) string {
	if res == nil {
		return "sending " + req.Action + " to " + server
	}
	return server + " answered " + res.State
}

func step(i int) procedure.Step { return procedure.Step{Index: i} }

func rec(i int, state model.StepState) *model.ProcedureStepRecord {
	return &model.ProcedureStepRecord{Index: i, State: state}
}

// TestRunFollowsTheEngine drives a run of three steps through the
// engine's updates and the operator's answers, as the wizard does, and
// checks at each point what the views would show and what the operator
// may do.
func TestRunFollowsTheEngine(t *testing.T) {
	r := New(3)
	if r.Pane() != PaneCurrent || r.StateOf(0) != StepPending || r.Outcome() != "" {
		t.Fatalf("before the start: pane %v, step 1 %s, outcome %q", r.Pane(), r.StateOf(0), r.Outcome())
	}
	if _, ok := r.Earlier(); ok {
		t.Error("Back is offered before any step ran")
	}
	r.Start()
	if ch := r.Apply(Update{Kind: procedure.UpdateStarted, Run: 7}, line); !ch.Header || r.RunID != 7 {
		t.Errorf("started: %+v, run %d", ch, r.RunID)
	}

	// Step 1 runs, sends a request, and passes.
	ch := r.Apply(Update{Kind: procedure.UpdateStepStart, Step: step(0), HasStep: true, Rec: rec(0, model.StepRunning)}, line)
	if ch.Row != 0 || !ch.Current || !ch.Servers || r.Current != 0 || r.StateOf(0) != model.StepRunning {
		t.Errorf("step 1 started: %+v; current %d, state %s", ch, r.Current, r.StateOf(0))
	}
	req := actions.Request{Action: actions.ServiceStop}
	r.Apply(Update{Kind: procedure.UpdateRequest, Step: step(0), HasStep: true, Server: "A", Req: &req}, line)
	ch = r.Apply(Update{Kind: procedure.UpdateRequest, Step: step(0), HasStep: true, Server: "A", Req: &req, Res: &actions.Result{State: "done"}}, line)
	if !ch.Activity || len(r.Activity[0]) != 2 || r.Activity[0][1] != "A answered done" {
		t.Errorf("step 1's activity: %+v %q", ch, r.Activity[0])
	}
	r.Apply(Update{Kind: procedure.UpdateStepEnd, Step: step(0), HasStep: true, Rec: rec(0, model.StepPassed)}, line)

	// Step 2 is a wait step with progress, then asks the operator.
	r.Apply(Update{Kind: procedure.UpdateStepStart, Step: step(1), HasStep: true, Rec: rec(1, model.StepRunning)}, line)
	if ch := r.Apply(Update{Kind: procedure.UpdateProgress, Step: step(1), HasStep: true, Percent: 40, Text: "copying"}, line); !ch.Progress || r.Percent != 40 {
		t.Errorf("progress: %+v, %v", ch, r.Percent)
	}
	if i, ok := r.Earlier(); !ok || i != 0 {
		t.Errorf("Back goes to %d, %v; want step 1", i, ok)
	}
	r.ReviewStep(0)
	if r.Pane() != PaneReview || !r.Marked(0) || r.Marked(1) {
		t.Errorf("reviewing step 1: pane %v", r.Pane())
	}
	q := NewQuestion(AskConfirm, procedure.Question{Step: step(1)})
	if !r.Ask(q) || r.Review != -1 || r.Pane() != PaneCurrent || r.StateOf(1) != StepYourTurn {
		t.Errorf("a question does not come first: review %d, pane %v, state %s", r.Review, r.Pane(), r.StateOf(1))
	}
	if r.Drop(NewQuestion(AskConfirm, procedure.Question{Step: step(1)})) || r.Q != q {
		t.Error("another question's withdrawal closed the open one")
	}
	if got := r.Answer(procedure.Answer{OK: true, By: "alice"}, nil); got != q || r.Q != nil {
		t.Error("the answer did not close the question")
	}
	if a := <-q.Reply; !a.A.OK || a.A.By != "alice" {
		t.Errorf("the engine got %+v", a)
	}
	if r.Answer(procedure.Answer{}, nil) != nil {
		t.Error("an answer with no question open went somewhere")
	}
	if ch := r.Apply(Update{Kind: procedure.UpdateDeviation, Text: "changed nothing"}, line); !ch.Activity || len(r.Devs) != 1 ||
		r.Activity[1][len(r.Activity[1])-1] != "deviation: changed nothing" {
		t.Errorf("deviation: %+v %q", ch, r.Activity[1])
	}
	if ch := r.Apply(Update{Kind: procedure.UpdateStepStart, Step: step(5), HasStep: true}, line); ch != (Changed{Row: -1}) {
		t.Errorf("an update of a step the procedure does not have changed %+v", ch)
	}

	// The engine stops mid-step 2: the step reads interrupted, the end is
	// shown, a question that comes late is refused.
	r.Finish(procedure.Outcome{Run: 7, State: model.RunInterrupted, Summary: "stopped at step 2"}, nil)
	if r.StateOf(1) != model.StepInterrupted || !r.EndShown() || r.Pane() != PaneEnd || r.Marked(1) {
		t.Errorf("after the stop: step 2 %s, end shown %v, pane %v", r.StateOf(1), r.EndShown(), r.Pane())
	}
	if r.Ask(NewQuestion(AskChoose, procedure.Question{Step: step(1)})) {
		t.Error("a question was opened after the run stopped")
	}
	if r.Outcome() != model.RunInterrupted || r.Summary() != "stopped at step 2" {
		t.Errorf("outcome %s, summary %q", r.Outcome(), r.Summary())
	}
	if i, ok := r.Earlier(); !ok || i != 1 {
		t.Errorf("Back from the end goes to %d, %v; want step 2", i, ok)
	}
}

// TestOutcomeWithoutAnEnd: a run the window opened stopped reads as
// stored; one the engine could not run reads failed.
func TestOutcomeWithoutAnEnd(t *testing.T) {
	r := New(2)
	r.Stopped = &model.ProcedureRun{State: model.RunInterrupted}
	if r.Outcome() != model.RunInterrupted || !r.EndShown() {
		t.Errorf("stopped run: %s, end shown %v", r.Outcome(), r.EndShown())
	}
	r.Report = &procedure.Report{Run: model.ProcedureRun{State: model.RunAborted, Summary: "aborted by bob"}}
	if r.Outcome() != model.RunAborted || r.Summary() != "aborted by bob" {
		t.Errorf("with its report: %s %q", r.Outcome(), r.Summary())
	}
	f := New(2)
	f.Start()
	f.Finish(procedure.Outcome{}, errors.New("store failed"))
	if f.Outcome() != model.RunFailed || !f.EndShown() {
		t.Errorf("a run that could not run: %s", f.Outcome())
	}
}
