package fleet_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/sim"
	"github.com/vigilops/vigil/sim/fleet"
	"github.com/vigilops/vigil/sim/simtest"
)

func TestFleetStartsEveryMemberAndListsIt(t *testing.T) {
	f := simtest.Start(t, 1, "infocast")
	members, err := fleet.ReadFile(f.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != len(f.Members) || len(members) == 0 {
		t.Fatalf("fleet.json lists %d members, the fleet started %d", len(members), len(f.Members))
	}
	for _, m := range members {
		if m.Profile != "infocast" || m.PID <= 0 || m.Address == "" || m.StateDir == "" || m.Fingerprint == "" {
			t.Errorf("fleet.json member %+v lacks a field", m)
		}
		st := f.Await(m.Name, "a role", func(st actions.Status) bool { return st.Role != "unknown" })
		if st.Name != m.Name || st.System != m.System {
			t.Errorf("%s answers as %s of %s", m.Name, st.Name, st.System)
		}
	}
}

// A fleet started again on the same directory goes on from the simulated
// time it stopped at, so at a high speed nothing recorded lies in the
// future.
func TestSimulatedTimeGoesOnAfterARestart(t *testing.T) {
	exe := simtest.Binary(t)
	dir := t.TempDir()
	start := func() *fleet.Fleet {
		ctx, cancel := context.WithTimeout(context.Background(), simtest.WaitLimit)
		defer cancel()
		f, err := fleet.Start(ctx, fleet.Options{StateDir: dir, Systems: []string{"infocast"}, Speed: 3600, Exe: exe})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	read := func() time.Time {
		b, err := os.ReadFile(filepath.Join(dir, "clock.json"))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			SimulatedTime time.Time `json:"simulated_time"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		return doc.SimulatedTime
	}
	f := start()
	// Wait until the fleet's simulated time is half an hour ahead of the
	// wall clock. A clock started now at the fleet's speed reads no later
	// than the fleet's, which started before Start returned.
	behind := sim.NewClock(time.Now(), 3600)
	for !behind.Now().After(time.Now().Add(30 * time.Minute)) {
		time.Sleep(10 * time.Millisecond)
	}
	f.Stop()
	stopped := read()
	if !stopped.After(time.Now().Add(20 * time.Minute)) {
		t.Fatalf("simulated time at stop %v is not ahead of the wall clock", stopped)
	}
	f = start()
	defer f.Stop()
	if again := read(); again.Before(stopped) {
		t.Errorf("after the restart the simulated clock reads %v, before %v where it stopped", again, stopped)
	}
	os.WriteFile(filepath.Join(dir, "clock.json"), []byte("{not json"), 0o644)
	f.Stop()
	os.WriteFile(filepath.Join(dir, "clock.json"), []byte("{not json"), 0o644)
	if _, err := fleet.Start(context.Background(), fleet.Options{StateDir: dir, Systems: []string{"infocast"}, Speed: 1, Exe: exe}); err == nil || !strings.Contains(err.Error(), "clock.json") {
		t.Errorf("a corrupt clock.json: err = %v, want one naming it", err)
	}
}
