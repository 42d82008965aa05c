// Package simtest runs simulated systems for tests: real agent processes
// supervising real simulated service processes, reached only through the
// agent API over TLS on loopback, as a console reaches them.
package simtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/sim"
	"github.com/vigilops/vigil/sim/fleet"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds, once per test process, the program that runs the agent
// and the simulated services.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		// One binary per user, replaced atomically: test processes of
		// several packages build at once, and the go build cache makes an
		// unchanged rebuild quick.
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("vigil-simbin-%d", os.Getuid()))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			buildErr = err
			return
		}
		tmp, err := os.CreateTemp(dir, "simbin-*.tmp")
		if err != nil {
			buildErr = err
			return
		}
		tmp.Close()
		defer os.Remove(tmp.Name())
		out, err := exec.Command("go", "build", "-o", tmp.Name(), "github.com/vigilops/vigil/sim/simbin").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build simbin: %v\n%s", err, out)
			return
		}
		// Renaming over the binary is safe while other tests run it: they
		// keep the file they started.
		binPath = filepath.Join(dir, "simbin")
		buildErr = os.Rename(tmp.Name(), binPath)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Fleet is a running simulated fleet and a console identity every member
// trusts to read and act.
type Fleet struct {
	*fleet.Fleet
	t       testing.TB
	clients map[string]*actions.Client
	epoch   uint64
}

// Start runs the simulated systems of profiles at speed, and stops them
// when the test ends.
func Start(t testing.TB, speed float64, profiles ...string) *Fleet {
	t.Helper()
	exe := Binary(t)
	dir := t.TempDir()
	cert, fp, err := actions.LoadConsoleIdentity(filepath.Join(dir, "console"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), WaitLimit)
	defer cancel()
	f, err := fleet.Start(ctx, fleet.Options{StateDir: filepath.Join(dir, "fleet"), Systems: profiles, Speed: speed,
		Exe: exe, Trust: fp, Quiet: true, Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	sf := &Fleet{Fleet: f, t: t, clients: map[string]*actions.Client{}, epoch: uint64(time.Now().UnixMilli())}
	for _, m := range f.Members {
		sf.clients[m.Name] = actions.NewClient(m.Address, m.Fingerprint, cert)
	}
	t.Cleanup(func() {
		for _, c := range sf.clients {
			c.Close()
		}
		f.Stop()
		if t.Failed() {
			for _, m := range f.Members {
				dumpLogs(t, m.StateDir)
			}
		}
	})
	return sf
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// dumpLogs shows the tail of a member's agent and service logs.
func dumpLogs(t testing.TB, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		t.Logf("--- %s:\n%s", l, b)
	}
}

// Member is the named member; the test fails if there is none.
func (f *Fleet) Member(name string) *fleet.Member {
	f.t.Helper()
	for _, m := range f.Members {
		if m.Name == name {
			return m
		}
	}
	f.t.Fatalf("no fleet member %q", name)
	return nil
}

// Client is a client for the named member's agent.
func (f *Fleet) Client(name string) *actions.Client {
	f.t.Helper()
	c := f.clients[name]
	if c == nil {
		f.t.Fatalf("no fleet member %q", name)
	}
	return c
}

// WaitLimit bounds every wait of a simulation test: for a member to reach a
// state, for an answer. It is long because it is not a measure: what takes
// a few hundred milliseconds on a quiet machine can take many seconds on a
// loaded one under -race, and a test that passes only on a quiet machine
// is a broken test. How long a simulated system takes to do something is
// checked, where it is the point, in simulated time from its own facts.
const WaitLimit = 2 * time.Minute

// Status is the named member's status now.
func (f *Fleet) Status(name string) actions.Status {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitLimit)
	defer cancel()
	st, err := f.Client(name).Status(ctx)
	if err != nil {
		f.t.Fatalf("status of %s: %v", name, err)
	}
	return st
}

// Await polls the named member's status until ok holds, and fails the test
// with what was last seen if it does not within WaitLimit. It waits for a
// state, never for a time: a test that must say how soon something
// happened says it in simulated time, from the facts.
func (f *Fleet) Await(name, what string, ok func(actions.Status) bool) actions.Status {
	f.t.Helper()
	deadline := time.Now().Add(WaitLimit)
	for {
		st := f.Status(name)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: not within %v; %s is %s (%s, role error %q), services %v, facts %v, fact errors %v",
				what, WaitLimit, name, st.Role, st.VendorRole, st.RoleError, st.Services, st.Facts, st.FactErrors)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Do performs an action on the named member and returns its result; an
// error fails the test unless the action's own failure is wanted, in which
// case use Try.
func (f *Fleet) Do(name, action string, params map[string]string) actions.Result {
	f.t.Helper()
	res, err := f.Try(name, action, params, false)
	if err != nil {
		f.t.Fatalf("%s on %s %v: %v", action, name, params, err)
	}
	return res
}

// Try performs an action on the named member, or its dry run.
func (f *Fleet) Try(name, action string, params map[string]string, dryRun bool) (actions.Result, error) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitLimit)
	defer cancel()
	id, err := uuid.NewV7()
	if err != nil {
		f.t.Fatal(err)
	}
	return f.Client(name).Do(ctx, actions.Request{RequestID: id.String(), Epoch: f.epoch, Action: action,
		Params: params, DryRun: dryRun, Operator: "simtest"})
}

// Crash kills a simulated service of the named member with SIGKILL, as a
// crash would, and returns its process id.
func (f *Fleet) Crash(name, service string) int {
	f.t.Helper()
	b, err := os.ReadFile(sim.PIDFile(f.Member(name).StateDir, service))
	if err != nil {
		f.t.Fatalf("crash %s on %s: %v", service, name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		f.t.Fatalf("crash %s on %s: pid file: %v", service, name, err)
	}
	p, err := os.FindProcess(pid)
	if err == nil {
		err = p.Kill() // SIGKILL on Unix
	}
	if err != nil {
		f.t.Fatalf("crash %s on %s: kill %d: %v", service, name, pid, err)
	}
	return pid
}
