package console

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/store"
)

// Sender sends requests to agents and keeps the console's record of each:
// the request before it leaves, its outcome when it is known.
type Sender struct {
	Store *store.Store
	Cert  tls.Certificate // the console's identity, pinned by paired agents
}

// Send sends req to srv's agent when srv.Refusal lets it, recording the
// request and its outcome. resend says the request id may already be
// recorded, by an earlier try: the agent answers a request id it knows
// with what it recorded, never acting twice.
func (s *Sender) Send(ctx context.Context, srv model.ServerView, req actions.Request, resend bool) (actions.Result, error) {
	if err := srv.Refusal(); err != nil {
		return actions.Result{}, err
	}
	rec := model.ActionRecord{RequestID: req.RequestID, AgentID: srv.ID, Server: srv.Name, Action: req.Action,
		DryRun: req.DryRun, Operator: req.Operator, Epoch: req.Epoch, Sent: time.Now().UTC()}
	if err := s.Store.RecordActionSent(ctx, rec, req.Params); err != nil && !resend {
		return actions.Result{}, err
	}
	client := actions.NewClient(srv.Address, srv.Fingerprint, s.Cert)
	defer client.Close()
	res, err := client.Do(ctx, req)
	state, detail := model.ActionState(actions.Settled(res, err)), Detail(res)
	var ae *actions.AgentError
	switch {
	case errors.As(err, &ae):
		detail = ae.Result.Error
	case err != nil:
		detail = err.Error()
	}
	if rerr := s.Store.RecordActionResult(context.WithoutCancel(ctx), req.RequestID, state, detail, time.Now().UTC()); rerr != nil && err == nil {
		err = fmt.Errorf("%s was %s, but recording it failed: %w", req.Action, res.State, rerr)
	}
	return res, err
}

// Detail is what the console's record keeps of a result: the agent's
// error, or the diff of what it changed.
func Detail(r actions.Result) string {
	if r.Error != "" {
		return r.Error
	}
	if r.Outcome != nil {
		return r.Outcome.Diff
	}
	return ""
}
