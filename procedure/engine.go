package procedure

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// Store is what the engine needs of the console's store: the run records
// and events. *store.Store implements it.
type Store interface {
	StartProcedureRun(ctx context.Context, r *model.ProcedureRun) error
	ClaimProcedureRun(ctx context.Context, id uint, owner string, alive func(string) bool) (model.ProcedureRun, error)
	ProcedureRun(ctx context.Context, id uint) (model.ProcedureRun, error)
	SaveProcedureRun(ctx context.Context, r *model.ProcedureRun) error
	OpenProcedureRuns(ctx context.Context, system string) ([]model.ProcedureRun, error)
	BeginProcedureStep(ctx context.Context, rec *model.ProcedureStepRecord) error
	EndProcedureStep(ctx context.Context, run *model.ProcedureRun, recs ...*model.ProcedureStepRecord) error
	ProcedureSteps(ctx context.Context, runID uint) ([]model.ProcedureStepRecord, error)
	PrepareProcedureAction(ctx context.Context, a *model.ProcedureAction) error
	FinishProcedureAction(ctx context.Context, requestID string, state model.ActionState, result string, at time.Time) error
	ProcedureActions(ctx context.Context, runID uint) ([]model.ProcedureAction, error)
	AddProcedureDeviation(ctx context.Context, d model.ProcedureDeviation) error
	ProcedureDeviations(ctx context.Context, runID uint) ([]model.ProcedureDeviation, error)
	AddEvent(ctx context.Context, e model.Event) (model.Event, error)
}

// Defaults of step timeouts and polling.
const (
	DefaultPoll          = 250 * time.Millisecond
	DefaultVerifyTimeout = time.Minute
	DefaultWaitTimeout   = 30 * time.Minute
	DefaultActionTimeout = 2 * time.Minute
)

// Engine runs procedures. Fleet, Store and Prompt are required.
type Engine struct {
	Fleet  Fleet
	Store  Store
	Prompt Prompter
	Clock  Clock // SystemClock when nil
	// Observe, when set, is told of each step and request as it happens;
	// it must not block for long.
	Observe func(Update)
	// Poll is the time between two readings of a condition (DefaultPoll).
	Poll time.Duration
	// Owner names this process on the runs it runs ("host:pid");
	// OwnerAlive says whether another owner is still running, so that
	// resume does not take over a live run.
	Owner      string
	OwnerAlive func(owner string) bool
}

// Options of a new run.
type Options struct {
	System     string
	Operator   string
	Supervisor string
	// Params are the parameters given; the others take their defaults. A
	// value for a choose step's var answers that step in advance.
	Params map[string]string
	// AssumeYes is recorded on the run: the prompter answers yes itself.
	AssumeYes bool
	// Rehearsal sends every change as a dry run, waits for nothing, and
	// records the run as a rehearsal.
	Rehearsal bool
}

// Update is something the engine tells its observer.
type Update struct {
	Kind UpdateKind
	Run  uint
	// Step is set for step, request and progress updates.
	Step *Step
	// Record is the step's record at its start and end.
	Record *model.ProcedureStepRecord
	// Request and Result of a request update; Result is nil before the
	// answer.
	Server  string
	Request *actions.Request
	Result  *actions.Result
	// Percent of a wait step's progress, when its fact gives one.
	Percent float64
	Text    string
}

// UpdateKind says what an Update is about.
type UpdateKind string

// Update kinds.
const (
	UpdateStarted   UpdateKind = "started"    // the run started or resumed; Text says which
	UpdateStepStart UpdateKind = "step-start" // Record is the new record
	UpdateStepEnd   UpdateKind = "step-end"   // Record holds the result
	UpdateRequest   UpdateKind = "request"    // a request is sent (Result nil) or answered
	UpdateProgress  UpdateKind = "progress"   // a verify or wait step read its condition
	UpdateDeviation UpdateKind = "deviation"
	UpdateEnded     UpdateKind = "ended" // Text is the outcome
)

// Outcome is how a run ended, or why it stopped.
type Outcome struct {
	Run   uint
	State model.RunState
	// Summary says where things stand when the run did not complete.
	Summary string
	WayBack string
}

func (e *Engine) clock() Clock {
	if e.Clock == nil {
		return SystemClock{}
	}
	return e.Clock
}

func (e *Engine) poll() time.Duration {
	if e.Poll <= 0 {
		return DefaultPoll
	}
	return e.Poll
}

func (e *Engine) observe(u Update) {
	if e.Observe != nil {
		e.Observe(u)
	}
}

// Run runs p on a system from preflight to the end. A failed preflight
// returns a *PreflightError and records nothing; a system with another run
// in progress returns a *model.ActiveRunError. Otherwise the run is
// recorded and its outcome returned: completed, failed, aborted, or
// interrupted (ctx ended, or an action's outcome is uncertain), which
// Resume continues.
func (e *Engine) Run(ctx context.Context, p *Procedure, o Options) (Outcome, error) {
	pf, err := e.Preflight(ctx, p, o)
	if err != nil {
		return Outcome{}, err
	}
	return e.Start(ctx, p, o, pf)
}

// Start records and runs p after a preflight the caller has shown, which
// must have passed.
func (e *Engine) Start(ctx context.Context, p *Procedure, o Options, pf Preflight) (Outcome, error) {
	if !pf.OK() {
		return Outcome{State: "refused"}, &PreflightError{Preflight: pf}
	}
	bound := map[string][]boundServer{}
	for name, list := range pf.Bound {
		for _, s := range list {
			bound[name] = append(bound[name], boundServer{s.ID, s.Name})
		}
	}
	bj, _ := json.Marshal(bound)
	vj, _ := json.Marshal(pf.Vars)
	cj, _ := json.Marshal(pf.Checks)
	run := &model.ProcedureRun{
		ProcedureID: p.ID, Title: p.Title, Profile: p.Profile, Kind: string(p.Kind), System: o.System,
		Rehearsal: o.Rehearsal, State: model.RunRunning, Operator: o.Operator, Supervisor: o.Supervisor,
		AssumeYes: o.AssumeYes, Vars: string(vj), Bindings: string(bj), Source: string(p.Source), SourceFile: p.File,
		Owner: e.Owner, TargetRecovery: p.TargetRecovery, Preflight: string(cj), Started: e.clock().Now(),
	}
	if err := e.Store.StartProcedureRun(ctx, run); err != nil {
		return Outcome{}, err
	}
	r := e.newRunner(p, run, nil, nil)
	verb := "started"
	if run.Rehearsal {
		verb = "rehearsal started"
	}
	r.event(ctx, "", model.RunRunning, model.SeverityInfo, fmt.Sprintf("%s by %s", verb, orUnknownOp(run.Operator)))
	e.observe(Update{Kind: UpdateStarted, Run: run.ID, Text: verb})
	return r.execute(ctx), nil
}

// Resume continues a run that stopped without ending, at the step it
// stopped in: a step that was running is run again, and a request that was
// prepared or sent is sent again under the same request id, so the agent
// answers with what it recorded and never acts twice. operator is who
// resumes (recorded as a deviation).
func (e *Engine) Resume(ctx context.Context, id uint, operator string) (Outcome, error) {
	run, err := e.Store.ClaimProcedureRun(ctx, id, e.Owner, e.OwnerAlive)
	if err != nil {
		return Outcome{}, err
	}
	p, err := Parse(run.SourceFile, []byte(run.Source))
	if err != nil {
		return Outcome{}, fmt.Errorf("run %d: its procedure as recorded does not parse: %w", id, err)
	}
	recs, err := e.Store.ProcedureSteps(ctx, id)
	if err != nil {
		return Outcome{}, err
	}
	acts, err := e.Store.ProcedureActions(ctx, id)
	if err != nil {
		return Outcome{}, err
	}
	r := e.newRunner(p, &run, recs, acts)
	now := e.clock().Now()
	where := fmt.Sprintf("after %d of %d steps", run.Cursor, len(p.Steps))
	for i := range recs {
		rec := &recs[i]
		if rec.State != model.StepRunning {
			continue
		}
		// The runner stopped during this step: the record says so, and the
		// step runs again.
		rec.State, rec.Result = model.StepInterrupted, "the runner stopped during this step; it was run again when the run resumed"
		rec.Ended = &now
		if err := e.Store.EndProcedureStep(ctx, &run, rec); err != nil {
			return Outcome{}, err
		}
		if rec.Index < len(p.Steps) {
			where = "during " + p.Steps[rec.Index].Label()
		}
	}
	who := orUnknownOp(operator)
	r.deviate(ctx, -1, fmt.Sprintf("the run stopped %s without ending and was resumed by %s at %s", where, who,
		now.Local().Format(time.DateTime)))
	r.event(ctx, model.RunInterrupted, model.RunRunning, model.SeverityInfo, "resumed by "+who+" "+where)
	e.observe(Update{Kind: UpdateStarted, Run: run.ID, Text: "resumed " + where})
	return r.execute(ctx), nil
}

// Abort ends a run that is not running in a live process, recording
// where things stand.
func (e *Engine) Abort(ctx context.Context, id uint, operator, reason string) (Outcome, error) {
	run, err := e.Store.ClaimProcedureRun(ctx, id, e.Owner, e.OwnerAlive)
	if err != nil {
		return Outcome{}, err
	}
	p, err := Parse(run.SourceFile, []byte(run.Source))
	if err != nil {
		return Outcome{}, fmt.Errorf("run %d: its procedure as recorded does not parse: %w", id, err)
	}
	recs, err := e.Store.ProcedureSteps(ctx, id)
	if err != nil {
		return Outcome{}, err
	}
	r := e.newRunner(p, &run, recs, nil)
	why := "aborted by " + orUnknownOp(operator)
	if reason != "" {
		why += ": " + reason
	}
	now := e.clock().Now()
	for i := range recs {
		if recs[i].State == model.StepRunning {
			recs[i].State, recs[i].Result, recs[i].Ended = model.StepAborted, why, &now
			if err := e.Store.EndProcedureStep(ctx, &run, &recs[i]); err != nil {
				return Outcome{}, err
			}
		}
	}
	return r.finish(ctx, model.RunAborted, why, run.Cursor), nil
}

func orUnknownOp(s string) string {
	if s == "" {
		return "an unnamed operator"
	}
	return s
}
