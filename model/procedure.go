package model

import (
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

// Procedure run states.
const (
	// RunRunning: in progress, or stopped without ending (the runner was
	// killed); Owner says which process runs it.
	RunRunning = "running"
	// RunInterrupted: stopped mid-way without a verdict (an action whose
	// outcome is uncertain, a signal); resume it.
	RunInterrupted = "interrupted"
	RunCompleted   = "completed"
	RunFailed      = "failed"
	RunAborted     = "aborted"
)

// RunOpen reports whether a run in state may still be resumed.
func RunOpen(state string) bool { return state == RunRunning || state == RunInterrupted }

// ProcedureRun is one run, or rehearsal, of a procedure on a system.
type ProcedureRun struct {
	ID          uint   `gorm:"primaryKey"`
	ProcedureID string `gorm:"index;not null"`
	Title       string
	Profile     string
	Kind        string
	System      string `gorm:"index;not null"`
	// Rehearsal runs send every change as a dry run.
	Rehearsal bool
	State     string `gorm:"index;not null"`
	Operator  string
	// Supervisor is who must sign off; SignedOffBy who did, and when.
	Supervisor  string
	SignedOffBy string
	SignedOffAt *time.Time
	// AssumeYes: confirmations are answered yes from the command line.
	AssumeYes bool
	// Vars holds the parameters and choose answers (JSON object); Bindings
	// the servers each binding resolved to at preflight (JSON object of
	// name to a list of {id, name}).
	Vars     string
	Bindings string
	// Cursor is the index of the next step to run.
	Cursor int
	// Source is the procedure file as it was when the run started, so a
	// resumed run follows the same steps; SourceFile where it came from.
	Source     string
	SourceFile string
	// Owner is the process running it (host:pid), while it runs.
	Owner          string
	TargetRecovery time.Duration
	// Preflight is the preflight's results (JSON list).
	Preflight string
	Started   time.Time `gorm:"index"`
	Ended     *time.Time
	// Summary says where things stand when the run ended otherwise than
	// completed; WayBack is the document's way back, when it has one.
	Summary       string
	WayBack       string
	RecoveryPoint string
}

// ProcedureStepRecord is one attempt at one step of a run.
type ProcedureStepRecord struct {
	ID      uint `gorm:"primaryKey"`
	RunID   uint `gorm:"index;not null"`
	Index   int  // the step's position in the procedure, from 0
	Attempt int  // 1, then 2 when a run resumed in the middle of it
	StepID  string
	DocStep string
	Type    string
	Text    string
	// State: running, passed, failed, skipped, interrupted, aborted,
	// rehearsed.
	State   string
	Started time.Time
	Ended   *time.Time
	Result  string // one line, in words
	// Evidence is what the step saw and did: the values a condition read,
	// each action's result and diff (JSON list of strings).
	Evidence string
	Note     string
	// Actor is who confirmed, chose or signed off.
	Actor string
}

// ProcedureAction is one agent request of an action step. It is written
// before the request is sent.
type ProcedureAction struct {
	ID        uint   `gorm:"primaryKey"`
	RunID     uint   `gorm:"index;not null"`
	StepIndex int    `gorm:"not null"`
	RequestID string `gorm:"uniqueIndex;not null"`
	// Preview marks the dry run shown before a destructive action.
	Preview  bool
	AgentID  string
	Server   string
	Action   string
	Params   string // JSON, after substitution: sent again as it is
	DryRun   bool
	Epoch    uint64
	Operator string
	// State is prepared until an answer comes, then the agent's final
	// state, or uncertain, refused or error.
	State    string
	Result   string // JSON of the agent's result, or the error
	Prepared time.Time
	Finished *time.Time
}

// ProcedureDeviation is something that happened otherwise than the
// procedure says: a resume after the runner stopped, an action that changed
// nothing, an operator's note of a deviation.
type ProcedureDeviation struct {
	ID        uint      `gorm:"primaryKey"`
	RunID     uint      `gorm:"index;not null"`
	StepIndex int       // -1 for the whole run
	Time      time.Time `gorm:"not null"`
	Text      string
}

// ActiveRunError is returned when a system already has a run in progress.
type ActiveRunError struct{ Run ProcedureRun }

func (e *ActiveRunError) Error() string {
	return fmt.Sprintf("run %d of %s on %s has not ended (state %s, at step %d, started %s by %s); "+
		"resume it with `vigil procedure resume %d` or abort it with `vigil procedure abort %d`",
		e.Run.ID, e.Run.ProcedureID, e.Run.System, e.Run.State, e.Run.Cursor+1,
		e.Run.Started.Local().Format(time.DateTime), orUnknown(e.Run.Operator), e.Run.ID, e.Run.ID)
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown operator"
	}
	return s
}

// StartProcedureRun stores a new run. A run that is not a rehearsal is
// refused with an *ActiveRunError while another run on the same system has
// not ended; rehearsals change nothing and are never refused.
func (s *Store) StartProcedureRun(ctx context.Context, r *ProcedureRun) error {
	r.Started = r.Started.UTC()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if !r.Rehearsal {
			var open ProcedureRun
			res := tx.Where("system = ? AND rehearsal = ? AND state IN ?", r.System, false, []string{RunRunning, RunInterrupted}).
				Order("id").Limit(1).Find(&open)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected > 0 {
				return &ActiveRunError{Run: open}
			}
		}
		return tx.Create(r).Error
	})
	var active *ActiveRunError
	if err != nil && !errors.As(err, &active) {
		err = fmt.Errorf("record the start of %s on %s in %s: %w", r.ProcedureID, r.System, s.path, err)
	}
	return err
}

// OpenProcedureRuns lists the runs of system that have not ended, oldest
// first; an empty system means every system.
func (s *Store) OpenProcedureRuns(ctx context.Context, system string) ([]ProcedureRun, error) {
	q := s.read.WithContext(ctx).Where("state IN ?", []string{RunRunning, RunInterrupted}).Order("id")
	if system != "" {
		q = q.Where("system = ?", system)
	}
	var out []ProcedureRun
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list open procedure runs in %s: %w", s.path, err)
	}
	return out, nil
}

// ProcedureRun returns run id.
func (s *Store) ProcedureRun(ctx context.Context, id uint) (ProcedureRun, error) {
	var r ProcedureRun
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
func (s *Store) ProcedureRuns(ctx context.Context, system string, limit int) ([]ProcedureRun, error) {
	if limit <= 0 {
		limit = 100
	}
	q := s.read.WithContext(ctx).Omit("source").Order("id DESC").Limit(limit)
	if system != "" {
		q = q.Where("system = ?", system)
	}
	var out []ProcedureRun
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list procedure runs in %s: %w", s.path, err)
	}
	return out, nil
}

// SaveProcedureRun writes every field of r.
func (s *Store) SaveProcedureRun(ctx context.Context, r *ProcedureRun) error {
	if err := s.db.WithContext(ctx).Save(r).Error; err != nil {
		return fmt.Errorf("record procedure run %d in %s: %w", r.ID, s.path, err)
	}
	return nil
}

// ClaimProcedureRun makes owner the run's owner and its state running, if
// it is still open and its owner is empty, is owner, or is one that
// alive reports dead. It returns the run as claimed.
func (s *Store) ClaimProcedureRun(ctx context.Context, id uint, owner string, alive func(owner string) bool) (ProcedureRun, error) {
	var r ProcedureRun
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Limit(1).Find(&r, id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("no procedure run %d; `vigil procedure history` lists them", id)
		}
		if !RunOpen(r.State) {
			return fmt.Errorf("run %d of %s has ended (%s); there is nothing to resume", id, r.ProcedureID, r.State)
		}
		if r.Owner != "" && r.Owner != owner && alive != nil && alive(r.Owner) {
			return fmt.Errorf("run %d of %s is being run by %s now; stop that first", id, r.ProcedureID, r.Owner)
		}
		r.Owner, r.State = owner, RunRunning
		return tx.Model(&ProcedureRun{}).Where("id = ?", id).Updates(map[string]any{"owner": owner, "state": RunRunning}).Error
	})
	if err != nil {
		return r, fmt.Errorf("resume run %d: %w", id, err)
	}
	return r, nil
}

// BeginProcedureStep records that a step starts.
func (s *Store) BeginProcedureStep(ctx context.Context, rec *ProcedureStepRecord) error {
	rec.Started = rec.Started.UTC()
	if err := s.db.WithContext(ctx).Create(rec).Error; err != nil {
		return fmt.Errorf("record the start of step %d of run %d in %s: %w", rec.Index+1, rec.RunID, s.path, err)
	}
	return nil
}

// EndProcedureStep records how steps ended, and the run as it stands
// after them (its cursor, its variables), in one transaction.
func (s *Store) EndProcedureStep(ctx context.Context, run *ProcedureRun, recs ...*ProcedureStepRecord) error {
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
func (s *Store) ProcedureSteps(ctx context.Context, runID uint) ([]ProcedureStepRecord, error) {
	var out []ProcedureStepRecord
	if err := s.read.WithContext(ctx).Where("run_id = ?", runID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list steps of run %d in %s: %w", runID, s.path, err)
	}
	return out, nil
}

// PrepareProcedureAction records a request before it is sent.
func (s *Store) PrepareProcedureAction(ctx context.Context, a *ProcedureAction) error {
	a.Prepared = a.Prepared.UTC()
	a.State = "prepared"
	if err := s.db.WithContext(ctx).Create(a).Error; err != nil {
		return fmt.Errorf("record request %s of run %d in %s: %w", a.RequestID, a.RunID, s.path, err)
	}
	return nil
}

// FinishProcedureAction records a request's outcome.
func (s *Store) FinishProcedureAction(ctx context.Context, requestID, state, result string, at time.Time) error {
	err := s.db.WithContext(ctx).Model(&ProcedureAction{}).Where("request_id = ?", requestID).
		Updates(map[string]any{"state": state, "result": result, "finished": at.UTC()}).Error
	if err != nil {
		return fmt.Errorf("record the outcome of request %s in %s: %w", requestID, s.path, err)
	}
	return nil
}

// ProcedureActions lists a run's requests in the order they were prepared.
func (s *Store) ProcedureActions(ctx context.Context, runID uint) ([]ProcedureAction, error) {
	var out []ProcedureAction
	if err := s.read.WithContext(ctx).Where("run_id = ?", runID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list requests of run %d in %s: %w", runID, s.path, err)
	}
	return out, nil
}

// AddProcedureDeviation records a deviation.
func (s *Store) AddProcedureDeviation(ctx context.Context, d ProcedureDeviation) error {
	d.Time = d.Time.UTC()
	if err := s.db.WithContext(ctx).Create(&d).Error; err != nil {
		return fmt.Errorf("record a deviation of run %d in %s: %w", d.RunID, s.path, err)
	}
	return nil
}

// ProcedureDeviations lists a run's deviations in order.
func (s *Store) ProcedureDeviations(ctx context.Context, runID uint) ([]ProcedureDeviation, error) {
	var out []ProcedureDeviation
	if err := s.read.WithContext(ctx).Where("run_id = ?", runID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list deviations of run %d in %s: %w", runID, s.path, err)
	}
	return out, nil
}

// ProcedureLast is when a procedure was last run and last rehearsed on a
// system.
type ProcedureLast struct {
	System      string
	ProcedureID string
	// LastRun is the start of the newest run that was not a rehearsal;
	// LastRunID, LastRunState its id and state. Zero when there is none.
	LastRun      time.Time
	LastRunID    uint
	LastRunState string
	// LastRehearsal likewise for rehearsals.
	LastRehearsal      time.Time
	LastRehearsalID    uint
	LastRehearsalState string
}

// ProcedureHistory says, per system and procedure, when it was last run
// and last rehearsed, ordered by system and procedure.
func (s *Store) ProcedureHistory(ctx context.Context) ([]ProcedureLast, error) {
	var rows []ProcedureRun
	// The newest run of each (system, procedure, rehearsal).
	err := s.read.WithContext(ctx).Select("id, system, procedure_id, rehearsal, state, started").
		Where("id IN (?)", s.read.Model(&ProcedureRun{}).Select("MAX(id)").Group("system, procedure_id, rehearsal")).
		Order("system, procedure_id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("procedure history in %s: %w", s.path, err)
	}
	var out []ProcedureLast
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1].System != r.System || out[len(out)-1].ProcedureID != r.ProcedureID {
			out = append(out, ProcedureLast{System: r.System, ProcedureID: r.ProcedureID})
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
	if err := s.read.WithContext(ctx).Model(&ActionRecord{}).Where("request_id = ?", requestID).Count(&n).Error; err != nil {
		return false, fmt.Errorf("look up request %s in %s: %w", requestID, s.path, err)
	}
	return n > 0, nil
}
