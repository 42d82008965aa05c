package model

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
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
	Role        Role
	VendorRole  string
	Health      Health
	Paired      bool
	// IdentityChanged is set when mDNS or a connection shows another key
	// than the pinned one; pairing again clears it.
	IdentityChanged bool
	FirstSeen       time.Time
	LastSeen        time.Time
	LastChange      time.Time // last time role or health changed
}

// Store keeps the topology in a SQLite file. It is safe for concurrent use,
// and several processes may open the same file: writers wait for each other.
type Store struct {
	db   *gorm.DB
	path string
}

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
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	db, err := gorm.Open(sqlite.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := db.AutoMigrate(&Site{}, &System{}, &Server{}, &ActionRecord{}, &AuditRecord{}, &Event{}, &AlertSettingsRecord{}, &OutboxMessage{}, &OutboxEvent{}, &ProcedureRun{}, &ProcedureStepRecord{}, &ProcedureAction{}, &ProcedureDeviation{}); err != nil {
		s.Close()
		return nil, fmt.Errorf("prepare store %s: %w", path, err)
	}
	return s, nil
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
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Observe records what discovery or a status stream saw of one server and
// returns the server as now stored, and whether its role or health changed.
// Fields left empty in o keep their stored value. Nothing is ever deleted.
func (s *Store) Observe(ctx context.Context, o Observation) (ServerView, bool, error) {
	if o.AgentID == "" {
		return ServerView{}, false, errors.New("observe server: no agent id")
	}
	if o.Time.IsZero() {
		o.Time = time.Now()
	}
	var (
		out     Server
		changed bool
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var srv Server
		err := tx.Where("agent_id = ?", o.AgentID).Limit(1).Find(&srv).Error
		if err != nil {
			return err
		}
		isNew := srv.ID == 0
		if isNew {
			srv = Server{AgentID: o.AgentID, Name: o.AgentID, Role: RoleUnknown, Health: HealthUnknown, FirstSeen: o.Time}
		}
		if o.System != "" {
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
			srv.SystemID = &sys.ID
		}
		if o.Site != "" {
			site, err := findOrCreate(tx, &Site{Name: o.Site}, "name = ?", o.Site)
			if err != nil {
				return err
			}
			srv.SiteID = &site.ID
		}
		setIf(&srv.Name, o.Name)
		setIf(&srv.Profile, o.Profile)
		setIf(&srv.Address, o.Address)
		if !srv.Paired {
			// Until pairing pins a key, the latest announcement is all there is.
			setIf(&srv.Fingerprint, o.Fingerprint)
		}
		setIf(&srv.VendorRole, o.VendorRole)
		if o.Role != "" && o.Role != srv.Role {
			srv.Role, changed = o.Role, true
		}
		if o.Health != "" && o.Health != srv.Health {
			srv.Health, changed = o.Health, true
		}
		if changed || isNew {
			srv.LastChange = o.Time
		}
		// A reachable server is seen now; a report that it went away is not a sighting.
		if o.Health != HealthDown && o.Health != HealthUnreachable && o.Time.After(srv.LastSeen) {
			srv.LastSeen = o.Time
		}
		if err := tx.Omit(clause.Associations).Save(&srv).Error; err != nil {
			return err
		}
		return tx.Preload("System").Preload("Site").First(&out, srv.ID).Error
	})
	if err != nil {
		return ServerView{}, false, fmt.Errorf("record server %s in %s: %w", o.AgentID, s.path, err)
	}
	return out.view(), changed, nil
}

// SetPaired records that the console paired with the server and pinned its
// full key fingerprint; it clears any earlier identity change.
func (s *Store) SetPaired(ctx context.Context, agentID, fingerprint string) (ServerView, error) {
	res := s.db.WithContext(ctx).Model(&Server{}).Where("agent_id = ?", agentID).
		Updates(map[string]any{"paired": true, "fingerprint": fingerprint, "identity_changed": false})
	if res.Error != nil {
		return ServerView{}, fmt.Errorf("record pairing of %s in %s: %w", agentID, s.path, res.Error)
	}
	if res.RowsAffected == 0 {
		return ServerView{}, fmt.Errorf("record pairing of %s in %s: no such server", agentID, s.path)
	}
	return s.Server(ctx, agentID)
}

// SetIdentityChanged marks a paired server whose key no longer matches.
func (s *Store) SetIdentityChanged(ctx context.Context, agentID string) (ServerView, error) {
	err := s.db.WithContext(ctx).Model(&Server{}).Where("agent_id = ?", agentID).
		Update("identity_changed", true).Error
	if err != nil {
		return ServerView{}, fmt.Errorf("record identity change of %s in %s: %w", agentID, s.path, err)
	}
	return s.Server(ctx, agentID)
}

// SetHealthAll sets the health of every server, for example to unknown when
// the console starts and has not yet heard from anyone.
func (s *Store) SetHealthAll(ctx context.Context, h Health) error {
	err := s.db.WithContext(ctx).Model(&Server{}).Where("health <> ?", h).
		Updates(map[string]any{"health": h}).Error
	if err != nil {
		return fmt.Errorf("reset health in %s: %w", s.path, err)
	}
	return nil
}

// Servers lists every stored server, ordered by system and name.
func (s *Store) Servers(ctx context.Context) ([]ServerView, error) {
	var rows []Server
	err := s.db.WithContext(ctx).Preload("System").Preload("Site").
		Joins("LEFT JOIN systems ON systems.id = servers.system_id").
		Order("systems.name, servers.name").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list servers in %s: %w", s.path, err)
	}
	out := make([]ServerView, len(rows))
	for i := range rows {
		out[i] = rows[i].view()
	}
	return out, nil
}

// Server returns one server by agent id.
func (s *Store) Server(ctx context.Context, agentID string) (ServerView, error) {
	var srv Server
	err := s.db.WithContext(ctx).Preload("System").Preload("Site").
		Where("agent_id = ?", agentID).First(&srv).Error
	if err != nil {
		return ServerView{}, fmt.Errorf("server %s in %s: %w", agentID, s.path, err)
	}
	return srv.view(), nil
}

// Check runs SQLite's integrity check and returns an error unless it is ok.
func (s *Store) Check(ctx context.Context) error {
	var res []string
	if err := s.db.WithContext(ctx).Raw("PRAGMA integrity_check").Scan(&res).Error; err != nil {
		return fmt.Errorf("integrity check of %s: %w", s.path, err)
	}
	if len(res) != 1 || res[0] != "ok" {
		return fmt.Errorf("integrity check of %s failed: %v", s.path, res)
	}
	return nil
}

func (srv *Server) view() ServerView {
	v := ServerView{
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

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}
