package app

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
)

// procedureBenchLimit is how long a benchmark waits for a simulated system
// to reach a state. At speed 1 the simulations keep the documents' own
// times (a K2 backup qualifies in 30 s, a Redstor Agent backs up a minute
// after the platform is laid out), and a busy machine only makes them
// slower.
const procedureBenchLimit = 5 * time.Minute

// statusOf reads a member's status through its agent, by name.
type statusOf func(name string) actions.Status

// procedureBench is one simulated system and the procedure its benchmark
// runs, with the --param arguments its tests pass.
type procedureBench struct {
	profile, system, id string
	params              []string
	// ready says that the fleet is as the procedure begins.
	ready func(st statusOf) bool
	// fail, if set, then brings about what the procedure recovers from.
	fail func(b *testing.B, r *benchRig)
}

var procedureBenches = []procedureBench{
	{profile: "k2san", system: "k2-san", id: "k2san-take-primary-out-of-service",
		ready: func(st statusOf) bool { return steadyPair(st("K2server1"), st("K2server2")) }},
	{profile: "redstor", system: "redstor", id: "redstor-failover",
		// Both sites run and an Agent has backed up, as TestProcedureRedstor
		// begins.
		ready: func(st statusOf) bool {
			m := st(rsMaster)
			return m.Role == "primary" && st(rsSlave).Role == "standby" && st(rsSS).Role == "primary" &&
				st(rsMirror).Role == "standby" && m.Facts["backups_succeeded"] != "" && m.Facts["backups_succeeded"] != "0"
		},
		// The primary site fails: the Master AccountServer and the
		// StorageServer stop.
		fail: func(b *testing.B, r *benchRig) {
			r.act(b, rsMaster, "service.stop", "service=AccountServer")
			r.act(b, rsSS, "service.stop", "service=StorageServer")
			r.await(b, rsMaster+" out of service", func(st statusOf) bool { return st(rsMaster).Role == "out-of-service" })
		}},
	{profile: "wavestore", system: "wavestore", id: "wavestore-failover-on-event",
		params: []string{"--param", "server=ws-physical-2", "--param", "cause=DiskFault"},
		// Each physical server hosts its logical server, the standby stands
		// by, and every server has heard every other.
		ready: func(st statusOf) bool {
			for _, n := range []string{"ws-physical-1", "ws-physical-2", "ws-standby"} {
				if p := st(n).Facts["failover_peers"]; p == "" || strings.Contains(p, "not heard") {
					return false
				}
			}
			return st("ws-standby").Facts["failover_status"] == "a PRIMARY STANDBY server" &&
				st("ws-physical-1").Facts["hosted_logical_server"] == "1" && st("ws-physical-2").Facts["hosted_logical_server"] == "2"
		}},
	{profile: "infocast", system: "infocast", id: "infocast-verify-takeover",
		ready: func(st statusOf) bool { return steadyPair(st("infocast-a"), st("infocast-b")) }},
	// The cutover and standby procedures wait on hourly log shipping and a
	// 3-hour restore delay, simulated hours that speed 1 makes real ones;
	// the failover test of the document's Testing section checks the
	// serving site, which a fresh fleet's production site is.
	{profile: "nintex", system: "nintex-k2", id: "nintex-failover-test",
		ready: func(st statusOf) bool {
			p, d := st(k2Prod), st(k2DR)
			return p.Role == "primary" && p.Facts["k2_server_status"] == "Processing" &&
				d.Role == "standby" && d.Facts["database_state"] == "RESTORING"
		}},
}

// steadyPair is waitSteady's test: one of x, y primary and the other a
// qualified standby, a K2 pair protected and an Infocast Primary that has
// processed a bootcast.
func steadyPair(x, y actions.Status) bool {
	p, s := x, y
	if y.Role == "primary" {
		p, s = y, x
	}
	if p.Role != "primary" || s.Role != "standby" || s.Facts["qualified"] == "false" {
		return false
	}
	switch p.Profile {
	case "k2san":
		return x.Facts["redundancy"] == "protected" || y.Facts["redundancy"] == "protected"
	case "infocast":
		return p.Facts["last_bootcast"] != ""
	}
	return true
}

// BenchmarkProcedurePerProfile times one whole procedure of each simulated
// system, headless with --yes, at speed 1 (the documents' own times): from
// starting `vigil procedure run` to its exit. Each runs once, whatever b.N
// is; the fleet's start and the waits before the run count in ns/op, so
// s-procedure is the figure.
func BenchmarkProcedurePerProfile(b *testing.B) {
	for _, pc := range procedureBenches {
		b.Run(pc.profile, func(b *testing.B) { benchProcedure(b, pc) })
	}
}

func benchProcedure(b *testing.B, pc procedureBench) {
	r := newBenchRig(b, pc.profile)
	r.await(b, pc.profile+" ready for "+pc.id, pc.ready)
	if pc.fail != nil {
		pc.fail(b, r)
	}

	args := append([]string{"procedure", "run", pc.id, "--system", pc.system, "--yes", "--operator", "bench", "--data", r.data}, pc.params...)
	var out, errOut bytes.Buffer
	cmd := exec.Command(vigilBin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("vigil %s: %v after %v\n%s\n%s", strings.Join(args, " "), err, took.Round(time.Millisecond), out.String(), errOut.String())
	}
	b.ReportMetric(took.Seconds(), "s-procedure")

	steps := regexp.MustCompile(`(?m)^step \d+/(\d+) (passed|skipped|failed|aborted): `).FindAllStringSubmatch(out.String(), -1)
	n, ended := 0, map[string]int{}
	for _, m := range steps {
		n, _ = strconv.Atoi(m[1])
		ended[m[2]]++
	}
	summary, recovery := "", ""
	if runs := regexp.MustCompile(`(?m)^Run (\d+) .*$`).FindAllStringSubmatch(out.String(), -1); len(runs) > 0 {
		summary = runs[len(runs)-1][0]
		// The report's recovery time: from the first change to production
		// to the step the procedure counts as recovered.
		report, _ := exec.Command(vigilBin, "procedure", "report", runs[len(runs)-1][1], "--data", r.data).Output()
		for _, l := range strings.Split(string(report), "\n") {
			if strings.HasPrefix(l, "- Recovery time: ") {
				recovery = strings.TrimPrefix(l, "- Recovery time: ")
			}
		}
	}
	b.Logf("%s on %s: %d steps (%d passed, %d skipped) in %v; %q; recovery time %s", pc.id, pc.system, n, ended["passed"], ended["skipped"],
		took.Round(time.Millisecond), summary, recovery)
	if pc.profile == "wavestore" {
		// The document's figure is the recording a takeover misses; the
		// recovery time above is the event to the standby recording, and
		// the whole run goes on to clear the fault and take the logical
		// server back.
		b.Logf("the Wavestore document: typically 10 s of recording missed at a takeover (\"usually less than 10 seconds\"); "+
			"this run: %v end to end, recovery time %s", took.Round(time.Millisecond), recovery)
	}
}

// benchRig is a simulated system at speed 1 whose members a fresh console
// data directory has paired with by address, as procedureFleet sets one
// up for a test.
type benchRig struct {
	*agents
	data string
	ids  map[string]string // member name -> agent id
}

func newBenchRig(b *testing.B, systems string) *benchRig {
	b.Helper()
	members, data := procedureFleet(b, systems, 1)
	r := &benchRig{agents: newAgents(b, data, members), data: data, ids: map[string]string{}}
	for _, m := range members {
		r.ids[m.Name] = m.AgentID
	}
	return r
}

// status reads a member's status through its agent; an unanswered read is
// an empty status, which no wait takes for the state it waits for.
func (r *benchRig) status(name string) actions.Status {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, _ := r.clients[name].Status(ctx)
	return st
}

func (r *benchRig) await(b *testing.B, what string, ok func(st statusOf) bool) {
	b.Helper()
	took := pollUntil(b, procedureBenchLimit, what, func() bool { return ok(r.status) }, nil)
	b.Logf("%s after %v", what, took.Round(time.Millisecond))
}

// act does by hand, through `vigil action`, what the document has the
// operator do on a server (by agent id: other fleets on the machine
// announce servers of the same names).
func (r *benchRig) act(b *testing.B, member, action string, params ...string) {
	b.Helper()
	args := append(append([]string{"action", r.ids[member], action}, params...), "--operator", "bench-hand", "--data", r.data)
	if out, err := exec.Command(vigilBin, args...).CombinedOutput(); err != nil {
		b.Fatalf("%s on %s %v: %v\n%s", action, member, params, err, out)
	}
}
