package monitor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/model"
)

var t0 = time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)

func sv(id, system, profile string, role model.Role, health model.Health) model.ServerView {
	return model.ServerView{ID: id, Name: id, System: system, Profile: profile, Role: role, Health: health}
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
	expect(t, "down", d.View(sv("a", "k2", "k2san", model.RolePrimary, model.HealthDown), t0.Add(time.Second)), "down:critical->down")
	// The backup takes over: a failover, with old and new role.
	evs := d.View(sv("b", "k2", "k2san", model.RolePrimary, model.HealthUp), t0.Add(2*time.Second))
	expect(t, "failover", evs, "role:warning->primary")
	if evs[0].From != "standby" || evs[0].Server != "b" || evs[0].System != "k2" {
		t.Errorf("failover event %+v", evs[0])
	}
	// The old primary comes back as standby: up, then a role change.
	expect(t, "back", d.View(sv("a", "k2", "k2san", model.RoleStandby, model.HealthUp), t0.Add(3*time.Second)), "up:info->up role:warning->standby")
	expect(t, "unreachable", d.View(sv("a", "k2", "k2san", model.RoleStandby, model.HealthUnreachable), t0.Add(4*time.Second)), "unreachable:warning->unreachable")
	expect(t, "failed role", d.View(sv("a", "k2", "k2san", model.RoleFailed, model.HealthUp), t0.Add(5*time.Second)), "up:info->up role:critical->failed")
	// Taken out of service is a warning; coming back into service is news.
	expect(t, "out of service", d.View(sv("b", "k2", "k2san", model.RoleOutOfService, model.HealthUp), t0.Add(5*time.Second)), "role:warning->out-of-service")
	expect(t, "into service", d.View(sv("b", "k2", "k2san", model.RoleStandby, model.HealthUp), t0.Add(5*time.Second)), "role:info->standby")
	v := sv("a", "k2", "k2san", model.RoleFailed, model.HealthUp)
	v.IdentityChanged = true
	expect(t, "identity", d.View(v, t0.Add(6*time.Second)), "identity-changed:critical")
}

func TestDetectorSplitBrainAndNoPrimary(t *testing.T) {
	d := NewDetector(DetectorConfig{NoPrimaryGrace: 10 * time.Second})
	d.View(sv("a", "rs", "redstor", model.RolePrimary, model.HealthUp), t0)
	d.View(sv("b", "rs", "redstor", model.RoleStandby, model.HealthUnknown), t0)
	expect(t, "second primary", d.View(sv("b", "rs", "redstor", model.RolePrimary, model.HealthUp), t0.Add(time.Second)),
		"role:warning->primary split-brain:critical->a,b")
	expect(t, "still split", d.Tick(t0.Add(2*time.Second)), "")
	expect(t, "resolved", d.View(sv("a", "rs", "redstor", model.RoleStandby, model.HealthUp), t0.Add(3*time.Second)),
		"role:warning->standby split-brain:info->resolved")

	// N+1: several primaries are normal.
	d.View(sv("w1", "ws", "wavestore", model.RolePrimary, model.HealthUp), t0)
	expect(t, "wavestore", d.View(sv("w2", "ws", "wavestore", model.RolePrimary, model.HealthUp), t0), "")

	// No primary: raised only after the grace, once, and cleared.
	d.View(sv("b", "rs", "redstor", model.RoleOutOfService, model.HealthUp), t0.Add(10*time.Second))
	expect(t, "within grace", d.Tick(t0.Add(15*time.Second)), "")
	evs := d.Tick(t0.Add(21 * time.Second))
	expect(t, "after grace", evs, "no-primary:critical")
	if len(evs) == 1 && (evs[0].Server != "" || evs[0].System != "rs" || !strings.Contains(evs[0].Detail, "a, b")) {
		t.Errorf("no-primary event %+v", evs[0])
	}
	expect(t, "raised once", d.Tick(t0.Add(40*time.Second)), "")
	expect(t, "primary again", d.View(sv("a", "rs", "redstor", model.RolePrimary, model.HealthUp), t0.Add(41*time.Second)),
		"role:warning->primary no-primary:info->resolved")
}

func TestDetectorNoPrimaryWaitsUntilEveryServerIsHeard(t *testing.T) {
	d := NewDetector(DetectorConfig{NoPrimaryGrace: time.Second})
	d.View(sv("a", "ic", "infocast", model.RoleStandby, model.HealthUp), t0)
	d.View(sv("b", "ic", "infocast", model.RoleUnknown, model.HealthUnknown), t0)
	expect(t, "not settled", d.Tick(t0.Add(time.Minute)), "")
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
	expect(t, "stable", evs, "flapping:info->stable")
	expect(t, "after stable", d.View(sv("a", "k2", "k2san", model.RolePrimary, model.HealthDown), t0.Add(80*time.Second)), "down:critical->down")
}

func TestDetectorServicesAndLag(t *testing.T) {
	d := NewDetector(DetectorConfig{})
	v := sv("ss", "rs", "redstor", model.RolePrimary, model.HealthUp)
	d.View(v, t0)
	expect(t, "first", d.Status(v, map[string]string{"StorageServer": "running"}, map[string]string{"mirror_lag_seconds": "5", "mirror_lag_seconds_limit": "60"}, t0), "")
	expect(t, "crash", d.Status(v, map[string]string{"StorageServer": "failed"}, nil, t0), "service:critical->failed")
	expect(t, "restart", d.Status(v, map[string]string{"StorageServer": "starting"}, nil, t0), "")
	expect(t, "running", d.Status(v, map[string]string{"StorageServer": "running"}, nil, t0), "service:info->running")
	lag := func(x string) map[string]string {
		return map[string]string{"mirror_lag_seconds": x, "mirror_lag_seconds_limit": "60", "odd": "x", "odd_limit": "y"}
	}
	expect(t, "lag over", d.Status(v, map[string]string{"StorageServer": "running"}, lag("75"), t0), "lag:warning->75")
	expect(t, "lag still over", d.Status(v, map[string]string{"StorageServer": "running"}, lag("90"), t0), "")
	evs := d.Status(v, map[string]string{"StorageServer": "running"}, lag("3"), t0)
	expect(t, "lag back", evs, "lag:info->3")
	if len(evs) == 1 && !strings.Contains(evs[0].Detail, "mirror lag seconds") {
		t.Errorf("lag detail %q does not name the fact", evs[0].Detail)
	}
}

func FuzzDetectorNeverPanics(f *testing.F) {
	f.Add("primary", "up", "standby", "down", "5", "3")
	f.Fuzz(func(t *testing.T, r1, h1, r2, h2, lag, limit string) {
		d := NewDetector(DetectorConfig{FlapCount: 2, FlapWindow: time.Second, NoPrimaryGrace: time.Millisecond})
		for i := 0; i < 4; i++ {
			at := t0.Add(time.Duration(i) * time.Second)
			d.View(sv("a", "s", "k2san", model.Role(r1), model.Health(h1)), at)
			d.View(sv("b", "s", "k2san", model.Role(r2), model.Health(h2)), at)
			d.Status(sv("a", "s", "k2san", model.Role(r1), model.Health(h1)), map[string]string{"x": r2}, map[string]string{"l": lag, "l_limit": limit}, at)
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
	v := sv("dr", "nk", "nintex", model.RoleStandby, model.HealthUp)
	d.View(v, t0)
	expect(t, "within", d.Status(v, nil, map[string]string{"recovery_point_age_seconds": "3600"}, t0), "")
	expect(t, "over the document's 4 hours", d.Status(v, nil, map[string]string{"recovery_point_age_seconds": "20000"}, t0), "lag:warning->20000")
	// The agent's own limit wins.
	expect(t, "agent's limit", d.Status(v, nil, map[string]string{"recovery_point_age_seconds": "20000", "recovery_point_age_seconds_limit": "30000"}, t0), "lag:info->20000")
}
