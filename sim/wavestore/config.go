package wavestore

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// paths are where a simulated Wavestore server keeps its files, under the
// simulated root (env.Host), laid out as on a Wavestore appliance (Linux).
type paths struct {
	root string
}

func (p paths) join(parts ...string) string {
	return filepath.Join(append([]string{p.root}, parts...)...)
}

// Settings, edited with WaveView (and the agent's settings.set).
func (p paths) configDir() string   { return p.join("etc", "wavestore") }
func (p paths) failoverINI() string { return p.join("etc", "wavestore", "failover.ini") }
func (p paths) serverINI() string   { return p.join("etc", "wavestore", "server.ini") }
func (p paths) networkINI() string  { return p.join("etc", "wavestore", "network.ini") }
func (p paths) usersINI() string    { return p.join("etc", "wavestore", "users.ini") }
func (p paths) rulesINI() string    { return p.join("etc", "wavestore", "eventrules.ini") }

// Runtime state, written by the service.
func (p paths) libDir() string       { return p.join("var", "lib", "wavestore") }
func (p paths) statusDir() string    { return p.join("var", "lib", "wavestore", "status") }
func (p paths) statusINI() string    { return p.join("var", "lib", "wavestore", "status", "status.ini") }
func (p paths) wiringINI() string    { return p.join("var", "lib", "wavestore", "sim-peers.ini") }
func (p paths) faultsFile() string   { return p.join("var", "lib", "wavestore", "active-faults") }
func (p paths) lastRecorded() string { return p.join("var", "lib", "wavestore", "last-recorded") }
func (p paths) disk(letter string) string {
	return p.join("var", "lib", "wavestore", "disks", letter)
}
func (p paths) eventsDir() string { return p.join("var", "spool", "wavestore", "events") }
func (p paths) systemLog() string { return p.join("var", "log", "wavestore", "system.log") }

// Failover modes of failover.ini.
const (
	modePhysical = "Physical"
	modeStandby  = "Standby"
	modeNone     = "None"
)

// config is what the service reads when it starts. As on the real product,
// edits take effect at the next start ("Restart all the servers to ensure
// they read the failover settings correctly"); only failover-delete is
// applied at once.
type config struct {
	name          string // server.ini Server.Name
	group         string
	licence       string
	channels      int
	ntp           string
	disks         []string // disk letters
	cameras       int
	captureDevice string // IP, or Backup for the standby's dummy cameras
	tracks        []track
	bitrateKbps   int
	eventRec      bool
	address       string // network.ini: the physical address
	secondary     string // network.ini: the logical address added with Add Secondary
	failoverUser  string // users.ini failoverserver.Level; "" when there is no such user
	fo            failoverConfig
	rules         []rule
}

// track is a recording track: which disk letter it records to, and for how
// long it keeps footage.
type track struct {
	name string
	disk string
	days int
}

func (t track) String() string { return fmt.Sprintf("%s:%s:%dd", t.name, t.disk, t.days) }

// failoverConfig is failover.ini: View → Setup → Failover.
type failoverConfig struct {
	enabled   bool
	mode      string // Physical, Standby or None
	logical   int    // Physical: the logical server it hosts
	servers   []member
	takeover  time.Duration
	heartbeat time.Duration
	copyMBps  float64
}

// member is one entry of the list of physical servers (step 6).
type member struct {
	name    string
	logical int // 0 for a standby
}

// active reports whether this server takes part in failover.
func (f failoverConfig) active() bool { return f.enabled && f.mode != modeNone }

// rule is one event rule: a cause, and the action it runs.
type rule struct {
	name    string
	enabled bool
	cause   string
	action  string
	script  int
	param   int
	text    string
}

// failover reports whether the rule runs the failover action: Script 99
// (the document gives parameter 0 and text Failover).
func (r rule) failover() bool {
	return r.enabled && strings.EqualFold(r.action, "Script") && r.script == 99
}

var (
	letterRE = regexp.MustCompile(`^[A-Z]$`)
	wordRE   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,31}$`)
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
)

// loadConfig reads every settings file. Errors name the file, the line and
// what is wrong.
func loadConfig(p paths) (*config, error) {
	c := &config{}
	if err := c.loadServer(p.serverINI()); err != nil {
		return nil, err
	}
	if err := c.loadNetwork(p.networkINI()); err != nil {
		return nil, err
	}
	if err := c.loadUsers(p.usersINI()); err != nil {
		return nil, err
	}
	fo, err := loadFailover(p.failoverINI(), c.name)
	if err != nil {
		return nil, err
	}
	c.fo = fo
	if c.rules, err = loadRules(p.rulesINI()); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *config) loadServer(path string) error {
	f, err := readINI(path)
	if err != nil {
		return err
	}
	if c.name, err = f.need("Server.Name"); err != nil {
		return err
	}
	if !nameRE.MatchString(c.name) {
		return fmt.Errorf("%s:%d: Server.Name %q is not a server name", path, f.line("Server.Name"), c.name)
	}
	c.group = f.str("Server.Group", "")
	if c.licence, err = f.need("Licence.Type"); err != nil {
		return err
	}
	if c.channels, err = f.integer("Licence.Channels", 0, 1024, 0); err != nil {
		return err
	}
	c.ntp = f.str("Time.NTPServer", "")
	letters, err := f.need("Disks.Letters")
	if err != nil {
		return err
	}
	for _, l := range strings.Split(letters, ",") {
		l = strings.TrimSpace(l)
		if !letterRE.MatchString(l) || slices.Contains(c.disks, l) {
			return fmt.Errorf("%s:%d: Disks.Letters %q: expected distinct capital letters separated by commas, such as A,B", path, f.line("Disks.Letters"), letters)
		}
		c.disks = append(c.disks, l)
	}
	if c.cameras, err = f.integer("Cameras.Count", 0, 1024, 0); err != nil {
		return err
	}
	c.captureDevice = f.str("Cameras.CaptureDevice", "IP")
	if c.bitrateKbps, err = f.integer("Recording.BitrateKbps", 1, 1_000_000, 4096); err != nil {
		return err
	}
	if c.eventRec, err = f.boolean("Recording.EventRecording", false); err != nil {
		return err
	}
	if c.tracks, err = parseTracks(f.str("Recording.Tracks", "")); err != nil {
		return fmt.Errorf("%s:%d: Recording.Tracks: %w", path, f.line("Recording.Tracks"), err)
	}
	for _, t := range c.tracks {
		if !slices.Contains(c.disks, t.disk) {
			return fmt.Errorf("%s:%d: Recording.Tracks: %s records to disk letter %s, which Disks.Letters (%s) does not have", path, f.line("Recording.Tracks"), t.name, t.disk, letters)
		}
	}
	return nil
}

// parseTracks reads "Track1:A:30d,Track2:B:7d": track name, disk letter,
// days kept.
func parseTracks(s string) ([]track, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []track
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(strings.TrimSpace(part), ":")
		if len(f) != 3 || !wordRE.MatchString(f[0]) || !letterRE.MatchString(f[1]) || !strings.HasSuffix(f[2], "d") {
			return nil, fmt.Errorf("%q: expected NAME:LETTER:DAYSd, such as Track1:A:30d", part)
		}
		days, err := strconv.Atoi(strings.TrimSuffix(f[2], "d"))
		if err != nil || days < 1 || days > 3650 {
			return nil, fmt.Errorf("%q: days must be from 1 to 3650", part)
		}
		if slices.ContainsFunc(out, func(t track) bool { return strings.EqualFold(t.name, f[0]) }) {
			return nil, fmt.Errorf("%s is given twice", f[0])
		}
		out = append(out, track{name: f[0], disk: f[1], days: days})
	}
	return out, nil
}

func formatTracks(ts []track) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ",")
}

func (c *config) loadNetwork(path string) error {
	f, err := readINI(path)
	if err != nil {
		return err
	}
	if c.address, err = f.need("eth0.Address"); err != nil {
		return err
	}
	if net.ParseIP(c.address) == nil {
		return fmt.Errorf("%s:%d: eth0.Address %q is not an IP address", path, f.line("eth0.Address"), c.address)
	}
	c.secondary = f.str("eth0.Secondary", "")
	if c.secondary != "" && net.ParseIP(c.secondary) == nil {
		return fmt.Errorf("%s:%d: eth0.Secondary %q is not an IP address", path, f.line("eth0.Secondary"), c.secondary)
	}
	return nil
}

func (c *config) loadUsers(path string) error {
	f, err := readINI(path)
	if err != nil {
		return err
	}
	c.failoverUser = f.str("failoverserver.Level", "")
	return nil
}

// loadFailover reads failover.ini for the server called self.
func loadFailover(path, self string) (failoverConfig, error) {
	fo := failoverConfig{mode: modeNone, takeover: 10 * time.Second, heartbeat: time.Second, copyMBps: 10}
	f, err := readINI(path)
	if err != nil {
		return fo, err
	}
	if fo.enabled, err = f.boolean("Failover.Enabled", false); err != nil {
		return fo, err
	}
	fo.mode = f.str("Failover.Mode", modeNone)
	switch {
	case strings.EqualFold(fo.mode, modePhysical):
		fo.mode = modePhysical
	case strings.EqualFold(fo.mode, modeStandby):
		fo.mode = modeStandby
	case strings.EqualFold(fo.mode, modeNone):
		fo.mode = modeNone
	default:
		return fo, fmt.Errorf("%s:%d: Failover.Mode %q: expected Physical, Standby or None", path, f.line("Failover.Mode"), fo.mode)
	}
	if !fo.active() {
		return fo, nil
	}
	secs, err := f.integer("Failover.TakeoverSeconds", 1, 3600, 10)
	if err != nil {
		return fo, err
	}
	fo.takeover = time.Duration(secs) * time.Second
	if secs, err = f.integer("Failover.HeartbeatSeconds", 1, 60, 1); err != nil {
		return fo, err
	}
	fo.heartbeat = time.Duration(secs) * time.Second
	mbps, err := f.integer("Failover.CopyBackMBps", 1, 10_000, 10)
	if err != nil {
		return fo, err
	}
	fo.copyMBps = float64(mbps)
	list, err := f.need("Failover.PhysicalServers")
	if err != nil {
		return fo, err
	}
	at := fmt.Sprintf("%s:%d: Failover.PhysicalServers", path, f.line("Failover.PhysicalServers"))
	for _, part := range strings.Split(list, ",") {
		name, what, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !nameRE.MatchString(name) {
			return fo, fmt.Errorf("%s: %q: expected NAME:LOGICAL or NAME:standby, such as ws-physical-1:1", at, part)
		}
		m := member{name: name}
		if !strings.EqualFold(what, "standby") {
			if m.logical, err = strconv.Atoi(what); err != nil || m.logical < 1 || m.logical > 99 {
				return fo, fmt.Errorf("%s: %q: the logical server must be a number from 1 to 99 or \"standby\"", at, part)
			}
		}
		for _, o := range fo.servers {
			if o.name == m.name {
				return fo, fmt.Errorf("%s: %s is listed twice", at, name)
			}
			if m.logical != 0 && o.logical == m.logical {
				return fo, fmt.Errorf("%s: logical server %d is given to both %s and %s", at, m.logical, o.name, name)
			}
		}
		fo.servers = append(fo.servers, m)
	}
	i := slices.IndexFunc(fo.servers, func(m member) bool { return m.name == self })
	if i < 0 {
		return fo, fmt.Errorf("%s: this server (%s, Server.Name in server.ini) is not in the list", at, self)
	}
	me := fo.servers[i]
	if fo.mode == modeStandby && me.logical != 0 {
		return fo, fmt.Errorf("%s: Mode is Standby but the list gives this server logical server %d", at, me.logical)
	}
	if fo.mode == modePhysical {
		if me.logical == 0 {
			return fo, fmt.Errorf("%s: Mode is Physical but the list makes this server a standby", at)
		}
		fo.logical = me.logical
	}
	return fo, nil
}

// loadRules reads eventrules.ini: one section per rule.
func loadRules(path string) ([]rule, error) {
	f, err := readINI(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []rule
	for _, s := range f.sections() {
		r := rule{name: f.str(s+".Name", s), action: f.str(s+".Action", "")}
		if r.enabled, err = f.boolean(s+".Enabled", true); err != nil {
			return nil, err
		}
		if r.cause, err = f.need(s + ".Cause"); err != nil {
			return nil, err
		}
		if !wordRE.MatchString(r.cause) {
			return nil, fmt.Errorf("%s:%d: %s.Cause %q is not a cause name such as DiskFault", path, f.line(s+".Cause"), s, r.cause)
		}
		if strings.EqualFold(r.action, "Script") {
			if r.script, err = f.integer(s+".Script", 0, 999, -1); err != nil {
				return nil, err
			}
			if r.script < 0 {
				return nil, fmt.Errorf("%s: %s.Script is missing; a Script action needs a script number", path, s)
			}
			if r.param, err = f.integer(s+".Parameter", -1_000_000, 1_000_000, 0); err != nil {
				return nil, err
			}
			r.text = f.str(s+".Text", "")
		}
		out = append(out, r)
	}
	return out, nil
}

// wiring is where each simulated server listens: the simulation's stand-in
// for the physical addresses, rewritten by the fleet at every start.
type wiring map[string]endpoint

type endpoint struct {
	udp *net.UDPAddr
	tcp string
}

func loadWiring(path string) (wiring, error) {
	f, err := readINI(path)
	if err != nil {
		return nil, err
	}
	w := wiring{}
	for _, s := range f.sections() {
		u, err := f.need(s + ".UDP")
		if err != nil {
			return nil, err
		}
		ua, err := net.ResolveUDPAddr("udp4", u)
		if err != nil || ua.Port == 0 {
			return nil, fmt.Errorf("%s:%d: %s.UDP %q is not an address such as 127.0.0.1:4000", path, f.line(s+".UDP"), s, u)
		}
		t, err := f.need(s + ".TCP")
		if err != nil {
			return nil, err
		}
		if _, _, err := net.SplitHostPort(t); err != nil {
			return nil, fmt.Errorf("%s:%d: %s.TCP %q is not an address such as 127.0.0.1:4001", path, f.line(s+".TCP"), s, t)
		}
		w[s] = endpoint{udp: ua, tcp: t}
	}
	return w, nil
}
