package model

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

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
	State     string // sent, then the agent's final state, or uncertain
	Detail    string // the diff, or why it failed
	Sent      time.Time
	Finished  *time.Time
}

// RecordActionSent writes the record of a request about to be sent.
func (s *Store) RecordActionSent(ctx context.Context, r ActionRecord, params map[string]string) error {
	b, _ := json.Marshal(params)
	r.Params, r.State = string(b), "sent"
	if err := s.db.WithContext(ctx).Create(&r).Error; err != nil {
		return fmt.Errorf("record action %s in %s: %w", r.RequestID, s.path, err)
	}
	return nil
}

// RecordActionResult updates the record of a request with its outcome.
func (s *Store) RecordActionResult(ctx context.Context, requestID, state, detail string, at time.Time) error {
	err := s.db.WithContext(ctx).Model(&ActionRecord{}).Where("request_id = ?", requestID).
		Updates(map[string]any{"state": state, "detail": detail, "finished": at}).Error
	if err != nil {
		return fmt.Errorf("record outcome of %s in %s: %w", requestID, s.path, err)
	}
	return nil
}

// Actions lists the recorded actions, newest first.
func (s *Store) Actions(ctx context.Context, limit int) ([]ActionRecord, error) {
	var out []ActionRecord
	if err := s.db.WithContext(ctx).Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list actions in %s: %w", s.path, err)
	}
	return out, nil
}

// FindServer returns the server whose name or agent id is nameOrID. A name
// shared by two servers is an error that says so.
func (s *Store) FindServer(ctx context.Context, nameOrID string) (ServerView, error) {
	var rows []Server
	err := s.db.WithContext(ctx).Preload("System").Preload("Site").
		Where("agent_id = ? OR name = ?", nameOrID, nameOrID).Limit(3).Find(&rows).Error
	if err != nil {
		return ServerView{}, fmt.Errorf("find server %s in %s: %w", nameOrID, s.path, err)
	}
	switch len(rows) {
	case 0:
		return ServerView{}, fmt.Errorf("no server named %q is known; run `vigil status` to discover servers", nameOrID)
	case 1:
		return rows[0].view(), nil
	default:
		return ServerView{}, fmt.Errorf("%d servers are named %q; give the agent id instead (see `vigil status --json`)", len(rows), nameOrID)
	}
}
