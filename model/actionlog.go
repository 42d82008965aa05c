package model

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
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
	if err := s.read.WithContext(ctx).Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list actions in %s: %w", s.path, err)
	}
	return out, nil
}

// FindServer returns the server whose name or agent id is nameOrID. A name
// shared by two servers is an error that says so.
func (s *Store) FindServer(ctx context.Context, nameOrID string) (ServerView, error) {
	var rows []Server
	err := s.read.WithContext(ctx).Preload("System").Preload("Site").
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

// AuditCursor is the sequence number of the newest entry mirrored from an
// agent, 0 when none is.
func (s *Store) AuditCursor(ctx context.Context, agentID string) (uint64, error) {
	var seq uint64
	err := s.read.WithContext(ctx).Model(&AuditRecord{}).Where("agent_id = ?", agentID).
		Select("COALESCE(MAX(seq), 0)").Scan(&seq).Error
	if err != nil {
		return 0, fmt.Errorf("audit cursor of %s in %s: %w", agentID, s.path, err)
	}
	return seq, nil
}

// MirrorAudit stores entries of an agent's audit log in one transaction;
// entries already mirrored are left as they are, so fetching a page twice
// is harmless.
func (s *Store) MirrorAudit(ctx context.Context, agentID, server string, entries []AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	rows := make([]AuditRecord, len(entries))
	for i, e := range entries {
		b, _ := json.Marshal(e.Params)
		rows[i] = AuditRecord{AgentID: agentID, Seq: e.Seq, Server: server, Time: e.Time.UTC(), Console: e.Console,
			Operator: e.Operator, RequestID: e.RequestID, Action: e.Action, Params: string(b), Result: e.Result, Detail: e.Detail}
	}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, 200).Error
	if err != nil {
		return fmt.Errorf("mirror audit of %s in %s: %w", server, s.path, err)
	}
	return nil
}

// Audit lists mirrored audit entries, newest first; an empty agentID
// means every agent's.
func (s *Store) Audit(ctx context.Context, agentID string, limit int) ([]AuditRecord, error) {
	var out []AuditRecord
	q := s.read.WithContext(ctx).Order("time DESC, seq DESC").Limit(limit)
	if agentID != "" {
		q = q.Where("agent_id = ?", agentID)
	}
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list audit in %s: %w", s.path, err)
	}
	return out, nil
}
