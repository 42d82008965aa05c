// Package netlab builds small networks of test hosts on one machine: each
// host is a network namespace of its own, joined to the others through a
// router namespace, and none has a default route. A link is cut by
// dropping its packets in the router (a blackhole rule), never by taking
// an interface down: with the interface down a packet would follow the
// machine's default route and leave it. Before a lab is used, New checks
// with `ip route get` that every test address is reached inside the lab
// and that nothing else is reachable at all.
//
// Tests that need a host of their own for the code under test (a console
// cut off from one server) run themselves again inside that host's
// namespace with Enter.
package netlab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// nsPrefix starts the name of every namespace a lab makes; the process id
// after it lets a later lab remove what a killed test left behind.
const nsPrefix = "vigil-lab-"

// Lab is a set of hosts and the router between them.
type Lab struct {
	Router string  // the router's namespace
	Hosts  []*Host // in the order New was given their names

	t testing.TB
}

// Host is one test host: a namespace with one interface, eth0, to the
// router.
type Host struct {
	Name    string     // as the test named it
	NS      string     // the network namespace
	Addr    netip.Addr // eth0's address, from 198.18.0.0/15 (RFC 2544)
	Gateway netip.Addr // the router's end of the link

	lab *Lab
}

var labs atomic.Int64 // per process, for unique namespace names

// New builds a lab with one host per name and removes it when the test
// ends. It skips the test where namespaces cannot be made (not root, no
// iproute2), and fails it if any address could reach outside the lab.
func New(t testing.TB, names ...string) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("netlab: needs root to make network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("netlab: needs iproute2's ip")
	}
	if len(names) == 0 || len(names) > 60 {
		t.Fatalf("netlab: %d hosts; a lab has 1 to 60", len(names))
	}
	removeStale(t)
	tag := fmt.Sprintf("%s%d-%d-", nsPrefix, os.Getpid(), labs.Add(1))
	l := &Lab{Router: tag + "router", t: t}
	t.Cleanup(l.remove)
	run(t, "netns", "add", l.Router)
	run(t, "-n", l.Router, "link", "set", "lo", "up")
	inNS(t, l.Router, "sh", "-c", "echo 1 >/proc/sys/net/ipv4/ip_forward")
	seen := map[string]bool{}
	for i, name := range names {
		if seen[name] || !validName.MatchString(name) {
			t.Fatalf("netlab: host name %q is repeated or not [A-Za-z0-9_-]{1,20}", name)
		}
		seen[name] = true
		// Host i+1 has 198.18.0.4(i+1)/30: the router .4n+1, the host .4n+2.
		n := 4 * (i + 1)
		h := &Host{Name: name, NS: tag + name, lab: l,
			Addr: netip.AddrFrom4([4]byte{198, 18, 0, byte(n + 2)}), Gateway: netip.AddrFrom4([4]byte{198, 18, 0, byte(n + 1)})}
		l.Hosts = append(l.Hosts, h)
		ifc := "h" + strconv.Itoa(i+1)
		run(t, "netns", "add", h.NS)
		run(t, "-n", h.NS, "link", "set", "lo", "up")
		// Both ends are made in their namespaces: no interface of the lab
		// ever exists in the machine's own, where another lab's could have
		// its name.
		run(t, "-n", h.NS, "link", "add", "eth0", "type", "veth", "peer", "name", ifc, "netns", l.Router)
		run(t, "-n", h.NS, "addr", "add", h.Addr.String()+"/30", "dev", "eth0")
		run(t, "-n", l.Router, "addr", "add", h.Gateway.String()+"/30", "dev", ifc)
		run(t, "-n", h.NS, "link", "set", "eth0", "up")
		run(t, "-n", l.Router, "link", "set", ifc, "up")
		run(t, "-n", h.NS, "route", "add", "198.18.0.0/15", "via", h.Gateway.String(), "dev", "eth0")
	}
	l.checkContained()
	return l
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,20}$`)

// Host returns the host called name; the test fails if there is none.
func (l *Lab) Host(name string) *Host {
	for _, h := range l.Hosts {
		if h.Name == name {
			return h
		}
	}
	l.t.Fatalf("netlab: no host %q", name)
	return nil
}

// outside is an address no lab reaches: TEST-NET-3 (RFC 5737). `ip route
// get` only looks the route up; nothing is sent.
const outside = "203.0.113.1"

// checkContained fails the test unless every host reaches every other one
// through its own link to the router, and reaches nothing outside the lab.
func (l *Lab) checkContained() {
	l.t.Helper()
	for _, ns := range append([]string{l.Router}, l.nsNames()...) {
		if out := output(l.t, "-n", ns, "route", "show", "default"); strings.TrimSpace(out) != "" {
			l.t.Fatalf("netlab: namespace %s has a default route: %s", ns, out)
		}
		if out, err := exec.Command("ip", "-n", ns, "route", "get", outside).CombinedOutput(); err == nil {
			l.t.Fatalf("netlab: namespace %s reaches %s, outside the lab: %s", ns, outside, out)
		}
	}
	for _, h := range l.Hosts {
		for _, o := range l.Hosts {
			if o == h {
				continue
			}
			out := output(l.t, "-n", h.NS, "route", "get", o.Addr.String())
			if want := "via " + h.Gateway.String() + " dev eth0"; !strings.Contains(out, want) {
				l.t.Fatalf("netlab: from %s, %s is not reached %s but: %s", h.Name, o.Addr, want, out)
			}
		}
	}
}

func (l *Lab) nsNames() []string {
	var out []string
	for _, h := range l.Hosts {
		out = append(out, h.NS)
	}
	return out
}

// Cut drops every packet between a and b in the router, both ways, as a
// failed switch port or a firewall would: neither learns of it but by
// silence. Each host's route stays as it was.
func (l *Lab) Cut(a, b *Host) {
	l.t.Helper()
	for _, r := range cutRules(a, b) {
		run(l.t, append([]string{"-n", l.Router, "rule", "add"}, r...)...)
	}
}

// Heal undoes Cut.
func (l *Lab) Heal(a, b *Host) {
	l.t.Helper()
	for _, r := range cutRules(a, b) {
		run(l.t, append([]string{"-n", l.Router, "rule", "del"}, r...)...)
	}
}

// cutRules are the router's policy rules that drop a's and b's packets to
// each other. A blackhole drops a forwarded packet without an ICMP error,
// so a cut looks like a pulled cable, not a refused connection.
func cutRules(a, b *Host) [][]string {
	return [][]string{
		{"from", a.Addr.String(), "to", b.Addr.String(), "blackhole"},
		{"from", b.Addr.String(), "to", a.Addr.String(), "blackhole"},
	}
}

// Lossy drops, in the router, each packet between a and b (both ways) at
// random with probability percent/100: a link that loses packets, which
// TCP hides as delay (a lost segment is sent again after a probe or a
// retransmission timeout) and a new connection feels most (a lost SYN
// waits a second). It uses iptables' statistic match, as this machine's
// kernel has no netem; the test is skipped where iptables is missing.
func (l *Lab) Lossy(a, b *Host, percent float64) {
	l.t.Helper()
	if _, err := exec.LookPath("iptables"); err != nil {
		l.t.Skip("netlab: needs iptables (make deps installs it) to make a lossy link")
	}
	p := strconv.FormatFloat(percent/100, 'f', -1, 64)
	for _, ends := range [][2]*Host{{a, b}, {b, a}} {
		argv := []string{"iptables", "-w", "-A", "FORWARD", "-s", ends[0].Addr.String(), "-d", ends[1].Addr.String(),
			"-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"}
		if out, err := exec.Command("ip", append([]string{"netns", "exec", l.Router}, argv...)...).CombinedOutput(); err != nil {
			l.t.Fatalf("netlab: in %s: %s: %v: %s", l.Router, strings.Join(argv, " "), err, out)
		}
	}
}

// Dropped is how many packets Lossy's rules have dropped so far.
func (l *Lab) Dropped() int {
	l.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", l.Router, "iptables", "-w", "-L", "FORWARD", "-n", "-v", "-x").Output()
	if err != nil {
		l.t.Fatalf("netlab: reading the router's drop counts: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[2] == "DROP" {
			if v, err := strconv.Atoi(f[0]); err == nil {
				n += v
			}
		}
	}
	return n
}

// Command returns a command that runs argv in the host's namespace.
func (h *Host) Command(argv ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS}, argv...)...)
}

// remove kills whatever still runs in the lab's namespaces and deletes
// them.
func (l *Lab) remove() {
	for _, ns := range append(l.nsNames(), l.Router) {
		deleteNS(ns)
	}
}

func deleteNS(ns string) {
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	exec.Command("ip", "netns", "del", ns).Run()
}

// removeStale deletes the namespaces of labs whose test process is gone
// (killed before its cleanup ran), so that they do not pile up on a
// machine that runs the tests again and again.
func removeStale(t testing.TB) {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			t.Logf("netlab: removing %s, left by process %d, which is gone", e.Name(), pid)
			deleteNS(e.Name())
		}
	}
}

func run(t testing.TB, args ...string) {
	t.Helper()
	output(t, args...)
}

func output(t testing.TB, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("ip", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("netlab: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out)
}

func inNS(t testing.TB, ns string, argv ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...).CombinedOutput(); err != nil {
		t.Fatalf("netlab: in %s: %s: %v: %s", ns, strings.Join(argv, " "), err, out)
	}
}

// envLab carries a lab to the test run again inside one of its hosts.
const envLab = "VIGIL_NETLAB"

type labJSON struct {
	Router string     `json:"router"`
	Hosts  []hostJSON `json:"hosts"`
	Inside string     `json:"inside"`
}

type hostJSON struct {
	Name    string     `json:"name"`
	NS      string     `json:"ns"`
	Addr    netip.Addr `json:"addr"`
	Gateway netip.Addr `json:"gateway"`
}

// Enter runs the calling test inside host inside's namespace, so that all
// of the test's own traffic leaves through that host's link, which the
// lab can cut like any other. The test calls it first:
//
//	lab, ok := netlab.Enter(t, "console", "console", "A", "B")
//	if !ok {
//		return // the test ran inside the lab; its result is this one's
//	}
//
// In the test process that `go test` started, Enter builds the lab, runs
// the test binary again with only this test, inside the host, waits for
// it, reports its output and result as this test's, and returns ok
// false. In that second run it returns the lab and ok true.
func Enter(t *testing.T, inside string, names ...string) (*Lab, bool) {
	t.Helper()
	if text := os.Getenv(envLab); text != "" {
		var j labJSON
		if err := json.Unmarshal([]byte(text), &j); err != nil {
			t.Fatalf("netlab: %s: %v", envLab, err)
		}
		l := &Lab{Router: j.Router, t: t}
		for _, h := range j.Hosts {
			l.Hosts = append(l.Hosts, &Host{Name: h.Name, NS: h.NS, Addr: h.Addr, Gateway: h.Gateway, lab: l})
		}
		if j.Inside != inside {
			t.Fatalf("netlab: run inside %q, but the test asks for %q", j.Inside, inside)
		}
		return l, true
	}
	l := New(t, names...)
	host := l.Host(inside)
	j := labJSON{Router: l.Router, Inside: inside}
	for _, h := range l.Hosts {
		j.Hosts = append(j.Hosts, hostJSON{Name: h.Name, NS: h.NS, Addr: h.Addr, Gateway: h.Gateway})
	}
	text, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("netlab: the test binary: %v", err)
	}
	args := []string{"-test.run", runPattern(t.Name()), "-test.v", "-test.count", "1"}
	if d, ok := t.Deadline(); ok {
		// The inner run ends first, so that its own timeout report, which
		// says where it hung, is what the log shows.
		args = append(args, "-test.timeout", (time.Until(d) * 9 / 10).Round(time.Second).String())
	}
	cmd := host.Command(append([]string{exe}, args...)...)
	cmd.Env = append(os.Environ(), envLab+"="+string(text))
	cmd.Dir, _ = os.Getwd()
	out := &lineLogger{t: t, prefix: "[in " + inside + "] "}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	out.flush()
	if err != nil {
		t.Fatalf("netlab: the test inside %s failed: %v", inside, err)
	}
	return l, false
}

// runPattern is a -test.run pattern that selects the test called name and
// no other: each level of a subtest name anchored at both ends.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// lineLogger writes what the inner test prints to the outer test's log, a
// line at a time.
type lineLogger struct {
	t      *testing.T
	prefix string
	buf    []byte
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.t.Log(w.prefix + string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

func (w *lineLogger) flush() {
	if len(w.buf) > 0 {
		w.t.Log(w.prefix + string(w.buf))
		w.buf = nil
	}
}
