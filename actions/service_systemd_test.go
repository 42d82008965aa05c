//go:build unix

package actions

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSystemd copies testdata/svc-systemctl, a stand-in for systemctl, into
// a directory of its own, gives unit the ActiveState active (unless it is
// empty: then systemd does not know the unit), and returns a driver that
// uses it along with that directory.
func fakeSystemd(t *testing.T, unit, active string) (*SystemdDriver, string) {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "svc-systemctl"))
	if err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "systemctl")
	if err := os.WriteFile(prog, src, 0o755); err != nil {
		t.Fatal(err)
	}
	if active != "" {
		if err := os.WriteFile(filepath.Join(dir, "state."+unit), []byte(active+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := NewSystemdDriver(unit)
	d.Systemctl = prog
	return d, dir
}

func systemctlCalls(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "argv.log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestSystemdDriverStates(t *testing.T) {
	for active, want := range map[string]ServiceState{
		"active":       ServiceRunning,
		"reloading":    ServiceRunning,
		"inactive":     ServiceStopped,
		"failed":       ServiceFailed,
		"activating":   ServiceStarting,
		"deactivating": ServiceStopping,
		"maintenance":  ServiceUnknown,
	} {
		d, dir := fakeSystemd(t, "vendor.service", active)
		if got := svcState(t, d); got != want {
			t.Errorf("ActiveState=%s: state %s, want %s", active, got, want)
		}
		want := []string{"show -p LoadState,ActiveState,SubState -- vendor.service"}
		if got := systemctlCalls(t, dir); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("systemctl called with %q, want %q", got, want)
		}
	}
}

func TestSystemdDriverStartStop(t *testing.T) {
	d, dir := fakeSystemd(t, "getty@tty1.service", "inactive")
	ctx := context.Background()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := svcState(t, d); got != ServiceRunning {
		t.Errorf("after Start: %s, want running", got)
	}
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := svcState(t, d); got != ServiceStopped {
		t.Errorf("after Stop: %s, want stopped", got)
	}
	want := []string{
		"start --no-ask-password -- getty@tty1.service",
		"show -p LoadState,ActiveState,SubState -- getty@tty1.service",
		"stop --no-ask-password -- getty@tty1.service",
		"show -p LoadState,ActiveState,SubState -- getty@tty1.service",
	}
	if got := systemctlCalls(t, dir); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("systemctl calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSystemdDriverErrors(t *testing.T) {
	d, _ := fakeSystemd(t, "nosuch.service", "")
	if _, err := d.State(context.Background()); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("State of an unknown unit: %v, want a not-found error", err)
	}
	err := d.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Unit nosuch.service not found.") {
		t.Errorf("Start of an unknown unit: %v, want systemctl's stderr in it", err)
	}
}

func TestSystemdDriverRefusesOptionLikeUnits(t *testing.T) {
	for _, unit := range []string{"", "-H", "--host=evil", "a b", "a;reboot", "a/b", `a\x2d`, "unit\n"} {
		d, dir := fakeSystemd(t, "vendor.service", "active")
		d.Unit = unit
		ctx := context.Background()
		_, stateErr := d.State(ctx)
		for _, err := range []error{stateErr, d.Start(ctx), d.Stop(ctx)} {
			if err == nil || !strings.Contains(err.Error(), "not a systemd unit name") {
				t.Errorf("unit %q: %v, want a refusal", unit, err)
			}
		}
		if calls := systemctlCalls(t, dir); calls != nil {
			t.Errorf("unit %q: systemctl was run: %q", unit, calls)
		}
	}
	for _, unit := range []string{"vendor.service", "getty@tty1.service", "sys-dev:x_y.mount", "a-b"} {
		if err := ValidUnit(unit); err != nil {
			t.Errorf("ValidUnit(%q): %v", unit, err)
		}
	}
}
