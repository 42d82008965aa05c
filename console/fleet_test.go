package console

import (
	"context"
	"testing"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// fakeLive is a monitor's snapshot and statuses, set by the test.
type fakeLive struct {
	views    []model.ServerView
	statuses map[string]actions.Status
	changed  chan struct{}
	system   string
}

func (f *fakeLive) Snapshot() []model.ServerView { return f.views }
func (f *fakeLive) Status(id string) (actions.Status, bool) {
	st, ok := f.statuses[id]
	return st, ok
}
func (f *fakeLive) Changes(system string) (<-chan struct{}, func()) {
	f.system = system
	return f.changed, func() {}
}

// TestFleetReadsTheMonitor: with a monitor, the engine's servers are what
// the monitor holds: a server it hears is up with its agent's last status
// (degraded by a fact over a limit is still up to the engine, whose
// conditions read the facts themselves); one it does not hear keeps the
// monitor's health and reason, and its last status is not used; servers
// that are not ours are never read as live; other systems are left out.
func TestFleetReadsTheMonitor(t *testing.T) {
	st := actions.Status{Role: "primary", VendorRole: "Master", Services: map[string]string{"as": "running"},
		Facts: map[string]string{"mirror_lag_seconds": "5"}}
	live := &fakeLive{
		views: []model.ServerView{
			{ID: "a", Name: "A", System: "redstor", Paired: true, Role: model.RolePrimary, Health: model.HealthUp},
			{ID: "b", Name: "B", System: "redstor", Paired: true, Role: model.RoleStandby, Health: model.HealthDegraded, Detail: "mirror lag 69 min, limit 15 min"},
			{ID: "c", Name: "C", System: "redstor", Paired: true, Role: model.RolePrimary, Health: model.HealthDown, Detail: "the agent stopped"},
			{ID: "d", Name: "D", System: "redstor", Paired: true, Health: model.HealthUnknown},
			{ID: "e", Name: "E", System: "redstor", Paired: false, Role: model.RolePrimary, Health: model.HealthUnknown},
			{ID: "f", Name: "F", System: "redstor", Paired: true, IdentityChanged: true, Health: model.HealthUp},
			{ID: "g", Name: "G", System: "k2-san", Paired: true, Health: model.HealthUp},
		},
		statuses: map[string]actions.Status{"a": st, "b": st, "c": st, "e": st, "f": st, "g": st},
		changed:  make(chan struct{}, 1),
	}
	f := NewFleet(nil, nil, live)
	got, err := f.Servers(context.Background(), "redstor")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		health model.Health
		role   model.Role
		detail string
	}{
		"A": {model.HealthUp, model.RolePrimary, ""},
		"B": {model.HealthUp, model.RolePrimary, ""},
		"C": {model.HealthDown, model.RoleUnknown, "the agent stopped"},
		"D": {model.HealthUnknown, model.RoleUnknown, "not heard from yet"},
		"E": {model.HealthUnknown, model.RoleUnknown, "not asked"},
		"F": {model.HealthUnknown, model.RoleUnknown, "not asked"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d servers, want %d: %+v", len(got), len(want), got)
	}
	for _, s := range got {
		w, ok := want[s.Name]
		if !ok {
			t.Errorf("%s listed", s.Name)
			continue
		}
		if s.Health != w.health || s.Role != w.role || s.Detail != w.detail {
			t.Errorf("%s: health %s, role %s, detail %q; want %s, %s, %q", s.Name, s.Health, s.Role, s.Detail, w.health, w.role, w.detail)
		}
		if s.Health == model.HealthUp && (s.Services["as"] != "running" || s.Facts["mirror_lag_seconds"] != "5" || s.VendorRole != "Master") {
			t.Errorf("%s: the agent's status is not there: %+v", s.Name, s)
		}
		if s.Health != model.HealthUp && s.Services != nil {
			t.Errorf("%s: a server the console does not hear shows its last services %v", s.Name, s.Services)
		}
	}
	if c := got[2]; c.Name == "C" && c.VendorRole != "last known as primary" {
		t.Errorf("C's last role reads %q", c.VendorRole)
	}

	ch, stop := f.Changes("redstor")
	defer stop()
	if ch != (<-chan struct{})(live.changed) || live.system != "redstor" {
		t.Error("the fleet does not hand on the monitor's changes of the system")
	}
	none, stopNone := NewFleet(nil, nil, nil).Changes("redstor")
	stopNone()
	if none != nil {
		t.Error("a fleet without a monitor wakes its readers")
	}
}
