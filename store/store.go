package store

import (
	"github.com/vigilops/vigil/model"

	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// DatabaseFile is the name of the topology database inside the data directory.
const DatabaseFile = "vigil.db"

// busyTimeout is how long a writer waits for another process holding the
// database before it gives up with an error that names the file.
const busyTimeout = 10 * time.Second

// Site is a place servers live in (a building, a DR site).
type Site struct {
	ID        uint   `gorm:"primaryKey"`
	Name      string `gorm:"uniqueIndex;not null"`
	CreatedAt time.Time
}

// System is one redundant installation of one vendor product.
type System struct {
	ID        uint   `gorm:"primaryKey"`
	Name      string `gorm:"uniqueIndex;not null"`
	Profile   string
	CreatedAt time.Time
}

// Server is one host running an agent, as last known to the console.
type Server struct {
	ID          uint   `gorm:"primaryKey"`
	AgentID     string `gorm:"uniqueIndex;not null"`
	Name        string `gorm:"not null"`
	SystemID    *uint  `gorm:"index"`
	System      *System
	SiteID      *uint `gorm:"index"`
	Site        *Site
	Profile     string
	Address     string
	Fingerprint string
	Role        model.Role
	VendorRole  string
	Health      model.Health
	Paired      bool
	// IdentityChanged is set when mDNS or a connection shows another key
	// than the pinned one; pairing again clears it.
	IdentityChanged bool
	FirstSeen       time.Time
	LastSeen        time.Time
	LastChange      time.Time // last time role or health changed
}

// openPool opens a pool of at most n connections to the database at path,
// all kept open once opened.
func openPool(path string, q url.Values, n int) (*gorm.DB, error) {
	db, err := gorm.Open(sqlite.Open("file:"+path+"?"+q.Encode()), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	sqlDB.SetMaxOpenConns(n)
	sqlDB.SetMaxIdleConns(n)
	return db, nil
}

func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".vigil-write-check-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close releases the database.
func (s *Store) Close() error {
	var errs []error
	for _, db := range []*gorm.DB{s.read, s.db} {
		if db == nil {
			continue
		}
		sqlDB, err := db.DB()
		if err == nil {
			err = sqlDB.Close()
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Observe records what discovery or a status stream saw of one server and
// returns the server as now stored, and whether its role or health changed.
// Fields left empty in o keep their stored value. Nothing is ever deleted.
func (s *Store) Observe(ctx context.Context, o model.Observation) (model.ServerView, bool, error) {
	if o.AgentID == "" {
		return model.ServerView{}, false, errors.New("observe server: no agent id")
	}
	if o.Time.IsZero() {
		o.Time = time.Now()
	}
	var (
		out     Server
		changed bool
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// One query for the server with the names of its system and site:
		// most observations name the ones it already has.
		var srv Server
		err := tx.Joins("System").Joins("Site").Where("servers.agent_id = ?", o.AgentID).Limit(1).Find(&srv).Error
		if err != nil {
			return err
		}
		isNew := srv.ID == 0
		if isNew {
			srv = Server{AgentID: o.AgentID, Name: o.AgentID, Role: model.RoleUnknown, Health: model.HealthUnknown, FirstSeen: o.Time}
		}
		stored := srv
		if o.System != "" && (srv.System == nil || srv.System.Name != o.System || o.Profile != "" && srv.System.Profile != o.Profile) {
			sys, err := findOrCreate(tx, &System{Name: o.System}, "name = ?", o.System)
			if err != nil {
				return err
			}
			if o.Profile != "" && sys.Profile != o.Profile {
				sys.Profile = o.Profile
				if err := tx.Save(sys).Error; err != nil {
					return err
				}
			}
			srv.SystemID, srv.System = &sys.ID, sys
		}
		if o.Site != "" && (srv.Site == nil || srv.Site.Name != o.Site) {
			site, err := findOrCreate(tx, &Site{Name: o.Site}, "name = ?", o.Site)
			if err != nil {
				return err
			}
			srv.SiteID, srv.Site = &site.ID, site
		}
		var v model.ServerView
		v, changed = srv.view().Observe(o)
		srv.Name, srv.Profile, srv.Address, srv.Fingerprint = v.Name, v.Profile, v.Address, v.Fingerprint
		srv.VendorRole, srv.Role, srv.Health = v.VendorRole, v.Role, v.Health
		srv.LastChange, srv.LastSeen = v.LastChange, v.LastSeen
		if !isNew && sameColumns(stored, srv) {
			out = srv // as read: nothing to write
			return nil
		}
		if err := tx.Omit(clause.Associations).Save(&srv).Error; err != nil {
			return err
		}
		// Read back, so that the view holds what a later read will: times
		// as the database gives them back.
		return tx.Joins("System").Joins("Site").Where("servers.id = ?", srv.ID).Take(&out).Error
	})
	if err != nil {
		return model.ServerView{}, false, fmt.Errorf("record server %s in %s: %w", o.AgentID, s.path, err)
	}
	return out.view(), changed, nil
}

// sameColumns says whether two versions of a server's row would be
// written alike.
func sameColumns(a, b Server) bool {
	return a.ID == b.ID && ptrEqual(a.SystemID, b.SystemID) && ptrEqual(a.SiteID, b.SiteID) &&
		a.AgentID == b.AgentID && a.Name == b.Name && a.Profile == b.Profile && a.Address == b.Address &&
		a.Fingerprint == b.Fingerprint && a.Role == b.Role && a.VendorRole == b.VendorRole && a.Health == b.Health &&
		a.Paired == b.Paired && a.IdentityChanged == b.IdentityChanged &&
		a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen) && a.LastChange.Equal(b.LastChange)
}

func ptrEqual[T comparable](a, b *T) bool {
	return a == b || a != nil && b != nil && *a == *b
}

// SetPaired records that the console paired with the server and pinned its
// full key fingerprint; it clears any earlier identity change.
func (s *Store) SetPaired(ctx context.Context, agentID, fingerprint string) (model.ServerView, error) {
	res := s.db.WithContext(ctx).Model(&Server{}).Where("agent_id = ?", agentID).
		Updates(map[string]any{"paired": true, "fingerprint": fingerprint, "identity_changed": false})
	if res.Error != nil {
		return model.ServerView{}, fmt.Errorf("record pairing of %s in %s: %w", agentID, s.path, res.Error)
	}
	if res.RowsAffected == 0 {
		return model.ServerView{}, fmt.Errorf("record pairing of %s in %s: no such server", agentID, s.path)
	}
	return s.Server(ctx, agentID)
}

// SetIdentityChanged marks a paired server whose key no longer matches.
func (s *Store) SetIdentityChanged(ctx context.Context, agentID string) (model.ServerView, error) {
	err := s.db.WithContext(ctx).Model(&Server{}).Where("agent_id = ?", agentID).
		Update("identity_changed", true).Error
	if err != nil {
		return model.ServerView{}, fmt.Errorf("record identity change of %s in %s: %w", agentID, s.path, err)
	}
	return s.Server(ctx, agentID)
}

// SetHealthAll sets the health of every server, for example to unknown when
// the console starts and has not yet heard from anyone.
func (s *Store) SetHealthAll(ctx context.Context, h model.Health) error {
	err := s.db.WithContext(ctx).Model(&Server{}).Where("health <> ?", h).
		Updates(map[string]any{"health": h}).Error
	if err != nil {
		return fmt.Errorf("reset health in %s: %w", s.path, err)
	}
	return nil
}

// MarkSeen records sightings of servers, by agent id, in one transaction.
// A sighting earlier than the server's stored last-seen time is older news
// and changes nothing; unknown agent ids are ignored. It is for sightings
// too many to write one by one: a fleet's heartbeats, and status lines
// that only move a vendor's word for a role.
func (s *Store) MarkSeen(ctx context.Context, seen map[string]model.Seen) error {
	if len(seen) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(seen))
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for chunk := range slices.Chunk(ids, markSeenChunk) {
			// One statement per chunk, UPDATE … FROM a list of values,
			// comparing times as times rather than as the text they are
			// stored as, whose UTC offsets may differ.
			var sql strings.Builder
			sql.WriteString("UPDATE servers SET last_seen = seen.column2," +
				" vendor_role = CASE seen.column3 WHEN '' THEN servers.vendor_role ELSE seen.column3 END FROM (VALUES ")
			args := make([]any, 0, 3*len(chunk))
			for i, id := range chunk {
				if i > 0 {
					sql.WriteString(", ")
				}
				sql.WriteString("(?, ?, ?)")
				args = append(args, id, seen[id].At, seen[id].VendorRole)
			}
			sql.WriteString(") AS seen WHERE servers.agent_id = seen.column1" +
				" AND (servers.last_seen IS NULL OR julianday(servers.last_seen) < julianday(seen.column2))")
			if err := tx.Exec(sql.String(), args...).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record when %d servers were last seen in %s: %w", len(seen), s.path, err)
	}
	return nil
}

// Servers lists every stored server, ordered by system and name.
func (s *Store) Servers(ctx context.Context) ([]model.ServerView, error) {
	var rows []Server
	err := s.read.WithContext(ctx).Preload("System").Preload("Site").
		Joins("LEFT JOIN systems ON systems.id = servers.system_id").
		Order("systems.name, servers.name").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list servers in %s: %w", s.path, err)
	}
	out := make([]model.ServerView, len(rows))
	for i := range rows {
		out[i] = rows[i].view()
	}
	return out, nil
}

// Server returns one server by agent id.
func (s *Store) Server(ctx context.Context, agentID string) (model.ServerView, error) {
	var srv Server
	err := s.read.WithContext(ctx).Preload("System").Preload("Site").
		Where("agent_id = ?", agentID).First(&srv).Error
	if err != nil {
		return model.ServerView{}, fmt.Errorf("server %s in %s: %w", agentID, s.path, err)
	}
	return srv.view(), nil
}

// Check runs SQLite's integrity check and returns an error unless it is ok.
func (s *Store) Check(ctx context.Context) error {
	var res []string
	if err := s.read.WithContext(ctx).Raw("PRAGMA integrity_check").Scan(&res).Error; err != nil {
		return fmt.Errorf("integrity check of %s: %w", s.path, err)
	}
	if len(res) != 1 || res[0] != "ok" {
		return fmt.Errorf("integrity check of %s failed: %v", s.path, res)
	}
	return nil
}

func findOrCreate[T any](tx *gorm.DB, fresh *T, where string, arg any) (*T, error) {
	var found T
	res := tx.Where(where, arg).Limit(1).Find(&found)
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected > 0 {
		return &found, nil
	}
	if err := tx.Create(fresh).Error; err != nil {
		return nil, err
	}
	return fresh, nil
}

// Store keeps the topology in a SQLite file. It is safe for concurrent use,
// and several processes may open the same file: writers wait for each other.
//
// Within one process every write goes through one connection, so writers
// queue in Go, in the order database/sql hands that connection out, instead
// of each holding a connection of its own asleep in SQLite's busy handler;
// the busy timeout is left for writers in other processes (`vigil procedure
// run` while the console runs). Reads outside a transaction use a pool of
// read-only connections: in WAL mode they run beside the writer and see
// every write committed before they start.
type Store struct {
	db   *gorm.DB // the writer: every write and every transaction
	read *gorm.DB // the readers: reads outside transactions
	path string
}

// readers is how many read-only connections a store keeps at most: a
// console reads now and then (the GUI's pages, the CLI, the alert outbox),
// and each connection holds a page cache of its own.
const readers = 4

// Open opens (creating if needed) the store in dir. An error says which
// directory or file was at fault.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("open store: no data directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s cannot be created: %w", dir, err)
	}
	if err := checkWritable(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, DatabaseFile)
	existed := false
	if info, err := os.Stat(path); err == nil && info.Size() > 0 {
		existed = true
	}
	common := func() url.Values {
		q := url.Values{}
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
		return q
	}
	// The writer turns WAL on (it stays on in the file) and takes the
	// write lock when a transaction begins, so that a transaction that
	// reads first never has to give up to another process's writer.
	wq := common()
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "synchronous(NORMAL)")
	wq.Add("_pragma", "temp_store(MEMORY)")
	wq.Set("_txlock", "immediate")
	db, err := openPool(path, wq, 1)
	if err != nil {
		if damage(err) {
			why := err
			if inner := errors.Unwrap(err); inner != nil {
				why = inner
			}
			return nil, &DamagedError{Path: path, Why: why.Error()}
		}
		return nil, err
	}
	s := &Store{db: db, path: path}
	if err := s.quickCheck(); err != nil {
		s.Close()
		return nil, err
	}
	if existed {
		// A copy before the tables change, and a copy a day.
		var version int
		if err := db.Raw("PRAGMA user_version").Scan(&version).Error; err != nil {
			s.Close()
			return nil, fmt.Errorf("read the schema version of %s: %w", path, err)
		}
		if version < schemaVersion {
			if _, err := s.Backup(context.Background(), fmt.Sprintf("before-migration-to-v%d", schemaVersion)); err != nil {
				s.Close()
				return nil, err
			}
		} else if _, err := s.BackupIfDue(context.Background()); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := db.AutoMigrate(&Site{}, &System{}, &Server{}, &model.ActionRecord{}, &model.AuditRecord{}, &model.Event{}, &AlertSettingsRecord{}, &model.OutboxMessage{}, &model.OutboxEvent{}, &model.ProcedureRun{}, &model.ProcedureStepRecord{}, &model.ProcedureAction{}, &model.ProcedureDeviation{}); err != nil {
		s.Close()
		if damage(err) {
			return nil, &DamagedError{Path: path, Why: err.Error()}
		}
		return nil, fmt.Errorf("prepare store %s: %w", path, err)
	}
	if err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)).Error; err != nil {
		s.Close()
		return nil, fmt.Errorf("record the schema version of %s: %w", path, err)
	}
	// Readers are opened once the writer has made the file and its
	// tables; query_only makes a write sent to them by mistake fail
	// loudly instead of competing with the writer.
	rq := common()
	rq.Add("_pragma", "query_only(1)")
	if s.read, err = openPool(path, rq, readers); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// markSeenChunk bounds the servers of one MarkSeen statement, well within
// SQLite's limit on parameters.
const markSeenChunk = 500

func (srv *Server) view() model.ServerView {
	v := model.ServerView{
		ID:              srv.AgentID,
		Name:            srv.Name,
		Profile:         srv.Profile,
		Role:            srv.Role,
		VendorRole:      srv.VendorRole,
		Health:          srv.Health,
		Address:         srv.Address,
		Paired:          srv.Paired,
		LastSeen:        srv.LastSeen,
		LastChange:      srv.LastChange,
		Fingerprint:     srv.Fingerprint,
		IdentityChanged: srv.IdentityChanged,
	}
	if srv.System != nil {
		v.System = srv.System.Name
	}
	if srv.Site != nil {
		v.Site = srv.Site.Name
	}
	return v
}
