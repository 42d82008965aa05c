//go:build unix

package actions

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// simServices declares one supervised service, "sim", and returns its
// executors, its driver and the file its pid is written to.
func simServices(t *testing.T) (map[string]Executor, *ProcessDriver, string) {
	t.Helper()
	spec, pidFile := svcSleeper(t)
	d := NewProcessDriver("sim", spec, nil)
	t.Cleanup(func() { d.Close() })
	return NewServices([]Service{{Name: "sim", Driver: d}}).Executors(), d, pidFile
}

func svcDo(t *testing.T, e Executor, params map[string]string, dryRun bool) Outcome {
	t.Helper()
	out, err := e.Do(context.Background(), params, dryRun)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var simParams = map[string]string{"service": "sim"}

func TestServiceStartStopOutcomes(t *testing.T) {
	ex, d, pidFile := simServices(t)
	steps := []struct {
		action string
		want   Outcome
		state  ServiceState
	}{
		{ServiceStart, Outcome{Changed: true, Diff: "service sim: stopped -> running"}, ServiceRunning},
		{ServiceStart, Outcome{}, ServiceRunning},
		{ServiceStatus, Outcome{Value: "running"}, ServiceRunning},
		{ServiceRestart, Outcome{Changed: true, Diff: "service sim: running -> restarted"}, ServiceRunning},
		{ServiceStop, Outcome{Changed: true, Diff: "service sim: running -> stopped"}, ServiceStopped},
		{ServiceStop, Outcome{}, ServiceStopped},
		{ServiceStatus, Outcome{Value: "stopped"}, ServiceStopped},
		{ServiceRestart, Outcome{Changed: true, Diff: "service sim: stopped -> running"}, ServiceRunning},
	}
	for i, s := range steps {
		os.Remove(pidFile)
		// The dry run must describe exactly what the real run then does,
		// and change nothing itself.
		if Mutating(s.action) {
			dry := svcDo(t, ex[s.action], simParams, true)
			if dry != s.want {
				t.Errorf("step %d %s dry run: %+v, want %+v", i, s.action, dry, s.want)
			}
			if _, err := os.Stat(pidFile); err == nil {
				t.Errorf("step %d %s: the dry run started the process", i, s.action)
			}
		}
		if got := svcDo(t, ex[s.action], simParams, false); got != s.want {
			t.Errorf("step %d %s: %+v, want %+v", i, s.action, got, s.want)
		}
		if got := svcState(t, d); got != s.state {
			t.Errorf("step %d %s: state %s, want %s", i, s.action, got, s.state)
		}
		if s.want.Changed && s.state == ServiceRunning {
			svcReadPID(t, pidFile) // a fresh process did start
		}
	}
}

func TestServiceDryRunChangesNothing(t *testing.T) {
	ex, d, pidFile := simServices(t)
	for _, action := range []string{ServiceStart, ServiceRestart} {
		out := svcDo(t, ex[action], simParams, true)
		if !out.Changed {
			t.Errorf("%s dry run on a stopped service: %+v, want a change", action, out)
		}
	}
	// A start sets the driver running before it returns, so the state
	// tells at once whether a dry run started the process.
	if got := svcState(t, d); got != ServiceStopped {
		t.Errorf("state %s after dry runs, want stopped", got)
	}
	if _, err := os.Stat(pidFile); err == nil {
		t.Error("a dry run started the process")
	}
}

func TestServiceFailedCounts(t *testing.T) {
	ex, d, pidFile := simServices(t)
	svcDo(t, ex[ServiceStart], simParams, false)
	pid := svcReadPID(t, pidFile)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	svcEventually(t, "failed", func() bool { return svcState(t, d) == ServiceFailed })
	if got := svcDo(t, ex[ServiceStop], simParams, false); got != (Outcome{}) {
		t.Errorf("stop of a failed service: %+v, want no change", got)
	}
	want := Outcome{Changed: true, Diff: "service sim: failed -> running"}
	if got := svcDo(t, ex[ServiceStart], simParams, false); got != want {
		t.Errorf("start of a failed service: %+v, want %+v", got, want)
	}
}

func TestServiceStopStuckSaysWhere(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	script := svcScript(t, dir, "svc-stubborn", "trap '' TERM\necho $$ >\"$1.tmp\" && mv \"$1.tmp\" \"$1\"\nwhile :; do sleep 0.05; done\n")
	d := NewProcessDriver("stubborn", ProcessSpec{Argv: []string{script, ready}, StopTimeout: time.Second}, nil)
	defer d.Close()
	ex := NewServices([]Service{{Name: "stubborn", Driver: d, Timeout: 200 * time.Millisecond}}).Executors()
	params := map[string]string{"service": "stubborn"}
	svcDo(t, ex[ServiceStart], params, false)
	svcReadPID(t, ready)

	out, err := ex[ServiceStop].Do(context.Background(), params, false)
	if want := "stop service stubborn: still stopping after 200ms (wanted stopped)"; err == nil || err.Error() != want {
		t.Fatalf("stop of a service that ignores SIGTERM past the timeout: %v, want %q", err, want)
	}
	if !out.Changed {
		t.Errorf("outcome %+v: the stop was attempted, so it changed something", out)
	}
	svcEventually(t, "the kill after the stop timeout", func() bool { return svcState(t, d) == ServiceStopped })
}

func TestServiceRefusals(t *testing.T) {
	ex, _, _ := simServices(t)
	for _, action := range []string{ServiceStart, ServiceStop, ServiceRestart, ServiceStatus} {
		_, err := ex[action].Do(context.Background(), map[string]string{"service": "sshd"}, false)
		var refused *RefusedError
		if !errors.As(err, &refused) {
			t.Fatalf("%s of an undeclared service: %v, want a RefusedError", action, err)
		}
		if !strings.Contains(err.Error(), `"sshd"`) || strings.Contains(err.Error(), "sim") {
			t.Errorf("%s refusal %q should name the service asked for and nothing declared", action, err)
		}
		for _, params := range []map[string]string{{}, {"service": "sim", "unit": "sshd.service"}} {
			_, err := ex[action].Do(context.Background(), params, false)
			var bad *ParamError
			if !errors.As(err, &bad) {
				t.Errorf("%s with params %v: %v, want a ParamError", action, params, err)
			}
		}
	}
}

func TestServiceSystemd(t *testing.T) {
	d, dir := fakeSystemd(t, "vendor.service", "inactive")
	ex := NewServices([]Service{{Name: "vendor", Driver: d}}).Executors()
	params := map[string]string{"service": "vendor"}

	want := Outcome{Changed: true, Diff: "service vendor: stopped -> running"}
	if got := svcDo(t, ex[ServiceStart], params, true); got != want {
		t.Errorf("dry start: %+v, want %+v", got, want)
	}
	if got := svcDo(t, ex[ServiceStart], params, false); got != want {
		t.Errorf("start: %+v, want %+v", got, want)
	}
	os.WriteFile(filepath.Join(dir, "fail.vendor.service"), nil, 0o644)
	svcDo(t, ex[ServiceStop], params, false)
	_, err := ex[ServiceStart].Do(context.Background(), params, false)
	if err == nil || !strings.Contains(err.Error(), "control process exited with error code") {
		t.Errorf("start of a unit that fails: %v, want systemctl's explanation", err)
	}
	// systemd leaves a failed unit failed on stop: that is no change.
	if got := svcDo(t, ex[ServiceStop], params, false); got != (Outcome{}) {
		t.Errorf("stop of a failed unit: %+v, want no change", got)
	}
}
