//go:build unix

package actions

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// svcScript writes a /bin/sh script into dir and returns its path.
func svcScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// svcEventually polls cond until it holds, for up to a minute: on a loaded
// machine a process takes its time to start and write.
func svcEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// svcReadPID waits for a script to write its pid into path.
func svcReadPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	svcEventually(t, "pid file "+path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

// procAlive reports whether pid is a live process. A zombie is not: the
// processes a test kills may be reparented to an init that never reaps.
func procAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return !os.IsNotExist(err)
	}
	// The state follows the command name, which is in parentheses.
	rest := stat[strings.LastIndexByte(string(stat), ')')+1:]
	return !strings.HasPrefix(strings.TrimSpace(string(rest)), "Z")
}

// stateLog records what a driver reports through onChange.
type stateLog struct {
	mu     sync.Mutex
	states []ServiceState
}

func (l *stateLog) add(s ServiceState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.states = append(l.states, s)
}

func (l *stateLog) get() []ServiceState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.states)
}

func svcState(t *testing.T, d Driver) ServiceState {
	t.Helper()
	st, err := d.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// svcSleeper is a service that logs a line, writes its pid and sleeps.
func svcSleeper(t *testing.T) (spec ProcessSpec, pidFile string) {
	dir := t.TempDir()
	pidFile = filepath.Join(dir, "pid")
	script := svcScript(t, dir, "svc-sleeper", `echo "started in $PWD with $VIGIL_TEST"
echo $$ >"$1.tmp" && mv "$1.tmp" "$1"
exec sleep 1000
`)
	return ProcessSpec{Argv: []string{script, pidFile}, Dir: dir, Env: []string{"VIGIL_TEST=yes"},
		LogFile: filepath.Join(dir, "log")}, pidFile
}

func TestProcessDriverStartStop(t *testing.T) {
	spec, pidFile := svcSleeper(t)
	var log stateLog
	d := NewProcessDriver("sim", spec, log.add)
	defer d.Close()
	ctx := context.Background()

	if got := svcState(t, d); got != ServiceStopped {
		t.Fatalf("new driver: state %s, want stopped", got)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := svcState(t, d); got != ServiceRunning {
		t.Fatalf("after Start: state %s, want running", got)
	}
	pid := svcReadPID(t, pidFile)
	if err := d.Start(ctx); err != nil { // already running: nothing to do
		t.Fatal(err)
	}
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := svcState(t, d); got != ServiceStopped {
		t.Fatalf("after Stop: state %s, want stopped", got)
	}
	if procAlive(pid) {
		t.Errorf("process %d still alive after Stop", pid)
	}
	want := []ServiceState{ServiceRunning, ServiceStopping, ServiceStopped}
	if got := log.get(); !slices.Equal(got, want) {
		t.Errorf("onChange saw %v, want %v", got, want)
	}
	b, err := os.ReadFile(spec.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := "started in " + spec.Dir + " with yes\n"; string(b) != want {
		t.Errorf("log file holds %q, want %q", b, want)
	}
}

// TestProcessDriverStopReturnsAfterStoppedIsDelivered holds onChange inside
// its "stopped" call and checks that Stop waits for it: the agent's status
// stream learns of a service's state through onChange, and a procedure's
// verify step reads that stream right after a stop returns. While onChange
// is held, Stop returning at all is the fault; the hold lasts until the
// test has given a wrongly returning Stop ample time to show itself, so
// the check fails on the first run if the order breaks, and never waits on
// a correct driver for more than that window.
func TestProcessDriverStopReturnsAfterStoppedIsDelivered(t *testing.T) {
	spec, pidFile := svcSleeper(t)
	inStopped := make(chan struct{})
	release := make(chan struct{})
	d := NewProcessDriver("sim", spec, func(s ServiceState) {
		if s == ServiceStopped {
			close(inStopped)
			<-release
		}
	})
	defer d.Close()
	ctx := context.Background()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	svcReadPID(t, pidFile)
	stopped := make(chan error, 1)
	go func() { stopped <- d.Stop(ctx) }()
	select {
	case <-inStopped:
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) before onChange was told the service stopped", err)
	case <-time.After(time.Minute):
		t.Fatal("onChange(stopped) not called within a minute of Stop")
	}
	// onChange is inside its "stopped" call; Stop must still be waiting.
	select {
	case err := <-stopped:
		close(release)
		t.Fatalf("Stop returned (%v) while onChange(stopped) had not returned", err)
	case <-time.After(500 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

func TestProcessDriverKilledFromOutsideIsFailed(t *testing.T) {
	spec, pidFile := svcSleeper(t)
	failed := make(chan struct{})
	var once sync.Once
	d := NewProcessDriver("sim", spec, func(s ServiceState) {
		if s == ServiceFailed {
			once.Do(func() { close(failed) })
		}
	})
	defer d.Close()
	ctx := context.Background()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid := svcReadPID(t, pidFile)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-failed:
	case <-time.After(time.Minute):
		t.Fatal("onChange(failed) not called within a minute of the SIGKILL")
	}
	if got := svcState(t, d); got != ServiceFailed {
		t.Fatalf("state %s, want failed", got)
	}
	// Stopping a failed service acknowledges it; it can then start again.
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := svcState(t, d); got != ServiceStopped {
		t.Fatalf("after Stop: state %s, want stopped", got)
	}
	os.Remove(pidFile)
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if pid2 := svcReadPID(t, pidFile); pid2 == pid {
		t.Errorf("restart reused pid %d", pid)
	}
}

func TestProcessDriverExitOnItsOwnIsFailed(t *testing.T) {
	dir := t.TempDir()
	for _, code := range []string{"0", "3"} {
		d := NewProcessDriver("sim", ProcessSpec{Argv: []string{svcScript(t, dir, "svc-exit", "exit $1\n"), code}}, nil)
		if err := d.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		svcEventually(t, "exit "+code+" to show as failed", func() bool { return svcState(t, d) == ServiceFailed })
		d.Close()
	}
}

func TestProcessDriverKillsWhatIgnoresSIGTERM(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	script := svcScript(t, dir, "svc-stubborn", `trap '' TERM
sleep 1000 &
echo $! >"$1.tmp" && mv "$1.tmp" "$1"
wait
`)
	d := NewProcessDriver("sim", ProcessSpec{Argv: []string{script, ready}, StopTimeout: 300 * time.Millisecond}, nil)
	defer d.Close()
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	child := svcReadPID(t, ready) // the trap is set by now

	begin := time.Now()
	if err := d.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < 300*time.Millisecond {
		t.Errorf("Stop returned after %s, before the stop timeout: SIGTERM was not ignored?", took)
	}
	if got := svcState(t, d); got != ServiceStopped {
		t.Errorf("state %s, want stopped", got)
	}
	svcEventually(t, "the group's other process to die", func() bool { return !procAlive(child) })
}

func TestProcessDriverStopOutlivesItsContext(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	script := svcScript(t, dir, "svc-stubborn", "trap '' TERM\necho $$ >\"$1.tmp\" && mv \"$1.tmp\" \"$1\"\nwhile :; do sleep 0.05; done\n")
	d := NewProcessDriver("sim", ProcessSpec{Argv: []string{script, ready}, StopTimeout: 400 * time.Millisecond}, nil)
	defer d.Close()
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid := svcReadPID(t, ready)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := d.Stop(ctx)
	if err == nil || !strings.Contains(err.Error(), "has not exited yet") {
		t.Fatalf("Stop with a short context: %v, want an error saying it has not exited yet", err)
	}
	if got := svcState(t, d); got != ServiceStopping {
		t.Errorf("state %s, want stopping", got)
	}
	if err := d.Start(context.Background()); err == nil {
		t.Error("Start while the old process is stopping succeeded")
	}
	// The kill still comes, though the caller has gone.
	svcEventually(t, "the process to be killed after the stop timeout", func() bool {
		return svcState(t, d) == ServiceStopped && !procAlive(pid)
	})
}

func TestProcessDriverKillsLeftoversOfACrash(t *testing.T) {
	dir := t.TempDir()
	childFile := filepath.Join(dir, "child")
	script := svcScript(t, dir, "svc-forker", `sleep 1000 &
echo $! >"$1.tmp" && mv "$1.tmp" "$1"
sleep 0.2
exit 1
`)
	d := NewProcessDriver("sim", ProcessSpec{Argv: []string{script, childFile}}, nil)
	defer d.Close()
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	child := svcReadPID(t, childFile)
	svcEventually(t, "failed", func() bool { return svcState(t, d) == ServiceFailed })
	svcEventually(t, "the crashed service's child to be killed", func() bool { return !procAlive(child) })
}

func TestProcessDriverStartErrors(t *testing.T) {
	d := NewProcessDriver("sim", ProcessSpec{Argv: []string{filepath.Join(t.TempDir(), "missing")}}, nil)
	defer d.Close()
	err := d.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "start service sim") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Start of a missing program: %v, want an error naming the service and the program", err)
	}
	if got := svcState(t, d); got != ServiceStopped {
		t.Errorf("state %s after a failed spawn, want stopped", got)
	}
}

func TestProcessDriverCloseLeavesNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	spec, pidFile := svcSleeper(t)
	d := NewProcessDriver("sim", spec, func(ServiceState) {})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid := svcReadPID(t, pidFile)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if procAlive(pid) {
		t.Errorf("process %d alive after Close", pid)
	}
	if err := d.Start(context.Background()); err == nil {
		t.Error("Start after Close succeeded")
	}
	svcEventually(t, "goroutines to return to their number before the test", func() bool {
		return runtime.NumGoroutine() <= before
	})
}

// TestProcessDriverDiesWithAgent re-runs this test binary as a stand-in
// agent that starts a service, kills that agent with SIGKILL, and checks
// that the service does not run on without it.
func TestProcessDriverDiesWithAgent(t *testing.T) {
	if pidFile := os.Getenv("VIGIL_TEST_AGENT_PIDFILE"); pidFile != "" {
		d := NewProcessDriver("sim", ProcessSpec{Argv: []string{os.Getenv("VIGIL_TEST_AGENT_SERVICE"), pidFile}}, nil)
		if err := d.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute) // until the test kills this process
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("only Linux signals a process whose parent died")
	}
	spec, pidFile := svcSleeper(t)
	agent := exec.Command(os.Args[0], "-test.run=^TestProcessDriverDiesWithAgent$")
	agent.Env = append(os.Environ(), "VIGIL_TEST_AGENT_PIDFILE="+pidFile, "VIGIL_TEST_AGENT_SERVICE="+spec.Argv[0])
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	pid := svcReadPID(t, pidFile)
	agent.Process.Kill()
	agent.Wait()
	svcEventually(t, "the service to end with its agent", func() bool { return !procAlive(pid) })
}
