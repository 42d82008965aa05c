package app

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/sim"
	"github.com/vigilops/vigil/sim/fleet"
)

// wavestoreFleet runs a simulated Wavestore 2+1 system and waits until it
// has settled: each physical server hosts its logical server, the standby
// stands by, and every server has heard every other.
func wavestoreFleet(t *testing.T, speed int) ([]fleet.Member, string, *agents) {
	t.Helper()
	members, data := procedureFleet(t, "wavestore", speed)
	ag := newAgents(t, data, members)
	deadline := time.Now().Add(30 * time.Second)
	heard := func() bool {
		for _, m := range members {
			if p := ag.status(m.Name).Facts["failover_peers"]; p == "" || strings.Contains(p, "not heard") {
				return false
			}
		}
		return true
	}
	for ag.status("ws-standby").Facts["failover_status"] != "a PRIMARY STANDBY server" ||
		ag.status("ws-physical-1").Facts["hosted_logical_server"] != "1" ||
		ag.status("ws-physical-2").Facts["hosted_logical_server"] != "2" || !heard() {
		if time.Now().After(deadline) {
			t.Fatal("the wavestore system did not settle")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return members, data, ag
}

// wavestoreRun runs a procedure headless with --yes and returns its output
// and exit status.
func wavestoreRun(t *testing.T, data string, args ...string) (string, int) {
	t.Helper()
	start := time.Now()
	out, errOut, code := vigilRun(t, append(append([]string{"procedure", "run"}, args...), "--yes", "--operator", "e2e", "--data", data)...)
	t.Logf("vigil procedure run %s: exit %d in %v", args[0], code, time.Since(start).Round(time.Millisecond))
	if os.Getenv("WAVESTORE_SHOW") != "" {
		t.Logf("%s", out+errOut)
	}
	return out + errOut, code
}

// crashService kills a member's simulated service with SIGKILL, as a
// hardware failure would end it.
func crashService(t *testing.T, members []fleet.Member, name, service string) {
	t.Helper()
	for _, m := range members {
		if m.Name != name {
			continue
		}
		b, err := os.ReadFile(sim.PIDFile(m.StateDir, service))
		if err != nil {
			t.Fatalf("crash %s on %s: %v", service, name, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("crash %s on %s: pid file: %v", service, name, err)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("crash %s on %s: %v", service, name, err)
		}
		return
	}
	t.Fatalf("no member %s", name)
}

// TestProcedureWavestoreFailback: ws-physical-1's service crashes and the
// standby takes logical server 1 over; the failback procedure brings
// ws-physical-1 back, and its agents show it hosting logical server 1
// again, the standby idle, and the copy-back complete on both sides.
func TestProcedureWavestoreFailback(t *testing.T) {
	t.Parallel()
	members, data, ag := wavestoreFleet(t, 20)
	crashService(t, members, "ws-physical-1", "wavestore")
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := ag.status("ws-standby")
		if st.Role == "primary" && st.Facts["hosted_logical_server"] == "1" && strings.HasPrefix(st.Facts["recording"], "logical server 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby did not take logical server 1 over: %s %v", st.Role, st.Facts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := ag.status("ws-physical-1"); st.Role != "failed" {
		t.Fatalf("ws-physical-1 after its crash: %s", st.Role)
	}
	// Let the standby record some footage for the copy-back: its
	// recorded_until moves on once footage of its own reaches the disks.
	took := ag.status("ws-standby").Facts["recorded_until"]
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if until := ag.status("ws-standby").Facts["recorded_until"]; until != "" && until != took {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby recorded nothing after taking logical server 1 over (recorded_until %q)", took)
		}
	}

	out, code := wavestoreRun(t, data, "wavestore-failback-after-repair", "--system", "wavestore",
		"--param", "server=ws-physical-1", "--param", "standby=ws-standby")
	if code != 0 {
		t.Fatalf("failback: exit %d\n%s", code, out)
	}
	p, s := ag.status("ws-physical-1"), ag.status("ws-standby")
	if p.Role != "primary" || p.Facts["hosted_logical_server"] != "1" || p.Facts["status"] != "0 OK" ||
		!strings.HasPrefix(p.Facts["recording"], "logical server 1") {
		t.Errorf("ws-physical-1 after failback: %s, hosts %s, status %s, recording %s", p.Role, p.Facts["hosted_logical_server"], p.Facts["status"], p.Facts["recording"])
	}
	if s.Role != "standby" || s.Facts["failover_status"] != "a PRIMARY STANDBY server" || s.Facts["hosted_logical_server"] != "none" || s.Facts["recording"] != "no" {
		t.Errorf("ws-standby after failback: %s, %s, hosts %s, recording %s", s.Role, s.Facts["failover_status"], s.Facts["hosted_logical_server"], s.Facts["recording"])
	}
	for _, st := range []struct{ name, state, progress string }{
		{"ws-physical-1", p.Facts["copy_back"], p.Facts["copy_back_progress"]},
		{"ws-standby", s.Facts["copy_back"], s.Facts["copy_back_progress"]},
	} {
		if st.state != "done" || st.progress != "100" {
			t.Errorf("copy-back on %s: %s %s%%", st.name, st.state, st.progress)
		}
	}
	if !strings.Contains(out, "taken its logical server back") {
		t.Errorf("the run never showed the takeback:\n%s", out)
	}
}

// TestProcedureWavestoreConfigure runs the configure-failover procedure
// against a fresh 2+1 system: every requirement check passes, the restart
// of Final Checks step 1 is done through the agents, and afterwards the
// agents show each physical server hosting its logical server again, the
// standby reporting PRIMARY STANDBY in its system log and no failover-check
// issue anywhere. A second fleet has its standby's disk letters changed
// with settings.set: the run stops in preflight, before any restart, with
// the reason, and nothing is restarted.
func TestProcedureWavestoreConfigure(t *testing.T) {
	t.Parallel()
	t.Run("fresh", func(t *testing.T) {
		t.Parallel()
		_, data, ag := wavestoreFleet(t, 20)
		out, code := wavestoreRun(t, data, "wavestore-configure-failover", "--system", "wavestore")
		if code != 0 {
			t.Fatalf("configure failover: exit %d\n%s", code, out)
		}
		for l, n := range []string{"ws-physical-1", "ws-physical-2"} {
			st := ag.status(n)
			if st.Role != "primary" || st.Facts["hosted_logical_server"] != strconv.Itoa(l+1) || st.Facts["failover_check"] != "OK" || st.Facts["log_issues"] != "0" {
				t.Errorf("%s after configure: %s, hosts %s, check %s, issues %s", n, st.Role, st.Facts["hosted_logical_server"], st.Facts["failover_check"], st.Facts["log_issues"])
			}
		}
		s := ag.status("ws-standby")
		if s.Role != "standby" || s.Facts["system_log_failover"] != "a PRIMARY STANDBY server" || s.Facts["failover_check"] != "OK" {
			t.Errorf("ws-standby after configure: %s, log %q, check %s", s.Role, s.Facts["system_log_failover"], s.Facts["failover_check"])
		}
		// Final Checks step 1 restarted every server, through its agent.
		restarts := restartsOf(t, ag, "e2e")
		if len(restarts) != 3 {
			t.Errorf("restarted through the agents: %v, want all three servers", restarts)
		}
		for _, w := range []string{"Must have the same number of disk letters", "Final Checks 3"} {
			if !strings.Contains(out, w) {
				t.Errorf("the run does not show %q:\n%s", w, out)
			}
		}
	})
	t.Run("disk-letters-differ", func(t *testing.T) {
		t.Parallel()
		members, data, ag := wavestoreFleet(t, 20)
		id := ""
		for _, m := range members {
			if m.Name == "ws-standby" {
				id = m.AgentID
			}
		}
		if out, errOut, code := vigilRun(t, "action", id, "settings.set", "dir=config", "path=server.ini", "key=Disks.Letters", "value=A,B,C",
			"--data", data, "--operator", "e2e"); code != 0 {
			t.Fatalf("settings.set on ws-standby: %d\n%s\n%s", code, out, errOut)
		}
		deadline := time.Now().Add(10 * time.Second)
		for ag.status("ws-standby").Facts["disk_letters"] != "A,B,C" {
			if time.Now().After(deadline) {
				t.Fatal("ws-standby's disk_letters never showed A,B,C")
			}
			time.Sleep(100 * time.Millisecond)
		}
		out, code := wavestoreRun(t, data, "wavestore-configure-failover", "--system", "wavestore")
		if code != 1 {
			t.Fatalf("configure failover with different disk letters: exit %d, want 1\n%s", code, out)
		}
		for _, w := range []string{"FAILED step 2 (document Hardware Requirements): ws-physical-1 has disk_letters=A,B, expected A,B,C; ws-physical-2 has disk_letters=A,B, expected A,B,C",
			"Preflight refused the run: nothing was done."} {
			if !strings.Contains(out, w) {
				t.Errorf("the refusal does not say %q:\n%s", w, out)
			}
		}
		if r := restartsOf(t, ag, "e2e"); len(r) != 0 {
			t.Errorf("servers restarted although a check failed: %v", r)
		}
		if st := ag.status("ws-standby"); st.Role != "standby" {
			t.Errorf("ws-standby after the refused run: %s", st.Role)
		}
	})
}

// restartsOf names the servers whose agents audited a service.restart by
// operator, done.
func restartsOf(t *testing.T, ag *agents, operator string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for name, c := range ag.clients {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		entries, err := c.Audit(ctx, 0)
		cancel()
		if err != nil {
			t.Fatalf("audit of %s: %v", name, err)
		}
		for _, e := range entries {
			if e.Operator == operator && e.Action == "service.restart" && e.Result == actions.StateDone {
				out[name] = true
			}
		}
	}
	return out
}
