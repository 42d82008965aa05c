package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigilops/vigil/console"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/procedure"
)

// verifyTrials is how many role changes each verify benchmark times,
// whatever b.N is.
const verifyTrials = 50

// BenchmarkVerifyAfterRoleChange measures, over verifyTrials trials, the
// time from a role change at an agent (its role file replaced) to a
// procedure's verify step on that role passing: the agent's role poll,
// its watch stream, the console, the engine. "monitor" is the console as
// the window runs it, its fleet reading the monitor and waking the step
// on the change; "agents" is `vigil procedure run`'s fleet, which asks
// the agents for their status at each of the engine's 250 ms polls.
func BenchmarkVerifyAfterRoleChange(b *testing.B) {
	for _, live := range []bool{true, false} {
		name := map[bool]string{true: "monitor", false: "agents"}[live]
		b.Run(name, func(b *testing.B) { benchVerify(b, live) })
	}
}

func benchVerify(b *testing.B, live bool) {
	data := b.TempDir()
	c, updates, _ := testConsole(b, data)
	// Two agents of one system whose role is a file, paired to act: a
	// procedure's preflight asks it even of a check.
	var agents []*agentProc
	for _, name := range []string{"K2server1", "K2server2"} {
		dir := filepath.Join(b.TempDir(), name)
		os.MkdirAll(dir, 0o700)
		a := &agentProc{name: name, roleFile: filepath.Join(dir, "role")}
		a.setRole(b, "standby")
		cfg := filepath.Join(dir, "agent.yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf("name: %s\nsystem: watched\nprofile: k2san\nlisten: 127.0.0.1:0\nstate_dir: state\n"+
			"advertise: false\nrole_file: role\npermissions: [read, act]\n", name)), 0o644)
		_, a.cmd = startPairedAgent(b, c, cfg)
		agents = append(agents, a)
	}
	fleet := c.fleet
	if !live {
		fleet = console.NewFleet(c.store, c.sender, nil)
		b.Cleanup(fleet.Close)
	}
	p, err := procedure.Parse("verify.yaml", []byte(`id: verify-takeover
title: Verify the takeover
profile: k2san
kind: check
document: {file: bench.txt}
bindings: {two: {name: K2server2}}
steps:
  - type: verify
    text: K2server2 serves as primary.
    timeout: 1m
    condition: {server: two, role: primary}
`))
	if err != nil {
		b.Fatal(err)
	}
	roleOf := func(name string) model.Role {
		for _, v := range c.mon.Snapshot() {
			if v.Name == name && v.Live() {
				return v.Role
			}
		}
		return ""
	}
	waitRole := func(name string, role model.Role) {
		deadline := time.After(time.Minute)
		for roleOf(name) != role {
			select {
			case <-updates:
			case <-deadline:
				b.Fatalf("%s never seen %s", name, role)
			}
		}
	}
	waitRole("K2server1", model.RoleStandby)

	var took []time.Duration
	b.ResetTimer()
	for range verifyTrials {
		agents[1].setRole(b, "standby")
		waitRole("K2server2", model.RoleStandby)
		waiting, passed := make(chan struct{}), make(chan time.Time, 1)
		var once bool
		eng := &procedure.Engine{Fleet: fleet, Store: c.store, Prompt: nil, Owner: console.RunOwner(), OwnerAlive: console.OwnerAlive,
			Observe: func(u procedure.Update) {
				switch {
				case u.Kind == procedure.UpdateProgress && !once:
					once = true // the step has read the servers once, and waits
					close(waiting)
				case u.Kind == procedure.UpdateStepEnd && u.Record != nil && u.Record.State == model.StepPassed:
					passed <- time.Now()
				}
			}}
		done := make(chan error, 1)
		go func() {
			out, err := eng.Run(context.Background(), p, procedure.Options{System: "watched", Operator: "bench"})
			if err == nil && out.State != model.RunCompleted {
				err = fmt.Errorf("the run ended %s: %s", out.State, out.Summary)
			}
			done <- err
		}()
		select {
		case <-waiting:
		case err := <-done:
			b.Fatalf("the run ended before its verify step waited: %v", err)
		}
		// The agent reads its role file every 100 ms, and the trial so far
		// ran in step with that tick: a random pause puts the change
		// anywhere in the agent's cycle, as a vendor tool's would be.
		time.Sleep(rand.N(200 * time.Millisecond))
		t0 := time.Now()
		agents[1].setRole(b, "primary")
		select {
		case t1 := <-passed:
			took = append(took, t1.Sub(t0))
		case <-time.After(time.Minute):
			b.Fatal("the verify step did not pass within a minute of the role change")
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	slices.Sort(took)
	q := func(f float64) time.Duration { return took[min(len(took)-1, int(f*float64(len(took))))] }
	b.ReportMetric(float64(q(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
	b.Logf("role change to verify passed over %d trials: p50 %v, p99 %v, max %v", len(took), q(0.5), q(0.99), took[len(took)-1])
}
