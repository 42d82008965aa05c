package ui

import (
	"errors"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
)

// The recovery window offers the backup only when there is one, says
// what went wrong when a way back fails, and lets the operator try again.
func TestStoreRecovery(t *testing.T) {
	test.NewTempApp(t)
	var restored, reset int
	r := StoreRecovery{Path: "/data/vigil.db", Why: "file is not a database (26)", Backup: "08 Dec 01:40 (3 h, daily)",
		Restore: func() error { restored++; return errors.New("restore from /data/backups/x.db: permission denied") },
		Reset:   func() error { reset++; return nil },
		Quit:    func() {}}
	v := newStoreRecoveryView(r)
	if v.restore.Disabled() || !strings.Contains(v.restore.Text, "08 Dec 01:40") {
		t.Errorf("restore button %q disabled %v", v.restore.Text, v.restore.Disabled())
	}
	test.Tap(v.restore)
	if restored != 1 || !strings.Contains(v.result.Text, "permission denied") || v.restore.Disabled() || v.reset.Disabled() {
		t.Errorf("after a failed restore: called %d, says %q, buttons disabled %v %v", restored, v.result.Text, v.restore.Disabled(), v.reset.Disabled())
	}
	test.Tap(v.reset)
	if reset != 1 || !v.reset.Disabled() {
		t.Errorf("after a reset that worked: called %d, reset disabled %v", reset, v.reset.Disabled())
	}

	r.Backup, r.Restore = "", nil
	if v := newStoreRecoveryView(r); !v.restore.Disabled() {
		t.Error("without a backup, restore can be pressed")
	}
}
