// Package infocast simulates the system of infocast-server-redundancy.txt:
// two Infocast Servers that elect a Primary over UDP multicast, as the
// product does with JGroups. It is a SIMULATION, labelled so in every file
// and log it writes; it is not the vendor's product.
//
// Each server runs `vigil sim infocastserverd`, which reads the document's
// <failover> element (multicast address, TTL, timeout; plus the port
// beside the address) from host/opt/infocast/conf/infocast.xml when it
// starts, joins that group on the first interface that carries it and
// writes host/opt/infocast/log/infocast.log as the document shows:
// "GMS: address is: ...", "Primary/coordinator: ..." and, only while it is
// the Primary, `Processing "bootcast_..."` (the simulation logs what it
// would transmit; it sends no Infocast data). The first server to start
// becomes the Primary; a server that finds a Primary is Secondary; when the
// Primary stops being heard for the timeout, the Secondary takes over; a
// server that comes back finds that Primary and stays Secondary. A clean
// stop says goodbye, so the Secondary takes over at once.
//
// The agent reads the role from the log (the Primary/coordinator line naming
// the server's own GMS address means primary), publishes the failover
// settings and what the log says as facts, and may edit the configuration
// (settings.set) and start or stop the service. Nothing here talks to a
// console.
package infocast

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/sim"
)

func init() { sim.Register(System()) }

// ServiceName is the simulated service, named like the product's init
// script (`service infocastserverd start`).
const ServiceName = "infocastserverd"

// DefaultTimeout is the <failover><timeout> a new server starts with, in
// milliseconds, as in the document.
const DefaultTimeout = 500

// System is the simulated system.
func System() *sim.System {
	return &sim.System{Profile: "infocast", Name: "infocast", Doc: "infocast-server-redundancy.txt",
		Members: []sim.Member{
			{Name: "infocast-a", Site: "simulated", Role: model.RolePrimary},
			{Name: "infocast-b", Site: "simulated", Role: model.RoleStandby},
		},
		Services: []sim.Service{{Name: ServiceName,
			Summary: "a simulated Infocast Server that elects a Primary over UDP multicast (flags: --bind-addr IP --bind-port N)",
			Run:     runServer}},
		Layout: layout,
	}
}

var failoverAddrRE = regexp.MustCompile(`(?s)<failover\b.*?<address>\s*([^<\s]*)\s*</address>`)

// layout gives both servers the same failover group: an administratively
// scoped address chosen once per fleet directory and a port chosen on every
// start, so fleets side by side do not hear each other. Each server gets its
// own address in the group, which the agent's role map names.
func layout(l *sim.Layout) (map[string]string, error) {
	members := System().Members
	group := netip.Addr{}
	for _, m := range members {
		// A fleet restarted on its directory keeps the group it had.
		if b, err := os.ReadFile(l.Host(m.Name, configPath...)); err == nil {
			if sm := failoverAddrRE.FindSubmatch(b); sm != nil {
				if a, err := netip.ParseAddr(string(sm[1])); err == nil && a.Is4() && a.IsMulticast() {
					group = a
					break
				}
			}
		}
	}
	if !group.IsValid() {
		group = netip.AddrFrom4([4]byte{239, 255, byte(rand.IntN(255)), byte(1 + rand.IntN(254))})
	}
	gport, err := sim.FreeUDPPort()
	if err != nil {
		return nil, fmt.Errorf("choose the failover port: %w", err)
	}
	bind, err := chooseBinding(netip.Addr{}, netip.AddrPortFrom(group, uint16(gport)))
	if err != nil {
		// Start the fleet all the same: the servers, each alone, say in
		// their logs what is wrong, and the console sees two Primaries.
		bind.addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	// Started together, the lower address becomes the Primary: give it to
	// the member the document's legend calls Primary.
	ports, err := freeUDPPorts(bind.addr, len(members))
	if err != nil {
		return nil, fmt.Errorf("choose the group addresses of the servers: %w", err)
	}
	slices.Sort(ports)
	out := map[string]string{}
	for i, m := range members {
		cfgFile := l.Host(m.Name, configPath...)
		if err := sim.WriteOnce(cfgFile, fmt.Sprintf(configTemplate, group, gport, 0, DefaultTimeout)); err != nil {
			return nil, fmt.Errorf("configuration of %s: %w", m.Name, err)
		}
		if err := rewirePort(cfgFile, gport); err != nil {
			return nil, fmt.Errorf("configuration of %s: %w", m.Name, err)
		}
		self := netip.AddrPortFrom(bind.addr, uint16(ports[i]))
		out[m.Name] = agentConfig(l, m.Name, self)
	}
	return out, nil
}

// freeUDPPorts returns n distinct UDP ports on addr that were free a moment
// ago.
func freeUDPPorts(addr netip.Addr, n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		c, err := net.ListenPacket("udp4", net.JoinHostPort(addr.String(), "0"))
		if err != nil {
			return nil, err
		}
		defer c.Close() // held until all are chosen, so none is chosen twice
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	return ports, nil
}

// agentConfig is a server's agent configuration after the fleet's header.
func agentConfig(l *sim.Layout, member string, self netip.AddrPort) string {
	// "--" ends the common flags that sim.Main parses; the rest are ours.
	argv := l.Sim(member, ServiceName, "--", "--bind-addr", self.Addr().String(), "--bind-port", fmt.Sprint(self.Port()))
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = q(a)
	}
	logFile := q(l.Host(member, logPath...))
	var b strings.Builder
	fmt.Fprintf(&b, `services:
  - name: %[1]s
    driver: process
    command: [%[2]s]
    stop_timeout: 5s
settings:
  - name: infocast-conf
    dir: %[3]s
role_probe:
  kind: log
  file: %[4]s
  pattern: 'Primary/coordinator: (\S+)'
  map: {%[5]s: primary, "*": standby}
  service: %[1]s
facts:
`, ServiceName, strings.Join(quoted, ", "), q(l.Host(member, configPath[:len(configPath)-1]...)), logFile, q(self.String()))
	for _, f := range []struct{ name, pattern string }{
		{"gms_address", `GMS: address is:? (\S+)`},
		{"coordinator", `Primary/coordinator: (\S+)`},
		{"bound_interface", `Binding to interface (\S+)`},
		{"group_members", `View: \[[^\]]*\] \((\d+) members?\)`},
		{"last_bootcast", `Processing "([^"]+)"`},
	} {
		fmt.Fprintf(&b, "  - name: %s\n    kind: log\n    file: %s\n    pattern: %s\n    service: %s\n", f.name, logFile, q(f.pattern), ServiceName)
	}
	for _, k := range []string{"address", "port", "ttl", "timeout"} {
		fmt.Fprintf(&b, "  - name: failover_%s\n    kind: setting\n    dir: infocast-conf\n    path: %s\n    key: infocast/failover/%s\n",
			k, configPath[len(configPath)-1], k)
	}
	return b.String()
}

// q quotes s for YAML: single quotes take every character as it is.
func q(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
