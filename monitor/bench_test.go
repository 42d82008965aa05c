//go:build linux

package monitor_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/internal/standin"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/monitor"
	"github.com/vigilops/vigil/store"
)

// The load of BenchmarkMonitor1000Agents.
const (
	benchAgents  = 1000
	benchWindow  = 30 * time.Second
	benchSettle  = 5 * time.Second // after every stand-in is up, before measuring
	benchAllUpIn = time.Minute     // how long the monitor may take to hear every stand-in
	// standinEnv makes the test binary a stand-in fleet (TestStandinFleetProcess);
	// standinFactsEnv=1 makes its changes touch facts only.
	standinEnv      = "VIGIL_BENCH_STANDIN_AGENTS"
	standinFactsEnv = "VIGIL_BENCH_STANDIN_FACTS_ONLY"
)

// BenchmarkMonitor1000Agents runs a real Monitor on a real store watching
// 1,000 stand-in agents (internal/standin), each sending its status with a
// change twice a second and a heartbeat every 250 ms, and reports what the
// console spends for it over benchWindow: CPU seconds per wall second,
// memory, updates delivered to a subscriber, store writes, and whether it
// keeps up (how late updates arrive, streams lost).
//
// The stand-ins run in a child process (this test binary again, as
// TestStandinFleetProcess) so that getrusage and the memory figures of
// this process are the console's alone. b.N is ignored: one run is the
// measurement.
//
// Two loads: change=vendor-role, where every status line changes the
// vendor's word for the role (a change the board shows, so the subscriber
// gets one update per line), and change=fact, where it changes only a fact
// (which the detector weighs and the board does not show).
func BenchmarkMonitor1000Agents(b *testing.B) {
	for _, factsOnly := range []bool{false, true} {
		name := "change=vendor-role"
		if factsOnly {
			name = "change=fact"
		}
		b.Run(name, func(b *testing.B) { benchMonitor(b, factsOnly) })
	}
}

func benchMonitor(b *testing.B, factsOnly bool) {
	fleet := startStandinProcess(b, benchAgents, factsOnly)
	ctx := context.Background()

	data := b.TempDir()
	st, err := store.Open(data)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cert, _, err := actions.LoadConsoleIdentity(data)
	if err != nil {
		b.Fatal(err)
	}
	// Paired servers, as `vigil pair` leaves them: the monitor watches each
	// from Run on, as it does when the console starts with a known fleet.
	began := time.Now()
	for _, a := range fleet.agents {
		role, _ := model.ParseRole(a.Role)
		if _, _, err := st.Observe(ctx, model.Observation{AgentID: a.ID, Name: a.Name, System: a.System, Profile: a.Profile,
			Address: a.Address, Fingerprint: a.Fingerprint, Role: role}); err != nil {
			b.Fatal(err)
		}
		if _, err := st.SetPaired(ctx, a.ID, a.Fingerprint); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("stored %d paired servers in %v", len(fleet.agents), time.Since(began).Round(time.Millisecond))

	counting := &countingStore{Store: st}
	logs := &countingLog{}
	mon := monitor.New(counting, cert, slog.New(logs))

	updates, cancelUpdates := mon.Subscribe()
	var delivered atomic.Int64
	lag := &samples{}
	var subWG sync.WaitGroup
	subWG.Go(func() {
		for v := range updates {
			// How late a change reaches the subscriber: the stand-in stamps
			// each status with the time it sent it. Every 16th update is
			// enough, and keeps the subscriber's own locking light.
			if delivered.Add(1)%16 == 0 && v.Health == model.HealthUp {
				if s, ok := mon.Status(v.ID); ok {
					lag.add(time.Since(s.Time))
				}
			}
		}
	})
	events, cancelEvents := mon.SubscribeEvents()
	var evMu sync.Mutex
	eventKinds := map[string]int{}
	subWG.Go(func() {
		for e := range events {
			evMu.Lock()
			eventKinds[e.Kind]++
			evMu.Unlock()
		}
	})

	runCtx, stop := context.WithCancel(ctx)
	var runWG sync.WaitGroup
	runWG.Go(func() { mon.Run(runCtx) })
	b.Cleanup(func() {
		stop()
		runWG.Wait()
		cancelUpdates()
		cancelEvents()
		subWG.Wait()
	})

	// A monitor that cannot keep up never hears them all: then the window
	// measures it as it is, and up-at-end says how far it got.
	began = time.Now()
	allUp := time.Duration(-1)
	for time.Since(began) < benchAllUpIn {
		time.Sleep(100 * time.Millisecond)
		if countUp(mon.Snapshot()) == len(fleet.agents) {
			allUp = time.Since(began)
			break
		}
	}
	if allUp < 0 {
		b.Logf("after %v the monitor hears %d of %d stand-ins; measuring it as it is", benchAllUpIn, countUp(mon.Snapshot()), len(fleet.agents))
	} else {
		b.Logf("every stand-in up after %v", allUp.Round(time.Millisecond))
	}
	time.Sleep(benchSettle)
	upAtStart := countUp(mon.Snapshot())

	// The window.
	evMu.Lock()
	kindsBefore := maps0(eventKinds)
	evMu.Unlock()
	lag.reset()
	counting.resetLatency()
	var peakHeap, peakRSS uint64
	sample := func() {
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		peakHeap = max(peakHeap, mem.HeapInuse)
		peakRSS = max(peakRSS, procStatus("self", "VmRSS"))
	}
	cpu0, wall0 := selfCPU(), time.Now()
	childCPU0 := childCPU(fleet.cmd.Process.Pid)
	lines0 := fleet.stats(b)
	delivered0, writes0, observes0 := delivered.Load(), counting.writes.Load(), counting.observes.Load()
	for end := wall0.Add(benchWindow); time.Now().Before(end); {
		time.Sleep(time.Second)
		sample()
	}
	wall := time.Since(wall0).Seconds()
	cpu := (selfCPU() - cpu0).Seconds()
	childCPUs := (childCPU(fleet.cmd.Process.Pid) - childCPU0).Seconds()
	lines1 := fleet.stats(b)
	deliveredN, writesN, observesN := delivered.Load()-delivered0, counting.writes.Load()-writes0, counting.observes.Load()-observes0
	upAtEnd := countUp(mon.Snapshot())
	evMu.Lock()
	kinds := maps0(eventKinds)
	evMu.Unlock()
	for k, n := range kindsBefore {
		kinds[k] -= n
	}
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)

	statusLines := float64(lines1.StatusLines-lines0.StatusLines) / wall
	heartbeats := float64(lines1.Heartbeats-lines0.Heartbeats) / wall
	lagP50, lagP99, lagMax := lag.quantiles()
	obsP50, obsP99, obsMax := counting.latency.quantiles()
	b.ReportMetric(float64(len(fleet.agents)), "agents")
	b.ReportMetric(cpu/wall, "cpu-s/s")
	b.ReportMetric(childCPUs/wall, "standin-cpu-s/s")
	b.ReportMetric(float64(mem.HeapInuse)/(1<<20), "MB-heap-inuse")
	b.ReportMetric(float64(peakHeap)/(1<<20), "MB-heap-peak")
	b.ReportMetric(float64(procStatus("self", "VmRSS"))/1024, "MB-rss")
	b.ReportMetric(float64(peakRSS)/1024, "MB-rss-peak")
	b.ReportMetric(float64(procStatus("self", "VmHWM"))/1024, "MB-rss-hwm")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
	b.ReportMetric(float64(openFiles(filepath.Join(data, store.DatabaseFile))), "db-files-open")
	b.ReportMetric(statusLines, "status-lines/s")
	b.ReportMetric(heartbeats, "heartbeats/s")
	b.ReportMetric(float64(deliveredN)/wall, "updates/s")
	b.ReportMetric(float64(writesN)/wall, "store-writes/s")
	b.ReportMetric(float64(observesN)/wall, "observes/s")
	b.ReportMetric(millis(obsP50), "observe-p50-ms")
	b.ReportMetric(millis(obsP99), "observe-p99-ms")
	b.ReportMetric(millis(lagP50), "update-lag-p50-ms")
	b.ReportMetric(millis(lagP99), "update-lag-p99-ms")
	b.ReportMetric(millis(lagMax), "update-lag-max-ms")
	b.ReportMetric(float64(kinds[model.EventDown]+kinds[model.EventUnreachable]), "health-events")
	b.ReportMetric(float64(lines1.Broken-lines0.Broken), "streams-broken")
	b.ReportMetric(float64(upAtStart), "up-at-start")
	b.ReportMetric(float64(upAtEnd), "up-at-end")
	if allUp >= 0 {
		b.ReportMetric(allUp.Seconds(), "s-to-all-up")
	}
	b.Logf("window %.1f s: stand-ins sent %.0f status lines/s and %.0f heartbeats/s; the subscriber got %.0f updates/s, "+
		"the store took %.0f writes/s (Observe p50 %.2f ms, p99 %.2f ms, max %.1f ms); events in the window %v; "+
		"update lag p50 %.0f ms, p99 %.0f ms, max %.0f ms; warnings and errors logged: %s",
		wall, statusLines, heartbeats, float64(deliveredN)/wall, float64(writesN)/wall,
		millis(obsP50), millis(obsP99), millis(obsMax), kinds, millis(lagP50), millis(lagP99), millis(lagMax), logs.summary())
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func maps0(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func countUp(views []model.ServerView) int {
	n := 0
	for _, v := range views {
		if v.Health == model.HealthUp {
			n++
		}
	}
	return n
}

// countingStore counts the monitor's writes to the store and times its
// Observe calls, the write every status line makes.
type countingStore struct {
	monitor.Store
	writes, observes atomic.Int64
	latency          samples
}

func (s *countingStore) Observe(ctx context.Context, o model.Observation) (model.ServerView, bool, error) {
	t := time.Now()
	v, changed, err := s.Store.Observe(ctx, o)
	s.latency.add(time.Since(t))
	s.writes.Add(1)
	s.observes.Add(1)
	return v, changed, err
}

func (s *countingStore) SetPaired(ctx context.Context, agentID, fingerprint string) (model.ServerView, error) {
	s.writes.Add(1)
	return s.Store.SetPaired(ctx, agentID, fingerprint)
}

func (s *countingStore) SetIdentityChanged(ctx context.Context, agentID string) (model.ServerView, error) {
	s.writes.Add(1)
	return s.Store.SetIdentityChanged(ctx, agentID)
}

func (s *countingStore) AddEvent(ctx context.Context, e model.Event) (model.Event, error) {
	s.writes.Add(1)
	return s.Store.AddEvent(ctx, e)
}

func (s *countingStore) MirrorAudit(ctx context.Context, agentID, server string, entries []model.AuditEntry) error {
	s.writes.Add(1)
	return s.Store.MirrorAudit(ctx, agentID, server, entries)
}

// MarkSeen is one write however many servers it marks.
func (s *countingStore) MarkSeen(ctx context.Context, seen map[string]model.Seen) error {
	s.writes.Add(1)
	return s.Store.MarkSeen(ctx, seen)
}

func (s *countingStore) resetLatency() { s.latency.reset() }

// samples collects durations for quantiles.
type samples struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *samples) add(d time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
}

func (s *samples) reset() {
	s.mu.Lock()
	s.d = nil
	s.mu.Unlock()
}

// quantiles returns the nearest-rank p50 and p99, and the maximum.
func (s *samples) quantiles() (p50, p99, maximum time.Duration) {
	s.mu.Lock()
	d := slices.Clone(s.d)
	s.mu.Unlock()
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(d))+0.999999) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	return rank(0.50), rank(0.99), d[len(d)-1]
}

// countingLog counts what the monitor logs at warning and above, keeping
// the first few messages to show; below that it is silent, as a console's
// log at its default level would be to someone measuring it.
type countingLog struct {
	mu    sync.Mutex
	count map[string]int
	first []string // the first message of each kind, with its attributes
}

func (l *countingLog) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn
}

func (l *countingLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count == nil {
		l.count = map[string]int{}
	}
	key := r.Level.String() + " " + r.Message
	if l.count[key] == 0 {
		// The first of each kind, whole: what failed and why.
		r.Attrs(func(a slog.Attr) bool {
			key += " " + a.String()
			return true
		})
		l.first = append(l.first, key)
	}
	l.count[r.Level.String()+" "+r.Message]++
	return nil
}

func (l *countingLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *countingLog) WithGroup(string) slog.Handler      { return l }

func (l *countingLog) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.count) == 0 {
		return "none"
	}
	var parts []string
	for msg, n := range l.count {
		parts = append(parts, fmt.Sprintf("%dx %q", n, msg))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ") + "; first of each: " + strings.Join(l.first, " | ")
}

// selfCPU is this process's user and system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU is a running child's user and system CPU time, from
// /proc/PID/stat (in clock ticks, 100 a second on Linux).
func childCPU(pid int) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields after its ")" do not.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// openFiles counts this process's descriptors open on path: SQLite opens
// the database once per connection (and its -wal and -shm beside it).
func openFiles(path string) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == path {
			n++
		}
	}
	return n
}

// procStatus reads a kB field of /proc/PID/status.
func procStatus(pid, field string) uint64 {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// standinProcess is the child that serves the stand-ins.
type standinProcess struct {
	cmd    *exec.Cmd
	agents []standin.Agent
	stdin  io.WriteCloser
	lines  chan string // the child's stdout, by line
}

// stats asks the child for its counts.
func (p *standinProcess) stats(b *testing.B) standin.Stats {
	b.Helper()
	if _, err := io.WriteString(p.stdin, "stats\n"); err != nil {
		b.Fatalf("ask the stand-ins for their counts: %v", err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				b.Fatal("the stand-in process ended")
			}
			if rest, ok := strings.CutPrefix(line, "standin-stats "); ok {
				var s standin.Stats
				if err := json.Unmarshal([]byte(rest), &s); err != nil {
					b.Fatalf("stand-in counts %q: %v", rest, err)
				}
				return s
			}
		case <-timeout:
			b.Fatal("the stand-ins did not report their counts within 10 s")
		}
	}
}

// startStandinProcess runs this test binary as TestStandinFleetProcess,
// serving n stand-ins, and returns when it has listed them.
func startStandinProcess(b *testing.B, n int, factsOnly bool) *standinProcess {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStandinFleetProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), standinEnv+"="+strconv.Itoa(n))
	if factsOnly {
		cmd.Env = append(cmd.Env, standinFactsEnv+"=1")
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &standinProcess{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		cmd.Wait()
	}()
	b.Cleanup(func() {
		stdin.Close() // the child stops when its stdin ends
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	timeout := time.After(time.Minute)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				b.Fatal("the stand-in process ended before listing its stand-ins")
			}
			if rest, ok := strings.CutPrefix(line, "standin-agents "); ok {
				if err := json.Unmarshal([]byte(rest), &p.agents); err != nil {
					b.Fatalf("stand-in list: %v", err)
				}
				return p
			}
		case <-timeout:
			b.Fatal("the stand-in process listed no stand-ins within a minute")
		}
	}
}

// TestStandinFleetProcess is not a test: BenchmarkMonitor1000Agents runs the
// test binary as this function to serve its stand-ins in a process of
// their own. It lists them on stdout, answers "stats" on stdin with its
// counts, and ends when stdin does.
func TestStandinFleetProcess(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(standinEnv))
	if n <= 0 {
		t.Skip("the stand-in process of BenchmarkMonitor1000Agents; runs only when it starts it")
	}
	f, err := standin.Start(standin.Options{Agents: n, FactsOnly: os.Getenv(standinFactsEnv) == "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := bufio.NewWriter(os.Stdout)
	list, _ := json.Marshal(f.Agents())
	fmt.Fprintf(out, "standin-agents %s\n", list)
	out.Flush()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "stats" {
			s, _ := json.Marshal(f.Stats())
			fmt.Fprintf(out, "standin-stats %s\n", s)
			out.Flush()
		}
	}
}

// BenchmarkStoreObserve measures the write the monitor makes for a status
// line that changes what the store keeps, Store.Observe, on a store in a
// temporary directory: from one goroutine, from 1,000 at once as the
// monitor's watchers would make it, and from 1,000 taking turns at a mutex.
// The store sends every write through its one writer connection, so the
// 1,000 queue in Go as they do at the mutex, rather than each waiting in
// SQLite's busy handler, which sleeps, on a connection of its own. Each
// runs storeWrites writes whatever b.N is.
func BenchmarkStoreObserve(b *testing.B) {
	const storeWrites = 3000
	for _, tc := range []struct {
		writers    int
		serialized bool
	}{{1, false}, {1000, false}, {1000, true}} {
		name := fmt.Sprintf("writers=%d", tc.writers)
		if tc.serialized {
			name += "/one-at-a-time"
		}
		writers := tc.writers
		// one-at-a-time puts a mutex in front of the store: the same
		// goroutines, queued before they reach it.
		var one sync.Mutex
		lock, unlock := func() {}, func() {}
		if tc.serialized {
			lock, unlock = one.Lock, one.Unlock
		}
		b.Run(name, func(b *testing.B) {
			st, err := store.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			const servers = 1000
			obs := func(i int) model.Observation {
				vendor := "Master AccountServer"
				if i/servers%2 == 1 {
					vendor += ", replicating"
				}
				return model.Observation{AgentID: fmt.Sprintf("standin-%05d", i%servers), Name: fmt.Sprintf("server-%04d", i%servers),
					System: fmt.Sprintf("system-%04d", i%servers/2), Profile: "redstor", Role: model.RolePrimary, VendorRole: vendor,
					Health: model.HealthUp, Time: time.Now()}
			}
			for i := range servers {
				if _, _, err := st.Observe(ctx, obs(i)); err != nil {
					b.Fatal(err)
				}
			}
			var next, failed atomic.Int64
			lat := &samples{}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range writers {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= storeWrites {
							return
						}
						t := time.Now()
						lock()
						_, _, err := st.Observe(ctx, obs(i))
						unlock()
						if err != nil {
							failed.Add(1)
						}
						lat.add(time.Since(t))
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			p50, p99, _ := lat.quantiles()
			b.ReportMetric(float64(storeWrites)/elapsed.Seconds(), "writes/s")
			b.ReportMetric(millis(p50), "p50-ms")
			b.ReportMetric(millis(p99), "p99-ms")
			b.ReportMetric(float64(failed.Load()), "failed")
		})
	}
}
