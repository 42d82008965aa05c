package infocast

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/vigilops/vigil/lateness"
	"github.com/vigilops/vigil/sim"
)

// memberState is where a server stands in the redundancy group.
type memberState uint8

const (
	joining   memberState = iota // started, listening for a Primary
	secondary                    // a Primary exists; backup mode, transmits nothing
	primary                      // Primary/coordinator; transmits the Infocast data
	leaving                      // stopping cleanly; the others need not wait for the timeout
)

var stateNames = [...]string{"joining", "secondary", "primary", "leaving"}

func (s memberState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// message is what a server multicasts to the group several times per
// timeout: who it is, where it stands, and since when it has been the
// Primary (simulated Unix milliseconds), so that of two Primaries that meet
// the older one stays.
type message struct {
	state memberState
	from  netip.AddrPort
	since int64
}

const magic = "INFOCAST-SIM/1"

// maxMessage bounds a datagram: a message is a few dozen bytes.
const maxMessage = 256

func (m message) encode() []byte {
	return fmt.Appendf(nil, "%s %s %s %d\n", magic, m.state, m.from, m.since)
}

// decodeMessage reads a datagram from the group. Anything else on the group
// (another product, another version) is an error and is ignored.
func decodeMessage(b []byte) (message, error) {
	var m message
	if len(b) > maxMessage {
		return m, fmt.Errorf("datagram of %d bytes; a message is at most %d", len(b), maxMessage)
	}
	f := strings.Fields(string(b))
	if len(f) != 4 || f[0] != magic {
		return m, fmt.Errorf("not an %s message", magic)
	}
	i := slices.Index(stateNames[:], f[1])
	if i < 0 {
		return m, fmt.Errorf("state %q is not one of %s", f[1], strings.Join(stateNames[:], ", "))
	}
	m.state = memberState(i)
	from, err := netip.ParseAddrPort(f[2])
	if err != nil || !from.Addr().Is4() || from.Port() == 0 {
		return m, fmt.Errorf("sender %q is not an IPv4 address and port", f[2])
	}
	m.from = from
	if m.since, err = strconv.ParseInt(f[3], 10, 64); err != nil || m.since < 0 {
		return m, fmt.Errorf("since %q is not a time in milliseconds", f[3])
	}
	return m, nil
}

// Where the simulated server keeps its files under its root, as the
// product does on a Linux host.
var (
	configPath = []string{"opt", "infocast", "conf", "infocast.xml"}
	logPath    = []string{"opt", "infocast", "log", "infocast.log"}
)

// maxLogSize is when the server starts a new infocast.log, keeping one
// older file.
const maxLogSize = 4 << 20

// peer is another server of the group, as last heard.
type peer struct {
	state memberState
	since int64
	heard time.Time
}

// server is one simulated Infocast Server in its redundancy group.
type server struct {
	env    *sim.Env
	cfg    *Config
	self   netip.AddrPort
	send   *ipv4.PacketConn
	group  *net.UDPAddr
	detect time.Duration  // wall time without a member before it is suspected
	late   lateness.Meter // how late the loop has run lately: see expire
	beat   time.Duration  // wall time between heartbeats

	state     memberState
	since     int64          // simulated ms when this server became the Primary
	coord     netip.AddrPort // the Primary this server follows, or itself
	peers     map[netip.AddrPort]*peer
	joinUntil time.Time
	view      string
	sendErr   string

	log     *sim.VendorLog
	logFile string
	logSize int64
}

func runServer(ctx context.Context, env *sim.Env) error {
	var bindAddr string
	var bindPort int
	if err := env.Flags("infocastserverd", func(fs *flag.FlagSet) {
		fs.StringVar(&bindAddr, "bind-addr", "", "the IPv4 `ADDRESS` whose interface carries the failover multicast (default: the first interface that carries it)")
		fs.IntVar(&bindPort, "bind-port", 0, "the UDP `PORT` of this server's group address (default: any)")
	}); err != nil {
		return err
	}
	var want netip.Addr
	if bindAddr != "" {
		a, err := netip.ParseAddr(bindAddr)
		if err != nil || !a.Is4() {
			return fmt.Errorf("vigil sim infocastserverd: --bind-addr %q is not an IPv4 address", bindAddr)
		}
		want = a
	}
	if bindPort < 0 || bindPort > 65535 {
		return fmt.Errorf("vigil sim infocastserverd: --bind-port %d is not a port from 0 to 65535", bindPort)
	}

	s := &server{env: env, peers: map[netip.AddrPort]*peer{}, logFile: env.Host(logPath...)}
	if err := s.openLog(); err != nil {
		return err
	}
	defer func() { s.log.Close() }()
	s.printf("Infocast Server starting (SIMULATED by Vigil: a stand-in for infocastserverd, not the vendor's product)")
	cfgFile := env.Host(configPath...)
	cfg, err := LoadConfig(cfgFile)
	if err != nil {
		s.printf("ERROR %v", err)
		return err
	}
	s.cfg = cfg
	b, err := chooseBinding(want, cfg.Group)
	if err != nil {
		s.printf("ERROR %v", err)
		return err
	}
	s.printf("Binding to interface %s (%s)", b.ifi.Name, b.addr)
	ttl := cfg.TTL
	if b.ifi.Flags&net.FlagLoopback == 0 && ttl > 1 {
		// A simulation keeps its multicast on this link whatever the file says.
		s.printf("simulated: failover TTL %d lowered to 1 to keep the multicast on this link", ttl)
		ttl = 1
	}
	recv, err := listenGroup(b.ifi, cfg.Group)
	if err != nil {
		s.printf("ERROR %v", err)
		return err
	}
	s.send, err = dialGroup(b.ifi, b.addr, uint16(bindPort), ttl)
	if err != nil {
		recv.Close()
		s.printf("ERROR %v", err)
		return err
	}
	defer s.send.Close()
	s.self = s.send.LocalAddr().(*net.UDPAddr).AddrPort()
	s.group = net.UDPAddrFromAddrPort(cfg.Group)
	s.detect = env.Clock.Wall(cfg.Timeout, 300*time.Millisecond)
	s.beat = max(s.detect/5, 50*time.Millisecond)
	env.Log.Info("failover group joined", "group", cfg.Group, "interface", b.ifi.Name, "ttl", ttl,
		"address", s.self, "timeout", cfg.Timeout, "detect_wall", s.detect, "heartbeat_wall", s.beat)
	s.printf("failover channel %s ttl %d timeout %d ms", cfg.Group, cfg.TTL, cfg.Timeout.Milliseconds())
	s.gmsBanner()

	msgs := make(chan message, 16)
	recvErr := make(chan error, 1)
	rctx, stopRecv := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.receive(rctx, recv, msgs, recvErr)
	}()
	defer func() {
		stopRecv()
		recv.Close()
		wg.Wait()
	}()
	return s.loop(ctx, msgs, recvErr)
}

// receive delivers the group's messages from others until ctx ends.
func (s *server) receive(ctx context.Context, c *net.UDPConn, out chan<- message, errc chan<- error) {
	buf := make([]byte, maxMessage+1)
	for {
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("receive on failover group %s: %w", s.cfg.Group, err)
			}
			return
		}
		m, err := decodeMessage(buf[:n])
		if err != nil {
			s.env.Log.Debug("ignoring a datagram on the failover group", "from", src, "err", err)
			continue
		}
		if m.from == s.self {
			continue
		}
		if src.Addr().Unmap() != m.from.Addr() || src.Port() != m.from.Port() {
			s.env.Log.Debug("ignoring a message whose sender is not its source", "from", m.from, "source", src)
			continue
		}
		select {
		case out <- m:
		case <-ctx.Done():
			return
		}
	}
}

func (s *server) loop(ctx context.Context, msgs <-chan message, recvErr <-chan error) error {
	s.state, s.coord = joining, netip.AddrPort{}
	s.joinUntil = time.Now().Add(s.detect)
	s.logView()
	s.heartbeat()
	beat := time.NewTicker(s.beat)
	defer beat.Stop()
	var lastBeat time.Time
	process := time.NewTicker(s.env.Clock.Wall(time.Second, 250*time.Millisecond))
	defer process.Stop()
	for {
		select {
		case <-ctx.Done():
			s.leave()
			return nil
		case err := <-recvErr:
			s.printf("ERROR %v", err)
			return err
		case m := <-msgs:
			now := time.Now()
			s.hear(m, now)
			s.evaluate(now)
		case <-beat.C:
			now := time.Now()
			if !lastBeat.IsZero() {
				s.late.Ran(now, now.Sub(lastBeat)-s.beat)
			}
			if !lastBeat.IsZero() && now.Sub(lastBeat) > 3*s.beat {
				// This process did not run for a while (a loaded machine, a
				// frozen process): the peers' messages may still be queued,
				// and their silence then proves nothing. It counts from now.
				for _, p := range s.peers {
					p.heard = now
				}
				s.env.Log.Warn("infocast loop stalled; peers' silence counts from now", "stall", now.Sub(lastBeat))
			}
			lastBeat = now
			s.expire(now)
			s.evaluate(now)
			s.heartbeat()
		case <-process.C:
			if s.state == primary {
				for _, im := range s.cfg.Bootcast.Images {
					s.printf("- (%s): Processing %q", s.cfg.Bootcast.Channel, im)
				}
			}
		}
	}
}

// hear records a message from another server.
func (s *server) hear(m message, now time.Time) {
	if m.state == leaving {
		if _, ok := s.peers[m.from]; ok {
			delete(s.peers, m.from)
			s.printf("Member left: %s", m.from)
			s.logView()
		}
		return
	}
	p, ok := s.peers[m.from]
	if !ok {
		p = &peer{}
		s.peers[m.from] = p
	}
	p.state, p.since, p.heard = m.state, m.since, now
	if !ok {
		s.logView()
	}
}

// expire drops the servers not heard from within the timeout, grown by
// how late this process has run lately: a simulation shares its machine
// with other work, and on a loaded machine the peer's process is as
// likely as this one not to have run for a while, which the real
// product's dedicated hosts do not see. On a quiet machine the timeout is
// the configured one.
func (s *server) expire(now time.Time) {
	changed := false
	detect := s.detect + s.late.Recent(now)
	for a, p := range s.peers {
		if now.Sub(p.heard) > detect {
			delete(s.peers, a)
			s.printf("Suspected member: %s (not heard for %d ms)", a, s.cfg.Timeout.Milliseconds())
			changed = true
		}
	}
	if changed {
		s.logView()
	}
}

// evaluate decides this server's role from what it has heard, as the
// document describes: a server that finds a Primary is Secondary; with no
// Primary, a Secondary takes over; of two Primaries that meet (a healed
// partition, or a fixed address), the older one stays. A Primary that
// restarts within the timeout says it is joining, and its Secondary takes
// over at once.
func (s *server) evaluate(now time.Time) {
	var best netip.AddrPort
	var bestSince int64
	found := false
	for a, p := range s.peers {
		if p.state != primary {
			continue
		}
		if !found || p.since < bestSince || p.since == bestSince && a.Compare(best) < 0 {
			best, bestSince, found = a, p.since, true
		}
	}
	if s.state == primary {
		if found && (bestSince < s.since || bestSince == s.since && best.Compare(s.self) < 0) {
			s.env.Log.Info("another Primary has been Primary longer; stepping down", "primary", best)
			s.become(secondary, best)
		}
		return
	}
	if found {
		if s.state != secondary || s.coord != best {
			s.become(secondary, best)
		}
		return
	}
	if s.state == joining && now.Before(s.joinUntil) {
		return
	}
	// No Primary. A server that was already Secondary takes over before one
	// that is only joining (the one that comes back stays Secondary), and
	// among equals the lowest address does.
	for a, p := range s.peers {
		lower := a.Compare(s.self) < 0
		if p.state == secondary && (s.state == joining || lower) || p.state == joining && s.state == joining && lower {
			return
		}
	}
	s.become(primary, s.self)
}

func (s *server) become(st memberState, coord netip.AddrPort) {
	prev := s.state
	s.state, s.coord = st, coord
	if st == primary {
		s.since = s.env.Clock.Now().UnixMilli()
	}
	s.printf("Primary/coordinator: %s", coord)
	s.env.Log.Info("role", "from", prev, "to", st, "coordinator", coord)
	s.heartbeat()
}

func (s *server) heartbeat() {
	since := int64(0)
	if s.state == primary {
		since = s.since
	}
	s.sendMsg(message{state: s.state, from: s.self, since: since})
}

func (s *server) sendMsg(m message) {
	_, err := s.send.WriteTo(m.encode(), nil, s.group)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg != s.sendErr {
		if err != nil {
			s.env.Log.Warn("cannot send to the failover group", "group", s.group, "err", err)
		} else {
			s.env.Log.Info("sending to the failover group again", "group", s.group)
		}
		s.sendErr = msg
	}
}

// leave tells the group this server is stopping, so a Secondary takes over
// at once rather than after the timeout.
func (s *server) leave() {
	for range 2 {
		s.sendMsg(message{state: leaving, from: s.self})
	}
	s.printf("Infocast Server stopped")
}

func (s *server) gmsBanner() {
	s.printf("-------------------------------------------------------")
	s.printf("GMS: address is: %s", s.self)
	s.printf("-------------------------------------------------------")
}

func (s *server) logView() {
	members := []string{s.self.String()}
	for a := range s.peers {
		members = append(members, a.String())
	}
	slices.Sort(members)
	n := len(members)
	word := "members"
	if n == 1 {
		word = "member"
	}
	v := fmt.Sprintf("View: [%s] (%d %s)", strings.Join(members, ", "), n, word)
	if v != s.view {
		s.view = v
		s.printf("%s", v)
	}
}

// openLog opens infocast.log. On a start it begins a new file, keeping the
// previous one as infocast.log.1, so that nothing an earlier run wrote is
// read as this run's state.
func (s *server) openLog() error {
	if err := os.Rename(s.logFile, s.logFile+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		// Windows refuses to rename a file someone has open; append then.
		s.env.Log.Warn("cannot start a new infocast log; appending to the old one", "err", err)
	}
	l, err := sim.OpenVendorLog(s.logFile, s.env.Clock)
	if err != nil {
		return fmt.Errorf("open infocast log: %w", err)
	}
	s.log, s.logSize = l, 0
	return nil
}

// printf writes a line of infocast.log, and starts a new file, restating
// where this server stands, when it has grown large.
func (s *server) printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	s.log.Printf("%s", line)
	s.logSize += int64(len(line)) + 25
	if s.logSize >= maxLogSize && s.self.IsValid() {
		s.rotate()
	}
}

// rotate starts a new infocast.log and restates in it what a reader of the
// log needs: this server's address, the view and the Primary/coordinator.
func (s *server) rotate() {
	s.logSize = 0
	if err := os.Rename(s.logFile, s.logFile+".1"); err != nil {
		s.env.Log.Error("cannot start a new infocast log; writing on", "err", err)
		return
	}
	l, err := sim.OpenVendorLog(s.logFile, s.env.Clock)
	if err != nil {
		s.env.Log.Error("cannot start a new infocast log; writing on in the old one", "err", err)
		return
	}
	s.log.Close()
	s.log = l
	s.gmsBanner()
	s.view = ""
	s.logView()
	if s.state == primary || s.state == secondary {
		s.printf("Primary/coordinator: %s", s.coord)
	}
}
