package app

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vigilops/vigil/agent"
	"github.com/vigilops/vigil/model"
)

// detectTrials is how many times each detection benchmark kills or
// freezes an agent, whatever b.N is.
const detectTrials = 50

// trialsPerAgent is one: every trial is of an agent that had no incident
// before it, as a server that fails in a quiet control room has not. A
// stream that just fell silent and came back is given twice that silence
// for the next minute (monitor/rhythm.go), so a second freeze of the same
// agent within it would measure that allowance instead; and the detector
// folds a server's transitions into one flapping event after five within
// two minutes.
const trialsPerAgent = 1

// BenchmarkDetectKill measures, over detectTrials trials, the time from
// SIGKILL of a real agent process to the console's monitor publishing its
// `down` event (SubscribeEvents, which hands on an event once the console
// has recorded it with its alert). The killed agent is started again on the
// same port and state, and the next trial waits until every agent is up.
func BenchmarkDetectKill(b *testing.B) {
	benchDetect(b, syscall.SIGKILL, model.EventDown)
}

// BenchmarkDetectFreeze measures, over detectTrials trials, the time from
// SIGSTOP of a real agent process to the silent-loss event (`unreachable`:
// a silence its stream's rhythm makes unlikely, with no peer saying
// otherwise).
// The agent is thawed with SIGCONT, and the next trial waits until every
// agent is up.
func BenchmarkDetectFreeze(b *testing.B) {
	benchDetect(b, syscall.SIGSTOP, model.EventUnreachable)
}

// benchAgent is one agent process of a detection benchmark, with a fixed
// port so that it can be started again where the console looks for it.
type benchAgent struct {
	name, dir, id string
	cmd           *exec.Cmd
	exited        chan struct{}
}

func (a *benchAgent) start(b *testing.B) {
	b.Helper()
	logf, err := os.OpenFile(filepath.Join(a.dir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(vigilBin, "agent", "run", "--config", filepath.Join(a.dir, "agent.yaml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	a.cmd, a.exited = cmd, exited
}

func (a *benchAgent) stop() {
	if a.cmd == nil {
		return
	}
	a.cmd.Process.Signal(syscall.SIGCONT)
	a.cmd.Process.Kill()
	<-a.exited
}

// benchFreePort returns a loopback port below the kernel's ephemeral range
// (32768 and up on Linux), free now, so that no outgoing connection takes
// it while its agent is being restarted.
func benchFreePort(b *testing.B) int {
	b.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	b.Fatal("no free loopback port between 20000 and 32000")
	return 0
}

func benchDetect(b *testing.B, sig syscall.Signal, kind string) {
	// The console, as testConsole opens it, logging to a file: a
	// benchmark prints every line it logs.
	data := b.TempDir()
	logf, err := os.Create(filepath.Join(data, "console.log"))
	if err != nil {
		b.Fatal(err)
	}
	c, err := openConsole(context.Background(), data, slog.New(slog.NewTextHandler(logf, nil)))
	if err != nil {
		b.Fatal(err)
	}
	events, cancelEvents := c.mon.SubscribeEvents()
	pool := make([]*benchAgent, (detectTrials+trialsPerAgent-1)/trialsPerAgent)
	b.Cleanup(func() {
		for _, a := range pool {
			if a != nil {
				a.stop()
			}
		}
		cancelEvents()
		c.Close()
		logf.Close()
	})

	// Every agent in a system of its own, primary, so that no trial raises
	// a split brain or leaves a system without a primary for long.
	for i := range pool {
		a := &benchAgent{name: fmt.Sprintf("detect-%02d", i), dir: b.TempDir()}
		pool[i] = a
		state := filepath.Join(a.dir, "state")
		os.MkdirAll(state, 0o700)
		os.WriteFile(filepath.Join(a.dir, "role"), []byte("primary"), 0o644)
		cfg := fmt.Sprintf("name: %s\nsystem: %s\nprofile: k2san\nlisten: 127.0.0.1:%d\nstate_dir: state\nadvertise: false\nrole_file: role\n",
			a.name, a.name, benchFreePort(b))
		if err := os.WriteFile(filepath.Join(a.dir, "agent.yaml"), []byte(cfg), 0o644); err != nil {
			b.Fatal(err)
		}
		if _, err := agent.NewPairing(state, nil).SetCode(testCode, time.Hour); err != nil {
			b.Fatal(err)
		}
		a.start(b)
	}
	for _, a := range pool {
		var addr string
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if addr, err = agent.BoundAddress(filepath.Join(a.dir, "state")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("agent %s did not start: %v", a.name, err)
			}
		}
		v, err := c.pair(context.Background(), addr, testCode)
		if err != nil {
			b.Fatalf("pair %s: %v", a.name, err)
		}
		a.id = v.ID
	}

	allUp := func() error {
		deadline := time.Now().Add(30 * time.Second)
		for {
			views := c.mon.Snapshot()
			up := 0
			for _, v := range views {
				if v.Health == model.HealthUp {
					up++
				}
			}
			if up == len(pool) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%d of %d agents up after 30 s", up, len(pool))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// wait returns the first event of kind about a, dropping others.
	wait := func(a *benchAgent, kind string, timeout time.Duration) (model.Event, error) {
		deadline := time.After(timeout)
		for {
			select {
			case e := <-events:
				if e.AgentID == a.id && e.Kind == kind {
					return e, nil
				}
			case <-deadline:
				return model.Event{}, fmt.Errorf("no %s event for %s within %v", kind, a.name, timeout)
			}
		}
	}

	// A console judges a stream's silence by the stream's own rhythm alone
	// once it has heard a minute of it (300 gaps, monitor/rhythm.go): the
	// trials measure a console that has watched its fleet for longer than
	// that, as one in a control room has.
	if err := allUp(); err != nil {
		b.Fatal(err)
	}
	settled := 0
	pollUntil(b, 3*time.Minute, "every stream with a minute of lines", func() bool {
		settled = 0
		for _, a := range pool {
			if _, rhythmAlone, _ := c.mon.Allowance(a.id); rhythmAlone {
				settled++
			}
		}
		return settled == len(pool)
	}, func() string { return fmt.Sprintf("%d of %d have", settled, len(pool)) })

	var delivered, detected []time.Duration
	for trial := range detectTrials {
		a := pool[trial%len(pool)]
		if err := allUp(); err != nil {
			b.Fatalf("before trial %d: %v", trial+1, err)
		}
		for drained := false; !drained; {
			select {
			case <-events:
			default:
				drained = true
			}
		}
		sent := time.Now()
		if err := a.cmd.Process.Signal(sig); err != nil {
			b.Fatal(err)
		}
		e, err := wait(a, kind, 15*time.Second)
		if err != nil {
			b.Fatalf("trial %d: %v", trial+1, err)
		}
		delivered = append(delivered, time.Since(sent))
		// The detector stamps the event when it decides, before the
		// console stores it and its alert.
		detected = append(detected, e.Time.Sub(sent))

		switch sig {
		case syscall.SIGKILL:
			<-a.exited
			a.start(b)
		case syscall.SIGSTOP:
			a.cmd.Process.Signal(syscall.SIGCONT)
		}
		// The next trial waits until this agent is up again: by its health,
		// not an up event, which the third trial's is not (the sixth
		// transition, folded into a flapping event).
	}

	p50, p99, maximum := benchQuantiles(delivered)
	d50, d99, _ := benchQuantiles(detected)
	b.ReportMetric(float64(len(delivered)), "trials")
	b.ReportMetric(float64(len(pool)), "agents")
	b.ReportMetric(benchMillis(p50), "p50-ms")
	b.ReportMetric(benchMillis(p99), "p99-ms")
	b.ReportMetric(benchMillis(maximum), "max-ms")
	b.ReportMetric(benchMillis(slices.Min(delivered)), "min-ms")
	b.ReportMetric(benchMillis(d50), "decided-p50-ms")
	b.ReportMetric(benchMillis(d99), "decided-p99-ms")
}

func benchMillis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchQuantiles returns the nearest-rank p50 and p99 of d, and its maximum.
// With 50 samples the nearest-rank p99 is the largest.
func benchQuantiles(d []time.Duration) (p50, p99, maximum time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	d = slices.Sorted(slices.Values(d))
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(d))+0.999999) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	return rank(0.50), rank(0.99), d[len(d)-1]
}
