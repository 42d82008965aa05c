package procedure

import (
	"strconv"
	"time"

	"github.com/vigilops/vigil/model"
)

// Kind says what a procedure is for.
type Kind string

// The kinds of procedure the vendor documents describe.
const (
	KindFailover      Kind = "failover"
	KindFailback      Kind = "failback"
	KindStandbyConfig Kind = "standby-config"
	KindDR            Kind = "dr"
	KindCheck         Kind = "check"
)

// Kinds lists every kind.
var Kinds = []Kind{KindFailover, KindFailback, KindStandbyConfig, KindDR, KindCheck}

// StepType says what a step does.
type StepType string

// Step types.
const (
	// StepCheck: a condition over live status that must hold to go on.
	StepCheck StepType = "check"
	// StepAction: one agent action on the server(s) of a binding.
	StepAction StepType = "action"
	// StepVerify: a condition that must become true within a timeout.
	StepVerify StepType = "verify"
	// StepWait: like verify, for something long (mirroring, takeover),
	// with progress from a numeric fact.
	StepWait StepType = "wait"
	// StepConfirm: the operator attests a step done by hand, with a note.
	StepConfirm StepType = "confirm"
	// StepSupervise: the named supervisor signs off; destructive steps of a
	// supervised procedure cannot pass without it.
	StepSupervise StepType = "supervise"
	// StepChoose: the operator answers one of the document's questions;
	// the answer is a variable later steps and branches read.
	StepChoose StepType = "choose"
	// StepBranch: when a condition holds, go forward to another step.
	StepBranch StepType = "branch"
)

// StepTypes lists every step type.
var StepTypes = []StepType{StepCheck, StepAction, StepVerify, StepWait, StepConfirm, StepSupervise, StepChoose, StepBranch}

// Procedure is one vendor procedure, as its file describes it.
type Procedure struct {
	ID      string
	Title   string
	Profile string
	Kind    Kind
	// Document is where the procedure comes from: the vendor document and
	// its section.
	Document Document
	// Warnings are shown before the procedure starts.
	Warnings   []string
	Parameters []Parameter
	// TargetRecovery is how long the procedure should take, from its first
	// destructive step to the end (or to RecoveredAt); zero when not given.
	TargetRecovery time.Duration
	// RecoveredAt is the id of the step whose end counts as recovered;
	// empty means the end of the run.
	RecoveredAt string
	// RecoveryPoint names the fact that tells the recovery point (the last
	// log backup restored), read at the end of the run.
	RecoveryPoint *FactRef
	// Supervised procedures need a supervisor's sign-off (a supervise
	// step) before any destructive step.
	Supervised bool
	// WayBack is the document's way back, shown when a run fails or is
	// aborted; steps may give their own.
	WayBack  string
	Bindings []Binding
	Steps    []Step

	// File is where the procedure was read from; Source is its text, kept
	// with every run so that a resumed run follows the same steps.
	File   string
	Source []byte
}

// Document names a vendor document and a section of it.
type Document struct {
	File    string
	Section string
}

// Parameter is a value the operator gives when the run starts (or accepts
// the default of). Steps read it as ${name}.
type Parameter struct {
	Name    string
	Prompt  string
	Default string
	Choices []string // empty: any value
}

// Binding names a server of the system by what it is when the run starts:
// its role, name or site. It is resolved once, at preflight, so that later
// steps still mean the same server after roles change.
type Binding struct {
	Name  string
	Roles []model.Role // any of these; empty: any role
	// Server is the server's name; may use ${param}.
	Server string
	Site   string
	// DocumentName is what the document calls this server ("K2server1").
	DocumentName string
	// Many lets the binding hold every matching server (at least one);
	// otherwise exactly one must match.
	Many bool
	Line int
}

// FactRef names a fact of a binding's server.
type FactRef struct {
	Server string // binding
	Fact   string
	Label  string
}

// Choice is one answer of a choose step.
type Choice struct {
	Value string
	Label string
	Goto  string // step id to go on at; empty: the next step
}

// Step is one step of a procedure. Which fields matter depends on Type.
type Step struct {
	Index int    // position in the procedure, from 0
	ID    string // for goto; defaults to "step-N" (N from 1)
	Type  StepType
	// Text is the document's own wording; DocStep its number in the
	// document ("3", "Final Checks 2", "¶6").
	Text    string
	DocStep string
	// How says what Vigil does for this step, where it differs from what
	// the document has the operator do by hand.
	How string

	// action
	Server      string // binding
	Action      string
	Params      map[string]string
	ParamOrder  []string // the file's order, for display
	Destructive bool

	// check, verify, wait, branch
	Condition *Condition
	Timeout   time.Duration
	// Hold is how long a verify or wait step's condition must hold without
	// a break before it counts: a server that restarts may show what it
	// showed before for a moment.
	Hold     time.Duration
	Progress *FactRef // wait

	// confirm
	Prompt string
	// ByHand: the operator changes something by hand at this step ("Start
	// up K2server1"), so the checks after it read another world than the
	// one before it; preflight judges no check past it.
	ByHand bool

	// choose
	Var     string
	Choices []Choice
	Default string

	// branch
	Goto string

	// WayBack is the document's way back from this step on.
	WayBack string

	Line int
}

// Label is how the step is named in output: its position, and the
// document's number when it has one.
func (s Step) Label() string {
	l := "step " + strconv.Itoa(s.Index+1)
	if s.DocStep != "" {
		l += " (document " + s.DocStep + ")"
	}
	return l
}

// StepByID returns the index of the step with id, or -1.
func (p *Procedure) StepByID(id string) int {
	for i, s := range p.Steps {
		if s.ID == id {
			return i
		}
	}
	return -1
}

// Binding returns the binding called name.
func (p *Procedure) Binding(name string) (Binding, bool) {
	for _, b := range p.Bindings {
		if b.Name == name {
			return b, true
		}
	}
	return Binding{}, false
}
