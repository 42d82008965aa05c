package app

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/agent"
	"github.com/vigilops/vigil/alert"
	"github.com/vigilops/vigil/console"
	"github.com/vigilops/vigil/discovery"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/monitor"
	"github.com/vigilops/vigil/procedure"
	"github.com/vigilops/vigil/sim"
	"github.com/vigilops/vigil/sim/systems"
	"github.com/vigilops/vigil/store"
)

// Exit statuses (DESIGN.md).
const (
	exitOK     = agent.ExitOK
	exitFailed = agent.ExitFailed
	exitUsage  = agent.ExitUsage
)

const usage = `usage: vigil [COMMAND] [flags]

  vigil [--data DIR]                      open the console
  vigil demo [--data DIR]                 open the console with a simulated fleet
  vigil fleet --state DIR [--systems LIST] [--pair-code CODE] [--speed N]
                                          run a simulated fleet, headless
  vigil status [--data DIR] [--wait D] [--json]
                                          discover servers and print their status
  vigil watch [--data DIR] [--json] [--heartbeat D] [--misses N] [--keep-events D] [--mdns-expiry D]
                                          print events as they happen (one JSON object a line with --json)
  vigil pair (ADDRESS | --all) --code CODE [--data DIR] [--wait D]
                                          pair with an agent, using the code vigil-agent pair-code printed
  vigil action SERVER ACTION [KEY=VALUE]... [--dry-run] [--request-id ID] [--operator NAME] [--json]
                                          ask a server's agent to perform one action
  vigil alert set --smtp-host H --smtp-port P --tls none|starttls|tls --from ADDR --to ADDR[,ADDR]
                [--user U --password-file F] [--data DIR]
                                          save the email alert settings (see vigil alert help)
  vigil alert test|show [--data DIR]      send a test email now; print the settings and the outbox
  vigil procedure list|run|resume|abort|report|history ...
                                          run a vendor procedure headless (see vigil procedure help)
  vigil store check|backup|restore|reset [--data DIR]
                                          check the console store, back it up, or start again from
                                          a backup or from empty (see vigil store help)
  vigil agent COMMAND ...                 run the host agent (see vigil agent help)
  vigil sim SERVICE --state DIR [--speed N]
                                          run one simulated vendor service (as a fleet's agents do)
  vigil version                           print the version
`

// Main runs the console command line and returns the exit status.
func Main(args []string) int {
	attachConsole(args) // Windows' vigil.exe: a command's output to the console it was typed in
	return run(args, os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "":
		return guiCmd(args, stderr, false)
	case "demo":
		return guiCmd(args, stderr, true)
	case "fleet":
		return fleetCmd(args, stdout, stderr)
	case "status":
		return statusCmd(args, stdout, stderr)
	case "watch":
		return watchCmd(args, stdout, stderr)
	case "pair":
		return pairCmd(args, stdout, stderr)
	case "action":
		return actionCmd(args, stdout, stderr)
	case "alert":
		return alertCmd(args, stdout, stderr)
	case "procedure":
		return procedureCmd(args, stdout, stderr)
	case "store":
		return storeCmd(args, os.Stdin, stdout, stderr)
	case "agent":
		return agent.Main(args, stdout, stderr)
	case "sim":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return sim.Main(ctx, args, stderr)
	case "version":
		fmt.Fprintln(stdout, "vigil", actions.Version)
		return exitOK
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "vigil: unknown command %q\n%s", cmd, usage)
		return exitUsage
	}
}

// parseFlags parses fs and turns flag errors into exit statuses.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vigil %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	return 0, true
}

// defaultDataDir is the OS's per-user data directory for Vigil.
func defaultDataDir() (string, error) {
	home, err := os.UserHomeDir()
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LOCALAPPDATA"); d != "" {
			return filepath.Join(d, "Vigil"), nil
		}
	case "darwin":
		if err == nil {
			return filepath.Join(home, "Library", "Application Support", "Vigil"), nil
		}
	default:
		if d := os.Getenv("XDG_DATA_HOME"); d != "" {
			return filepath.Join(d, "vigil"), nil
		}
		if err == nil {
			return filepath.Join(home, ".local", "share", "vigil"), nil
		}
	}
	return "", errors.New("no user data directory; give one with --data DIR")
}

func dataDirFlag(fs *flag.FlagSet) *string {
	return fs.String("data", "", "console data `DIR` (default: the user data directory)")
}

func resolveDataDir(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	return defaultDataDir()
}

// core is the running console: the store, the monitor and
// mDNS discovery feeding it.
type core struct {
	store  *store.Store
	cert   tls.Certificate // the console's identity, pinned by paired agents
	mon    *monitor.Monitor
	sender *console.Sender // every request to an agent, recorded
	fleet  *console.Fleet  // the procedure engine's servers: the monitor's
	alerts *alert.Outbox   // every event is recorded through it; it sends the emails
	// procedures names the procedures a verdict's next step may be.
	procedures *procedure.Library
	log        *slog.Logger
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	closed     sync.Once
}

// openConsole opens the store in dataDir and starts monitoring and
// discovery. Close stops them.
func openConsole(ctx context.Context, dataDir string, log *slog.Logger) (*core, error) {
	return openConsoleWith(ctx, dataDir, log, consoleOptions{})
}

// consoleOptions are the operator's settings of detection; zero fields
// take the defaults.
type consoleOptions struct {
	Heartbeat  time.Duration // the interval agents send heartbeats at, at most
	Misses     int           // heartbeats missed before a server is suspected lost
	KeepEvents time.Duration // how long events are kept
	// MDNSExpiry is how long a server known only from mDNS stays on the
	// board after it was last announced.
	MDNSExpiry time.Duration

	// prepare, if set, is called before monitoring starts: a command that
	// prints what the monitor reports subscribes there, so that it misses
	// nothing from the first moment.
	prepare func(*core)
}

// consoleFlags adds the detection settings to a command's flags.
func consoleFlags(fs *flag.FlagSet) *consoleOptions {
	o := &consoleOptions{}
	fs.DurationVar(&o.Heartbeat, "heartbeat", 250*time.Millisecond, "the `INTERVAL` agents send heartbeats at, at most")
	fs.IntVar(&o.Misses, "misses", 4, "`N` heartbeats missed in a row make a server suspected lost (silent)")
	fs.DurationVar(&o.KeepEvents, "keep-events", EventRetention, "how long events are kept (`DURATION`, e.g. 2160h for 90 days)")
	fs.DurationVar(&o.MDNSExpiry, "mdns-expiry", monitor.DefaultExpiry, "how long a server known only from mDNS (not paired) stays listed after its last announcement (`DURATION`)")
	return o
}

// check validates the settings, naming the flag at fault.
func (o consoleOptions) check() error {
	switch {
	case o.Heartbeat < 10*time.Millisecond || o.Heartbeat > time.Minute:
		return fmt.Errorf("--heartbeat %v: expected a duration from 10ms to 1m", o.Heartbeat)
	case o.Misses < 1 || o.Misses > 100:
		return fmt.Errorf("--misses %d: expected a number from 1 to 100", o.Misses)
	case o.KeepEvents < time.Hour:
		return fmt.Errorf("--keep-events %v: expected at least 1h", o.KeepEvents)
	case o.MDNSExpiry < 30*time.Second:
		return fmt.Errorf("--mdns-expiry %v: expected at least 30s (two rounds of discovery)", o.MDNSExpiry)
	}
	return nil
}

// openConsoleWith is openConsole with the operator's detection settings.
func openConsoleWith(ctx context.Context, dataDir string, log *slog.Logger, o consoleOptions) (*core, error) {
	if o.Heartbeat == 0 {
		o.Heartbeat = 250 * time.Millisecond
	}
	if o.Misses == 0 {
		o.Misses = 4
	}
	if o.KeepEvents == 0 {
		o.KeepEvents = EventRetention
	}
	if o.MDNSExpiry == 0 {
		o.MDNSExpiry = monitor.DefaultExpiry
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	db, err := store.Open(dataDir)
	if err != nil {
		return nil, err
	}
	cert, _, err := actions.LoadConsoleIdentity(dataDir)
	if err != nil {
		db.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &core{store: db, cert: cert, mon: monitor.New(db, cert, log), log: log, cancel: cancel}
	c.sender = &console.Sender{Store: db, Cert: cert}
	c.fleet = console.NewFleet(db, c.sender, c.mon)
	c.mon.Silence = time.Duration(o.Misses) * o.Heartbeat
	c.mon.Expiry = o.MDNSExpiry
	c.alerts = alert.New(db, newAlertSource(db, dataDir, log), log)
	c.procedures, _ = procedureLibrary(dataDir, io.Discard) // refusals are reported where procedures are run
	c.mon.Record = func(ctx context.Context, e model.Event) (model.Event, error) {
		return c.alerts.Record(ctx, e, console.AlertContext(e, c.mon, c.procedures))
	}
	if o.prepare != nil {
		o.prepare(c)
	}
	browser := &discovery.Browser{Logger: log}
	c.wg.Add(4)
	go func() {
		defer c.wg.Done()
		if err := c.alerts.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("alert outbox stopped", "err", err)
		}
	}()
	go func() {
		defer c.wg.Done()
		c.pruneEvents(ctx, o.KeepEvents)
	}()
	go func() {
		defer c.wg.Done()
		if err := c.mon.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("monitor stopped", "err", err)
		}
	}()
	go func() {
		defer c.wg.Done()
		if err := browser.Run(ctx, c.mon.Sighted); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("discovery stopped", "err", err)
		}
	}()
	return c, nil
}

// EventRetention is how long events are kept.
const EventRetention = 90 * 24 * time.Hour

// pruneEvents deletes events older than keep, and the alert emails sent
// that long ago, now and once a day.
func (c *core) pruneEvents(ctx context.Context, keep time.Duration) {
	for {
		n, err := c.store.PruneEvents(ctx, time.Now().Add(-keep))
		switch {
		case err != nil && ctx.Err() == nil:
			c.log.Warn("old events not pruned", "err", err)
		case n > 0:
			c.log.Info("pruned old events", "count", n, "older than", keep)
		}
		// Alerts sent (or given up) as long ago go with them; a pending one
		// stays however old.
		n, err = c.store.PruneOutbox(ctx, time.Now().Add(-keep))
		switch {
		case err != nil && ctx.Err() == nil:
			c.log.Warn("old alerts not pruned", "err", err)
		case n > 0:
			c.log.Info("pruned old alert emails", "count", n, "older than", keep)
		}
		// A console that runs for weeks keeps a backup a day.
		if took, err := c.store.BackupIfDue(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("daily backup of the console store failed", "err", err)
		} else if took {
			c.log.Info("backed up the console store")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(24 * time.Hour):
		}
	}
}

// openCLIConsole opens the console for a headless subcommand: the data
// directory from its --data flag, warnings only in the log, and a context
// that ends on SIGINT or SIGTERM. On failure it has printed why and returns
// the exit status.
func openCLIConsole(name, dataFlag string, stderr io.Writer) (*core, context.Context, func(), int) {
	return openCLIConsoleWith(name, dataFlag, consoleOptions{}, stderr)
}

// openCLIConsoleWith is openCLIConsole with detection settings.
func openCLIConsoleWith(name, dataFlag string, o consoleOptions, stderr io.Writer) (*core, context.Context, func(), int) {
	dir, err := resolveDataDir(dataFlag)
	if err != nil {
		fmt.Fprintf(stderr, "vigil %s: %v\n", name, err)
		return nil, nil, nil, exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	c, err := openConsoleWith(ctx, dir, log, o)
	if err != nil {
		stop()
		fmt.Fprintf(stderr, "vigil %s: %v\n", name, err)
		return nil, nil, nil, exitUsage
	}
	return c, ctx, func() { c.Close(); stop() }, exitOK
}

// Close stops discovery and monitoring and closes the store; calling it
// again does nothing.
func (c *core) Close() {
	c.closed.Do(func() {
		c.cancel()
		c.wg.Wait()
		c.fleet.Close()
		if err := c.store.Close(); err != nil {
			c.log.Error("close store", "err", err)
		}
	})
}

func parseSystems(list string) ([]string, error) {
	if list == "" {
		return systems.Profiles(), nil
	}
	var out []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(systems.Profiles(), s) {
			return nil, fmt.Errorf("--systems: %q is not one of %s", s, strings.Join(systems.Profiles(), ","))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}
