package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/console"
)

// A console whose clock runs a day ahead acts on a real agent. A console
// that has not read the agent since is refused (fencing holds), but one
// whose clock is right and that reads the agent's status goes one past
// the epoch it finds there: nobody is locked out until real time catches
// up with the fast clock.
func TestAFastClockLocksNobodyOut(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := commandAgent(dir, "epoch-test", integrityCheck)
	c, _, _ := testConsole(t, t.TempDir())
	addr, _ := startPairedAgent(t, c, cfgPath)
	srv, err := c.store.FindServer(context.Background(), "epoch-test")
	if err != nil {
		t.Fatal(err)
	}
	client := actions.NewClient(addr, srv.Fingerprint, c.cert)
	defer client.Close()
	ctx := context.Background()
	check := func(epoch uint64) actions.Request {
		return actions.Request{RequestID: actions.NewRequestID(), Action: actions.CommandRun, Operator: "ana",
			Params: map[string]string{"command": "integrity-check"}, Epoch: epoch}
	}

	ahead := actions.EpochAfter(time.Now().Add(24*time.Hour), 0)
	if res, err := client.Do(ctx, check(ahead)); err != nil || res.State != actions.StateDone {
		t.Fatalf("the console a day ahead: %+v, %v", res, err)
	}
	st, err := client.Status(ctx)
	if err != nil || st.Epoch != ahead {
		t.Fatalf("the agent's status says epoch %d (%v), want %d", st.Epoch, err, ahead)
	}

	_, err = client.Do(ctx, check(actions.EpochAfter(time.Now(), 0)))
	var refused *actions.AgentError
	if !errors.As(err, &refused) || refused.Status != http.StatusConflict || !strings.Contains(refused.Result.Error, "epoch") {
		t.Errorf("a console that has not read the agent since: %v, want a stale epoch refused", err)
	}

	// The window's operator reads the epoch from the monitor's stream.
	pollUntil(t, time.Minute, "the monitor to hear the agent's epoch", func() bool {
		st, ok := c.mon.Status(srv.ID)
		return ok && st.Epoch == ahead
	}, nil)
	op := console.NewOperator(c.sender, c.mon, "ana")
	res, err := op.Act(ctx, srv.ID, actions.Request{Action: actions.CommandRun, Params: map[string]string{"command": "integrity-check"}})
	if err != nil || res.State != actions.StateDone {
		t.Errorf("a console with the right clock, after reading the agent: %+v, %v", res, err)
	}
}
