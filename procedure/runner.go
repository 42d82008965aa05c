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

	"github.com/vigilops/vigil/model"
)

// The runner: one run from its cursor to its end, step by step, each
// step's record written before it runs and again when it ends.

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

func (r *runner) event(ctx context.Context, from, to model.RunState, sev model.Severity, detail string) {
	kind := "run"
	if r.run.Rehearsal {
		kind = "rehearsal"
	}
	_, err := r.e.Store.AddEvent(context.WithoutCancel(ctx), model.Event{Time: r.now(), System: r.run.System, Kind: model.EventProcedure,
		Severity: sev, From: from.String(), To: to.String(),
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
	state    model.StepState
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
			Type: string(st.Type), Text: st.Text, State: model.StepRunning, Started: r.now()}
		if err := r.e.Store.BeginProcedureStep(ctx, rec); err != nil {
			return r.stop(ctx, rec, "the run's record could not be written: "+err.Error())
		}
		r.e.observe(Update{Kind: UpdateStepStart, Run: r.run.ID, Step: &st, Record: rec})
		res := r.step(ctx, st)
		if ctx.Err() != nil || res.state == model.StepInterrupted {
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
		if res.state == model.StepPassed || res.state == model.StepRehearsed {
			for j := i + 1; j < next; j++ {
				r.attempts[j]++
				recs = append(recs, &model.ProcedureStepRecord{RunID: r.run.ID, Index: j, Attempt: r.attempts[j], StepID: r.p.Steps[j].ID,
					DocStep: r.p.Steps[j].DocStep, Type: string(r.p.Steps[j].Type), Text: r.p.Steps[j].Text, State: model.StepSkipped,
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
		case model.StepFailed:
			return r.finish(ctx, model.RunFailed, st.Label()+" failed: "+res.text, i)
		case model.StepAborted:
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
func (r *runner) finish(ctx context.Context, state model.RunState, why string, at int) Outcome {
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
	detail := state.String()
	if why != "" {
		detail += ": " + why
	}
	r.event(ctx, model.RunRunning, state, sev, detail)
	text := state.String()
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
	return result{state: model.StepFailed, text: "unknown step type " + string(st.Type), next: -1}
}

func (r *runner) check(ctx context.Context, st Step) result {
	sc, err := r.read(ctx)
	v := st.Condition.eval(sc)
	if err != nil {
		v.Text += " (reading the servers failed: " + err.Error() + ")"
	}
	switch {
	case v.OK:
		return result{state: model.StepPassed, text: v.Text, evidence: v.Values, next: -1}
	case r.run.Rehearsal:
		return result{state: model.StepRehearsed, text: "would stop the run now: " + v.Text, evidence: v.Values, next: -1}
	}
	return result{state: model.StepFailed, text: v.Text, evidence: v.Values, next: -1}
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
	var changed <-chan struct{}
	if w, ok := r.e.Fleet.(Watcher); ok {
		var stop func()
		changed, stop = w.Changes(r.run.System)
		defer stop()
	}
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
			return result{state: model.StepPassed, text: fmt.Sprintf("%s (after %v; held for %v)", v.Text, took, st.Hold), evidence: v.Values, next: -1}
		case held:
			return result{state: model.StepPassed, text: fmt.Sprintf("%s (after %v)", v.Text, took), evidence: v.Values, next: -1}
		case r.run.Rehearsal:
			return result{state: model.StepRehearsed, text: fmt.Sprintf("would wait up to %v; now: %s", timeout, v.Text), evidence: v.Values, next: -1}
		case !now.Before(deadline):
			return result{state: model.StepFailed, text: fmt.Sprintf("not within %v: %s", timeout, v.Text), evidence: v.Values, next: -1}
		}
		select {
		case <-ctx.Done():
			return result{state: model.StepInterrupted, text: "stopped while waiting: " + v.Text, next: -1}
		case <-r.e.clock().After(r.e.poll()):
		case <-changed:
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
		return result{state: model.StepInterrupted, next: -1}
	case errors.Is(err, ErrAborted):
		return result{state: model.StepAborted, text: "aborted by the operator instead of confirming", note: a.Note, actor: a.By, next: -1}
	case err != nil:
		return result{state: model.StepFailed, text: "could not ask the operator: " + err.Error(), next: -1}
	case !a.OK:
		return result{state: model.StepAborted, text: "not confirmed by " + orUnknownOp(a.By), note: a.Note, actor: a.By, next: -1}
	}
	state := model.StepPassed
	if r.run.Rehearsal {
		state = model.StepRehearsed
	}
	return result{state: state, text: "confirmed by " + orUnknownOp(a.By), note: a.Note, actor: a.By, next: -1}
}

func (r *runner) supervise(ctx context.Context, st Step) result {
	if r.run.Supervisor == "" {
		if r.run.Rehearsal {
			return result{state: model.StepRehearsed, text: "a supervisor would have to sign off here", next: -1}
		}
		return result{state: model.StepFailed, text: "this step needs a supervisor, and the run names none", next: -1}
	}
	if r.run.SignedOffBy != "" {
		return result{state: model.StepPassed, text: "signed off by " + r.run.SignedOffBy + " earlier in this run", actor: r.run.SignedOffBy, next: -1}
	}
	q := Question{Run: r.run.ID, Procedure: r.p, Step: st, Text: st.Prompt, Supervisor: r.run.Supervisor, Rehearsal: r.run.Rehearsal}
	if q.Text == "" {
		q.Text = r.run.Supervisor + ", do you supervise this procedure and sign off to go on?"
	}
	a, err := r.e.Prompt.SignOff(ctx, q)
	switch {
	case ctx.Err() != nil:
		return result{state: model.StepInterrupted, next: -1}
	case errors.Is(err, ErrAborted):
		return result{state: model.StepAborted, text: "aborted instead of signing off", note: a.Note, actor: a.By, next: -1}
	case err != nil:
		return result{state: model.StepFailed, text: "could not ask the supervisor: " + err.Error(), next: -1}
	case !a.OK:
		return result{state: model.StepAborted, text: r.run.Supervisor + " did not sign off", note: a.Note, actor: a.By, next: -1}
	}
	now := r.now()
	by := a.By
	if by == "" {
		by = r.run.Supervisor
	}
	r.run.SignedOffBy, r.run.SignedOffAt = by, &now
	state := model.StepPassed
	if r.run.Rehearsal {
		state = model.StepRehearsed
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
		return result{state: model.StepPassed, text: fmt.Sprintf("%s: %s (given when the run started)", st.Var, label(v)), next: goTo(v)}
	}
	q := Question{Run: r.run.ID, Procedure: r.p, Step: st, Text: st.Prompt, Choices: st.Choices, Default: st.Default, Rehearsal: r.run.Rehearsal}
	if q.Text == "" {
		q.Text = st.Text
	}
	a, err := r.e.Prompt.Choose(ctx, q)
	switch {
	case ctx.Err() != nil:
		return result{state: model.StepInterrupted, next: -1}
	case errors.Is(err, ErrAborted):
		return result{state: model.StepAborted, text: "aborted by the operator instead of choosing", actor: a.By, next: -1}
	case err != nil:
		return result{state: model.StepFailed, text: "could not ask the operator: " + err.Error(), next: -1}
	case !slices.ContainsFunc(st.Choices, func(c Choice) bool { return c.Value == a.Value }):
		return result{state: model.StepFailed, text: fmt.Sprintf("%q is not one of %s", a.Value, choiceValues(st.Choices)), next: -1}
	}
	r.vars[st.Var] = a.Value
	return result{state: model.StepPassed, text: fmt.Sprintf("%s: %s, chosen by %s", st.Var, label(a.Value), orUnknownOp(a.By)),
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
		return result{state: model.StepPassed, text: fmt.Sprintf("%s; going on at %s", v.Text, r.p.Steps[to].Label()), evidence: v.Values, next: to}
	}
	return result{state: model.StepPassed, text: v.Text + "; going on with the next step", evidence: v.Values, next: -1}
}
