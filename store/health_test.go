package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilops/vigil/model"
)

// storeWith opens a store in a new directory, records one server and
// closes it, and returns the directory.
func storeWith(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Observe(context.Background(), model.Observation{AgentID: "ag-" + name, Name: name, System: "k2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func servers(t *testing.T, dir string) []string {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, err := s.Servers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range all {
		names = append(names, v.Name)
	}
	return names
}

// A store file that is garbage, or cut short, is reported as damaged,
// naming the file, and never opened as if it were empty.
func TestDamagedStoreIsNamed(t *testing.T) {
	garbage := t.TempDir()
	noise := make([]byte, 20000)
	for i := range noise {
		noise[i] = byte(i*7 + 3)
	}
	os.WriteFile(filepath.Join(garbage, DatabaseFile), noise, 0o600)

	truncated := storeWith(t, "K2server1")
	path := filepath.Join(truncated, DatabaseFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, b[:len(b)/2], 0o600)

	for name, dir := range map[string]string{"garbage": garbage, "truncated": truncated} {
		_, err := Open(dir)
		var damaged *DamagedError
		if !errors.As(err, &damaged) || damaged.Path != filepath.Join(dir, DatabaseFile) {
			t.Errorf("%s: Open = %v, want a DamagedError naming %s", name, err, filepath.Join(dir, DatabaseFile))
			continue
		}
		if !strings.Contains(err.Error(), "vigil store restore") {
			t.Errorf("%s: %v does not say the way back", name, err)
		}
	}
}

// Opening a store of an older schema backs it up first; then a backup a
// day, not at every start; a damaged store restored from its newest
// backup has what that backup had, and the damaged file is kept aside.
func TestBackupsAndRestore(t *testing.T) {
	dir := storeWith(t, "K2server1")
	if all, _ := Backups(dir); len(all) != 0 {
		t.Fatalf("a new store has backups %+v", all)
	}
	// As a store an older program left.
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.db.Exec("PRAGMA user_version = 0")
	s.Close()
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// The first reopening took the day's backup (there was none); the
	// second found an older schema.
	all, err := Backups(dir)
	if err != nil || len(all) != 2 || !strings.HasPrefix(all[0].Reason, "before-migration") || all[1].Reason != "daily" {
		t.Fatalf("after opening an older store: backups %+v, %v; want the day's, then one before the migration", all, err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if all, _ := Backups(dir); len(all) != 2 {
		t.Errorf("opened again within a day: %d backups, want still 2", len(all))
	}
	// A server recorded after the backup is what a restore loses.
	s.Observe(context.Background(), model.Observation{AgentID: "ag-late", Name: "K2server2", System: "k2"})
	s.Close()

	path := filepath.Join(dir, DatabaseFile)
	os.WriteFile(path, []byte("not a database at all, but long enough to be read as one................................................................................................"), 0o600)
	if _, err := Open(dir); !errors.As(err, new(*DamagedError)) {
		t.Fatalf("Open of the damaged store = %v", err)
	}
	aside, err := Restore(dir, all[0])
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(aside); err != nil || !strings.HasPrefix(string(b), "not a database") {
		t.Errorf("the damaged file was not kept aside at %s: %v", aside, err)
	}
	if got := servers(t, dir); len(got) != 1 || got[0] != "K2server1" {
		t.Errorf("restored store holds %v, want [K2server1]", got)
	}

	// Reset: aside again, and an empty store.
	if _, err := SetAside(dir); err != nil {
		t.Fatal(err)
	}
	if got := servers(t, dir); len(got) != 0 {
		t.Errorf("after a reset the store holds %v", got)
	}
}

// Backups beyond the newest keepBackups are removed.
func TestBackupsRotate(t *testing.T) {
	dir := storeWith(t, "K2server1")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range keepBackups + 3 {
		if _, err := s.Backup(context.Background(), "by-hand"); err != nil {
			t.Fatal(err)
		}
	}
	all, err := Backups(dir)
	if err != nil || len(all) != keepBackups {
		t.Fatalf("%d backups, %v; want %d", len(all), err, keepBackups)
	}
	for i := 1; i < len(all); i++ {
		if !all[i-1].Time.After(all[i].Time) {
			t.Errorf("backups not newest first: %v before %v", all[i-1].Time, all[i].Time)
		}
	}
}
