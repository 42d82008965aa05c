package wavestore_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/sim/simtest"
	"github.com/vigilops/vigil/sim/wavestore"
)

// speed runs the simulated clock ten times faster: the 10 s takeover takes
// a second of wall time.
const speed = 10

const (
	p1 = wavestore.Physical1
	p2 = wavestore.Physical2
	sb = wavestore.Standby
)

func fact(name string) func(st actions.Status) string {
	return func(st actions.Status) string { return st.Facts[name] }
}

func hosting(l string) func(actions.Status) bool {
	return func(st actions.Status) bool {
		return st.Role == "primary" && st.Facts["hosted_logical_server"] == l && strings.HasPrefix(st.Facts["recording"], "logical server "+l)
	}
}

func standingBy(st actions.Status) bool {
	return st.Role == "standby" && st.Facts["hosted_logical_server"] == "none" && st.Facts["failover_status"] == "a PRIMARY STANDBY server"
}

func factInt(t *testing.T, st actions.Status, name string) int {
	t.Helper()
	n, err := strconv.Atoi(st.Facts[name])
	if err != nil {
		t.Fatalf("%s: fact %s = %q is not a number (fact errors %v)", st.Name, name, st.Facts[name], st.FactErrors)
	}
	return n
}

func simTime(t *testing.T, st actions.Status, name string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, st.Facts[name])
	if err != nil {
		t.Fatalf("%s: fact %s = %q is not a time", st.Name, name, st.Facts[name])
	}
	return v
}

func outcome(t *testing.T, r actions.Result) actions.Outcome {
	t.Helper()
	if r.Outcome == nil || r.Error != "" {
		t.Fatalf("%s: state %s, error %q", r.Action, r.State, r.Error)
	}
	return *r.Outcome
}

// awaitCopyBack waits for a copy-back onto member to be seen in progress
// and then complete.
func awaitCopyBack(t *testing.T, f *simtest.Fleet, member string) {
	t.Helper()
	var seen []string
	f.Await(member, member+" receives the standby's footage, with progress", func(st actions.Status) bool {
		pr := st.Facts["copy_back_progress"]
		if st.Facts["copy_back"] == "receiving" && (len(seen) == 0 || seen[len(seen)-1] != pr) {
			seen = append(seen, pr)
		}
		return len(seen) > 0 && st.Facts["copy_back"] == "done" && pr == "100"
	})
	t.Logf("%s copy-back progress seen: %v%% then 100%%", member, seen)
	mid := false
	for _, v := range seen {
		if n, _ := strconv.Atoi(v); n > 0 && n < 100 {
			mid = true
		}
	}
	if !mid {
		t.Errorf("%s: copy-back progress never seen between 0 and 100%% (seen %v)", member, seen)
	}
}

// TestFailover follows the document through the agent API alone: the
// configuration a wizard checks, a crash of physical server 1 taken over by
// the standby after the configured time, the failback with copy-back, a
// failover on event (script 99, status 99 FAILED) and failover-delete.
func TestFailover(t *testing.T) {
	f := simtest.Start(t, speed, "wavestore")

	// Final Checks: the standby reports PRIMARY STANDBY, the physical
	// servers host their logical servers, nobody has issues.
	st := f.Await(sb, "standby idle", standingBy)
	f.Await(sb, "standby's system log says PRIMARY STANDBY", func(st actions.Status) bool {
		return st.Facts["system_log_failover"] == "a PRIMARY STANDBY server"
	})
	f.Await(p1, "physical 1 hosts logical server 1", hosting("1"))
	f.Await(p2, "physical 2 hosts logical server 2", hosting("2"))
	f.Await(sb, "the standby has checked both physical servers", func(st actions.Status) bool {
		return strings.Contains(st.Facts["failover_peers"], p1+": hosting logical server 1") &&
			strings.Contains(st.Facts["failover_peers"], p2+": hosting logical server 2") && st.Facts["failover_check"] == "OK"
	})

	// The configuration facts the document requires, on every server.
	all := map[string]actions.Status{}
	for _, m := range []string{p1, p2, sb} {
		all[m] = f.Status(m)
		s := all[m]
		for k, want := range map[string]string{"failover_enabled": "1", "failoverserver_user": "User", "ntp_server": "192.168.10.1",
			"licence": "Enterprise", "disk_letters": "A,B", "tracks": "Track1:A:30d,Track2:B:7d", "server_group": "",
			"failover_physical_servers": p1 + ":1," + p2 + ":2," + sb + ":standby", "status": "0 OK", "log_issues": "0",
			"failover_rules": "DiskFault, Manual"} {
			if got, ok := s.Facts[k]; !ok || got != want {
				t.Errorf("%s: fact %s = %q, want %q (fact errors %v)", m, k, got, want, s.FactErrors[k])
			}
		}
	}
	if all[p1].Facts["cameras"] != "12" || all[p2].Facts["cameras"] != "11" || all[sb].Facts["cameras"] != "12" {
		t.Errorf("cameras: %s, %s, %s; want 12, 11 and the standby configured for all 12", all[p1].Facts["cameras"], all[p2].Facts["cameras"], all[sb].Facts["cameras"])
	}
	if all[sb].Facts["failover_mode"] != "Standby" || all[sb].Facts["capture_device"] != "Backup" || all[sb].Facts["event_recording"] != "0" {
		t.Errorf("standby: mode %q, capture device %q, event recording %q", all[sb].Facts["failover_mode"], all[sb].Facts["capture_device"], all[sb].Facts["event_recording"])
	}
	if all[p1].Facts["logical_address"] != "192.168.10.101" || all[p1].Facts["secondary_interfaces"] != "192.168.10.101" {
		t.Errorf("physical 1: logical address %q, secondary interfaces up %q", all[p1].Facts["logical_address"], all[p1].Facts["secondary_interfaces"])
	}

	// A bad event file is rejected, naming the file, and counted as an issue.
	f.Do(p1, "taskfile.drop", map[string]string{"queue": "events", "name": "bad.event", "content": "cause = Disk Fault\n"})
	f.Await(p1, "bad event file reported", func(st actions.Status) bool {
		return st.Facts["log_issues"] == "1" && strings.Contains(st.Facts["last_issue"], "bad.event: cause \"Disk Fault\" is not a cause name")
	})

	// The takeover time is configurable: set it on the standby, which reads
	// it when it restarts (Final Checks step 1). A slower copy-back makes its
	// progress easier to watch.
	f.Do(sb, "settings.set", map[string]string{"dir": "config", "path": "failover.ini", "key": "Failover.TakeoverSeconds", "value": "8"})
	f.Do(sb, "settings.set", map[string]string{"dir": "config", "path": "failover.ini", "key": "Failover.CopyBackMBps", "value": "5"})
	f.Do(sb, "service.restart", map[string]string{"service": "wavestore"})
	st = f.Await(sb, "standby back with the new takeover time, monitoring both", func(st actions.Status) bool {
		return standingBy(st) && st.Facts["takeover_seconds_in_effect"] == "8" &&
			strings.Contains(st.Facts["failover_peers"], p1+": hosting logical server 1") &&
			strings.Contains(st.Facts["failover_peers"], p2+": hosting logical server 2")
	})
	takeover, err := strconv.Atoi(st.Facts["takeover_seconds"])
	if err != nil || takeover != 8 {
		t.Fatalf("takeover_seconds = %q", st.Facts["takeover_seconds"])
	}

	// Physical server 1's recording service crashes.
	written := simTime(t, f.Status(p1), "recorded_until")
	f.Crash(p1, "wavestore")
	crashed := time.Now()
	f.Await(p1, "physical 1 failed", func(st actions.Status) bool {
		return st.Role == "failed" && st.Services["wavestore"] == "failed"
	})
	st = f.Await(sb, "the standby hosts logical server 1", hosting("1"))
	t.Logf("standby took over logical server 1 %v (wall) after the crash; takeover time %d s simulated = %v wall",
		time.Since(crashed).Round(10*time.Millisecond), takeover, time.Duration(takeover)*time.Second/speed)
	// How soon is told in simulated time, which every process of the fleet
	// shares: not before the takeover time (the standby waited for it),
	// and no more missed than the gap between the last footage physical 1
	// wrote before the crash and the takeover, give or take a heartbeat.
	// How much later than the takeover time it came depends on how busy
	// the machine is, and is only logged.
	missed := factInt(t, st, "missed_seconds")
	takenAt, err := time.Parse(time.RFC3339, strings.Fields(st.Facts["last_takeover"])[0])
	if err != nil {
		t.Fatalf("last takeover %q does not start with its time: %v", st.Facts["last_takeover"], err)
	}
	gap := int(takenAt.Sub(written) / time.Second)
	t.Logf("seconds of recording missed: %d (takeover %d s, %d s between physical 1's last written footage and the takeover); last takeover: %s",
		missed, takeover, gap, st.Facts["last_takeover"])
	if missed < takeover-1 || missed > gap+2 {
		t.Errorf("missed_seconds = %d; want from the takeover time, %d s, to the %d s since physical 1's last footage", missed, takeover, gap)
	}
	if st.Facts["secondary_interfaces"] != "192.168.10.101" || !strings.Contains(st.Facts["last_notification"], p1+" failed") {
		t.Errorf("standby: secondary interfaces %q, last notification %q", st.Facts["secondary_interfaces"], st.Facts["last_notification"])
	}
	if st.Facts["recording"] != "logical server 1, 12 cameras" {
		t.Errorf("standby records %q; want logical server 1, 12 cameras", st.Facts["recording"])
	}
	// Recording continues there.
	from := simTime(t, st, "recorded_until")
	f.Await(sb, "recording continues on the standby", func(st actions.Status) bool {
		u, err := time.Parse(time.RFC3339, st.Facts["recorded_until"])
		return err == nil && u.Sub(from) >= 5*time.Second && hosting("1")(st)
	})
	if st := f.Status(p2); !hosting("2")(st) {
		t.Errorf("physical 2 should be untouched: %s %v", st.Role, st.Facts["hosted_logical_server"])
	}

	// Physical 1 comes back, takes over again; the standby's footage is
	// copied back, with progress.
	f.Do(p1, "service.start", map[string]string{"service": "wavestore"})
	st = f.Await(p1, "physical 1 hosts logical server 1 again", hosting("1"))
	t.Logf("physical 1 back: %d s missed at failback; %s", factInt(t, st, "missed_seconds"), st.Facts["last_takeover"])
	f.Await(sb, "the standby is a standby again", standingBy)
	awaitCopyBack(t, f, p1)
	f.Await(sb, "the standby's side of the copy-back done", func(st actions.Status) bool {
		return st.Facts["copy_back"] == "done" && st.Facts["copy_back_progress"] == "100"
	})

	// Failover on Event: a disk fault runs script 99 on physical 2.
	f.Do(p2, "taskfile.drop", map[string]string{"queue": "events", "name": "disk-fault.event", "content": "cause = DiskFault\ndetail = disk B\n"})
	st = f.Await(p2, "physical 2 is 99 FAILED", func(st actions.Status) bool {
		return st.Role == "failed" && st.Facts["status"] == "99 FAILED"
	})
	if st.Facts["recording"] != "no" || st.Facts["secondary_interfaces"] != "none" || st.Facts["arbitration"] != "not contending: 99 FAILED" {
		t.Errorf("FAILED physical 2: recording %q, secondary interfaces %q, arbitration %q", st.Facts["recording"], st.Facts["secondary_interfaces"], st.Facts["arbitration"])
	}
	f.Await(sb, "the standby hosts logical server 2", hosting("2"))
	// Clearing the fault clears FAILED, but the server stays out of
	// arbitration until it is restarted.
	f.Do(p2, "taskfile.drop", map[string]string{"queue": "events", "name": "disk-fault-cleared.event", "content": "cause = DiskFault\nstate = cleared\n"})
	f.Await(p2, "FAILED cleared with its cause", func(st actions.Status) bool {
		return st.Facts["status"] == "0 OK" && st.Facts["restart_required"] == "yes"
	})
	// Physical 2 beats again, as a server that does not contend. Once the
	// standby has heard it so, and has gone on recording logical server 2
	// for two more takeover periods of simulated time, physical 2 has had
	// every chance to win arbitration: then nothing has changed.
	st = f.Await(sb, "the standby hears physical 2 not contending", func(st actions.Status) bool {
		return strings.Contains(st.Facts["failover_peers"], p2+": not contending (restart required)")
	})
	heard := simTime(t, st, "recorded_until")
	f.Await(sb, "the standby records two more takeover periods (or loses logical server 2)", func(st actions.Status) bool {
		u, err := time.Parse(time.RFC3339, st.Facts["recorded_until"])
		return !hosting("2")(st) || err == nil && u.Sub(heard) >= 2*time.Duration(takeover)*time.Second
	})
	if st := f.Status(p2); st.Role != "failed" || st.Facts["hosted_logical_server"] != "none" || st.Facts["arbitration"] != "not contending until restarted" {
		t.Errorf("physical 2 won arbitration before a restart: %s, hosts %q, %q", st.Role, st.Facts["hosted_logical_server"], st.Facts["arbitration"])
	}
	if st := f.Status(sb); !hosting("2")(st) {
		t.Errorf("the standby lost logical server 2 to a server that was FAILED: %s %q", st.Role, st.Facts["hosted_logical_server"])
	}
	f.Do(p2, "service.restart", map[string]string{"service": "wavestore"})
	f.Await(p2, "physical 2 restarted hosts logical server 2", func(st actions.Status) bool {
		return hosting("2")(st) && st.Facts["status"] == "0 OK" && st.Facts["restart_required"] == "no"
	})
	f.Await(sb, "the standby is a standby again", standingBy)
	// The standby restarts in the middle of the copy-back: it resumes.
	f.Await(p2, "copy-back under way", func(st actions.Status) bool {
		n, _ := strconv.Atoi(st.Facts["copy_back_progress"])
		return st.Facts["copy_back"] == "receiving" && n > 0
	})
	f.Do(sb, "service.restart", map[string]string{"service": "wavestore"})
	awaitCopyBack(t, f, p2)
	if st := f.Status(p2); st.Facts["log_issues"] != "1" || !strings.Contains(st.Facts["last_issue"], "interrupted") {
		t.Errorf("physical 2 should report the interrupted copy-back: %s issues, last %q", st.Facts["log_issues"], st.Facts["last_issue"])
	}

	// Stopping Failover: failover-delete on the standby.
	out := outcome(t, f.Do(sb, "command.run", map[string]string{"command": "failover-delete"}))
	if out.ExitCode == nil {
		t.Fatalf("failover-delete did not run: %+v", out)
	}
	t.Logf("failover-delete: exit %d, output:\n%s", *out.ExitCode, out.Output)
	if *out.ExitCode != 0 || !strings.Contains(out.Output, "left the failover group") {
		t.Errorf("failover-delete: exit %v, output %q", out.ExitCode, out.Output)
	}
	st = f.Await(sb, "the standby has no failover configuration", func(st actions.Status) bool {
		return st.Facts["failover_enabled"] == "0" && st.Facts["failover_mode"] == "None" && st.Role == "out-of-service" &&
			st.Facts["system_log_failover"] == "not part of a failover group"
	})
	if _, ok := st.Facts["takeover_seconds"]; ok {
		t.Errorf("takeover_seconds still configured after failover-delete: %q", st.Facts["takeover_seconds"])
	}
	if again := outcome(t, f.Do(sb, "command.run", map[string]string{"command": "failover-delete"})); again.Changed {
		t.Errorf("a second failover-delete should find nothing to do: %+v", again)
	}
	// And it stays so across a restart.
	f.Do(sb, "service.restart", map[string]string{"service": "wavestore"})
	f.Await(sb, "the standby restarted outside the failover group", func(st actions.Status) bool {
		return st.Role == "out-of-service" && st.Services["wavestore"] == "running" && st.Facts["arbitration"] == "not part of a failover group"
	})
}

// TestCrashShowsFailed: a simulated service killed with SIGKILL shows as
// failed in its agent's status, and the agent keeps answering.
func TestCrashShowsFailed(t *testing.T) {
	f := simtest.Start(t, speed, "wavestore")
	f.Await(sb, "standby idle", standingBy)
	pid := f.Crash(sb, "wavestore")
	start := time.Now()
	st := f.Await(sb, "standby's service failed", func(st actions.Status) bool {
		return st.Services["wavestore"] == "failed" && st.Role == "failed"
	})
	t.Logf("pid %d killed; %s shows %s (service %s) after %v; role error %q", pid, sb, st.Role, st.Services["wavestore"],
		time.Since(start).Round(time.Millisecond), st.RoleError)
	for range 5 {
		f.Status(sb) // still answering
	}
	// A crashed server's failover facts are not believed; its configuration is.
	if _, ok := st.Facts["hosted_logical_server"]; ok {
		t.Errorf("a crashed service's status is still published: %q", st.Facts["hosted_logical_server"])
	}
	if st.Facts["failover_mode"] != "Standby" {
		t.Errorf("configuration facts should stay readable: failover_mode %q", st.Facts["failover_mode"])
	}
	f.Do(sb, "service.start", map[string]string{"service": "wavestore"})
	f.Await(sb, "standby back", standingBy)
}
