package app

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/agent"
	"github.com/vigilops/vigil/console"
	"github.com/vigilops/vigil/model"
)

// The GUI's server pane acts through the console's operator. Against a real
// agent process over mutual TLS on loopback: a settings.set dry run changes
// nothing, and applying it changes the file exactly as the preview said;
// asking again with the applied request's id returns the recorded result
// without editing twice; an unpaired server is refused before anything is
// sent.
func TestOperatorPreviewsThenAppliesOnARealAgent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	settings := filepath.Join(dir, "as")
	os.MkdirAll(settings, 0o755)
	file := filepath.Join(settings, "AS_Service.exe.config")
	before := "<?xml version=\"1.0\"?>\n<configuration>\n  <Settings>\n    <IsSlave>False</IsSlave>\n    <Peer>as-b</Peer>\n  </Settings>\n</configuration>\n"
	if err := os.WriteFile(file, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfgPath, []byte(`name: AccountServer-Master
system: redstor-test
profile: redstor
listen: 127.0.0.1:0
state_dir: state
advertise: false
permissions: [read, act]
role_file: role
settings:
  - {name: as, dir: as}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "role"), []byte("primary\n"), 0o644)
	state := filepath.Join(dir, "state")
	os.MkdirAll(state, 0o700)
	if _, err := agent.NewPairing(state, nil).SetCode(testCode, time.Hour); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(vigilBin, "agent", "run", "--config", cfgPath)
	cmd.Stderr = &testWriter{t: t, prefix: "agent: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var addr string
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if addr, err = agent.BoundAddress(state); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent did not start: %v", err)
		}
	}

	ctx := context.Background()
	c, _, _ := testConsole(t, t.TempDir())
	srv, err := c.pair(ctx, addr, testCode)
	if err != nil {
		t.Fatal(err)
	}
	op := console.NewOperator(c.sender, c.mon, "night-shift")

	// The pane offers what the agent declares, from its watch stream.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st, ok := op.Status(srv.ID); ok {
			if st.Declared == nil || !st.Declared.CanAct || len(st.Declared.Settings) != 1 || st.Declared.Settings[0] != "as" {
				t.Fatalf("declared %+v, want settings dir as and the act permission", st.Declared)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no status from the agent's watch stream")
		}
	}

	params := map[string]string{"dir": "as", "path": "AS_Service.exe.config", "key": "configuration/Settings/IsSlave", "value": "True"}
	preview, err := op.Act(ctx, srv.ID, actions.Request{Action: actions.SettingsSet, Params: params, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if preview.State != actions.StateDone || !preview.DryRun || preview.Outcome == nil || !preview.Outcome.Changed {
		t.Fatalf("preview %+v", preview)
	}
	if b, _ := os.ReadFile(file); string(b) != before {
		t.Fatalf("the dry run changed the file:\n%s", b)
	}
	if !strings.Contains(preview.Outcome.Diff, "-    <IsSlave>False</IsSlave>") || !strings.Contains(preview.Outcome.Diff, "+    <IsSlave>True</IsSlave>") {
		t.Errorf("preview diff does not show the change:\n%s", preview.Outcome.Diff)
	}

	applied, err := op.Act(ctx, srv.ID, actions.Request{Action: actions.SettingsSet, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	if applied.State != actions.StateDone || applied.DryRun || applied.RequestID == preview.RequestID {
		t.Fatalf("applied %+v", applied)
	}
	after, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// Exactly as the preview said: the diff of the file as it now is against
	// the file before is the diff the preview showed.
	abs, _ := filepath.EvalSymlinks(file)
	if got := actions.UnifiedDiff(abs, []byte(before), after); got != preview.Outcome.Diff {
		t.Errorf("the file changed by\n%s\nbut the preview said\n%s", got, preview.Outcome.Diff)
	}
	if want := strings.Replace(before, "<IsSlave>False<", "<IsSlave>True<", 1); string(after) != want {
		t.Errorf("file after applying:\n%s\nwant:\n%s", after, want)
	}
	if applied.Outcome.Diff != preview.Outcome.Diff {
		t.Errorf("applied diff\n%s\ndiffers from the preview\n%s", applied.Outcome.Diff, preview.Outcome.Diff)
	}
	if b, err := os.ReadFile(applied.Outcome.Backup); err != nil || string(b) != before {
		t.Errorf("backup %s: %v, %q", applied.Outcome.Backup, err, b)
	}

	// Asking again about the applied request: the recorded result, no second edit.
	os.WriteFile(file, []byte(before), 0o644)
	again, err := op.Act(ctx, srv.ID, actions.Request{RequestID: applied.RequestID, Action: actions.SettingsSet, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	if again.RequestID != applied.RequestID || again.State != actions.StateDone || again.Outcome.Backup != applied.Outcome.Backup {
		t.Errorf("asked again: %+v, want the recorded result of %s", again, applied.RequestID)
	}
	if b, _ := os.ReadFile(file); string(b) != before {
		t.Error("asking again about a request edited the file a second time")
	}

	recs, err := c.store.Actions(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].RequestID != applied.RequestID || recs[0].DryRun || recs[0].Operator != "night-shift" ||
		recs[1].RequestID != preview.RequestID || !recs[1].DryRun || recs[0].Epoch == 0 {
		t.Errorf("the console's records: %+v", recs)
	}

	// A server the console knows but has not paired with is refused, and
	// nothing is sent or recorded.
	if _, _, err := c.store.Observe(ctx, model.Observation{AgentID: "lonely-agent", Name: "AccountServer-Slave",
		Address: "127.0.0.1:9", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	_, err = op.Act(ctx, "lonely-agent", actions.Request{Action: actions.SettingsSet, Params: params, DryRun: true})
	var ue *actions.UncertainError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "AccountServer-Slave is not paired with this console; run `vigil-agent pair-code --config FILE` on it") {
		t.Errorf("unpaired server: %v", err)
	}
	if recs, _ := c.store.Actions(ctx, 10); len(recs) != 2 {
		t.Errorf("the refused request was recorded: %d records", len(recs))
	}
}
