package wavestore

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilops/vigil/sim"
)

// tick is how often the service wakes: to record, send a heartbeat when
// one is due, watch its peers and write its status. Wall time.
const tick = 100 * time.Millisecond

// server is one simulated Wavestore server. Its state is owned by run's
// loop; the UDP reader, the copy-back listener and copy-backs report to
// the loop through channels and touch nothing else.
type server struct {
	env   *sim.Env
	clock *sim.Clock
	p     paths
	cfg   *config
	log   *sim.VendorLog
	conn  *net.UDPConn
	ln    net.Listener
	peers []*peer // the other servers of the failover list, in its order

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	inbox  chan datagram
	copyc  chan copyEvent
	connMu sync.Mutex
	conns  map[net.Conn]bool // copy-back receptions, closed at shutdown

	mode            string    // in effect: Physical, Standby or None
	started         time.Time // simulated
	hosts           int       // the logical server hosted now; 0 for none
	hostsFor        string    // a standby: the physical server it stands in for
	rec             *recorder
	secondaries     []string
	failed          bool // status 99 FAILED
	failCause       string
	restartRequired bool // set with FAILED, cleared only by a restart
	faults          map[string]string

	// awake is when this process last resumed after a stall (simulated
	// time): the peers' silence while it did not run proves nothing, so
	// the standby counts it from here.
	awake         time.Time
	lastTickAt    time.Time         // wall clock of the last tick
	hostHeard     map[int]time.Time // when a peer last said it hosts a logical server
	hostHeardBy   map[int]string
	recUntil      map[int]time.Time // the latest recorded second heard of, per logical server
	contendHeard  map[int]time.Time // when a logical server's physical server last contended for it
	released      map[int]time.Time // a standby: when it handed a logical server back
	releasedUntil map[int]time.Time
	lastOwn       map[int]time.Time // from last-recorded: what this server recorded before it stopped
	lastBeat      time.Time
	waitingSince  time.Time
	shownUntil    time.Time // the recorded-until the status shows
	shownPeers    string
	pollCount     int

	missed           string
	lastTakeover     string
	lastNotification string
	issues           int
	lastIssue        string
	check            []string
	checkSeen        map[string]bool
	self             string // the last "Failover: this server is ..." line

	pending      map[int]bool // a standby: logical servers whose footage awaits copy-back
	copying      bool
	copyRetryAt  time.Time // wall
	copyState    string
	copyProgress int
	copyDetail   string

	dirty     bool
	lastWrite time.Time // wall
}

// peer is another server of the failover list as last heard.
type peer struct {
	name      string
	logical   int // 0: a standby
	ep        endpoint
	wired     bool
	heard     time.Time // simulated
	everHeard bool
	beat      message
}

type datagram struct {
	m    message
	from *net.UDPAddr
}

// copyEvent is what a copy-back goroutine tells the loop.
type copyEvent struct {
	send    bool // this server sends (a standby); false: it receives
	l       int
	peer    string
	state   string // begin, progress, done, failed
	done    int64
	total   int64
	count   int
	err     error
	removed int
}

// runServer is `vigil sim wavestore`: the Wavestore recording server.
func runServer(ctx context.Context, env *sim.Env) error {
	if err := env.Flags("wavestore", func(*flag.FlagSet) {}); err != nil {
		return err
	}
	p := paths{root: env.Host()}
	vlog, err := sim.OpenVendorLog(p.systemLog(), env.Clock)
	if err != nil {
		return fmt.Errorf("open system log: %w", err)
	}
	defer vlog.Close()
	ctx, cancel := context.WithCancel(ctx)
	s := &server{env: env, clock: env.Clock, p: p, log: vlog, ctx: ctx, cancel: cancel,
		inbox: make(chan datagram, 64), copyc: make(chan copyEvent, 64), conns: map[net.Conn]bool{},
		faults: map[string]string{}, hostHeard: map[int]time.Time{}, hostHeardBy: map[int]string{},
		recUntil: map[int]time.Time{}, contendHeard: map[int]time.Time{}, released: map[int]time.Time{},
		releasedUntil: map[int]time.Time{}, lastOwn: map[int]time.Time{}, pending: map[int]bool{},
		checkSeen: map[string]bool{}, copyState: "idle", missed: "0"}
	defer s.shutdown()
	if err := s.setup(); err != nil {
		s.logf("ERROR", "Wavestore cannot start: %v", err)
		return err
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case d := <-s.inbox:
			s.handle(d)
		case ev := <-s.copyc:
			s.onCopy(ev)
		case <-t.C:
			s.tick()
		}
		s.writeStatus(false)
	}
}

func (s *server) logf(level, format string, args ...any) {
	s.log.Printf("%-7s wavestore (simulated): %s", level, fmt.Sprintf(format, args...))
}

// issue logs a warning and counts it, for Final Checks step 3.
func (s *server) issue(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.issues++
	s.lastIssue = s.clock.Now().UTC().Format(time.RFC3339) + " " + msg
	s.logf("WARNING", "%s", msg)
	s.dirty = true
}

// setup reads the configuration, opens the sockets and writes what the
// agent reads, as every start must.
func (s *server) setup() error {
	cfg, err := loadConfig(s.p)
	if err != nil {
		return err
	}
	s.cfg = cfg
	s.mode = cfg.fo.mode
	if !cfg.fo.active() {
		s.mode = modeNone
	}
	w, err := loadWiring(s.p.wiringINI())
	if err != nil {
		return err
	}
	me, ok := w[cfg.name]
	if !ok {
		return fmt.Errorf("%s: no entry for this server (%s)", s.p.wiringINI(), cfg.name)
	}
	if s.conn, err = net.ListenUDP("udp4", me.udp); err != nil {
		return fmt.Errorf("listen for failover messages on %s: %w", me.udp, err)
	}
	if s.ln, err = net.Listen("tcp4", me.tcp); err != nil {
		return fmt.Errorf("listen for copy-back on %s: %w", me.tcp, err)
	}
	for _, m := range cfg.fo.servers {
		if m.name == cfg.name {
			continue
		}
		ep, ok := w[m.name]
		s.peers = append(s.peers, &peer{name: m.name, logical: m.logical, ep: ep, wired: ok})
	}
	s.started = s.clock.Now()
	s.waitingSince = s.started
	for _, p := range s.peers {
		if p.logical > 0 {
			s.hostHeard[p.logical] = s.started
		}
	}
	s.loadLastRecorded()
	s.wg.Add(2)
	go s.readUDP(s.conn)
	go s.accept(s.ln, cfg.fo.logical, slices.Clone(cfg.disks))

	s.logf("INFO", "Wavestore 6 server %s starting (a Vigil simulation, not the vendor's product): licence %s for %d channels, %d cameras, disk letters %s, tracks %s",
		cfg.name, cfg.licence, cfg.channels, cfg.cameras, strings.Join(cfg.disks, ","), formatTracks(cfg.tracks))
	if cfg.ntp != "" {
		s.logf("INFO", "Time: synchronising with NTP server %s", cfg.ntp)
	}
	for _, p := range s.peers {
		if !p.wired {
			s.issue("Failover: %s is in the list of physical servers but cannot be reached (no address)", p.name)
		}
	}
	if s.mode != modeNone {
		s.logf("INFO", "Failover: takeover after %d s without a heartbeat from a logical server (heartbeat every %d s)",
			int(cfg.fo.takeover/time.Second), int(cfg.fo.heartbeat/time.Second))
		if w := s.window(); w > cfg.fo.takeover {
			s.logf("INFO", "Failover: at this simulated speed heartbeats are %d s apart, so takeover waits %d s", int(s.hbEff()/time.Second), int(w/time.Second))
		}
	}
	s.noteSelf()
	s.recheck()
	if s.mode == modeNone && cfg.cameras > 0 && !strings.EqualFold(cfg.captureDevice, "Backup") {
		s.rec = newRecorder(s.p, cfg, 0, cfg.cameras, s.started)
		s.logf("INFO", "Capture: recording %d cameras (this server is not part of a failover group)", cfg.cameras)
	}
	if s.mode == modeStandby {
		for _, l := range footageLogicals(s.p, cfg.disks) {
			s.pending[l] = true
			s.logf("INFO", "Copy back: footage of logical server %d recorded here is still to be copied back", l)
		}
	}
	if err := s.loadFaults(); err != nil {
		return err
	}
	s.writeStatus(true)
	return nil
}

// shutdown stops recording and every goroutine; what was recorded is
// written first.
func (s *server) shutdown() {
	s.cancel()
	if s.rec != nil {
		s.stopRecording(s.clock.Now())
	}
	if s.conn != nil {
		s.conn.Close()
	}
	if s.ln != nil {
		s.ln.Close()
	}
	s.connMu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.connMu.Unlock()
	s.wg.Wait()
	if s.cfg != nil {
		s.logf("INFO", "Wavestore server %s stopped", s.cfg.name)
	}
}

// hbEff is the simulated time between heartbeats: as configured, unless
// the wall-clock floor makes it longer at high simulated speed.
func (s *server) hbEff() time.Duration {
	return max(s.cfg.fo.heartbeat, time.Duration(float64(wallBeat)*s.clock.Speed))
}

// wallBeat is the least wall-clock time between heartbeats. Three of them
// make a peer "not responding" and are the least takeover window, and a
// simulation shares its machine with other work: on a loaded machine a
// process may not run for most of a second, which the real product's
// dedicated hosts do not see. At simulated speeds where three heartbeats
// would last less than a second of the machine's time, heartbeats are
// spaced further apart (and the start-up log says how long takeover then
// waits), so a scheduling hiccup is not a failed server.
const wallBeat = 350 * time.Millisecond

// window is how long a logical server may go unheard before the standby
// takes it over: Failover.TakeoverSeconds, but never under three heartbeats.
func (s *server) window() time.Duration { return max(s.cfg.fo.takeover, 3*s.hbEff()) }

func (s *server) contending() bool {
	return s.mode == modePhysical && !s.failed && !s.restartRequired
}

func (s *server) peer(name string) *peer {
	for _, p := range s.peers {
		if p.name == name {
			return p
		}
	}
	return nil
}

func (s *server) homeOf(l int) *peer {
	for _, p := range s.peers {
		if p.logical == l {
			return p
		}
	}
	return nil
}

func (s *server) readUDP(c *net.UDPConn) {
	defer s.wg.Done()
	buf := make([]byte, maxDatagram+1)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.env.Log.Warn("failover socket", "err", err)
			}
			return
		}
		m, err := decodeMessage(buf[:n])
		if err != nil {
			s.env.Log.Debug("ignored datagram", "from", from, "err", err)
			continue
		}
		select {
		case s.inbox <- datagram{m: m, from: from}:
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *server) send(to *net.UDPAddr, m message) {
	if to == nil {
		return
	}
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	s.conn.WriteToUDP(b, to)
}

func (s *server) tick() {
	now := s.clock.Now()
	if wall := time.Now(); !s.lastTickAt.IsZero() && wall.Sub(s.lastTickAt) > stallAfter {
		// Descheduled (a loaded machine, a frozen process): the heartbeats
		// still queued are news from before now, not silence.
		s.awake = now
		s.logf("WARN", "Failover: this server did not run for %s; peers' silence counts from now", wall.Sub(s.lastTickAt).Round(time.Millisecond))
	}
	s.lastTickAt = time.Now()
	if s.rec != nil {
		if err := s.rec.advance(now); err != nil {
			s.issue("Capture: cannot write footage: %v", err)
		}
		if !s.rec.lastFlush.Equal(s.shownUntil) {
			// Footage reached the disks: what recorded_until shows.
			s.shownUntil = s.rec.lastFlush
			s.saveLastRecorded(s.rec.l, s.rec.lastFlush)
			s.dirty = true
		}
	}
	if s.mode != modeNone && now.Sub(s.lastBeat) >= s.cfg.fo.heartbeat {
		s.beat(now)
	}
	switch s.mode {
	case modeStandby:
		s.watch(now)
		s.copyBacks(now)
	case modePhysical:
		s.arbitrate(now)
	}
	if s.pollCount++; s.pollCount%3 == 0 {
		s.pollEvents()
	}
	if s.mode != modeNone && s.pollCount%10 == 0 && s.peersText(now) != s.shownPeers {
		s.dirty = true
	}
}

func (s *server) summary() *summary {
	return &summary{Disks: strings.Join(s.cfg.disks, ","), Tracks: formatTracks(s.cfg.tracks), Cameras: s.cfg.cameras,
		User: strings.EqualFold(s.cfg.failoverUser, "User"), Licence: s.cfg.licence, Channels: s.cfg.channels, Logical: s.cfg.secondary}
}

func (s *server) statusCode() int {
	if s.failed {
		return 99
	}
	return 0
}

// beat tells every peer how this server stands.
func (s *server) beat(now time.Time) {
	s.lastBeat = now
	m := message{Kind: msgBeat, From: s.cfg.name, Mode: s.mode, Home: s.cfg.fo.logical, Hosts: s.hosts,
		Status: s.statusCode(), Contend: s.contending(), Cfg: s.summary()}
	if s.rec != nil && s.hosts > 0 {
		m.RecUntil = s.rec.until.UnixMilli()
	}
	for _, p := range s.peers {
		if p.wired {
			s.send(p.ep.udp, m)
		}
	}
}

func (s *server) handle(d datagram) {
	m := d.m
	switch m.Kind {
	case msgDelete:
		s.onDelete(m, d.from)
		return
	case msgAck:
		return
	}
	if s.mode == modeNone {
		return
	}
	p := s.peer(m.From)
	if p == nil {
		s.env.Log.Debug("message from a server not in the failover list", "from", m.From)
		return
	}
	now := s.clock.Now()
	switch m.Kind {
	case msgBeat:
		s.onBeat(p, m, now)
	case msgRelease:
		s.onRelease(p, m, now)
	}
}

func (s *server) onBeat(p *peer, m message, now time.Time) {
	changed := !p.everHeard || p.beat.Cfg == nil || m.Cfg == nil || *p.beat.Cfg != *m.Cfg
	p.heard, p.everHeard, p.beat = now, true, m
	if m.Hosts > 0 {
		s.hostHeard[m.Hosts], s.hostHeardBy[m.Hosts] = now, m.From
		if t := time.UnixMilli(m.RecUntil); m.RecUntil > 0 && t.After(s.recUntil[m.Hosts]) {
			s.recUntil[m.Hosts] = t
		}
	}
	if m.Contend && m.Home > 0 {
		s.contendHeard[m.Home] = now
	}
	if changed {
		s.recheck()
	}
	if s.mode != modeStandby || p.logical == 0 || !m.Contend {
		return
	}
	switch {
	case s.hosts == p.logical:
		// The physical server is back and contends: it wins arbitration.
		s.release(p, now)
	case s.hosts != p.logical && m.Hosts == 0 && !s.released[p.logical].IsZero() && now.Sub(s.released[p.logical]) < s.window():
		// It has not heard the release yet: say it again.
		s.send(p.ep.udp, message{Kind: msgRelease, From: s.cfg.name, Logical: p.logical, RecUntil: s.releasedUntil[p.logical].UnixMilli()})
	}
}

// watch is the standby's monitor of the logical servers (How does failover
// work, step 1).
func (s *server) watch(now time.Time) {
	if s.failed || s.restartRequired {
		return
	}
	w := s.window()
	for _, p := range s.peers {
		l := p.logical
		if l == 0 {
			continue
		}
		hosted := now.Sub(later(s.hostHeard[l], s.awake)) < w
		var reason string
		switch {
		case p.everHeard && p.beat.Status == 99 && p.beat.Hosts != l && now.Sub(p.heard) < w && (s.hostHeardBy[l] == p.name || !hosted):
			reason = p.name + " reports 99 FAILED"
		case !hosted && now.Sub(later(s.contendHeard[l], s.awake)) >= w:
			reason = fmt.Sprintf("%s (logical server %d) not heard for %d s", p.name, l, secs(now.Sub(s.hostHeard[l])))
		default:
			continue
		}
		if s.hosts != 0 {
			if s.hosts != l {
				s.issueOnce("Failover: %s is down but this standby already hosts logical server %d: logical server %d is not recorded", p.name, s.hosts, l)
			}
			continue
		}
		if p.everHeard && p.beat.Cfg != nil && !p.beat.Cfg.User {
			s.issueOnce("Failover: cannot take over logical server %d: user failoverserver is missing on %s", l, p.name)
			continue
		}
		s.takeOver(p, reason, now)
		return
	}
}

func secs(d time.Duration) int { return int(math.Round(d.Seconds())) }

// later is the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// stallAfter is how long the loop may go without a tick (it ticks many
// times a second) before the process counts as having stalled.
const stallAfter = 500 * time.Millisecond

func (s *server) issueOnce(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !s.checkSeen[msg] {
		s.checkSeen[msg] = true
		s.issue("%s", msg)
	}
}

// takeOver makes the standby host p's logical server (How does failover
// work, steps 1-3).
func (s *server) takeOver(p *peer, reason string, now time.Time) {
	l := p.logical
	last := s.recUntil[l]
	if last.IsZero() {
		last = s.hostHeard[l]
	}
	cameras := s.cfg.cameras
	if p.beat.Cfg != nil && p.beat.Cfg.Cameras < cameras {
		cameras = p.beat.Cfg.Cameras
	}
	missed := max(0, now.Sub(last))
	s.logf("WARNING", "Failover: %s: this standby takes over logical server %d", reason, l)
	addr := ""
	if p.beat.Cfg != nil {
		addr = p.beat.Cfg.Logical
		if p.beat.Cfg.Cameras > cameras {
			s.issue("Failover: only %d of the %d cameras of %s fail over: the standby is configured for %d", cameras, p.beat.Cfg.Cameras, p.name, cameras)
		}
	}
	s.lastTakeover = fmt.Sprintf("%s logical server %d taken over from %s (%s); %d s of recording missed",
		now.UTC().Format(time.RFC3339), l, p.name, reason, secs(missed))
	s.notify("%s failed (%s): logical server %d is now recorded on %s", p.name, reason, l, s.cfg.name)
	s.startHosting(l, p.name, cameras, addr, missed, now)
}

func (s *server) notify(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.lastNotification = s.clock.Now().UTC().Format(time.RFC3339) + " " + msg
	s.logf("INFO", "Email: notification of the fault sent to the administrator: %s", msg)
}

func (s *server) startHosting(l int, forPeer string, cameras int, addr string, missed time.Duration, now time.Time) {
	s.hosts, s.hostsFor = l, forPeer
	s.rec = newRecorder(s.p, s.cfg, l, cameras, now)
	s.missed = strconv.Itoa(secs(missed))
	if addr != "" {
		s.secondaries = []string{addr}
		s.logf("INFO", "Network: secondary interface %s (logical server %d) up", addr, l)
	}
	s.logf("INFO", "Capture: recording logical server %d (%d cameras); %d s of recording missed", l, cameras, secs(missed))
	s.noteSelf()
	s.beat(now)
	s.writeStatus(true)
}

// stopRecording closes the footage and returns the last second recorded.
func (s *server) stopRecording(now time.Time) time.Time {
	r := s.rec
	s.rec = nil
	if err := r.stop(now); err != nil {
		s.issue("Capture: cannot write footage: %v", err)
	}
	s.saveLastRecorded(r.l, r.until)
	if r.l > 0 {
		s.logf("INFO", "Capture: stopped recording logical server %d", r.l)
	} else {
		s.logf("INFO", "Capture: stopped")
	}
	for _, a := range s.secondaries {
		s.logf("INFO", "Network: secondary interface %s down", a)
	}
	s.secondaries = nil
	return r.until
}

// release hands a logical server back to its physical server, which is
// back and wins arbitration, and queues the footage for copy-back.
func (s *server) release(p *peer, now time.Time) {
	l := s.hosts
	until := s.stopRecording(now)
	s.hosts, s.hostsFor = 0, ""
	s.released[l], s.releasedUntil[l] = now, until
	s.hostHeard[l] = now
	s.pending[l] = true
	s.send(p.ep.udp, message{Kind: msgRelease, From: s.cfg.name, Logical: l, RecUntil: until.UnixMilli()})
	s.logf("INFO", "Failover: %s is back and wins arbitration: logical server %d handed back", p.name, l)
	s.noteSelf()
	s.beat(now)
	s.writeStatus(true)
}

func (s *server) onRelease(p *peer, m message, now time.Time) {
	if !s.contending() || s.hosts != 0 || m.Logical != s.cfg.fo.logical {
		return
	}
	s.logf("INFO", "Failover: %s handed back logical server %d", p.name, m.Logical)
	s.hostOwn(now, time.UnixMilli(m.RecUntil), p.name)
}

// hostOwn makes a physical server record its own logical server again,
// handed back by from (empty when nobody held it).
func (s *server) hostOwn(now, released time.Time, from string) {
	l := s.cfg.fo.logical
	last := s.recUntil[l]
	for _, t := range []time.Time{released, s.lastOwn[l]} {
		if t.After(last) {
			last = t
		}
	}
	var missed time.Duration
	if !last.IsZero() {
		missed = max(0, now.Sub(last))
	}
	how := "hosted after arbitration, nobody else held it"
	if from != "" {
		how = "taken back from " + from
	}
	s.lastTakeover = fmt.Sprintf("%s logical server %d %s; %d s of recording missed", now.UTC().Format(time.RFC3339), l, how, secs(missed))
	s.startHosting(l, "", s.cfg.cameras, s.cfg.secondary, missed, now)
}

// arbitrate is a physical server's claim on its logical server: it takes
// it when nobody else hosts it, or when the standby hands it back.
func (s *server) arbitrate(now time.Time) {
	if s.hosts != 0 || !s.contending() {
		return
	}
	l := s.cfg.fo.logical
	if now.Sub(s.hostHeard[l]) < 3*s.hbEff() && !s.hostHeard[l].IsZero() && s.hostHeardBy[l] != s.cfg.name {
		return // someone hosts it; it hands it back when it hears this server contend
	}
	if now.Sub(s.waitingSince) < 3*s.hbEff() {
		return
	}
	s.logf("INFO", "Failover: no other server hosts logical server %d; this server wins arbitration", l)
	s.hostOwn(now, time.Time{}, "")
}

// noteSelf writes "Failover: this server is ..." to the system log when it
// changes (Final Checks step 2 reads it).
func (s *server) noteSelf() {
	d := s.describe()
	if d != s.self {
		s.self = d
		s.logf("INFO", "Failover: this server is %s", d)
		s.dirty = true
	}
}

// describe says what the server is, in Wavestore's words.
func (s *server) describe() string {
	switch {
	case s.failed:
		return "99 FAILED"
	case s.restartRequired:
		return "stopped after FAILED; restart it"
	case s.mode == modeNone:
		return "not part of a failover group"
	case s.mode == modeStandby && s.hosts > 0:
		return fmt.Sprintf("a PRIMARY STANDBY server hosting logical server %d for %s", s.hosts, s.hostsFor)
	case s.mode == modeStandby:
		return "a PRIMARY STANDBY server"
	case s.hosts > 0:
		return fmt.Sprintf("a PHYSICAL SERVER hosting logical server %d", s.hosts)
	}
	return fmt.Sprintf("a PHYSICAL SERVER waiting to host logical server %d", s.cfg.fo.logical)
}

// state is the role word the agent's role probe maps.
func (s *server) state() string {
	switch {
	case s.failed || s.restartRequired:
		return "failed"
	case s.mode == modeNone:
		return "standalone"
	case s.hosts > 0:
		return "hosting"
	case s.mode == modeStandby:
		return "standby"
	}
	return "waiting"
}

// fail is the failover action (script 99): status 99 FAILED, capture
// stopped, secondary interfaces dropped, no arbitration until a restart.
func (s *server) fail(cause, detail string) {
	if s.failed {
		return
	}
	now := s.clock.Now()
	s.failed, s.restartRequired, s.failCause = true, true, cause
	if s.rec != nil {
		s.stopRecording(now)
	}
	s.hosts, s.hostsFor = 0, ""
	s.logf("ERROR", "Status: 99 FAILED (%s%s): capture devices stopped, secondary network interfaces dropped; this server will not attempt to win arbitration until it is restarted",
		cause, map[bool]string{true: ", " + detail, false: ""}[detail != ""])
	s.issues++
	s.lastIssue = now.UTC().Format(time.RFC3339) + " status 99 FAILED (" + cause + ")"
	s.notify("%s set to 99 FAILED by an event rule (%s)", s.cfg.name, cause)
	s.noteSelf()
	if s.mode != modeNone {
		s.beat(now)
	}
	s.writeStatus(true)
}

// writeStatus writes status.ini when something changed: at once when urgent,
// otherwise at most every 250 ms.
func (s *server) writeStatus(urgent bool) {
	if !urgent && (!s.dirty || time.Since(s.lastWrite) < 250*time.Millisecond) {
		return
	}
	s.dirty, s.lastWrite = false, time.Now()
	if err := sim.Write(s.p.statusINI(), s.statusText()); err != nil {
		s.env.Log.Error("cannot write status", "file", s.p.statusINI(), "err", err)
	}
}

func (s *server) statusText() string {
	now := s.clock.Now()
	v := func(x string) string {
		x = strings.Join(strings.Fields(x), " ")
		if x == "" {
			return "none"
		}
		return x
	}
	hosted := "none"
	if s.hosts > 0 {
		hosted = strconv.Itoa(s.hosts)
	}
	recording, until := "no", ""
	if s.rec != nil {
		if s.rec.l > 0 {
			recording = fmt.Sprintf("logical server %d, %d cameras", s.rec.l, s.rec.cameras)
		} else {
			recording = fmt.Sprintf("%d cameras, no failover group", s.rec.cameras)
		}
		until = s.rec.lastFlush.UTC().Format(time.RFC3339)
	} else if t, ok := s.lastOwnAny(); ok {
		until = t.UTC().Format(time.RFC3339)
	}
	code := "0 OK"
	if s.failed {
		code = "99 FAILED"
	}
	restart := "no"
	if s.restartRequired {
		restart = "yes"
	}
	check := "OK"
	if len(s.check) > 0 {
		check = strings.Join(s.check, "; ")
	}
	var rules []string
	for _, r := range s.cfg.rules {
		if r.failover() && !slices.Contains(rules, r.cause) {
			rules = append(rules, r.cause)
		}
	}
	takeover := "none"
	if s.mode != modeNone {
		takeover = strconv.Itoa(secs(s.cfg.fo.takeover))
	}
	s.shownPeers = s.peersText(now)
	var b strings.Builder
	b.WriteString("; Wavestore server status, written by the simulated Wavestore service (a Vigil simulation).\n")
	fmt.Fprintf(&b, "[Failover]\nState = %s\nStatus = %s\nHostedLogicalServer = %s\nTakeoverSeconds = %s\nArbitration = %s\nPeers = %s\nCheck = %s\nRules = %s\nMissedSeconds = %s\nLastTakeover = %s\nLastNotification = %s\n",
		s.state(), v(s.describe()), hosted, takeover, v(s.arbitration()), v(s.shownPeers), v(check), v(strings.Join(rules, ", ")),
		s.missed, v(s.lastTakeover), v(s.lastNotification))
	fmt.Fprintf(&b, "[Capture]\nRecording = %s\nRecordedUntil = %s\nSecondaryInterfaces = %s\n", recording, v(until), v(strings.Join(s.secondaries, ", ")))
	fmt.Fprintf(&b, "[Server]\nStatusCode = %s\nRestartRequired = %s\nLogIssues = %d\nLastIssue = %s\n", code, restart, s.issues, v(s.lastIssue))
	fmt.Fprintf(&b, "[CopyBack]\nState = %s\nProgress = %d\nDetail = %s\n", s.copyState, s.copyProgress, v(s.copyDetail))
	return b.String()
}

func (s *server) arbitration() string {
	switch {
	case s.mode == modeNone:
		return "not part of a failover group"
	case s.failed:
		return "not contending: 99 FAILED"
	case s.restartRequired:
		return "not contending until restarted"
	case s.mode == modeStandby && s.hosts > 0:
		return fmt.Sprintf("hosting logical server %d until %s contends for it", s.hosts, s.hostsFor)
	case s.mode == modeStandby:
		return "standing by"
	case s.hosts > 0:
		return fmt.Sprintf("won: hosting logical server %d", s.hosts)
	}
	return fmt.Sprintf("contending for logical server %d", s.cfg.fo.logical)
}

func (s *server) peersText(now time.Time) string {
	if s.mode == modeNone {
		return ""
	}
	parts := make([]string, 0, len(s.peers))
	for _, p := range s.peers {
		var st string
		m := p.beat
		switch {
		case !p.everHeard:
			st = "not heard"
		case m.Mode == modeNone:
			st = "not in a failover group"
		case now.Sub(p.heard) > 3*s.hbEff():
			st = "not responding since " + p.heard.UTC().Format(time.RFC3339)
		case m.Status == 99:
			st = "99 FAILED"
		case m.Mode == modeStandby && m.Hosts > 0:
			st = fmt.Sprintf("PRIMARY STANDBY hosting logical server %d", m.Hosts)
		case m.Mode == modeStandby:
			st = "PRIMARY STANDBY"
		case m.Hosts > 0:
			st = fmt.Sprintf("hosting logical server %d", m.Hosts)
		case m.Contend:
			st = fmt.Sprintf("contending for logical server %d", m.Home)
		default:
			st = "not contending (restart required)"
		}
		parts = append(parts, p.name+": "+st)
	}
	return strings.Join(parts, "; ")
}

// recheck compares this server's configuration with the document's
// requirements and, on a standby, with the servers it protects. New issues
// go to the system log (Final Checks step 3).
func (s *server) recheck() {
	c := s.cfg
	var out []string
	if s.mode != modeNone {
		if !strings.EqualFold(c.licence, "Enterprise") {
			out = append(out, fmt.Sprintf("licence is %s; failover requires Enterprise licencing on all servers", c.licence))
		}
		switch {
		case c.failoverUser == "":
			out = append(out, "user failoverserver is missing")
		case !strings.EqualFold(c.failoverUser, "User"):
			out = append(out, fmt.Sprintf("user failoverserver has level %s; it should be user level", c.failoverUser))
		}
		if c.ntp == "" {
			out = append(out, "no NTP server set")
		}
	}
	switch s.mode {
	case modePhysical:
		if c.channels < c.cameras {
			out = append(out, fmt.Sprintf("licensed for %d channels but %d cameras are configured", c.channels, c.cameras))
		}
		if c.secondary == "" {
			out = append(out, "no logical network address (Add Secondary) on this physical server")
		}
	case modeStandby:
		if c.eventRec {
			out = append(out, "EVENT recording is set on the standby; nothing may record on the standby")
		}
		for _, p := range s.peers {
			if p.logical == 0 || !p.everHeard || p.beat.Cfg == nil {
				continue
			}
			o := p.beat.Cfg
			if o.Disks != strings.Join(c.disks, ",") {
				out = append(out, fmt.Sprintf("%s has disk letters %s; this standby has %s", p.name, o.Disks, strings.Join(c.disks, ",")))
			}
			if o.Tracks != formatTracks(c.tracks) {
				out = append(out, fmt.Sprintf("%s records tracks %s; this standby records %s", p.name, o.Tracks, formatTracks(c.tracks)))
			}
			if o.Cameras > c.cameras {
				out = append(out, fmt.Sprintf("%s has %d cameras; this standby is configured for %d, so cameras %d to %d cannot fail over", p.name, o.Cameras, c.cameras, c.cameras+1, o.Cameras))
			}
			if o.Cameras > c.channels {
				out = append(out, fmt.Sprintf("this standby is licensed for %d channels; %s has %d", c.channels, p.name, o.Cameras))
			}
			if !o.User {
				out = append(out, fmt.Sprintf("user failoverserver is missing on %s", p.name))
			}
			if !strings.EqualFold(o.Licence, "Enterprise") {
				out = append(out, fmt.Sprintf("%s has licence %s; failover requires Enterprise", p.name, o.Licence))
			}
		}
	}
	sort.Strings(out)
	for _, msg := range out {
		if !s.checkSeen[msg] {
			s.checkSeen[msg] = true
			s.issue("Failover check: %s", msg)
		}
	}
	if !slices.Equal(out, s.check) {
		s.check = out
		s.dirty = true
		if len(out) == 0 && s.mode == modeStandby {
			s.logf("INFO", "Failover check: this standby matches the servers it protects")
		}
	}
}

// onDelete applies failover-delete: the tool has rewritten failover.ini,
// and the running service leaves the failover group at once.
func (s *server) onDelete(m message, from *net.UDPAddr) {
	reply := func(detail string) {
		s.send(from, message{Kind: msgAck, ID: m.ID, Detail: detail})
	}
	if from == nil || !from.IP.IsLoopback() {
		return
	}
	fo, err := loadFailover(s.p.failoverINI(), s.cfg.name)
	if err != nil {
		reply("the running service cannot read the failover settings: " + err.Error())
		return
	}
	if fo.active() {
		reply("failover.ini still holds a failover configuration; the running service keeps it")
		return
	}
	if s.mode == modeNone {
		reply("the running service was already outside any failover group")
		return
	}
	now := s.clock.Now()
	detail := "the running service left the failover group"
	if s.mode == modeStandby && s.rec != nil {
		l := s.hosts
		s.stopRecording(now)
		detail += fmt.Sprintf("; it no longer records logical server %d, whose footage stays on its disks", l)
	}
	if s.mode == modePhysical {
		detail += "; it keeps recording its own cameras"
	}
	s.hosts, s.hostsFor = 0, ""
	s.mode = modeNone
	s.pending = map[int]bool{}
	s.beat(now) // the last one: peers show it left the group
	s.cfg.fo = fo
	s.logf("WARNING", "Failover: failover-delete: the failover configuration was removed from this server")
	s.noteSelf()
	s.recheck()
	s.writeStatus(true)
	reply(detail)
}
