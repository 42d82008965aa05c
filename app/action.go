package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/console"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/store"
)

const actionUsage = `usage: vigil action SERVER ACTION [KEY=VALUE]... [--dry-run] [--request-id ID] [--operator NAME] [--timeout D] [--json] [--data DIR]

When no answer comes within the timeout (default 30s), the action may or may
not have been done; on a terminal you are asked whether to ask the agent again
with the same request id, which never makes it act twice.

actions: service.start, service.stop, service.restart, service.status (service=NAME)
         settings.get, settings.set (dir=NAME path=FILE key=KEY [value=VALUE])
         taskfile.drop (queue=NAME name=FILE [content=TEXT])
         command.run (command=NAME)
`

// actionArgs is a parsed `vigil action` command line.
type actionArgs struct {
	server, action            string
	params                    map[string]string
	dryRun, asJSON            bool
	requestID, operator, data string
	timeout                   time.Duration // how long to wait for an answer before asking the operator

	interactive bool      // stdin is a terminal where the operator can answer
	stdin       io.Reader // where answers come from
}

// parseActionArgs accepts flags before, between and after the positional
// arguments, as operators type them.
func parseActionArgs(args []string) (actionArgs, error) {
	a := actionArgs{params: map[string]string{}, timeout: actions.DefaultDoTimeout}
	var pos []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") {
			pos = append(pos, arg)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		switch name {
		case "dry-run", "json":
			if hasValue {
				return a, fmt.Errorf("--%s takes no value", name)
			}
			if name == "dry-run" {
				a.dryRun = true
			} else {
				a.asJSON = true
			}
		case "request-id", "operator", "data", "timeout":
			if !hasValue {
				if i+1 >= len(args) {
					return a, fmt.Errorf("--%s needs a value", name)
				}
				i++
				value = args[i]
			}
			switch name {
			case "request-id":
				a.requestID = value
			case "operator":
				a.operator = value
			case "data":
				a.data = value
			case "timeout":
				d, err := time.ParseDuration(value)
				if err != nil || d <= 0 {
					return a, fmt.Errorf("--timeout %q: expected a duration such as 30s or 2m", value)
				}
				a.timeout = d
			}
		default:
			return a, fmt.Errorf("unknown flag %s", arg)
		}
	}
	if len(pos) < 2 {
		return a, errors.New("SERVER and ACTION are required")
	}
	a.server, a.action = pos[0], pos[1]
	for _, kv := range pos[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return a, fmt.Errorf("parameter %q is not KEY=VALUE", kv)
		}
		if _, dup := a.params[k]; dup {
			return a, fmt.Errorf("parameter %s given twice", k)
		}
		a.params[k] = v
	}
	return a, nil
}

func actionCmd(args []string, stdout, stderr io.Writer) int {
	a, err := parseActionArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "vigil action: %v\n%s", err, actionUsage)
		return exitUsage
	}
	if a.operator == "" {
		a.operator = os.Getenv("USER")
	}
	a.stdin = os.Stdin
	a.interactive = !a.asJSON && isTerminal(os.Stdin)
	return runAction(a, stdout, stderr)
}

// runAction sends the parsed action and reports its outcome.
func runAction(a actionArgs, stdout, stderr io.Writer) int {
	req := actions.Request{RequestID: a.requestID, Action: a.action, Params: a.params, DryRun: a.dryRun,
		Operator: a.operator}
	if req.RequestID == "" {
		req.RequestID = actions.NewRequestID()
	}
	if err := req.Validate(); err != nil {
		fmt.Fprintf(stderr, "vigil action: %v\n", err)
		return exitUsage
	}
	dir, err := resolveDataDir(a.data)
	if err != nil {
		fmt.Fprintln(stderr, "vigil action:", err)
		return exitUsage
	}
	db, err := store.Open(dir)
	if err != nil {
		fmt.Fprintln(stderr, "vigil action:", err)
		return exitUsage
	}
	defer db.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := db.FindServer(ctx, a.server)
	if err != nil {
		fmt.Fprintln(stderr, "vigil action:", err)
		return exitUsage
	}
	if err := srv.Refusal(); err != nil {
		fmt.Fprintf(stderr, "vigil action: %v.\n", err)
		return exitFailed
	}
	cert, _, err := actions.LoadConsoleIdentity(dir)
	if err != nil {
		fmt.Fprintln(stderr, "vigil action:", err)
		return exitFailed
	}

	// The epoch goes one past the highest the agent has accepted, when
	// that is ahead of this machine's clock (actions.EpochAfter).
	var seen uint64
	sctx, cancel := context.WithTimeout(ctx, min(a.timeout, 5*time.Second))
	client := actions.NewClient(srv.Address, srv.Fingerprint, cert)
	if st, err := client.Status(sctx); err == nil {
		seen = st.Epoch
	}
	client.Close()
	cancel()
	req.Epoch = actions.EpochAfter(time.Now(), seen)

	sender := &console.Sender{Store: db, Cert: cert}
	timeout := a.timeout
	for {
		actx, cancel := context.WithTimeout(ctx, timeout)
		res, err := sender.Send(actx, srv, req, a.requestID != "")
		cancel()
		var ue *actions.UncertainError
		if !errors.As(err, &ue) || ctx.Err() != nil {
			return reportAction(stdout, stderr, a, srv, req, res, err)
		}
		// The agent may or may not have acted. Resending the same request id
		// is safe (it never acts twice) but may act now, long after the
		// operator asked: so the operator decides.
		fmt.Fprintf(stderr, "vigil action: no answer from %s for %v: %s may or may not have been done.\n", srv.Name, timeout, req.Action)
		if !a.interactive || !askYes(a.stdin, stderr, fmt.Sprintf("Ask %s again with the same request id (it will not act twice)? [y/N] ", srv.Name)) {
			fmt.Fprintf(stderr, "To learn the outcome later, run: vigil action %s --request-id %s\n", actionCommandLine(a), req.RequestID)
			return exitFailed
		}
		a.requestID = req.RequestID // the record exists now
	}
}

// askYes asks a yes/no question on the terminal; anything but yes is no.
func askYes(in io.Reader, out io.Writer, question string) bool {
	fmt.Fprint(out, question)
	line, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// actionCommandLine repeats the operator's action, for a hint.
func actionCommandLine(a actionArgs) string {
	parts := []string{shellQuote(a.server), shellQuote(a.action)}
	keys := make([]string, 0, len(a.params))
	for k := range a.params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, shellQuote(k+"="+a.params[k]))
	}
	if a.dryRun {
		parts = append(parts, "--dry-run")
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '/' || r == '=' || r == ':' || r == ',' ||
			'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// reportAction prints an action's outcome and returns the exit status.
func reportAction(stdout, stderr io.Writer, a actionArgs, srv model.ServerView, req actions.Request, res actions.Result, err error) int {
	var ae *actions.AgentError
	errors.As(err, &ae)
	if a.asJSON && err == nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	}
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "vigil action: %s on %s: %v\n", req.Action, srv.Name, err)
		if ae != nil && ae.Status == 400 {
			return exitUsage
		}
		return exitFailed
	case !a.asJSON:
		printResult(stdout, srv.Name, res)
	}
	if res.State != actions.StateDone {
		return exitFailed
	}
	return exitOK
}

func printResult(w io.Writer, server string, r actions.Result) {
	fmt.Fprintf(w, "%s on %s: %s\n%s\n", r.Action, server, r.State, r.Say().Text())
}

// isTerminal says whether f is a terminal an operator types into.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
