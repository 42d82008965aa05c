package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/store"
)

// agentProc is an agent process a test started; its role is a file.
type agentProc struct {
	name, roleFile string
	cmd            *exec.Cmd
}

// setRole writes a role agent's role file as a vendor tool should, in one
// step (a new file renamed over the old), so that the agent never reads
// it half written, which would be a role of its own.
func (a *agentProc) setRole(t testing.TB, role string) {
	t.Helper()
	tmp := a.roleFile + ".new"
	if err := os.WriteFile(tmp, []byte(role), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, a.roleFile); err != nil {
		t.Fatal(err)
	}
}

// startRoleAgents runs one agent process per name, all of one k2san
// system, each with role from roles, and pairs the console in data with
// them. The console is closed again, so a CLI command can use data.
func startRoleAgents(t testing.TB, data string, names, roles []string) []*agentProc {
	t.Helper()
	c, _, _ := testConsole(t, data)
	var out []*agentProc
	for i, name := range names {
		dir := filepath.Join(t.TempDir(), name)
		os.MkdirAll(dir, 0o700)
		roleFile := filepath.Join(dir, "role")
		os.WriteFile(roleFile, []byte(roles[i]), 0o644)
		cfg := filepath.Join(dir, "agent.yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf("name: %s\nsystem: watched\nprofile: k2san\nlisten: 127.0.0.1:0\nstate_dir: state\nadvertise: false\nrole_file: role\n", name)), 0o644)
		_, cmd := startPairedAgent(t, c, cfg)
		out = append(out, &agentProc{name: name, roleFile: roleFile, cmd: cmd})
	}
	c.Close()
	return out
}

// startWatch runs `vigil watch --json` on data and hands on each event it
// prints; a line that is not JSON is an error of the test.
func startWatch(t *testing.T, data string) (*exec.Cmd, <-chan map[string]any) {
	t.Helper()
	cmd := exec.Command(vigilBin, "watch", "--json", "--data", data)
	cmd.Stderr = &testWriter{t: t, prefix: "watch: "}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGCONT); cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("watch printed a line that is not JSON: %q", sc.Text())
				continue
			}
			lines <- m
		}
		close(lines)
	}()
	return cmd, lines
}

// TestWatchPrintsEvents runs `vigil watch --json` and shows the events of
// a split brain, a frozen agent, a killed agent, each once and in
// DESIGN.md's shape.
func TestWatchPrintsEvents(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	agents := startRoleAgents(t, data, []string{"K2server1", "K2server2"}, []string{"primary", "standby"})

	cmd, lines := startWatch(t, data)
	next := func(what, kind, server string) map[string]any {
		t.Helper()
		timeout := time.After(15 * time.Second)
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatalf("watch ended before %s", what)
				}
				for _, k := range []string{"time", "system", "server", "kind", "severity", "from", "to", "detail"} {
					if _, ok := m[k]; !ok {
						t.Errorf("event %v lacks %q", m, k)
					}
				}
				if m["kind"] == kind && m["server"] == server {
					return m
				}
				t.Logf("event on the way to %s: %v", what, m)
			case <-timeout:
				t.Fatalf("no %s event within 15 s", what)
			}
		}
	}
	// vigil watch subscribes before its console hears anything, and the
	// split brain is an event however late it hears the agents: no wait
	// is needed before the flip.
	agents[1].setRole(t, "primary")
	e := next("split brain", model.EventSplitBrain, "")
	if e["severity"] != "critical" || e["system"] != "watched" || e["to"] != "split-brain" ||
		!strings.Contains(e["detail"].(string), "K2server1 and K2server2 claim primary") {
		t.Errorf("split-brain event %v", e)
	}
	agents[0].setRole(t, "standby")
	// K2server1 stepped down to standby and K2server2 stays primary: the
	// system is healthy again.
	if e := next("split brain resolved", string(model.VerdictHealthy), ""); e["from"] != "split-brain" || e["severity"] != "info" {
		t.Errorf("the verdict after the split brain %v", e)
	}

	agents[0].cmd.Process.Signal(syscall.SIGSTOP)
	e = next("silent loss of a frozen agent", model.EventUnreachable, "K2server1")
	if e["severity"] != "warning" {
		t.Errorf("unreachable event %v", e)
	}
	agents[0].cmd.Process.Signal(syscall.SIGCONT)
	next("frozen agent back", model.EventUp, "K2server1")

	killed := time.Now()
	agents[1].cmd.Process.Kill()
	e = next("a killed agent", model.EventDown, "K2server2")
	t.Logf("down event %v after SIGKILL", time.Since(killed).Round(time.Millisecond))
	if e["severity"] != "critical" || e["from"] != "up" || e["to"] != "down" {
		t.Errorf("down event %v", e)
	}

	// Every event printed is also in the store.
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	s, err := store.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := s.Events(context.Background(), model.EventFilter{Server: "K2server2", Kinds: []string{model.EventDown}})
	if err != nil || len(evs) != 1 {
		t.Errorf("stored down events of K2server2: %d (%v), want 1", len(evs), err)
	}
}

func TestDetectionSettingsReachTheMonitor(t *testing.T) {
	c, err := openConsoleWith(context.Background(), t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)),
		consoleOptions{Heartbeat: 100 * time.Millisecond, Misses: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.mon.Silence != 600*time.Millisecond {
		t.Errorf("silence = %v, want 6 missed heartbeats of 100ms", c.mon.Silence)
	}
	if _, err := openConsoleWith(context.Background(), t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)),
		consoleOptions{Misses: 101}); err == nil || !strings.Contains(err.Error(), "--misses") {
		t.Errorf("101 misses: err = %v, want one naming --misses", err)
	}
}

// TestFrozenConsoleRaisesNoAlarm: a console that the machine does not run
// for a while (a loaded machine; here `vigil watch` is stopped for 3 s)
// finds the agents' heartbeats waiting unread when it runs again: its
// overdue silence timers must not call the agents lost before it reads
// them. The agents kept running all along.
func TestFrozenConsoleRaisesNoAlarm(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	agents := startRoleAgents(t, data, []string{"K2server1", "K2server2"}, []string{"primary", "standby"})

	cmd, lines := startWatch(t, data)
	// until reads events up to one of kind, and returns those before it.
	until := func(what, kind string) []map[string]any {
		t.Helper()
		var before []map[string]any
		timeout := time.After(time.Minute)
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatalf("watch ended before %s", what)
				}
				if m["kind"] == kind {
					return before
				}
				before = append(before, m)
			case <-timeout:
				t.Fatalf("no %s within a minute", what)
			}
		}
	}
	// A split brain and its end prove that watch hears both agents.
	agents[1].setRole(t, "primary")
	until("the split brain", model.EventSplitBrain)
	agents[1].setRole(t, "standby")
	until("the split brain's end", string(model.VerdictHealthy))

	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Three silence allowances' worth of heartbeats pile up unread. The
	// wait is the point of the test, not a guess at how long something
	// takes.
	time.Sleep(3 * time.Second)
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// The next split brain is the barrier: whatever watch made of the
	// freeze is printed before it.
	agents[1].setRole(t, "primary")
	for _, e := range until("a split brain after the freeze", model.EventSplitBrain) {
		switch e["kind"] {
		case model.EventUnreachable, model.EventDown, model.EventSilent, model.EventFlapping:
			t.Errorf("the console's own freeze was taken for the agents': %v", e)
		}
	}
}
