package app

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// Every request an agent receives, done or refused, reaches the console's
// store from the agent's audit log, once, and stays there across restarts.
func TestAgentAuditIsMirroredIntoTheConsoleStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := commandAgent(dir, "audited", integrityCheck)
	data := t.TempDir()
	c, _, _ := testConsole(t, data)
	startPairedAgent(t, c, cfgPath)
	srv, err := c.store.FindServer(context.Background(), "audited")
	if err != nil {
		t.Fatal(err)
	}

	base := actionArgs{server: "audited", action: actions.CommandRun, operator: "ana", data: data, timeout: 10 * time.Second}
	ok := base
	ok.params = map[string]string{"command": "integrity-check"}
	if code := runAction(ok, io.Discard, io.Discard); code != exitOK {
		t.Fatalf("integrity-check exited %d", code)
	}
	bad := base
	bad.params = map[string]string{"command": "format-disk"}
	if code := runAction(bad, io.Discard, io.Discard); code == exitOK {
		t.Fatal("an undeclared command was accepted")
	}

	var got []model.AuditRecord
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if got, err = c.store.Audit(context.Background(), srv.ID, 100); err != nil {
			t.Fatal(err)
		}
		if len(got) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s the console mirrored %d audit entries, want 2: %+v", len(got), got)
		}
	}
	byResult := map[string]model.AuditRecord{}
	for _, r := range got {
		byResult[r.Result] = r
	}
	done, refused := byResult[actions.StateDone], byResult[actions.StateRefused]
	if done.Operator != "ana" || done.Action != actions.CommandRun || done.Params != `{"command":"integrity-check"}` || done.Server != "audited" {
		t.Errorf("mirrored entry of the done action: %+v", done)
	}
	if refused.Detail == "" || refused.Params != `{"command":"format-disk"}` {
		t.Errorf("mirrored entry of the refused action: %+v", refused)
	}
	_, fp, err := actions.LoadConsoleIdentity(data)
	if err != nil {
		t.Fatal(err)
	}
	if done.Console != fp {
		t.Errorf("entry names console %q, want this console's key %q", done.Console, fp)
	}

	// A console opened again on the same store mirrors nothing twice. Its
	// first round of mirroring starts when it first hears the agent; one
	// more action makes a third entry, which a later round (or that one)
	// mirrors. Rounds for one agent run one at a time and store entries
	// in order, so once the third entry is in the store, any copy of the
	// first two would be too.
	c.Close()
	c2, _, _ := testConsole(t, data)
	if code := runAction(ok, io.Discard, io.Discard); code != exitOK {
		t.Fatalf("integrity-check after reopening exited %d", code)
	}
	var again []model.AuditRecord
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if again, err = c2.store.Audit(context.Background(), srv.ID, 100); err != nil {
			t.Fatal(err)
		}
		if len(again) > len(got) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s the reopened console mirrored no new entry: %+v", again)
		}
	}
	if len(again) != len(got)+1 {
		t.Errorf("after reopening and one more action: %d entries, want %d: %+v", len(again), len(got)+1, again)
	}
}
