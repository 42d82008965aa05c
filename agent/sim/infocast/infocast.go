// Package infocast simulates the system of infocast-server-redundancy.txt.
package infocast

import (
	"github.com/vigilops/vigil/agent/sim"
	"github.com/vigilops/vigil/model"
)

func init() { sim.Register(System()) }

// System is the simulated system. Until its simulation exists, the fleet
// gives its servers role files.
func System() *sim.System {
	return &sim.System{Profile: "infocast", Name: "infocast", Doc: "infocast-server-redundancy.txt", Members: []sim.Member{
		{Name: "infocast-a", Site: "simulated", Role: model.RolePrimary},
		{Name: "infocast-b", Site: "simulated", Role: model.RoleStandby},
	}}
}
