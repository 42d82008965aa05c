package app

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"time"

	"fyne.io/fyne/v2"

	"github.com/vigilops/vigil/console"
	"github.com/vigilops/vigil/store"
	"github.com/vigilops/vigil/ui"
)

var _ ui.ProcedureDesk = (*console.Desk)(nil)

// newDesk is the console as the procedure wizard runs through it: the
// procedures `vigil procedure list` lists (files refused are logged), and
// engines over the console's fleet, which reads the monitor.
func newDesk(c *core, dataDir string, log *slog.Logger) *console.Desk {
	var refused bytes.Buffer
	lib, _ := procedureLibrary(dataDir, &refused)
	for _, line := range strings.Split(strings.TrimSpace(refused.String()), "\n") {
		if line != "" {
			log.Warn("procedure file refused", "err", strings.TrimPrefix(line, "vigil procedure: refused: "))
		}
	}
	return &console.Desk{Store: c.store, Fleet: c.fleet, Library: lib, Owner: console.RunOwner(), Operator: console.OperatorName()}
}

// The demo's screenshot of the wizard: a short procedure on a demo system,
// driven through the wizard's own buttons to its first approval, with the
// dry run on screen.
const (
	screenshotWizardSystem    = "infocast"
	screenshotWizardProcedure = "infocast-verify-takeover"
)

// screenshotWizard waits for the system's servers to be paired, opens the
// wizard on the procedure and runs its preflight until it passes (the
// simulated servers take a moment to settle), starts it and leaves it at
// its first approval.
func screenshotWizard(ctx context.Context, db *store.Store, procs *ui.Procedures, log *slog.Logger) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.Now().Add(2 * time.Minute)
	wait := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			log.Warn("screenshot: the wizard did not reach an approval in time")
			return false
		}
		return true
	}
	for {
		views, err := db.Servers(ctx)
		paired := 0
		for _, v := range views {
			if err == nil && v.System == screenshotWizardSystem && v.Paired {
				paired++
			}
		}
		if paired >= 2 {
			break
		}
		if !wait() {
			return
		}
	}
	var w *ui.Wizard
	fyne.DoAndWait(func() { w = procs.OpenProcedure(screenshotWizardSystem, screenshotWizardProcedure) })
	for wait() {
		done := false
		fyne.DoAndWait(func() {
			s := w.Snapshot()
			switch {
			case s.Screen == "start" && s.PreflightOK:
				w.StartRun()
			case s.Screen == "start":
				w.RunPreflight() // again, until the servers have settled
			case s.Screen == "run" && s.Question == "confirm" && s.Preview != "":
				done = true
			}
		})
		if done {
			return
		}
	}
}
