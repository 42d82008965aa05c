// Package wavestore simulates the system of wavestore-v6-failover.txt.
package wavestore

import (
	"github.com/vigilops/vigil/agent/sim"
	"github.com/vigilops/vigil/model"
)

func init() { sim.Register(System()) }

// System is the simulated system. Until its simulation exists, the fleet
// gives its servers role files.
func System() *sim.System {
	return &sim.System{Profile: "wavestore", Name: "wavestore", Doc: "wavestore-v6-failover.txt", Members: []sim.Member{
		{Name: "ws-physical-1", Site: "simulated", Role: model.RolePrimary},
		{Name: "ws-physical-2", Site: "simulated", Role: model.RolePrimary},
		{Name: "ws-standby", Site: "simulated", Role: model.RoleStandby},
	}}
}
