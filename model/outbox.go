package model

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// The alert outbox: email alerts waiting to go out, kept in the store so that
// they survive a restart. The alert package decides what goes to whom and
// when; this file keeps the rows consistent, each change in one transaction.
//
// All times are stored in UTC: SQLite compares them as text.

// Outbox message states.
const (
	OutboxPending = "pending" // waiting for its window to close, for quiet hours to end, or for a retry
	OutboxSent    = "sent"    // accepted by the mail server
	OutboxFailed  = "failed"  // refused for good (a 5xx reply) or given up; Reply says why
)

// AlertSettingsRecord holds the alert settings as JSON; the alert package
// owns their shape. There is one row, with ID 1.
type AlertSettingsRecord struct {
	ID        uint `gorm:"primaryKey"`
	JSON      string
	UpdatedAt time.Time
}

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

// EnqueueAlert queues r.Event for r.Recipients in one transaction: it stores
// the event first when it has no ID, then adds it to an open message to the
// same recipients, or to a new one. It returns the event (with its ID) and
// whether it was queued now; an event already queued for these recipients
// is not queued again.
func (s *Store) EnqueueAlert(ctx context.Context, r AlertRequest) (Event, bool, error) {
	e := r.Event
	if e.Time.IsZero() {
		e.Time = r.Now
	}
	e.Time = e.Time.UTC()
	now := r.Now.UTC()
	queued := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if e.ID == 0 {
			if err := tx.Create(&e).Error; err != nil {
				return err
			}
		}
		if r.Recipients == "" {
			return nil
		}
		var n int64
		if err := tx.Model(&OutboxEvent{}).Where("event_id = ? AND recipients = ?", e.ID, r.Recipients).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		var m OutboxMessage
		q := tx.Where("recipients = ? AND state = ? AND attempts = 0", r.Recipients, OutboxPending)
		if r.JoinHeld && e.Severity != SeverityCritical {
			q = q.Where("(open_until > ? OR severity <> ?)", now, SeverityCritical)
		} else {
			q = q.Where("open_until > ?", now)
		}
		res := q.Order("id").Limit(1).Find(&m)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			if r.NewMessageID == nil {
				return errors.New("no Message-ID maker")
			}
			// The first message of an incident goes at once; what follows
			// within the window after it waits for the window's end and
			// goes as one message.
			open, follows := now.Add(min(r.Settle, r.Window)), time.Time{}
			var last OutboxMessage
			res := tx.Where("recipients = ?", r.Recipients).Order("open_until DESC").Limit(1).Find(&last)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected > 0 && last.OpenUntil.Add(r.Window).After(now) {
				open, follows = last.OpenUntil.Add(r.Window), last.OpenUntil
			}
			m = OutboxMessage{Recipients: r.Recipients, State: OutboxPending, Severity: e.Severity,
				MessageID: r.NewMessageID(), CreatedAt: now, OpenUntil: open, NextAttempt: open, Follows: follows}
			if err := tx.Create(&m).Error; err != nil {
				return err
			}
		} else if e.Severity.Rank() > m.Severity.Rank() {
			if err := tx.Model(&OutboxMessage{}).Where("id = ?", m.ID).Update("severity", e.Severity).Error; err != nil {
				return err
			}
		}
		oe := OutboxEvent{OutboxMessageID: m.ID, EventID: e.ID, Recipients: r.Recipients, Time: e.Time,
			System: e.System, Server: e.Server, Kind: e.Kind, Severity: e.Severity, From: e.From, To: e.To,
			Detail: e.Detail, Summary: r.Summary, Procedure: r.Procedure}
		if err := tx.Create(&oe).Error; err != nil {
			return err
		}
		queued = true
		return nil
	})
	if err != nil {
		return e, false, fmt.Errorf("queue alert for %s %s in %s: %w", e.Kind, e.Server, s.path, err)
	}
	return e, queued, nil
}

// ClaimOutbox picks the most urgent pending message that is due at now, not
// claimed by anyone, and accepted by ready; it counts the attempt, claims the
// message for owner until now+lease, and returns it with its events. It
// returns nil when nothing is due.
func (s *Store) ClaimOutbox(ctx context.Context, owner string, now time.Time, lease time.Duration, ready func(OutboxMessage) bool) (*OutboxMessage, error) {
	now = now.UTC()
	var out *OutboxMessage
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var due []OutboxMessage
		err := tx.Where("state = ? AND next_attempt <= ? AND claimed_until <= ?", OutboxPending, now, now).
			Order("CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, next_attempt, id").
			Limit(100).Find(&due).Error
		if err != nil {
			return err
		}
		for _, m := range due {
			if ready != nil && !ready(m) {
				continue
			}
			err := tx.Model(&OutboxMessage{}).Where("id = ?", m.ID).Updates(map[string]any{
				"attempts": gorm.Expr("attempts + 1"), "claimed_by": owner, "claimed_until": now.Add(lease)}).Error
			if err != nil {
				return err
			}
			var got OutboxMessage
			if err := tx.Preload("Events", func(db *gorm.DB) *gorm.DB { return db.Order("time, id") }).
				First(&got, m.ID).Error; err != nil {
				return err
			}
			out = &got
			return nil
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox message in %s: %w", s.path, err)
	}
	return out, nil
}

// MarkOutboxSent records that the server accepted message id.
func (s *Store) MarkOutboxSent(ctx context.Context, id uint, reply, rejected string, at time.Time) error {
	return s.finishOutbox(ctx, id, OutboxSent, reply, rejected, at)
}

// MarkOutboxFailed records that message id will not be sent, and why.
func (s *Store) MarkOutboxFailed(ctx context.Context, id uint, reason string, at time.Time) error {
	return s.finishOutbox(ctx, id, OutboxFailed, reason, "", at)
}

func (s *Store) finishOutbox(ctx context.Context, id uint, state, reply, rejected string, at time.Time) error {
	at = at.UTC()
	err := s.db.WithContext(ctx).Model(&OutboxMessage{}).Where("id = ? AND state = ?", id, OutboxPending).
		Updates(map[string]any{"state": state, "reply": reply, "rejected": rejected, "done_at": at,
			"claimed_by": "", "claimed_until": time.Time{}.UTC()}).Error
	if err != nil {
		return fmt.Errorf("record outbox message %d as %s in %s: %w", id, state, s.path, err)
	}
	return nil
}

// RetryOutboxLater releases message id after a failed attempt, to be tried
// again at next.
func (s *Store) RetryOutboxLater(ctx context.Context, id uint, lastErr string, next time.Time) error {
	err := s.db.WithContext(ctx).Model(&OutboxMessage{}).Where("id = ? AND state = ?", id, OutboxPending).
		Updates(map[string]any{"last_error": lastErr, "next_attempt": next.UTC(),
			"claimed_by": "", "claimed_until": time.Time{}.UTC()}).Error
	if err != nil {
		return fmt.Errorf("reschedule outbox message %d in %s: %w", id, s.path, err)
	}
	return nil
}

// ReleaseOutboxClaims drops the claims owner still holds, so that another
// console need not wait for them to expire.
func (s *Store) ReleaseOutboxClaims(ctx context.Context, owner string) error {
	err := s.db.WithContext(ctx).Model(&OutboxMessage{}).Where("claimed_by = ? AND state = ?", owner, OutboxPending).
		Updates(map[string]any{"claimed_by": "", "claimed_until": time.Time{}.UTC()}).Error
	if err != nil {
		return fmt.Errorf("release outbox claims in %s: %w", s.path, err)
	}
	return nil
}

// OutboxCounts returns how many messages are in each state.
func (s *Store) OutboxCounts(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		State string
		N     int64
	}
	err := s.read.WithContext(ctx).Model(&OutboxMessage{}).Select("state, count(*) AS n").Group("state").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("count outbox messages in %s: %w", s.path, err)
	}
	out := map[string]int64{OutboxPending: 0, OutboxSent: 0, OutboxFailed: 0}
	for _, r := range rows {
		out[r.State] = r.N
	}
	return out, nil
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

// OutboxMessages lists outbox messages, with their events unless
// f.NoEvents.
func (s *Store) OutboxMessages(ctx context.Context, f OutboxFilter) ([]OutboxMessage, error) {
	q := s.read.WithContext(ctx)
	switch {
	case len(f.States) > 0 && f.WithRejected:
		q = q.Where("state IN ? OR rejected <> ''", f.States)
	case len(f.States) > 0:
		q = q.Where("state IN ?", f.States)
	case f.WithRejected:
		q = q.Where("rejected <> ''")
	}
	if f.NewestFirst {
		q = q.Order("id DESC")
	} else {
		q = q.Order("id")
	}
	if !f.NoEvents {
		q = q.Preload("Events", func(db *gorm.DB) *gorm.DB { return db.Order("time, id") })
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []OutboxMessage
	if err := q.Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list outbox messages in %s: %w", s.path, err)
	}
	return out, nil
}

// AlertSettingsJSON returns the saved alert settings, or "" when none were
// saved.
func (s *Store) AlertSettingsJSON(ctx context.Context) (string, error) {
	var r AlertSettingsRecord
	res := s.read.WithContext(ctx).Limit(1).Find(&r, 1)
	if res.Error != nil {
		return "", fmt.Errorf("read alert settings in %s: %w", s.path, res.Error)
	}
	return r.JSON, nil
}

// SaveAlertSettingsJSON replaces the saved alert settings.
func (s *Store) SaveAlertSettingsJSON(ctx context.Context, js string) error {
	r := AlertSettingsRecord{ID: 1, JSON: js, UpdatedAt: time.Now().UTC()}
	if err := s.db.WithContext(ctx).Save(&r).Error; err != nil {
		return fmt.Errorf("save alert settings in %s: %w", s.path, err)
	}
	return nil
}

// PruneOutbox deletes the messages sent or given up before before, with
// their events, and returns how many messages; pending ones are kept
// however old.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		done := tx.Model(&OutboxMessage{}).Select("id").Where("state <> ? AND done_at < ?", OutboxPending, before.UTC())
		if err := tx.Where("outbox_message_id IN (?)", done).Delete(&OutboxEvent{}).Error; err != nil {
			return err
		}
		res := tx.Where("state <> ? AND done_at < ?", OutboxPending, before.UTC()).Delete(&OutboxMessage{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("prune the alert outbox in %s: %w", s.path, err)
	}
	return n, nil
}
