package ui

import (
	"context"

	"github.com/vigilops/vigil/actions"
)

// Operator is what the server pane needs of the console to show a server's
// detail and to act on it. The console implements it; tests fake it.
type Operator interface {
	// Status returns the last full status the server's agent sent
	// (services, facts, what it declares it may act on); ok is false until
	// one has arrived. It must not block: it is called on the UI goroutine.
	Status(serverID string) (st actions.Status, ok bool)
	// Act sends one action to the server's agent and waits for its outcome.
	// The pane leaves RequestID empty for a new request; to ask again about
	// a request whose outcome is uncertain it passes that request's id, and
	// the implementation must resend that same request, never a new one.
	// Errors are *actions.UncertainError (no answer: it may or may not have
	// been done), *actions.AgentError (the agent refused), or the reason the
	// console would not send it.
	Act(ctx context.Context, serverID string, req actions.Request) (actions.Result, error)
	// OperatorName is who the agents' audit trails record as acting.
	OperatorName() string
}
