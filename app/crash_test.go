package app

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/agent"
)

// TestAgentKilledMidActionReportsIndeterminate kills a real agent process
// while a command it runs is in flight, restarts it, and asks again with
// the same request id: the answer is indeterminate and the command never
// runs a second time.
func TestAgentKilledMidActionReportsIndeterminate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs.txt")
	cfgPath := commandAgent(dir, "crashy", `  - name: slow-backup
    argv: [sh, -c, "echo run >> `+runs+`; sleep 30"]
    timeout: 1m
  - name: mark
    argv: [sh, -c, "echo mark >> `+runs+`"]
`)
	state := filepath.Join(dir, "state")
	cert, fp, err := actions.LoadConsoleIdentity(filepath.Join(dir, "console"))
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.NewPairing(state, nil).Pin(agent.PinnedConsole{Fingerprint: fp, Name: "test", Permissions: []string{agent.PermRead, agent.PermAct}}); err != nil {
		t.Fatal(err)
	}
	start := func() (*exec.Cmd, *actions.Client) {
		os.Remove(filepath.Join(state, agent.AddressFile))
		cmd := exec.Command(vigilBin, "agent", "run", "--config", cfgPath)
		cmd.Stderr = &testWriter{t: t, prefix: "agent: "}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		var addr string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if addr, err = agent.BoundAddress(state); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("agent did not start: %v", err)
			}
		}
		id, err := agent.LoadIdentity(state, "crashy")
		if err != nil {
			t.Fatal(err)
		}
		return cmd, actions.NewClient(addr, id.Fingerprint, cert)
	}

	cmd, c := start()
	req := actions.Request{RequestID: actions.NewRequestID(), Epoch: 1, Action: actions.CommandRun,
		Params: map[string]string{"command": "slow-backup"}, Operator: "test"}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	_, err = c.Do(ctx, req)
	cancel()
	var ue *actions.UncertainError
	if !errors.As(err, &ue) {
		t.Fatalf("a 30 s command answered within 1.5 s: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(runs)
		if string(b) == "run\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command did not start once before the kill: %q", b)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	c.Close()

	_, c = start()
	defer c.Close()
	res, err := c.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != actions.StateIndeterminate {
		t.Errorf("after the restart the request is %s, want indeterminate", res.State)
	}
	// Changes run one at a time: had the restarted agent run the command
	// again, it would have done so before it took this next one.
	mark := actions.Request{RequestID: actions.NewRequestID(), Epoch: 2, Action: actions.CommandRun,
		Params: map[string]string{"command": "mark"}, Operator: "test"}
	if res, err := c.Do(context.Background(), mark); err != nil || res.State != actions.StateDone {
		t.Fatalf("the next command after the restart: %+v, %v", res, err)
	}
	if b, _ := os.ReadFile(runs); string(b) != "run\nmark\n" {
		t.Errorf("the command ran %d times, want once before the next one: %q", strings.Count(string(b), "run"), b)
	}
}
