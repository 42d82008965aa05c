package app

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/sim/fleet"
)

// The nintex procedures run against the simulated K2 DR pair at this
// speed: a simulated hour lasts 12 s, so the hourly log shipping jobs and
// the 3-hour restore delay pass within a test.
const nintexSpeed = 300

// nintexCutoverSpeed is the cutover's: a simulated hour lasts 36 s. The
// recovery point the operator chooses at the start of a run stays ahead of
// the DR copy for two simulated hours (see chooseStopAt), until the run's
// step 7 stops the restores; a loaded machine (two test runs on two cores)
// has taken more than the 24 s those hours last at nintexSpeed to get
// there.
const nintexCutoverSpeed = 100

const (
	k2Prod = "K2-PROD"
	k2DR   = "K2-DR"
)

// nintexFleet starts the simulated K2 DR pair and waits until production
// is primary and processing and the DR site a RESTORING standby.
func nintexFleet(t *testing.T, speed int) ([]fleet.Member, string, *agents) {
	t.Helper()
	members, data := procedureFleet(t, "nintex", speed)
	ag := newAgents(t, data, members)
	// The first restore at the DR site comes after the 3-hour restore
	// delay: 36 s at nintexSpeed, 108 s at nintexCutoverSpeed.
	awaitAgents(t, ag, time.Duration(4*3600/speed+60)*time.Second, "production primary and processing, DR a RESTORING standby", func() bool {
		p, d := ag.status(k2Prod), ag.status(k2DR)
		return p.Role == "primary" && p.Facts["k2_server_status"] == "Processing" &&
			d.Role == "standby" && d.Facts["database_state"] == "RESTORING" && d.Facts["restored_to"] != ""
	})
	return members, data, ag
}

func awaitAgents(t *testing.T, ag *agents, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	pollUntil(t, timeout, what, ok, func() string {
		return fmt.Sprintf("%s: %v; %s: %v", k2Prod, ag.status(k2Prod).Facts, k2DR, ag.status(k2DR).Facts)
	})
}

// runNintex runs a procedure headless and fails unless it completes.
func runNintex(t *testing.T, data string, speed int, args ...string) (string, string) {
	t.Helper()
	start := time.Now()
	out, errOut, code := vigilRun(t, append(append([]string{"procedure", "run"}, args...), "--system", "nintex-k2", "--yes", "--operator", "e2e", "--data", data)...)
	if code != 0 {
		t.Fatalf("vigil procedure run %v: exit %d\n%s\n%s", args, code, out, errOut)
	}
	t.Logf("%s headless at speed %d: %v", args[0], speed, time.Since(start).Round(time.Millisecond))
	m := regexp.MustCompile(`Run (\d+) started`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no run id in\n%s", out)
	}
	return out, m[1]
}

// chooseStopAt is what the operator does at cutover step 2: the time of
// the disaster (now, as the DR site's log shipping monitor sees it) minus
// 2 hours. The DR site restores, on the hour, the shipped log backups
// older than 3 hours, so a recovery point of now minus 2 hours stays ahead
// of its copy until the restore two hours on; the run stops those restores
// at its step 7. To leave the run as much of that as it can, the point is
// chosen just after a restore (the copy 3 hours behind, not 4): two
// simulated hours, 72 s of a machine's time at nintexCutoverSpeed.
func chooseStopAt(t *testing.T, ag *agents, speed int) string {
	t.Helper()
	var now time.Time
	// Its copy is 3 hours behind first when the 3 hours since the initial
	// restore have passed, and again after every hourly restore.
	awaitAgents(t, ag, time.Duration(4*3600/speed+30)*time.Second, "a restore just done at the DR site (its copy 3h to 3h15m behind)", func() bool {
		st := ag.status(k2DR)
		at, err := time.Parse(time.RFC3339, st.Facts["restored_to"])
		age, err2 := strconv.Atoi(st.Facts["recovery_point_age_seconds"])
		if err != nil || err2 != nil || age < 3*3600 || age > 3*3600+15*60 {
			return false
		}
		now = at.Add(time.Duration(age) * time.Second)
		return true
	})
	return now.Add(-2 * time.Hour).UTC().Format(time.RFC3339)
}

// TestProcedureNintexCutover runs the DR cutover headless: through the
// agents, K2-DR ends primary with its databases ONLINE, recovered to the
// chosen point in time, licensed to itself, its K2 service running and the
// clients pointed at it; production's databases are RESTORING after their
// tail-log backup, and the report gives the recovery point.
func TestProcedureNintexCutover(t *testing.T) {
	t.Parallel()
	_, data, ag := nintexFleet(t, nintexCutoverSpeed)
	stopAt := chooseStopAt(t, ag, nintexCutoverSpeed)
	out, runID := runNintex(t, data, nintexCutoverSpeed, "nintex-dr-cutover", "--param", "stop_at="+stopAt)
	if !strings.Contains(out, "step 3/") {
		t.Errorf("output:\n%s", out)
	}
	d, p := ag.status(k2DR), ag.status(k2Prod)
	if d.Role != "primary" || d.Facts["database_state"] != "ONLINE" || d.Facts["restored_to"] != stopAt ||
		d.Facts["licensed_server"] != k2DR || d.Facts["license_valid"] != "true" || d.Services["k2-server"] != "running" ||
		d.Facts["clients_connect_to"] != k2DR || d.Facts["k2_server_status"] != "Processing" || d.Facts["log_restore_job_enabled"] != "0" {
		t.Errorf("%s after the cutover: %s, services %v, facts %v", k2DR, d.Role, d.Services, d.Facts)
	}
	if p.Facts["database_state"] != "RESTORING" || p.Facts["log_backup_job_enabled"] != "0" || p.Facts["log_shipping_job_enabled"] != "0" {
		t.Errorf("%s after the cutover: %s, facts %v", k2Prod, p.Role, p.Facts)
	}
	md, _, code := vigilRun(t, "procedure", "report", runID, "--data", data)
	if code != 0 || !strings.Contains(md, "- Outcome: **completed**") || !strings.Contains(md, "- Recovery point: K2 databases at the DR site recovered to") ||
		!strings.Contains(md, stopAt) {
		t.Errorf("report: exit %d\n%s", code, md)
	}
	for _, l := range strings.Split(md, "\n") {
		if strings.Contains(l, "Recovery point") || strings.Contains(l, "Recovery time") {
			t.Log(l)
		}
	}

	// The failover test of the Testing section, on the site that now serves.
	runNintex(t, data, nintexCutoverSpeed, "nintex-failover-test")
	if d := ag.status(k2DR); d.Role != "primary" || d.Facts["k2_server_status"] != "Processing" {
		t.Errorf("%s after the failover test: %s, %v", k2DR, d.Role, d.Facts)
	}
}

// TestProcedureNintexStandbys sets up DR with log shipping (prerequisite,
// initial setup, ongoing), prepares the hot or warm standby, restores it,
// and restores to a cold standby on the server that then serves; each is
// checked through the agents.
func TestProcedureNintexStandbys(t *testing.T) {
	t.Parallel()
	_, data, ag := nintexFleet(t, nintexSpeed)
	before := ag.status(k2DR).Facts["restored_to"]

	runNintex(t, data, nintexSpeed, "nintex-setup-log-shipping")
	p, d := ag.status(k2Prod), ag.status(k2DR)
	if p.Role != "primary" || p.Services["k2-server"] != "running" || p.Facts["k2_server_status"] != "Processing" ||
		p.Facts["log_backup_job_enabled"] != "1" || p.Facts["log_shipping_job_enabled"] != "1" {
		t.Errorf("%s after the setup: %s, services %v, facts %v", k2Prod, p.Role, p.Services, p.Facts)
	}
	if d.Role != "standby" || d.Facts["database_state"] != "RESTORING" || d.Services["k2-server"] == "running" ||
		d.Facts["log_restore_job_enabled"] != "1" || d.Facts["within_accepted_data_loss"] != "true" || d.Facts["restored_to"] < before {
		t.Errorf("%s after the setup: %s, services %v, facts %v (restored to %s before)", k2DR, d.Role, d.Services, d.Facts, before)
	}

	runNintex(t, data, nintexSpeed, "nintex-prepare-hot-warm-standby")
	if d := ag.status(k2DR); d.Role != "standby" || d.Services["k2-server"] == "running" {
		t.Errorf("%s after preparing: %s, services %v", k2DR, d.Role, d.Services)
	}

	_, runID := runNintex(t, data, nintexSpeed, "nintex-restore-hot-warm-standby")
	d = ag.status(k2DR)
	if d.Role != "primary" || d.Facts["database_state"] != "ONLINE" || d.Facts["licensed_server"] != k2DR || d.Facts["license_valid"] != "true" ||
		d.Services["k2-server"] != "running" || d.Facts["clients_connect_to"] != k2DR || d.Facts["k2_server_status"] != "Processing" {
		t.Errorf("%s after the restoration: %s, services %v, facts %v", k2DR, d.Role, d.Services, d.Facts)
	}
	md, _, _ := vigilRun(t, "procedure", "report", runID, "--data", data)
	if !strings.Contains(md, "- Recovery point: K2 databases of the standby recovered to") {
		t.Errorf("report:\n%s", md)
	}

	runNintex(t, data, nintexSpeed, "nintex-restore-cold-standby", "--param", "server="+k2DR)
	if d := ag.status(k2DR); d.Role != "primary" || d.Facts["license_valid"] != "true" || d.Services["k2-server"] != "running" {
		t.Errorf("%s after the cold standby restore: %s, services %v, facts %v", k2DR, d.Role, d.Services, d.Facts)
	}
}
