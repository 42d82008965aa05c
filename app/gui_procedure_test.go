package app

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/vigilops/vigil/console"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/ui"
)

// The wizard, driven through its own buttons on Fyne's headless driver and
// through the console's procedure desk (the same fleet adapter as `vigil
// procedure run`), runs the Infocast takeover check against a simulated
// Infocast pair, every agent its own process: the preflight passes, each
// change is approved after its dry run, and the run completes; the agents
// then say the redundant server took over and the old primary came back
// as its standby, and the console's records hold the completed run and
// its two changes, each done once.
func TestProcedureWizardVerifyTakeover(t *testing.T) {
	t.Parallel()
	const id = "infocast-verify-takeover"
	members, data := procedureFleet(t, "infocast", 20)
	ag := newAgents(t, data, members)
	waitSteady(t, ag, "infocast-a", "infocast-b")
	primary, redundant := ag.primaryOf("infocast-a", "infocast-b")

	// The console as the window runs it: its monitor watches the agents,
	// and the wizard's fleet reads the monitor.
	c, _, _ := testConsole(t, data)
	db := c.store
	desk := newDesk(c, data, slog.New(slog.NewTextHandler(&testWriter{t: t, prefix: "console: "}, nil)))

	// The test goroutine is the UI goroutine: the wizard's goroutines hand
	// their changes to q, and the test runs them.
	a := test.NewTempApp(t)
	q := make(chan func(), 256)
	ctx, cancel := context.WithCancel(context.Background())
	procs := ui.NewProcedures(ctx, a, desk)
	procs.Do = func(fn func()) { q <- fn }
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() {
			procs.Wait()
			close(done)
		}()
		for {
			select {
			case fn := <-q:
				fn()
			case <-done:
				return
			}
		}
	})
	w := procs.Open("infocast")
	// until runs the wizard until cond holds of what it shows.
	until := func(what string, timeout time.Duration, cond func(s ui.WizardSnapshot) bool) ui.WizardSnapshot {
		t.Helper()
		deadline := time.After(timeout)
		for {
			if s := w.Snapshot(); cond(s) {
				return s
			}
			select {
			case fn := <-q:
				fn()
			case <-time.After(50 * time.Millisecond):
			case <-deadline:
				t.Fatalf("timed out waiting for %s; the wizard shows %+v", what, w.Snapshot())
			}
		}
	}

	until("the list of procedures", 10*time.Second, func(s ui.WizardSnapshot) bool { return slices.Contains(s.Procedures, id) })
	if !w.Pick(id) || !w.RunPreflight() {
		t.Fatalf("could not choose %s and run its preflight: %+v", id, w.Snapshot())
	}
	s := until("the preflight", 15*time.Second, func(s ui.WizardSnapshot) bool { return strings.HasPrefix(s.Preflight, "Preflight") })
	if !s.PreflightOK || !w.StartRun() {
		t.Fatalf("preflight: %s", s.Preflight)
	}
	var previews []string
	s = until("the end of the run", 25*time.Second, func(s ui.WizardSnapshot) bool {
		if s.Question == "confirm" && w.Next() {
			previews = append(previews, s.Preview)
		}
		return s.Outcome != ""
	})
	if s.Outcome != model.RunCompleted {
		t.Fatalf("the run ended %s: %s", s.Outcome, s.Summary)
	}
	if !slices.Equal(s.Steps, []string{"DONE", "DONE", "DONE", "DONE", "DONE", "DONE"}) {
		t.Errorf("steps shown: %v", s.Steps)
	}
	if len(previews) != 2 || !strings.Contains(previews[0], "stop service infocastserverd on "+primary+"\n  ") ||
		!strings.Contains(previews[1], "start service infocastserverd on "+primary) {
		t.Errorf("the approvals' dry runs: %q", previews)
	}
	if !strings.Contains(s.Report, "- Outcome: **completed**") || !strings.Contains(s.Report, "- Operator: "+console.OperatorName()) {
		t.Errorf("the report shown:\n%s", s.Report)
	}

	// Through the agents: the redundant server took over and the stopped
	// one came back as its standby, following it.
	np, nb := ag.status(redundant), ag.status(primary)
	if np.Role != string(model.RolePrimary) || nb.Role != string(model.RoleStandby) ||
		nb.Services["infocastserverd"] != "running" || nb.Facts["coordinator"] != np.Facts["gms_address"] {
		t.Errorf("after the run: %s is %s, %s is %s (service %s, following %s; %s's address %s)", redundant, np.Role, primary, nb.Role,
			nb.Services["infocastserverd"], nb.Facts["coordinator"], redundant, np.Facts["gms_address"])
	}

	// The console's records: the run completed, and its two changes were
	// each made once.
	run, err := db.ProcedureRun(context.Background(), s.Run)
	if err != nil || run.State != model.RunCompleted || run.ProcedureID != id || run.Operator != console.OperatorName() {
		t.Errorf("stored run: %+v, %v", run, err)
	}
	recs, err := db.Actions(context.Background(), 200)
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, r := range recs {
		if !r.DryRun {
			changes = append(changes, r.Action+" "+r.State.String())
		}
	}
	slices.Sort(changes)
	if want := []string{"service.start done", "service.stop done"}; !slices.Equal(changes, want) {
		t.Errorf("changes recorded: %v, want %v", changes, want)
	}
}
