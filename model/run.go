package model

import (
	"fmt"
	"time"
)

// RunState is where a procedure run stands.
type RunState string

// Procedure run states.
const (
	// RunRunning: in progress, or stopped without ending (the runner was
	// killed); Owner says which process runs it.
	RunRunning RunState = "running"
	// RunInterrupted: stopped mid-way without a verdict (an action whose
	// outcome is uncertain, a signal); resume it.
	RunInterrupted RunState = "interrupted"
	RunCompleted   RunState = "completed"
	RunFailed      RunState = "failed"
	RunAborted     RunState = "aborted"
	// RunRefused: preflight refused to start the run. It is an outcome,
	// never a stored run's state.
	RunRefused RunState = "refused"
)

func (s RunState) String() string { return string(s) }

// Open reports whether a run in this state may still be resumed.
func (s RunState) Open() bool { return s == RunRunning || s == RunInterrupted }

// StepState is where one attempt at one step of a run stands.
type StepState string

// Step record states.
const (
	StepRunning     StepState = "running"
	StepPassed      StepState = "passed"
	StepFailed      StepState = "failed"
	StepSkipped     StepState = "skipped"
	StepInterrupted StepState = "interrupted"
	StepAborted     StepState = "aborted"
	// StepRehearsed: a rehearsal went through the step without changing
	// anything (a dry run, a condition read but not waited for).
	StepRehearsed StepState = "rehearsed"
)

func (s StepState) String() string { return string(s) }

// ActionState is where an action the console asked an agent for stands,
// in the console's records: the agent's own states (actions.State*) and
// what only the console can know.
type ActionState string

// Action record states.
const (
	// ActionPrepared: recorded, not yet answered (a procedure's request
	// is written before it is sent).
	ActionPrepared ActionState = "prepared"
	// ActionSent: sent from `vigil action` or the server pane, not yet
	// answered.
	ActionSent ActionState = "sent"
	// The agent's states (its operation log's words).
	ActionRunning       ActionState = "running"
	ActionDone          ActionState = "done"
	ActionFailed        ActionState = "failed"
	ActionIndeterminate ActionState = "indeterminate"
	ActionRefused       ActionState = "refused"
	// ActionUncertain: no answer came; the agent may or may not have
	// acted. The same request id finds out.
	ActionUncertain ActionState = "uncertain"
	// ActionError: the request could not be made at all.
	ActionError ActionState = "error"
)

func (s ActionState) String() string { return string(s) }

// ProcedureRun is one run, or rehearsal, of a procedure on a system.
type ProcedureRun struct {
	ID          uint   `gorm:"primaryKey"`
	ProcedureID string `gorm:"index;not null"`
	Title       string
	Profile     string
	Kind        string
	System      string `gorm:"index;not null"`
	// Rehearsal runs send every change as a dry run.
	Rehearsal bool
	State     RunState `gorm:"index;not null"`
	Operator  string
	// Supervisor is who must sign off; SignedOffBy who did, and when.
	Supervisor  string
	SignedOffBy string
	SignedOffAt *time.Time
	// AssumeYes: confirmations are answered yes from the command line.
	AssumeYes bool
	// Vars holds the parameters and choose answers (JSON object); Bindings
	// the servers each binding resolved to at preflight (JSON object of
	// name to a list of {id, name}).
	Vars     string
	Bindings string
	// Cursor is the index of the next step to run.
	Cursor int
	// Source is the procedure file as it was when the run started, so a
	// resumed run follows the same steps; SourceFile where it came from.
	Source     string
	SourceFile string
	// Owner is the process running it (host:pid), while it runs.
	Owner          string
	TargetRecovery time.Duration
	// Preflight is the preflight's results (JSON list).
	Preflight string
	Started   time.Time `gorm:"index"`
	Ended     *time.Time
	// Summary says where things stand when the run ended otherwise than
	// completed; WayBack is the document's way back, when it has one.
	Summary       string
	WayBack       string
	RecoveryPoint string
}

// ProcedureStepRecord is one attempt at one step of a run.
type ProcedureStepRecord struct {
	ID      uint `gorm:"primaryKey"`
	RunID   uint `gorm:"index;not null"`
	Index   int  // the step's position in the procedure, from 0
	Attempt int  // 1, then 2 when a run resumed in the middle of it
	StepID  string
	DocStep string
	Type    string
	Text    string
	State   StepState
	Started time.Time
	Ended   *time.Time
	Result  string // one line, in words
	// Evidence is what the step saw and did: the values a condition read,
	// each action's result and diff (JSON list of strings).
	Evidence string
	Note     string
	// Actor is who confirmed, chose or signed off.
	Actor string
}

// ProcedureAction is one agent request of an action step. It is written
// before the request is sent.
type ProcedureAction struct {
	ID        uint   `gorm:"primaryKey"`
	RunID     uint   `gorm:"index;not null"`
	StepIndex int    `gorm:"not null"`
	RequestID string `gorm:"uniqueIndex;not null"`
	// Preview marks the dry run shown before a destructive action.
	Preview  bool
	AgentID  string
	Server   string
	Action   string
	Params   string // JSON, after substitution: sent again as it is
	DryRun   bool
	Epoch    uint64
	Operator string
	// State is prepared until an answer comes, then the agent's final
	// state, or uncertain, refused or error.
	State    ActionState
	Result   string // JSON of the agent's result, or the error
	Prepared time.Time
	Finished *time.Time
}

// ProcedureDeviation is something that happened otherwise than the
// procedure says: a resume after the runner stopped, an action that changed
// nothing, an operator's note of a deviation.
type ProcedureDeviation struct {
	ID        uint      `gorm:"primaryKey"`
	RunID     uint      `gorm:"index;not null"`
	StepIndex int       // -1 for the whole run
	Time      time.Time `gorm:"not null"`
	Text      string
}

// ActiveRunError is returned when a system already has a run in progress.
type ActiveRunError struct{ Run ProcedureRun }

func (e *ActiveRunError) Error() string {
	return fmt.Sprintf("run %d of %s on %s has not ended (state %s, at step %d, started %s by %s); "+
		"resume it with `vigil procedure resume %d` or abort it with `vigil procedure abort %d`",
		e.Run.ID, e.Run.ProcedureID, e.Run.System, e.Run.State, e.Run.Cursor+1,
		e.Run.Started.Local().Format(time.DateTime), orUnknown(e.Run.Operator), e.Run.ID, e.Run.ID)
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown operator"
	}
	return s
}

// ProcedureLast is when a procedure was last run and last rehearsed on a
// system.
type ProcedureLast struct {
	System      string
	ProcedureID string
	// LastRun is the start of the newest run that was not a rehearsal;
	// LastRunID, LastRunState its id and state. Zero when there is none.
	LastRun      time.Time
	LastRunID    uint
	LastRunState RunState
	// LastRehearsal likewise for rehearsals.
	LastRehearsal      time.Time
	LastRehearsalID    uint
	LastRehearsalState RunState
}
