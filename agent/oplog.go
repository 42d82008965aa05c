package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/vigilops/vigil/actions"
)

// OpLogFile is the agent's durable operation log and audit trail.
const OpLogFile = "operations.db"

// operation is one action request as the agent recorded it before acting.
type operation struct {
	RequestID string `gorm:"primaryKey"`
	Canonical string `gorm:"not null"`
	Action    string `gorm:"not null"`
	Params    string // JSON
	DryRun    bool
	Operator  string
	Console   string // fingerprint of the console that sent it
	Epoch     uint64
	State     string `gorm:"index"`
	Outcome   string // JSON of actions.Outcome
	Error     string
	Received  time.Time
	Finished  *time.Time
}

// auditEntry is one request, accepted or refused.
type auditEntry struct {
	ID        uint64 `gorm:"primaryKey;autoIncrement"`
	Time      time.Time
	Console   string
	Operator  string
	RequestID string
	Action    string
	Params    string
	Result    string
	Detail    string
}

type meta struct {
	Key   string `gorm:"primaryKey"`
	Value string
}

// OpLog is the agent's operation log: every request is written before the
// agent acts on it, so a request id is acted on at most once, even across a
// crash, and a stale console cannot undo a newer one's work.
type OpLog struct {
	db   *gorm.DB
	path string
}

// Errors the API turns into status codes.
var (
	ErrConflict   = errors.New("request id already used with other parameters")
	ErrStaleEpoch = errors.New("stale epoch")
)

// OpenOpLog opens the log in stateDir. Operations that were running when
// the agent last stopped become indeterminate: the agent cannot know how
// far they got, so it reports that rather than run them again.
func OpenOpLog(stateDir string) (*OpLog, int, error) {
	path := filepath.Join(stateDir, OpLogFile)
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)") // a logged request must survive power loss
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := gorm.Open(sqlite.Open("file:"+path+"?"+q.Encode()), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return nil, 0, fmt.Errorf("open operation log %s: %w", path, err)
	}
	l := &OpLog{db: db, path: path}
	if err := db.AutoMigrate(&operation{}, &auditEntry{}, &meta{}); err != nil {
		l.Close()
		return nil, 0, fmt.Errorf("prepare operation log %s: %w", path, err)
	}
	res := db.Model(&operation{}).Where("state = ?", actions.StateRunning).
		Updates(map[string]any{"state": actions.StateIndeterminate,
			"error": "the agent stopped while this action was running; check the host before retrying"})
	if res.Error != nil {
		l.Close()
		return nil, 0, fmt.Errorf("recover operation log %s: %w", path, res.Error)
	}
	return l, int(res.RowsAffected), nil
}

// Close closes the log.
func (l *OpLog) Close() error {
	db, err := l.db.DB()
	if err != nil {
		return err
	}
	return db.Close()
}

// Begin records req as running, unless its id is known: then it returns the
// recorded result and false. Mutating requests whose epoch is lower than the
// highest seen are refused with ErrStaleEpoch.
func (l *OpLog) Begin(req *actions.Request, console string, now time.Time) (actions.Result, bool, error) {
	var (
		res   actions.Result
		fresh bool
	)
	err := l.db.Transaction(func(tx *gorm.DB) error {
		var op operation
		found := tx.Where("request_id = ?", req.RequestID).Limit(1).Find(&op)
		if found.Error != nil {
			return found.Error
		}
		if found.RowsAffected > 0 {
			if op.Canonical != req.Canonical() {
				return ErrConflict
			}
			res = op.result()
			return nil
		}
		if actions.Mutating(req.Action) {
			highest, err := highestEpoch(tx)
			if err != nil {
				return err
			}
			if req.Epoch < highest {
				return fmt.Errorf("%w: request epoch %d is lower than %d, which another console already used; reload the console's view before acting", ErrStaleEpoch, req.Epoch, highest)
			}
			if req.Epoch > highest {
				if err := tx.Save(&meta{Key: "epoch", Value: strconv.FormatUint(req.Epoch, 10)}).Error; err != nil {
					return err
				}
			}
		}
		params, _ := json.Marshal(req.Params)
		op = operation{RequestID: req.RequestID, Canonical: req.Canonical(), Action: req.Action, Params: string(params),
			DryRun: req.DryRun, Operator: req.Operator, Console: console, Epoch: req.Epoch,
			State: actions.StateRunning, Received: now.UTC()}
		if err := tx.Create(&op).Error; err != nil {
			return err
		}
		res, fresh = op.result(), true
		return nil
	})
	if err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrStaleEpoch) {
		err = fmt.Errorf("operation log %s: %w", l.path, err)
	}
	return res, fresh, err
}

// HighestEpoch is the highest epoch a request was accepted with.
func (l *OpLog) HighestEpoch() (uint64, error) {
	return highestEpoch(l.db)
}

func highestEpoch(tx *gorm.DB) (uint64, error) {
	var m meta
	res := tx.Where("key = ?", "epoch").Limit(1).Find(&m)
	if res.Error != nil || res.RowsAffected == 0 {
		return 0, res.Error
	}
	return strconv.ParseUint(m.Value, 10, 64)
}

// Finish records how a running request ended.
func (l *OpLog) Finish(id string, out actions.Outcome, runErr error, now time.Time) (actions.Result, error) {
	state, errText := actions.StateDone, ""
	if runErr != nil {
		state, errText = actions.StateFailed, runErr.Error()
	}
	b, _ := json.Marshal(out)
	t := now.UTC()
	err := l.db.Model(&operation{}).Where("request_id = ?", id).
		Updates(map[string]any{"state": state, "outcome": string(b), "error": errText, "finished": &t}).Error
	if err != nil {
		return actions.Result{}, fmt.Errorf("operation log %s: record %s: %w", l.path, id, err)
	}
	return l.Get(id)
}

// Get returns the recorded result of a request.
func (l *OpLog) Get(id string) (actions.Result, error) {
	var op operation
	res := l.db.Where("request_id = ?", id).Limit(1).Find(&op)
	if res.Error != nil {
		return actions.Result{}, fmt.Errorf("operation log %s: %w", l.path, res.Error)
	}
	if res.RowsAffected == 0 {
		return actions.Result{}, ErrNotFound
	}
	return op.result(), nil
}

// ErrNotFound is a request id the agent never received.
var ErrNotFound = errors.New("no such request")

func (op *operation) result() actions.Result {
	r := actions.Result{RequestID: op.RequestID, State: op.State, Action: op.Action, DryRun: op.DryRun,
		Error: op.Error, Received: op.Received, Finished: op.Finished}
	if op.Outcome != "" {
		var out actions.Outcome
		if json.Unmarshal([]byte(op.Outcome), &out) == nil {
			r.Outcome = &out
		}
	}
	return r
}

// Audit appends one entry to the audit trail.
func (l *OpLog) Audit(ctx context.Context, e actions.AuditEntry) (uint64, error) {
	params, _ := json.Marshal(e.Params)
	row := auditEntry{Time: e.Time.UTC(), Console: e.Console, Operator: e.Operator, RequestID: e.RequestID,
		Action: e.Action, Params: string(params), Result: e.Result, Detail: e.Detail}
	if err := l.db.WithContext(ctx).Create(&row).Error; err != nil {
		return 0, fmt.Errorf("audit log %s: %w", l.path, err)
	}
	return row.ID, nil
}

// LastAuditID is the id of the newest audit entry, 0 when there is none.
func (l *OpLog) LastAuditID(ctx context.Context) (uint64, error) {
	var id uint64
	if err := l.db.WithContext(ctx).Model(&auditEntry{}).Select("COALESCE(MAX(id), 0)").Scan(&id).Error; err != nil {
		return 0, fmt.Errorf("audit log %s: %w", l.path, err)
	}
	return id, nil
}

// AuditSince returns up to limit entries with an id greater than since.
func (l *OpLog) AuditSince(ctx context.Context, since uint64, limit int) ([]actions.AuditEntry, error) {
	var rows []auditEntry
	if err := l.db.WithContext(ctx).Where("id > ?", since).Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("audit log %s: %w", l.path, err)
	}
	out := make([]actions.AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = actions.AuditEntry{ID: r.ID, Time: r.Time, Console: r.Console, Operator: r.Operator,
			RequestID: r.RequestID, Action: r.Action, Result: r.Result, Detail: r.Detail}
		json.Unmarshal([]byte(r.Params), &out[i].Params)
	}
	return out, nil
}
