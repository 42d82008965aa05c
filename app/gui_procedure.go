package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"strings"
	"time"

	"fyne.io/fyne/v2"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/procedure"
	"github.com/vigilops/vigil/ui"
)

var _ ui.ProcedureDesk = (*guiProcedures)(nil)

// guiProcedures is the console as the procedure wizard runs through it:
// the procedures `vigil procedure list` lists, the store's history, and
// engines over the same fleet as `vigil procedure run` (cliFleet), so a
// run from the wizard reads the servers and sends its requests exactly as
// a run from the command line does.
type guiProcedures struct {
	store *model.Store
	fleet *cliFleet
	lib   *procedure.Library
	owner string
}

func newGUIProcedures(store *model.Store, cert tls.Certificate, dataDir string, log *slog.Logger) *guiProcedures {
	var refused bytes.Buffer
	lib, _ := procedureLibrary(dataDir, &refused)
	for _, line := range strings.Split(strings.TrimSpace(refused.String()), "\n") {
		if line != "" {
			log.Warn("procedure file refused", "err", strings.TrimPrefix(line, "vigil procedure: refused: "))
		}
	}
	return &guiProcedures{store: store, fleet: newCLIFleet(store, cert), lib: lib, owner: runOwner()}
}

// ProcedureTitle is part of ui.ProcedureDesk.
func (g *guiProcedures) ProcedureTitle(id string) string {
	if p, ok := g.lib.Get(id); ok {
		return p.Title
	}
	return id
}

// Close closes the fleet's connections to the agents.
func (g *guiProcedures) Close() { g.fleet.Close() }

// Procedures is part of ui.ProcedureDesk: the procedures of the system's
// profile, which its servers in the store give.
func (g *guiProcedures) Procedures(ctx context.Context, system string) ([]ui.ProcedureEntry, error) {
	views, err := g.store.Servers(ctx)
	if err != nil {
		return nil, err
	}
	profile := ""
	for _, v := range views {
		if v.System == system && v.Profile != "" {
			profile = v.Profile
			break
		}
	}
	if profile == "" {
		return nil, nil
	}
	hist, err := g.store.ProcedureHistory(ctx)
	if err != nil {
		return nil, err
	}
	var out []ui.ProcedureEntry
	for _, p := range g.lib.All() {
		if p.Profile != profile {
			continue
		}
		e := ui.ProcedureEntry{Procedure: p}
		for _, h := range hist {
			if h.System == system && h.ProcedureID == p.ID {
				e.Last = h
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// StoppedRuns is part of ui.ProcedureDesk: the open runs that no live
// process runs. A run this console runs now is not one of them; one whose
// console was killed is, as `vigil procedure resume` would take it over.
func (g *guiProcedures) StoppedRuns(ctx context.Context, system string) ([]model.ProcedureRun, error) {
	runs, err := g.store.OpenProcedureRuns(ctx, system)
	if err != nil {
		return nil, err
	}
	var out []model.ProcedureRun
	for _, r := range runs {
		if r.State == model.RunInterrupted || r.Owner == "" || (r.Owner != g.owner && !ownerAlive(r.Owner)) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Engine is part of ui.ProcedureDesk.
func (g *guiProcedures) Engine(prompt procedure.Prompter, observe func(procedure.Update)) *procedure.Engine {
	return &procedure.Engine{Fleet: g.fleet, Store: g.store, Prompt: prompt, Observe: observe, Owner: g.owner, OwnerAlive: ownerAlive}
}

// OperatorName is part of ui.ProcedureDesk: as for `vigil procedure run`.
func (g *guiProcedures) OperatorName() string { return operatorName() }

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
func screenshotWizard(ctx context.Context, store *model.Store, procs *ui.Procedures, log *slog.Logger) {
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
		views, err := store.Servers(ctx)
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
