package model

import "time"

// Severity says how urgently an operator must look at an event.
type Severity string

// Severities, mildest first.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Rank orders severities: info 0, warning 1, critical 2; unknown -1.
func (s Severity) Rank() int {
	switch s {
	case SeverityInfo:
		return 0
	case SeverityWarning:
		return 1
	case SeverityCritical:
		return 2
	}
	return -1
}

// Event kinds (DESIGN.md, `vigil watch --json`).
const (
	EventUp              = "up"
	EventDown            = "down"
	EventUnreachable     = "unreachable"
	EventSilent          = "silent" // heartbeats stopped without a reset: host frozen or cable pulled
	EventRole            = "role"
	EventSplitBrain      = "split-brain"
	EventNoPrimary       = "no-primary"
	EventLag             = "lag"
	EventService         = "service"
	EventFlapping        = "flapping"
	EventIdentityChanged = "identity-changed"
	// EventConflict: another host announces a paired server's id without
	// its pinned key; the console keeps watching the server it paired.
	EventConflict = "conflict"
	// EventConsoleStore: the console's own store stopped taking writes
	// (to "failing"), or takes them again (to "ok").
	EventConsoleStore = "console-store"
	EventAction       = "action"
	EventProcedure    = "procedure"
)

// Event is something that happened to a server or a system, as the console
// saw it. Server is empty for an event of a whole system (split brain, no
// primary).
type Event struct {
	ID       uint      `gorm:"primaryKey" json:"-"`
	Time     time.Time `gorm:"index;not null" json:"time"`
	System   string    `gorm:"index" json:"system"`
	Server   string    `json:"server"`
	AgentID  string    `gorm:"index" json:"-"`
	Kind     string    `gorm:"index;not null" json:"kind"`
	Severity Severity  `gorm:"not null" json:"severity"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Detail   string    `json:"detail"`
}

// EventFilter selects events; zero fields select everything.
type EventFilter struct {
	Since, Until time.Time
	System       string
	Server       string
	Kinds        []string
	MinSeverity  Severity
	Limit        int // default 1000
}
