package model

import (
	"testing"
	"time"
)

func TestObserve(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 3, 0, 0, 0, time.UTC)
	v, changed := NewServerView("ag-1").Observe(Observation{AgentID: "ag-1", Name: "K2server1", System: "k2",
		Address: "10.0.0.5:7443", Fingerprint: "aaaa", Role: RolePrimary, Health: HealthUp, Time: t0})
	if !changed || v.Name != "K2server1" || v.System != "k2" || v.Fingerprint != "aaaa" || v.Role != RolePrimary ||
		!v.LastChange.Equal(t0) || !v.LastSeen.Equal(t0) {
		t.Fatalf("first observation: %+v, changed %v", v, changed)
	}
	v.Paired = true
	// A heartbeat: seen, nothing else changes; the pinned key stays.
	v2, changed := v.Observe(Observation{AgentID: "ag-1", Fingerprint: "bbbb", Health: HealthUp, Time: t0.Add(time.Second)})
	if changed || v2.Fingerprint != "aaaa" || !v2.LastSeen.Equal(t0.Add(time.Second)) || !v2.LastChange.Equal(t0) || v2.Name != "K2server1" {
		t.Errorf("heartbeat: %+v, changed %v", v2, changed)
	}
	// Gone: a change, and not a sighting.
	v3, changed := v2.Observe(Observation{AgentID: "ag-1", Health: HealthDown, Time: t0.Add(2 * time.Second)})
	if !changed || v3.Health != HealthDown || !v3.LastChange.Equal(t0.Add(2*time.Second)) || !v3.LastSeen.Equal(t0.Add(time.Second)) {
		t.Errorf("down: %+v, changed %v", v3, changed)
	}
	// A console that starts knows a stored server's health as unknown;
	// hearing it up is no change that happened to the server.
	v3.Health = HealthUnknown
	v4, changed := v3.Observe(Observation{AgentID: "ag-1", Health: HealthUp, Time: t0.Add(time.Hour)})
	if !changed || v4.Health != HealthUp || !v4.LastChange.Equal(v3.LastChange) {
		t.Errorf("up after the console started: %+v, changed %v; want the last change kept at %v", v4, changed, v3.LastChange)
	}
}

// Two observations laid one over the other leave a server as observing
// both in turn would.
func TestObservationThen(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 3, 0, 0, 0, time.UTC)
	a := Observation{AgentID: "ag-1", Name: "AS-1", VendorRole: "Master", Role: RolePrimary, Health: HealthUp, Time: t0}
	b := Observation{AgentID: "ag-1", VendorRole: "Master, replicating", Health: HealthUp, Time: t0.Add(time.Second)}
	both, _ := NewServerView("ag-1").Observe(a)
	both, _ = both.Observe(b)
	once, _ := NewServerView("ag-1").Observe(a.Then(b))
	if once.Name != both.Name || once.VendorRole != both.VendorRole || once.Role != both.Role || once.Health != both.Health || !once.LastSeen.Equal(both.LastSeen) {
		t.Errorf("a then b in one: %+v; in turn: %+v", once, both)
	}
}
