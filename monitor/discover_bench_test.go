package monitor_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/discovery"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/monitor"
	"github.com/vigilops/vigil/store"
)

// discoverAgents is how many agents BenchmarkDiscover200Agents advertises
// from one host.
const discoverAgents = 200

// advertiseEnv and advertiseSystemEnv make the test binary advertise that
// many agents of that system (TestAdvertiserProcess).
const (
	advertiseEnv       = "VIGIL_BENCH_ADVERTISE"
	advertiseSystemEnv = "VIGIL_BENCH_ADVERTISE_SYSTEM"
)

// BenchmarkDiscover200Agents times a fresh console, with an empty store,
// listing every one of 200 agents that advertise from one host: from the
// moment its browser starts to the moment the monitor publishes the last
// of them. Beside it, started at the same moment, runs an independent
// browser, python-zeroconf (Debian's python3-zeroconf, which make bench
// installs), timed to the moment it has seen all 200.
func BenchmarkDiscover200Agents(b *testing.B) {
	system := startAdvertisers(b, discoverAgents)
	python := pythonZeroconf()
	if python == "" {
		b.Log("python3-zeroconf is not installed: no independent browser to compare with")
	}
	var ours, theirs []float64
	for range b.N {
		var other chan string
		if python != "" {
			other = make(chan string, 1)
			go func() {
				out, err := exec.Command(python, "testdata/zeroconf_browse.py", system+"-", strconv.Itoa(discoverAgents), "60").Output()
				if err != nil {
					other <- "python-zeroconf: " + err.Error()
					return
				}
				other <- strings.TrimSpace(string(out))
			}()
		}
		ours = append(ours, discoverAll(b, system, discoverAgents).Seconds())
		if other != nil {
			got := <-other
			f, err := strconv.ParseFloat(got, 64)
			if err != nil {
				b.Errorf("independent browser: %s", got)
				continue
			}
			theirs = append(theirs, f)
		}
	}
	b.ReportMetric(median(ours), "s-to-all-p50")
	b.ReportMetric(slices.Max(ours), "s-to-all-max")
	if len(theirs) > 0 {
		b.ReportMetric(median(theirs), "s-python-zeroconf-p50")
		b.ReportMetric(slices.Max(theirs), "s-python-zeroconf-max")
	}
}

// discoverAll starts a console (store, monitor and browser) on an empty
// data directory and returns how long it took to publish n servers of the
// system.
func discoverAll(b *testing.B, system string, n int) time.Duration {
	data := b.TempDir()
	st, err := store.Open(data)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cert, _, err := actions.LoadConsoleIdentity(data)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	quiet := slog.New(slog.DiscardHandler)
	mon := monitor.New(st, cert, quiet)
	views, unsubscribe := mon.Subscribe()
	defer unsubscribe()
	done := make(chan struct{}, 2)
	go func() { mon.Run(ctx); done <- struct{}{} }()
	defer func() { cancel(); <-done; <-done }()

	start := time.Now()
	var lastSighted atomic.Int64
	sighted := map[string]bool{}
	go func() {
		(&discovery.Browser{Logger: quiet}).Run(ctx, func(s discovery.Sighting) {
			if s.Advert.System == system && !sighted[s.Advert.ID] {
				sighted[s.Advert.ID] = true
				if len(sighted) == n {
					lastSighted.Store(int64(time.Since(start)))
				}
			}
			mon.Sighted(s)
		})
		done <- struct{}{}
	}()
	seen := make(map[string]bool)
	timeout := time.After(time.Minute)
	for len(seen) < n {
		select {
		case v := <-views:
			if v.System == system {
				seen[v.ID] = true
			}
		case <-timeout:
			b.Fatalf("the console listed %d of %d agents in a minute", len(seen), n)
		}
	}
	took := time.Since(start)
	b.Logf("last sighting at %v, published at %v", time.Duration(lastSighted.Load()), took)
	return took
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}

// pythonZeroconf returns Debian's python3 when it has the zeroconf module,
// or "".
func pythonZeroconf() string {
	const python = "/usr/bin/python3"
	if exec.Command(python, "-c", "import zeroconf").Run() != nil {
		return ""
	}
	return python
}

// startAdvertisers starts n agents advertising, under a system name of
// their own, from a child process, and returns that name. Names of their
// own keep the benchmark to its agents when other fleets advertise on the
// LAN. They stop when the benchmark ends.
func startAdvertisers(b *testing.B, n int) string {
	b.Helper()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	system := "discover" + hex.EncodeToString(suffix)
	cmd := exec.Command(os.Args[0], "-test.run=^TestAdvertiserProcess$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), advertiseEnv+"="+strconv.Itoa(n), advertiseSystemEnv+"="+system)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if sc.Text() == "advertising" {
			go io.Copy(io.Discard, out)
			return system
		}
	}
	b.Fatalf("the advertisers ended before advertising: %v", sc.Err())
	return ""
}

// TestAdvertiserProcess is not a test: BenchmarkDiscover200Agents runs the
// test binary as this function, so that its agents advertise from a
// process of their own, as on a host. It ends when its stdin does.
func TestAdvertiserProcess(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(advertiseEnv))
	system := os.Getenv(advertiseSystemEnv)
	if n <= 0 || system == "" {
		t.Skip("the advertisers of BenchmarkDiscover200Agents; runs only when it starts them")
	}
	for i := range n {
		name := fmt.Sprintf("%s-%03d", system, i)
		ad, err := discovery.Advertise(name, 20000+i, []string{"127.0.0.1"},
			discovery.Advert{ID: name, System: system, Profile: "k2san", Role: model.RoleStandby})
		if err != nil {
			t.Fatal(err)
		}
		defer ad.Close()
	}
	fmt.Println("advertising")
	io.Copy(io.Discard, os.Stdin)
}
