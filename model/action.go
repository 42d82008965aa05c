package model

import "time"

// ActionRecord is the console's copy of one action it asked an agent to
// perform: written before the request is sent, updated with the outcome.
type ActionRecord struct {
	ID        uint   `gorm:"primaryKey"`
	RequestID string `gorm:"uniqueIndex;not null"`
	AgentID   string `gorm:"index"`
	Server    string
	Action    string
	Params    string // JSON
	DryRun    bool
	Operator  string
	Epoch     uint64
	State     ActionState // sent, then the agent's final state, or uncertain
	Detail    string      // the diff, or why it failed
	Sent      time.Time
	Finished  *time.Time
}

// AuditRecord is the console's mirror of one entry of an agent's audit log:
// every request the agent received, from any console, accepted or refused.
type AuditRecord struct {
	ID        uint      `gorm:"primaryKey"`
	AgentID   string    `gorm:"uniqueIndex:idx_audit_agent_seq;not null"`
	Seq       uint64    `gorm:"uniqueIndex:idx_audit_agent_seq;not null"` // the entry's id on the agent
	Server    string    // the server's name when the entry was mirrored
	Time      time.Time `gorm:"index"`
	Console   string    // fingerprint of the console's key
	Operator  string
	RequestID string `gorm:"index"`
	Action    string
	Params    string // JSON
	Result    string
	Detail    string
}

// AuditEntry is one entry as an agent reports it, for MirrorAudit.
type AuditEntry struct {
	Seq       uint64
	Time      time.Time
	Console   string
	Operator  string
	RequestID string
	Action    string
	Params    map[string]string
	Result    string
	Detail    string
}
