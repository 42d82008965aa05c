package console

import (
	"context"
	"errors"
	"os"
	"os/user"
	"sync"
	"time"

	"github.com/vigilops/vigil/actions"
)

// OperatorName is who agents' audit trails record: $USER, or the
// account's name where $USER is not set.
func OperatorName() string {
	if n := os.Getenv("USER"); n != "" {
		return n
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// Operator is an operator acting from the window (the server pane): each
// new request gets an id, the console's epoch and the operator's name; a
// request asked again is sent again unchanged, under its id.
type Operator struct {
	Sender *Sender
	Name   string
	Live   Live // where the pane reads an agent's last status

	mu   sync.Mutex
	sent map[string]actions.Request // by request id: what to send again when asked
}

// NewOperator returns an operator named name who acts through s and reads
// the servers' status from live.
func NewOperator(s *Sender, live Live, name string) *Operator {
	return &Operator{Sender: s, Name: name, Live: live, sent: map[string]actions.Request{}}
}

// OperatorName is who the agents' audit trails record.
func (o *Operator) OperatorName() string { return o.Name }

// Status is the agent's last full status on its watch stream; it never
// blocks.
func (o *Operator) Status(id string) (actions.Status, bool) { return o.Live.Status(id) }

// Act sends req to the server with agent id serverID. A request without
// an id is new. A request with an id is asked again: the request sent
// under that id before is sent again unchanged, so that the agent answers
// with what it recorded instead of acting twice. An outcome that is known
// is forgotten; an uncertain one is kept to be asked again. The Sender
// refuses a server that is not ours before anything is recorded.
func (o *Operator) Act(ctx context.Context, serverID string, req actions.Request) (actions.Result, error) {
	srv, err := o.Sender.Store.Server(ctx, serverID)
	if err != nil {
		return actions.Result{}, err
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
		var seen uint64
		if o.Live != nil {
			if st, ok := o.Live.Status(srv.ID); ok {
				seen = st.Epoch
			}
		}
		req.Epoch = actions.EpochAfter(time.Now(), seen)
	}
	if req.Operator == "" {
		req.Operator = o.Name
	}
	if err := req.Validate(); err != nil {
		return actions.Result{}, err
	}
	o.mu.Lock()
	o.sent[req.RequestID] = req
	o.mu.Unlock()
	res, err := o.Sender.Send(ctx, srv, req, resend)
	if ue := (*actions.UncertainError)(nil); !errors.As(err, &ue) {
		o.mu.Lock()
		delete(o.sent, req.RequestID) // its outcome is known: nothing to ask again
		o.mu.Unlock()
	}
	return res, err
}
