package app

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vigilops/vigil/model"
)

// watchCmd prints events as the console detects them, until interrupted.
func watchCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	data := dataDirFlag(fs)
	asJSON := fs.Bool("json", false, "one JSON object a line (DESIGN.md's shape)")
	opts := consoleFlags(fs)
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if err := opts.check(); err != nil {
		fmt.Fprintln(stderr, "vigil watch:", err)
		return exitUsage
	}
	var events <-chan model.Event
	cancel := func() {}
	opts.prepare = func(c *core) { events, cancel = c.mon.SubscribeEvents() }
	c, ctx, closeConsole, code := openCLIConsoleWith("watch", *data, *opts, stderr)
	if c == nil {
		return code
	}
	defer closeConsole()
	defer cancel()
	enc := json.NewEncoder(stdout)
	if !*asJSON {
		fmt.Fprintln(stderr, "vigil watch: watching; events appear as they happen (Ctrl-C to stop)")
	}
	for {
		select {
		case <-ctx.Done():
			return exitOK
		case e, ok := <-events:
			if !ok {
				return exitOK
			}
			if *asJSON {
				if err := enc.Encode(e); err != nil {
					return exitFailed
				}
				continue
			}
			fmt.Fprintln(stdout, formatEvent(e))
		}
	}
}

// formatEvent is one line an operator can read at a glance.
func formatEvent(e model.Event) string {
	where := e.System
	if e.Server != "" {
		where += "/" + e.Server
	}
	change := ""
	if e.From != "" || e.To != "" {
		change = fmt.Sprintf(" %s → %s", dash(e.From), dash(e.To))
	}
	line := fmt.Sprintf("%s  %-8s  %-30s %s%s", e.Time.Local().Format("2006-01-02 15:04:05"), strings.ToUpper(string(e.Severity)), where, e.Kind, change)
	if e.Detail != "" {
		line += ": " + e.Detail
	}
	return line
}
