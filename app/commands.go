package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/monitor"
	"github.com/vigilops/vigil/sim/fleet"
)

func fleetCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	state := fs.String("state", "", "state `DIR` for the fleet's agents and fleet.json (required)")
	systems := fs.String("systems", "", "comma-separated profiles to start (default: all)")
	pairCode := fs.String("pair-code", "", "pairing `CODE` every simulated agent accepts")
	speed := fs.Float64("speed", 1, "run simulated clocks `N` times faster")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if *state == "" {
		fmt.Fprintln(stderr, "vigil fleet: --state DIR is required")
		return exitUsage
	}
	profiles, err := parseSystems(*systems)
	if err != nil {
		fmt.Fprintln(stderr, "vigil fleet:", err)
		return exitUsage
	}
	if *speed <= 0 {
		fmt.Fprintln(stderr, "vigil fleet: --speed must be greater than 0")
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := fleet.Start(ctx, fleet.Options{StateDir: *state, Systems: profiles, PairCode: *pairCode, Speed: *speed, Log: log})
	if err != nil {
		fmt.Fprintln(stderr, "vigil fleet:", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "fleet ready: %d servers in %d systems; see %s\n", len(f.Members), len(profiles), *state+"/"+fleet.File)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping fleet")
	f.Stop()
	return exitOK
}

func statusCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	data := dataDirFlag(fs)
	wait := fs.Duration("wait", 3*time.Second, "how long to discover and listen before printing")
	asJSON := fs.Bool("json", false, "print JSON (DESIGN.md's shape)")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if *wait < 0 {
		fmt.Fprintln(stderr, "vigil status: --wait must not be negative")
		return exitUsage
	}
	c, ctx, closeConsole, code := openCLIConsole("status", *data, stderr)
	if c == nil {
		return code
	}
	select {
	case <-ctx.Done():
	case <-time.After(*wait):
	}
	servers, verdicts := c.mon.Snapshot(), c.mon.Verdicts()
	closeConsole()
	if *asJSON {
		if servers == nil {
			servers = []model.ServerView{}
		}
		if verdicts == nil {
			verdicts = []model.SystemVerdict{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Servers []model.ServerView    `json:"servers"`
			Systems []model.SystemVerdict `json:"systems"`
		}{servers, verdicts}); err != nil {
			return exitFailed
		}
		return exitOK
	}
	printVerdicts(stdout, verdicts, time.Now())
	printStatus(stdout, servers, time.Now())
	return exitOK
}

// printVerdicts writes each system's verdict, the most urgent first, with
// its reasons and the next step: what an operator reads before the list
// of servers.
func printVerdicts(w io.Writer, verdicts []model.SystemVerdict, now time.Time) {
	if len(verdicts) == 0 {
		return
	}
	sorted := slices.Clone(verdicts)
	slices.SortStableFunc(sorted, func(a, b model.SystemVerdict) int { return a.Verdict.Urgency() - b.Verdict.Urgency() })
	for _, v := range sorted {
		fmt.Fprintf(w, "%s: %s for %s: %s\n", v.System, v.Verdict.Label(), monitor.Duration(now.Sub(v.Since)), v.Summary)
		for _, r := range v.Reasons {
			if r.Text != v.Summary {
				fmt.Fprintf(w, "    - %s\n", r.Text)
			}
		}
		if v.Next != "" {
			fmt.Fprintf(w, "    next: vigil procedure run %s --system %s\n", v.Next, v.System)
		}
	}
	fmt.Fprintln(w)
}

func printStatus(w io.Writer, servers []model.ServerView, now time.Time) {
	if len(servers) == 0 {
		fmt.Fprintln(w, "No servers found. Start agents on the LAN (or `vigil fleet --state DIR`), or wait longer with --wait.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SYSTEM\tSERVER\tROLE\tHEALTH\tVENDOR ROLE\tADDRESS\tLAST SEEN\tNOTE")
	for _, s := range servers {
		seen := "never"
		if !s.LastSeen.IsZero() {
			seen = now.Sub(s.LastSeen).Round(time.Second).String() + " ago"
		}
		note := ""
		switch {
		case s.IdentityChanged:
			note = "IDENTITY CHANGED: not trusted; pair again if expected"
		case s.Conflict != "":
			note = "CONFLICT: " + s.Conflict
		case !s.Paired:
			note = "not paired (role from mDNS)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(s.System), dash(s.Name), s.Role, s.Health,
			dash(s.VendorRole), dash(s.Address), seen, note)
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
