package store

import (
	"github.com/vigilops/vigil/model"

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

// AlertSettingsRecord holds the alert settings as JSON; the alert package
// owns their shape. There is one row, with ID 1.
type AlertSettingsRecord struct {
	ID        uint `gorm:"primaryKey"`
	JSON      string
	UpdatedAt time.Time
}

// EnqueueAlert queues r.Event for r.Recipients in one transaction: it stores
// the event first when it has no ID, then adds it to an open message to the
// same recipients, or to a new one. It returns the event (with its ID) and
// whether it was queued now; an event already queued for these recipients
// is not queued again.
func (s *Store) EnqueueAlert(ctx context.Context, r model.AlertRequest) (model.Event, bool, error) {
	e := r.Event
	if e.Time.IsZero() {
		e.Time = r.Now
	}
	e.Time = e.Time.UTC()
	now := r.Now.UTC()
	queued := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if r.Clock != nil {
			now = r.Clock().UTC()
		}
		if e.ID == 0 {
			if err := tx.Create(&e).Error; err != nil {
				return err
			}
		}
		if r.Recipients == "" {
			return nil
		}
		var n int64
		if err := tx.Model(&model.OutboxEvent{}).Where("event_id = ? AND recipients = ?", e.ID, r.Recipients).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		var m model.OutboxMessage
		q := tx.Where("recipients = ? AND state = ? AND attempts = 0", r.Recipients, model.OutboxPending)
		if r.JoinHeld && e.Severity != model.SeverityCritical {
			q = q.Where("(open_until > ? OR severity <> ?)", now, model.SeverityCritical)
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
			var last model.OutboxMessage
			res := tx.Where("recipients = ?", r.Recipients).Order("open_until DESC").Limit(1).Find(&last)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected > 0 && last.OpenUntil.Add(r.Window).After(now) {
				open, follows = last.OpenUntil.Add(r.Window), last.OpenUntil
			}
			m = model.OutboxMessage{Recipients: r.Recipients, State: model.OutboxPending, Severity: e.Severity,
				MessageID: r.NewMessageID(), CreatedAt: now, OpenUntil: open, NextAttempt: open, Follows: follows}
			if err := tx.Create(&m).Error; err != nil {
				return err
			}
		} else if e.Severity.Rank() > m.Severity.Rank() {
			if err := tx.Model(&model.OutboxMessage{}).Where("id = ?", m.ID).Update("severity", e.Severity).Error; err != nil {
				return err
			}
		}
		oe := model.OutboxEvent{OutboxMessageID: m.ID, EventID: e.ID, Recipients: r.Recipients, Time: e.Time,
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
func (s *Store) ClaimOutbox(ctx context.Context, owner string, now time.Time, lease time.Duration, ready func(model.OutboxMessage) bool) (*model.OutboxMessage, error) {
	now = now.UTC()
	var out *model.OutboxMessage
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var due []model.OutboxMessage
		err := tx.Where("state = ? AND next_attempt <= ? AND claimed_until <= ?", model.OutboxPending, now, now).
			Order("CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, next_attempt, id").
			Limit(100).Find(&due).Error
		if err != nil {
			return err
		}
		for _, m := range due {
			if ready != nil && !ready(m) {
				continue
			}
			err := tx.Model(&model.OutboxMessage{}).Where("id = ?", m.ID).Updates(map[string]any{
				"attempts": gorm.Expr("attempts + 1"), "claimed_by": owner, "claimed_until": now.Add(lease)}).Error
			if err != nil {
				return err
			}
			var got model.OutboxMessage
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
	return s.finishOutbox(ctx, id, model.OutboxSent, reply, rejected, at)
}

// MarkOutboxFailed records that message id will not be sent, and why.
func (s *Store) MarkOutboxFailed(ctx context.Context, id uint, reason string, at time.Time) error {
	return s.finishOutbox(ctx, id, model.OutboxFailed, reason, "", at)
}

func (s *Store) finishOutbox(ctx context.Context, id uint, state, reply, rejected string, at time.Time) error {
	at = at.UTC()
	err := s.db.WithContext(ctx).Model(&model.OutboxMessage{}).Where("id = ? AND state = ?", id, model.OutboxPending).
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
	err := s.db.WithContext(ctx).Model(&model.OutboxMessage{}).Where("id = ? AND state = ?", id, model.OutboxPending).
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
	err := s.db.WithContext(ctx).Model(&model.OutboxMessage{}).Where("claimed_by = ? AND state = ?", owner, model.OutboxPending).
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
	err := s.read.WithContext(ctx).Model(&model.OutboxMessage{}).Select("state, count(*) AS n").Group("state").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("count outbox messages in %s: %w", s.path, err)
	}
	out := map[string]int64{model.OutboxPending: 0, model.OutboxSent: 0, model.OutboxFailed: 0}
	for _, r := range rows {
		out[r.State] = r.N
	}
	return out, nil
}

// OutboxMessages lists outbox messages, with their events unless
// f.NoEvents.
func (s *Store) OutboxMessages(ctx context.Context, f model.OutboxFilter) ([]model.OutboxMessage, error) {
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
	var out []model.OutboxMessage
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
		done := tx.Model(&model.OutboxMessage{}).Select("id").Where("state <> ? AND done_at < ?", model.OutboxPending, before.UTC())
		if err := tx.Where("outbox_message_id IN (?)", done).Delete(&model.OutboxEvent{}).Error; err != nil {
			return err
		}
		res := tx.Where("state <> ? AND done_at < ?", model.OutboxPending, before.UTC()).Delete(&model.OutboxMessage{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("prune the alert outbox in %s: %w", s.path, err)
	}
	return n, nil
}
