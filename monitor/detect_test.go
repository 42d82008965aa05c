package monitor

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

var t0 = time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)

// sv is a paired server's view.
func sv(id, system, profile string, role model.Role, health model.Health) model.ServerView {
	return model.ServerView{ID: id, Name: id, System: system, Profile: profile, Role: role, Health: health, Paired: true}
}

func st(services, facts map[string]string) actions.Status {
	return actions.Status{Services: services, Facts: facts}
}

func kinds(evs []model.Event) string {
	var out []string
	for _, e := range evs {
		s := e.Kind + ":" + string(e.Severity)
		if e.To != "" {
			s += "->" + e.To
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func expect(t *testing.T, what string, evs []model.Event, want string) {
	t.Helper()
	if got := kinds(evs); got != want {
		t.Errorf("%s: events %q, want %q", what, got, want)
	}
}

func TestDetectorHealthAndRole(t *testing.T) {
	d := NewDetector(DetectorConfig{})
	expect(t, "first sight", d.View(sv("a", "k2", "k2san", model.RolePrimary, model.HealthUp), t0), "")
	expect(t, "peer first sight", d.View(sv("b", "k2", "k2san", model.RoleStandby, model.HealthUp), t0), "")
	expect(t, "down", d.View(sv("a", "k2", "k2san", model.RolePrimary, model.HealthDown), t0.Add(time.Second)),
		"down:critical->down failing-over:warning->failing-over")
	// The backup takes over: a failover, with old and new role, and the
	// system has failed over.
	evs := d.View(sv("b", "k2", "k2san", model.RolePrimary, model.HealthUp), t0.Add(2*time.Second))
	expect(t, "failover", evs, "role:warning->primary failed-over:warning->failed-over")
	if evs[0].From != "standby" || evs[0].Server != "b" || evs[0].System != "k2" {
		t.Errorf("failover event %+v", evs[0])
	}
	if evs[1].From != "failing-over" || evs[1].Server != "" || !strings.Contains(evs[1].Detail, "b took over from a") ||
		!strings.Contains(evs[1].Detail, "next: k2san-recover-from-failover") {
		t.Errorf("failed-over event %+v", evs[1])
	}
	// The old primary comes back as standby: up, saying what it is now;
	// its first status after reconnecting is not a role change.
	evs = d.View(sv("a", "k2", "k2san", model.RoleStandby, model.HealthUp), t0.Add(3*time.Second))
	expect(t, "back", evs, "up:info->up healthy:info->healthy")
	if !strings.Contains(evs[0].Detail, "now standby (it was primary when last heard)") {
		t.Errorf("up event %+v", evs[0])
	}
	expect(t, "unreachable", d.View(sv("a", "k2", "k2san", model.RoleStandby, model.HealthUnreachable), t0.Add(4*time.Second)),
		"unreachable:warning->unreachable degraded:warning->degraded")
	expect(t, "back failed", d.View(sv("a", "k2", "k2san", model.RoleFailed, model.HealthUp), t0.Add(5*time.Second)), "up:warning->up")
	// Taken out of service is a warning; coming back into service is news.
	expect(t, "out of service", d.View(sv("b", "k2", "k2san", model.RoleOutOfService, model.HealthUp), t0.Add(5*time.Second)),
		"role:warning->out-of-service failing-over:warning->failing-over")
	expect(t, "into service", d.View(sv("b", "k2", "k2san", model.RoleStandby, model.HealthUp), t0.Add(5*time.Second)), "role:info->standby")
	v := sv("a", "k2", "k2san", model.RoleFailed, model.HealthUp)
	v.IdentityChanged = true
	expect(t, "identity", d.View(v, t0.Add(6*time.Second)), "identity-changed:critical unknown:critical->unknown")
}

func TestDetectorSplitBrainAndNoPrimary(t *testing.T) {
	d := NewDetector(DetectorConfig{NoPrimaryGrace: 10 * time.Second})
	d.View(sv("a", "rs", "redstor", model.RolePrimary, model.HealthUp), t0)
	d.View(sv("b", "rs", "redstor", model.RoleStandby, model.HealthUnknown), t0)
	d.View(sv("b", "rs", "redstor", model.RoleStandby, model.HealthUp), t0)
	expect(t, "second primary", d.View(sv("b", "rs", "redstor", model.RolePrimary, model.HealthUp), t0.Add(time.Second)),
		"role:warning->primary split-brain:critical->split-brain")
	expect(t, "still split", d.Tick(t0.Add(2*time.Second)), "")
	expect(t, "resolved", d.View(sv("a", "rs", "redstor", model.RoleStandby, model.HealthUp), t0.Add(3*time.Second)),
		"role:warning->standby healthy:info->healthy")

	// N+1: several primaries are normal.
	d.View(sv("w1", "ws", "wavestore", model.RolePrimary, model.HealthUp), t0)
	expect(t, "wavestore", d.View(sv("w2", "ws", "wavestore", model.RolePrimary, model.HealthUp), t0), "")

	// No primary: failing over within the grace, critical after it, once,
	// and cleared.
	evs := d.View(sv("b", "rs", "redstor", model.RoleOutOfService, model.HealthUp), t0.Add(10*time.Second))
	expect(t, "lost its primary", evs, "role:warning->out-of-service failing-over:warning->failing-over")
	expect(t, "within grace", d.Tick(t0.Add(15*time.Second)), "")
	evs = d.Tick(t0.Add(21 * time.Second))
	expect(t, "after grace", evs, "no-primary:critical->no-primary")
	if len(evs) == 1 && (evs[0].Server != "" || evs[0].System != "rs" || evs[0].From != "failing-over" ||
		!strings.Contains(evs[0].Detail, "next: redstor-failover")) {
		t.Errorf("no-primary event %+v", evs[0])
	}
	expect(t, "raised once", d.Tick(t0.Add(40*time.Second)), "")
	// a, the standby, became primary while b, the primary before, stays
	// out of service: a failover.
	expect(t, "primary again", d.View(sv("a", "rs", "redstor", model.RolePrimary, model.HealthUp), t0.Add(41*time.Second)),
		"role:warning->primary failed-over:warning->failed-over")
}

func TestDetectorNoPrimaryWaitsUntilEveryServerIsHeard(t *testing.T) {
	d := NewDetector(DetectorConfig{NoPrimaryGrace: time.Second})
	d.View(sv("a", "ic", "infocast", model.RoleStandby, model.HealthUp), t0)
	d.View(sv("b", "ic", "infocast", model.RoleUnknown, model.HealthUnknown), t0)
	expect(t, "not settled", d.Tick(t0.Add(time.Minute)), "")
	if v := d.Verdicts(); len(v) != 1 || v[0].Verdict != model.VerdictUnknown || !strings.Contains(v[0].Summary, "waiting to hear from b") {
		t.Errorf("verdicts %+v", v)
	}
}

// TestDetectorSettlingIsNotNews: a console that starts (every stored
// server unknown) and hears a healthy system raises no event; one that
// hears a degraded system says so once.
func TestDetectorSettlingIsNotNews(t *testing.T) {
	d := NewDetector(DetectorConfig{})
	for _, v := range []model.ServerView{
		sv("a", "k2", "k2san", model.RolePrimary, model.HealthUnknown), sv("b", "k2", "k2san", model.RoleStandby, model.HealthUnknown),
		sv("m", "rs", "redstor", model.RolePrimary, model.HealthUnknown), sv("s", "rs", "redstor", model.RoleStandby, model.HealthUnknown),
	} {
		expect(t, "stored "+v.Name, d.View(v, t0), "")
	}
	expect(t, "a heard", d.View(sv("a", "k2", "k2san", model.RolePrimary, model.HealthUp), t0), "")
	expect(t, "b heard", d.View(sv("b", "k2", "k2san", model.RoleStandby, model.HealthUp), t0), "")
	expect(t, "m heard", d.View(sv("m", "rs", "redstor", model.RolePrimary, model.HealthUp), t0), "")
	expect(t, "s heard down", d.View(sv("s", "rs", "redstor", model.RoleStandby, model.HealthDown), t0), "down:critical->down degraded:warning->degraded")
	changed := d.Changed()
	if len(changed) != 2 || changed[0].System != "k2" || changed[0].Verdict != model.VerdictHealthy || changed[1].Verdict != model.VerdictDegraded {
		t.Errorf("changed verdicts %+v", changed)
	}
	if again := d.Changed(); len(again) != 0 {
		t.Errorf("changed twice: %+v", again)
	}
}

// TestDetectorIgnoresServersNotPaired: servers the console does not watch
// (another console's agents on the LAN, servers not yet paired) never
// change a verdict, whatever they announce.
func TestDetectorIgnoresServersNotPaired(t *testing.T) {
	d := NewDetector(DetectorConfig{NoPrimaryGrace: time.Second})
	d.View(sv("a", "k2", "k2san", model.RolePrimary, model.HealthUp), t0)
	d.View(sv("b", "k2", "k2san", model.RoleStandby, model.HealthUp), t0)
	stranger := sv("x", "k2", "k2san", model.RolePrimary, model.HealthUnknown)
	stranger.Paired = false
	expect(t, "a stranger announcing primary", d.View(stranger, t0.Add(time.Second)), "")
	if v := d.Verdicts(); len(v) != 1 || v[0].Verdict != model.VerdictHealthy {
		t.Fatalf("verdicts %+v", v)
	}
	// The primary goes: the stranger's claim does not stand in for it.
	expect(t, "primary down", d.View(sv("a", "k2", "k2san", model.RolePrimary, model.HealthDown), t0.Add(2*time.Second)),
		"down:critical->down failing-over:warning->failing-over")
	expect(t, "past the grace", d.Tick(t0.Add(5*time.Second)), "no-primary:critical->no-primary")
	// A system of strangers alone is not judged.
	other := sv("y", "theirs", "k2san", model.RolePrimary, model.HealthUnknown)
	other.Paired = false
	d.View(other, t0)
	for _, v := range d.Verdicts() {
		if v.System == "theirs" {
			t.Errorf("a system with no paired server was judged: %+v", v)
		}
	}
}

func TestDetectorFlapping(t *testing.T) {
	d := NewDetector(DetectorConfig{FlapCount: 3, FlapWindow: time.Minute})
	d.View(sv("a", "k2", "k2san", model.RolePrimary, model.HealthUp), t0)
	d.View(sv("b", "k2", "k2san", model.RoleStandby, model.HealthUp), t0)
	var all []model.Event
	for i := 1; i <= 10; i++ {
		h := model.HealthDown
		if i%2 == 0 {
			h = model.HealthUp
		}
		all = append(all, d.View(sv("a", "k2", "k2san", model.RolePrimary, h), t0.Add(time.Duration(i)*time.Second))...)
	}
	var flapping, single int
	for _, e := range all {
		switch e.Kind {
		case model.EventFlapping:
			flapping++
		case model.EventDown, model.EventUp:
			single++
		}
	}
	if flapping != 1 || single != 3 {
		t.Errorf("10 transitions: %d flapping events and %d single ones, want 1 and 3: %s", flapping, single, kinds(all))
	}
	expect(t, "within window", d.Tick(t0.Add(30*time.Second)), "")
	evs := d.Tick(t0.Add(71 * time.Second))
	expect(t, "stable", evs, "flapping:info->stable healthy:info->healthy")
	expect(t, "after stable", d.View(sv("a", "k2", "k2san", model.RolePrimary, model.HealthDown), t0.Add(80*time.Second)),
		"down:critical->down failing-over:warning->failing-over")
}

func TestDetectorServicesAndLag(t *testing.T) {
	d := NewDetector(DetectorConfig{})
	v := sv("ss", "rs", "redstor", model.RolePrimary, model.HealthUp)
	d.View(v, t0)
	expect(t, "first", d.Status(v, st(map[string]string{"StorageServer": "running"}, map[string]string{"mirror_lag_seconds": "5", "mirror_lag_seconds_limit": "60"}), t0), "")
	expect(t, "crash", d.Status(v, st(map[string]string{"StorageServer": "failed"}, nil), t0), "service:critical->failed")
	expect(t, "restart", d.Status(v, st(map[string]string{"StorageServer": "starting"}, nil), t0), "")
	expect(t, "running", d.Status(v, st(map[string]string{"StorageServer": "running"}, nil), t0), "service:info->running")
	lag := func(x string) map[string]string {
		return map[string]string{"mirror_lag_seconds": x, "mirror_lag_seconds_limit": "60", "odd": "x", "odd_limit": "y"}
	}
	evs := d.Status(v, st(map[string]string{"StorageServer": "running"}, lag("75")), t0)
	expect(t, "lag over", evs, "lag:warning->75 degraded:warning->degraded")
	if len(evs) == 2 && !strings.Contains(evs[0].Detail, "mirror lag 75 s, limit 60 s") {
		t.Errorf("lag detail %q does not give the value and the limit", evs[0].Detail)
	}
	expect(t, "lag still over", d.Status(v, st(map[string]string{"StorageServer": "running"}, lag("90")), t0), "")
	evs = d.Status(v, st(map[string]string{"StorageServer": "running"}, lag("3")), t0)
	expect(t, "lag back", evs, "lag:info->3 healthy:info->healthy")
}

func FuzzDetectorNeverPanics(f *testing.F) {
	f.Add("primary", "up", "standby", "down", "5", "3")
	f.Fuzz(func(t *testing.T, r1, h1, r2, h2, lag, limit string) {
		d := NewDetector(DetectorConfig{FlapCount: 2, FlapWindow: time.Second, NoPrimaryGrace: time.Millisecond})
		for i := 0; i < 4; i++ {
			at := t0.Add(time.Duration(i) * time.Second)
			d.View(sv("a", "s", "k2san", model.Role(r1), model.Health(h1)), at)
			d.View(sv("b", "s", "k2san", model.Role(r2), model.Health(h2)), at)
			d.Status(sv("a", "s", "k2san", model.Role(r1), model.Health(h1)), st(map[string]string{"x": r2}, map[string]string{"l": lag, "l_limit": limit}), at)
			for _, v := range d.Verdicts() {
				if v.Verdict.Severity().Rank() < 0 || v.Severity.Rank() < 0 {
					t.Fatalf("verdict without severity: %+v", v)
				}
			}
			for _, e := range d.Tick(at) {
				if e.Kind == "" || e.Severity.Rank() < 0 {
					t.Fatalf("event without kind or severity: %s", fmt.Sprint(e))
				}
			}
		}
	})
}

func TestDetectorDefaultLimits(t *testing.T) {
	d := NewDetector(DetectorConfig{})
	d.View(sv("prod", "nk", "nintex", model.RolePrimary, model.HealthUp), t0)
	v := sv("dr", "nk", "nintex", model.RoleStandby, model.HealthUp)
	d.View(v, t0)
	expect(t, "within", d.Status(v, st(nil, map[string]string{"recovery_point_age_seconds": "3600"}), t0), "")
	expect(t, "over the document's 4 hours", d.Status(v, st(nil, map[string]string{"recovery_point_age_seconds": "20000"}), t0), "lag:warning->20000 degraded:warning->degraded")
	// The agent's own limit wins.
	expect(t, "agent's limit", d.Status(v, st(nil, map[string]string{"recovery_point_age_seconds": "20000", "recovery_point_age_seconds_limit": "30000"}), t0), "lag:info->20000 healthy:info->healthy")
}

// A system whose agents publish a longer takeover than the grace (a K2
// backup's heartbeat timeout) is failing over for that long, plus the
// takeover's margin, before it has no primary.
func TestDetectorGraceCoversTheSystemsOwnTakeover(t *testing.T) {
	d := NewDetector(DetectorConfig{NoPrimaryGrace: 5 * time.Second})
	a, b := sv("a", "k2", "k2san", model.RolePrimary, model.HealthUp), sv("b", "k2", "k2san", model.RoleStandby, model.HealthUp)
	d.View(a, t0)
	d.View(b, t0)
	d.Status(b, st(nil, map[string]string{"heartbeat_timeout_seconds": "20"}), t0)
	a.Health = model.HealthDown
	expect(t, "primary down", d.View(a, t0.Add(time.Second)), "down:critical->down failing-over:warning->failing-over")
	expect(t, "past the configured grace, within the takeover", d.Tick(t0.Add(25*time.Second)), "")
	expect(t, "past the takeover and its margin", d.Tick(t0.Add(32*time.Second)), "no-primary:critical->no-primary")
}

// A peer's word that its link to a server is down counts once it has
// lasted: a peer checks its links four times a second, and one that
// checked before the server came up says so for a moment.
func TestDetectorPeerLinkDownMustLast(t *testing.T) {
	d := NewDetector(DetectorConfig{})
	a, b := sv("a", "ic", "infocast", model.RolePrimary, model.HealthUp), sv("b", "ic", "infocast", model.RoleStandby, model.HealthUp)
	d.View(a, t0)
	d.View(b, t0)
	linkDown := func(at time.Time) actions.Status {
		return actions.Status{Time: at, Peers: map[string]actions.PeerLink{"a": {State: "down", Since: t0, Checked: at}}}
	}
	expect(t, "down for a moment", d.Status(b, linkDown(t0.Add(200*time.Millisecond)), t0.Add(200*time.Millisecond)), "")
	expect(t, "down past a peer's word", d.Status(b, linkDown(t0.Add(2*time.Second)), t0.Add(2*time.Second)), "degraded:warning->degraded")
	if v := d.Verdicts()[0]; !strings.Contains(v.Summary, "b cannot reach a: peer link lost") {
		t.Errorf("verdict %+v", v)
	}
}

// A server is judged with the servers of its system only, and one that
// moves to another system (its agent's config changed) leaves the first:
// the first is judged again without it, the second with it.
func TestDetectorJudgesEachSystemOverItsOwnServers(t *testing.T) {
	d := NewDetector(DetectorConfig{})
	a, b := sv("a", "one", "k2san", model.RolePrimary, model.HealthUp), sv("b", "one", "k2san", model.RoleStandby, model.HealthUp)
	c := sv("c", "two", "k2san", model.RolePrimary, model.HealthUp)
	d.View(a, t0)
	d.View(b, t0)
	d.View(c, t0)
	if got := d.bySystem; !slices.Equal(got["one"], []string{"a", "b"}) || !slices.Equal(got["two"], []string{"c"}) {
		t.Fatalf("servers by system %v", got)
	}
	b.System, b.Role = "two", model.RoleStandby
	d.View(b, t0.Add(time.Second))
	if got := d.bySystem; !slices.Equal(got["one"], []string{"a"}) || !slices.Equal(got["two"], []string{"b", "c"}) {
		t.Fatalf("after b moved to two: servers by system %v", got)
	}
	// b, now a second primary of two, makes a split brain there; one is
	// left with a alone.
	b.Role = model.RolePrimary
	d.View(b, t0.Add(2*time.Second))
	for _, v := range d.Verdicts() {
		switch {
		case v.System == "one" && v.Verdict != model.VerdictHealthy,
			v.System == "two" && v.Verdict != model.VerdictSplitBrain:
			t.Errorf("%s: %s (%s)", v.System, v.Verdict, v.Summary)
		}
	}
}

// A status that changes nothing the judge reads (a fact under its limit
// moved, a service stayed as it was) leaves the verdict as it was, so the
// system is not judged again; one that changes what it reads is.
func TestDetectorJudgesAStatusOnlyWhenItChangesWhatTheJudgeReads(t *testing.T) {
	d := NewDetector(DetectorConfig{})
	a, b := sv("a", "rs", "redstor", model.RolePrimary, model.HealthUp), sv("b", "rs", "redstor", model.RoleStandby, model.HealthUp)
	d.View(a, t0)
	d.View(b, t0)
	status := func(at time.Time, lag string) actions.Status {
		return actions.Status{Time: at, Facts: map[string]string{"mirror_lag_seconds": lag, "disk_free": lag},
			Peers: map[string]actions.PeerLink{"a": {State: "up", Since: t0, Checked: at}}}
	}
	judgedAfter := func(what string, st actions.Status, at time.Time, want bool) {
		t.Helper()
		before := d.judgements
		d.Status(b, st, at)
		if got := d.judgements > before; got != want {
			t.Errorf("%s: judged %t, want %t", what, got, want)
		}
	}
	judgedAfter("first status", status(t0, "1"), t0, true)
	judgedAfter("a fact under its limit moved", status(t0.Add(time.Second), "2"), t0.Add(time.Second), false)
	judgedAfter("over its limit", status(t0.Add(2*time.Second), "1000"), t0.Add(2*time.Second), true)
	judgedAfter("further over its limit (the reason says by how much)", status(t0.Add(3*time.Second), "2000"), t0.Add(3*time.Second), true)
	judgedAfter("back under", status(t0.Add(4*time.Second), "3"), t0.Add(4*time.Second), true)
	down := status(t0.Add(5*time.Second), "3")
	down.Peers["a"] = actions.PeerLink{State: "down", Since: t0.Add(5 * time.Second)}
	judgedAfter("a peer link went down", down, t0.Add(5*time.Second), true)
	down.Time = t0.Add(5*time.Second + 100*time.Millisecond)
	judgedAfter("still down, for a moment", down, down.Time, false)
	down.Time = t0.Add(8 * time.Second)
	judgedAfter("down past a peer's word", down, down.Time, true)
	b.VendorRole = "Slave (taking over)"
	judgedAfter("the view changed", down, down.Time, true)
	if v := d.Verdicts()[0]; !strings.Contains(v.Summary, "b cannot reach a: peer link lost") {
		t.Errorf("verdict %+v", v)
	}
}
