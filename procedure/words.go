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
	head := res.Action + " on " + server + ": "
	if err != nil && res.State == "" {
		return head + "error: " + err.Error()
	}
	line := head + res.Say().Line(300)
	if res.RequestID != "" {
		line += " [request " + res.RequestID + "]"
	}
	return line
}

// shortOutcome is a request's result in one short line, for a step's
// result: the state, the first line of the change, the exit status.
func shortOutcome(server string, res actions.Result, err error) string {
	head := res.Action + " on " + server + ": "
	if err != nil && res.State == "" {
		return head + "error: " + err.Error()
	}
	said := res.Say()
	parts := []string{said.Head()}
	if c := said.FirstChange(160); c != "" && res.Action != actions.CommandRun {
		parts = append(parts, c)
	}
	if said.Exit != "" {
		parts = append(parts, said.Exit)
	}
	return head + strings.Join(parts, "; ")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
