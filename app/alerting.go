package app

import (
	"fmt"
	"strings"

	"github.com/vigilops/vigil/model"
)

// systemSummary is what the console knows now of a system, for an alert:
// each server's role and health.
func (c *console) systemSummary(system string) string {
	var lines []string
	for _, v := range c.mon.Snapshot() {
		if v.System != system || system == "" {
			continue
		}
		line := fmt.Sprintf("%s: %s, %s", v.Name, v.Role, v.Health)
		if v.VendorRole != "" {
			line += fmt.Sprintf(" (%s)", v.VendorRole)
		}
		if !v.Paired {
			line += ", not paired"
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "; ")
}

// suggestProcedure names the vendor procedure that fits an event, when one
// does: after a failover or a loss, the operator's next step is the
// document's recovery.
func (c *console) suggestProcedure(e model.Event) string {
	switch e.Kind {
	case model.EventDown, model.EventRole, model.EventNoPrimary, model.EventSplitBrain, model.EventService:
	default:
		return ""
	}
	profile := ""
	for _, v := range c.mon.Snapshot() {
		if v.System == e.System && v.Profile != "" {
			profile = v.Profile
			break
		}
	}
	return map[string]string{
		"k2san":     "K2 SAN: recover from a failover (k2-san-redundant-media-servers.txt)",
		"redstor":   "Redstor: fail over the AccountServer and StorageServers (redstor-accountserver-storageserver-failover.txt)",
		"nintex":    "Nintex K2: DR cutover with point-in-time recovery (nintex-k2-disaster-recovery.txt)",
		"infocast":  "Infocast: verify takeover (infocast-server-redundancy.txt)",
		"wavestore": "Wavestore: failback after repair (wavestore-v6-failover.txt)",
	}[profile]
}
