// Package nintex simulates the system of nintex-k2-disaster-recovery.txt.
package nintex

import (
	"github.com/vigilops/vigil/agent/sim"
	"github.com/vigilops/vigil/model"
)

func init() { sim.Register(System()) }

// System is the simulated system. Until its simulation exists, the fleet
// gives its servers role files.
func System() *sim.System {
	return &sim.System{Profile: "nintex", Name: "nintex-k2", Doc: "nintex-k2-disaster-recovery.txt", Members: []sim.Member{
		{Name: "K2-PROD", Site: "simulated", Role: model.RolePrimary},
		{Name: "K2-DR", Site: "simulated", Role: model.RoleStandby},
	}}
}
