package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sync"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/ui"
)

var _ ui.Operator = (*operator)(nil)

// operator is the console as the GUI's server pane acts through it: the
// same checks, request and record as `vigil action`.
type operator struct {
	c    *console
	name string

	mu   sync.Mutex
	sent map[string]actions.Request // by request id: what to send again when asked
}

func newOperator(c *console) *operator {
	return &operator{c: c, name: operatorName(), sent: map[string]actions.Request{}}
}

// operatorName is who agents' audit trails record: $USER, as for `vigil
// action`, or the account's name where $USER is not set.
func operatorName() string {
	if n := os.Getenv("USER"); n != "" {
		return n
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// OperatorName is part of ui.Operator.
func (o *operator) OperatorName() string { return o.name }

// Status is part of ui.Operator: the agent's last status on its watch stream.
func (o *operator) Status(id string) (actions.Status, bool) { return o.c.mon.Status(id) }

// Act is part of ui.Operator. A request without an id is new: it gets an id,
// the console's epoch and the operator. A request with an id is asked
// again: the request sent under that id before is sent again unchanged, so
// that the agent answers with what it recorded instead of acting twice.
func (o *operator) Act(ctx context.Context, serverID string, req actions.Request) (actions.Result, error) {
	srv, err := o.c.store.Server(ctx, serverID)
	if err != nil {
		return actions.Result{}, err
	}
	switch {
	case srv.IdentityChanged:
		return actions.Result{}, fmt.Errorf("%s presents another key than the one pinned when it was paired; Vigil will not act on it. "+
			"If the host was reinstalled on purpose, run `vigil-agent pair-code` on it and `vigil pair %s --code CODE` here", srv.Name, dash(srv.Address))
	case !srv.Paired:
		return actions.Result{}, fmt.Errorf("%s is not paired with this console; run `vigil-agent pair-code --config FILE` on it, then `vigil pair %s --code CODE`",
			srv.Name, dash(srv.Address))
	}
	resend := req.RequestID != ""
	o.mu.Lock()
	if prev, ok := o.sent[req.RequestID]; resend && ok {
		req = prev
	}
	o.mu.Unlock()
	if !resend {
		req.RequestID = actions.NewRequestID()
	}
	if req.Epoch == 0 {
		req.Epoch = consoleEpoch()
	}
	if req.Operator == "" {
		req.Operator = o.name
	}
	if err := req.Validate(); err != nil {
		return actions.Result{}, err
	}
	o.mu.Lock()
	o.sent[req.RequestID] = req
	o.mu.Unlock()
	res, err := sendAction(ctx, o.c.store, o.c.cert, srv, req, resend)
	if ue := (*actions.UncertainError)(nil); !errors.As(err, &ue) {
		o.mu.Lock()
		delete(o.sent, req.RequestID) // its outcome is known: nothing to ask again
		o.mu.Unlock()
	}
	return res, err
}
