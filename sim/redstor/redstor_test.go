package redstor_test

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/sim/redstor"
	"github.com/vigilops/vigil/sim/simtest"
)

const (
	master = "AccountServer-Master"
	slave  = "AccountServer-Slave"
	ss     = "StorageServer"
	mirror = "MirrorServer"

	// speed runs the simulated clock 60 times faster: an Agent backs up
	// every 15 simulated minutes, 15 s here. The long procedure runs twice
	// as fast again, since it mostly waits for Agents' backups.
	speed     = 60
	fastSpeed = 120
)

// roleIs waits for a member's role, as the agent reports it.
func roleIs(t *testing.T, f *simtest.Fleet, member, role string) actions.Status {
	t.Helper()
	return f.Await(member, member+" "+role, func(st actions.Status) bool { return st.Role == role })
}

// factIs waits for a fact to satisfy ok.
func factIs(t *testing.T, f *simtest.Fleet, member, fact string, ok func(string) bool) string {
	t.Helper()
	st := f.Await(member, member+" fact "+fact, func(st actions.Status) bool {
		v, has := st.Facts[fact]
		return has && ok(v)
	})
	return st.Facts[fact]
}

func equals(want string) func(string) bool { return func(v string) bool { return v == want } }

func contains(want string) func(string) bool {
	return func(v string) bool { return strings.Contains(v, want) }
}

func atLeast(n int64) func(string) bool {
	return func(v string) bool {
		i, err := strconv.ParseInt(v, 10, 64)
		return err == nil && i >= n
	}
}

func num(t *testing.T, st actions.Status, fact string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(st.Facts[fact], 64)
	if err != nil {
		t.Fatalf("fact %s of %s is %q, not a number (%v)", fact, st.Name, st.Facts[fact], st.FactErrors[fact])
	}
	return v
}

// do performs an action that must succeed.
func do(t *testing.T, f *simtest.Fleet, member, action string, params map[string]string) *actions.Outcome {
	t.Helper()
	res := f.Do(member, action, params)
	if res.State != actions.StateDone || res.Outcome == nil {
		t.Fatalf("%s on %s %v: %s: %s", action, member, params, res.State, res.Error)
	}
	return res.Outcome
}

// command runs a declared command and returns its output and exit status.
func command(t *testing.T, f *simtest.Fleet, member, name string) (string, int) {
	t.Helper()
	out := do(t, f, member, "command.run", map[string]string{"command": name})
	if out.ExitCode == nil {
		t.Fatalf("command %s on %s: no exit status; output:\n%s", name, member, out.Output)
	}
	t.Logf("%s$ %s -> exit %d\n%s", member, name, *out.ExitCode, out.Output)
	return out.Output, *out.ExitCode
}

func mustCommand(t *testing.T, f *simtest.Fleet, member, name, want string) string {
	t.Helper()
	out, code := command(t, f, member, name)
	if code != 0 || !strings.Contains(out, want) {
		t.Fatalf("command %s on %s: exit %d, want 0 and output with %q", name, member, code, want)
	}
	return out
}

func service(t *testing.T, f *simtest.Fleet, member, action string) {
	t.Helper()
	svc := "AccountServer"
	if member == ss || member == mirror {
		svc = "StorageServer"
	}
	do(t, f, member, "service."+action, map[string]string{"service": svc})
}

func setSetting(t *testing.T, f *simtest.Fleet, member, dir, path, key, value string) {
	t.Helper()
	do(t, f, member, "settings.set", map[string]string{"dir": dir, "path": path, "key": key, "value": value})
}

func getSetting(t *testing.T, f *simtest.Fleet, member, dir, path, key string) string {
	t.Helper()
	return do(t, f, member, "settings.get", map[string]string{"dir": dir, "path": path, "key": key}).Value
}

func setIsSlave(t *testing.T, f *simtest.Fleet, member, value string) {
	t.Helper()
	setSetting(t, f, member, "AS_Service", "Settings.xml", "Settings/IsSlave", value)
}

func dropUpdateSettingsOnSS(t *testing.T, f *simtest.Fleet, member string) {
	t.Helper()
	do(t, f, member, "taskfile.drop", map[string]string{"queue": "TaskQueue", "name": "Failover.UpdateSettingsOnSS"})
}

// TestNormalOperation: the platform as laid out. The Master and Slave
// AccountServers, StorageServer and MirrorServer show their roles; Agents
// back up; mirroring progress and lag are facts that move; and a simulated
// service killed with SIGKILL shows as failed while its agent keeps
// answering.
func TestNormalOperation(t *testing.T) {
	f := simtest.Start(t, speed, "redstor")
	st := roleIs(t, f, master, "primary")
	if st.VendorRole != "Master AccountServer" || st.Facts["running_as"] != "Master" || st.Site != "primary-site" {
		t.Errorf("%s: vendor role %q, running as %q, site %q", master, st.VendorRole, st.Facts["running_as"], st.Site)
	}
	st = roleIs(t, f, slave, "standby")
	if st.VendorRole != "Slave AccountServer" || st.Site != "secondary-site" {
		t.Errorf("%s: vendor role %q, site %q", slave, st.VendorRole, st.Site)
	}
	// The storage pair is a redundant system of its own, in the document's words.
	st = roleIs(t, f, ss, "primary")
	if st.System != redstor.StorageSystem || st.VendorRole != "StorageServer" || st.System == f.Status(master).System {
		t.Errorf("%s: system %q, vendor role %q", ss, st.System, st.VendorRole)
	}
	if st = roleIs(t, f, mirror, "standby"); st.System != redstor.StorageSystem || st.VendorRole != "MirrorServer" {
		t.Errorf("%s: system %q, vendor role %q", mirror, st.System, st.VendorRole)
	}
	if v := getSetting(t, f, master, "AS_Service", "Settings.xml", "Settings/IsSlave/@choices"); v != "True,False" {
		t.Errorf("IsSlave choices = %q", v)
	}
	factIs(t, f, slave, "master_account_server", equals(master))
	factIs(t, f, master, "slave_account_servers", contains(slave+" at "+slave+": online"))

	// Mirroring: the MirrorServer starts in sync; a backup puts it behind,
	// and the StorageServer sends at a bounded rate, so progress and lag
	// move, and it catches up.
	factIs(t, f, ss, "mirror_state", equals("up to date"))
	factIs(t, f, ss, "mirror_lag_seconds", equals("0"))
	seen := map[string]bool{}
	var lags []float64
	mirroring := false
	start := time.Now()
	f.Await(ss, "mirror progress moving", func(st actions.Status) bool {
		if st.Facts["mirror_target"] != mirror || st.Facts["mirror_state"] == "" {
			return false
		}
		lag, _ := strconv.ParseFloat(st.Facts["mirror_lag_bytes"], 64)
		if p := st.Facts["mirror_progress"]; p != "" && lag > 0 && !seen[p] {
			seen[p] = true
			lags = append(lags, lag)
		}
		if st.Facts["mirror_state"] == "mirroring" && num(t, st, "mirror_lag_seconds") > 0 && num(t, st, "mirrored_bytes") > 0 {
			mirroring = true
		}
		return len(seen) >= 4 && mirroring
	})
	t.Logf("mirror progress values %v with lag bytes %v within %v", keys(seen), lags, time.Since(start).Round(time.Millisecond))
	factIs(t, f, ss, "mirror_state", equals("up to date"))
	factIs(t, f, mirror, "mirror_data_received", atLeast(1))

	// Agents back up to the StorageServer through the Master.
	factIs(t, f, master, "backups_succeeded", atLeast(1))
	factIs(t, f, ss, "backups_received", atLeast(1))

	// Bad input through the agent API: a task file that is not empty is
	// refused by name and set aside; an SP Console change on a Slave is
	// refused.
	do(t, f, master, "taskfile.drop", map[string]string{"queue": "TaskQueue", "name": "Failover.UpdateSettingsOnSS", "content": "now"})
	factIs(t, f, master, "last_task", contains("Failover.UpdateSettingsOnSS must be empty, but holds 3 bytes"))
	if out, code := command(t, f, slave, "disable-groups"); code == 0 || !strings.Contains(out, "runs as a Slave AccountServer") {
		t.Errorf("a Slave took an SP Console change: exit %d", code)
	}
	// A direct edit of the StoragePlatform database (SQL Management Studio
	// in the document) reaches the running Master.
	do(t, f, master, "settings.set", map[string]string{"dir": "StoragePlatform", "path": "StoragePlatform.json",
		"key": "Groups.1.Disabled", "value": "true", "type": "raw"})
	factIs(t, f, master, "groups_disabled", equals("1/2"))
	mustCommand(t, f, master, "enable-groups", "Group Is Disabled False for Sales")
	factIs(t, f, master, "groups_disabled", equals("0/2"))

	// IsSlave edited while the service runs: the role follows the file at
	// once, and the service says it still runs as it started until it is
	// restarted.
	setIsSlave(t, f, slave, "False")
	roleIs(t, f, slave, "primary")
	factIs(t, f, slave, "restart_pending", equals("True"))
	if v := f.Status(slave).Facts["running_as"]; v != "Slave" {
		t.Errorf("running_as %q before the restart", v)
	}
	setIsSlave(t, f, slave, "True")
	roleIs(t, f, slave, "standby")
	factIs(t, f, slave, "restart_pending", equals("False"))

	// Crashes.
	for _, c := range []struct{ member, program, service string }{
		{master, "redstor-accountserver", "AccountServer"},
		{mirror, "redstor-storageserver", "StorageServer"},
	} {
		pid := f.Crash(c.member, c.program)
		killed := time.Now()
		st := f.Await(c.member, c.member+" failed after SIGKILL", func(st actions.Status) bool {
			return st.Role == "failed" && st.Services[c.service] == "failed"
		})
		t.Logf("%s: %s (pid %d) killed; agent reports role %s, service %s after %v", c.member, c.program, pid, st.Role,
			st.Services[c.service], time.Since(killed).Round(time.Millisecond))
		service(t, f, c.member, "start")
	}
	roleIs(t, f, master, "primary")
	roleIs(t, f, mirror, "standby")
	// A stop on purpose is out of service, not failed.
	service(t, f, slave, "stop")
	roleIs(t, f, slave, "out-of-service")
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestFailoverAndFailback follows the document through the agents' API
// alone: the primary site is lost, the Slave AccountServer is promoted by
// IsSlave in Settings.xml, Failover.UpdateSettingsOnSS moves every
// account's HomeServerGUID to the MirrorServer once the StorageServer's
// address points there; then the failback: the demoted Master added back
// as a Slave (the document's BackupServer branch), database backups,
// disabled Groups, mirroring back, the integrity check, and the roles
// swapped back.
func TestFailoverAndFailback(t *testing.T) {
	f := simtest.Start(t, fastSpeed, "redstor")
	roleIs(t, f, master, "primary")
	roleIs(t, f, slave, "standby")
	ssGUID := factIs(t, f, ss, "server_guid", func(v string) bool { return len(v) == 36 })
	msGUID := factIs(t, f, mirror, "server_guid", func(v string) bool { return len(v) == 36 })
	masterGUID := factIs(t, f, master, "server_guid", func(v string) bool { return len(v) == 36 })
	factIs(t, f, slave, "accounts_home_guids", equals(ssGUID+":6"))
	factIs(t, f, master, "backups_succeeded", atLeast(1))

	// The primary site fails.
	service(t, f, master, "stop")
	service(t, f, ss, "stop")
	roleIs(t, f, master, "out-of-service")

	// Promoting the Slave AccountServer.
	service(t, f, slave, "stop")
	if v := getSetting(t, f, slave, "AS_Service", "Settings.xml", "Settings/IsSlave"); v != "True" {
		t.Fatalf("Slave's IsSlave = %q", v)
	}
	setIsSlave(t, f, slave, "False")
	service(t, f, slave, "start")
	st := roleIs(t, f, slave, "primary")
	if st.VendorRole != "Master AccountServer" {
		t.Errorf("promoted Slave's vendor role %q", st.VendorRole)
	}
	factIs(t, f, slave, "running_as", equals("Master"))

	// Failover.UpdateSettingsOnSS before the StorageServer's address is
	// changed: the StorageServer does not answer, nothing moves.
	dropUpdateSettingsOnSS(t, f, slave)
	factIs(t, f, slave, "last_task", contains("did not answer"))
	factIs(t, f, slave, "accounts_home_guids", equals(ssGUID+":6"))

	// Change StorageServer address to the MirrorServer, then the task
	// again: every account's HomeServerGUID is now the MirrorServer's.
	mustCommand(t, f, slave, "ss-address-to-mirror", "Changed the address of StorageServer StorageServer from StorageServer:5000 to MirrorServer:5000")
	factIs(t, f, slave, "storageserver_address", equals("StorageServer=MirrorServer:5000"))
	dropUpdateSettingsOnSS(t, f, slave)
	factIs(t, f, slave, "accounts_home_guids", equals(msGUID+":6"))
	factIs(t, f, slave, "last_task", contains("6 of 6 accounts updated; account settings synced"))
	for i := range 6 {
		if g := getSetting(t, f, slave, "StoragePlatform", "StoragePlatform.json", fmt.Sprintf("Accounts.%d.HomeServerGUID", i)); g != msGUID {
			t.Errorf("account %d HomeServerGUID %s, want the MirrorServer's %s", i, g, msGUID)
		}
	}
	// The promoted MirrorServer is now the StorageServer, and Agents back
	// up to it.
	roleIs(t, f, mirror, "primary")
	factIs(t, f, mirror, "accounts_homed", equals("6"))
	factIs(t, f, mirror, "backups_received", atLeast(1))
	out, code := command(t, f, mirror, "integrity-check")
	incomplete := f.Status(mirror).Facts["incomplete_accounts"]
	if !strings.Contains(out, "Integrity check of MirrorServer") || (code == 0) != (incomplete == "0") && !strings.Contains(out, " complete.") {
		t.Errorf("integrity check: exit %d with %s incomplete accounts", code, incomplete)
	}

	// Preparing to fail back: AccountServer. The demoted Master becomes a
	// Slave: IsSlave True, and the BackupServer table of the promoted
	// Slave's database gets an entry for it: added anew, since the Slave
	// AccountServer entry's ServerGUID is not the demoted Master's.
	setIsSlave(t, f, master, "True")
	out = mustCommand(t, f, master, "register-as-slave", "at "+master+":5555 anew as a Slave AccountServer (one-time password "+masterGUID[:8]+")")
	if !strings.Contains(out, "does not match the demoted Master's ServerGUID "+masterGUID) {
		t.Errorf("register-as-slave did not say why it added the entry anew")
	}
	service(t, f, master, "start")
	roleIs(t, f, master, "standby")
	factIs(t, f, slave, "slave_account_servers", contains(" at "+master+": online"))
	factIs(t, f, master, "master_account_server", equals(slave))
	// Now the entry exists with the demoted Master's ServerGUID: the
	// document's other branch, edit the entry.
	mustCommand(t, f, master, "register-as-slave", "which matches the demoted Master's: edited the entry")

	// Preparing to fail back: StorageServer.
	service(t, f, ss, "start")
	roleIs(t, f, ss, "out-of-service") // in no BackupServer entry now
	mustCommand(t, f, slave, "add-storageserver-as-mirror", "one-time password "+ssGUID[:8])
	roleIs(t, f, ss, "standby")
	setSetting(t, f, ss, "SS_Service", "Settings.xml", "Settings/Mirroring", "False")
	mustCommand(t, f, slave, "delete-secondary-mirror", "Deleted MirrorServer (MirrorServer at MirrorServer:5000)")
	mustCommand(t, f, slave, "enable-mirroring-to-storageserver", "is now enabled")
	factIs(t, f, mirror, "mirror_target", equals(ss))

	// The document's final failback: block backups so that mirroring can
	// complete, database backup to the demoted Master, roles swapped back.
	mustCommand(t, f, slave, "disable-groups", "Group Is Disabled True for Finance, Sales")
	factIs(t, f, slave, "groups_disabled", equals("2/2"))
	factIs(t, f, slave, "backups_blocked", atLeast(1))
	factIs(t, f, mirror, "mirror_state", equals("up to date"))
	// The demoted StorageServer now holds what the promoted MirrorServer
	// holds, files missing from an unfinished mirror included.
	factIs(t, f, ss, "incomplete_accounts", equals(f.Status(mirror).Facts["incomplete_accounts"]))

	mustCommand(t, f, slave, "db-backup", "copied to Slave AccountServer "+master)
	rev := factIs(t, f, slave, "db_backup_result", equals("Succeeded"))
	_ = rev
	want := f.Status(slave).Facts["db_revision"]
	factIs(t, f, master, "db_revision", equals(want))
	factIs(t, f, master, "accounts_home_guids", equals(msGUID+":6"))

	service(t, f, slave, "stop")
	service(t, f, master, "stop")
	setIsSlave(t, f, master, "False")
	service(t, f, master, "start")
	roleIs(t, f, master, "primary")
	factIs(t, f, master, "slave_account_servers", contains(slave+" at "+slave+": offline"))
	setIsSlave(t, f, slave, "True")
	service(t, f, slave, "start")
	roleIs(t, f, slave, "standby")
	mustCommand(t, f, master, "db-backup", "copied to Slave AccountServer "+slave)

	// StorageServers back: mirroring to the demoted StorageServer off, its
	// entry deleted, the StorageServer entry's address back to the
	// original, the MirrorServer added again with its one-time password,
	// mirroring on, the accounts' HomeServerGUID back, Groups on.
	mustCommand(t, f, master, "disable-mirroring-to-storageserver", "is now disabled")
	mustCommand(t, f, master, "delete-storageserver-mirror", "No backup account was deleted")
	service(t, f, mirror, "stop")
	mustCommand(t, f, master, "ss-address-to-original", "to StorageServer:5000")
	service(t, f, mirror, "start")
	roleIs(t, f, ss, "primary")
	roleIs(t, f, mirror, "out-of-service")
	mustCommand(t, f, master, "add-mirrorserver", "one-time password "+msGUID[:8])
	roleIs(t, f, mirror, "standby")
	mustCommand(t, f, master, "enable-mirroring-to-mirrorserver", "is now enabled")
	setSetting(t, f, ss, "SS_Service", "Settings.xml", "Settings/Mirroring", "True")
	factIs(t, f, ss, "mirror_state", equals("up to date"))
	dropUpdateSettingsOnSS(t, f, master)
	factIs(t, f, master, "accounts_home_guids", equals(ssGUID+":6"))
	mustCommand(t, f, master, "enable-groups", "re-enabled")
	// Each Agent's next backup brings the files mirroring never delivered.
	factIs(t, f, ss, "incomplete_accounts", equals("0"))
	if out, code := command(t, f, ss, "integrity-check"); code != 0 || !strings.Contains(out, "6 of 6 accounts complete") {
		t.Errorf("post-failback integrity check: exit %d", code)
	}
}
