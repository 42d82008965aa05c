package app

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilops/vigil/internal/netlab"
	"github.com/vigilops/vigil/model"
)

// partitionHold is how long a partitioned primary is watched for a false
// alarm: twice the no-primary grace. It is an observation window, not a
// wait for something to happen: every event the console raises in it is
// checked.
const partitionHold = 30 * time.Second

// TestPartitionedServerIsUnreachableNotDown runs the console, and two
// agents of one system, each on a host of its own in a lab (netlab: a
// network namespace per host, a router between them, no default route
// anywhere). Cutting only the console's link to A, the primary, leaves A
// unreachable, not down, because its peer B still sees it: for as long as
// that lasts the console raises nothing critical, suggests no failover
// (which would make a second primary) and calls no key changed, and says
// why it cannot tell. Freezing A then makes B lose it too, and A is down.
func TestPartitionedServerIsUnreachableNotDown(t *testing.T) {
	t.Parallel()
	ls, inside := startLabSystem(t, "parted")
	if !inside {
		return
	}
	lab, c, updates, view, events := ls.lab, ls.c, ls.updates, ls.view, ls.events
	hc, ha := lab.Host("console"), lab.Host("A")
	pidA, idA := ls.pidA, ls.idA

	// Cut the console's link to A only.
	cut := time.Now()
	lab.Cut(hc, ha)
	waitFor(t, updates, 20*time.Second, "A unreachable with its peer's word", func() bool {
		v := view(idA)
		return v.Health == model.HealthUnreachable && strings.Contains(v.Detail, "B still sees it")
	})
	t.Logf("A unreachable, with B's word, %v after the cut", time.Since(cut).Round(time.Millisecond))
	// It stays so: nothing says otherwise while B sees it.
	for hold := time.After(partitionHold); hold != nil; {
		select {
		case e := <-events:
			t.Logf("while cut off: %s %s %s %s: %s", e.Severity, e.Server, e.Kind, e.To, e.Detail)
			switch {
			case e.Severity == model.SeverityCritical, e.Kind == model.EventIdentityChanged,
				e.Server == "A" && e.Kind != model.EventUnreachable, strings.Contains(e.Detail, "next:"):
				t.Fatalf("while only the console's path to A was cut: %s %s %s: %s", e.Severity, e.Kind, e.To, e.Detail)
			}
		case <-hold:
			hold = nil
		}
	}
	if v := view(idA); v.Health != model.HealthUnreachable || !slices.Equal(v.SeenBy, []string{"B"}) {
		t.Fatalf("partitioned A became %s (%s), seen by %v", v.Health, v.Detail, v.SeenBy)
	}
	v := verdictOf(c, "parted")
	if v.Verdict != model.VerdictUnknown || v.Severity != model.SeverityWarning || v.Next != "" ||
		v.Summary != "A unreachable from this console, but its peers still see it: do not fail over" {
		t.Fatalf("while the console alone is cut off from the primary, the verdict is %s (%s), next %q: %s (%s)",
			v.Verdict, v.Severity, v.Next, v.Summary, reasonTexts(v))
	}
	t.Logf("the verdict after %v cut off: %s: %s (%s)", partitionHold, v.Verdict, v.Summary, reasonTexts(v))

	// Freeze A: B loses it too, and A is down.
	syscall.Kill(pidA, syscall.SIGSTOP)
	frozen := time.Now()
	waitFor(t, updates, 20*time.Second, "A down once its peer lost it too", func() bool {
		v := view(idA)
		return v.Health == model.HealthDown && strings.Contains(v.Detail, "peers lost it too")
	})
	t.Logf("A down %v after it froze", time.Since(frozen).Round(time.Millisecond))
	// The down event is stored before subscribers hear of it; once it
	// is heard, the store holds one event each: unreachable, then down.
	for deadline := time.After(20 * time.Second); ; {
		select {
		case e := <-events:
			if e.Server != "A" || e.Kind != model.EventDown {
				continue
			}
		case <-deadline:
			t.Fatal("no down event for A within 20 s of its view going down")
		}
		break
	}
	evs, err := c.store.Events(context.Background(), model.EventFilter{Server: "A"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for i := len(evs) - 1; i >= 0; i-- {
		kinds = append(kinds, evs[i].Kind)
	}
	if got := strings.Join(kinds, ","); got != "unreachable,down" {
		t.Fatalf("A's events: %s, want unreachable,down", got)
	}
}

// labSystem is a console and two agents of one system, A primary and B
// standby, each on a host of its own in a lab, the test running on the
// console's host: see startLabSystem.
type labSystem struct {
	lab        *netlab.Lab
	c          *core
	updates    <-chan model.ServerView
	view       func(id string) model.ServerView
	events     <-chan model.Event
	pidA, pidB int
	idA, idB   string
}

// startLabSystem builds the lab (netlab.Enter: the caller returns at once
// when inside is false), starts the console and both agents, and waits
// until both are up and each sees the other.
func startLabSystem(t *testing.T, system string) (ls *labSystem, inside bool) {
	t.Helper()
	lab, inside := netlab.Enter(t, "console", "console", "A", "B")
	if !inside {
		return nil, false
	}
	ha, hb := lab.Host("A"), lab.Host("B")
	ls = &labSystem{lab: lab}
	ls.c, ls.updates, ls.view = testConsole(t, t.TempDir())
	events, cancel := ls.c.mon.SubscribeEvents()
	t.Cleanup(cancel)
	ls.events = events
	ls.pidA, ls.idA = startLabAgent(t, ls.c, system, ha, hb, model.RolePrimary)
	ls.pidB, ls.idB = startLabAgent(t, ls.c, system, hb, ha, model.RoleStandby)
	waitFor(t, ls.updates, 20*time.Second, "both agents up, each seeing the other", func() bool {
		a, aok := ls.c.mon.Status(ls.idA)
		b, bok := ls.c.mon.Status(ls.idB)
		return ls.view(ls.idA).Health == model.HealthUp && ls.view(ls.idB).Health == model.HealthUp && aok && bok &&
			a.Peers["B"].State == "up" && b.Peers["A"].State == "up"
	})
	return ls, true
}

// startLabAgent starts an agent of a K2-profile system on host h of a lab,
// with peer as its peer and role in its role file, pairs the console c
// with it, and returns its process id and agent id.
func startLabAgent(t *testing.T, c *core, system string, h, peer *netlab.Host, role model.Role) (pid int, id string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), h.Name)
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "role"), []byte(role), 0o644)
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("name: %s\nsystem: %s\nprofile: k2san\nlisten: 0.0.0.0:7443\nstate_dir: state\nadvertise: false\nrole_file: role\npeers:\n  - name: %s\n    address: %s\n",
		h.Name, system, peer.Name, net.JoinHostPort(peer.Addr.String(), "7443"))), 0o644)
	_, cmd := startAgentProcess(t, c, cfg, []string{"ip", "netns", "exec", h.NS}, net.JoinHostPort(h.Addr.String(), "7443"))
	v, err := c.store.FindServer(context.Background(), h.Name)
	if err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid, v.ID
}
