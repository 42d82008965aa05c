package procedure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// Action steps: requests previewed as dry runs, approved, recorded before
// they are sent, and sent again under their own id after a restart.

// action sends the step's request to each server of its binding. A new
// change is first sent as a dry run and approved by the operator; then its
// request is recorded, sent, and its result recorded. A request recorded
// before (the run stopped while it was in flight) is sent again unchanged,
// under its request id.
func (r *runner) action(ctx context.Context, st Step) result {
	sc, err := r.read(ctx)
	if err != nil {
		return result{state: model.StepInterrupted, text: "cannot read the servers: " + err.Error(), next: -1}
	}
	ids := r.bound[st.Server]
	if len(ids) == 0 {
		return result{state: model.StepFailed, text: st.Server + " is not bound to a server", next: -1}
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
			return result{state: model.StepFailed, text: fmt.Sprintf("%s (%s) is no longer among the system's servers", r.names[id], st.Server), next: -1}
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
				return result{state: model.StepFailed, text: fmt.Sprintf("parameter %s of %s on %s: %v", k, st.Action, srv.Name, err), next: -1}
			}
			params[k] = x
		}
		req := actions.Request{RequestID: actions.NewRequestID(), Epoch: actions.EpochAfter(r.now(), srv.Epoch), Action: st.Action,
			Params: params, DryRun: dry, Operator: r.run.Operator}
		fresh = append(fresh, len(jobs))
		jobs = append(jobs, job{srv: srv, req: req})
	}

	var evidence []string
	if len(fresh) > 0 && mutating && !dry {
		if st.Destructive && r.p.Supervised && r.run.SignedOffBy == "" {
			return result{state: model.StepFailed, next: -1,
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
				return result{state: model.StepInterrupted, next: -1}
			}
			q.Preview = append(q.Preview, ActionPreview{Server: j.srv.Name, Request: preview, Result: res, Err: err})
			evidence = append(evidence, "preview: "+describeOutcome(j.srv.Name, res, err))
			what = append(what, Describe(j.req.Action, j.req.Params, j.srv.Name))
		}
		q.Text = upperFirst(strings.Join(what, "; ")) + "?"
		a, err := r.e.Prompt.Confirm(ctx, q)
		switch {
		case ctx.Err() != nil:
			return result{state: model.StepInterrupted, next: -1}
		case errors.Is(err, ErrAborted), err == nil && !a.OK:
			why := "the operator did not approve: " + strings.Join(what, "; ")
			if a.Note != "" {
				why += " (" + a.Note + ")"
			}
			return result{state: model.StepAborted, text: why, evidence: evidence, note: a.Note, actor: a.By, next: -1}
		case err != nil:
			return result{state: model.StepFailed, text: "could not ask the operator: " + err.Error(), next: -1}
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
			if j.prev.State != model.ActionDone && res.Error == "" {
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
					return result{state: model.StepInterrupted, text: "the request could not be recorded before sending: " + err.Error(), next: -1}
				}
				r.sent[sentKey{st.Index, j.srv.ID}] = rec
			}
			res, err = r.send(ctx, st, j.srv, j.req, false)
		}
		var ue *actions.UncertainError
		switch {
		case ctx.Err() != nil:
			return result{state: model.StepInterrupted, evidence: evidence, next: -1}
		case errors.As(err, &ue):
			return result{state: model.StepInterrupted, evidence: evidence, next: -1,
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
		return result{state: model.StepFailed, text: strings.Join(failed, "; "), evidence: evidence, next: -1}
	case dry:
		return result{state: model.StepRehearsed, text: strings.Join(ok, "; "), evidence: evidence, next: -1}
	}
	return result{state: model.StepPassed, text: strings.Join(ok, "; "), evidence: evidence, next: -1}
}

// final reports whether a recorded request state is an answer.
func final(state model.ActionState) bool {
	switch state {
	case model.ActionDone, model.ActionFailed, model.ActionRefused, model.ActionIndeterminate:
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
	state, detail := model.ActionState(actions.Settled(res, err)), mustJSON(res)
	var ae *actions.AgentError
	switch {
	case errors.As(err, &ae):
		detail, res = mustJSON(ae.Result), ae.Result
	case err != nil:
		detail = err.Error()
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
