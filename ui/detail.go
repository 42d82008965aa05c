package ui

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// This file holds the server pane's wording, as pure functions: what an
// operator reads at 3 a.m. is decided here and table-tested.

// paramSpec is one parameter of an action as the pane asks for it.
type paramSpec struct {
	key   string
	label string
	hint  string // placeholder text: an example of what goes there
	// declared, when set, makes the parameter a choice among the names the
	// agent declares, rather than free text.
	declared  func(*actions.Declared) []string
	multiline bool
	optional  bool
}

// actionKind is one action the pane can offer.
type actionKind struct {
	action string
	label  string // the menu entry, and the verb of the confirmation
	params []paramSpec
}

func declaredServices(d *actions.Declared) []string { return d.Services }
func declaredSettings(d *actions.Declared) []string { return d.Settings }
func declaredQueues(d *actions.Declared) []string   { return d.Queues }
func declaredCommands(d *actions.Declared) []string { return d.Commands }

var (
	serviceParams = []paramSpec{{key: "service", label: "Service", declared: declaredServices}}
	settingParams = []paramSpec{
		{key: "dir", label: "Settings dir", declared: declaredSettings},
		{key: "path", label: "File", hint: "AS_Service.exe.config"},
		{key: "key", label: "Key", hint: "Settings/IsSlave, Section.Key or a.b.0"},
	}
)

// actionKinds is every action, in the order the pane lists them: looking
// before changing.
var actionKinds = []actionKind{
	{actions.ServiceStatus, "Service status", serviceParams},
	{actions.ServiceStart, "Start service", serviceParams},
	{actions.ServiceStop, "Stop service", serviceParams},
	{actions.ServiceRestart, "Restart service", serviceParams},
	{actions.SettingsGet, "Read setting", settingParams},
	{actions.SettingsSet, "Change setting", append(slices.Clone(settingParams),
		paramSpec{key: "value", label: "New value", optional: true})},
	{actions.TaskfileDrop, "Drop task file", []paramSpec{
		{key: "queue", label: "Queue", declared: declaredQueues},
		{key: "name", label: "File name", hint: "Failover.UpdateSettingsOnSS"},
		{key: "content", label: "Content", multiline: true, optional: true},
	}},
	{actions.CommandRun, "Run command", []paramSpec{{key: "command", label: "Command", declared: declaredCommands}}},
}

// offeredActions is what the agent declares it may be asked: an action is
// offered only when there is something declared for it to act on.
func offeredActions(d *actions.Declared) []actionKind {
	if d == nil {
		return nil
	}
	var out []actionKind
	for _, k := range actionKinds {
		if len(k.params[0].declared(d)) > 0 {
			out = append(out, k)
		}
	}
	return out
}

func kindOf(action string) (actionKind, bool) {
	for _, k := range actionKinds {
		if k.action == action {
			return k, true
		}
	}
	return actionKind{}, false
}

// actionBlock says why the console cannot send an action to the server
// now, or "" when it can. mutating asks about a change; a read needs only
// the read permission.
func actionBlock(v model.ServerView, st actions.Status, haveStatus, mutating bool) string {
	name := displayName(v)
	if err := v.Refusal(); err != nil {
		return err.Error() + "." // the same guidance as `vigil action`
	}
	switch {
	case v.Health == model.HealthDown:
		return fmt.Sprintf("%s is down%s. Actions wait until the console hears from it again.", name, because(v.Detail))
	case v.Health == model.HealthUnreachable:
		return fmt.Sprintf("%s is unreachable%s. Actions wait until it answers again.", name, because(v.Detail))
	case v.Health != model.HealthUp && v.Health != model.HealthDegraded:
		return fmt.Sprintf("%s has not been heard from since the console started. Actions wait until it answers.", name)
	case !haveStatus:
		return fmt.Sprintf("Waiting for %s's status: what it may be asked to do is not known yet.", name)
	case mutating && (st.Declared == nil || !st.Declared.CanAct):
		return fmt.Sprintf("%s lets this console read but not act: its agent's config grants paired consoles "+
			"the read permission only. Service status and Read setting still work.", name)
	}
	return ""
}

func because(detail string) string {
	if detail == "" {
		return ""
	}
	return " (" + detail + ")"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// describeRequest says in plain words what a request does, without the
// server: "Stop service AS_Service".
func describeRequest(req actions.Request) string {
	p := req.Params
	switch req.Action {
	case actions.ServiceStart, actions.ServiceStop, actions.ServiceRestart:
		k, _ := kindOf(req.Action)
		return k.label + " " + p["service"]
	case actions.ServiceStatus:
		return "Status of service " + p["service"]
	case actions.SettingsGet:
		return fmt.Sprintf("Read %s from %s", p["key"], settingsFile(p))
	case actions.SettingsSet:
		return fmt.Sprintf("Set %s to %s in %s", p["key"], quoteShort(p["value"]), settingsFile(p))
	case actions.TaskfileDrop:
		return fmt.Sprintf("Drop task file %s into queue %s", p["name"], p["queue"])
	case actions.CommandRun:
		return "Run command " + p["command"]
	}
	return req.Action
}

// quoteShort quotes a value for a sentence, cut short if it is long: the
// preview shows it whole.
func quoteShort(s string) string {
	const most = 48
	if r := []rune(s); len(r) > most {
		return strconv.Quote(string(r[:most])) + "…"
	}
	return strconv.Quote(s)
}

func settingsFile(p map[string]string) string {
	return p["dir"] + "/" + strings.TrimLeft(p["path"], `/\`)
}

// confirmQuestion is the confirmation an operator answers before a change:
// "Stop service AS_Service on AccountServer-Master?"
func confirmQuestion(server string, req actions.Request) string {
	return describeRequest(req) + " on " + server + "?"
}

// missingParams lists the labels of required parameters left empty.
func missingParams(k actionKind, params map[string]string) []string {
	var out []string
	for _, p := range k.params {
		if !p.optional && strings.TrimSpace(params[p.key]) == "" {
			out = append(out, p.label)
		}
	}
	return out
}

// outcomeLine is the one line that says how a request ended, and how loud
// it is.
func outcomeLine(server string, req actions.Request, r actions.Result, err error) (line string, imp widget.Importance) {
	what := describeRequest(req)
	var ue *actions.UncertainError
	var ae *actions.AgentError
	switch {
	case errors.As(err, &ue):
		return fmt.Sprintf("No answer from %s: %s may or may not have been done. "+
			"Ask again to learn what happened: it resends the same request, which the agent never carries out twice.",
			server, lowerFirst(what)), widget.WarningImportance
	case errors.As(err, &ae):
		reason := ae.Result.Error
		if reason == "" {
			reason = ae.Error()
		}
		return fmt.Sprintf("%s refused to %s: %s", server, lowerFirst(what), reason), widget.DangerImportance
	case err != nil:
		return fmt.Sprintf("Not sent to %s: %s", server, actions.Explain(err)), widget.DangerImportance
	}
	switch r.State {
	case actions.StateDone:
		switch {
		case r.DryRun && r.Outcome != nil && !r.Outcome.Changed:
			return fmt.Sprintf("Preview: nothing would change on %s; it is already as asked.", server), widget.MediumImportance
		case r.DryRun:
			return fmt.Sprintf("Preview (nothing changed yet): %s on %s. Apply makes exactly the change below.", what, server),
				widget.HighImportance
		case actions.Mutating(r.Action) && (r.Outcome == nil || !r.Outcome.Changed):
			return fmt.Sprintf("Done: %s on %s; nothing needed changing.", what, server), widget.SuccessImportance
		}
		return fmt.Sprintf("Done: %s on %s.", what, server), widget.SuccessImportance
	case actions.StateFailed:
		return fmt.Sprintf("Failed: %s on %s: %s", what, server, r.Error), widget.DangerImportance
	case actions.StateIndeterminate:
		return fmt.Sprintf("Indeterminate: %s stopped while it was to %s, and did not do it again. Check the host before trying again.",
			server, lowerFirst(what)), widget.WarningImportance
	}
	return fmt.Sprintf("%s on %s: %s %s", what, server, r.State, r.Error), widget.WarningImportance
}

// lowerFirst fits a description into a sentence: "Stop service X" becomes
// "stop service X".
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// resultText is the detail of a result for the monospace box: what
// `vigil action` prints, so the two read the same.
func resultText(r actions.Result) string { return r.Say().Text() }

// serviceLook is how a service's state is shown: a word and an icon as well
// as a colour, so that it reads without colour.
type serviceLook struct {
	word       string
	importance widget.Importance
	icon       fyne.Resource
	bold       bool
}

func lookOfService(state string) serviceLook {
	switch actions.ServiceState(state) {
	case actions.ServiceRunning:
		return serviceLook{"running", widget.SuccessImportance, theme.NewSuccessThemedResource(theme.ConfirmIcon()), false}
	case actions.ServiceStopped:
		return serviceLook{"stopped", widget.WarningImportance, theme.NewWarningThemedResource(theme.MediaStopIcon()), false}
	case actions.ServiceFailed:
		return serviceLook{"FAILED", widget.DangerImportance, theme.NewErrorThemedResource(theme.ErrorIcon()), true}
	case actions.ServiceStarting:
		return serviceLook{"starting", widget.MediumImportance, theme.MediaPlayIcon(), false}
	case actions.ServiceStopping:
		return serviceLook{"stopping", widget.MediumImportance, theme.MediaPauseIcon(), false}
	}
	word := state
	if word == "" {
		word = "unknown"
	}
	return serviceLook{word, widget.LowImportance, theme.NewDisabledResource(theme.QuestionIcon()), false}
}

// sortedNames returns the keys of every map, once each, sorted.
func sortedNames(ms ...map[string]string) []string {
	var names []string
	for _, m := range ms {
		for k := range maps.Keys(m) {
			if !slices.Contains(names, k) {
				names = append(names, k)
			}
		}
	}
	slices.Sort(names)
	return names
}

// pairingLine says whether the console trusts the server.
func pairingLine(v model.ServerView) (string, widget.Importance) {
	switch {
	case v.IdentityChanged:
		return "IDENTITY CHANGED: another key than the pinned one; not trusted", widget.DangerImportance
	case v.Paired && v.Conflict != "":
		return "paired; ANOTHER HOST CLAIMS THIS SERVER: " + v.Conflict + " (this server is still watched at " + v.Address + ")", widget.WarningImportance
	case v.Paired:
		fp := v.Fingerprint
		if len(fp) > 16 {
			fp = fp[:16] + "…"
		}
		if fp == "" {
			return "paired", widget.MediumImportance
		}
		return "paired, key " + fp, widget.MediumImportance
	}
	return "not paired (role from mDNS, a hint only)", widget.WarningImportance
}

// systemLine names the system with its profile and site.
func systemLine(v model.ServerView) string {
	profile := v.Profile
	if profile == v.System {
		profile = "" // a simulated system is named after its profile
	}
	parts := slices.DeleteFunc([]string{systemTitle(v.System), profile, v.Site}, func(s string) bool { return s == "" })
	return strings.Join(parts, " · ")
}

// peerLook is how a peer link's state is shown: a word and an icon as well
// as a colour.
type peerLook struct {
	word       string
	importance widget.Importance
	icon       fyne.Resource
	bold       bool
}

func lookOfPeer(state string) peerLook {
	switch state {
	case "up":
		return peerLook{"up", widget.SuccessImportance, theme.NewSuccessThemedResource(theme.ConfirmIcon()), false}
	case "down":
		return peerLook{"DOWN", widget.DangerImportance, theme.NewErrorThemedResource(theme.CancelIcon()), true}
	}
	return peerLook{dash(state), widget.LowImportance, theme.NewDisabledResource(theme.QuestionIcon()), false}
}

// peerLine says how the agent sees a peer: "DOWN since 02:13:05 (3m ago):
// connection refused".
func peerLine(l actions.PeerLink, now time.Time) string {
	s := lookOfPeer(l.State).word
	if !l.Since.IsZero() {
		s += " since " + clockTime(l.Since, now) + " (" + relativeTime(l.Since, now) + ")"
	}
	switch {
	case l.State == "up" && l.Failing > 0:
		s += fmt.Sprintf("; its last %d check(s) failed: %s", l.Failing, l.Error)
	case l.Error != "":
		s += ": " + l.Error
	}
	return s
}

// clockTime is a time of day in local time, with the date when it is not
// today's.
func clockTime(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04")
}
