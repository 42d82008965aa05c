package store

import (
	"github.com/vigilops/vigil/model"

	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// The records of procedure runs. The procedure engine writes a step's
// record before the step runs and again, with the run's cursor, in one
// transaction when it ends; an agent action's request id is stored before
// the request is sent. A run that stopped without ending (the console was
// killed, the power failed) is therefore resumed at the right step, and an
// action that was in flight is sent again under the same request id, which
// the agent answers with what it recorded instead of acting twice.

// StartProcedureRun stores a new run. A run that is not a rehearsal is
// refused with an *ActiveRunError while another run on the same system has
// not ended; rehearsals change nothing and are never refused.
func (s *Store) StartProcedureRun(ctx context.Context, r *model.ProcedureRun) error {
	r.Started = r.Started.UTC()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if !r.Rehearsal {
			var open model.ProcedureRun
			res := tx.Where("system = ? AND rehearsal = ? AND state IN ?", r.System, false, []model.RunState{model.RunRunning, model.RunInterrupted}).
				Order("id").Limit(1).Find(&open)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected > 0 {
				return &model.ActiveRunError{Run: open}
			}
		}
		return tx.Create(r).Error
	})
	var active *model.ActiveRunError
	if err != nil && !errors.As(err, &active) {
		err = fmt.Errorf("record the start of %s on %s in %s: %w", r.ProcedureID, r.System, s.path, err)
	}
	return err
}

// OpenProcedureRuns lists the runs of system that have not ended, oldest
// first; an empty system means every system.
func (s *Store) OpenProcedureRuns(ctx context.Context, system string) ([]model.ProcedureRun, error) {
	q := s.read.WithContext(ctx).Where("state IN ?", []model.RunState{model.RunRunning, model.RunInterrupted}).Order("id")
	if system != "" {
		q = q.Where("system = ?", system)
	}
	var out []model.ProcedureRun
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list open procedure runs in %s: %w", s.path, err)
	}
	return out, nil
}

// ProcedureRun returns run id.
func (s *Store) ProcedureRun(ctx context.Context, id uint) (model.ProcedureRun, error) {
	var r model.ProcedureRun
	res := s.read.WithContext(ctx).Limit(1).Find(&r, id)
	if res.Error != nil {
		return r, fmt.Errorf("read procedure run %d in %s: %w", id, s.path, res.Error)
	}
	if res.RowsAffected == 0 {
		return r, fmt.Errorf("no procedure run %d in %s; `vigil procedure history` lists them", id, s.path)
	}
	return r, nil
}

// ProcedureRuns lists runs, newest first; an empty system means every
// system.
func (s *Store) ProcedureRuns(ctx context.Context, system string, limit int) ([]model.ProcedureRun, error) {
	if limit <= 0 {
		limit = 100
	}
	q := s.read.WithContext(ctx).Omit("source").Order("id DESC").Limit(limit)
	if system != "" {
		q = q.Where("system = ?", system)
	}
	var out []model.ProcedureRun
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list procedure runs in %s: %w", s.path, err)
	}
	return out, nil
}

// SaveProcedureRun writes every field of r.
func (s *Store) SaveProcedureRun(ctx context.Context, r *model.ProcedureRun) error {
	if err := s.db.WithContext(ctx).Save(r).Error; err != nil {
		return fmt.Errorf("record procedure run %d in %s: %w", r.ID, s.path, err)
	}
	return nil
}

// ClaimProcedureRun makes owner the run's owner and its state running, if
// it is still open and its owner is empty, is owner, or is one that
// alive reports dead. It returns the run as claimed.
func (s *Store) ClaimProcedureRun(ctx context.Context, id uint, owner string, alive func(owner string) bool) (model.ProcedureRun, error) {
	var r model.ProcedureRun
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Limit(1).Find(&r, id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("no procedure run %d; `vigil procedure history` lists them", id)
		}
		if !r.State.Open() {
			return fmt.Errorf("run %d of %s has ended (%s); there is nothing to resume", id, r.ProcedureID, r.State)
		}
		if r.Owner != "" && r.Owner != owner && alive != nil && alive(r.Owner) {
			return fmt.Errorf("run %d of %s is being run by %s now; stop that first", id, r.ProcedureID, r.Owner)
		}
		r.Owner, r.State = owner, model.RunRunning
		return tx.Model(&model.ProcedureRun{}).Where("id = ?", id).Updates(map[string]any{"owner": owner, "state": model.RunRunning}).Error
	})
	if err != nil {
		return r, fmt.Errorf("resume run %d: %w", id, err)
	}
	return r, nil
}

// BeginProcedureStep records that a step starts.
func (s *Store) BeginProcedureStep(ctx context.Context, rec *model.ProcedureStepRecord) error {
	rec.Started = rec.Started.UTC()
	if err := s.db.WithContext(ctx).Create(rec).Error; err != nil {
		return fmt.Errorf("record the start of step %d of run %d in %s: %w", rec.Index+1, rec.RunID, s.path, err)
	}
	return nil
}

// EndProcedureStep records how steps ended, and the run as it stands
// after them (its cursor, its variables), in one transaction.
func (s *Store) EndProcedureStep(ctx context.Context, run *model.ProcedureRun, recs ...*model.ProcedureStepRecord) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, rec := range recs {
			if err := tx.Save(rec).Error; err != nil {
				return err
			}
		}
		return tx.Save(run).Error
	})
	if err != nil {
		return fmt.Errorf("record the end of a step of run %d in %s: %w", run.ID, s.path, err)
	}
	return nil
}

// ProcedureSteps lists a run's step records in the order they started.
func (s *Store) ProcedureSteps(ctx context.Context, runID uint) ([]model.ProcedureStepRecord, error) {
	var out []model.ProcedureStepRecord
	if err := s.read.WithContext(ctx).Where("run_id = ?", runID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list steps of run %d in %s: %w", runID, s.path, err)
	}
	return out, nil
}

// PrepareProcedureAction records a request before it is sent.
func (s *Store) PrepareProcedureAction(ctx context.Context, a *model.ProcedureAction) error {
	a.Prepared = a.Prepared.UTC()
	a.State = model.ActionPrepared
	if err := s.db.WithContext(ctx).Create(a).Error; err != nil {
		return fmt.Errorf("record request %s of run %d in %s: %w", a.RequestID, a.RunID, s.path, err)
	}
	return nil
}

// FinishProcedureAction records a request's outcome.
func (s *Store) FinishProcedureAction(ctx context.Context, requestID string, state model.ActionState, result string, at time.Time) error {
	err := s.db.WithContext(ctx).Model(&model.ProcedureAction{}).Where("request_id = ?", requestID).
		Updates(map[string]any{"state": state, "result": result, "finished": at.UTC()}).Error
	if err != nil {
		return fmt.Errorf("record the outcome of request %s in %s: %w", requestID, s.path, err)
	}
	return nil
}

// ProcedureActions lists a run's requests in the order they were prepared.
func (s *Store) ProcedureActions(ctx context.Context, runID uint) ([]model.ProcedureAction, error) {
	var out []model.ProcedureAction
	if err := s.read.WithContext(ctx).Where("run_id = ?", runID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list requests of run %d in %s: %w", runID, s.path, err)
	}
	return out, nil
}

// AddProcedureDeviation records a deviation.
func (s *Store) AddProcedureDeviation(ctx context.Context, d model.ProcedureDeviation) error {
	d.Time = d.Time.UTC()
	if err := s.db.WithContext(ctx).Create(&d).Error; err != nil {
		return fmt.Errorf("record a deviation of run %d in %s: %w", d.RunID, s.path, err)
	}
	return nil
}

// ProcedureDeviations lists a run's deviations in order.
func (s *Store) ProcedureDeviations(ctx context.Context, runID uint) ([]model.ProcedureDeviation, error) {
	var out []model.ProcedureDeviation
	if err := s.read.WithContext(ctx).Where("run_id = ?", runID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list deviations of run %d in %s: %w", runID, s.path, err)
	}
	return out, nil
}

// ProcedureHistory says, per system and procedure, when it was last run
// and last rehearsed, ordered by system and procedure.
func (s *Store) ProcedureHistory(ctx context.Context) ([]model.ProcedureLast, error) {
	var rows []model.ProcedureRun
	// The newest run of each (system, procedure, rehearsal).
	err := s.read.WithContext(ctx).Select("id, system, procedure_id, rehearsal, state, started").
		Where("id IN (?)", s.read.Model(&model.ProcedureRun{}).Select("MAX(id)").Group("system, procedure_id, rehearsal")).
		Order("system, procedure_id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("procedure history in %s: %w", s.path, err)
	}
	var out []model.ProcedureLast
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1].System != r.System || out[len(out)-1].ProcedureID != r.ProcedureID {
			out = append(out, model.ProcedureLast{System: r.System, ProcedureID: r.ProcedureID})
		}
		l := &out[len(out)-1]
		if r.Rehearsal {
			l.LastRehearsal, l.LastRehearsalID, l.LastRehearsalState = r.Started, r.ID, r.State
		} else {
			l.LastRun, l.LastRunID, l.LastRunState = r.Started, r.ID, r.State
		}
	}
	return out, nil
}

// ActionRecorded reports whether the console has a record of request id
// (an ActionRecord), so that a resend does not record it twice.
func (s *Store) ActionRecorded(ctx context.Context, requestID string) (bool, error) {
	var n int64
	if err := s.read.WithContext(ctx).Model(&model.ActionRecord{}).Where("request_id = ?", requestID).Count(&n).Error; err != nil {
		return false, fmt.Errorf("look up request %s in %s: %w", requestID, s.path, err)
	}
	return n > 0, nil
}
