package actions

import (
	"encoding/json"
	"fmt"
	"time"
)

// Status is what GET /v1/status returns and what every watch line carries.
type Status struct {
	AgentID     string    `json:"agent_id"`
	Name        string    `json:"name"`
	System      string    `json:"system"`
	Profile     string    `json:"profile"`
	Site        string    `json:"site"`
	Role        string    `json:"role"`
	VendorRole  string    `json:"vendor_role"`
	RoleError   string    `json:"role_error,omitempty"` // why the role is unknown, when it is
	Fingerprint string    `json:"fingerprint"`          // full hex SHA-256 of the agent's public key
	Version     string    `json:"version"`
	Started     time.Time `json:"started"`
	Time        time.Time `json:"time"`
	Seq         uint64    `json:"seq"` // grows by one on every change of the status
	// Services maps each declared process-driven service to its state.
	Services map[string]string `json:"services,omitempty"`
	// Facts are the values of the facts the agent's config declares (a
	// backup's qualified flag, a mirror's lag); FactErrors says why a fact
	// could not be read, by name.
	Facts      map[string]string `json:"facts,omitempty"`
	FactErrors map[string]string `json:"fact_errors,omitempty"`
	// Declared is what the agent may act on, so a console can offer only
	// actions the agent will accept.
	Declared *Declared `json:"declared,omitempty"`
	// AuditSeq is the id of the agent's newest audit entry: a console that
	// has mirrored less fetches GET /v1/audit?since=ITS_LAST.
	AuditSeq uint64 `json:"audit_seq,omitempty"`
	// Epoch is the highest epoch a console has acted with here: a
	// console's next request carries more (console.EpochAfter), so that
	// fencing holds whatever the consoles' clocks say.
	Epoch uint64 `json:"epoch,omitempty"`
	// Peers is what this agent sees of the other servers of its system, by
	// name: a console that cannot reach a server asks its peers.
	Peers map[string]PeerLink `json:"peers,omitempty"`
}

// PeerLink is an agent's view of a peer agent.
type PeerLink struct {
	State string    `json:"state"` // up or down
	Since time.Time `json:"since"` // when it last changed
	// Checked is when the agent last checked the peer; a console trusts a
	// peer's word only when this is later than what it is deciding about.
	Checked time.Time `json:"checked"`
	Error   string    `json:"error,omitempty"`
	// Failing counts the checks in a row, since FailingSince, that failed
	// without proving the peer gone (a timeout rather than a refusal)
	// while the link is still up: the agent says down only after a few,
	// so one lost handshake is not a lost peer, and a console takes an up
	// link with failing checks as no word yet, not as "it sees the peer".
	Failing      int       `json:"failing,omitempty"`
	FailingSince time.Time `json:"failing_since,omitzero"`
}

// Declared lists, by name, what an agent's config lets consoles act on.
type Declared struct {
	Services []string `json:"services,omitempty"`
	Settings []string `json:"settings,omitempty"`
	Queues   []string `json:"queues,omitempty"`
	Commands []string `json:"commands,omitempty"`
	// CanAct is false when paired consoles get only the read permission.
	CanAct bool `json:"can_act"`
}

// Watch line types.
const (
	LineStatus    = "status"
	LineHeartbeat = "heartbeat"
)

// WatchLine is one line of the NDJSON stream of GET /v1/watch. The first line
// and every line after a change carry the full status; heartbeats carry only
// the time and the current sequence number.
type WatchLine struct {
	Type   string    `json:"type"`
	Time   time.Time `json:"time"`
	Seq    uint64    `json:"seq"`
	Status *Status   `json:"status,omitempty"`
}

// maxLine bounds one watch line; anything longer is a broken or hostile agent.
const MaxLine = 64 << 10

// DecodeWatchLine parses one NDJSON line from an agent. It checks the shape a
// console relies on, so a broken agent produces an error, never a panic or a
// half-filled status.
func DecodeWatchLine(b []byte) (WatchLine, error) {
	var l WatchLine
	if len(b) > MaxLine {
		return l, fmt.Errorf("watch line of %d bytes is longer than %d", len(b), MaxLine)
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return WatchLine{}, fmt.Errorf("watch line is not valid JSON: %w", err)
	}
	switch l.Type {
	case LineHeartbeat:
		return l, nil
	case LineStatus:
		if l.Status == nil {
			return WatchLine{}, fmt.Errorf("status line has no status")
		}
		if l.Status.AgentID == "" {
			return WatchLine{}, fmt.Errorf("status line has no agent_id")
		}
		return l, nil
	default:
		return WatchLine{}, fmt.Errorf("watch line type %q is not status or heartbeat", l.Type)
	}
}
