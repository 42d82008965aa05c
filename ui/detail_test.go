package ui

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

func TestOfferedActions(t *testing.T) {
	tests := []struct {
		declared *actions.Declared
		want     []string
	}{
		{nil, nil},
		{&actions.Declared{}, nil},
		{&actions.Declared{Services: []string{"K2Server"}},
			[]string{actions.ServiceStatus, actions.ServiceStart, actions.ServiceStop, actions.ServiceRestart}},
		{&actions.Declared{Settings: []string{"as"}}, []string{actions.SettingsGet, actions.SettingsSet}},
		{&actions.Declared{Queues: []string{"tasks"}}, []string{actions.TaskfileDrop}},
		{&actions.Declared{Commands: []string{"db-backup"}}, []string{actions.CommandRun}},
	}
	for _, tt := range tests {
		var got []string
		for _, k := range offeredActions(tt.declared) {
			got = append(got, k.action)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("offeredActions(%+v) = %q, want %q", tt.declared, got, tt.want)
		}
	}
}

func TestActionBlock(t *testing.T) {
	up := model.ServerView{ID: "a", Name: "AS-1", Paired: true, Health: model.HealthUp, Address: "10.0.0.5:7443"}
	can := actions.Status{Declared: &actions.Declared{CanAct: true}}
	readOnly := actions.Status{Declared: &actions.Declared{}}
	with := func(f func(*model.ServerView)) model.ServerView { v := up; f(&v); return v }
	tests := []struct {
		name     string
		view     model.ServerView
		status   actions.Status
		have     bool
		mutating bool
		want     string // a part of the reason; "" for none
	}{
		{"up and allowed", up, can, true, true, ""},
		{"degraded still acts", with(func(v *model.ServerView) { v.Health = model.HealthDegraded }), can, true, true, ""},
		{"identity changed", with(func(v *model.ServerView) { v.IdentityChanged = true }), can, true, false,
			"AS-1 presents another key than the one pinned when it was paired; Vigil will not act on it. If the host was reinstalled on purpose, run `vigil-agent pair-code` on it and `vigil pair 10.0.0.5:7443 --code CODE` here."},
		{"not paired", with(func(v *model.ServerView) { v.Paired = false }), can, true, false,
			"AS-1 is not paired with this console; run `vigil-agent pair-code --config FILE` on it, then `vigil pair 10.0.0.5:7443 --code CODE`."},
		{"not paired, no address", with(func(v *model.ServerView) { v.Paired, v.Address = false, "" }), can, false, false, "`vigil pair - --code CODE`"},
		{"down", with(func(v *model.ServerView) { v.Health, v.Detail = model.HealthDown, "EOF" }), can, true, false, "AS-1 is down (EOF)."},
		{"unreachable", with(func(v *model.ServerView) { v.Health = model.HealthUnreachable }), can, true, false, "AS-1 is unreachable."},
		{"unknown", with(func(v *model.ServerView) { v.Health = model.HealthUnknown }), can, true, false, "not been heard from"},
		{"no status", up, actions.Status{}, false, false, "Waiting for AS-1's status"},
		{"read only, a change", up, readOnly, true, true, "read but not act"},
		{"read only, a read", up, readOnly, true, false, ""},
		{"nothing declared, a change", up, actions.Status{}, true, true, "read but not act"},
	}
	for _, tt := range tests {
		got := actionBlock(tt.view, tt.status, tt.have, tt.mutating)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestConfirmQuestion(t *testing.T) {
	tests := []struct {
		action string
		params map[string]string
		want   string
	}{
		{actions.ServiceStop, map[string]string{"service": "AS_Service"}, "Stop service AS_Service on AccountServer-Master?"},
		{actions.ServiceStart, map[string]string{"service": "K2Server"}, "Start service K2Server on AccountServer-Master?"},
		{actions.ServiceRestart, map[string]string{"service": "K2Server"}, "Restart service K2Server on AccountServer-Master?"},
		{actions.SettingsSet, map[string]string{"dir": "as", "path": "AS.config", "key": "Settings/IsSlave", "value": "True"},
			`Set Settings/IsSlave to "True" in as/AS.config on AccountServer-Master?`},
		{actions.SettingsSet, map[string]string{"dir": "as", "path": "/a.ini", "key": "k", "value": strings.Repeat("x", 100)},
			`Set k to "` + strings.Repeat("x", 48) + `"… in as/a.ini on AccountServer-Master?`},
		{actions.TaskfileDrop, map[string]string{"queue": "as-tasks", "name": "Failover.UpdateSettingsOnSS"},
			"Drop task file Failover.UpdateSettingsOnSS into queue as-tasks on AccountServer-Master?"},
		{actions.CommandRun, map[string]string{"command": "db-backup"}, "Run command db-backup on AccountServer-Master?"},
	}
	for _, tt := range tests {
		got := confirmQuestion("AccountServer-Master", actions.Request{Action: tt.action, Params: tt.params})
		if got != tt.want {
			t.Errorf("%s: %q, want %q", tt.action, got, tt.want)
		}
	}
}

func TestOutcomeLine(t *testing.T) {
	stop := actions.Request{Action: actions.ServiceStop, Params: map[string]string{"service": "AS_Service"}}
	res := func(state string, dry, changed bool) actions.Result {
		return actions.Result{State: state, Action: actions.ServiceStop, DryRun: dry, Outcome: &actions.Outcome{Changed: changed}, Error: "exit 1"}
	}
	tests := []struct {
		name string
		res  actions.Result
		err  error
		want string
		imp  widget.Importance
	}{
		{"uncertain", actions.Result{}, &actions.UncertainError{RequestID: "r1", Last: errors.New("timeout")},
			"No answer from AS-1: stop service AS_Service may or may not have been done.", widget.WarningImportance},
		{"refused", actions.Result{}, &actions.AgentError{Status: 403, Result: actions.Result{Error: "refused: service X is not declared"}},
			"AS-1 refused to stop service AS_Service: refused: service X is not declared", widget.DangerImportance},
		{"not sent", actions.Result{}, errors.New("AS-1 is not paired"), "Not sent to AS-1: AS-1 is not paired", widget.DangerImportance},
		{"preview", res(actions.StateDone, true, true), nil, "Preview (nothing changed yet): Stop service AS_Service on AS-1.", widget.HighImportance},
		{"preview, no change", res(actions.StateDone, true, false), nil, "Preview: nothing would change on AS-1", widget.MediumImportance},
		{"done", res(actions.StateDone, false, true), nil, "Done: Stop service AS_Service on AS-1.", widget.SuccessImportance},
		{"done, nothing to do", res(actions.StateDone, false, false), nil, "nothing needed changing", widget.SuccessImportance},
		{"failed", res(actions.StateFailed, false, false), nil, "Failed: Stop service AS_Service on AS-1: exit 1", widget.DangerImportance},
		{"indeterminate", res(actions.StateIndeterminate, false, false), nil, "Indeterminate: AS-1 stopped while it was to stop service AS_Service", widget.WarningImportance},
	}
	for _, tt := range tests {
		line, imp := outcomeLine("AS-1", stop, tt.res, tt.err)
		if !strings.HasPrefix(line, tt.want) && !strings.Contains(line, tt.want) || imp != tt.imp {
			t.Errorf("%s: %q (%v), want %q (%v)", tt.name, line, imp, tt.want, tt.imp)
		}
	}
}

func TestResultText(t *testing.T) {
	code := 3
	got := resultText(actions.Result{RequestID: "0190-r", State: actions.StateDone, Action: actions.CommandRun,
		Outcome: &actions.Outcome{Changed: true, Diff: "run db-backup: backup.exe --now\n", Output: "copied 12 files\n", ExitCode: &code}})
	want := "state: done\nrun db-backup: backup.exe --now\nexit status 3\noutput:\ncopied 12 files\nrequest id: 0190-r"
	if got != want {
		t.Errorf("command result:\n%s\nwant:\n%s", got, want)
	}
	got = resultText(actions.Result{RequestID: "0190-s", State: actions.StateDone, Action: actions.SettingsSet, DryRun: true,
		Outcome: &actions.Outcome{}})
	want = "state: done (dry run: nothing was changed)\nno change: already as asked\nrequest id: 0190-s"
	if got != want {
		t.Errorf("no-change result:\n%s\nwant:\n%s", got, want)
	}
}

func TestLookOfService(t *testing.T) {
	seen := map[widget.Importance]string{}
	for _, state := range []string{"running", "stopped", "failed"} {
		look := lookOfService(state)
		if look.icon == nil || look.word == "" {
			t.Errorf("%s: no word or icon", state)
		}
		if other, dup := seen[look.importance]; dup {
			t.Errorf("%s and %s have the same colour", state, other)
		}
		seen[look.importance] = state
	}
	if !lookOfService("failed").bold || lookOfService("failed").word != "FAILED" {
		t.Error("a failed service does not stand out")
	}
	if got := lookOfService("").word; got != "unknown" {
		t.Errorf("empty state reads %q, want unknown", got)
	}
	if got := lookOfService("paused").word; got != "paused" {
		t.Errorf("a state the console does not know reads %q, want it as the agent said", got)
	}
}

// A truncating label is measured at its text's width, the width the same
// label takes when it does not truncate (and a pixel or two to spare), so a
// row shows it whole when there is room.
func TestNaturalWidthOfTruncatingLabel(t *testing.T) {
	test.NewTempApp(t)
	for _, text := range []string{"Master AccountServer", "physical server hosting a logical server", "x"} {
		whole := widget.NewLabel(text)
		whole.TextStyle.Italic = true
		cut := widget.NewLabel(text)
		cut.TextStyle.Italic = true
		cut.Truncation = fyne.TextTruncateEllipsis
		if got, want := naturalWidth(cut), whole.MinSize().Width; got < want || got > want+3 {
			t.Errorf("%q: natural width %v, want %v", text, got, want)
		}
	}
}

// The pane's trust line says, before anything else, that another host
// claims the server, and where the console still watches it.
func TestPairingLineShowsAConflict(t *testing.T) {
	v := model.ServerView{Paired: true, Fingerprint: "0123456789abcdef0123", Address: "10.0.0.5:7443",
		Conflict: "10.0.0.9:7443 announces this server's id with key fedcba9876543210…, not the pinned one"}
	text, imp := pairingLine(v)
	if !strings.Contains(text, "ANOTHER HOST CLAIMS THIS SERVER") || !strings.Contains(text, "10.0.0.9:7443") ||
		!strings.Contains(text, "still watched at 10.0.0.5:7443") || imp != widget.WarningImportance {
		t.Errorf("pairing line %q (%v)", text, imp)
	}
	v.Conflict = ""
	if text, _ := pairingLine(v); text != "paired, key 0123456789abcdef…" {
		t.Errorf("without a conflict: %q", text)
	}
}
