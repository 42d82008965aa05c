package fleet_test

import (
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/agent/sim/fleet"
	"github.com/vigilops/vigil/agent/sim/simtest"
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
		st := f.Await(m.Name, 10*time.Second, "a role", func(st actions.Status) bool { return st.Role != "unknown" })
		if st.Name != m.Name || st.System != m.System {
			t.Errorf("%s answers as %s of %s", m.Name, st.Name, st.System)
		}
	}
}
