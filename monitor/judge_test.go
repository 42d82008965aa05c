package monitor

import (
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/model"
)

// mem is a watched member for the judge's table: name, role, health and
// what it was serving as while live.
// A live primary that served as standby took over: the console saw it
// change.
func mem(name string, role model.Role, health model.Health, serving model.Role) member {
	m := member{view: model.ServerView{ID: name, Name: name, Role: role, Health: health, Paired: true}, serving: serving}
	if role == model.RolePrimary && serving == model.RoleStandby && m.view.Live() {
		m.serving, m.tookOver = model.RolePrimary, true
	}
	return m
}

func peers(m member, names ...string) member {
	m.peers = names
	return m
}

func seenBy(m member, peers ...string) member {
	m.view.SeenBy = peers
	return m
}

func vendor(m member, role string) member {
	m.view.VendorRole = role
	return m
}

const (
	up          = model.HealthUp
	degraded    = model.HealthDegraded
	down        = model.HealthDown
	unreachable = model.HealthUnreachable
	unknown     = model.HealthUnknown
	primary     = model.RolePrimary
	standby     = model.RoleStandby
	failed      = model.RoleFailed
	oos         = model.RoleOutOfService
	noRole      = model.RoleUnknown
)

// TestJudge covers the fleet states the judge must tell apart, per
// profile: every verdict, with down, unreachable (with and without a
// peer's word), degraded, untrusted and not yet heard servers, and
// Wavestore N+1's one primary per logical server.
func TestJudge(t *testing.T) {
	const grace = 15 * time.Second
	lag := Limit{Fact: "mirror_lag_seconds", Value: 69 * 60, Bound: 15 * 60, Over: true}
	tests := []struct {
		name      string
		profile   string
		members   []member
		untrusted []string
		lostFor   time.Duration // how long the system has been without a primary; 0: it has one
		verdict   model.Verdict
		severity  model.Severity
		summary   string   // a part of the summary
		reasons   []string // parts of reasons, each in some reason
		next      string
	}{
		{name: "healthy pair", profile: "k2san",
			members: []member{mem("A", primary, up, primary), mem("B", standby, up, standby)},
			verdict: model.VerdictHealthy, severity: model.SeverityInfo, summary: "A primary"},
		{name: "single server", profile: "k2san",
			members: []member{mem("A", primary, up, primary)},
			verdict: model.VerdictHealthy, severity: model.SeverityInfo},
		{name: "standby down", profile: "k2san",
			members: []member{mem("A", primary, up, primary), mem("B", standby, down, standby)},
			verdict: model.VerdictDegraded, severity: model.SeverityWarning,
			reasons: []string{"B is down (it was standby): nothing can take over"}},
		{name: "standby unreachable, no peer's word", profile: "k2san",
			members: []member{mem("A", primary, up, primary), mem("B", standby, unreachable, standby)},
			verdict: model.VerdictDegraded, severity: model.SeverityWarning, reasons: []string{"B is unreachable (it was standby)"}},
		{name: "standby unreachable, its peer sees it", profile: "k2san",
			members: []member{mem("A", primary, up, primary), seenBy(mem("B", standby, unreachable, standby), "A")},
			verdict: model.VerdictDegraded, severity: model.SeverityWarning,
			reasons: []string{"B is unreachable from this console, but A still sees it", "console's own network"}},
		{name: "primary down within the grace", profile: "k2san", lostFor: 3 * time.Second,
			members: []member{mem("A", primary, down, primary), mem("B", standby, up, standby)},
			verdict: model.VerdictFailingOver, severity: model.SeverityWarning,
			summary: "a failover may be under way", reasons: []string{"A is down (it was primary)"}},
		{name: "primary down past the grace, K2's backup did not take over", profile: "k2san", lostFor: 20 * time.Second,
			members: []member{mem("A", primary, down, primary), mem("B", standby, up, standby)},
			verdict: model.VerdictNoPrimary, severity: model.SeverityCritical, summary: "no server of sys is primary"},
		{name: "K2 failed over", profile: "k2san",
			members: []member{mem("K2server1", primary, down, primary), mem("K2server2", primary, up, standby)},
			verdict: model.VerdictFailedOver, severity: model.SeverityWarning,
			summary: "K2server2 took over from K2server1", next: "k2san-recover-from-failover"},
		{name: "failed over, old primary silent", profile: "k2san",
			members: []member{mem("A", primary, unreachable, primary), mem("B", primary, up, standby)},
			verdict: model.VerdictFailedOver, severity: model.SeverityWarning, next: "k2san-recover-from-failover"},
		{name: "failed over before the console started", profile: "k2san",
			members: []member{mem("A", primary, down, ""), mem("B", primary, up, primary)},
			verdict: model.VerdictFailedOver, severity: model.SeverityWarning, summary: "B serving; A lost", next: "k2san-recover-from-failover"},
		{name: "primary taken out of service, backup took over", profile: "k2san",
			members: []member{mem("A", oos, up, primary), mem("B", primary, up, standby)},
			verdict: model.VerdictFailedOver, severity: model.SeverityWarning, reasons: []string{"A is out-of-service (it was primary)"},
			next: "k2san-recover-from-failover"},
		{name: "only the standby paired: the primary is not watched", profile: "k2san", lostFor: time.Minute,
			members: []member{peers(mem("B", standby, up, standby), "A")},
			verdict: model.VerdictUnknown, severity: model.SeverityWarning, summary: "A is not paired with this console"},
		{name: "primary paired, standby not yet", profile: "k2san",
			members: []member{peers(mem("A", primary, up, primary), "B")},
			verdict: model.VerdictHealthy, severity: model.SeverityInfo, reasons: []string{"B is not paired with this console: pair to watch"}},
		{name: "standby coming into service", profile: "k2san",
			members: []member{mem("A", primary, up, primary), {view: mem("B", oos, up, "").view, arriving: true}},
			verdict: model.VerdictHealthy, severity: model.SeverityInfo, reasons: []string{"B is coming into service"}},
		{name: "standby out of service", profile: "k2san",
			members: []member{mem("A", primary, up, primary), mem("B", oos, up, standby)},
			verdict: model.VerdictDegraded, severity: model.SeverityWarning, reasons: []string{"B is out-of-service"}},
		{name: "primary failed, nobody took over yet", profile: "k2san", lostFor: time.Second,
			members: []member{mem("A", failed, up, primary), mem("B", standby, up, standby)},
			verdict: model.VerdictFailingOver, severity: model.SeverityWarning},
		{name: "split brain", profile: "k2san",
			members: []member{mem("A", primary, up, primary), mem("B", primary, up, standby)},
			verdict: model.VerdictSplitBrain, severity: model.SeverityCritical, reasons: []string{"A and B all claim primary"}},
		{name: "split brain of degraded servers", profile: "infocast",
			members: []member{mem("A", primary, degraded, primary), mem("B", primary, up, primary)},
			verdict: model.VerdictSplitBrain, severity: model.SeverityCritical},
		{name: "primary cut off from the console only", profile: "k2san",
			members: []member{seenBy(mem("A", primary, unreachable, primary), "B"), mem("B", standby, up, standby)},
			verdict: model.VerdictUnknown, severity: model.SeverityWarning,
			summary: "do not fail over", reasons: []string{"B still sees it (it was PRIMARY when last heard)", "console's own network may be at fault"}},
		{name: "primary silent, its peer's word not in yet", profile: "k2san", lostFor: time.Second,
			members: []member{{view: func() model.ServerView {
				v := mem("A", primary, unreachable, primary).view
				v.AwaitingWord = []string{"B"}
				return v
			}(), serving: primary}, mem("B", standby, up, standby)},
			verdict: model.VerdictUnknown, severity: model.SeverityWarning,
			summary: "A unreachable from this console; waiting for its peers' word", reasons: []string{"waiting for the word of B"}},
		{name: "cut-off primary and a new live primary", profile: "k2san",
			members: []member{seenBy(mem("A", primary, unreachable, primary), "B"), mem("B", primary, up, standby)},
			verdict: model.VerdictDegraded, severity: model.SeverityWarning, reasons: []string{"A is unreachable from this console"}},
		{name: "console cut off from everything", profile: "k2san", lostFor: time.Minute,
			members: []member{mem("A", primary, unreachable, primary), mem("B", standby, unreachable, standby)},
			verdict: model.VerdictUnknown, severity: model.SeverityWarning, summary: "the console's own network may be at fault"},
		{name: "every server refused", profile: "k2san", lostFor: time.Minute,
			members: []member{mem("A", primary, down, primary), mem("B", standby, down, standby)},
			verdict: model.VerdictNoPrimary, severity: model.SeverityCritical},
		{name: "not heard since start", profile: "k2san",
			members: []member{mem("A", primary, unknown, ""), mem("B", standby, unknown, "")},
			verdict: model.VerdictUnknown, severity: model.SeverityWarning, summary: "waiting to hear from A and B"},
		{name: "primary heard, standby not yet", profile: "k2san",
			members: []member{mem("A", primary, up, primary), mem("B", standby, unknown, "")},
			verdict: model.VerdictHealthy, severity: model.SeverityInfo, reasons: []string{"not heard from yet: B"}},
		{name: "standby heard, primary not yet", profile: "k2san", lostFor: time.Minute,
			members: []member{mem("A", primary, unknown, ""), mem("B", standby, up, standby)},
			verdict: model.VerdictUnknown, severity: model.SeverityWarning, summary: "waiting to hear from A"},
		{name: "primary's key changed", profile: "k2san", lostFor: time.Minute,
			members: []member{mem("B", standby, up, standby)}, untrusted: []string{"A"},
			verdict: model.VerdictUnknown, severity: model.SeverityCritical, reasons: []string{"A presents another key"}},
		{name: "standby's key changed", profile: "k2san",
			members: []member{mem("A", primary, up, primary)}, untrusted: []string{"B"},
			verdict: model.VerdictDegraded, severity: model.SeverityCritical, reasons: []string{"B presents another key"}},
		{name: "only untrusted servers", profile: "k2san", untrusted: []string{"A"},
			verdict: model.VerdictUnknown, severity: model.SeverityCritical},
		{name: "mirror lag over its limit", profile: "redstor",
			members: []member{{view: mem("StorageServer", primary, degraded, primary).view, serving: primary, over: []Limit{lag}}, mem("MirrorServer", standby, up, standby)},
			verdict: model.VerdictDegraded, severity: model.SeverityWarning,
			reasons: []string{"StorageServer: mirror lag 69 min, limit 15 min"}},
		{name: "peer link lost", profile: "infocast",
			members: []member{{view: mem("A", primary, up, primary).view, serving: primary, peersDown: []string{"B"}}, mem("B", standby, up, standby)},
			verdict: model.VerdictDegraded, severity: model.SeverityWarning, reasons: []string{"B cannot reach A: peer link lost"}},
		{name: "flapping standby", profile: "infocast",
			members: []member{mem("A", primary, up, primary), {view: mem("B", standby, up, standby).view, flapping: true}},
			verdict: model.VerdictDegraded, severity: model.SeverityWarning, reasons: []string{"B keeps changing"}},
		{name: "live server without a role", profile: "infocast",
			members: []member{mem("A", primary, up, primary), mem("B", noRole, up, "")},
			verdict: model.VerdictDegraded, severity: model.SeverityWarning, reasons: []string{"B does not say what role"}},
		{name: "Infocast redundant server took over", profile: "infocast",
			members: []member{mem("infocast-a", primary, down, primary), mem("infocast-b", primary, up, standby)},
			verdict: model.VerdictFailedOver, severity: model.SeverityWarning, next: "infocast-verify-takeover"},
		{name: "Wavestore N+1 healthy: two primaries are normal", profile: "wavestore",
			members: []member{mem("ws-physical-1", primary, up, primary), mem("ws-physical-2", primary, up, primary), mem("ws-standby", standby, up, standby)},
			verdict: model.VerdictHealthy, severity: model.SeverityInfo},
		{name: "Wavestore standby took a logical server over", profile: "wavestore",
			members: []member{mem("ws-physical-1", primary, up, primary), mem("ws-physical-2", failed, up, primary), mem("ws-standby", primary, up, standby)},
			verdict: model.VerdictFailedOver, severity: model.SeverityWarning,
			summary: "ws-standby took over from ws-physical-2", next: "wavestore-failback-after-repair"},
		{name: "Wavestore logical server not recorded, within the grace", profile: "wavestore", lostFor: 5 * time.Second,
			members: []member{mem("ws-physical-1", primary, up, primary), mem("ws-physical-2", primary, down, primary), mem("ws-standby", standby, up, standby)},
			verdict: model.VerdictFailingOver, severity: model.SeverityWarning, summary: "1 of 2 logical servers are recorded"},
		{name: "Wavestore logical server not recorded past the grace", profile: "wavestore", lostFor: time.Minute,
			members: []member{mem("ws-physical-1", primary, up, primary), mem("ws-physical-2", failed, up, primary), mem("ws-standby", standby, up, standby)},
			verdict: model.VerdictNoPrimary, severity: model.SeverityCritical},
		{name: "Wavestore starting: physical servers arbitrating", profile: "wavestore", lostFor: 2 * time.Second,
			members: []member{mem("ws-physical-1", oos, up, ""), mem("ws-physical-2", oos, up, ""), mem("ws-standby", standby, up, standby)},
			verdict: model.VerdictUnknown, severity: model.SeverityWarning, summary: "0 of 2 logical servers are recorded; none was lost: its servers may be coming into service"},
		{name: "Wavestore starting: a physical server coming into service is no warning", profile: "wavestore", lostFor: 2 * time.Second,
			members: []member{{view: mem("ws-physical-1", oos, up, "").view, arriving: true}, mem("ws-physical-2", primary, up, primary), mem("ws-standby", standby, up, standby)},
			verdict: model.VerdictUnknown, severity: model.SeverityInfo, summary: "1 of 2 logical servers are recorded; none was lost: its servers may be coming into service",
			reasons: []string{"ws-physical-1 is coming into service"}},
		{name: "Wavestore starting: one physical server still arbitrating", profile: "wavestore", lostFor: 2 * time.Second,
			members: []member{mem("ws-physical-1", oos, up, ""), mem("ws-physical-2", primary, up, primary), mem("ws-standby", standby, up, standby)},
			verdict: model.VerdictUnknown, severity: model.SeverityWarning, summary: "1 of 2 logical servers are recorded; none was lost"},
		{name: "Wavestore never came into service", profile: "wavestore", lostFor: time.Minute,
			members: []member{mem("ws-physical-1", oos, up, ""), mem("ws-physical-2", oos, up, ""), mem("ws-standby", standby, up, standby)},
			verdict: model.VerdictNoPrimary, severity: model.SeverityCritical, summary: "0 of 2 logical servers are recorded"},
		{name: "Wavestore standby down", profile: "wavestore",
			members: []member{mem("ws-physical-1", primary, up, primary), mem("ws-physical-2", primary, up, primary), mem("ws-standby", standby, down, standby)},
			verdict: model.VerdictDegraded, severity: model.SeverityWarning},
		{name: "Redstor Master AccountServer down past the grace", profile: "redstor", lostFor: time.Minute,
			members: []member{vendor(mem("AccountServer-Master", primary, down, primary), "Master AccountServer"), vendor(mem("AccountServer-Slave", standby, up, standby), "Slave AccountServer")},
			verdict: model.VerdictNoPrimary, severity: model.SeverityCritical, next: "redstor-failover"},
		{name: "Redstor AccountServer failed over", profile: "redstor",
			members: []member{vendor(mem("AccountServer-Master", primary, down, primary), "Master AccountServer"), vendor(mem("AccountServer-Slave", primary, up, standby), "Master AccountServer")},
			verdict: model.VerdictFailedOver, severity: model.SeverityWarning, next: "redstor-prepare-failback-accountserver"},
		{name: "Redstor StorageServer failed over to its mirror", profile: "redstor",
			members: []member{vendor(mem("StorageServer", primary, down, primary), "StorageServer"), vendor(mem("MirrorServer", primary, up, standby), "StorageServer")},
			verdict: model.VerdictFailedOver, severity: model.SeverityWarning, next: "redstor-prepare-failback-storageserver"},
		{name: "Nintex production lost past the grace", profile: "nintex", lostFor: time.Minute,
			members: []member{mem("K2-PROD", primary, down, primary), mem("K2-DR", standby, up, standby)},
			verdict: model.VerdictNoPrimary, severity: model.SeverityCritical, next: "nintex-dr-cutover"},
		{name: "Nintex cut over to DR", profile: "nintex",
			members: []member{mem("K2-PROD", primary, down, primary), mem("K2-DR", primary, up, standby)},
			verdict: model.VerdictFailedOver, severity: model.SeverityWarning},
	}
	now := t0.Add(time.Hour)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := judgeInput{system: "sys", profile: tt.profile, members: tt.members, untrusted: tt.untrusted, grace: grace, now: now}
			if tt.lostFor > 0 {
				in.noPrimarySince = now.Add(-tt.lostFor)
			}
			j := judge(in)
			if j.Verdict != tt.verdict || j.Severity != tt.severity {
				t.Fatalf("verdict %s (%s), want %s (%s): %s %+v", j.Verdict, j.Severity, tt.verdict, tt.severity, j.Summary, j.Reasons)
			}
			if !strings.Contains(j.Summary, tt.summary) {
				t.Errorf("summary %q lacks %q", j.Summary, tt.summary)
			}
			for _, want := range tt.reasons {
				found := false
				for _, r := range j.Reasons {
					found = found || strings.Contains(r.Text, want)
				}
				if !found {
					t.Errorf("no reason says %q: %+v", want, j.Reasons)
				}
			}
			if j.Next != tt.next {
				t.Errorf("next %q, want %q", j.Next, tt.next)
			}
			if j.System != "sys" || j.Profile != tt.profile || j.Reasons == nil {
				t.Errorf("verdict %+v lacks its system, profile or reasons", j.SystemVerdict)
			}
			for _, r := range j.Reasons {
				if len(r.Servers) == 0 || r.Text == "" || r.Severity.Rank() < 0 {
					t.Errorf("reason %+v names no server, says nothing or has no severity", r)
				}
			}
			if j.Verdict == model.VerdictFailingOver || j.Verdict == model.VerdictUnknown && strings.Contains(j.Summary, "do not fail over") {
				if j.Next != "" {
					t.Errorf("%s suggests %s", j.Verdict, j.Next)
				}
			}
		})
	}
	if len(tests) < 30 {
		t.Errorf("the table has %d fleet states; it must cover at least 30", len(tests))
	}
}
