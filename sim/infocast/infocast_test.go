package infocast_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/sim"
	"github.com/vigilops/vigil/sim/infocast"
	"github.com/vigilops/vigil/sim/simtest"
)

const (
	a, b = "infocast-a", "infocast-b"
	svc  = infocast.ServiceName
)

func is(role model.Role) func(actions.Status) bool {
	return func(st actions.Status) bool { return st.Role == string(role) }
}

// following says the server is Secondary and its log names coordinator as
// the Primary/coordinator.
func following(coordinator string) func(actions.Status) bool {
	return func(st actions.Status) bool {
		return st.Role == string(model.RoleStandby) && st.Facts["coordinator"] == coordinator
	}
}

// act performs an action that must succeed and returns its outcome.
func act(t *testing.T, f *simtest.Fleet, member, action string, params map[string]string) actions.Outcome {
	t.Helper()
	res := f.Do(member, action, params)
	if res.State != actions.StateDone || res.Outcome == nil {
		t.Fatalf("%s on %s %v: %s: %s", action, member, params, res.State, res.Error)
	}
	return *res.Outcome
}

// timeoutOf reads <failover><timeout> through the agent.
func timeoutOf(t *testing.T, f *simtest.Fleet, member string) time.Duration {
	t.Helper()
	res := act(t, f, member, "settings.get", map[string]string{"dir": "infocast-conf", "path": "infocast.xml", "key": "infocast/failover/timeout"})
	ms, err := strconv.Atoi(res.Value)
	if err != nil {
		t.Fatalf("timeout of %s: %q: %v", member, res.Value, err)
	}
	return time.Duration(ms) * time.Millisecond
}

// gms is the server's own group address, from its log's "GMS: address is".
func gms(t *testing.T, f *simtest.Fleet, member string) string {
	t.Helper()
	st := f.Await(member, member+" logs its GMS address", func(st actions.Status) bool { return st.Facts["gms_address"] != "" })
	return st.Facts["gms_address"]
}

// stays checks, polling all along, that member keeps a role for d. The
// hold is the behaviour under test (a server that hears its Primary does
// not take over, for several timeouts), so it is a time, but not a wait
// followed by a check: these fleets run at speed 1, so d is the
// simulation's own time, and a poll slowed by a busy machine only makes the
// hold longer.
func stays(t *testing.T, f *simtest.Fleet, member string, d time.Duration, what string, ok func(actions.Status) bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if st := f.Status(member); !ok(st) {
			t.Fatalf("%s: %s is now %s (%s), facts %v", what, member, st.Role, st.VendorRole, st.Facts)
		}
	}
}

// logRSS logs the resident memory of member's simulated service.
func logRSS(t *testing.T, f *simtest.Fleet, member string) {
	pid, err := os.ReadFile(sim.PIDFile(f.Member(member).StateDir, svc))
	if err != nil {
		return
	}
	if out, err := exec.Command("ps", "-o", "rss=", "-p", strings.TrimSpace(string(pid))).Output(); err == nil {
		t.Logf("RSS of %s on %s: %s kB", svc, member, strings.TrimSpace(string(out)))
	}
}

// TestFirstStartedIsPrimary follows the document through the agent API: the
// first server to start becomes the Primary, the other finds it and is
// Secondary; when the Primary dies the Secondary takes over (how soon is
// logged: on a loaded machine it says more about the machine); the server
// that comes back finds that Primary and stays Secondary. A SIGKILLed
// service shows as failed while its agent keeps answering.
func TestFirstStartedIsPrimary(t *testing.T) {
	t.Parallel()
	f := simtest.Start(t, 1, "infocast")
	timeout := timeoutOf(t, f, a)
	t.Logf("configured <failover><timeout>: %v", timeout)

	for _, m := range []string{a, b} {
		act(t, f, m, "service.stop", map[string]string{"service": svc})
	}
	for _, m := range []string{a, b} {
		f.Await(m, m+" stopped", is(model.RoleOutOfService))
	}

	start := time.Now()
	act(t, f, a, "service.start", map[string]string{"service": svc})
	st := f.Await(a, "A, started alone, becomes Primary", is(model.RolePrimary))
	t.Logf("A primary %v after its start (vendor role %q)", time.Since(start).Round(time.Millisecond), st.VendorRole)
	addrA := gms(t, f, a)
	if st := f.Await(a, "A, Primary, processes bootcasts", func(st actions.Status) bool { return st.Facts["last_bootcast"] != "" }); st.Facts["coordinator"] != addrA {
		t.Fatalf("A's log names %q as Primary/coordinator; its own address is %q", st.Facts["coordinator"], addrA)
	}

	act(t, f, b, "service.start", map[string]string{"service": svc})
	st = f.Await(b, "B, started second, is Secondary following A", following(addrA))
	if st.VendorRole != "Secondary" {
		t.Errorf("B's vendor role is %q; want Secondary", st.VendorRole)
	}
	addrB := gms(t, f, b)
	f.Await(b, "B sees both servers in the view", func(st actions.Status) bool { return st.Facts["group_members"] == "2" })
	stays(t, f, a, 2*timeout, "A stays Primary while B runs", is(model.RolePrimary))
	if st := f.Status(b); st.Facts["last_bootcast"] != "" || st.FactErrors["last_bootcast"] == "" {
		t.Errorf("B, Secondary, processed %q; only the Primary transmits", st.Facts["last_bootcast"])
	}

	// The Primary crashes.
	killed := time.Now()
	f.Crash(a, svc)
	f.Await(a, "A, killed with SIGKILL, shows as failed", func(st actions.Status) bool {
		return st.Role == string(model.RoleFailed) && st.Services[svc] == string(actions.ServiceFailed)
	})
	t.Logf("A failed in its agent's status %v after SIGKILL", time.Since(killed).Round(time.Millisecond))
	logRSS(t, f, b)
	f.Await(b, "B takes over", is(model.RolePrimary))
	t.Logf("B primary %v after A was killed (timeout %v)", time.Since(killed).Round(time.Millisecond), timeout)
	f.Await(b, "B, Primary, names itself and processes bootcasts", func(st actions.Status) bool {
		return st.Facts["coordinator"] == addrB && st.Facts["last_bootcast"] != ""
	})

	// A comes back.
	act(t, f, a, "service.start", map[string]string{"service": svc})
	f.Await(a, "A, back, is Secondary following B", following(addrB))
	stays(t, f, a, 3*timeout, "A stays Secondary", following(addrB))
	stays(t, f, b, timeout, "B stays Primary", is(model.RolePrimary))
}

// TestTimeoutFromSettings changes <failover><timeout> with settings.set, as
// an operator would, and the Secondary then takes over after the new
// timeout. A configuration the server cannot use makes the service fail.
// It runs beside the other test: two fleets must not hear each other.
func TestTimeoutFromSettings(t *testing.T) {
	t.Parallel()
	f := simtest.Start(t, 1, "infocast")
	var prim, sec string
	f.Await(a, "one Primary after both start", func(st actions.Status) bool {
		sb := f.Status(b)
		switch {
		case st.Role == "primary" && sb.Role == "standby":
			prim, sec = a, b
		case st.Role == "standby" && sb.Role == "primary":
			prim, sec = b, a
		default:
			return false
		}
		return true
	})
	t.Logf("both started together: %s is Primary, %s Secondary", prim, sec)
	for _, m := range []string{a, b} {
		f.Await(m, m+" sees only its own fleet's two servers", func(st actions.Status) bool { return st.Facts["group_members"] == "2" })
	}

	// The Primary reboots: the Secondary makes itself Primary, and the
	// rebooted server comes back as Secondary.
	restarted := time.Now()
	act(t, f, prim, "service.restart", map[string]string{"service": svc})
	f.Await(sec, "the Secondary takes over when the Primary restarts", is(model.RolePrimary))
	t.Logf("takeover %v after the restart began", time.Since(restarted).Round(time.Millisecond))
	prim, sec = sec, prim
	f.Await(sec, "the restarted server is Secondary", following(gms(t, f, prim)))

	set := func(m, key, value string) actions.Outcome {
		return act(t, f, m, "settings.set", map[string]string{"dir": "infocast-conf", "path": "infocast.xml", "key": "infocast/failover/" + key, "value": value})
	}
	for _, m := range []string{a, b} {
		if res := set(m, "timeout", "1500"); !res.Changed {
			t.Fatalf("settings.set timeout on %s changed nothing: %+v", m, res)
		}
	}
	f.Await(sec, "the new timeout is a fact", func(st actions.Status) bool { return st.Facts["failover_timeout"] == "1500" })
	act(t, f, sec, "service.restart", map[string]string{"service": svc})
	addrP := gms(t, f, prim)
	f.Await(sec, "the restarted Secondary finds the Primary", following(addrP))

	killed := time.Now()
	f.Crash(prim, svc)
	f.Await(prim, "the killed Primary shows as failed", is(model.RoleFailed))
	f.Await(sec, "the Secondary takes over with the new timeout", is(model.RolePrimary))
	t.Logf("takeover %v after the kill with timeout 1500 ms", time.Since(killed).Round(time.Millisecond))

	// An address that is not multicast: the server refuses to start.
	set(prim, "address", "10.0.0.1")
	act(t, f, prim, "service.start", map[string]string{"service": svc})
	f.Await(prim, "a server with a unicast failover address fails", func(st actions.Status) bool {
		return st.Services[svc] == string(actions.ServiceFailed) && st.Role == string(model.RoleFailed)
	})
	f.Await(prim, "the bad address is a fact", func(st actions.Status) bool { return st.Facts["failover_address"] == "10.0.0.1" })
}
