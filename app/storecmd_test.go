package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/store"
)

// A damaged store stops the console with words that say the way back;
// `vigil store check` names the damage and the backups; `vigil store
// restore` sets the damaged file aside and the console opens again with
// what the backup held.
func TestStoreRestoreFromTheCommandLine(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	s, err := store.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	s.Observe(context.Background(), model.Observation{AgentID: "ag-1", Name: "K2server1", System: "k2"})
	s.Close()
	var out, errOut bytes.Buffer
	if code := run([]string{"store", "backup", "--data", data}, &out, &errOut); code != exitOK {
		t.Fatalf("store backup: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	os.WriteFile(filepath.Join(data, store.DatabaseFile), bytes.Repeat([]byte("garbage!"), 4096), 0o600)

	out.Reset()
	errOut.Reset()
	if code := run([]string{"status", "--data", data, "--wait", "0s"}, &out, &errOut); code == exitOK ||
		!strings.Contains(errOut.String(), "is damaged") || !strings.Contains(errOut.String(), "vigil store restore") {
		t.Errorf("status on a damaged store: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run([]string{"store", "check", "--data", data}, &out, &errOut); code == exitOK ||
		!strings.Contains(out.String(), "DAMAGED") || !strings.Contains(out.String(), "by-hand") {
		t.Errorf("store check: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := storeCmd([]string{"restore", "--data", data}, strings.NewReader("n\n"), &out, &errOut); code == exitOK ||
		!strings.Contains(out.String(), "Nothing changed") || !strings.Contains(out.String(), "are lost") {
		t.Errorf("restore, answered no: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := storeCmd([]string{"restore", "--data", data}, strings.NewReader("y\n"), &out, &errOut); code != exitOK {
		t.Fatalf("restore: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "vigil.db.damaged-") {
		t.Errorf("restore does not say where the damaged store went:\n%s", out.String())
	}
	s, err = store.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.FindServer(context.Background(), "K2server1"); err != nil || v.ID != "ag-1" {
		t.Errorf("after the restore: %+v, %v", v, err)
	}
}
