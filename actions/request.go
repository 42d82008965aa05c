package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Action names an agent understands.
const (
	ServiceStart   = "service.start"
	ServiceStop    = "service.stop"
	ServiceRestart = "service.restart"
	ServiceStatus  = "service.status"
	SettingsGet    = "settings.get"
	SettingsSet    = "settings.set"
	TaskfileDrop   = "taskfile.drop"
	CommandRun     = "command.run"
)

// Mutating reports whether an action can change the host. Read-only
// actions need only the read permission and take no dry run.
func Mutating(action string) bool {
	switch action {
	case ServiceStatus, SettingsGet:
		return false
	}
	return true
}

// Request is the body of POST /v1/actions.
type Request struct {
	RequestID string            `json:"request_id"` // ULID or UUIDv7, made by the console
	Epoch     uint64            `json:"epoch"`      // the console's epoch; lower than the agent's highest is refused
	Action    string            `json:"action"`
	Params    map[string]string `json:"params"`
	DryRun    bool              `json:"dry_run"`
	Operator  string            `json:"operator"`
}

// Outcome is what an executor did, or with DryRun would do.
type Outcome struct {
	Changed  bool   `json:"changed"`
	Diff     string `json:"diff,omitempty"`      // unified-style diff or "state: a -> b"
	Value    string `json:"value,omitempty"`     // settings.get value, service.status state
	Output   string `json:"output,omitempty"`    // command.run's combined output (bounded)
	ExitCode *int   `json:"exit_code,omitempty"` // command.run
	Backup   string `json:"backup,omitempty"`    // settings.set: copy of the previous file
}

// Executor performs one kind of action on the host. Do must not change
// anything when dryRun is set, and a real run right after a dry run must
// make exactly the change the dry run described.
type Executor interface {
	Do(ctx context.Context, params map[string]string, dryRun bool) (Outcome, error)
}

// ParamError is a request parameter that is missing or wrong. Agents answer
// it with 400 and its text.
type ParamError struct {
	Param string
	Msg   string
}

func (e *ParamError) Error() string { return fmt.Sprintf("parameter %s: %s", e.Param, e.Msg) }

// RefusedError is a request the agent will not carry out (a path outside the
// declared directories, an undeclared service). Agents answer it with 403
// and audit it.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "refused: " + e.Reason }

var requestIDRE = regexp.MustCompile(`^[0-9A-Za-z-]{16,64}$`)

// Validate checks a request's shape before an agent logs it.
func (r *Request) Validate() error {
	if !requestIDRE.MatchString(r.RequestID) {
		return &ParamError{"request_id", "expected a ULID or UUIDv7 (16 to 64 letters, digits or '-')"}
	}
	switch r.Action {
	case ServiceStart, ServiceStop, ServiceRestart, ServiceStatus, SettingsGet, SettingsSet, TaskfileDrop, CommandRun:
	default:
		return &ParamError{"action", fmt.Sprintf("%q is not a known action", r.Action)}
	}
	if len(r.Params) > 32 {
		return &ParamError{"params", "more than 32 parameters"}
	}
	for k, v := range r.Params {
		if k == "" || len(k) > 64 || len(v) > 64<<10 {
			return &ParamError{"params", fmt.Sprintf("parameter %.64q is empty or too long", k)}
		}
	}
	if len(r.Operator) > 128 {
		return &ParamError{"operator", "longer than 128 characters"}
	}
	return nil
}

// Canonical is the request's identity for idempotency: the same request id
// with a different canonical form is a conflict.
func (r *Request) Canonical() string {
	keys := make([]string, 0, len(r.Params))
	for k := range r.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\x00%t", r.Action, r.DryRun)
	for _, k := range keys {
		fmt.Fprintf(&b, "\x00%s=%s", k, r.Params[k])
	}
	return b.String()
}

// States of a request in an agent's operation log.
const (
	StateRunning       = "running"
	StateDone          = "done"
	StateFailed        = "failed"
	StateIndeterminate = "indeterminate" // the agent stopped mid-action; not re-run
	StateRefused       = "refused"
)

// What the console records of a request it could not get an agent's
// final state for.
const (
	// StateUncertain: no answer came, so the agent may or may not have
	// acted; asking again under the same request id finds out.
	StateUncertain = "uncertain"
	// StateError: the request could not be made at all.
	StateError = "error"
)

// Settled is the state to record of a request from what Client.Do
// returned: the agent's state, refused when the agent refused it, or
// uncertain or error when no agent's answer came.
func Settled(res Result, err error) string {
	var ue *UncertainError
	var ae *AgentError
	switch {
	case errors.As(err, &ue):
		return StateUncertain
	case errors.As(err, &ae):
		return StateRefused
	case err != nil:
		return StateError
	}
	return res.State
}

// Result is what POST /v1/actions and GET /v1/actions/{request_id} return.
type Result struct {
	RequestID string     `json:"request_id"`
	State     string     `json:"state"`
	Action    string     `json:"action"`
	DryRun    bool       `json:"dry_run"`
	Outcome   *Outcome   `json:"outcome,omitempty"`
	Error     string     `json:"error,omitempty"`
	Received  time.Time  `json:"received"`
	Finished  *time.Time `json:"finished,omitempty"`
}

// Final reports whether the request has ended one way or another.
func (r Result) Final() bool { return r.State != StateRunning }

// AuditEntry is one line of an agent's audit trail (GET /v1/audit).
type AuditEntry struct {
	ID        uint64            `json:"id"`
	Time      time.Time         `json:"time"`
	Console   string            `json:"console"` // key fingerprint
	Operator  string            `json:"operator"`
	RequestID string            `json:"request_id"`
	Action    string            `json:"action"`
	Params    map[string]string `json:"params"`
	Result    string            `json:"result"` // a request state, or refused
	Detail    string            `json:"detail,omitempty"`
}

// DecodeRequest reads a POST /v1/actions body: strict JSON (unknown fields
// are an error, so a typo is not silently ignored) that passes Validate.
func DecodeRequest(r io.Reader) (Request, error) {
	var req Request
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, &ParamError{"body", "not a valid action request: " + err.Error()}
	}
	if dec.More() {
		return req, &ParamError{"body", "more than one JSON value"}
	}
	return req, req.Validate()
}

// EpochAfter is the epoch of a request sent at now to an agent whose
// status said seen: the console's clock in milliseconds, or one more than
// seen when that is higher. Epochs order consoles: an agent refuses a
// request whose epoch is lower than the highest it accepted, what a
// console left behind by a newer one sends. A console only exceeds what
// it has seen, so one whose clock runs a day ahead does not lock the
// others out until real time catches up: they read its epoch in the
// agent's status and go one past it.
func EpochAfter(now time.Time, seen uint64) uint64 {
	return max(uint64(now.UnixMilli()), seen+1)
}
