package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilops/vigil/model"
)

// netns runs `ip` with args and fails the test on error.
func netns(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestPartitionedServerIsUnreachableNotDown puts two agents of one system
// in network namespaces of their own, linked to each other and each to the
// console (addresses from 198.18.0.0/15, DESIGN.md). Cutting only the
// console's link to A leaves A unreachable, not down, because its peer B
// still sees it; freezing A then makes B lose it too, and A is down.
func TestPartitionedServerIsUnreachableNotDown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	tag := fmt.Sprintf("%d", os.Getpid()%100000)
	nsA, nsB := "vigil-a-"+tag, "vigil-b-"+tag
	ifc := func(s string) string { return "vg" + s + tag } // at most 15 characters
	netns(t, "netns", "add", nsA)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsA).Run() })
	netns(t, "netns", "add", nsB)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsB).Run() })
	link := func(a, aNS, aIP, b, bNS, bIP string) {
		netns(t, "link", "add", a, "type", "veth", "peer", "name", b)
		for _, end := range []struct{ ifc, ns, ip string }{{a, aNS, aIP}, {b, bNS, bIP}} {
			pre := []string{}
			if end.ns != "" {
				netns(t, "link", "set", end.ifc, "netns", end.ns)
				pre = []string{"-n", end.ns}
			}
			netns(t, append(pre, "addr", "add", end.ip, "dev", end.ifc)...)
			netns(t, append(pre, "link", "set", end.ifc, "up")...)
		}
	}
	link(ifc("ar"), "", "198.18.0.1/30", ifc("aa"), nsA, "198.18.0.2/30")   // console - A
	link(ifc("br"), "", "198.18.0.5/30", ifc("bb"), nsB, "198.18.0.6/30")   // console - B
	link(ifc("ab"), nsA, "198.18.0.9/30", ifc("ba"), nsB, "198.18.0.10/30") // A - B
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", ifc("ar")).Run()
		exec.Command("ip", "link", "del", ifc("br")).Run()
	})

	data := t.TempDir()
	c, updates, view := testConsole(t, data)
	start := func(name, ns, peer, peerAddr, consoleAddr string) (*exec.Cmd, string) {
		dir := filepath.Join(t.TempDir(), name)
		os.MkdirAll(dir, 0o700)
		os.WriteFile(filepath.Join(dir, "role"), []byte("standby"), 0o644)
		cfg := filepath.Join(dir, "agent.yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf("name: %s\nsystem: parted\nprofile: k2san\nlisten: 0.0.0.0:7443\nstate_dir: state\nadvertise: false\nrole_file: role\npeers:\n  - name: %s\n    address: %s\n",
			name, peer, peerAddr)), 0o644)
		_, cmd := startAgentProcess(t, c, cfg, []string{"ip", "netns", "exec", ns}, consoleAddr)
		v, err := c.store.FindServer(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		return cmd, v.ID
	}
	cmdA, idA := start("A", nsA, "B", "198.18.0.10:7443", "198.18.0.2:7443")
	_, idB := start("B", nsB, "A", "198.18.0.9:7443", "198.18.0.6:7443")
	waitFor(t, updates, 10*time.Second, "both agents up, each seeing the other", func() bool {
		a, aok := c.mon.Status(idA)
		b, bok := c.mon.Status(idB)
		return view(idA).Health == model.HealthUp && view(idB).Health == model.HealthUp && aok && bok &&
			a.Peers["B"].State == "up" && b.Peers["A"].State == "up"
	})

	// Cut the console's link to A only.
	cut := time.Now()
	netns(t, "link", "set", ifc("ar"), "down")
	waitFor(t, updates, 10*time.Second, "A unreachable with its peer's word", func() bool {
		v := view(idA)
		return v.Health == model.HealthUnreachable && strings.Contains(v.Detail, "B still sees it")
	})
	t.Logf("A unreachable, with B's word, %v after the cut", time.Since(cut).Round(time.Millisecond))
	// It stays so: never down while B sees it.
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if h := view(idA).Health; h != model.HealthUnreachable {
			t.Fatalf("partitioned A became %s (%s)", h, view(idA).Detail)
		}
	}

	// Freeze A: B loses it too, and A is down.
	cmdA.Process.Signal(syscall.SIGSTOP)
	frozen := time.Now()
	waitFor(t, updates, 10*time.Second, "A down once its peer lost it too", func() bool {
		v := view(idA)
		return v.Health == model.HealthDown && strings.Contains(v.Detail, "peers lost it too")
	})
	t.Logf("A down %v after it froze", time.Since(frozen).Round(time.Millisecond))
	// One event each: unreachable, then down.
	var got string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		evs, err := c.store.Events(context.Background(), model.EventFilter{Server: "A"})
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for i := len(evs) - 1; i >= 0; i-- {
			kinds = append(kinds, evs[i].Kind)
		}
		if got = strings.Join(kinds, ","); got == "unreachable,down" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A's events: %s, want unreachable,down", got)
		}
	}
}
