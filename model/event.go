package model

import (
	"context"
	"fmt"
	"time"
)

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
	EventAction          = "action"
	EventProcedure       = "procedure"
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

// AddEvent stores an event and returns it with its id.
func (s *Store) AddEvent(ctx context.Context, e Event) (Event, error) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if err := s.db.WithContext(ctx).Create(&e).Error; err != nil {
		return e, fmt.Errorf("store event %s of %s in %s: %w", e.Kind, e.Server, s.path, err)
	}
	return e, nil
}

// Events lists events matching f, newest first.
func (s *Store) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	q := s.read.WithContext(ctx).Order("time DESC, id DESC")
	if !f.Since.IsZero() {
		q = q.Where("time >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("time < ?", f.Until.UTC())
	}
	if f.System != "" {
		q = q.Where("system = ?", f.System)
	}
	if f.Server != "" {
		q = q.Where("server = ?", f.Server)
	}
	if len(f.Kinds) > 0 {
		q = q.Where("kind IN ?", f.Kinds)
	}
	if r := f.MinSeverity.Rank(); r > 0 {
		var sev []Severity
		for _, s := range []Severity{SeverityInfo, SeverityWarning, SeverityCritical} {
			if s.Rank() >= r {
				sev = append(sev, s)
			}
		}
		q = q.Where("severity IN ?", sev)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	var out []Event
	if err := q.Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list events in %s: %w", s.path, err)
	}
	return out, nil
}

// PruneEvents deletes events older than before and returns how many.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("time < ?", before.UTC()).Delete(&Event{})
	if res.Error != nil {
		return 0, fmt.Errorf("prune events in %s: %w", s.path, res.Error)
	}
	return res.RowsAffected, nil
}
