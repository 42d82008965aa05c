package procedure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// Store is what the engine needs of the console's store: the run records
// and events. *model.Store implements it.
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
	FinishProcedureAction(ctx context.Context, requestID, state, result string, at time.Time) error
	ProcedureActions(ctx context.Context, runID uint) ([]model.ProcedureAction, error)
	AddProcedureDeviation(ctx context.Context, d model.ProcedureDeviation) error
	ProcedureDeviations(ctx context.Context, runID uint) ([]model.ProcedureDeviation, error)
	AddEvent(ctx context.Context, e model.Event) (model.Event, error)
}

var _ Store = (*model.Store)(nil)

// Defaults of step timeouts and polling.
const (
	DefaultPoll          = 250 * time.Millisecond
	DefaultVerifyTimeout = time.Minute
	DefaultWaitTimeout   = 30 * time.Minute
	DefaultActionTimeout = 2 * time.Minute
)

// Step record states.
const (
	StepRunning     = "running"
	StepPassed      = "passed"
	StepFailed      = "failed"
	StepSkipped     = "skipped"
	StepInterrupted = "interrupted"
	StepAborted     = "aborted"
	// StepRehearsed: a rehearsal went through the step without changing
	// anything (a dry run, a condition read but not waited for).
	StepRehearsed = "rehearsed"
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
	State string // a model.Run* state
	// Summary says where things stand when the run did not complete.
	Summary string
	WayBack string
}

// Check is one result of a preflight.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	// Warning marks a passed check the operator should read: a server
	// that announces itself in the system but is not paired.
	Warning bool `json:"warning,omitempty"`
	// Input marks a check of what the operator gives when starting (a
	// parameter, an answer, the supervisor's name) rather than of the
	// fleet: it does not say whether the fleet is ready.
	Input bool `json:"input,omitempty"`
}

// Preflight is every check that can be made before step 1.
type Preflight struct {
	Checks []Check
	// Bound is the server(s) each binding resolved to.
	Bound map[string][]Server
	Vars  map[string]string
}

// OK reports whether every check passed.
func (pf Preflight) OK() bool {
	for _, c := range pf.Checks {
		if !c.OK {
			return false
		}
	}
	return len(pf.Checks) > 0
}

// Blocker is the first failed check of the fleet, not of the operator's
// inputs: what must change on the servers before the procedure can start.
// ok is false when nothing on the fleet's side blocks it.
func (pf Preflight) Blocker() (c Check, ok bool) {
	for _, c := range pf.Checks {
		if !c.OK && !c.Input {
			return c, true
		}
	}
	return Check{}, false
}

// PreflightError refuses a run whose preflight failed; it lists every
// failed check.
type PreflightError struct{ Preflight Preflight }

func (e *PreflightError) Error() string {
	var bad []string
	for _, c := range e.Preflight.Checks {
		if !c.OK {
			bad = append(bad, c.Name+": "+c.Detail)
		}
	}
	return "preflight refused the run: " + strings.Join(bad, "; ")
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

// Preflight runs every check that can be made before step 1: the
// parameters, the system's servers (paired and reachable), the bindings
// (each resolves to the server it must), no other run in progress on the
// system, a supervisor named when the procedure is supervised, every action
// declared by its server's agent, and the check steps before the first
// action. It reports them all at once; an error is returned only when the
// checks could not be made.
func (e *Engine) Preflight(ctx context.Context, p *Procedure, o Options) (Preflight, error) {
	pf := Preflight{Bound: map[string][]Server{}, Vars: map[string]string{}}
	add := func(name string, ok bool, format string, args ...any) {
		pf.Checks = append(pf.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	input := func(name string, ok bool, format string, args ...any) {
		pf.Checks = append(pf.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...), Input: true})
	}

	// Parameters.
	for name := range o.Params {
		known := slices.ContainsFunc(p.Parameters, func(x Parameter) bool { return x.Name == name }) ||
			slices.ContainsFunc(p.Steps, func(s Step) bool { return s.Type == StepChoose && s.Var == name })
		if !known {
			input("parameter "+name, false, "%s takes no parameter %q", p.ID, name)
		}
	}
	for _, prm := range p.Parameters {
		v, given := o.Params[prm.Name]
		if !given {
			v = prm.Default
		}
		switch {
		case !given && prm.Default == "":
			input("parameter "+prm.Name, false, "no value: %s; give it with --param %s=VALUE", prm.Prompt, prm.Name)
		case len(prm.Choices) > 0 && !slices.Contains(prm.Choices, v):
			input("parameter "+prm.Name, false, "%q is not one of %s", v, strings.Join(prm.Choices, ", "))
		default:
			pf.Vars[prm.Name] = v
		}
	}
	for _, st := range p.Steps {
		if st.Type != StepChoose {
			continue
		}
		if v, ok := o.Params[st.Var]; ok {
			if !slices.ContainsFunc(st.Choices, func(c Choice) bool { return c.Value == v }) {
				input("answer "+st.Var, false, "%q does not answer %s: expected one of %s", v, st.Label(), choiceValues(st.Choices))
				continue
			}
			pf.Vars[st.Var] = v
		}
	}

	// The system's servers.
	servers, err := e.Fleet.Servers(ctx, o.System)
	if err != nil {
		return pf, err
	}
	if len(servers) == 0 {
		add("system "+o.System, false, "no server of a system named %q is known to this console; `vigil status` lists them", o.System)
		return pf, nil
	}
	for _, s := range servers {
		if s.Profile != "" && s.Profile != p.Profile {
			add("system "+o.System, false, "%s is a %s server; %s is a procedure for %s systems", s.Name, s.Profile, p.ID, p.Profile)
			return pf, nil
		}
	}
	expectDown := map[string]bool{}
	var members []Server // the paired servers: only they are the system
	for _, s := range servers {
		if s.Paired {
			members = append(members, s)
		}
		switch {
		case s.IdentityChanged:
			add("server "+s.Name, false, "presents another key than the one pinned when it was paired; Vigil will not act on it until it is paired again")
		case !s.Paired:
			// Only mDNS says it belongs to the system, and mDNS is a hint:
			// the procedure neither uses nor waits for it.
			pf.Checks = append(pf.Checks, Check{Name: "server " + s.Name + " (" + s.ID + ")", OK: true, Warning: true,
				Detail: "announces itself as a server of " + o.System + " but is not paired with this console, so the procedure " +
					"neither uses nor waits for it; if it belongs to the system, run `vigil-agent pair-code` on it and `vigil pair ADDRESS --code CODE` here"})
		case s.Health != model.HealthUp:
			expectDown[s.ID] = true // judged with the bindings below
		case s.Declared != nil && !s.Declared.CanAct:
			add("server "+s.Name, false, "is paired with read permission only; pair it again from an agent that grants act")
		default:
			add("server "+s.Name, true, "paired and reachable: %s (%s)", s.Role, orDash(s.VendorRole))
		}
	}

	// No other run in progress.
	if !o.Rehearsal {
		open, err := e.Store.OpenProcedureRuns(ctx, o.System)
		if err != nil {
			return pf, err
		}
		busy := false
		for _, r := range open {
			if !r.Rehearsal {
				busy = true
				add("no other run", false, "%v", &model.ActiveRunError{Run: r})
			}
		}
		if !busy {
			add("no other run", true, "no other procedure is in progress on %s", o.System)
		}
	}

	// Bindings.
	if len(members) == 0 {
		add("system "+o.System, false, "no server of %s is paired with this console", o.System)
		return pf, nil
	}
	sc := &scope{servers: map[string]Server{}, bound: map[string][]string{}, vars: pf.Vars}
	for _, s := range members {
		sc.servers[s.ID] = s
	}
	owner := map[string]string{}
	tolerated := map[string]bool{} // servers not up that a binding expects failed or of unknown role
	type boundLine struct {
		name    string
		matched []Server
	}
	var lines []boundLine
	for _, b := range p.Bindings {
		matched, detail := resolve(b, members, sc)
		name := "binding " + b.Name
		if b.DocumentName != "" {
			name += " (" + b.DocumentName + " in the document)"
		}
		if detail != "" {
			add(name, false, "%s", detail)
			continue
		}
		var ids []string
		clash := ""
		for _, s := range matched {
			ids = append(ids, s.ID)
			if prev, dup := owner[s.ID]; dup {
				clash = fmt.Sprintf("%s is also bound to %s; two bindings must not name one server", s.Name, prev)
			}
			owner[s.ID] = b.Name
			if expectDown[s.ID] && (slices.Contains(b.Roles, model.RoleFailed) || slices.Contains(b.Roles, model.RoleUnknown)) {
				tolerated[s.ID] = true
			}
		}
		if clash != "" {
			add(name, false, "%s", clash)
			continue
		}
		pf.Bound[b.Name] = matched
		sc.bound[b.Name] = ids
		lines = append(lines, boundLine{name, matched})
	}
	// A binding is ready only if its servers answer, or are expected not
	// to (a failed server the procedure brings back): a server that must
	// answer and does not fails its binding's line, once, saying what to do.
	for _, l := range lines {
		var names, down []string
		for _, s := range l.matched {
			names = append(names, s.Name+" ("+describeRole(s)+")")
			if expectDown[s.ID] && !tolerated[s.ID] {
				down = append(down, mustAnswer(s))
			}
		}
		if len(down) > 0 {
			add(l.name, false, "%s", strings.Join(down, "; "))
			continue
		}
		add(l.name, true, "%s", strings.Join(names, ", "))
	}
	// The other servers that are not reachable: refused unless a binding
	// expects them failed.
	for _, s := range servers {
		switch {
		case !expectDown[s.ID] || slices.ContainsFunc(lines, func(l boundLine) bool {
			return slices.ContainsFunc(l.matched, func(m Server) bool { return m.ID == s.ID })
		}) && !tolerated[s.ID]:
			// Up, or said on its binding's line.
		case tolerated[s.ID]:
			add("server "+s.Name, true, "is %s, as the procedure expects of a failed server", s.healthText())
		default:
			add("server "+s.Name, false, "%s", mustAnswer(s))
		}
	}

	// A supervisor for a supervised procedure.
	if p.Supervised && !o.Rehearsal {
		if o.Supervisor == "" {
			input("supervisor", false, "%s must be supervised (%s); name the supervisor with --supervisor NAME",
				p.ID, strings.Join(p.Warnings, " "))
		} else {
			input("supervisor", true, "%s will sign off", o.Supervisor)
		}
	}

	// Every action is declared by its server's agent.
	for _, st := range p.Steps {
		if st.Type != StepAction {
			continue
		}
		for _, id := range sc.bound[st.Server] {
			if why := undeclared(st, sc.servers[id]); why != "" {
				add(st.Label(), false, "%s", why)
			}
		}
	}

	// The checks before the first step that can change anything: an
	// action, and a step the operator does by hand (a confirm marked
	// by_hand: "Start up K2server1"), after which a check reads another
	// world.
	for _, st := range p.Steps {
		if st.Type == StepAction || st.Type == StepBranch || st.Type == StepVerify || st.Type == StepWait || st.ByHand ||
			(st.Type == StepChoose && slices.ContainsFunc(st.Choices, func(c Choice) bool { return c.Goto != "" })) {
			break
		}
		if st.Type != StepCheck {
			continue
		}
		if missing := unbound(st.Condition, sc); len(missing) > 0 {
			// Its binding failed above, which says why.
			continue
		}
		v := st.Condition.eval(sc)
		add(st.Label(), v.OK, "%s", v.Text)
	}
	return pf, nil
}

// mustAnswer says, in an operator's words, that a server every step may
// need does not answer, and what to do first.
func mustAnswer(s Server) string {
	return fmt.Sprintf("%s is %s: start it (its host and its agent) first; every server the procedure uses must answer before it starts", s.Name, s.healthText())
}

// unbound lists the bindings a condition reads that have no server.
func unbound(c *Condition, sc *scope) []string {
	var out []string
	var walk func(c *Condition)
	walk = func(c *Condition) {
		if c == nil {
			return
		}
		if c.Server != "" && len(sc.bound[c.Server]) == 0 && !slices.Contains(out, c.Server) {
			out = append(out, c.Server)
		}
		for _, m := range refRE.FindAllStringSubmatch(c.Value, -1) {
			if b, _, dotted := strings.Cut(m[1], "."); dotted && len(sc.bound[b]) == 0 && !slices.Contains(out, b) {
				out = append(out, b)
			}
		}
		for _, sub := range append(slices.Clone(c.All), c.Any...) {
			walk(sub)
		}
		walk(c.Not)
	}
	walk(c)
	return out
}

// resolve finds the servers a binding names; detail says why none or too
// many match.
func resolve(b Binding, servers []Server, sc *scope) ([]Server, string) {
	name := ""
	if b.Server != "" {
		var err error
		if name, err = sc.expand(b.Server); err != nil {
			return nil, err.Error()
		}
	}
	var matched []Server
	var others []string
	for _, s := range servers {
		role := s.Role
		if role == "" {
			role = model.RoleUnknown
		}
		ok := (len(b.Roles) == 0 || slices.Contains(b.Roles, role)) && (name == "" || s.Name == name) && (b.Site == "" || s.Site == b.Site)
		if ok {
			matched = append(matched, s)
		} else {
			others = append(others, s.Name+" is "+describeRole(s))
		}
	}
	var want []string
	if len(b.Roles) > 0 {
		want = append(want, orList(b.Roles))
	}
	if name != "" {
		want = append(want, "named "+name)
	}
	if b.Site != "" {
		want = append(want, "at site "+b.Site)
	}
	switch {
	case len(matched) == 0:
		return nil, fmt.Sprintf("no server is %s: %s", strings.Join(want, ", "), strings.Join(others, "; "))
	case len(matched) > 1 && !b.Many:
		var names []string
		for _, s := range matched {
			names = append(names, s.Name)
		}
		return nil, fmt.Sprintf("%d servers are %s (%s); the procedure needs exactly one", len(matched), strings.Join(want, ", "),
			strings.Join(names, ", "))
	}
	return matched, ""
}

func describeRole(s Server) string {
	r := string(s.Role)
	if r == "" {
		r = string(model.RoleUnknown)
	}
	if s.VendorRole != "" && s.VendorRole != r {
		r += " (" + s.VendorRole + ")"
	}
	if s.Health != model.HealthUp {
		r += ", " + s.healthText()
	}
	return r
}

// undeclared says why a server's agent would refuse an action step, or "".
func undeclared(st Step, s Server) string {
	d := s.Declared
	if d == nil {
		return "" // not known now; the agent will say
	}
	check := func(what, name string, list []string) string {
		if strings.Contains(name, "${") || slices.Contains(list, name) {
			return ""
		}
		return fmt.Sprintf("%s on %s: its agent declares no %s %q (it declares %s)", st.Action, s.Name, what, name, orDash(strings.Join(list, ", ")))
	}
	switch st.Action {
	case actions.ServiceStart, actions.ServiceStop, actions.ServiceRestart, actions.ServiceStatus:
		return check("service", st.Params["service"], d.Services)
	case actions.SettingsGet, actions.SettingsSet:
		return check("settings directory", st.Params["dir"], d.Settings)
	case actions.TaskfileDrop:
		return check("queue", st.Params["queue"], d.Queues)
	case actions.CommandRun:
		return check("command", st.Params["command"], d.Commands)
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

func choiceValues(cs []Choice) string {
	v := make([]string, len(cs))
	for i, c := range cs {
		v[i] = c.Value
	}
	return strings.Join(v, ", ")
}

// boundServer is how the run record keeps a binding.
type boundServer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
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
		if rec.State != StepRunning {
			continue
		}
		// The runner stopped during this step: the record says so, and the
		// step runs again.
		rec.State, rec.Result = StepInterrupted, "the runner stopped during this step; it was run again when the run resumed"
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
		if recs[i].State == StepRunning {
			recs[i].State, recs[i].Result, recs[i].Ended = StepAborted, why, &now
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

// runner is one run in progress.
type runner struct {
	e     *Engine
	p     *Procedure
	run   *model.ProcedureRun
	bound map[string][]string // binding -> agent ids
	names map[string]string   // agent id -> name when bound
	vars  map[string]string
	// attempts counts the records of each step so far.
	attempts map[int]int
	// sent is the newest real request of each (step, server).
	sent map[sentKey]model.ProcedureAction
	// servers is the latest reading of the system's servers.
	servers map[string]Server
}

type sentKey struct {
	step  int
	agent string
}

func (e *Engine) newRunner(p *Procedure, run *model.ProcedureRun, recs []model.ProcedureStepRecord, acts []model.ProcedureAction) *runner {
	r := &runner{e: e, p: p, run: run, bound: map[string][]string{}, names: map[string]string{}, vars: map[string]string{},
		attempts: map[int]int{}, sent: map[sentKey]model.ProcedureAction{}, servers: map[string]Server{}}
	var bound map[string][]boundServer
	json.Unmarshal([]byte(run.Bindings), &bound)
	for name, list := range bound {
		for _, s := range list {
			r.bound[name] = append(r.bound[name], s.ID)
			r.names[s.ID] = s.Name
		}
	}
	json.Unmarshal([]byte(run.Vars), &r.vars)
	if r.vars == nil {
		r.vars = map[string]string{}
	}
	for _, rec := range recs {
		r.attempts[rec.Index] = max(r.attempts[rec.Index], rec.Attempt)
	}
	for _, a := range acts {
		if !a.Preview {
			r.sent[sentKey{a.StepIndex, a.AgentID}] = a
		}
	}
	return r
}

// read takes a fresh reading of the system's servers.
func (r *runner) read(ctx context.Context) (*scope, error) {
	list, err := r.e.Fleet.Servers(ctx, r.run.System)
	if err != nil {
		return &scope{servers: r.servers, bound: r.bound, vars: r.vars}, err
	}
	servers := map[string]Server{}
	for _, s := range list {
		if s.Paired {
			servers[s.ID] = s
		}
	}
	r.servers = servers
	return &scope{servers: servers, bound: r.bound, vars: r.vars}, nil
}

func (r *runner) now() time.Time { return r.e.clock().Now() }

func (r *runner) event(ctx context.Context, from, to string, sev model.Severity, detail string) {
	kind := "run"
	if r.run.Rehearsal {
		kind = "rehearsal"
	}
	_, err := r.e.Store.AddEvent(context.WithoutCancel(ctx), model.Event{Time: r.now(), System: r.run.System, Kind: model.EventProcedure,
		Severity: sev, From: from, To: to,
		Detail: fmt.Sprintf("%s %d of %s (%s): %s", kind, r.run.ID, r.p.ID, r.p.Title, detail)})
	_ = err // an event is a notice; the run's own records are what count
}

func (r *runner) deviate(ctx context.Context, step int, text string) {
	d := model.ProcedureDeviation{RunID: r.run.ID, StepIndex: step, Time: r.now(), Text: text}
	r.e.Store.AddProcedureDeviation(context.WithoutCancel(ctx), d)
	r.e.observe(Update{Kind: UpdateDeviation, Run: r.run.ID, Text: text})
}

// result is how a step ended.
type result struct {
	state    string
	text     string
	evidence []string
	note     string
	actor    string
	next     int // the step to go on at; -1 for the next one
}

// execute runs steps from the cursor to the end, recording each before and
// after it runs.
func (r *runner) execute(ctx context.Context) Outcome {
	for r.run.Cursor < len(r.p.Steps) {
		i := r.run.Cursor
		st := r.p.Steps[i]
		r.attempts[i]++
		rec := &model.ProcedureStepRecord{RunID: r.run.ID, Index: i, Attempt: r.attempts[i], StepID: st.ID, DocStep: st.DocStep,
			Type: string(st.Type), Text: st.Text, State: StepRunning, Started: r.now()}
		if err := r.e.Store.BeginProcedureStep(ctx, rec); err != nil {
			return r.stop(ctx, rec, "the run's record could not be written: "+err.Error())
		}
		r.e.observe(Update{Kind: UpdateStepStart, Run: r.run.ID, Step: &st, Record: rec})
		res := r.step(ctx, st)
		if ctx.Err() != nil || res.state == StepInterrupted {
			why := res.text
			if ctx.Err() != nil {
				why = "the run was stopped (" + context.Cause(ctx).Error() + ")"
			}
			return r.stop(ctx, rec, why)
		}
		end := r.now()
		rec.State, rec.Result, rec.Note, rec.Actor, rec.Ended = res.state, res.text, res.note, res.actor, &end
		if len(res.evidence) > 0 {
			b, _ := json.Marshal(res.evidence)
			rec.Evidence = string(b)
		}
		next := i + 1
		if res.next >= 0 {
			next = res.next
		}
		recs := []*model.ProcedureStepRecord{rec}
		if res.state == StepPassed || res.state == StepRehearsed {
			for j := i + 1; j < next; j++ {
				r.attempts[j]++
				recs = append(recs, &model.ProcedureStepRecord{RunID: r.run.ID, Index: j, Attempt: r.attempts[j], StepID: r.p.Steps[j].ID,
					DocStep: r.p.Steps[j].DocStep, Type: string(r.p.Steps[j].Type), Text: r.p.Steps[j].Text, State: StepSkipped,
					Started: end, Ended: &end, Result: "skipped: " + res.text})
			}
			r.run.Cursor = next
		}
		vj, _ := json.Marshal(r.vars)
		r.run.Vars = string(vj)
		if err := r.e.Store.EndProcedureStep(context.WithoutCancel(ctx), r.run, recs...); err != nil {
			return r.stop(ctx, rec, "the run's record could not be written: "+err.Error())
		}
		for _, x := range recs {
			r.e.observe(Update{Kind: UpdateStepEnd, Run: r.run.ID, Step: &r.p.Steps[x.Index], Record: x})
		}
		switch res.state {
		case StepFailed:
			return r.finish(ctx, model.RunFailed, st.Label()+" failed: "+res.text, i)
		case StepAborted:
			return r.finish(ctx, model.RunAborted, st.Label()+": "+res.text, i)
		}
	}
	return r.finish(ctx, model.RunCompleted, "", len(r.p.Steps)-1)
}

// stop leaves the run to be resumed: the step's record stays running (so
// resume runs it again), and the run is interrupted.
func (r *runner) stop(ctx context.Context, rec *model.ProcedureStepRecord, why string) Outcome {
	ctx = context.WithoutCancel(ctx)
	r.run.State, r.run.Owner = model.RunInterrupted, ""
	r.run.Summary = why
	if err := r.e.Store.SaveProcedureRun(ctx, r.run); err != nil {
		why += "; and the run's state could not be saved: " + err.Error()
	}
	r.event(ctx, model.RunRunning, model.RunInterrupted, model.SeverityWarning, "interrupted at "+r.p.Steps[rec.Index].Label()+": "+why)
	out := Outcome{Run: r.run.ID, State: model.RunInterrupted,
		Summary: fmt.Sprintf("interrupted during %s: %s. Resume it with `vigil procedure resume %d`.", r.p.Steps[rec.Index].Label(), why, r.run.ID)}
	r.e.observe(Update{Kind: UpdateEnded, Run: r.run.ID, Text: out.Summary})
	return out
}

// finish ends the run in state, with where things stand unless it
// completed. at is the index of the step the run ended at.
func (r *runner) finish(ctx context.Context, state, why string, at int) Outcome {
	ctx = context.WithoutCancel(ctx)
	now := r.now()
	r.run.State, r.run.Ended, r.run.Owner = state, &now, ""
	out := Outcome{Run: r.run.ID, State: state}
	if state == model.RunCompleted {
		r.run.Summary = ""
		if rp := r.p.RecoveryPoint; rp != nil {
			sc, _ := r.read(ctx)
			if v, err := sc.lookup(rp.Server + ".fact." + rp.Fact); err == nil {
				label := rp.Label
				if label == "" {
					label = rp.Fact
				}
				r.run.RecoveryPoint = label + ": " + v
			}
		}
	} else {
		r.run.Summary = r.whereThingsStand(ctx, why)
		r.run.WayBack = r.wayBack(at)
		out.Summary, out.WayBack = r.run.Summary, r.run.WayBack
	}
	if err := r.e.Store.SaveProcedureRun(ctx, r.run); err != nil {
		out.Summary += " (and the run's end could not be recorded: " + err.Error() + ")"
	}
	sev := model.SeverityInfo
	if state != model.RunCompleted {
		sev = model.SeverityWarning
	}
	detail := state
	if why != "" {
		detail += ": " + why
	}
	r.event(ctx, model.RunRunning, state, sev, detail)
	text := state
	if out.Summary != "" {
		text += ": " + out.Summary
	}
	r.e.observe(Update{Kind: UpdateEnded, Run: r.run.ID, Text: text})
	return out
}

// whereThingsStand is the summary an operator needs after a run stopped
// short: why, how far it got, what was changed, and the servers now.
func (r *runner) whereThingsStand(ctx context.Context, why string) string {
	var b strings.Builder
	b.WriteString(why)
	if !strings.HasSuffix(why, ".") {
		b.WriteString(".")
	}
	fmt.Fprintf(&b, " %d of %d steps were done.", min(r.run.Cursor, len(r.p.Steps)), len(r.p.Steps))
	if acts, err := r.e.Store.ProcedureActions(ctx, r.run.ID); err == nil {
		var done []string
		for _, a := range acts {
			if a.Preview {
				continue
			}
			s := fmt.Sprintf("%s on %s (%s", a.Action, a.Server, a.State)
			if a.DryRun {
				s += ", dry run"
			}
			done = append(done, s+")")
		}
		if len(done) > 0 {
			fmt.Fprintf(&b, " Requests sent: %s.", strings.Join(done, "; "))
		} else {
			b.WriteString(" Nothing was changed on the servers.")
		}
	}
	if _, err := r.read(ctx); err == nil && len(r.servers) > 0 {
		ids := make([]string, 0, len(r.servers))
		for id := range r.servers {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return r.servers[ids[i]].Name < r.servers[ids[j]].Name })
		var now []string
		for _, id := range ids {
			now = append(now, r.servers[id].Name+" is "+describeRole(r.servers[id]))
		}
		fmt.Fprintf(&b, " Now: %s.", strings.Join(now, "; "))
	}
	return b.String()
}

// wayBack is the document's way back from step at: the nearest step at or
// before it that gives one, else the procedure's.
func (r *runner) wayBack(at int) string {
	for i := min(at, len(r.p.Steps)-1); i >= 0; i-- {
		if r.p.Steps[i].WayBack != "" {
			return r.p.Steps[i].WayBack
		}
	}
	return r.p.WayBack
}

// step runs one step.
func (r *runner) step(ctx context.Context, st Step) result {
	switch st.Type {
	case StepCheck:
		return r.check(ctx, st)
	case StepVerify, StepWait:
		return r.await(ctx, st)
	case StepAction:
		return r.action(ctx, st)
	case StepConfirm:
		return r.confirm(ctx, st)
	case StepSupervise:
		return r.supervise(ctx, st)
	case StepChoose:
		return r.choose(ctx, st)
	case StepBranch:
		return r.branch(ctx, st)
	}
	return result{state: StepFailed, text: "unknown step type " + string(st.Type), next: -1}
}

func (r *runner) check(ctx context.Context, st Step) result {
	sc, err := r.read(ctx)
	v := st.Condition.eval(sc)
	if err != nil {
		v.Text += " (reading the servers failed: " + err.Error() + ")"
	}
	switch {
	case v.OK:
		return result{state: StepPassed, text: v.Text, evidence: v.Values, next: -1}
	case r.run.Rehearsal:
		return result{state: StepRehearsed, text: "would stop the run now: " + v.Text, evidence: v.Values, next: -1}
	}
	return result{state: StepFailed, text: v.Text, evidence: v.Values, next: -1}
}

// await reads the condition until it holds or the timeout passes.
func (r *runner) await(ctx context.Context, st Step) result {
	timeout := st.Timeout
	if timeout == 0 {
		timeout = DefaultVerifyTimeout
		if st.Type == StepWait {
			timeout = DefaultWaitTimeout
		}
	}
	start := r.now()
	deadline := start.Add(timeout)
	var since time.Time // when the condition began to hold, without a break
	for {
		sc, err := r.read(ctx)
		v := st.Condition.eval(sc)
		if err != nil {
			v.Text += " (reading the servers failed: " + err.Error() + ")"
		}
		u := Update{Kind: UpdateProgress, Run: r.run.ID, Step: &st, Percent: -1, Text: v.Text}
		if pr := st.Progress; pr != nil {
			if val, err := sc.lookup(pr.Server + ".fact." + pr.Fact); err == nil {
				if n, ok := firstNumber(val); ok {
					u.Percent = n
				}
				if v.OK {
					u.Percent = 100
				}
			}
		}
		r.e.observe(u)
		now := r.now()
		took := now.Sub(start).Round(time.Millisecond)
		held := false
		if v.OK {
			if since.IsZero() {
				since = now
			}
			held = now.Sub(since) >= st.Hold
		} else {
			since = time.Time{}
		}
		switch {
		case held && st.Hold > 0:
			return result{state: StepPassed, text: fmt.Sprintf("%s (after %v; held for %v)", v.Text, took, st.Hold), evidence: v.Values, next: -1}
		case held:
			return result{state: StepPassed, text: fmt.Sprintf("%s (after %v)", v.Text, took), evidence: v.Values, next: -1}
		case r.run.Rehearsal:
			return result{state: StepRehearsed, text: fmt.Sprintf("would wait up to %v; now: %s", timeout, v.Text), evidence: v.Values, next: -1}
		case !now.Before(deadline):
			return result{state: StepFailed, text: fmt.Sprintf("not within %v: %s", timeout, v.Text), evidence: v.Values, next: -1}
		}
		select {
		case <-ctx.Done():
			return result{state: StepInterrupted, text: "stopped while waiting: " + v.Text, next: -1}
		case <-r.e.clock().After(r.e.poll()):
		}
	}
}

func (r *runner) confirm(ctx context.Context, st Step) result {
	q := Question{Run: r.run.ID, Procedure: r.p, Step: st, Text: st.Prompt, Rehearsal: r.run.Rehearsal}
	if q.Text == "" {
		q.Text = "Done? " + st.Text
	}
	if sc, err := r.read(ctx); err == nil {
		q.Text, _ = sc.expand(q.Text)
	}
	a, err := r.e.Prompt.Confirm(ctx, q)
	switch {
	case ctx.Err() != nil:
		return result{state: StepInterrupted, next: -1}
	case errors.Is(err, ErrAborted):
		return result{state: StepAborted, text: "aborted by the operator instead of confirming", note: a.Note, actor: a.By, next: -1}
	case err != nil:
		return result{state: StepFailed, text: "could not ask the operator: " + err.Error(), next: -1}
	case !a.OK:
		return result{state: StepAborted, text: "not confirmed by " + orUnknownOp(a.By), note: a.Note, actor: a.By, next: -1}
	}
	state := StepPassed
	if r.run.Rehearsal {
		state = StepRehearsed
	}
	return result{state: state, text: "confirmed by " + orUnknownOp(a.By), note: a.Note, actor: a.By, next: -1}
}

func (r *runner) supervise(ctx context.Context, st Step) result {
	if r.run.Supervisor == "" {
		if r.run.Rehearsal {
			return result{state: StepRehearsed, text: "a supervisor would have to sign off here", next: -1}
		}
		return result{state: StepFailed, text: "this step needs a supervisor, and the run names none", next: -1}
	}
	if r.run.SignedOffBy != "" {
		return result{state: StepPassed, text: "signed off by " + r.run.SignedOffBy + " earlier in this run", actor: r.run.SignedOffBy, next: -1}
	}
	q := Question{Run: r.run.ID, Procedure: r.p, Step: st, Text: st.Prompt, Supervisor: r.run.Supervisor, Rehearsal: r.run.Rehearsal}
	if q.Text == "" {
		q.Text = r.run.Supervisor + ", do you supervise this procedure and sign off to go on?"
	}
	a, err := r.e.Prompt.SignOff(ctx, q)
	switch {
	case ctx.Err() != nil:
		return result{state: StepInterrupted, next: -1}
	case errors.Is(err, ErrAborted):
		return result{state: StepAborted, text: "aborted instead of signing off", note: a.Note, actor: a.By, next: -1}
	case err != nil:
		return result{state: StepFailed, text: "could not ask the supervisor: " + err.Error(), next: -1}
	case !a.OK:
		return result{state: StepAborted, text: r.run.Supervisor + " did not sign off", note: a.Note, actor: a.By, next: -1}
	}
	now := r.now()
	by := a.By
	if by == "" {
		by = r.run.Supervisor
	}
	r.run.SignedOffBy, r.run.SignedOffAt = by, &now
	state := StepPassed
	if r.run.Rehearsal {
		state = StepRehearsed
	}
	return result{state: state, text: "signed off by " + by, note: a.Note, actor: by, next: -1}
}

func (r *runner) choose(ctx context.Context, st Step) result {
	goTo := func(value string) int {
		for _, c := range st.Choices {
			if c.Value == value && c.Goto != "" {
				return r.p.StepByID(c.Goto)
			}
		}
		return -1
	}
	label := func(value string) string {
		for _, c := range st.Choices {
			if c.Value == value {
				return c.Label
			}
		}
		return value
	}
	if v, given := r.vars[st.Var]; given {
		return result{state: StepPassed, text: fmt.Sprintf("%s: %s (given when the run started)", st.Var, label(v)), next: goTo(v)}
	}
	q := Question{Run: r.run.ID, Procedure: r.p, Step: st, Text: st.Prompt, Choices: st.Choices, Default: st.Default, Rehearsal: r.run.Rehearsal}
	if q.Text == "" {
		q.Text = st.Text
	}
	a, err := r.e.Prompt.Choose(ctx, q)
	switch {
	case ctx.Err() != nil:
		return result{state: StepInterrupted, next: -1}
	case errors.Is(err, ErrAborted):
		return result{state: StepAborted, text: "aborted by the operator instead of choosing", actor: a.By, next: -1}
	case err != nil:
		return result{state: StepFailed, text: "could not ask the operator: " + err.Error(), next: -1}
	case !slices.ContainsFunc(st.Choices, func(c Choice) bool { return c.Value == a.Value }):
		return result{state: StepFailed, text: fmt.Sprintf("%q is not one of %s", a.Value, choiceValues(st.Choices)), next: -1}
	}
	r.vars[st.Var] = a.Value
	return result{state: StepPassed, text: fmt.Sprintf("%s: %s, chosen by %s", st.Var, label(a.Value), orUnknownOp(a.By)),
		note: a.Note, actor: a.By, next: goTo(a.Value)}
}

func (r *runner) branch(ctx context.Context, st Step) result {
	sc, err := r.read(ctx)
	v := st.Condition.eval(sc)
	if err != nil {
		v.Text += " (reading the servers failed: " + err.Error() + ")"
	}
	if v.OK {
		to := r.p.StepByID(st.Goto)
		return result{state: StepPassed, text: fmt.Sprintf("%s; going on at %s", v.Text, r.p.Steps[to].Label()), evidence: v.Values, next: to}
	}
	return result{state: StepPassed, text: v.Text + "; going on with the next step", evidence: v.Values, next: -1}
}

// action sends the step's request to each server of its binding. A new
// change is first sent as a dry run and approved by the operator; then its
// request is recorded, sent, and its result recorded. A request recorded
// before (the run stopped while it was in flight) is sent again unchanged,
// under its request id.
func (r *runner) action(ctx context.Context, st Step) result {
	sc, err := r.read(ctx)
	if err != nil {
		return result{state: StepInterrupted, text: "cannot read the servers: " + err.Error(), next: -1}
	}
	ids := r.bound[st.Server]
	if len(ids) == 0 {
		return result{state: StepFailed, text: st.Server + " is not bound to a server", next: -1}
	}
	mutating := actions.Mutating(st.Action)
	dry := r.run.Rehearsal && mutating
	type job struct {
		srv  Server
		req  actions.Request
		prev *model.ProcedureAction
	}
	var jobs []job
	var fresh []int
	for _, id := range ids {
		srv, ok := sc.servers[id]
		if !ok {
			return result{state: StepFailed, text: fmt.Sprintf("%s (%s) is no longer among the system's servers", r.names[id], st.Server), next: -1}
		}
		if prev, ok := r.sent[sentKey{st.Index, id}]; ok {
			var params map[string]string
			json.Unmarshal([]byte(prev.Params), &params)
			jobs = append(jobs, job{srv: srv, prev: &prev, req: actions.Request{RequestID: prev.RequestID, Epoch: prev.Epoch,
				Action: prev.Action, Params: params, DryRun: prev.DryRun, Operator: prev.Operator}})
			continue
		}
		params := map[string]string{}
		for k, v := range st.Params {
			x, err := sc.expand(v)
			if err != nil {
				return result{state: StepFailed, text: fmt.Sprintf("parameter %s of %s on %s: %v", k, st.Action, srv.Name, err), next: -1}
			}
			params[k] = x
		}
		req := actions.Request{RequestID: actions.NewRequestID(), Epoch: uint64(r.now().UnixMilli()), Action: st.Action,
			Params: params, DryRun: dry, Operator: r.run.Operator}
		fresh = append(fresh, len(jobs))
		jobs = append(jobs, job{srv: srv, req: req})
	}

	var evidence []string
	if len(fresh) > 0 && mutating && !dry {
		if st.Destructive && r.p.Supervised && r.run.SignedOffBy == "" {
			return result{state: StepFailed, next: -1,
				text: "this step changes production, and this supervised procedure has no supervisor's sign-off yet; nothing was sent"}
		}
		// Show the change before making it.
		q := Question{Run: r.run.ID, Procedure: r.p, Step: st, Rehearsal: r.run.Rehearsal}
		var what []string
		for _, k := range fresh {
			j := jobs[k]
			preview := j.req
			preview.RequestID, preview.DryRun = actions.NewRequestID(), true
			res, err := r.send(ctx, st, j.srv, preview, true)
			if ctx.Err() != nil {
				return result{state: StepInterrupted, next: -1}
			}
			q.Preview = append(q.Preview, ActionPreview{Server: j.srv.Name, Request: preview, Result: res, Err: err})
			evidence = append(evidence, "preview: "+describeOutcome(j.srv.Name, res, err))
			what = append(what, Describe(j.req.Action, j.req.Params, j.srv.Name))
		}
		q.Text = upperFirst(strings.Join(what, "; ")) + "?"
		a, err := r.e.Prompt.Confirm(ctx, q)
		switch {
		case ctx.Err() != nil:
			return result{state: StepInterrupted, next: -1}
		case errors.Is(err, ErrAborted), err == nil && !a.OK:
			why := "the operator did not approve: " + strings.Join(what, "; ")
			if a.Note != "" {
				why += " (" + a.Note + ")"
			}
			return result{state: StepAborted, text: why, evidence: evidence, note: a.Note, actor: a.By, next: -1}
		case err != nil:
			return result{state: StepFailed, text: "could not ask the operator: " + err.Error(), next: -1}
		}
		evidence = append(evidence, "approved by "+orUnknownOp(a.By))
	}

	ok, failed := []string{}, []string{}
	for _, j := range jobs {
		var res actions.Result
		var err error
		if j.prev != nil && final(j.prev.State) {
			// Answered before the run stopped: nothing to send.
			json.Unmarshal([]byte(j.prev.Result), &res)
			if j.prev.State != actions.StateDone && res.Error == "" {
				err = errors.New(j.prev.Result)
			}
		} else {
			if j.prev != nil {
				r.deviate(ctx, st.Index, fmt.Sprintf("%s: request %s (%s) was in flight when the run stopped; it was sent again under the same request id",
					st.Label(), j.req.RequestID, Describe(j.req.Action, j.req.Params, j.srv.Name)))
			} else {
				rec := model.ProcedureAction{RunID: r.run.ID, StepIndex: st.Index, RequestID: j.req.RequestID, AgentID: j.srv.ID,
					Server: j.srv.Name, Action: j.req.Action, Params: mustJSON(j.req.Params), DryRun: j.req.DryRun, Epoch: j.req.Epoch,
					Operator: j.req.Operator, Prepared: r.now()}
				if err := r.e.Store.PrepareProcedureAction(ctx, &rec); err != nil {
					return result{state: StepInterrupted, text: "the request could not be recorded before sending: " + err.Error(), next: -1}
				}
				r.sent[sentKey{st.Index, j.srv.ID}] = rec
			}
			res, err = r.send(ctx, st, j.srv, j.req, false)
		}
		var ue *actions.UncertainError
		switch {
		case ctx.Err() != nil:
			return result{state: StepInterrupted, evidence: evidence, next: -1}
		case errors.As(err, &ue):
			return result{state: StepInterrupted, evidence: evidence, next: -1,
				text: fmt.Sprintf("no answer from %s to %s, so it may or may not have been done; resuming asks again under the same request id, which never acts twice",
					j.srv.Name, Describe(j.req.Action, j.req.Params, j.srv.Name))}
		}
		evidence = append(evidence, describeOutcome(j.srv.Name, res, err))
		line := shortOutcome(j.srv.Name, res, err)
		switch {
		case err != nil || res.State != actions.StateDone:
			failed = append(failed, line)
		case res.Outcome != nil && res.Outcome.ExitCode != nil && *res.Outcome.ExitCode != 0:
			failed = append(failed, line)
		default:
			ok = append(ok, line)
			if mutating && !dry && res.Outcome != nil && !res.Outcome.Changed && j.prev == nil {
				r.deviate(ctx, st.Index, fmt.Sprintf("%s: %s changed nothing: it was already as asked", st.Label(),
					Describe(j.req.Action, j.req.Params, j.srv.Name)))
			}
		}
	}
	switch {
	case len(failed) > 0:
		return result{state: StepFailed, text: strings.Join(failed, "; "), evidence: evidence, next: -1}
	case dry:
		return result{state: StepRehearsed, text: strings.Join(ok, "; "), evidence: evidence, next: -1}
	}
	return result{state: StepPassed, text: strings.Join(ok, "; "), evidence: evidence, next: -1}
}

// final reports whether a recorded request state is an answer.
func final(state string) bool {
	switch state {
	case actions.StateDone, actions.StateFailed, actions.StateRefused, actions.StateIndeterminate:
		return true
	}
	return false
}

// send sends one request and records its outcome.
func (r *runner) send(ctx context.Context, st Step, srv Server, req actions.Request, preview bool) (actions.Result, error) {
	if preview {
		rec := model.ProcedureAction{RunID: r.run.ID, StepIndex: st.Index, RequestID: req.RequestID, Preview: true, AgentID: srv.ID,
			Server: srv.Name, Action: req.Action, Params: mustJSON(req.Params), DryRun: true, Epoch: req.Epoch,
			Operator: req.Operator, Prepared: r.now()}
		if err := r.e.Store.PrepareProcedureAction(ctx, &rec); err != nil {
			return actions.Result{}, err
		}
	}
	timeout := st.Timeout
	if timeout == 0 {
		timeout = DefaultActionTimeout
	}
	r.e.observe(Update{Kind: UpdateRequest, Run: r.run.ID, Step: &st, Server: srv.Name, Request: &req})
	actx, cancel := context.WithTimeout(ctx, timeout)
	res, err := r.e.Fleet.Act(actx, srv, req)
	cancel()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	state, detail := res.State, mustJSON(res)
	var ue *actions.UncertainError
	var ae *actions.AgentError
	switch {
	case errors.As(err, &ue):
		state, detail = "uncertain", err.Error()
	case errors.As(err, &ae):
		state, detail = actions.StateRefused, mustJSON(ae.Result)
		res = ae.Result
	case err != nil:
		state, detail = "error", err.Error()
	}
	if rerr := r.e.Store.FinishProcedureAction(context.WithoutCancel(ctx), req.RequestID, state, detail, r.now()); rerr != nil && err == nil {
		err = rerr
	}
	r.e.observe(Update{Kind: UpdateRequest, Run: r.run.ID, Step: &st, Server: srv.Name, Request: &req, Result: &res})
	return res, err
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Describe says in words what a request does: "stop service
// k2-media-server on K2server1".
func Describe(action string, params map[string]string, server string) string {
	var s string
	switch action {
	case actions.ServiceStart, actions.ServiceStop, actions.ServiceRestart:
		s = strings.TrimPrefix(action, "service.") + " service " + params["service"]
	case actions.ServiceStatus:
		s = "read the state of service " + params["service"]
	case actions.SettingsGet:
		s = fmt.Sprintf("read %s in %s (%s)", params["key"], params["path"], params["dir"])
	case actions.SettingsSet:
		s = fmt.Sprintf("set %s to %q in %s (%s)", params["key"], params["value"], params["path"], params["dir"])
	case actions.TaskfileDrop:
		s = fmt.Sprintf("drop task file %s into queue %s", params["name"], params["queue"])
	case actions.CommandRun:
		s = "run command " + params["command"]
	default:
		s = action
	}
	return s + " on " + server
}

// describeOutcome is one line of evidence for a request's result.
func describeOutcome(server string, res actions.Result, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s: ", res.Action, server)
	switch {
	case err != nil && res.State == "":
		b.WriteString("error: " + err.Error())
	default:
		b.WriteString(res.State)
		if res.DryRun {
			b.WriteString(" (dry run)")
		}
		if res.Error != "" {
			b.WriteString(": " + res.Error)
		}
	}
	if o := res.Outcome; o != nil {
		switch {
		case o.Diff != "":
			b.WriteString("; " + strings.TrimSpace(o.Diff))
		case o.Value != "":
			b.WriteString("; value " + o.Value)
		case !o.Changed && actions.Mutating(res.Action):
			b.WriteString("; no change: already as asked")
		}
		if o.ExitCode != nil {
			fmt.Fprintf(&b, "; exit status %d", *o.ExitCode)
		}
		if o.Output != "" {
			out := strings.TrimSpace(o.Output)
			if len(out) > 300 {
				out = out[:300] + "…"
			}
			b.WriteString("; output: " + strings.ReplaceAll(out, "\n", " / "))
		}
	}
	if res.RequestID != "" {
		b.WriteString(" [request " + res.RequestID + "]")
	}
	return b.String()
}

// shortOutcome is a request's result in one short line, for a step's
// result: the state, the first line of the change, the exit status.
func shortOutcome(server string, res actions.Result, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s: ", res.Action, server)
	switch {
	case err != nil && res.State == "":
		b.WriteString("error: " + err.Error())
		return b.String()
	default:
		b.WriteString(res.State)
		if res.DryRun {
			b.WriteString(" (dry run)")
		}
		if res.Error != "" {
			b.WriteString(": " + res.Error)
		}
	}
	if o := res.Outcome; o != nil {
		diff, _, _ := strings.Cut(strings.TrimSpace(o.Diff), "\n")
		switch {
		case res.Action == actions.CommandRun:
		case diff != "":
			if len(diff) > 160 {
				diff = diff[:160] + "…"
			}
			b.WriteString("; " + diff)
		case o.Value != "":
			b.WriteString("; value " + o.Value)
		case !o.Changed && actions.Mutating(res.Action):
			b.WriteString("; no change: already as asked")
		}
		if o.ExitCode != nil {
			fmt.Fprintf(&b, "; exit status %d", *o.ExitCode)
		}
	}
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
