// Package sim simulates the vendor systems Vigil must handle first, for
// `vigil demo`, `vigil fleet` and tests. These are simulations, clearly
// labelled as such: each simulated server is a real agent process that
// supervises simulated vendor services (`vigil sim SERVICE --state DIR`)
// through its process driver, reads their files with its probes and acts on
// them with its actions. The console sees them only through the agent API a
// real host offers; nothing here talks to the console.
//
// A simulated server keeps its state in files under its directory, laid
// out like the real product's (under host/), so that the same agent
// configuration, pointed at a real server's paths, would work there.
package sim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// Clock is simulated time. It reads Origin at the wall-clock time Epoch
// and runs Speed times faster than the wall clock from then on. Every
// process of one fleet shares Epoch, Origin and Speed, so their clocks
// agree; a fleet started again on the same directory starts its clock
// where it stopped, so simulated time never runs backwards.
type Clock struct {
	Epoch  time.Time
	Origin time.Time
	Speed  float64
}

// NewClock returns a clock reading epoch at epoch and running speed times
// faster than the wall clock.
func NewClock(epoch time.Time, speed float64) *Clock {
	if speed <= 0 {
		speed = 1
	}
	return &Clock{Epoch: epoch, Origin: epoch, Speed: speed}
}

// Now is the simulated time.
func (c *Clock) Now() time.Time {
	return c.origin().Add(time.Duration(float64(time.Since(c.Epoch)) * c.Speed))
}

func (c *Clock) origin() time.Time {
	if c.Origin.IsZero() {
		return c.Epoch
	}
	return c.Origin
}

// Wall is how long simulated duration d lasts on the wall clock, never less
// than floor: heartbeats and polls must not spin however fast the clock runs.
func (c *Clock) Wall(d, floor time.Duration) time.Duration {
	return max(time.Duration(float64(d)/c.Speed), floor)
}

// Sleep waits for simulated duration d (at least a millisecond of wall
// time), or until ctx ends.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(c.Wall(d, time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Env is what a simulated service runs with.
type Env struct {
	State string // the server's directory; vendor files live under State/host
	Clock *Clock
	Log   *slog.Logger // the service's own diagnostics, to stderr, which its agent keeps
	Args  []string     // what follows the common flags, for the service's own flags
}

// Host is the path of a vendor file under the simulated server's root.
func (e *Env) Host(parts ...string) string {
	return filepath.Join(append([]string{e.State, "host"}, parts...)...)
}

// Flags parses the service's own flags from Args.
func (e *Env) Flags(name string, define func(fs *flag.FlagSet)) error {
	fs := flag.NewFlagSet("vigil sim "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	define(fs)
	if err := fs.Parse(e.Args); err != nil {
		return fmt.Errorf("vigil sim %s: %w", name, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("vigil sim %s: unexpected argument %q", name, fs.Arg(0))
	}
	return nil
}

// Service is one simulated vendor program, run as `vigil sim NAME`.
type Service struct {
	Name    string
	Summary string
	// Run simulates the service until ctx ends (SIGTERM: a clean stop) or it
	// fails. It must write what the agent's probes read, and write it again
	// after every start: the agent believes only what a running service has
	// written since it started.
	Run func(ctx context.Context, env *Env) error
}

// Member is one server of a simulated system.
type Member struct {
	Name string
	Site string
	// Role is the role the document says it starts in, for the demo's
	// legend and tests; the agent reads the real one from the simulation.
	Role model.Role
	// System, when set, puts the member in a redundant pair of its own
	// within the vendor system (Redstor's StorageServer and MirrorServer
	// fail over apart from its AccountServers); empty means System.Name.
	System string
	// VendorRoles, when set, are the vendor's words for this member's
	// roles instead of the profile's.
	VendorRoles map[model.Role]string
}

// System is one simulated vendor system.
type System struct {
	Profile  string // the agent profile, e.g. k2san
	Name     string // the system name its agents announce, e.g. k2-san
	Doc      string // the vendor document it follows, in shared/vendor-docs
	Members  []Member
	Services []Service
	// Layout writes each member's vendor files the first time (when the
	// files are missing; a fleet restarted on the same directory keeps its
	// state) and rewires them every start (peer addresses, ports). It
	// returns each member's agent configuration after the common header
	// the fleet writes (name, system, profile, site, listen, state_dir,
	// permissions, advertise, vendor_roles): services, settings, queues,
	// commands, role_probe and facts.
	Layout func(l *Layout) (map[string]string, error)
}

// Layout is what a system's Layout gets.
type Layout struct {
	Dirs  map[string]string // member name -> its directory; vendor files under DIR/host
	Exe   string            // the vigil binary, which runs `vigil sim`
	Clock *Clock
}

// Host is the path of a vendor file under member's simulated root.
func (l *Layout) Host(member string, parts ...string) string {
	return filepath.Join(append([]string{l.Dirs[member], "host"}, parts...)...)
}

// Sim is the command line an agent's process driver runs for service on
// member, with the service's own flags after. Begin those with "--": the
// common flags (--state, --speed, --epoch) are parsed first, and "--" hands
// the rest to the service as Env.Args.
func (l *Layout) Sim(member, service string, args ...string) []string {
	return append([]string{l.Exe, "sim", service, "--state", l.Dirs[member],
		"--speed", strconv.FormatFloat(l.Clock.Speed, 'g', -1, 64),
		"--epoch", strconv.FormatInt(l.Clock.Epoch.UnixMilli(), 10),
		"--origin", strconv.FormatInt(l.Clock.origin().UnixMilli(), 10)}, args...)
}

// WriteOnce writes a file, creating its directory, unless it exists: the
// first start lays out a server, later starts keep what it became.
func WriteOnce(path, content string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return Write(path, content)
}

// Write writes a file atomically, creating its directory.
func Write(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return actions.WriteFileAtomic(path, []byte(content), 0o644)
}

// FreeUDPPort returns a port on loopback, free for UDP and TCP a moment
// ago, for a simulated service to listen on later.
func FreeUDPPort() (int, error) { return freePort() }

// FreeTCPPort returns a port on loopback, free for TCP and UDP a moment
// ago, for a simulated service to listen on later.
func FreeTCPPort() (int, error) { return freePort() }

var (
	portsMu sync.Mutex
	handed  = map[int]bool{} // ports this process handed out already
)

// freePort picks a port below the kernel's ephemeral range: a port taken
// from that range could be given by the kernel to any process binding
// port 0 (every agent does) before the simulated service binds it.
func freePort() (int, error) {
	low := ephemeralLow()
	from := max(1024, low-12000)
	portsMu.Lock()
	defer portsMu.Unlock()
	for tries := 0; tries < 200; tries++ {
		p := from + rand.IntN(low-from)
		if handed[p] {
			continue
		}
		t, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		t.Close()
		if err != nil {
			continue
		}
		u.Close()
		handed[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free port found between %d and %d on 127.0.0.1", from, low)
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// /proc/sys/net/ipv4/ip_local_port_range), 32768 where it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
				return n
			}
		}
	}
	return 32768
}

// VendorLog appends timestamped lines to a vendor log file, as the product
// would, so a log probe can follow it.
type VendorLog struct {
	mu    sync.Mutex
	f     *os.File
	clock *Clock
}

// OpenVendorLog opens (appending) or creates a vendor log.
func OpenVendorLog(path string, clock *Clock) (*VendorLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &VendorLog{f: f, clock: clock}, nil
}

// Printf writes one line, prefixed with the simulated time.
func (l *VendorLog) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	line := l.clock.Now().Format("2006-01-02 15:04:05,000") + " " + fmt.Sprintf(format, args...)
	l.f.WriteString(strings.TrimRight(line, "\n") + "\n")
}

// Close closes the log.
func (l *VendorLog) Close() error { return l.f.Close() }

// PIDFile is where `vigil sim SERVICE` writes its process id, so tests
// can crash a simulated service the way a real one crashes.
func PIDFile(state, service string) string {
	return filepath.Join(state, "run", service+".pid")
}

// followParent ends a simulated service when the agent that started it is
// gone, so that a killed agent never leaves simulations behind.
func followParent(ctx context.Context, cancel func(), log *slog.Logger) {
	parent := os.Getppid()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if os.Getppid() != parent {
				log.Info("the agent that started this simulated service is gone; stopping")
				cancel()
				return
			}
		}
	}
}

// registry of systems, filled by the systems package.
var (
	regMu    sync.Mutex
	systems  = map[string]*System{}
	services = map[string]*Service{}
)

// Register adds a system and its services. It panics on a duplicate name:
// that is a programming error found by any test.
func Register(s *System) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := systems[s.Profile]; dup {
		panic("sim: system " + s.Profile + " registered twice")
	}
	systems[s.Profile] = s
	for i := range s.Services {
		sv := &s.Services[i]
		if _, dup := services[sv.Name]; dup {
			panic("sim: service " + sv.Name + " registered twice")
		}
		services[sv.Name] = sv
	}
}

// Systems returns the registered systems by profile name.
func Systems() map[string]*System {
	regMu.Lock()
	defer regMu.Unlock()
	out := make(map[string]*System, len(systems))
	for k, v := range systems {
		out[k] = v
	}
	return out
}

// ServiceNames lists the registered services, sorted.
func ServiceNames() []string {
	regMu.Lock()
	defer regMu.Unlock()
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Main runs `vigil sim SERVICE --state DIR [--speed N] [--epoch MS] [flags]`
// until ctx ends. It returns the process exit status.
func Main(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "usage: vigil sim SERVICE --state DIR [--speed N] [--epoch MS] [service flags]\n"+
			"Runs one simulated vendor service, as a simulated server's agent does. Services:\n  %s\n",
			strings.Join(ServiceNames(), "\n  "))
		return 2
	}
	regMu.Lock()
	sv := services[args[0]]
	regMu.Unlock()
	if sv == nil {
		fmt.Fprintf(stderr, "vigil sim: no simulated service %q; there are: %s\n", args[0], strings.Join(ServiceNames(), ", "))
		return 2
	}
	fs := flag.NewFlagSet("vigil sim "+sv.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", "", "the simulated server's `DIR`")
	speed := fs.Float64("speed", 1, "simulated clock speed")
	epoch := fs.Int64("epoch", 0, "when the fleet's simulated clock started, in Unix `MS`")
	origin := fs.Int64("origin", 0, "the simulated time at --epoch, in Unix `MS` (default: --epoch)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *state == "" {
		fmt.Fprintf(stderr, "vigil sim %s: --state DIR is required\n", sv.Name)
		return 2
	}
	if *speed <= 0 {
		fmt.Fprintf(stderr, "vigil sim %s: --speed must be more than 0, got %g\n", sv.Name, *speed)
		return 2
	}
	start := time.Now()
	if *epoch > 0 {
		start = time.UnixMilli(*epoch)
	}
	clock := NewClock(start, *speed)
	if *origin > 0 {
		clock.Origin = time.UnixMilli(*origin)
	}
	env := &Env{State: *state, Clock: clock, Args: fs.Args(),
		Log: slog.New(slog.NewTextHandler(stderr, nil)).With("sim", sv.Name)}
	env.Log.Info("simulated service starting", "state", *state, "speed", *speed)
	pidFile := PIDFile(*state, sv.Name)
	if err := Write(pidFile, strconv.Itoa(os.Getpid())+"\n"); err != nil {
		env.Log.Error("cannot write pid file", "err", err)
		return 1
	}
	defer os.Remove(pidFile)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go followParent(ctx, cancel, env.Log)
	if err := sv.Run(ctx, env); err != nil && ctx.Err() == nil {
		env.Log.Error("simulated service failed", "err", err)
		return 1
	}
	env.Log.Info("simulated service stopped")
	return 0
}
