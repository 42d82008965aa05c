// Package fleet starts simulated systems: one agent process per simulated
// server, each supervising its simulated vendor services. `vigil fleet`,
// `vigil demo` and tests use it.
package fleet

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/agent"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/sim"
	"github.com/vigilops/vigil/sim/systems"
)

// File is the fleet description written into the state directory.
const File = "fleet.json"

// Member is one simulated server of a fleet, as fleet.json lists it.
type Member struct {
	Name        string `json:"name"`
	System      string `json:"system"`
	Profile     string `json:"profile"`
	PID         int    `json:"pid"`
	Address     string `json:"address"`
	StateDir    string `json:"state_dir"`
	AgentID     string `json:"agent_id"`
	Fingerprint string `json:"fingerprint"`

	role   model.Role
	site   string
	config string // the agent configuration after the common header; empty for a role-file member
	// vendorRoles overrides the profile's words for the roles.
	vendorRoles map[model.Role]string
	quiet       bool // advertise: false
	cmd         *exec.Cmd
	done        chan struct{} // closed when the process has exited
}

// Fleet is a set of agent processes started by this process.
type Fleet struct {
	Dir     string
	Members []*Member
	log     *slog.Logger
	// cert is the fleet's own identity, pinned read-only in every member so
	// the fleet can tell when each is up; it is not a console's.
	cert tls.Certificate
	fp   string
	// clock is the fleet's simulated clock, saved when it stops.
	clock *sim.Clock
}

// LeanBinary is the name of the companion binary `make build` puts beside
// vigil: the agent and the simulated services, without the GUI.
const LeanBinary = "vigil-sim"

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// clockFile keeps the simulated time a fleet stopped at.
const clockFile = "clock.json"

func readClock(dir string) (time.Time, error) {
	b, err := os.ReadFile(filepath.Join(dir, clockFile))
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	var doc struct {
		SimulatedTime time.Time `json:"simulated_time"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return time.Time{}, fmt.Errorf("%s: %w (delete it to start the simulated clock afresh)", filepath.Join(dir, clockFile), err)
	}
	return doc.SimulatedTime, nil
}

func (f *Fleet) saveClock() error {
	b, _ := json.Marshal(struct {
		SimulatedTime time.Time `json:"simulated_time"`
		Speed         float64   `json:"speed"`
	}{f.clock.Now().UTC(), f.clock.Speed})
	return actions.WriteFileAtomic(filepath.Join(f.Dir, clockFile), append(b, '\n'), 0o644)
}

// fleetCodeLife is how long a --pair-code stays valid: a simulated fleet
// may wait hours for its console.
const fleetCodeLife = 24 * time.Hour

// Options says what Start starts.
type Options struct {
	StateDir string
	Systems  []string // profiles; empty means all
	PairCode string   // given to agents once pairing exists
	Speed    float64
	Log      *slog.Logger
	// Trust is the fingerprint of a console every member pins with read
	// and act permissions, for tests that act without pairing; empty for
	// none.
	Trust string
	// Quiet keeps the members from announcing themselves by mDNS: tests
	// that reach them by address must not disturb others that discover
	// theirs by name.
	Quiet bool
	// Exe is the program that runs `agent run` and `sim SERVICE`: the
	// vigil binary, or a test's. Empty means this process's own binary.
	Exe string
}

// Start starts one agent process per member and waits until each answers
// on its API, or ctx ends. On error every started member is stopped.
func Start(ctx context.Context, o Options) (*Fleet, error) {
	exe := o.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find own executable to start agents: %w", err)
		}
		// A lean companion binary (the agent and the simulations, without the
		// GUI) beside this one makes every member several MB smaller; this
		// binary can do the same work when it is not there.
		if lean := filepath.Join(filepath.Dir(exe), LeanBinary); isExecutable(lean) {
			exe = lean
		}
	}
	var err error
	// Members find their files from their own state directories: a
	// relative path would be taken from there a second time.
	if o.StateDir, err = filepath.Abs(o.StateDir); err != nil {
		return nil, fmt.Errorf("fleet state directory: %w", err)
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("fleet state directory %s: %w", o.StateDir, err)
	}
	f := &Fleet{Dir: o.StateDir, log: o.Log}
	if o.PairCode != "" {
		code, err := actions.NormalizePairCode(o.PairCode)
		if err != nil {
			return nil, fmt.Errorf("--pair-code: %w", err)
		}
		o.PairCode = code
	}
	if f.cert, f.fp, err = actions.LoadConsoleIdentity(filepath.Join(o.StateDir, ".fleet")); err != nil {
		return nil, err
	}
	clock := sim.NewClock(time.Now(), o.Speed)
	if saved, err := readClock(o.StateDir); err != nil {
		return nil, err
	} else if saved.After(clock.Origin) {
		// Started again on the same directory: simulated time goes on from
		// where it stopped, so nothing recorded lies in the future.
		clock.Origin = saved
	}
	f.clock = clock
	if err := f.saveClock(); err != nil {
		return nil, err
	}
	all := sim.Systems()
	for _, prof := range o.Systems {
		sys := all[prof]
		if sys == nil {
			f.Stop()
			return nil, fmt.Errorf("no simulated system %q; there are %s", prof, strings.Join(systems.Profiles(), ", "))
		}
		configs, err := layoutSystem(sys, o.StateDir, exe, clock)
		if err != nil {
			f.Stop()
			return nil, err
		}
		for _, m := range sys.Members {
			system := sys.Name
			if m.System != "" {
				system = m.System
			}
			mem := &Member{Name: m.Name, System: system, Profile: prof, role: m.Role, site: m.Site,
				StateDir: filepath.Join(o.StateDir, m.Name), config: configs[m.Name], vendorRoles: m.VendorRoles}
			mem.quiet = o.Quiet
			if err := f.prepare(mem, o.PairCode, o.Trust); err != nil {
				f.Stop()
				return nil, err
			}
			if err := f.start(exe, mem); err != nil {
				f.Stop()
				return nil, err
			}
			f.Members = append(f.Members, mem)
		}
	}
	if err := f.waitReady(ctx); err != nil {
		f.Stop()
		return nil, err
	}
	if err := f.writeFile(); err != nil {
		f.Stop()
		return nil, err
	}
	return f, nil
}

// layoutSystem lays out a simulated system's servers and returns each
// one's agent configuration body.
func layoutSystem(sys *sim.System, dir, exe string, clock *sim.Clock) (map[string]string, error) {
	if sys.Layout == nil {
		return nil, nil
	}
	l := &sim.Layout{Dirs: map[string]string{}, Exe: exe, Clock: clock}
	for _, m := range sys.Members {
		l.Dirs[m.Name] = filepath.Join(dir, m.Name)
	}
	configs, err := sys.Layout(l)
	if err != nil {
		return nil, fmt.Errorf("lay out simulated %s: %w", sys.Name, err)
	}
	for _, m := range sys.Members {
		if configs[m.Name] == "" {
			return nil, fmt.Errorf("lay out simulated %s: no agent configuration for %s", sys.Name, m.Name)
		}
	}
	return configs, nil
}

// prepare pins the fleet's own identity in the member, read-only, and gives
// it the pairing code consoles will use.
func (f *Fleet) prepare(m *Member, code, trust string) error {
	if err := os.MkdirAll(m.StateDir, 0o700); err != nil {
		return fmt.Errorf("state directory of %s: %w", m.Name, err)
	}
	p := agent.NewPairing(m.StateDir, nil)
	if err := p.Pin(agent.PinnedConsole{Fingerprint: f.fp, Name: "vigil fleet (readiness checks)",
		PairedAt: time.Now().UTC(), Permissions: []string{agent.PermRead}}); err != nil {
		return fmt.Errorf("prepare %s: %w", m.Name, err)
	}
	if trust != "" {
		if err := p.Pin(agent.PinnedConsole{Fingerprint: trust, Name: "trusted by the fleet's starter",
			PairedAt: time.Now().UTC(), Permissions: []string{agent.PermRead, agent.PermAct}}); err != nil {
			return fmt.Errorf("prepare %s: %w", m.Name, err)
		}
	}
	if code != "" {
		if _, err := p.SetCode(code, fleetCodeLife); err != nil {
			return fmt.Errorf("pairing code for %s: %w", m.Name, err)
		}
	}
	return nil
}

func (f *Fleet) start(exe string, m *Member) error {
	// A stale address from an earlier run must not be mistaken for this one's.
	os.Remove(filepath.Join(m.StateDir, agent.AddressFile))
	body := m.config
	if body == "" {
		// A system not simulated yet: its role is a file.
		roleFile := filepath.Join(m.StateDir, "role")
		if _, err := os.Stat(roleFile); errors.Is(err, os.ErrNotExist) {
			if err := os.WriteFile(roleFile, []byte(string(m.role)+"\n"), 0o644); err != nil {
				return fmt.Errorf("role file of %s: %w", m.Name, err)
			}
		}
		body = "role_file: role\n"
	}
	var vendor strings.Builder
	words := agent.VendorRoles(m.Profile)
	if m.vendorRoles != nil {
		words = m.vendorRoles
	}
	for _, r := range model.Roles {
		if w, ok := words[r]; ok {
			fmt.Fprintf(&vendor, "  %s: %q\n", r, w)
		}
	}
	site := m.site
	if site == "" {
		site = "simulated"
	}
	cfg := fmt.Sprintf("# Simulated server of a Vigil fleet: the vendor services it supervises are\n# simulations (vigil sim), not the vendor's products.\nname: %s\nsystem: %s\nprofile: %s\nsite: %q\nlisten: 127.0.0.1:0\nstate_dir: .\nadvertise: %t\npermissions: [read, act]\nvendor_roles:\n%s%s",
		m.Name, m.System, m.Profile, site, !m.quiet, vendor.String(), body)
	cfgPath := filepath.Join(m.StateDir, "agent.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("config of %s: %w", m.Name, err)
	}
	logFile, err := os.OpenFile(filepath.Join(m.StateDir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log of %s: %w", m.Name, err)
	}
	cmd := exec.Command(exe, "agent", "run", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start agent %s: %w", m.Name, err)
	}
	m.cmd, m.PID, m.done = cmd, cmd.Process.Pid, make(chan struct{})
	go func() {
		err := cmd.Wait()
		logFile.Close()
		close(m.done)
		if f.log != nil {
			f.log.Info("fleet member exited", "name", m.Name, "pid", m.PID, "status", fmt.Sprint(err))
		}
	}()
	return nil
}

// waitReady waits until every member has bound its address and answers
// /v1/status with the key in its state directory.
func (f *Fleet) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, m := range f.Members {
		for {
			err := f.probe(ctx, m)
			if err == nil {
				break
			}
			select {
			case <-m.done:
				return fmt.Errorf("agent %s exited before it was ready; see %s", m.Name, filepath.Join(m.StateDir, "agent.log"))
			case <-ctx.Done():
				return fmt.Errorf("agent %s not ready: %w (last error: %v)", m.Name, ctx.Err(), err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

func (f *Fleet) probe(ctx context.Context, m *Member) error {
	addr, err := agent.BoundAddress(m.StateDir)
	if err != nil {
		return err
	}
	id, err := agent.LoadIdentity(m.StateDir, m.Name)
	if err != nil {
		return err
	}
	c := actions.NewClient(addr, id.Fingerprint, f.cert)
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	m.Address, m.AgentID, m.Fingerprint = addr, st.AgentID, id.Fingerprint
	return nil
}

func (f *Fleet) writeFile() error {
	b, err := json.MarshalIndent(struct {
		Members []*Member `json:"members"`
	}{f.Members}, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(f.Dir, File)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// Stop asks every member to stop, waits for them, and kills any that do not
// stop within a few seconds.
func (f *Fleet) Stop() {
	if f.clock != nil {
		if err := f.saveClock(); err != nil && f.log != nil {
			f.log.Warn("simulated time not saved; a restart starts the clock afresh", "err", err)
		}
	}
	var wg sync.WaitGroup
	for _, m := range f.Members {
		if m.cmd == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			terminate(m.cmd.Process)
			select {
			case <-m.done:
			case <-time.After(5 * time.Second):
				m.cmd.Process.Kill()
				<-m.done
			}
		}()
	}
	wg.Wait()
}

// ReadFile reads DIR/fleet.json.
func ReadFile(dir string) ([]Member, error) {
	path := filepath.Join(dir, File)
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var doc struct {
		Members []Member `json:"members"`
	}
	if err := json.NewDecoder(io.LimitReader(fh, 1<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc.Members, nil
}
