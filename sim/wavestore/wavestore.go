package wavestore

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/sim"
)

func init() { sim.Register(System()) }

// The members of the simulated 2+1 system.
const (
	Physical1 = "ws-physical-1"
	Physical2 = "ws-physical-2"
	Standby   = "ws-standby"
)

// Names of the simulated programs (`vigil sim NAME`) and of what the
// agents declare.
const (
	ServiceName        = "wavestore"                 // the recording server, one per physical server
	FailoverDeleteTool = "wavestore-failover-delete" // Tools → Execute Command failover-delete
	CommandDelete      = "failover-delete"           // the agent's command.run name
	QueueEvents        = "events"                    // event causes, for event rules
	SettingsConfig     = "config"                    // /etc/wavestore
	SettingsStatus     = "status"                    // the service's status file
)

// System is the simulated Wavestore 2+1 failover system.
func System() *sim.System {
	return &sim.System{Profile: "wavestore", Name: "wavestore", Doc: "wavestore-v6-failover.txt",
		Members: []sim.Member{
			{Name: Physical1, Site: "simulated", Role: model.RolePrimary},
			{Name: Physical2, Site: "simulated", Role: model.RolePrimary},
			{Name: Standby, Site: "simulated", Role: model.RoleStandby},
		},
		Services: []sim.Service{
			{Name: ServiceName, Summary: "simulated Wavestore 6 recording server with failover (standby monitor, arbitration, copy-back)", Run: runServer},
			{Name: FailoverDeleteTool, Summary: "simulated Wavestore command failover-delete: removes this server's failover configuration", Run: runFailoverDelete},
		},
		Layout: layout,
	}
}

// initial is how each member is configured when first laid out: as the
// document's configuration steps leave a 2+1 system.
type initial struct {
	address, secondary string
	cameras            int
	capture            string
	mode               string
}

var initialConfig = map[string]initial{
	Physical1: {address: "192.168.10.11", secondary: "192.168.10.101", cameras: 12, capture: "IP", mode: modePhysical},
	Physical2: {address: "192.168.10.12", secondary: "192.168.10.102", cameras: 11, capture: "IP", mode: modePhysical},
	Standby:   {address: "192.168.10.13", cameras: 12, capture: "Backup", mode: modeStandby},
}

func layout(l *sim.Layout) (map[string]string, error) {
	members := []string{Physical1, Physical2, Standby}
	var wiring strings.Builder
	wiring.WriteString("; Simulation wiring (Vigil): where each simulated Wavestore server listens on loopback.\n" +
		"; It stands in for the physical addresses of network.ini and is rewritten at every fleet start.\n")
	for _, m := range members {
		u, err := sim.FreeUDPPort()
		if err != nil {
			return nil, err
		}
		t, err := sim.FreeTCPPort()
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&wiring, "[%s]\nUDP = 127.0.0.1:%d\nTCP = 127.0.0.1:%d\n", m, u, t)
	}
	configs := map[string]string{}
	for _, m := range members {
		p := paths{root: l.Host(m)}
		if err := writeInitial(p, m); err != nil {
			return nil, fmt.Errorf("%s: %w", m, err)
		}
		if err := sim.Write(p.wiringINI(), wiring.String()); err != nil {
			return nil, err
		}
		for _, d := range []string{p.statusDir(), p.eventsDir()} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, err
			}
		}
		configs[m] = agentConfig(l, m, p)
	}
	return configs, nil
}

// writeInitial writes a member's settings the first time; later starts keep
// what operators (and failover-delete) made of them.
func writeInitial(p paths, name string) error {
	c := initialConfig[name]
	files := map[string]string{
		p.serverINI(): fmt.Sprintf(`; Wavestore server settings (WaveView: Setup), simulated by Vigil.
[Server]
Name = %s
; Configuring Failover step 2: do NOT put the servers into a group at this time.
Group =
[Licence]
Type = Enterprise
Channels = 16
[Time]
; Steps 10-11: every server syncs time to an NTP server.
NTPServer = 192.168.10.1
[Disks]
; Every server has the same disk letters (the standby's disks may be smaller).
Letters = A,B
[Cameras]
Count = %d
; IP cameras; the standby uses a backup capture device for dummy cameras.
CaptureDevice = %s
[Recording]
; Track:DiskLetter:Days. The standby records the same tracks to the same disks.
Tracks = Track1:A:30d,Track2:B:7d
BitrateKbps = 4096
; Nothing may record on the standby (no EVENT recording).
EventRecording = 0
`, name, c.cameras, c.capture),
		p.networkINI(): fmt.Sprintf(`; Wavestore network settings (WaveView: Network setup), simulated by Vigil.
[eth0]
; The physical address (Configuring Failover step 2).
Address = %s
; The logical server's address, added with Add Secondary (steps 7-8); none on the standby.
Secondary = %s
[eth1]
Enabled = 0
`, c.address, c.secondary),
		p.usersINI(): `; Wavestore users, simulated by Vigil.
[admin]
Level = Administrator
[failoverserver]
; Configuring Failover step 3: user level, a password hard to guess.
Level = User
PasswordHash = sha256:5f1c0b2a9e3d7c4b8a6f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b
`,
		p.failoverINI(): fmt.Sprintf(`; Wavestore failover settings (View > Setup > Failover), simulated by Vigil.
; Edits take effect when the Wavestore service restarts.
[Failover]
Enabled = 1
; Physical, Standby or None.
Mode = %s
; Step 6: the physical servers, NAME:LOGICAL_SERVER, or NAME:standby.
PhysicalServers = %s:1,%s:2,%s:standby
; The standby takes over a logical server it has not heard for this long.
TakeoverSeconds = 10
HeartbeatSeconds = 1
; How fast footage recorded on the standby is copied back (MB/s).
CopyBackMBps = 10
`, c.mode, Physical1, Physical2, Standby),
		p.rulesINI(): `; Wavestore event rules, simulated by Vigil. Failover on Event: Script 99, parameter 0, text Failover.
[Rule1]
Name = Failover on disk fault
Enabled = 1
Cause = DiskFault
Action = Script
Script = 99
Parameter = 0
Text = Failover
[Rule2]
Name = Failover on operator request
Enabled = 1
Cause = Manual
Action = Script
Script = 99
Parameter = 0
Text = Failover
`,
	}
	for path, content := range files {
		if err := sim.WriteOnce(path, content); err != nil {
			return err
		}
	}
	return nil
}

// fact is one published value: a key of a settings file, or a system log
// line.
type factDef struct {
	name, dir, file, key string
	gated                bool // read only while the service runs (its status)
}

// facts are what a wizard or monitor reads to check the document's steps.
var facts = []factDef{
	// Configuration (readable while the service is down, so a wizard can
	// check it before a restart).
	{"failover_enabled", SettingsConfig, "failover.ini", "Failover.Enabled", false},
	{"failover_mode", SettingsConfig, "failover.ini", "Failover.Mode", false},
	{"failover_physical_servers", SettingsConfig, "failover.ini", "Failover.PhysicalServers", false},
	{"takeover_seconds", SettingsConfig, "failover.ini", "Failover.TakeoverSeconds", false},
	{"physical_address", SettingsConfig, "network.ini", "eth0.Address", false},
	{"logical_address", SettingsConfig, "network.ini", "eth0.Secondary", false},
	{"server_group", SettingsConfig, "server.ini", "Server.Group", false},
	{"failoverserver_user", SettingsConfig, "users.ini", "failoverserver.Level", false},
	{"ntp_server", SettingsConfig, "server.ini", "Time.NTPServer", false},
	{"licence", SettingsConfig, "server.ini", "Licence.Type", false},
	{"licensed_channels", SettingsConfig, "server.ini", "Licence.Channels", false},
	{"disk_letters", SettingsConfig, "server.ini", "Disks.Letters", false},
	{"cameras", SettingsConfig, "server.ini", "Cameras.Count", false},
	{"capture_device", SettingsConfig, "server.ini", "Cameras.CaptureDevice", false},
	{"tracks", SettingsConfig, "server.ini", "Recording.Tracks", false},
	{"event_recording", SettingsConfig, "server.ini", "Recording.EventRecording", false},
	// What the running service reports.
	{"failover_status", SettingsStatus, "status.ini", "Failover.Status", true},
	{"hosted_logical_server", SettingsStatus, "status.ini", "Failover.HostedLogicalServer", true},
	{"takeover_seconds_in_effect", SettingsStatus, "status.ini", "Failover.TakeoverSeconds", true},
	{"arbitration", SettingsStatus, "status.ini", "Failover.Arbitration", true},
	{"failover_peers", SettingsStatus, "status.ini", "Failover.Peers", true},
	{"failover_check", SettingsStatus, "status.ini", "Failover.Check", true},
	{"failover_rules", SettingsStatus, "status.ini", "Failover.Rules", true},
	{"missed_seconds", SettingsStatus, "status.ini", "Failover.MissedSeconds", true},
	{"last_takeover", SettingsStatus, "status.ini", "Failover.LastTakeover", true},
	{"last_notification", SettingsStatus, "status.ini", "Failover.LastNotification", true},
	{"recording", SettingsStatus, "status.ini", "Capture.Recording", true},
	{"recorded_until", SettingsStatus, "status.ini", "Capture.RecordedUntil", true},
	{"secondary_interfaces", SettingsStatus, "status.ini", "Capture.SecondaryInterfaces", true},
	{"status", SettingsStatus, "status.ini", "Server.StatusCode", true},
	{"restart_required", SettingsStatus, "status.ini", "Server.RestartRequired", true},
	{"log_issues", SettingsStatus, "status.ini", "Server.LogIssues", true},
	{"last_issue", SettingsStatus, "status.ini", "Server.LastIssue", true},
	{"copy_back", SettingsStatus, "status.ini", "CopyBack.State", true},
	{"copy_back_progress", SettingsStatus, "status.ini", "CopyBack.Progress", true},
}

// agentConfig is a member's agent configuration after the fleet's header.
func agentConfig(l *sim.Layout, name string, p paths) string {
	q := strconv.Quote
	argv := func(a []string) string {
		s := make([]string, len(a))
		for i, x := range a {
			s[i] = q(x)
		}
		return "[" + strings.Join(s, ", ") + "]"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `services:
  - name: %s
    driver: process
    command: %s
    stop_timeout: 10s
settings:
  - name: %s
    dir: %s
  - name: %s
    dir: %s
queues:
  - name: %s
    dir: %s
commands:
  - name: %s
    argv: %s
    unless: %s
    timeout: 30s
role_probe:
  kind: setting
  dir: %s
  path: status.ini
  key: Failover.State
  service: %s
  map: {hosting: primary, standby: standby, waiting: out-of-service, failed: failed, standalone: out-of-service, "*": unknown}
facts:
`, ServiceName, argv(l.Sim(name, ServiceName)),
		SettingsConfig, q(p.configDir()), SettingsStatus, q(p.statusDir()),
		QueueEvents, q(p.eventsDir()),
		CommandDelete, argv(l.Sim(name, FailoverDeleteTool)), argv(l.Sim(name, FailoverDeleteTool, "--", "--check")),
		SettingsStatus, ServiceName)
	for _, f := range facts {
		fmt.Fprintf(&b, "  - {name: %s, kind: setting, dir: %s, path: %s, key: %s", f.name, f.dir, f.file, f.key)
		if f.gated {
			fmt.Fprintf(&b, ", service: %s", ServiceName)
		}
		b.WriteString("}\n")
	}
	fmt.Fprintf(&b, "  - {name: system_log_failover, kind: log, file: %s, pattern: %s, service: %s}\n",
		q(p.systemLog()), q(`Failover: this server is ([^\r\n]+)`), ServiceName)
	return b.String()
}
