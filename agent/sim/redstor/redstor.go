// Package redstor simulates the system of redstor-accountserver-storageserver-failover.txt.
package redstor

import (
	"github.com/vigilops/vigil/agent/sim"
	"github.com/vigilops/vigil/model"
)

func init() { sim.Register(System()) }

// System is the simulated system. Until its simulation exists, the fleet
// gives its servers role files.
func System() *sim.System {
	return &sim.System{Profile: "redstor", Name: "redstor", Doc: "redstor-accountserver-storageserver-failover.txt", Members: []sim.Member{
		{Name: "AccountServer-A", Site: "simulated", Role: model.RolePrimary},
		{Name: "AccountServer-B", Site: "simulated", Role: model.RoleStandby},
	}}
}
