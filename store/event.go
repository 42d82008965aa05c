package store

import (
	"github.com/vigilops/vigil/model"

	"context"
	"fmt"
	"time"
)

// AddEvent stores an event and returns it with its id.
func (s *Store) AddEvent(ctx context.Context, e model.Event) (model.Event, error) {
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
func (s *Store) Events(ctx context.Context, f model.EventFilter) ([]model.Event, error) {
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
		var sev []model.Severity
		for _, s := range []model.Severity{model.SeverityInfo, model.SeverityWarning, model.SeverityCritical} {
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
	var out []model.Event
	if err := q.Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list events in %s: %w", s.path, err)
	}
	return out, nil
}

// PruneEvents deletes events older than before and returns how many.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("time < ?", before.UTC()).Delete(&model.Event{})
	if res.Error != nil {
		return 0, fmt.Errorf("prune events in %s: %w", s.path, res.Error)
	}
	return res.RowsAffected, nil
}
