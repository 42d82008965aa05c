package store

import (
	"github.com/vigilops/vigil/model"

	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// RecordActionSent writes the record of a request about to be sent.
func (s *Store) RecordActionSent(ctx context.Context, r model.ActionRecord, params map[string]string) error {
	b, _ := json.Marshal(params)
	r.Params, r.State = string(b), model.ActionSent
	if err := s.db.WithContext(ctx).Create(&r).Error; err != nil {
		return fmt.Errorf("record action %s in %s: %w", r.RequestID, s.path, err)
	}
	return nil
}

// RecordActionResult updates the record of a request with its outcome.
func (s *Store) RecordActionResult(ctx context.Context, requestID string, state model.ActionState, detail string, at time.Time) error {
	err := s.db.WithContext(ctx).Model(&model.ActionRecord{}).Where("request_id = ?", requestID).
		Updates(map[string]any{"state": state, "detail": detail, "finished": at}).Error
	if err != nil {
		return fmt.Errorf("record outcome of %s in %s: %w", requestID, s.path, err)
	}
	return nil
}

// Actions lists the recorded actions, newest first.
func (s *Store) Actions(ctx context.Context, limit int) ([]model.ActionRecord, error) {
	var out []model.ActionRecord
	if err := s.read.WithContext(ctx).Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list actions in %s: %w", s.path, err)
	}
	return out, nil
}

// FindServer returns the server whose name or agent id is nameOrID. A name
// shared by two servers is an error that says so.
func (s *Store) FindServer(ctx context.Context, nameOrID string) (model.ServerView, error) {
	var rows []Server
	err := s.read.WithContext(ctx).Preload("System").Preload("Site").
		Where("agent_id = ? OR name = ?", nameOrID, nameOrID).Limit(100).Find(&rows).Error
	if err != nil {
		return model.ServerView{}, fmt.Errorf("find server %s in %s: %w", nameOrID, s.path, err)
	}
	// Servers this console has not paired are other consoles' or not yet
	// its own (mDNS shows every agent on the LAN): when one paired server
	// has the name, the name means it.
	var ours []Server
	for _, r := range rows {
		if r.AgentID == nameOrID {
			return r.view(), nil
		}
		if v := r.view(); v.Watched() {
			ours = append(ours, r)
		}
	}
	if len(ours) == 1 {
		return ours[0].view(), nil
	}
	if len(ours) > 1 {
		rows = ours
	}
	switch len(rows) {
	case 0:
		return model.ServerView{}, fmt.Errorf("no server named %q is known; run `vigil status` to discover servers", nameOrID)
	case 1:
		return rows[0].view(), nil
	default:
		return model.ServerView{}, fmt.Errorf("%d servers are named %q; give the agent id instead (see `vigil status --json`)", len(rows), nameOrID)
	}
}

// AuditCursor is the sequence number of the newest entry mirrored from an
// agent, 0 when none is.
func (s *Store) AuditCursor(ctx context.Context, agentID string) (uint64, error) {
	var seq uint64
	err := s.read.WithContext(ctx).Model(&model.AuditRecord{}).Where("agent_id = ?", agentID).
		Select("COALESCE(MAX(seq), 0)").Scan(&seq).Error
	if err != nil {
		return 0, fmt.Errorf("audit cursor of %s in %s: %w", agentID, s.path, err)
	}
	return seq, nil
}

// MirrorAudit stores entries of an agent's audit log in one transaction;
// entries already mirrored are left as they are, so fetching a page twice
// is harmless.
func (s *Store) MirrorAudit(ctx context.Context, agentID, server string, entries []model.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	rows := make([]model.AuditRecord, len(entries))
	for i, e := range entries {
		b, _ := json.Marshal(e.Params)
		rows[i] = model.AuditRecord{AgentID: agentID, Seq: e.Seq, Server: server, Time: e.Time.UTC(), Console: e.Console,
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
func (s *Store) Audit(ctx context.Context, agentID string, limit int) ([]model.AuditRecord, error) {
	var out []model.AuditRecord
	q := s.read.WithContext(ctx).Order("time DESC, seq DESC").Limit(limit)
	if agentID != "" {
		q = q.Where("agent_id = ?", agentID)
	}
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list audit in %s: %w", s.path, err)
	}
	return out, nil
}
