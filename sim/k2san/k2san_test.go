package k2san_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/sim"
	"github.com/vigilops/vigil/sim/k2san"
	"github.com/vigilops/vigil/sim/simtest"
)

// speed runs the simulated clock 20 times faster: the 10 s heartbeat
// timeout lasts half a second, the 30 s qualification 1.5 s.
const speed = 20

const (
	s1 = k2san.Server1
	s2 = k2san.Server2
	ms = k2san.MediaServerService
)

// simWall is how long simulated duration d lasts here.
func simWall(d time.Duration) time.Duration { return d / speed }

func role(r model.Role) func(actions.Status) bool {
	return func(st actions.Status) bool { return st.Role == string(r) }
}

func fact(name, want string) func(actions.Status) bool {
	return func(st actions.Status) bool { return st.Facts[name] == want }
}

func both(a, b func(actions.Status) bool) func(actions.Status) bool {
	return func(st actions.Status) bool { return a(st) && b(st) }
}

// heartbeatTimeout is the timeout configured in the server's Failover.ini,
// as its agent publishes it.
func heartbeatTimeout(t *testing.T, f *simtest.Fleet, name string) time.Duration {
	t.Helper()
	st := f.Status(name)
	n, err := strconv.ParseFloat(st.Facts["heartbeat_timeout_seconds"], 64)
	if err != nil {
		t.Fatalf("heartbeat_timeout_seconds of %s: %v (facts %v, errors %v)", name, err, st.Facts, st.FactErrors)
	}
	return time.Duration(n * float64(time.Second))
}

// steady waits for the pair as the document starts it: K2server1 primary,
// K2server2 a qualified backup (step 1 of both procedures).
func steady(t *testing.T, f *simtest.Fleet, primary, backup string) {
	t.Helper()
	f.Await(primary, primary+" primary", role(model.RolePrimary))
	f.Await(backup, backup+" qualified backup", both(role(model.RoleStandby), fact("qualified", "true")))
	f.Await(primary, primary+" protected", fact("redundancy", "protected"))
	if st := f.Status(backup); st.VendorRole != "backup K2 Media Server" || st.Facts["peer_heartbeat"] != "ok" {
		t.Fatalf("%s: vendor role %q, peer heartbeat %q", backup, st.VendorRole, st.Facts["peer_heartbeat"])
	}
}

// logRSS logs the resident memory of each media server process, for the
// report on the simulation's weight; it asserts nothing.
func logRSS(t *testing.T, f *simtest.Fleet) {
	for _, m := range []string{s1, s2} {
		pid, _ := os.ReadFile(sim.PIDFile(f.Member(m).StateDir, ms))
		status, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/status")
		if err != nil {
			return // not Linux
		}
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				t.Logf("%s %s %s", m, ms, strings.Join(strings.Fields(l), " "))
			}
		}
	}
}

// command runs a declared command and fails the test unless it exits 0.
func command(t *testing.T, f *simtest.Fleet, member, name string) string {
	t.Helper()
	res := f.Do(member, actions.CommandRun, map[string]string{"command": name})
	if res.Outcome == nil || res.Outcome.ExitCode == nil || *res.Outcome.ExitCode != 0 {
		t.Fatalf("%s on %s: %+v", name, member, res)
	}
	return res.Outcome.Output
}

func service(t *testing.T, f *simtest.Fleet, member, action string) {
	t.Helper()
	f.Do(member, action, map[string]string{"service": ms})
}

// restartSide is step 7 of the failover procedure and step 4 of the
// recovery: start or restart devices on the side of the server being
// brought back, and check each came up after the failover (after).
func restartSide(t *testing.T, f *simtest.Fleet, member, after string, devs ...string) {
	t.Helper()
	section := map[string]string{"iscsi-bridge": "ISCSIBridge", "ethernet-switch": "EthernetSwitch", "fc-switch": "FCSwitch"}
	for _, dev := range devs {
		t0 := time.Now()
		out := command(t, f, member, "restart-"+dev)
		t.Logf("restart-%s took %v", dev, time.Since(t0).Round(time.Millisecond))
		if !strings.Contains(out, "online") {
			t.Errorf("restart-%s output does not say it is online:\n%s", dev, out)
		}
		f.Await(member, member+" "+dev+" online", fact(strings.ReplaceAll(dev, "-", "_"), "online"))
		res := f.Do(member, actions.SettingsGet, map[string]string{"dir": "k2-san-devices", "path": "SideDevices.ini",
			"key": section[dev] + ".LastStarted"})
		if res.Outcome == nil || res.Outcome.Value < after {
			t.Fatalf("%s %s last started %+v, want after %s", member, dev, res.Outcome, after)
		}
	}
}

// TestFailoverFromServerControlPanel follows "The procedure begins with
// K2server1 acting as the primary": Stop in Server Control Panel, the
// backup takes over on the missing heartbeat, K2server1 comes back as
// backup without preempting.
func TestFailoverFromServerControlPanel(t *testing.T) {
	t.Parallel()
	f := simtest.Start(t, speed, "k2san")
	// 1. Verify roles; K2server2 is qualified and ready to become primary.
	steady(t, f, s1, s2)
	logRSS(t, f)
	timeout := heartbeatTimeout(t, f, s2)

	// 3. Server Control Panel for K2server1: Stop.
	stopped := time.Now()
	service(t, f, s1, actions.ServiceStop)
	st := f.Await(s1, s1+" out of service after Stop", role(model.RoleOutOfService))
	if st.Services[ms] != string(actions.ServiceStopped) || st.VendorRole != "out of service" {
		t.Fatalf("after Stop, %s is %q, service %s; want out of service, stopped", s1, st.VendorRole, st.Services[ms])
	}
	// K2server2 detects the missing heartbeat and takes over as primary.
	f.Await(s2, s2+" takes over as primary", role(model.RolePrimary))
	t.Logf("%s primary %v after the Stop (heartbeat timeout %v simulated, %v here)",
		s2, time.Since(stopped).Round(time.Millisecond), timeout, simWall(timeout))
	// 4-5. The failover completes; K2server2 is primary.
	st = f.Await(s2, "failover complete", fact("failover", "complete"))
	if st.VendorRole != "primary K2 Media Server" || st.Facts["peer_heartbeat"] != "missing" || !strings.HasPrefix(st.Facts["redundancy"], "degraded") {
		t.Errorf("%s after the failover: %q, peer heartbeat %q, redundancy %q", s2, st.VendorRole, st.Facts["peer_heartbeat"], st.Facts["redundancy"])
	}
	if !strings.Contains(st.Facts["last_event"], "failover complete") {
		t.Errorf("%s last event %q", s2, st.Facts["last_event"])
	}
	tookOver := st.Facts["role_since"]

	// 6. K2server1 is up (its agent answers) and out of service.
	f.Await(s1, s1+" out of service", role(model.RoleOutOfService))
	// 7. Restart the iSCSI bridge and Fibre Channel switch on K2server1's side.
	restartSide(t, f, s1, tookOver, "iscsi-bridge", "fc-switch")

	// 8. Server Control Panel for K2server1: Start. It notifies K2server2
	// and comes online as backup; K2server2 stays primary throughout.
	service(t, f, s1, actions.ServiceStart)
	deadline := time.Now().Add(simtest.WaitLimit)
	for {
		a, b := f.Status(s1), f.Status(s2)
		if a.Role == string(model.RolePrimary) || b.Role != string(model.RolePrimary) {
			t.Fatalf("preempted: %s is %s, %s is %s", s1, a.Role, s2, b.Role)
		}
		// 9-10. K2server1 is backup, qualified, all failover processes done.
		if a.Role == string(model.RoleStandby) && a.Facts["qualified"] == "true" && b.Facts["redundancy"] == "protected" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not a qualified backup: %s, facts %v", s1, a.Role, a.Facts)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := f.Status(s1); st.Facts["peer_heartbeat"] != "ok" || st.Facts["media_database"] != "synchronised" || st.Facts["failover"] != "none" {
		t.Errorf("%s as backup: peer heartbeat %q, media database %q, failover %q", s1,
			st.Facts["peer_heartbeat"], st.Facts["media_database"], st.Facts["failover"])
	}
}

// TestCrashFailsOverAndRecovery kills K2server1's media server: the agent
// reports it failed and keeps answering, K2server2 takes
// over, and "Recovering from a failover" brings K2server1 back as backup.
func TestCrashFailsOverAndRecovery(t *testing.T) {
	t.Parallel()
	f := simtest.Start(t, speed, "k2san")
	steady(t, f, s1, s2)
	crashed := time.Now()
	f.Crash(s1, ms)
	st := f.Await(s1, s1+" failed", both(role(model.RoleFailed),
		func(st actions.Status) bool { return st.Services[ms] == string(actions.ServiceFailed) }))
	t.Logf("%s reported failed %v after SIGKILL", s1, time.Since(crashed).Round(time.Millisecond))
	if st.Facts["qualified"] != "" || st.FactErrors["qualified"] == "" {
		t.Errorf("a crashed server's qualified flag must not be believed: facts %v", st.Facts)
	}
	f.Await(s2, s2+" takes over", role(model.RolePrimary))
	t.Logf("%s primary %v after the crash (heartbeat timeout %v simulated)", s2, time.Since(crashed).Round(time.Millisecond), heartbeatTimeout(t, f, s2))

	// Recovering from a failover. 1. K2server2 is primary.
	st = f.Await(s2, "failover complete", fact("failover", "complete"))
	tookOver := st.Facts["role_since"]
	// 2. Start up K2server1: its agent answers and it is not in service.
	// The failed media server stays failed until Server Control Panel
	// starts it (a service stop does not clear a failure).
	if st := f.Status(s1); st.Role != string(model.RoleFailed) || st.Services[ms] != string(actions.ServiceFailed) {
		t.Fatalf("%s before recovery: %s, service %s; want failed", s1, st.Role, st.Services[ms])
	}
	// 4. Start the side's iSCSI bridge, Ethernet and Fibre Channel switches,
	// at least once since the failover.
	restartSide(t, f, s1, tookOver, "iscsi-bridge", "ethernet-switch", "fc-switch")
	if st := f.Status(s1); st.Facts["side_devices_started"] < tookOver {
		t.Fatalf("%s side devices all started since %q, want after the failover at %s", s1, st.Facts["side_devices_started"], tookOver)
	}
	// 5-6. Start in Server Control Panel: K2server1 comes back as backup.
	service(t, f, s1, actions.ServiceStart)
	f.Await(s1, s1+" qualified backup", both(role(model.RoleStandby), fact("qualified", "true")))
	if st := f.Status(s2); st.Role != string(model.RolePrimary) {
		t.Errorf("%s is %s after %s came back; want primary", s2, st.Role, s1)
	}
}

// TestUnqualifiedBackupDoesNotTakeOver: with its Fibre Channel switch off,
// K2server2 is not qualified, so stopping the primary leaves the SAN
// without one; starting K2server1 again makes it primary.
func TestUnqualifiedBackupDoesNotTakeOver(t *testing.T) {
	t.Parallel()
	f := simtest.Start(t, speed, "k2san")
	steady(t, f, s1, s2)

	command(t, f, s2, "power-off-fc-switch")
	st := f.Await(s2, s2+" not qualified", fact("qualified", "false"))
	if st.Facts["fc_switch"] != "off" || !strings.Contains(st.Facts["media_database"], "Fibre Channel switch B is off") {
		t.Errorf("%s with its FC switch off: fc_switch %q, media database %q", s2, st.Facts["fc_switch"], st.Facts["media_database"])
	}
	f.Await(s1, s1+" degraded", func(st actions.Status) bool { return strings.HasPrefix(st.Facts["redundancy"], "degraded") })

	service(t, f, s1, actions.ServiceStop)
	st = f.Await(s2, s2+" refuses to take over",
		fact("failover", "cannot take over: not qualified"))
	if st.Role != string(model.RoleStandby) {
		t.Fatalf("%s is %s; an unqualified backup must not take over", s2, st.Role)
	}
	// Restoring the switch does not qualify it: there is no primary to
	// synchronise with.
	command(t, f, s2, "restart-fc-switch")
	if st := f.Status(s2); st.Role != string(model.RoleStandby) || st.Facts["qualified"] != "false" {
		t.Fatalf("%s after its FC switch returned: %s, qualified %q", s2, st.Role, st.Facts["qualified"])
	}
	service(t, f, s1, actions.ServiceStart)
	f.Await(s1, s1+" takes control", role(model.RolePrimary))
	f.Await(s2, s2+" qualified again", both(role(model.RoleStandby), fact("qualified", "true")))
}

// TestPrimaryLosingFibreChannelFailsOver: powering off the primary's Fibre
// Channel switch cuts it from the RAID storage; it fails over to the
// backup, and its agent reports it failed.
func TestPrimaryLosingFibreChannelFailsOver(t *testing.T) {
	t.Parallel()
	f := simtest.Start(t, speed, "k2san")
	steady(t, f, s1, s2)

	command(t, f, s1, "power-off-fc-switch")
	f.Await(s1, s1+" fails over", role(model.RoleFailed))
	f.Await(s2, s2+" takes over", role(model.RolePrimary))
	if st := f.Status(s1); !strings.Contains(st.Facts["last_event"], "RAID storage") {
		t.Errorf("%s last event %q; want the storage loss", s1, st.Facts["last_event"])
	}
}
