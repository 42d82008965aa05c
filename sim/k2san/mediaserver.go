package k2san

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilops/vigil/lateness"
	"github.com/vigilops/vigil/sim"
)

// The media server's roles, as ServerState.ini and Server Control Panel
// word them.
const (
	rolePrimary  = "primary"
	roleBackup   = "backup"
	roleStarting = "starting" // in service, listening for the peer before taking a role
	roleOut      = "out of service"
	roleFailed   = "failed"
)

// FailoverState values.
const (
	failoverNone     = "none"
	failoverTaking   = "taking over"
	failoverComplete = "complete"
	failoverCannot   = "cannot take over: not qualified"
)

// Wall-clock floors: however fast the simulated clock runs, heartbeats are
// at most 20 a second, and a missing heartbeat is declared only after half a
// second, so a busy machine's scheduling hiccup never fakes a failover.
const (
	heartbeatFloor = 50 * time.Millisecond
	timeoutFloor   = 500 * time.Millisecond
	// A server that starts and hears nothing takes control alone only after
	// this long at least: its peer's agent may start a little later (a
	// fleet of agents starting on a busy machine), and the pair must not
	// swap roles for that.
	aloneFloor = 3 * time.Second
	devicePoll = 250 * time.Millisecond
)

// failoverConfig is Failover.ini.
type failoverConfig struct {
	Name, Side, Peer string
	Interval         time.Duration // heartbeat period
	Timeout          time.Duration // heartbeat silence after which the backup takes over
	Takeover         time.Duration // how long taking control of the SAN lasts
	Qualify          time.Duration // how long a backup synchronises before it is qualified
}

func configDir(host func(...string) string) string {
	return host("ProgramData", "Grass Valley", "K2 Media Server")
}

func failoverPath(host func(...string) string) string {
	return host("ProgramData", "Grass Valley", "K2 Media Server", "Failover.ini")
}

func statusDir(host func(...string) string) string {
	return host("ProgramData", "Grass Valley", "K2 Media Server", "Status")
}

func statePath(host func(...string) string) string {
	return host("ProgramData", "Grass Valley", "K2 Media Server", "Status", "ServerState.ini")
}

func vendorLogPath(host func(...string) string) string {
	return host("ProgramData", "Grass Valley", "Logs", "K2MediaServer.log")
}

func (c failoverConfig) render() string {
	return fmt.Sprintf(`; SIMULATED K2 Media Server failover configuration (Vigil simulation, not
; Grass Valley software). Read when the media server starts: a change takes
; effect at the next Stop and Start in Server Control Panel.
[Server]
Name=%s
; The redundant side (A or B) whose iSCSI bridge and switches this server uses.
Side=%s
; The other K2 Media Server of the redundant pair.
Peer=%s

[Heartbeat]
; The heartbeat on the serial cable between the pair (UDP on loopback here).
IntervalSeconds=%g
; Silence after which the backup decides the primary is gone and takes over.
TimeoutSeconds=%g

[Failover]
; How long the new primary takes to take control of the K2 SAN.
TakeoverSeconds=%g
; How long a backup synchronises with the primary before it is qualified.
QualifySeconds=%g
`, c.Name, c.Side, c.Peer, c.Interval.Seconds(), c.Timeout.Seconds(), c.Takeover.Seconds(), c.Qualify.Seconds())
}

func readFailoverConfig(path string) (failoverConfig, error) {
	var c failoverConfig
	f, err := readINI(path)
	if err != nil {
		return c, err
	}
	if c.Name, err = f.str("Server.Name"); err != nil {
		return c, err
	}
	if c.Side, err = f.oneOf("Server.Side", "A", "B"); err != nil {
		return c, err
	}
	if c.Peer, err = f.str("Server.Peer"); err != nil {
		return c, err
	}
	if strings.EqualFold(c.Peer, c.Name) {
		return c, fmt.Errorf("%s: the peer is this server itself (%s)", f.where("Server.Peer"), c.Peer)
	}
	if c.Interval, err = f.seconds("Heartbeat.IntervalSeconds", 0.1, 60); err != nil {
		return c, err
	}
	if c.Timeout, err = f.seconds("Heartbeat.TimeoutSeconds", 1, 600); err != nil {
		return c, err
	}
	if c.Timeout < 2*c.Interval {
		return c, fmt.Errorf("%s: %gs is less than two heartbeat intervals (%gs each); a single late heartbeat would cause a failover",
			f.where("Heartbeat.TimeoutSeconds"), c.Timeout.Seconds(), c.Interval.Seconds())
	}
	if c.Takeover, err = f.seconds("Failover.TakeoverSeconds", 0, 3600); err != nil {
		return c, err
	}
	if c.Qualify, err = f.seconds("Failover.QualifySeconds", 0, 86400); err != nil {
		return c, err
	}
	return c, nil
}

// serverState is ServerState.ini, which the media server rewrites on every
// change and Server Control Panel (and the agent's probes) read.
type serverState struct {
	Name, Side, Role       string
	RoleSince              time.Time
	LastRole               string // the last primary or backup role held, kept across stops
	Qualified              bool
	Failover               string
	MediaDatabase          string
	Redundancy             string
	Peer, PeerRole, PeerHB string
	SideDevices            string
	Started                time.Time
}

func (s serverState) render() string {
	return fmt.Sprintf(`; SIMULATED K2 Media Server state (Vigil simulation, not Grass Valley software),
; written by the media server on every change, as Server Control Panel shows it.
[Server]
Name=%s
Side=%s
Role=%s
RoleSince=%s
LastRole=%s
Qualified=%t
FailoverState=%s
MediaDatabase=%s
Redundancy=%s
Started=%s

[Peer]
Name=%s
Role=%s
Heartbeat=%s

[SideDevices]
Status=%s
`, s.Name, s.Side, s.Role, stamp(s.RoleSince), s.LastRole, s.Qualified, s.Failover, s.MediaDatabase, s.Redundancy, stamp(s.Started),
		s.Peer, s.PeerRole, s.PeerHB, s.SideDevices)
}

// peerState is what the last heartbeat from the peer said.
type peerState struct {
	heard       time.Time // wall clock; zero if never
	role        string
	lastPrimary time.Time // wall clock: when it was last known to be primary; zero if never
	since       time.Time
	qualified   bool
}

// mediaServer is one run of the k2-media-server simulation: from Server
// Control Panel's Start to its Stop, or to a failure.
type mediaServer struct {
	env  *sim.Env
	cfg  failoverConfig
	vlog *sim.VendorLog
	conn net.PacketConn
	peer *net.UDPAddr

	heartbeatWall, timeoutWall, aloneWall time.Duration

	heard  chan struct{} // a heartbeat arrived
	mu     sync.Mutex
	latest peerState

	// Owned by the loop.
	st serverState
	// lastPrimary is when this server was last primary before this start
	// (wall clock, from its state file): between two servers starting
	// together, the one primary most recently takes control again.
	lastPrimary time.Time
	awake       time.Time      // wall: start, or the end of a stall; silence counts from here at the earliest
	lastStep    time.Time      // wall
	late        lateness.Meter // how late the loop has run lately: see step
	synced      time.Duration
	syncMark    time.Time // sim; zero while not synchronising
	takenAt     time.Time // sim: when the takeover completes
	critSince   time.Time // sim: when a primary first missed a critical device
	devs        *sideDevices
	devErr      string
	devStamp    fileStamp // of the device file last read
	hbBuf       []byte    // the heartbeat being sent, reused
	written     serverState
	wroteOnce   bool
	sendErr     string
}

// mediaServerService runs `vigil sim k2-media-server --heartbeat-port P
// --peer-port Q`: one K2 Media Server's failover software, started and
// stopped by Server Control Panel (the agent's service start and stop).
func mediaServerService(ctx context.Context, env *sim.Env) error {
	var port, peerPort int
	if err := ownFlags(env, "k2-media-server", func(fs *flag.FlagSet) {
		fs.IntVar(&port, "heartbeat-port", 0, "UDP port on 127.0.0.1 this server's heartbeat arrives on")
		fs.IntVar(&peerPort, "peer-port", 0, "UDP port on 127.0.0.1 of the peer's heartbeat")
	}); err != nil {
		return err
	}
	for _, p := range []struct {
		flag string
		v    int
	}{{"--heartbeat-port", port}, {"--peer-port", peerPort}} {
		if p.v <= 0 || p.v > 65535 {
			return fmt.Errorf("vigil sim k2-media-server: %s %d: expected a UDP port from 1 to 65535", p.flag, p.v)
		}
	}
	cfg, err := readFailoverConfig(failoverPath(env.Host))
	if err != nil {
		return fmt.Errorf("failover configuration: %w", err)
	}
	vlog, err := sim.OpenVendorLog(vendorLogPath(env.Host), env.Clock)
	if err != nil {
		return fmt.Errorf("open the media server log: %w", err)
	}
	defer vlog.Close()
	conn, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		vlog.Printf("SIMULATED K2 Media Server %s: ERROR cannot open the heartbeat link: %v", cfg.Name, err)
		return fmt.Errorf("heartbeat link: %w", err)
	}
	defer conn.Close()
	hb := env.Clock.Wall(cfg.Interval, heartbeatFloor)
	m := &mediaServer{
		env: env, cfg: cfg, vlog: vlog, conn: conn,
		peer:          &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: peerPort},
		heartbeatWall: hb,
		timeoutWall:   max(env.Clock.Wall(cfg.Timeout, 0), 5*hb, timeoutFloor),
		aloneWall:     max(env.Clock.Wall(cfg.Timeout, 0), 5*hb, aloneFloor),
		heard:         make(chan struct{}, 1),
	}
	return m.run(ctx)
}

func (m *mediaServer) run(ctx context.Context) error {
	now := m.env.Clock.Now().Truncate(time.Millisecond)
	m.st = serverState{Name: m.cfg.Name, Side: m.cfg.Side, Role: roleStarting, RoleSince: now, Failover: failoverNone,
		MediaDatabase: "not synchronised", Peer: m.cfg.Peer, PeerRole: "unknown", PeerHB: "not heard yet", Started: now}
	if prev, fi, err := readPrevious(statePath(m.env.Host)); err == nil {
		m.st.LastRole = prev.opt("Server.LastRole", prev.opt("Server.Role", ""))
		if m.st.LastRole == rolePrimary {
			m.lastPrimary = fi.ModTime().Truncate(time.Millisecond)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		m.env.Log.Warn("previous server state unreadable; starting without it", "err", err)
		m.event("WARNING previous state unreadable (%v); it is rewritten", err)
	}
	m.awake, m.lastStep = time.Now(), time.Now()
	m.readDevices()
	m.event("EVENT Server Control Panel: Start. In service; listening for %s's heartbeat (timeout %s) before taking a role",
		m.cfg.Peer, m.cfg.Timeout)
	m.env.Log.Info("simulated K2 Media Server in service", "name", m.cfg.Name, "side", m.cfg.Side,
		"heartbeat", m.heartbeatWall, "timeout_wall", m.timeoutWall)
	if err := m.write(); err != nil {
		return err
	}
	m.send()

	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		m.receive()
	}()
	defer func() {
		m.conn.Close()
		<-recvDone
	}()

	tick := time.NewTicker(m.heartbeatWall)
	defer tick.Stop()
	devTick := time.NewTicker(devicePoll)
	defer devTick.Stop()
	for {
		send := false
		select {
		case <-ctx.Done():
			m.stop()
			return nil
		case <-tick.C:
			send = true
		case <-devTick.C:
			m.readDevices()
		case <-m.heard:
		}
		changed, err := m.step()
		if err != nil {
			m.st.Role, m.st.RoleSince, m.st.Qualified = roleFailed, m.env.Clock.Now(), false
			if werr := m.write(); werr != nil {
				m.env.Log.Error("cannot record the failure", "err", werr)
			}
			return err
		}
		if send || changed {
			m.send()
		}
		if err := m.write(); err != nil {
			return err
		}
	}
}

// stop is Server Control Panel's Stop: the server leaves service and shuts
// down. It says nothing to the peer: the backup notices the heartbeat is
// gone, as the document describes.
func (m *mediaServer) stop() {
	was := m.st.Role
	m.st.Role, m.st.RoleSince, m.st.Qualified = roleOut, m.env.Clock.Now(), false
	m.st.Failover, m.st.Redundancy, m.st.MediaDatabase = failoverNone, "none: out of service", "not synchronised"
	m.event("EVENT Server Control Panel: Stop. %s (%s) shuts down and is out of service; the heartbeat on the serial cable stops",
		m.cfg.Name, was)
	if err := m.write(); err != nil {
		m.env.Log.Error("cannot record the stop", "err", err)
	}
}

// step advances the failover state machine once; changed reports a new
// role, which is announced to the peer at once.
func (m *mediaServer) step() (changed bool, err error) {
	wallNow := time.Now()
	if wallNow.Sub(m.lastStep) > m.timeoutWall/2 {
		// This process did not run for a while (frozen, or the machine
		// stalled): the peer's silence during that time proves nothing.
		m.awake = wallNow
		m.env.Log.Warn("media server loop stalled; peer silence counts from now", "stall", wallNow.Sub(m.lastStep))
	}
	if !m.lastStep.IsZero() {
		m.late.Ran(wallNow, wallNow.Sub(m.lastStep)-m.heartbeatWall)
	}
	m.lastStep = wallNow
	now := m.env.Clock.Now()
	m.mu.Lock()
	p := m.latest
	m.mu.Unlock()

	// The timeout grows by how late this loop has run lately: on a loaded
	// machine the peer's process is as likely as this one not to have run
	// for a while (a simulation shares its machine; the real product's
	// hosts do not). On a quiet machine it is the configured one.
	timeout := m.timeoutWall + m.late.Recent(wallNow)
	alive := !p.heard.IsZero() && wallNow.Sub(p.heard) < timeout
	silent := wallNow.Sub(later(m.awake, p.heard)) >= timeout
	switch {
	case alive:
		m.st.PeerRole, m.st.PeerHB = p.role, "ok"
	case p.heard.IsZero():
		m.st.PeerRole, m.st.PeerHB = "unknown", "not heard yet"
	default:
		m.st.PeerRole, m.st.PeerHB = "unknown", "missing"
	}
	before := m.st.Role
	switch m.st.Role {
	case roleStarting:
		switch {
		case alive && (p.role == rolePrimary):
			m.become(roleBackup, now, "%s is primary: coming online as backup", m.cfg.Peer)
		case alive && p.role == roleBackup:
			m.become(rolePrimary, now, "%s is backup and no server is primary: taking control of the K2 SAN as primary", m.cfg.Peer)
		case alive && p.role == roleStarting && m.winsTie(p):
			m.become(rolePrimary, now, "%s is starting too; this server takes control as primary: %s", m.cfg.Peer, m.tieReason(p))
		case !alive && wallNow.Sub(later(m.awake, p.heard)) >= m.aloneWall:
			m.become(rolePrimary, now, "no heartbeat from %s since this server started: taking control of the K2 SAN alone as primary", m.cfg.Peer)
		}
	case roleBackup:
		m.backupStep(p, alive, silent, now)
	case rolePrimary:
		if err := m.primaryStep(p, alive, now); err != nil {
			return false, err
		}
	}
	m.st.SideDevices = m.deviceSummary()
	m.st.Redundancy = m.redundancy(p, alive)
	return m.st.Role != before, nil
}

func (m *mediaServer) backupStep(p peerState, alive, silent bool, now time.Time) {
	if !alive {
		m.syncMark = time.Time{}
		if !silent {
			return
		}
		if m.st.Qualified {
			m.become(rolePrimary, now, "no heartbeat from primary %s for %s (serial cable): taking over as primary", m.cfg.Peer, m.cfg.Timeout)
			m.st.Failover, m.takenAt, m.st.Qualified = failoverTaking, now.Add(m.cfg.Takeover), false
			return
		}
		if m.st.Failover != failoverCannot {
			m.st.Failover = failoverCannot
			m.event("EVENT no heartbeat from primary %s for %s, but this backup is not qualified (%s): it cannot take over; the K2 SAN has no primary",
				m.cfg.Peer, m.cfg.Timeout, m.st.MediaDatabase)
		}
		return
	}
	switch p.role {
	case rolePrimary:
		if m.st.Failover == failoverCannot {
			m.st.Failover = failoverNone
		}
		m.synchronise(now)
	case roleBackup:
		// Two backups and no primary (both lost a primary that is gone):
		// one of them must take control.
		m.syncMark = time.Time{}
		if m.winsTie(p) {
			m.become(rolePrimary, now, "%s is backup too and no server is primary: taking control as primary: %s", m.cfg.Peer, m.tieReason(p))
		}
	default:
		m.syncMark = time.Time{}
	}
}

// synchronise advances the backup's media database synchronisation with
// the primary; the backup is qualified once it is done and its side's
// devices are online.
func (m *mediaServer) synchronise(now time.Time) {
	var down []string
	if m.devs != nil {
		down, _ = m.devs.down()
	}
	if m.devs == nil || len(down) > 0 {
		why := m.devErr
		if m.devs != nil {
			why = strings.Join(down, ", ")
		}
		if m.st.Qualified {
			m.event("EVENT backup no longer qualified: %s", why)
		}
		m.st.Qualified, m.synced, m.syncMark = false, 0, time.Time{}
		m.st.MediaDatabase = "not synchronised: " + why
		return
	}
	if m.syncMark.IsZero() {
		m.syncMark = now
	}
	m.synced += now.Sub(m.syncMark)
	m.syncMark = now
	if m.synced >= m.cfg.Qualify {
		if !m.st.Qualified {
			m.event("EVENT media database synchronised with primary %s: this backup is qualified to take over", m.cfg.Peer)
		}
		m.st.Qualified, m.st.MediaDatabase = true, "synchronised"
		return
	}
	m.st.MediaDatabase = fmt.Sprintf("synchronising %d%%", int(10*m.synced/max(m.cfg.Qualify, 1))*10)
}

func (m *mediaServer) primaryStep(p peerState, alive bool, now time.Time) error {
	if m.st.Failover == failoverTaking && !now.Before(m.takenAt) {
		m.st.Failover = failoverComplete
		m.event("EVENT failover complete: %s operates as the primary K2 Media Server of the K2 SAN", m.cfg.Name)
	}
	if alive && p.role == rolePrimary {
		// Two primaries: the one that took control last is the one the
		// SAN follows; the other was gone long enough to be failed over.
		if p.since.After(m.st.RoleSince) || (p.since.Equal(m.st.RoleSince) && m.cfg.Peer < m.cfg.Name) {
			m.event("EVENT %s took control as primary at %s while this server was unresponsive: shutting down as failed over",
				m.cfg.Peer, stamp(p.since))
			return fmt.Errorf("%s took over as primary while this server was unresponsive", m.cfg.Peer)
		}
	}
	down, critical := []string(nil), false
	if m.devs != nil {
		down, critical = m.devs.down()
	}
	defer func() { m.st.Qualified = m.st.Failover != failoverTaking && m.critSince.IsZero() }()
	if !critical {
		if !m.critSince.IsZero() {
			m.event("EVENT connection to the RAID storage restored")
		}
		m.critSince = time.Time{}
		return nil
	}
	if m.critSince.IsZero() {
		m.critSince = now
		m.event("EVENT lost the connection to the RAID storage (%s); failing over in %s unless it returns",
			strings.Join(down, ", "), m.cfg.Timeout)
	}
	if now.Sub(m.critSince) >= m.cfg.Timeout {
		m.event("EVENT FAILOVER: no connection to the RAID storage for %s (%s): %s shuts down so that the backup takes over",
			m.cfg.Timeout, strings.Join(down, ", "), m.cfg.Name)
		return fmt.Errorf("lost the RAID storage: %s", strings.Join(down, ", "))
	}
	return nil
}

func (m *mediaServer) redundancy(p peerState, alive bool) string {
	switch {
	case !alive:
		return "degraded: no heartbeat from " + m.cfg.Peer
	case m.st.Role == rolePrimary && p.role == roleBackup && p.qualified:
		return "protected"
	case m.st.Role == rolePrimary && p.role == roleBackup:
		return "degraded: backup " + m.cfg.Peer + " is not qualified yet"
	case m.st.Role == roleBackup && p.role == rolePrimary && m.st.Qualified:
		return "protected"
	case m.st.Role == roleBackup && p.role == rolePrimary:
		return "degraded: this backup is not qualified yet"
	}
	return "degraded: " + m.cfg.Peer + " is " + p.role
}

// become changes the role and logs why.
func (m *mediaServer) become(role string, now time.Time, why string, args ...any) {
	m.event("EVENT role %s -> %s: %s", m.st.Role, role, fmt.Sprintf(why, args...))
	m.st.Role, m.st.RoleSince, m.st.LastRole = role, now.Truncate(time.Millisecond), role // as heartbeats carry it
	m.syncMark, m.synced = time.Time{}, 0
	switch role {
	case rolePrimary:
		m.st.Qualified, m.st.Failover, m.st.MediaDatabase = true, failoverNone, "primary copy"
	case roleBackup:
		m.st.Qualified, m.st.Failover, m.st.MediaDatabase = false, failoverNone, "synchronising 0%"
	}
}

// winsTie decides between two servers starting together, or two backups
// without a primary: the one primary most recently, else the first name.
func (m *mediaServer) winsTie(p peerState) bool {
	if !m.lastPrimary.Equal(p.lastPrimary) {
		return m.lastPrimary.After(p.lastPrimary)
	}
	return m.cfg.Name < m.cfg.Peer
}

// tieReason says why this server won the tie against p.
func (m *mediaServer) tieReason(p peerState) string {
	if m.lastPrimary.Equal(p.lastPrimary) {
		return "neither was primary more recently, and " + m.cfg.Name + " comes first by name"
	}
	return "it was primary more recently (until " + m.lastPrimary.UTC().Format(time.DateTime) + " UTC)"
}

// readPrevious reads the state file a previous run left, with its
// modification time: when that run last changed it.
func readPrevious(path string) (*iniFile, os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	f, err := readINI(path)
	return f, fi, err
}

func (m *mediaServer) deviceSummary() string {
	if m.devs == nil {
		return "unknown: " + m.devErr
	}
	if down, _ := m.devs.down(); len(down) > 0 {
		return strings.Join(down, ", ")
	}
	return "online"
}

// readDevices reads the side's device states; a problem is logged once and
// counts as the devices being unavailable.
func (m *mediaServer) readDevices() {
	path := sideDevicesPath(m.env.Host)
	fi, err := os.Stat(path)
	if err == nil && m.devStamp.equal(fi) {
		return // unchanged since it was last read
	}
	s, err := readSide(path)
	if err != nil {
		m.devStamp = fileStamp{}
		if e := err.Error(); e != m.devErr {
			m.devErr = e
			m.event("ERROR side %s device states unreadable: %v", m.cfg.Side, err)
		}
		m.devs = nil
		return
	}
	if m.devErr != "" {
		m.event("side %s device states readable again", m.cfg.Side)
	}
	if m.devs != nil && m.deviceSummary() != summaryOf(s) {
		m.event("side %s devices: %s", m.cfg.Side, summaryOf(s))
	}
	m.devs, m.devErr, m.devStamp = s, "", stampOf(fi)
}

// fileStamp tells whether a file changed since it was read. The device tool
// replaces the file (write and rename), so size and time change together.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(fi os.FileInfo) fileStamp {
	if fi == nil {
		return fileStamp{}
	}
	return fileStamp{fi.ModTime(), fi.Size()}
}

func (s fileStamp) equal(fi os.FileInfo) bool {
	return !s.mod.IsZero() && s.mod.Equal(fi.ModTime()) && s.size == fi.Size()
}

func summaryOf(s *sideDevices) string {
	if down, _ := s.down(); len(down) > 0 {
		return strings.Join(down, ", ")
	}
	return "online"
}

// Heartbeats are one datagram each: "K2HB/1" and space-separated
// key=value fields, none of whose values holds a space.
const heartbeatMagic = "K2HB/1"

func (m *mediaServer) send() {
	lp := int64(0)
	if !m.lastPrimary.IsZero() {
		lp = m.lastPrimary.UnixMilli()
	}
	m.hbBuf = fmt.Appendf(m.hbBuf[:0], "%s from=%s role=%s since=%d lastPrimary=%d qualified=%t",
		heartbeatMagic, m.cfg.Name, m.st.Role, m.st.RoleSince.UnixMilli(), lp, m.st.Qualified)
	_, err := m.conn.WriteTo(m.hbBuf, m.peer)
	if err != nil {
		if e := err.Error(); e != m.sendErr {
			m.env.Log.Warn("heartbeat not sent", "err", err)
			m.sendErr = e
		}
	} else {
		m.sendErr = ""
	}
}

// receive reads the peer's heartbeats until the connection is closed.
func (m *mediaServer) receive() {
	buf := make([]byte, 512)
	var complained string
	for {
		n, _, err := m.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.env.Log.Warn("heartbeat link read failed", "err", err)
			time.Sleep(heartbeatFloor)
			continue
		}
		p, err := parseHeartbeat(buf[:n])
		if err == nil {
			if from := p.from; from != m.cfg.Peer {
				err = fmt.Errorf("heartbeat from %q, but the peer in Failover.ini is %q", from, m.cfg.Peer)
			}
		}
		if err != nil {
			if e := err.Error(); e != complained {
				m.env.Log.Warn("heartbeat ignored", "err", err)
				complained = e
			}
			continue
		}
		p.heard = time.Now()
		m.mu.Lock()
		m.latest = p.peerState
		m.mu.Unlock()
		select {
		case m.heard <- struct{}{}:
		default:
		}
	}
}

type heartbeat struct {
	peerState
	from string
}

func parseHeartbeat(b []byte) (heartbeat, error) {
	var h heartbeat
	rest, ok := bytes.CutPrefix(b, []byte(heartbeatMagic+" "))
	if !ok {
		return h, fmt.Errorf("not a K2 heartbeat: %.40q", b)
	}
	var since, lastPrimary int64 = -1, 0
	for len(rest) > 0 {
		var field []byte
		field, rest, _ = bytes.Cut(rest, []byte(" "))
		k, v, ok := bytes.Cut(field, []byte("="))
		if !ok {
			return h, fmt.Errorf("heartbeat: field %.40q is not key=value", field)
		}
		var err error
		switch string(k) {
		case "from":
			h.from = string(v)
		case "role":
			switch string(v) {
			case rolePrimary:
				h.role = rolePrimary
			case roleBackup:
				h.role = roleBackup
			case roleStarting:
				h.role = roleStarting
			default:
				return h, fmt.Errorf("heartbeat: role %.20q", v)
			}
		case "since":
			since, err = strconv.ParseInt(string(v), 10, 64)
		case "lastPrimary":
			lastPrimary, err = strconv.ParseInt(string(v), 10, 64)
		case "qualified":
			h.qualified = string(v) == "true"
		}
		if err != nil {
			return h, fmt.Errorf("heartbeat: %s %.20q is not a number", k, v)
		}
	}
	if h.from == "" || h.role == "" || since < 0 {
		return h, fmt.Errorf("heartbeat without from, role or since: %.80q", b)
	}
	h.since = time.UnixMilli(since)
	if lastPrimary > 0 {
		h.lastPrimary = time.UnixMilli(lastPrimary)
	}
	return h, nil
}

// write rewrites ServerState.ini when it changed.
func (m *mediaServer) write() error {
	if m.wroteOnce && m.st == m.written {
		return nil
	}
	if err := sim.Write(statePath(m.env.Host), m.st.render()); err != nil {
		return fmt.Errorf("write server state: %w", err)
	}
	m.written, m.wroteOnce = m.st, true
	return nil
}

func (m *mediaServer) event(format string, args ...any) {
	m.vlog.Printf("SIMULATED K2 Media Server %s: %s", m.cfg.Name, fmt.Sprintf(format, args...))
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
