package procedure

import (
	"context"
	"errors"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// Server is one server of a system as the engine sees it now: what the
// store knows of it and, when its agent answers, its live status.
type Server struct {
	ID         string // agent id
	Name       string
	Site       string
	System     string
	Profile    string
	Role       model.Role
	VendorRole string
	RoleError  string
	Health     model.Health
	// Detail says why the health is what it is ("connection refused").
	Detail          string
	Paired          bool
	IdentityChanged bool
	Services        map[string]string
	Facts           map[string]string
	FactErrors      map[string]string
	Declared        *actions.Declared
	Epoch           uint64 // the highest its agent accepted (actions.Status.Epoch)
}

func (s Server) healthText() string {
	h := string(s.Health)
	if h == "" {
		h = string(model.HealthUnknown)
	}
	if s.Detail != "" {
		h += ": " + s.Detail
	}
	return h
}

// Fleet is the engine's way to the servers: their live status, and one
// agent action at a time. The console implements it over its store and the
// agents' API; tests implement it in memory.
type Fleet interface {
	// Servers lists every server of system that the console knows, with
	// its live status where its agent answers.
	Servers(ctx context.Context, system string) ([]Server, error)
	// Act sends one request to a server's agent and waits for its final
	// result. A request sent again with the same request id must be
	// answered with what the agent recorded, never acted on twice. An
	// *actions.UncertainError says the agent may or may not have acted.
	Act(ctx context.Context, server Server, req actions.Request) (actions.Result, error)
}

// Watcher is a Fleet that says when a system's servers may have changed,
// so that a condition being waited for is read again at once instead of at
// the next poll. The console's fleet over its monitor is one; a fleet
// without it is polled.
type Watcher interface {
	// Changes wakes its channel on each change of a server of system
	// until stop is called; several changes may share one wake-up.
	Changes(system string) (changed <-chan struct{}, stop func())
}

// Entry is one procedure that fits a system, with its history there.
type Entry struct {
	Procedure *Procedure
	Last      model.ProcedureLast
}

// Clock is the engine's time: Now for records, After for polling.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// After is time.After.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// ErrAborted is what a Prompter returns when the operator aborts the run
// instead of answering.
var ErrAborted = errors.New("aborted by the operator")

// Question is what the engine asks a person.
type Question struct {
	Run       uint
	Procedure *Procedure
	Step      Step
	// Text is the question ("Stop k2-media-server on K2server1?").
	Text string
	// Choices of a choose step, and its default.
	Choices []Choice
	Default string
	// Supervisor is who must sign off (supervise steps).
	Supervisor string
	// Preview is the dry run of each request a destructive action is about
	// to send, for the operator to see before approving.
	Preview []ActionPreview
	// Rehearsal is set during a rehearsal: nothing is changed.
	Rehearsal bool
}

// ActionPreview is one request of an action step and its dry run.
type ActionPreview struct {
	Server  string
	Request actions.Request
	Result  actions.Result
	Err     error
}

// Answer is a person's answer.
type Answer struct {
	OK    bool   // confirmed, approved, signed off
	Value string // a choose step's choice
	Note  string // what they wrote
	// By is who answered ("alice", "alice from the command line (--yes)").
	By string
}

// Prompter asks the operator and the supervisor. Each method returns
// ErrAborted when they abort instead of answering; a context error when the
// run is interrupted.
type Prompter interface {
	// Confirm asks the operator to attest a step done by hand, or to
	// approve a destructive action after its preview.
	Confirm(ctx context.Context, q Question) (Answer, error)
	// Choose asks one of the document's questions.
	Choose(ctx context.Context, q Question) (Answer, error)
	// SignOff asks the supervisor to sign off.
	SignOff(ctx context.Context, q Question) (Answer, error)
}
