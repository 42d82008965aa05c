package procedure

import (
	"fmt"
	"strings"

	"github.com/vigilops/vigil/actions"
)

// The words for a run's requests and their outcomes: what a request does
// and how it ended, for the run's records, its report and the wizard.

// Describe says in words what a request does: "stop service
// k2-media-server on K2server1".
func Describe(action string, params map[string]string, server string) string {
	var s string
	switch action {
	case actions.ServiceStart, actions.ServiceStop, actions.ServiceRestart:
		s = strings.TrimPrefix(action, "service.") + " service " + params["service"]
	case actions.ServiceStatus:
		s = "read the state of service " + params["service"]
	case actions.SettingsGet:
		s = fmt.Sprintf("read %s in %s (%s)", params["key"], params["path"], params["dir"])
	case actions.SettingsSet:
		s = fmt.Sprintf("set %s to %q in %s (%s)", params["key"], params["value"], params["path"], params["dir"])
	case actions.TaskfileDrop:
		s = fmt.Sprintf("drop task file %s into queue %s", params["name"], params["queue"])
	case actions.CommandRun:
		s = "run command " + params["command"]
	default:
		s = action
	}
	return s + " on " + server
}

// describeOutcome is one line of evidence for a request's result.
func describeOutcome(server string, res actions.Result, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s: ", res.Action, server)
	switch {
	case err != nil && res.State == "":
		b.WriteString("error: " + err.Error())
	default:
		b.WriteString(res.State)
		if res.DryRun {
			b.WriteString(" (dry run)")
		}
		if res.Error != "" {
			b.WriteString(": " + res.Error)
		}
	}
	if o := res.Outcome; o != nil {
		switch {
		case o.Diff != "":
			b.WriteString("; " + strings.TrimSpace(o.Diff))
		case o.Value != "":
			b.WriteString("; value " + o.Value)
		case !o.Changed && actions.Mutating(res.Action):
			b.WriteString("; no change: already as asked")
		}
		if o.ExitCode != nil {
			fmt.Fprintf(&b, "; exit status %d", *o.ExitCode)
		}
		if o.Output != "" {
			out := strings.TrimSpace(o.Output)
			if len(out) > 300 {
				out = out[:300] + "…"
			}
			b.WriteString("; output: " + strings.ReplaceAll(out, "\n", " / "))
		}
	}
	if res.RequestID != "" {
		b.WriteString(" [request " + res.RequestID + "]")
	}
	return b.String()
}

// shortOutcome is a request's result in one short line, for a step's
// result: the state, the first line of the change, the exit status.
func shortOutcome(server string, res actions.Result, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s: ", res.Action, server)
	switch {
	case err != nil && res.State == "":
		b.WriteString("error: " + err.Error())
		return b.String()
	default:
		b.WriteString(res.State)
		if res.DryRun {
			b.WriteString(" (dry run)")
		}
		if res.Error != "" {
			b.WriteString(": " + res.Error)
		}
	}
	if o := res.Outcome; o != nil {
		diff, _, _ := strings.Cut(strings.TrimSpace(o.Diff), "\n")
		switch {
		case res.Action == actions.CommandRun:
		case diff != "":
			if len(diff) > 160 {
				diff = diff[:160] + "…"
			}
			b.WriteString("; " + diff)
		case o.Value != "":
			b.WriteString("; value " + o.Value)
		case !o.Changed && actions.Mutating(res.Action):
			b.WriteString("; no change: already as asked")
		}
		if o.ExitCode != nil {
			fmt.Fprintf(&b, "; exit status %d", *o.ExitCode)
		}
	}
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
