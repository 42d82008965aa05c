// Package k2san simulates a Grass Valley K2 SAN with redundant K2 Media
// Servers, as k2-san-redundant-media-servers.txt describes it. It is a
// SIMULATION for Vigil's demo, fleet and tests, not Grass Valley software.
//
// Two K2 Media Servers, K2server1 (side A, primary at first) and K2server2
// (side B, backup at first), each run the simulated failover software
// (`vigil sim k2-media-server`) under their own agent's process driver.
// Server Control Panel's Stop and Start are the agent's service stop and
// start: a stopped server is out of service. The servers exchange a
// heartbeat over UDP on loopback, standing for the serial cable; a backup
// that misses the primary's heartbeat for the configured timeout takes over
// if it is qualified, and a server started while the other is primary comes
// online as backup, never preempting. A backup is qualified once it has
// synchronised with the primary and its side's devices are online.
//
// Each side's iSCSI bridge, Ethernet switch and Fibre Channel switch run no
// agent: their power states live in a file on the side's media server and
// the `k2-device` tool, declared as agent commands, restarts or powers them
// off. A primary that loses its Fibre Channel switch fails over.
//
// The console sees all this only through the agent API: the role from
// ServerState.ini (read only while the media server runs), facts such as
// qualified, failover and the devices' states, services, settings and
// commands.
package k2san

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/sim"
)

func init() { sim.Register(System()) }

// Names of the members, the simulated services and what the agent declares.
const (
	Server1 = "K2server1"
	Server2 = "K2server2"

	MediaServerService = "k2-media-server"
	DeviceTool         = "k2-device"
)

// Defaults of Failover.ini. The document gives no times; these are
// plausible for a serial heartbeat and a media database resynchronisation.
const (
	defaultInterval = 1 * time.Second  // between heartbeats
	defaultTimeout  = 10 * time.Second // of silence before the backup takes over
	defaultTakeover = 15 * time.Second // to take control of the SAN
	defaultQualify  = 30 * time.Second // a backup synchronises before it is qualified
)

// System is the simulated K2 SAN.
func System() *sim.System {
	return &sim.System{Profile: "k2san", Name: "k2-san", Doc: "k2-san-redundant-media-servers.txt",
		Members: []sim.Member{
			{Name: Server1, Site: "simulated", Role: model.RolePrimary},
			{Name: Server2, Site: "simulated", Role: model.RoleStandby},
		},
		Services: []sim.Service{
			{Name: MediaServerService, Summary: "a K2 Media Server's failover software: heartbeat, primary/backup role, qualification (simulated)",
				Run: mediaServerService},
			{Name: DeviceTool, Summary: "restart or power off an iSCSI bridge, Ethernet switch or Fibre Channel switch of a redundant side (simulated; exits when done)",
				Run: deviceTool},
		},
		Layout: layout,
	}
}

// ownFlags parses a simulated program's own flags. They follow "--" on the
// command line, since `vigil sim` stops at the first flag it does not know
// of only after "--"; a "--" left at the front is dropped, so that the flags
// read the same whether `vigil sim` kept it or not.
func ownFlags(env *sim.Env, name string, define func(fs *flag.FlagSet)) error {
	if len(env.Args) > 0 && env.Args[0] == "--" {
		env.Args = env.Args[1:]
	}
	return env.Flags(name, define)
}

// layout writes each server's vendor files once and its agent config every
// start, with fresh heartbeat ports.
func layout(l *sim.Layout) (map[string]string, error) {
	p1, err := sim.FreeUDPPort()
	if err != nil {
		return nil, fmt.Errorf("heartbeat port: %w", err)
	}
	p2, err := sim.FreeUDPPort()
	for err == nil && p2 == p1 {
		p2, err = sim.FreeUDPPort()
	}
	if err != nil {
		return nil, fmt.Errorf("heartbeat port: %w", err)
	}
	servers := []struct {
		name, peer, side, role string
		port, peerPort         int
	}{
		{Server1, Server2, "A", rolePrimary, p1, p2},
		{Server2, Server1, "B", roleBackup, p2, p1},
	}
	now := l.Clock.Now()
	configs := map[string]string{}
	for _, s := range servers {
		host := func(parts ...string) string { return l.Host(s.name, parts...) }
		cfg := failoverConfig{Name: s.name, Side: s.side, Peer: s.peer, Interval: defaultInterval,
			Timeout: defaultTimeout, Takeover: defaultTakeover, Qualify: defaultQualify}
		if err := sim.WriteOnce(failoverPath(host), cfg.render()); err != nil {
			return nil, err
		}
		if err := sim.WriteOnce(sideDevicesPath(host), newSide(s.side, now).render()); err != nil {
			return nil, err
		}
		st := serverState{Name: s.name, Side: s.side, Role: s.role, LastRole: s.role, Failover: failoverNone, MediaDatabase: "not synchronised",
			Redundancy: "unknown", Peer: s.peer, PeerRole: "unknown", PeerHB: "not heard yet", SideDevices: "online"}
		if err := sim.WriteOnce(statePath(host), st.render()); err != nil {
			return nil, err
		}
		configs[s.name] = agentConfig(l, s.name, s.port, s.peerPort)
	}
	return configs, nil
}

// agentConfig is the part of a server's agent configuration after the
// fleet's header. Pointed at a real K2 Media Server's paths, with its real
// failover service instead of the simulation, it would read the same.
func agentConfig(l *sim.Layout, name string, port, peerPort int) string {
	host := func(parts ...string) string { return l.Host(name, parts...) }
	var b strings.Builder
	argv := func(a []string) string {
		q := make([]string, len(a))
		for i, s := range a {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	fmt.Fprintf(&b, `# SIMULATED K2 Media Server (Vigil simulation of a Grass Valley K2 SAN).
# Server Control Panel Stop/Start = service stop/start of %[1]s.
services:
  - name: %[1]s
    driver: process
    command: %[2]s
    stop_timeout: 5s
settings:
  - name: k2-config
    dir: %[3]q
  - name: k2-status
    dir: %[4]q
  - name: k2-san-devices
    dir: %[5]q
`, MediaServerService, argv(l.Sim(name, MediaServerService, "--", "--heartbeat-port", strconv.Itoa(port), "--peer-port", strconv.Itoa(peerPort))),
		configDir(host), statusDir(host), sideDevicesDir(host))
	b.WriteString("# The redundant side's devices: start or restart them, or power them off.\ncommands:\n")
	for _, d := range devices {
		for _, op := range []string{"restart", "power-off"} {
			fmt.Fprintf(&b, "  - name: %s-%s\n    argv: %s\n    timeout: 30m\n", op, d.key,
				argv(l.Sim(name, DeviceTool, "--", "--device", d.key, "--do", op)))
		}
	}
	fmt.Fprintf(&b, `# The role as Server Control Panel shows it, believed only while the media
# server runs: stopped it is out of service, crashed it has failed.
role_probe:
  kind: setting
  dir: k2-status
  path: ServerState.ini
  key: Server.Role
  service: %[1]s
  map:
    primary: primary
    backup: standby
    starting: out-of-service
    "out of service": out-of-service
    failed: failed
    "*": unknown
facts:
`, MediaServerService)
	for _, f := range []struct{ name, key string }{
		{"qualified", "Server.Qualified"},
		{"failover", "Server.FailoverState"},
		{"role_since", "Server.RoleSince"},
		{"media_database", "Server.MediaDatabase"},
		{"redundancy", "Server.Redundancy"},
		{"peer_heartbeat", "Peer.Heartbeat"},
	} {
		fmt.Fprintf(&b, "  - name: %s\n    kind: setting\n    dir: k2-status\n    path: ServerState.ini\n    key: %s\n    service: %s\n",
			f.name, f.key, MediaServerService)
	}
	b.WriteString("  - name: heartbeat_timeout_seconds\n    kind: setting\n    dir: k2-config\n    path: Failover.ini\n    key: Heartbeat.TimeoutSeconds\n")
	for _, d := range devices {
		fmt.Fprintf(&b, "  - name: %s\n    kind: setting\n    dir: k2-san-devices\n    path: SideDevices.ini\n    key: %s.State\n",
			strings.ReplaceAll(d.key, "-", "_"), d.section)
	}
	b.WriteString("  - name: side_devices_started\n    kind: setting\n    dir: k2-san-devices\n    path: SideDevices.ini\n    key: Side.AllStartedSince\n")
	fmt.Fprintf(&b, "  - name: last_event\n    kind: log\n    file: %q\n    pattern: 'EVENT ([^\\n]*)'\n", vendorLogPath(host))
	return b.String()
}
