package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

const actionUsage = `usage: vigil action SERVER ACTION [KEY=VALUE]... [--dry-run] [--request-id ID] [--operator NAME] [--json] [--data DIR]

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
}

// parseActionArgs accepts flags before, between and after the positional
// arguments, as operators type them.
func parseActionArgs(args []string) (actionArgs, error) {
	a := actionArgs{params: map[string]string{}}
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
		case "request-id", "operator", "data":
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
	req := actions.Request{RequestID: a.requestID, Action: a.action, Params: a.params, DryRun: a.dryRun,
		Operator: a.operator, Epoch: consoleEpoch()}
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
	store, err := model.Open(dir)
	if err != nil {
		fmt.Fprintln(stderr, "vigil action:", err)
		return exitUsage
	}
	defer store.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := store.FindServer(ctx, a.server)
	if err != nil {
		fmt.Fprintln(stderr, "vigil action:", err)
		return exitUsage
	}
	switch {
	case srv.IdentityChanged:
		fmt.Fprintf(stderr, "vigil action: %s presents another key than the one pinned when it was paired; Vigil will not act on it.\n"+
			"If the host was reinstalled on purpose, run `vigil-agent pair-code` on it and `vigil pair %s --code CODE` here.\n", srv.Name, srv.Address)
		return exitFailed
	case !srv.Paired:
		fmt.Fprintf(stderr, "vigil action: %s is not paired with this console; run `vigil-agent pair-code --config FILE` on it, then `vigil pair %s --code CODE`\n",
			srv.Name, dash(srv.Address))
		return exitFailed
	}
	cert, _, err := actions.LoadConsoleIdentity(dir)
	if err != nil {
		fmt.Fprintln(stderr, "vigil action:", err)
		return exitFailed
	}

	rec := model.ActionRecord{RequestID: req.RequestID, AgentID: srv.ID, Server: srv.Name, Action: req.Action,
		DryRun: req.DryRun, Operator: req.Operator, Epoch: req.Epoch, Sent: time.Now().UTC()}
	if err := store.RecordActionSent(ctx, rec, req.Params); err != nil {
		// A resend of a known request id is fine: the record exists.
		if a.requestID == "" {
			fmt.Fprintln(stderr, "vigil action:", err)
			return exitFailed
		}
	}
	client := actions.NewClient(srv.Address, srv.Fingerprint, cert)
	defer client.Close()
	res, err := client.Do(ctx, req)
	state, detail := res.State, describeResult(res)
	var ue *actions.UncertainError
	var ae *actions.AgentError
	switch {
	case errors.As(err, &ue):
		state, detail = "uncertain", err.Error()
	case errors.As(err, &ae):
		state, detail = actions.StateRefused, ae.Result.Error
	case err != nil:
		state, detail = "error", err.Error()
	}
	if rerr := store.RecordActionResult(context.WithoutCancel(ctx), req.RequestID, state, detail, time.Now().UTC()); rerr != nil {
		fmt.Fprintln(stderr, "vigil action:", rerr)
	}

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

// consoleEpoch orders consoles: a console that acts later has a higher
// epoch, so an agent refuses what a console left behind by a newer one sends.
func consoleEpoch() uint64 { return uint64(time.Now().UnixMilli()) }

func describeResult(r actions.Result) string {
	if r.Error != "" {
		return r.Error
	}
	if r.Outcome != nil {
		return r.Outcome.Diff
	}
	return ""
}

func printResult(w io.Writer, server string, r actions.Result) {
	mode := ""
	if r.DryRun {
		mode = " (dry run: nothing was changed)"
	}
	fmt.Fprintf(w, "%s on %s: %s%s\n", r.Action, server, r.State, mode)
	if r.Error != "" {
		fmt.Fprintf(w, "error: %s\n", r.Error)
	}
	if o := r.Outcome; o != nil {
		if o.Value != "" {
			fmt.Fprintf(w, "value: %s\n", o.Value)
		}
		switch {
		case o.Diff != "":
			fmt.Fprintln(w, strings.TrimRight(o.Diff, "\n"))
		case !o.Changed && actions.Mutating(r.Action):
			fmt.Fprintln(w, "no change: already as asked")
		}
		if o.ExitCode != nil {
			fmt.Fprintf(w, "exit status: %d\n", *o.ExitCode)
		}
		if o.Output != "" {
			fmt.Fprintln(w, strings.TrimRight(o.Output, "\n"))
		}
		if o.Backup != "" {
			fmt.Fprintf(w, "previous file kept as %s\n", o.Backup)
		}
	}
	fmt.Fprintf(w, "request id: %s\n", r.RequestID)
}
