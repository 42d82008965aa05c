package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"

	"github.com/vigilops/vigil/alert"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/sim/fleet"
	"github.com/vigilops/vigil/store"
	"github.com/vigilops/vigil/ui"
)

// This file holds what the GUI's views read and act through, beyond the
// board and the pane (operator.go): the events timeline's source, the
// alert settings (as `vigil alert set`, `test` and `show` do them) and the
// desktop's notifications and tray.

var (
	_ ui.EventSource  = guiEvents{}
	_ ui.AlertConsole = (*guiAlerts)(nil)
	_ ui.Notifier     = guiNotifier{}
)

// guiEvents is the console's events as the timeline reads them: the store
// for history, the monitor for what it stores from now on.
type guiEvents struct {
	store *store.Store
	mon   interface {
		SubscribeEvents() (<-chan model.Event, func())
	}
}

func newGUIEvents(c *core) guiEvents { return guiEvents{store: c.store, mon: c.mon} }

// Events is part of ui.EventSource.
func (g guiEvents) Events(ctx context.Context, f model.EventFilter) ([]model.Event, error) {
	return g.store.Events(ctx, f)
}

// SubscribeEvents is part of ui.EventSource.
func (g guiEvents) SubscribeEvents() (<-chan model.Event, func()) { return g.mon.SubscribeEvents() }

// guiAlerts is the alert settings as the GUI edits them: saved and checked
// by the alert package as `vigil alert set` does, the password kept by
// alert.Secrets (the OS keyring or a 0600 file), never in the store.
type guiAlerts struct {
	store  *store.Store
	src    *alert.StoreSource
	outbox *alert.Outbox
}

func newGUIAlerts(c *core, dataDir string, log *slog.Logger) *guiAlerts {
	return &guiAlerts{store: c.store, src: newAlertSource(c.store, dataDir, log), outbox: c.alerts}
}

// AlertSettings is part of ui.AlertConsole.
func (g *guiAlerts) AlertSettings(ctx context.Context) (alert.Settings, bool, error) {
	s, err := alert.Load(ctx, g.store)
	if errors.Is(err, alert.ErrNotConfigured) {
		return alert.Settings{}, false, nil
	}
	return s, err == nil, err
}

// keptPassword gives s the saved password's reference when it has a login
// but neither a password nor a reference: the same login as before keeps
// its password, as with `vigil alert set`.
func (g *guiAlerts) keptPassword(ctx context.Context, s alert.Settings, password alert.Secret) alert.Settings {
	if password == "" && s.User != "" && s.PasswordRef == "" {
		if old, err := alert.Load(ctx, g.store); err == nil && old.User == s.User {
			s.PasswordRef = old.PasswordRef
		}
	}
	return s
}

// SaveAlertSettings is part of ui.AlertConsole.
func (g *guiAlerts) SaveAlertSettings(ctx context.Context, s alert.Settings, password alert.Secret) error {
	s.Password = ""
	s = g.keptPassword(ctx, s, password)
	check := s
	check.Password = password
	if err := check.Validate(); err != nil {
		return err
	}
	if password != "" {
		ref, err := g.src.Secrets.Put(ctx, password)
		if err != nil {
			return err
		}
		s.PasswordRef = ref
	}
	return alert.Save(ctx, g.store, s)
}

// TestAlert is part of ui.AlertConsole: `vigil alert test` with the
// settings in the form.
func (g *guiAlerts) TestAlert(ctx context.Context, s alert.Settings, password alert.Secret) (string, error) {
	s = g.keptPassword(ctx, s, password)
	s.Password = password
	if err := s.Validate(); err != nil {
		return "", err
	}
	full, err := g.src.ForSending(ctx, s)
	if err != nil {
		return "", err
	}
	return alert.Test(ctx, full)
}

// AlertOutbox is part of ui.AlertConsole.
func (g *guiAlerts) AlertOutbox(ctx context.Context) (alert.Status, error) {
	return g.outbox.Status(ctx)
}

// guiNotifier sends desktop notifications through the Fyne app.
type guiNotifier struct{ a fyne.App }

// Notify is part of ui.Notifier.
func (n guiNotifier) Notify(title, body string) {
	n.a.SendNotification(fyne.NewNotification(title, body))
}

// noSessionBus says why the desktop has no notifications and no tray, or
// "" when it has them. On Linux and the BSDs both speak D-Bus, and without
// a session bus godbus would try to start one with dbus-launch, as
// alert.Secrets also avoids.
func noSessionBus() string {
	switch runtime.GOOS {
	case "linux", "freebsd", "openbsd", "netbsd", "dragonfly":
		if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
			return "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
		}
	}
	return ""
}

// startDesk starts the desktop notifications and the tray icon, where the
// desktop has them.
func startDesk(ctx context.Context, a fyne.App, w fyne.Window, c *core, log *slog.Logger) {
	d := ui.Desk{Feed: c.mon, Events: newGUIEvents(c), Show: func() {
		w.Show()
		w.RequestFocus()
	}}
	if why := noSessionBus(); why != "" {
		log.Info("no desktop notifications and no tray icon", "reason", why)
	} else {
		d.Notifier = guiNotifier{a}
		if tray, ok := a.(desktop.App); ok {
			d.Tray = tray
		}
	}
	if d.Notifier == nil && d.Tray == nil {
		return
	}
	ui.StartDesk(ctx, d)
}

// screenshotViewEnv names a tab for `vigil demo` to show first ("events",
// "procedures", "alerts"), for screenshots of it; "wizard" opens the
// procedure wizard on a demo system and takes it to its first approval.
const screenshotViewEnv = "VIGIL_SCREENSHOT_VIEW"

func showScreenshotView(ctx context.Context, wg *sync.WaitGroup, view *ui.View, c *core, procs *ui.Procedures, name string,
	fleetReady <-chan *fleet.Fleet, log *slog.Logger) {
	switch name {
	case "":
		return
	case "wizard":
		wg.Go(func() { screenshotWizard(ctx, c.store, procs, log) })
		return
	case "incident":
		wg.Go(func() {
			select {
			case f := <-fleetReady:
				demoIncident(ctx, c, f, log)
			case <-ctx.Done():
			}
		})
		return
	}
	if !view.ShowTab(name) {
		log.Warn(fmt.Sprintf("%s=%s: no such tab or view (board, events, procedures, alerts, wizard, incident)", screenshotViewEnv, name))
	}
}

// demoIncident makes the demo's fleet show a failed-over system and a
// degraded one, for a screenshot: once every system is healthy and the K2
// backup is qualified to take over, it kills
// the agent of the K2 SAN's primary (its backup takes over, as the
// document describes) and of the Infocast pair's standby.
func demoIncident(ctx context.Context, c *core, f *fleet.Fleet, log *slog.Logger) {
	if f == nil {
		return
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for healthy := false; !healthy; {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		verdicts := c.mon.Verdicts()
		healthy = len(verdicts) > 0
		for _, v := range verdicts {
			healthy = healthy && v.Verdict == model.VerdictHealthy
		}
		// The K2 backup takes over only once it is qualified.
		for _, v := range c.mon.Snapshot() {
			if st, ok := c.mon.Status(v.ID); v.Profile == "k2san" && v.Role == model.RoleStandby && (!ok || st.Facts["qualified"] != "true") {
				healthy = false
			}
		}
	}
	victims := map[string]model.Role{"k2san": model.RolePrimary, "infocast": model.RoleStandby}
	for _, v := range c.mon.Snapshot() {
		if want, ok := victims[v.Profile]; !ok || v.Role != want {
			continue
		}
		delete(victims, v.Profile)
		for _, m := range f.Members {
			if m.Name == v.Name && m.PID > 0 {
				log.Info("demo incident: killing an agent", "server", m.Name, "pid", m.PID)
				if p, err := os.FindProcess(m.PID); err == nil {
					p.Kill()
				}
			}
		}
	}
}
