// Package k2san simulates the system of k2-san-redundant-media-servers.txt.
package k2san

import (
	"github.com/vigilops/vigil/agent/sim"
	"github.com/vigilops/vigil/model"
)

func init() { sim.Register(System()) }

// System is the simulated system. Until its simulation exists, the fleet
// gives its servers role files.
func System() *sim.System {
	return &sim.System{Profile: "k2san", Name: "k2-san", Doc: "k2-san-redundant-media-servers.txt", Members: []sim.Member{
		{Name: "K2server1", Site: "simulated", Role: model.RolePrimary},
		{Name: "K2server2", Site: "simulated", Role: model.RoleStandby},
	}}
}
