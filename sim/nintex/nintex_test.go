package nintex_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/sim/simtest"
)

const (
	prod = "K2-PROD"
	dr   = "K2-DR"
	// speed makes a simulated hour last a second: the document's hourly
	// jobs and 3-hour restore delay pass in seconds.
	speed = 3600
)

// console wraps the simulated fleet with the few things a wizard does.
type console struct {
	*simtest.Fleet
	t *testing.T
}

func (c console) fact(member, name, what string, ok func(string) bool) actions.Status {
	c.t.Helper()
	return c.Await(member, member+": "+what, func(st actions.Status) bool {
		v, found := st.Facts[name]
		return found && ok(v)
	})
}

func (c console) factIs(member, name, want string) actions.Status {
	c.t.Helper()
	return c.fact(member, name, name+" = "+want, func(v string) bool { return v == want })
}

// run runs a declared command and fails unless it exits 0.
func (c console) run(member, command string) string {
	c.t.Helper()
	start := time.Now()
	res := c.Do(member, actions.CommandRun, map[string]string{"command": command})
	out := ""
	if res.Outcome != nil {
		out = res.Outcome.Output
	}
	if res.Outcome == nil || res.Outcome.ExitCode == nil || *res.Outcome.ExitCode != 0 {
		c.t.Fatalf("%s on %s: %s %s\n%s", command, member, res.State, res.Error, out)
	}
	c.t.Logf("%s on %s took %v", command, member, time.Since(start).Round(time.Millisecond))
	return out
}

func (c console) set(member, dir, path, key, value string) {
	c.t.Helper()
	c.Do(member, actions.SettingsSet, map[string]string{"dir": dir, "path": path, "key": key, "value": value})
}

func (c console) service(member, action, service string) actions.Result {
	c.t.Helper()
	return c.Do(member, action, map[string]string{"service": service})
}

func (c console) serviceIs(member, service, state string) actions.Status {
	c.t.Helper()
	return c.Await(member, member+": "+service+" "+state, func(st actions.Status) bool {
		return st.Services[service] == state
	})
}

func parseTime(t *testing.T, what, v string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatalf("%s: %q is not a time: %v", what, v, err)
	}
	return at
}

// awaitAdvance waits until member's restored_to is later than after.
func (c console) awaitAdvance(member string, after time.Time) time.Time {
	c.t.Helper()
	start := time.Now()
	st := c.fact(member, "restored_to", "recovery point later than "+after.Format(time.RFC3339), func(v string) bool {
		at, err := time.Parse(time.RFC3339, v)
		return err == nil && at.After(after)
	})
	at := parseTime(c.t, "restored_to", st.Facts["restored_to"])
	c.t.Logf("%s restored to %s (recovery point age %ss, accepted %ss) after %v", member, st.Facts["restored_to"],
		st.Facts["recovery_point_age_seconds"], st.Facts["accepted_data_loss_seconds"], time.Since(start).Round(time.Millisecond))
	return at
}

// TestLogShippingCutoverAndFailback follows the document through the
// agents' API alone: log shipping keeps the DR copy a few hours behind
// with the K2 service off there, the cutover (tail-log backup, stop log
// shipping, point-in-time recovery, DR licensing, K2 service, clients)
// brings the DR site up, and a failback brings production back and
// resumes log shipping to the DR site without a new full backup.
func TestLogShippingCutoverAndFailback(t *testing.T) {
	c := console{simtest.Start(t, speed, "nintex"), t}

	// Ongoing: production processes, the DR copy is RESTORING and K2 is off there.
	st := c.Await(prod, "production primary and processing", func(st actions.Status) bool {
		return st.Role == "primary" && st.Facts["k2_server_status"] == "Processing" && st.Facts["licensed_server"] == prod
	})
	t.Logf("%s: %s (%s), facts %v", prod, st.Role, st.VendorRole, st.Facts)
	st = c.Await(dr, "DR standby", func(st actions.Status) bool {
		return st.Role == "standby" && st.Facts["database_state"] == "RESTORING" && st.Facts["restored_to"] != ""
	})
	if st.Services["k2-server"] == "running" {
		t.Fatalf("the K2 service runs on the DR site before any cutover: %v", st.Services)
	}
	if res := c.service(dr, actions.ServiceStatus, "k2-server"); res.Outcome == nil || res.Outcome.Value != "stopped" {
		t.Fatalf("K2 service on the DR site: %+v, want stopped", res.Outcome)
	}
	if st.Facts["accepted_data_loss_seconds"] != "14400" {
		t.Errorf("accepted data loss %q, want 14400 (4 hours)", st.Facts["accepted_data_loss_seconds"])
	}
	initial := parseTime(t, "restored_to", st.Facts["restored_to"])

	// The DR recovery point advances as the hourly log backups age past the
	// 3-hour hold and are restored.
	first := c.awaitAdvance(dr, initial)
	second := c.awaitAdvance(dr, first)
	st = c.Status(dr)
	age, _ := strconv.Atoi(st.Facts["recovery_point_age_seconds"])
	// The restore delay keeps the copy at least 3 hours behind. How much
	// more than that, between the hourly jobs (3 to 4 hours on schedule),
	// depends on how late the jobs ran and how long this read took: at an
	// hour a second, on how busy the machine is. It is logged, not checked.
	t.Logf("recovery point age %ds after %s", age, second.Format(time.RFC3339))
	if age < 3*3600-600 {
		t.Errorf("recovery point age %ds after %s; the document's 3-hour restore delay keeps it at least 3 hours", age, second.Format(time.RFC3339))
	}
	if st.Services["k2-server"] == "running" {
		t.Fatalf("the K2 service started on the DR site by itself")
	}

	// Started before the cutover, K2 refuses the restoring databases.
	c.service(dr, actions.ServiceStart, "k2-server")
	c.serviceIs(dr, "k2-server", "failed")

	// At this speed an hour passes in a second, and the test's own steps
	// take seconds on a busy machine: the DR site's restore job is stopped
	// before the tail-log backup, not after, so that the hours they take
	// do not restore the DR copy past the point the cutover recovers to (a
	// real operator's minutes are seconds of simulated time). The restore
	// delay keeps the copy three hours behind until then.
	c.set(dr, "sql-agent", "Jobs.ini", "K2_LogRestore.Enabled", "0")
	c.factIs(dr, "log_restore_job_enabled", "0")

	// Cutover step 1: the tail of the production logs, transmitted.
	c.run(prod, "tail-log-backup")
	st = c.factIs(prod, "database_state", "RESTORING")
	disaster := parseTime(t, "last_log_backup", st.Facts["last_log_backup"])
	c.fact(dr, "last_log_backup", "tail-log backup received", func(v string) bool {
		at, err := time.Parse(time.RFC3339, v)
		return err == nil && !at.Before(disaster)
	})

	// Stop log shipping at both sites (the DR site's restore job is
	// stopped already).
	c.set(prod, "sql-agent", "Jobs.ini", "K2_LogBackup.Enabled", "0")
	c.set(prod, "sql-agent", "Jobs.ini", "K2_LogShipping.Enabled", "0")
	c.factIs(prod, "log_backup_job_enabled", "0")

	// Step 2: the time of the disaster minus 2 hours.
	stopAt := disaster.Add(-2 * time.Hour).Format(time.RFC3339)
	c.set(dr, "k2-dr", "DisasterRecovery.ini", "Recovery.StopAt", stopAt)
	c.factIs(dr, "stop_at", stopAt)

	// Step 3: every database recovered to that point.
	out := c.run(dr, "recover-to-point-in-time")
	if !strings.Contains(out, "STOPAT") {
		t.Errorf("the recovery did not restore to a point in time:\n%s", out)
	}
	st = c.Await(dr, "DR recovered", func(st actions.Status) bool {
		return st.Role == "primary" && st.Facts["database_state"] == "ONLINE" && st.Facts["restored_to"] == stopAt
	})
	t.Logf("%s recovered to %s; the production license came with the data: %s (valid here: %s)",
		dr, st.Facts["restored_to"], st.Facts["licensed_server"], st.Facts["license_valid"])
	if st.Facts["licensed_server"] != prod || st.Facts["license_valid"] != "false" {
		t.Fatalf("after the restore the K2 database should hold %s's license: licensed_server %q, license_valid %q",
			prod, st.Facts["licensed_server"], st.Facts["license_valid"])
	}

	// K2 will not run on the production license.
	c.service(dr, actions.ServiceStart, "k2-server")
	c.serviceIs(dr, "k2-server", "failed")

	// Step 4: reapply the DR licensing, changing the two license tables.
	c.run(dr, "apply-license")
	c.Await(dr, "DR licensing in Server.Server and HostServer.LicenseKey", func(st actions.Status) bool {
		return st.Facts["licensed_server"] == dr && st.Facts["license_valid"] == "true"
	})
	if out := c.run(dr, "show-license"); !strings.Contains(out, "Disaster Recovery") {
		t.Errorf("show-license does not show the DR environment's rows:\n%s", out)
	}

	// Start the K2 service; it serves once the clients connect to it.
	c.service(dr, actions.ServiceStart, "k2-server")
	c.serviceIs(dr, "k2-server", "running")
	c.fact(dr, "k2_server_status", "K2 idle while clients point to production", func(v string) bool {
		return strings.HasPrefix(v, "Idle: clients connect to "+prod)
	})
	c.set(dr, "k2-clients", "K2Connection.config", "K2Connection/Host", dr)
	c.factIs(dr, "clients_connect_to", dr)
	c.factIs(dr, "k2_server_status", "Processing")
	c.factIs(dr, "k2_sessions", "1")
	c.run(dr, "test-k2")

	// Failback: production becomes a log shipping secondary of the DR site.
	c.service(prod, actions.ServiceStop, "k2-server")
	c.serviceIs(prod, "k2-server", "stopped")
	c.run(dr, "full-backup")
	c.run(prod, "restore-full")
	// Restored from the DR site's full backup, taken after the disaster.
	st = c.Await(prod, "production restoring from the DR full backup", func(st actions.Status) bool {
		at, err := time.Parse(time.RFC3339, st.Facts["restored_to"])
		return st.Role == "standby" && err == nil && at.After(disaster)
	})
	restored := parseTime(t, "restored_to", st.Facts["restored_to"])
	t.Logf("%s restored from %s's full backup of %s", prod, dr, st.Facts["restored_to"])
	c.set(dr, "sql-agent", "Jobs.ini", "K2_LogBackup.Enabled", "1")
	c.set(dr, "sql-agent", "Jobs.ini", "K2_LogShipping.Enabled", "1")
	c.set(prod, "sql-agent", "Jobs.ini", "K2_LogRestore.Enabled", "1")
	c.awaitAdvance(prod, restored)

	// The planned failback: stop K2 at the DR site, back up its tails, and
	// recover production to the end of them.
	c.service(dr, actions.ServiceStop, "k2-server")
	c.serviceIs(dr, "k2-server", "stopped")
	c.run(dr, "tail-log-backup")
	st = c.factIs(dr, "database_state", "RESTORING")
	tail := parseTime(t, "last_log_backup", st.Facts["last_log_backup"])
	c.set(prod, "sql-agent", "Jobs.ini", "K2_LogRestore.Enabled", "0")
	c.set(prod, "k2-dr", "DisasterRecovery.ini", "Recovery.StopAt", "LATEST")
	c.factIs(prod, "stop_at", "LATEST")
	c.run(prod, "recover-to-point-in-time")
	st = c.Await(prod, "production recovered", func(st actions.Status) bool {
		return st.Role == "primary" && st.Facts["database_state"] == "ONLINE"
	})
	back := parseTime(t, "restored_to", st.Facts["restored_to"])
	if d := tail.Sub(back); d < 0 || d > 10*time.Minute {
		t.Errorf("production recovered to %s, not to the DR site's tail-log backup at %s", back, tail)
	}
	c.run(prod, "apply-license")
	c.Await(prod, "production licensing", func(st actions.Status) bool {
		return st.Facts["licensed_server"] == prod && st.Facts["license_valid"] == "true"
	})
	c.service(prod, actions.ServiceStart, "k2-server")
	c.set(prod, "k2-clients", "K2Connection.config", "K2Connection/Host", prod)
	c.factIs(prod, "k2_server_status", "Processing")
	c.run(prod, "test-k2")

	// Log shipping resumes towards the DR site, from where its copy stands.
	c.set(dr, "sql-agent", "Jobs.ini", "K2_LogBackup.Enabled", "0")
	c.set(dr, "sql-agent", "Jobs.ini", "K2_LogShipping.Enabled", "0")
	c.set(prod, "sql-agent", "Jobs.ini", "K2_LogBackup.Enabled", "1")
	c.set(prod, "sql-agent", "Jobs.ini", "K2_LogShipping.Enabled", "1")
	c.set(dr, "sql-agent", "Jobs.ini", "K2_LogRestore.Enabled", "1")
	c.awaitAdvance(dr, tail)
	st = c.Status(dr)
	if st.Role != "standby" || st.Services["k2-server"] == "running" {
		t.Errorf("after the failback the DR site should be a standby with K2 off: %s, services %v", st.Role, st.Services)
	}
	if !strings.HasPrefix(st.Facts["last_restore_job"], "succeeded") {
		t.Errorf("last restore job on %s: %q", dr, st.Facts["last_restore_job"])
	}
}

// TestCutoverWithoutProduction is the disaster the document plans for:
// the production site is gone, no tail-log backup can be taken, and the DR
// site recovers from the hourly log backups it already has.
func TestCutoverWithoutProduction(t *testing.T) {
	c := console{simtest.Start(t, speed, "nintex"), t}
	st := c.Await(dr, "DR standby", func(st actions.Status) bool {
		return st.Role == "standby" && st.Facts["restored_to"] != ""
	})
	c.awaitAdvance(dr, parseTime(t, "restored_to", st.Facts["restored_to"]))

	// At this speed an hour passes in a second, and the test's own steps
	// take seconds on a busy machine: the DR site's restore job is stopped
	// before production is lost, not after, and production ships logs for
	// two hours beyond the DR copy, so that the recovery point below lies
	// ahead of the copy however long the steps take. (After a real
	// disaster the operator's minutes are seconds of simulated time; the
	// restore delay keeps the copy three hours behind.)
	c.set(dr, "sql-agent", "Jobs.ini", "K2_LogRestore.Enabled", "0")
	c.factIs(dr, "log_restore_job_enabled", "0")
	c.Await(dr, "logs shipped two hours beyond the DR copy", func(st actions.Status) bool {
		shipped, err1 := time.Parse(time.RFC3339, st.Facts["last_log_backup"])
		restored, err2 := time.Parse(time.RFC3339, st.Facts["restored_to"])
		return err1 == nil && err2 == nil && shipped.Sub(restored) >= 2*time.Hour
	})

	// Production is lost.
	c.service(prod, actions.ServiceStop, "k2-server")
	c.service(prod, actions.ServiceStop, "sql-server")
	c.Await(prod, "production down", func(st actions.Status) bool { return st.Role == "out-of-service" })
	res, err := c.Try(prod, actions.CommandRun, map[string]string{"command": "tail-log-backup"}, false)
	if err != nil || res.Outcome == nil || res.Outcome.ExitCode == nil || *res.Outcome.ExitCode == 0 {
		t.Fatalf("a tail-log backup without SQL Server: %v %+v", err, res.Outcome)
	}
	t.Logf("tail-log backup without production: exit %d\n%s", *res.Outcome.ExitCode, res.Outcome.Output)

	// What the DR site has received is final once its log shipping monitor
	// has been written since production was seen down: the recovery point
	// age, which grows with simulated time, has moved on since then.
	age := func(st actions.Status) int {
		n, err := strconv.Atoi(st.Facts["recovery_point_age_seconds"])
		if err != nil {
			t.Fatalf("%s: recovery point age %q: %v", dr, st.Facts["recovery_point_age_seconds"], err)
		}
		return n
	}
	seen := age(c.Status(dr))
	st = c.Await(dr, "the log shipping monitor written after production stopped", func(st actions.Status) bool { return age(st) > seen })
	shipped := parseTime(t, "last_log_backup", st.Facts["last_log_backup"])

	// A point past the shipped logs is refused, and nothing changes.
	late := shipped.Add(time.Hour).Format(time.RFC3339)
	c.set(dr, "k2-dr", "DisasterRecovery.ini", "Recovery.StopAt", late)
	c.factIs(dr, "stop_at", late)
	res = c.Do(dr, actions.CommandRun, map[string]string{"command": "recover-to-point-in-time"})
	if res.Outcome == nil || res.Outcome.ExitCode == nil || *res.Outcome.ExitCode == 0 || !strings.Contains(res.Outcome.Output, "no shipped log backup reaches StopAt") {
		t.Fatalf("recovering past the shipped logs: %+v", res.Outcome)
	}
	if st := c.Status(dr); st.Role != "standby" || st.Facts["database_state"] != "RESTORING" {
		t.Fatalf("a refused recovery changed the DR site: %s, %s", st.Role, st.Facts["database_state"])
	}

	// The disaster struck before the next hourly backup; 2 hours before it
	// is within the shipped logs.
	disaster := shipped.Add(59 * time.Minute)
	stopAt := disaster.Add(-2 * time.Hour).Format(time.RFC3339)
	c.set(dr, "k2-dr", "DisasterRecovery.ini", "Recovery.StopAt", stopAt)
	c.factIs(dr, "stop_at", stopAt)
	c.run(dr, "recover-to-point-in-time")
	st = c.Await(dr, "DR recovered", func(st actions.Status) bool {
		return st.Role == "primary" && st.Facts["restored_to"] == stopAt
	})
	lost := disaster.Sub(parseTime(t, "restored_to", st.Facts["restored_to"]))
	t.Logf("recovered to %s: %v of data lost, accepted %ss", st.Facts["restored_to"], lost, st.Facts["accepted_data_loss_seconds"])
	if lost > 4*time.Hour {
		t.Errorf("the recovery lost %v, more than the accepted 4 hours", lost)
	}
	c.run(dr, "apply-license")
	c.service(dr, actions.ServiceStart, "k2-server")
	c.set(dr, "k2-clients", "K2Connection.config", "K2Connection/Host", dr)
	c.factIs(dr, "k2_server_status", "Processing")
}

// TestCrashedServiceShowsFailed kills simulated services with SIGKILL: the
// agent shows each failed and keeps answering.
func TestCrashedServiceShowsFailed(t *testing.T) {
	c := console{simtest.Start(t, 60, "nintex"), t}
	c.Await(prod, "production up", func(st actions.Status) bool {
		return st.Role == "primary" && st.Services["sql-server"] == "running" && st.Services["k2-server"] == "running"
	})
	c.Await(dr, "DR up", func(st actions.Status) bool { return st.Role == "standby" })

	for _, k := range []struct{ member, sim, service, role string }{
		{prod, "nintex-k2server", "k2-server", "primary"},
		{dr, "nintex-sqlserver", "sql-server", "failed"},
		{prod, "nintex-sqlserver", "sql-server", "failed"},
	} {
		start := time.Now()
		pid := c.Crash(k.member, k.sim)
		st := c.Await(k.member, k.service+" failed", func(st actions.Status) bool {
			return st.Services[k.service] == "failed" && st.Role == k.role
		})
		t.Logf("%s on %s (pid %d) killed: %s %s, role %s, after %v", k.service, k.member, pid, k.service,
			st.Services[k.service], st.Role, time.Since(start).Round(time.Millisecond))
	}
	// The agents still answer and act: the services come back with their data.
	c.service(prod, actions.ServiceStart, "sql-server")
	c.service(prod, actions.ServiceStart, "k2-server")
	c.service(dr, actions.ServiceStart, "sql-server")
	c.Await(prod, "production back", func(st actions.Status) bool {
		return st.Role == "primary" && st.Facts["k2_server_status"] == "Processing"
	})
	c.Await(dr, "DR back", func(st actions.Status) bool { return st.Role == "standby" })
}
