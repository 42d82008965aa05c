package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/agent"
	"github.com/vigilops/vigil/assets"
	"github.com/vigilops/vigil/console"
	"github.com/vigilops/vigil/sim/fleet"
	"github.com/vigilops/vigil/store"
	"github.com/vigilops/vigil/ui"
)

// AppID is the console's application id (FyneApp.toml, the desktop file).
const AppID = "io.vigilops.vigil"

// screenshotSelectEnv names a server for `vigil demo` to open the pane of
// as soon as it appears, for screenshots of the pane (make screenshot
// SCREENSHOT=docs/screenshot-pane.png with it set).
const screenshotSelectEnv = "VIGIL_SCREENSHOT_SELECT"

// guiCmd opens the console window; with demo it also runs a simulated fleet
// of every profile for as long as the window is open.
func guiCmd(args []string, stderr io.Writer, demo bool) int {
	name := "vigil"
	if demo {
		name = "demo"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	data := dataDirFlag(fs)
	opts := consoleFlags(fs)
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	var cleanup []func()
	defer func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}()
	dir := *data
	var fleetDir string
	if demo {
		tmp, err := os.MkdirTemp("", "vigil-demo-")
		if err != nil {
			fmt.Fprintln(stderr, "vigil demo: temporary directory:", err)
			return exitFailed
		}
		cleanup = append(cleanup, func() { os.RemoveAll(tmp) })
		fleetDir = tmp + "/fleet"
		if dir == "" {
			// A demo keeps its servers out of the operator's real store.
			dir = tmp + "/data"
		}
	}
	dir, err := resolveDataDir(dir)
	if err != nil {
		fmt.Fprintln(stderr, "vigil:", err)
		return exitUsage
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := fyneapp.NewWithID(AppID)
	a.SetIcon(assets.Icon)
	// startMain builds the console's window on c.
	startMain := func(c *core) fyne.Window {
		cleanup = append(cleanup, c.Close)

		// The demo's fleet, once it runs and is paired (nil if it did not
		// start), for the screenshot views that act on it.
		fleetReady := make(chan *fleet.Fleet, 1)
		if demo {
			var wg sync.WaitGroup
			var demo *fleet.Fleet
			wg.Add(1)
			go func() {
				defer wg.Done()
				demo = runDemoFleet(ctx, c, fleetDir, log)
				fleetReady <- demo
			}()
			cleanup = append(cleanup, func() {
				cancel()
				wg.Wait()
				if demo != nil {
					demo.Stop()
				}
			})
		}

		title := "Vigil"
		if demo {
			title = "Vigil (demo: simulated fleet)"
		}
		w := a.NewWindow(title)
		// A laptop's 1280x800 screen shows the demo's whole fleet at this
		// size (ui's TestDemoFleetFitsWithoutScrolling).
		w.Resize(fyne.NewSize(1280, 800))
		op := console.NewOperator(c.sender, c.mon, console.OperatorName())
		desk := newDesk(c, dir, log)
		procs := ui.NewProcedures(ctx, a, desk)
		cleanup = append(cleanup, func() {
			// ctx is cancelled by now: the wizards' runs stop where they are
			// (resumable, as if the console had been killed) before the
			// store closes.
			cancel()
			procs.Wait()
		})
		view := ui.CreateConsole(ctx, w, ui.Console{Feed: c.mon, Operator: op, Events: newGUIEvents(c), Alerts: newGUIAlerts(c, dir, log),
			Procedures: procs})
		if name := os.Getenv(screenshotSelectEnv); demo && name != "" {
			fyne.Do(func() { view.SelectWhenSeen(name) })
		}
		if demo {
			var shots sync.WaitGroup
			cleanup = append(cleanup, func() {
				cancel()
				shots.Wait()
			})
			showScreenshotView(ctx, &shots, view, c, procs, os.Getenv(screenshotViewEnv), fleetReady, log)
		}
		// A run left running by a console that was killed, or left to resume,
		// is offered as soon as the window is up.
		procs.OfferResume(w)
		startDesk(ctx, a, w, c, log)
		w.SetContent(view)
		w.SetMaster()
		return w
	}

	c, err := openConsoleWith(ctx, dir, log, *opts)
	var damaged *store.DamagedError
	switch {
	case errors.As(err, &damaged):
		// The console does not start on a damaged store: the operator
		// chooses how it starts again, in the window as on the CLI.
		fmt.Fprintln(stderr, "vigil:", err)
		showStoreRecovery(a, dir, damaged, log, func() error {
			c, err := openConsoleWith(ctx, dir, log, *opts)
			if err != nil {
				return err
			}
			startMain(c).Show()
			return nil
		})
		a.Run()
		return exitOK
	case err != nil:
		fmt.Fprintln(stderr, "vigil:", err)
		return exitUsage
	}
	startMain(c).ShowAndRun()
	return exitOK
}

// showStoreRecovery opens the window that offers the ways back from a
// damaged store; open starts the console once one is taken.
func showStoreRecovery(a fyne.App, dir string, damaged *store.DamagedError, log *slog.Logger, open func() error) {
	w := a.NewWindow("Vigil: the console store is damaged")
	w.Resize(fyne.NewSize(720, 520))
	backups, err := store.Backups(dir)
	if err != nil {
		log.Warn("backups not listed", "err", err)
	}
	r := ui.StoreRecovery{Path: damaged.Path, Why: damaged.Why, Quit: a.Quit}
	then := func(what string, aside string, err error) error {
		if err != nil {
			return err
		}
		log.Warn("console store set aside", "kept_at", aside, "then", what)
		if err := open(); err != nil {
			return fmt.Errorf("%s, but the console does not start: %w", what, err)
		}
		w.Close()
		return nil
	}
	if len(backups) > 0 {
		r.Backup = ui.BackupWords(backups[0].Time, backups[0].Reason, time.Now())
		r.Restore = func() error {
			aside, err := store.Restore(dir, backups[0])
			return then("restored "+backups[0].Path, aside, err)
		}
	}
	r.Reset = func() error {
		aside, err := store.SetAside(dir)
		return then("started an empty store", aside, err)
	}
	ui.ShowStoreRecovery(w, r)
	w.Show()
}

// runDemoFleet starts a fleet of every profile and pairs the console with
// each member through the same exchange an operator's `vigil pair` runs.
func runDemoFleet(ctx context.Context, c *core, dir string, log *slog.Logger) *fleet.Fleet {
	code, err := actions.NewPairCode()
	if err != nil {
		log.Error("demo pairing code", "err", err)
		return nil
	}
	f, err := fleet.Start(ctx, fleet.Options{StateDir: dir, Systems: agent.Profiles, PairCode: code, Speed: 1, Log: log})
	if err != nil {
		log.Error("demo fleet did not start", "err", err)
		return nil
	}
	for _, m := range f.Members {
		if _, err := c.pair(ctx, m.Address, code); err != nil {
			log.Warn("demo server not paired", "name", m.Name, "err", err)
		}
	}
	return f
}
