package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The store's soundness and its way back: Open checks the file before it
// uses it, takes a backup once a day and before a schema migration, and a
// damaged store is set aside (never deleted) for a backup or an empty one.

// Backups and their rotation.
const (
	// BackupDir is where backups are kept, beside the database.
	BackupDir = "backups"
	// keepBackups is how many backups are kept, the newest.
	keepBackups = 10
	// backupEvery is how old the newest backup may grow before Open or
	// the console's daily round takes another.
	backupEvery = 24 * time.Hour
	// backupTimeLayout is the time in a backup's name, UTC.
	backupTimeLayout = "20060102T150405.000000Z"
	// schemaVersion is PRAGMA user_version of a store this program has
	// migrated. Raise it with every change to the tables: Open backs the
	// store up before it migrates one with a lower version.
	schemaVersion = 1
)

// DamagedError says the store's file cannot be used: SQLite does not read
// it as a database, or its quick check finds pages damaged.
type DamagedError struct {
	Path string
	Why  string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("the console store %s is damaged (%s): `vigil store restore` starts again from its newest backup, `vigil store reset` from an empty store; both keep the damaged file aside", e.Path, e.Why)
}

// damage says whether err is SQLite finding the file is no database or is
// damaged (SQLITE_NOTADB, SQLITE_CORRUPT); a busy or locked store is not.
func damage(err error) bool {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() & 0xff {
		case 11, 26: // SQLITE_CORRUPT, SQLITE_NOTADB
			return true
		}
	}
	s := err.Error()
	return strings.Contains(s, "file is not a database") || strings.Contains(s, "disk image is malformed")
}

// quickCheck runs SQLite's quick check on the writer.
func (s *Store) quickCheck() error {
	var rows []string
	if err := s.db.Raw("PRAGMA quick_check").Scan(&rows).Error; err != nil {
		if damage(err) {
			return &DamagedError{Path: s.path, Why: err.Error()}
		}
		return fmt.Errorf("check store %s: %w", s.path, err)
	}
	if len(rows) == 1 && rows[0] == "ok" {
		return nil
	}
	why := strings.Join(rows, "; ")
	if len(why) > 300 {
		why = why[:300] + "…"
	}
	return &DamagedError{Path: s.path, Why: "quick check: " + why}
}

// Backup is one copy of the store.
type Backup struct {
	Path   string
	Time   time.Time // when it was taken
	Reason string    // daily, before-migration, by-hand
	Size   int64
}

// Backups lists the backups of the store in dir, newest first. Files in
// the backup directory that are not backups are left out.
func Backups(dir string) ([]Backup, error) {
	entries, err := os.ReadDir(filepath.Join(dir, BackupDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list backups in %s: %w", filepath.Join(dir, BackupDir), err)
	}
	var out []Backup
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".db")
		if !ok || e.IsDir() {
			continue
		}
		rest, ok := strings.CutPrefix(name, "vigil-")
		if !ok {
			continue
		}
		stamp, reason, _ := strings.Cut(rest, "-")
		at, err := time.Parse(backupTimeLayout, stamp)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, Backup{Path: filepath.Join(dir, BackupDir, e.Name()), Time: at, Reason: reason, Size: info.Size()})
	}
	slices.SortFunc(out, func(a, b Backup) int { return b.Time.Compare(a.Time) })
	return out, nil
}

// Backup copies the store, as it is now, into its backup directory
// (SQLite's VACUUM INTO: a consistent copy while the store is in use), and
// keeps the newest keepBackups.
func (s *Store) Backup(ctx context.Context, reason string) (Backup, error) {
	dir := filepath.Join(filepath.Dir(s.path), BackupDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Backup{}, fmt.Errorf("backup directory %s: %w", dir, err)
	}
	now := time.Now().UTC()
	name := fmt.Sprintf("vigil-%s-%s.db", now.Format(backupTimeLayout), reason)
	final := filepath.Join(dir, name)
	tmp := final + ".partial"
	os.Remove(tmp)
	if err := s.db.WithContext(ctx).Exec("VACUUM INTO ?", tmp).Error; err != nil {
		os.Remove(tmp)
		return Backup{}, fmt.Errorf("back up %s into %s: %w", s.path, dir, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return Backup{}, fmt.Errorf("back up %s: %w", s.path, err)
	}
	info, err := os.Stat(final)
	if err != nil {
		return Backup{}, err
	}
	all, err := Backups(filepath.Dir(s.path))
	if err == nil && len(all) > keepBackups {
		for _, old := range all[keepBackups:] {
			os.Remove(old.Path)
		}
	}
	return Backup{Path: final, Time: now, Reason: reason, Size: info.Size()}, nil
}

// BackupIfDue takes a daily backup when the newest is older than a day (or
// there is none); it reports whether it took one.
func (s *Store) BackupIfDue(ctx context.Context) (bool, error) {
	all, err := Backups(filepath.Dir(s.path))
	if err != nil {
		return false, err
	}
	if len(all) > 0 && time.Since(all[0].Time) < backupEvery {
		return false, nil
	}
	if _, err := s.Backup(ctx, "daily"); err != nil {
		return false, err
	}
	return true, nil
}

// SetAside moves the store in dir (the database and its WAL and shared
// memory files) aside, under names that say when, and returns the new name
// of the database; an empty store is made at the next Open. A missing
// store is not an error: there is nothing to set aside, and it returns "".
func SetAside(dir string) (string, error) {
	path := filepath.Join(dir, DatabaseFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	aside := fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format(backupTimeLayout))
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Rename(path+suffix, aside+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("set %s aside: %w", path+suffix, err)
		}
	}
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("set %s aside: %w", path, err)
	}
	return aside, nil
}

// Restore sets the store in dir aside and puts the backup b in its place.
// It returns where the old store went ("" when there was none).
func Restore(dir string, b Backup) (string, error) {
	in, err := os.Open(b.Path)
	if err != nil {
		return "", fmt.Errorf("restore from %s: %w", b.Path, err)
	}
	defer in.Close()
	aside, err := SetAside(dir)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, DatabaseFile)
	tmp := path + ".restoring"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return aside, fmt.Errorf("restore from %s: %w", b.Path, err)
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return aside, fmt.Errorf("restore from %s: %w", b.Path, err)
	}
	return aside, nil
}
