package model

import "time"

// Outbox message states.
const (
	OutboxPending = "pending" // waiting for its window to close, for quiet hours to end, or for a retry
	OutboxSent    = "sent"    // accepted by the mail server
	OutboxFailed  = "failed"  // refused for good (a 5xx reply) or given up; Reply says why
)

// OutboxMessage is one email: one or more alert events for the same
// recipients.
type OutboxMessage struct {
	ID uint `gorm:"primaryKey"`
	// Recipients are the envelope recipients, sorted and comma-separated;
	// events for the same recipients coalesce into one message.
	Recipients string `gorm:"index;not null"`
	State      string `gorm:"index;not null"`
	// Severity is the highest severity of its events.
	Severity Severity `gorm:"not null"`
	// MessageID is the RFC 5322 Message-ID header, fixed when the row is
	// made, so that a resend after a crash carries the same one.
	MessageID string `gorm:"not null"`
	CreatedAt time.Time
	// OpenUntil ends the coalescing window: events may join the message
	// until then, and it is not sent before.
	OpenUntil time.Time
	// Follows is when the message before it to the same recipients
	// closed, when that was within a window: this one tells what changed
	// since. Zero for the first message of an incident.
	Follows     time.Time
	NextAttempt time.Time `gorm:"index"`
	// Attempts counts claims: a message once claimed takes no more events.
	Attempts int
	// ClaimedBy and ClaimedUntil keep a second console on the same store
	// from sending a message this one is sending.
	ClaimedBy    string
	ClaimedUntil time.Time
	LastError    string // why the last attempt failed, while pending
	Reply        string // the server's acceptance (sent), its refusal or why we gave up (failed)
	Rejected     string // recipients the server refused while accepting the message for the others
	DoneAt       *time.Time
	Events       []OutboxEvent
}

// OutboxEvent is one event in an outbox message: a copy of the event (the
// events table may be pruned) and what the console knew when it happened.
type OutboxEvent struct {
	ID              uint `gorm:"primaryKey"`
	OutboxMessageID uint `gorm:"index;not null"`
	// EventID and Recipients make an alert idempotent: an event is queued
	// once per recipient list, however often it is enqueued.
	EventID    uint      `gorm:"uniqueIndex:idx_outbox_event_once;not null"`
	Recipients string    `gorm:"uniqueIndex:idx_outbox_event_once;not null"`
	Time       time.Time `gorm:"not null"`
	System     string
	Server     string
	Kind       string `gorm:"not null"`
	Severity   Severity
	From       string
	To         string
	Detail     string
	Summary    string // what the console knew when the event was queued
	Procedure  string // the procedure that fits, a name or a link; may be empty
}

// Event returns the event the row copies.
func (e OutboxEvent) Event() Event {
	return Event{ID: e.EventID, Time: e.Time, System: e.System, Server: e.Server, Kind: e.Kind,
		Severity: e.Severity, From: e.From, To: e.To, Detail: e.Detail}
}

// AlertRequest asks EnqueueAlert to queue one event.
type AlertRequest struct {
	Event              Event // stored in the same transaction when its ID is 0
	Summary, Procedure string
	// Recipients is the coalescing key: sorted, comma-separated addresses.
	// Empty stores the event (when new) and queues nothing.
	Recipients string
	Now        time.Time
	// Clock, when set, gives the time once the store has begun the
	// transaction, and replaces Now: the windows below run on the store's
	// own timeline, so an alert that waited for a busy store does not
	// shut the first message before the events of its moment can join.
	Clock func() time.Time
	// Window is how long events are gathered into one message after the
	// message before it, so that an incident's storm comes as a few
	// messages, not one an event.
	Window time.Duration
	// Settle is how long the first message of an incident (nothing went to
	// these recipients within Window) waits for events of the same moment
	// (a server down and its system failing over) before it goes.
	Settle time.Duration
	// JoinHeld lets the event join any unclaimed message to the same
	// recipients that is not critical, however old: during quiet hours,
	// held events gather into one message for the morning.
	JoinHeld bool
	// NewMessageID makes the Message-ID header of a new message.
	NewMessageID func() string
}

// OutboxFilter selects outbox messages.
type OutboxFilter struct {
	States []string
	// WithRejected also selects sent messages that some recipients refused.
	WithRejected bool
	NewestFirst  bool
	NoEvents     bool // leave Events empty
	Limit        int  // default 100
}
