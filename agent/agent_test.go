package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
)

// pinnedClient is a console the agent has paired with.
func pinnedClient(t *testing.T, a *Agent, addr string) *actions.Client {
	t.Helper()
	cert, fp := newConsole(t)
	if err := a.Pairing().Pin(PinnedConsole{Fingerprint: fp, Name: "test console", Permissions: []string{PermRead, PermAct}}); err != nil {
		t.Fatal(err)
	}
	c := actions.NewClient(addr, a.Identity().Fingerprint, cert)
	t.Cleanup(c.Close)
	return c
}

// runAgent runs an agent for cfg in this process until the test ends, and
// returns it with the address it bound.
func runAgent(t *testing.T, cfg *Config) (*Agent, string) {
	t.Helper()
	a, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent Run: %v", err)
		}
		a.Close()
	})
	var addr string
	eventually(t, "the agent to bind", func() bool {
		var err error
		addr, err = BoundAddress(cfg.StateDir)
		return err == nil
	})
	return a, addr
}

// waitLimit bounds every wait for a condition in these tests. Generous on
// purpose: what takes milliseconds on a quiet machine can take seconds on
// a loaded one under -race, and a limit costs nothing when the condition
// comes early.
const waitLimit = time.Minute

// eventually polls cond until it holds, or fails the test after waitLimit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(waitLimit); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitLimit, what)
		}
	}
}

// startAgent runs an agent in this process on a loopback port.
func startAgent(t *testing.T, role string) (*Agent, string, string) {
	t.Helper()
	dir := t.TempDir()
	roleFile := filepath.Join(dir, "role")
	if role != "" {
		if err := os.WriteFile(roleFile, []byte(role), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := ParseConfig(filepath.Join(dir, "agent.yaml"), []byte(
		"name: testsrv\nsystem: sys\nprofile: k2san\nlisten: 127.0.0.1:0\nstate_dir: state\nrole_file: role\nadvertise: false\nvendor_roles:\n  primary: the boss\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, addr := runAgent(t, cfg)
	return a, addr, roleFile
}

func TestWatchStreamsHeartbeatsAndRoleChanges(t *testing.T) {
	a, addr, roleFile := startAgent(t, "primary\n")
	c := pinnedClient(t, a, addr)

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var (
		mu    sync.Mutex
		lines []actions.WatchLine
	)
	flipped := false
	err := c.Watch(ctx, func(l actions.WatchLine) error {
		mu.Lock()
		lines = append(lines, l)
		n := len(lines)
		mu.Unlock()
		if n == 1 {
			if l.Type != actions.LineStatus || l.Status.Role != "primary" || l.Status.VendorRole != "the boss" {
				t.Errorf("first line = %+v, want the status with role primary", l)
			}
		}
		if n == 6 && !flipped {
			flipped = true
			if err := os.WriteFile(roleFile, []byte("standby"), 0o644); err != nil {
				t.Error(err)
			}
		}
		if l.Type == actions.LineStatus && l.Status.Role == "standby" {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("watch ended with %v before the role flip was seen (%d lines)", err, len(lines))
	}
	// The lines between the first status and the flip are heartbeats: the
	// stream speaks while nothing changes. How far apart they arrive is not
	// checked: on a loaded machine a gap says more about the scheduler than
	// about the agent, and the agent's ticker has no clock a test controls.
	heartbeats := 0
	for _, l := range lines {
		if l.Type == actions.LineHeartbeat {
			heartbeats++
		}
	}
	if heartbeats < 4 {
		t.Errorf("%d heartbeats before the flip, want at least 4", heartbeats)
	}
	last := lines[len(lines)-1]
	if last.Status.Seq <= lines[0].Status.Seq {
		t.Errorf("seq did not grow: %d then %d", lines[0].Status.Seq, last.Status.Seq)
	}
	if last.Status.VendorRole != "" {
		t.Errorf("vendor role %q for a role with no vendor word", last.Status.VendorRole)
	}
}

var errDone = errors.New("done")

func TestUnreadableRoleFileIsUnknownNotFatal(t *testing.T) {
	a, addr, roleFile := startAgent(t, "")
	c := pinnedClient(t, a, addr)
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Role != "unknown" || !strings.Contains(st.RoleError, roleFile) {
		t.Errorf("missing role file: role %q, error %q; want unknown naming %s", st.Role, st.RoleError, roleFile)
	}
	// A directory where the file should be, then garbage: still unknown, still serving.
	// Each says why in its own words, so an error that is neither the last
	// one nor the missing file's (the file is briefly gone in between) is
	// the sign that the agent has read the new file; only then is the role
	// checked.
	missing := st.RoleError
	for _, bad := range []string{"dir", "garbage"} {
		before := st.RoleError
		os.RemoveAll(roleFile)
		if bad == "dir" {
			os.Mkdir(roleFile, 0o755)
		} else {
			os.WriteFile(roleFile, []byte("leader of the pack"), 0o644)
		}
		eventually(t, bad+" to be read", func() bool {
			st, err = c.Status(context.Background())
			if err != nil {
				t.Fatalf("%s: agent stopped answering: %v", bad, err)
			}
			return st.RoleError != before && st.RoleError != missing
		})
		if st.Role != "unknown" || st.RoleError == "" {
			t.Errorf("%s: role %q, error %q", bad, st.Role, st.RoleError)
		}
	}
	os.RemoveAll(roleFile)
	os.WriteFile(roleFile, []byte("standby\n"), 0o644)
	eventually(t, "the repaired role file to be read", func() bool {
		st, err = c.Status(context.Background())
		return err == nil && st.Role == "standby"
	})
	if st.Role != "standby" || st.RoleError != "" {
		t.Errorf("after repair: role %q, error %q", st.Role, st.RoleError)
	}
}

func TestClientRefusesAnotherKey(t *testing.T) {
	_, addr, _ := startAgent(t, "primary")
	cert, _ := newConsole(t)
	c := actions.NewClient(addr, strings.Repeat("ab", 32), cert)
	defer c.Close()
	_, err := c.Status(context.Background())
	if !errors.Is(err, actions.ErrIdentityChanged) {
		t.Errorf("status with a wrong pin: err = %v, want an identity error", err)
	}
}

func TestIdentityIsStableAndPrivate(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadIdentity(dir, "x")
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadIdentity(dir, "x")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || a.Fingerprint != b.Fingerprint {
		t.Errorf("identity changed between loads: %s/%s then %s/%s", a.ID, a.Fingerprint, b.ID, b.Fingerprint)
	}
	fi, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
}
