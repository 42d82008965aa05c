package app

import (
	"bytes"
	"context"
	"fmt"
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

// An action that outlasts --timeout leaves its outcome uncertain. The
// operator is asked before the request is sent again; yes learns the outcome
// with the same request id, and the command still ran only once. Without a
// terminal nothing is resent and the command to learn the outcome is shown.
func TestActionAsksBeforeResendingAfterATimeout(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs.txt")
	cfgPath := commandAgent(dir, "slowpoke", `  - name: slow-backup
    argv: [sh, -c, "echo run >> `+runs+`; sleep 2"]
    timeout: 1m
`)
	data := t.TempDir()
	c, _, _ := testConsole(t, data)
	startPairedAgent(t, c, cfgPath)

	base := actionArgs{server: "slowpoke", action: actions.CommandRun, params: map[string]string{"command": "slow-backup"},
		operator: "test", data: data, timeout: 700 * time.Millisecond}

	// No terminal: nothing is resent, and the way to learn the outcome is shown.
	var out, errOut bytes.Buffer
	a := base
	if code := runAction(a, &out, &errOut); code != exitFailed {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFailed, errOut.String())
	}
	if !strings.Contains(errOut.String(), "may or may not have been done") || !strings.Contains(errOut.String(), "--request-id ") {
		t.Errorf("stderr does not explain the uncertainty and how to learn the outcome:\n%s", errOut.String())
	}
	id := errOut.String()[strings.LastIndex(errOut.String(), "--request-id ")+len("--request-id "):]
	id = strings.TrimSpace(id)

	// The operator answers no, then yes: the second ask learns the outcome.
	out.Reset()
	errOut.Reset()
	a = base
	a.requestID, a.interactive, a.stdin = id, true, strings.NewReader("n\n")
	if code := runAction(a, &out, &errOut); code != exitFailed && code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut.String())
	}
	a.stdin = strings.NewReader("y\ny\ny\ny\n")
	a.timeout = 3 * time.Second
	out.Reset()
	errOut.Reset()
	if code := runAction(a, &out, &errOut); code != exitOK {
		t.Fatalf("after answering yes: exit %d; stdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "done") || !strings.Contains(out.String(), id) {
		t.Errorf("outcome not reported for request %s:\n%s", id, out.String())
	}
	if b, _ := os.ReadFile(runs); strings.Count(string(b), "run") != 1 {
		t.Errorf("the command ran %d times, want once", strings.Count(string(b), "run"))
	}
	recs, err := c.store.Actions(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].RequestID != id || recs[0].State != actions.StateDone {
		t.Errorf("console's record of the action: %+v, want one, done, %s", recs, id)
	}
}

// commandAgent writes, in dir, the config of an agent named name, of a
// Redstor system "s" on loopback, not advertised, that the console may act
// on through the commands given (YAML list items), and returns its path.
func commandAgent(dir, name, commands string) string {
	cfgPath := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfgPath, []byte("name: "+name+`
system: s
profile: redstor
listen: 127.0.0.1:0
state_dir: state
advertise: false
permissions: [read, act]
role_file: role
commands:
`+commands), 0o644)
	return cfgPath
}

// integrityCheck declares one command that does nothing and succeeds.
const integrityCheck = `  - name: integrity-check
    argv: [/bin/true]
`

// runAgent runs `vigil agent run --config cfgPath` (inside the command
// prefix, when given; its state_dir must be "state" beside the config) and
// returns the address it bound, once it has written it anew; the agent is
// killed when the test ends.
func runAgent(t testing.TB, cfgPath string, prefix []string, label string) (string, *exec.Cmd) {
	t.Helper()
	state := filepath.Join(filepath.Dir(cfgPath), "state")
	os.Remove(filepath.Join(state, agent.AddressFile)) // a stopped agent's address is not this one's
	argv := append(append([]string{}, prefix...), vigilBin, "agent", "run", "--config", cfgPath)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = &testWriter{t: t, prefix: label + ": "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGCONT); cmd.Process.Kill(); cmd.Wait() })
	var addr string
	var err error
	pollUntil(t, 10*time.Second, "agent "+cfgPath+" to start", func() bool {
		addr, err = agent.BoundAddress(state)
		return err == nil
	}, func() string { return fmt.Sprint(err) })
	return addr, cmd
}

// startPairedAgent runs `vigil agent run --config cfgPath` (its state_dir
// must be "state" beside the config), waits until it listens, and pairs
// console c with it at its bound address.
func startPairedAgent(t testing.TB, c *core, cfgPath string) (addr string, cmd *exec.Cmd) {
	t.Helper()
	return startAgentProcess(t, c, cfgPath, nil, "")
}

// startAgentProcess is startPairedAgent with the agent run inside another
// command (prefix, e.g. `ip netns exec NS`), paired at pairAddr when the
// console reaches it at another address than the one it binds.
func startAgentProcess(t testing.TB, c *core, cfgPath string, prefix []string, pairAddr string) (addr string, cmd *exec.Cmd) {
	t.Helper()
	state := filepath.Join(filepath.Dir(cfgPath), "state")
	os.MkdirAll(state, 0o700)
	if _, err := agent.NewPairing(state, nil).SetCode(testCode, time.Hour); err != nil {
		t.Fatal(err)
	}
	addr, cmd = runAgent(t, cfgPath, prefix, filepath.Base(filepath.Dir(cfgPath)))
	if pairAddr == "" {
		pairAddr = addr
	}
	if _, err := c.pair(context.Background(), pairAddr, testCode); err != nil {
		t.Fatalf("pair %s: %v", cfgPath, err)
	}
	return addr, cmd
}
