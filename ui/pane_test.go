package ui

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// fakeOperator stands in for the console: statuses set by the test, and
// requests answered by the test's answer function, optionally held at a
// gate so that the test can look at the pane while it waits.
type fakeOperator struct {
	mu     sync.Mutex
	status map[string]actions.Status
	sent   []actions.Request
	answer func(actions.Request) (actions.Result, error)
	gate   chan struct{} // when set, each request waits for a value on it
	next   int
}

var _ Operator = (*fakeOperator)(nil)

func newFakeOperator() *fakeOperator {
	return &fakeOperator{status: map[string]actions.Status{}}
}

func (f *fakeOperator) Status(id string) (actions.Status, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.status[id]
	return st, ok
}

func (f *fakeOperator) setStatus(id string, st actions.Status) {
	f.mu.Lock()
	f.status[id] = st
	f.mu.Unlock()
}

func (f *fakeOperator) OperatorName() string { return "ana" }

// Act gives a new request an id, as the console does, and records it.
func (f *fakeOperator) Act(ctx context.Context, _ string, req actions.Request) (actions.Result, error) {
	f.mu.Lock()
	if req.RequestID == "" {
		f.next++
		req.RequestID = fmt.Sprintf("0190f000-0000-7000-8000-%012d", f.next)
	}
	f.sent = append(f.sent, req)
	answer, gate := f.answer, f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return actions.Result{}, &actions.UncertainError{RequestID: req.RequestID, Last: ctx.Err()}
		}
	}
	if answer == nil {
		return actions.Result{RequestID: req.RequestID, State: actions.StateDone, Action: req.Action, DryRun: req.DryRun,
			Outcome: &actions.Outcome{}}, nil
	}
	return answer(req)
}

func (f *fakeOperator) setAnswer(answer func(actions.Request) (actions.Result, error)) {
	f.mu.Lock()
	f.answer = answer
	f.mu.Unlock()
}

func (f *fakeOperator) requests() []actions.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// done answers a request as an agent that carried it out.
func done(req actions.Request, o actions.Outcome) actions.Result {
	return actions.Result{RequestID: req.RequestID, State: actions.StateDone, Action: req.Action, DryRun: req.DryRun, Outcome: &o}
}

func pairedRedstor() []model.ServerView {
	pair := redstorPair()
	for i := range pair {
		pair[i].Paired = true
		pair[i].Address = fmt.Sprintf("127.0.0.1:%d", 7443+i)
	}
	return pair
}

// paneFor selects a server by tapping its row, as an operator does.
func paneFor(t *testing.T, v *View, id string) *ServerPane {
	t.Helper()
	row, ok := v.board.rows[id]
	if !ok {
		t.Fatalf("no row for %s", id)
	}
	test.Tap(row.tap)
	if v.pane == nil || v.pane.view.ID != id || !v.holder.Visible() {
		t.Fatalf("tapping %s's row did not show its pane", id)
	}
	return v.pane
}

// texts lists the text of every label in o, in order.
func texts(o fyne.CanvasObject) []string {
	var out []string
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if !o.Visible() {
			return
		}
		switch x := o.(type) {
		case *widget.Label:
			out = append(out, x.Text)
		case *fyne.Container:
			for _, c := range x.Objects {
				walk(c)
			}
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(x).Objects() {
				walk(c)
			}
		}
	}
	walk(o)
	return out
}

func has(list []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(list, w) {
			return false
		}
	}
	return true
}

func TestSelectingARowShowsThePane(t *testing.T) {
	op := newFakeOperator()
	op.setStatus("a", actions.Status{
		AgentID:    "a",
		Services:   map[string]string{"AS_Service": "running", "SS_Service": "stopped", "Mirror": "failed"},
		Facts:      map[string]string{"mirror_lag_seconds": "12"},
		FactErrors: map[string]string{"qualified": "read ss/qualified: no such file"},
		Declared:   &actions.Declared{Services: []string{"AS_Service"}, CanAct: true},
	})
	feed := newFakeFeed(0, pairedRedstor()...)
	v, q, ticks := startView(t, feed, op, time.Now)
	if v.holder.Visible() {
		t.Fatal("a pane is open before any server was selected")
	}

	p := paneFor(t, v, "a")
	if p.title.Text != "AS-1" || p.badge.Text() != "PRIMARY" || p.vendor.Text != "Master AccountServer" {
		t.Errorf("pane header = %q %q %q, want AS-1 PRIMARY Master AccountServer", p.title.Text, p.badge.Text(), p.vendor.Text)
	}
	if !strings.HasPrefix(p.health.Text, "Up") || p.address.Text != "127.0.0.1:7443" || !strings.HasPrefix(p.pairing.Text, "paired") {
		t.Errorf("health %q, address %q, pairing %q", p.health.Text, p.address.Text, p.pairing.Text)
	}
	services := texts(p.services)
	if want := []string{"AS_Service", "running", "Mirror", "FAILED", "SS_Service", "stopped"}; !has(services, want...) {
		t.Errorf("services show %q, want %q", services, want)
	}
	facts := texts(p.facts)
	if !has(facts, "mirror_lag_seconds", "mirror lag 12 s, limit 15 min", "qualified", "cannot read: read ss/qualified: no such file") {
		t.Errorf("facts show %q", facts)
	}
	if v.board.rows["a"].mark.FillColor == v.board.rows["b"].mark.FillColor {
		t.Error("the selected row is not highlighted")
	}
	if v.board.rows["b"].times.Visible() {
		t.Error("the board beside the pane still shows the times column")
	}

	// The status changes without a change the feed reports: the pane
	// follows on the next tick.
	op.setStatus("a", actions.Status{AgentID: "a", Services: map[string]string{"AS_Service": "stopped"},
		Declared: &actions.Declared{Services: []string{"AS_Service"}, CanAct: true}})
	ticks <- time.Now()
	q.waitFor(t, "the pane to show AS_Service stopped", func() bool {
		got := texts(p.services)
		return has(got, "stopped") && !has(got, "running")
	})

	// A feed update of the selected server reaches the pane.
	down := pairedRedstor()[0]
	down.Health, down.Detail = model.HealthDown, "connection refused"
	feed.updates <- down
	q.waitFor(t, "the pane to show AS-1 down", func() bool { return strings.HasPrefix(p.health.Text, "Down") })
	if !p.blockRow.Visible() || !strings.Contains(p.block.Text, "AS-1 is down (connection refused)") {
		t.Errorf("actions on a down server: block %v %q", p.blockRow.Visible(), p.block.Text)
	}

	// Another row switches the pane; closing gives the board the window.
	if pb := paneFor(t, v, "b"); pb == p {
		t.Error("AS-2 shows AS-1's pane")
	}
	v.Close()
	if v.holder.Visible() || !v.board.rows["b"].times.Visible() {
		t.Error("closing the pane left it open or the board compact")
	}
}

func TestPaneOffersOnlyDeclaredActions(t *testing.T) {
	tests := []struct {
		name     string
		declared *actions.Declared
		want     []string
	}{
		{"services and settings", &actions.Declared{Services: []string{"AS_Service"}, Settings: []string{"as"}, CanAct: true},
			[]string{"Service status", "Start service", "Stop service", "Restart service", "Read setting", "Change setting"}},
		{"queues and commands", &actions.Declared{Queues: []string{"as-tasks"}, Commands: []string{"db-backup"}, CanAct: true},
			[]string{"Drop task file", "Run command"}},
		{"nothing", &actions.Declared{CanAct: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newFakeOperator()
			op.setStatus("a", actions.Status{AgentID: "a", Declared: tt.declared})
			v, _, _ := startView(t, newFakeFeed(0, pairedRedstor()...), op, time.Now)
			p := paneFor(t, v, "a")
			if !slices.Equal(p.chooser.Options, tt.want) {
				t.Errorf("offered %q, want %q", p.chooser.Options, tt.want)
			}
			if p.chooser.Disabled() != (len(tt.want) == 0) {
				t.Errorf("chooser disabled = %v with %d actions offered", p.chooser.Disabled(), len(tt.want))
			}
		})
	}
}

func TestPaneDisablesActionsWithTheReason(t *testing.T) {
	declared := &actions.Declared{Services: []string{"AS_Service"}, CanAct: true}
	tests := []struct {
		name   string
		view   func(*model.ServerView)
		status bool
		reason string
	}{
		{"not paired", func(v *model.ServerView) { v.Paired, v.Health = false, model.HealthUnknown }, false,
			"AS-1 is not paired with this console; run `vigil-agent pair-code --config FILE` on it, then `vigil pair 127.0.0.1:7443 --code CODE`."},
		{"not paired with a stale status", func(v *model.ServerView) { v.Paired = false }, true, "is not paired with this console"},
		{"identity changed", func(v *model.ServerView) { v.IdentityChanged = true }, true, "presents another key than the one pinned"},
		{"unreachable", func(v *model.ServerView) { v.Health = model.HealthUnreachable }, true, "AS-1 is unreachable"},
		{"no status yet", func(v *model.ServerView) {}, false, "Waiting for AS-1's status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newFakeOperator()
			if tt.status {
				op.setStatus("a", actions.Status{AgentID: "a", Declared: declared})
			}
			servers := pairedRedstor()
			tt.view(&servers[0])
			v, _, _ := startView(t, newFakeFeed(0, servers...), op, time.Now)
			p := paneFor(t, v, "a")
			if !p.chooser.Disabled() {
				t.Error("actions can be chosen")
			}
			if !p.blockRow.Visible() || !strings.Contains(p.block.Text, tt.reason) {
				t.Errorf("reason shown %v: %q, want it to contain %q", p.blockRow.Visible(), p.block.Text, tt.reason)
			}
			// Even an action chosen behind the chooser's back cannot be sent.
			p.choose("Stop service")
			if p.kind != nil && (!p.preview.Disabled() || !p.apply.Disabled()) {
				t.Error("Preview or Apply enabled")
			}
		})
	}

	// Read permission only: reads run, changes say why they cannot.
	op := newFakeOperator()
	op.setStatus("a", actions.Status{AgentID: "a", Declared: &actions.Declared{Services: []string{"AS_Service"}}})
	v, _, _ := startView(t, newFakeFeed(0, pairedRedstor()...), op, time.Now)
	p := paneFor(t, v, "a")
	p.chooser.SetSelected("Stop service")
	if !p.preview.Disabled() || !strings.Contains(p.block.Text, "lets this console read but not act") {
		t.Errorf("a change without the act permission: preview disabled %v, reason %q", p.preview.Disabled(), p.block.Text)
	}
	p.chooser.SetSelected("Service status")
	if p.run.Disabled() || p.blockRow.Visible() {
		t.Errorf("a read without the act permission: run disabled %v, reason %q", p.run.Disabled(), p.block.Text)
	}
}

// fields returns the pane's input for the parameter key.
func field(t *testing.T, p *ServerPane, key string) paramField {
	t.Helper()
	for _, f := range p.fields {
		if f.spec.key == key {
			return f
		}
	}
	t.Fatalf("no field %s in the form of %v", key, p.kind)
	return paramField{}
}

const isSlaveDiff = "--- /srv/as/AS.xml\n+++ /srv/as/AS.xml\n@@ -2,1 +2,1 @@\n-  <IsSlave>False</IsSlave>\n+  <IsSlave>True</IsSlave>\n"

func TestChangeIsPreviewedThenConfirmed(t *testing.T) {
	op := newFakeOperator()
	op.setStatus("a", actions.Status{AgentID: "a", Declared: &actions.Declared{Settings: []string{"as"}, CanAct: true}})
	op.setAnswer(func(req actions.Request) (actions.Result, error) {
		o := actions.Outcome{Changed: true, Diff: isSlaveDiff, Value: "True"}
		if !req.DryRun {
			o.Backup = "/var/lib/vigil-agent/backups/AS.xml.20250301T030000.000000000Z.bak"
		}
		return done(req, o), nil
	})
	v, q, _ := startView(t, newFakeFeed(0, pairedRedstor()...), op, time.Now)
	p := paneFor(t, v, "a")

	p.chooser.SetSelected("Change setting")
	if got := field(t, p, "dir").value(); got != "as" {
		t.Errorf("the only declared settings dir is not chosen: %q", got)
	}
	if !p.preview.Disabled() || !strings.Contains(p.hint.Text, "Fill in File, Key") {
		t.Errorf("preview enabled with the file and key empty; hint %q", p.hint.Text)
	}
	test.Type(field(t, p, "path").entry, "AS.xml")
	test.Type(field(t, p, "key").entry, "Settings/IsSlave")
	test.Type(field(t, p, "value").entry, "True")
	if p.preview.Disabled() || !p.apply.Disabled() || p.run.Visible() {
		t.Fatalf("before a preview: preview disabled %v, apply disabled %v, run shown %v",
			p.preview.Disabled(), p.apply.Disabled(), p.run.Visible())
	}
	test.Tap(p.apply) // disabled: nothing happens
	if p.confirm != nil {
		t.Fatal("Apply asked for confirmation before any preview")
	}

	// The preview is in flight: the pane says whom it waits for, and
	// nothing can be pressed or edited.
	gate := make(chan struct{})
	op.mu.Lock()
	op.gate = gate
	op.mu.Unlock()
	test.Tap(p.preview)
	if !p.busyRow.Visible() || p.waiting.Text != "waiting for AS-1…" {
		t.Errorf("in flight: progress shown %v, %q", p.busyRow.Visible(), p.waiting.Text)
	}
	if !p.preview.Disabled() || !p.apply.Disabled() || !p.chooser.Disabled() || !field(t, p, "value").entry.Disabled() {
		t.Error("buttons or fields enabled while a request is in flight")
	}
	gate <- struct{}{}
	q.waitFor(t, "the preview", func() bool { return !p.busy })
	op.mu.Lock()
	op.gate = nil
	op.mu.Unlock()

	if p.busyRow.Visible() || p.apply.Disabled() {
		t.Fatalf("after the preview: progress shown %v, apply disabled %v", p.busyRow.Visible(), p.apply.Disabled())
	}
	if !strings.Contains(p.detail.Text, "+  <IsSlave>True</IsSlave>") || !p.detail.TextStyle.Monospace || !p.detailRow.Visible() {
		t.Errorf("the preview box does not show the diff in monospace: %q", p.detail.Text)
	}
	if !strings.HasPrefix(p.outcome.Text, "Preview (nothing changed yet): Set Settings/IsSlave") {
		t.Errorf("outcome %q", p.outcome.Text)
	}
	sent := op.requests()
	if len(sent) != 1 || !sent[0].DryRun || sent[0].Action != actions.SettingsSet {
		t.Fatalf("sent %+v, want one dry run of settings.set", sent)
	}

	// Editing a parameter withdraws the preview, even when edited back.
	test.Type(field(t, p, "value").entry, "!")
	if !p.apply.Disabled() || !strings.Contains(p.hint.Text, "changed since the preview") {
		t.Errorf("after an edit: apply disabled %v, hint %q", p.apply.Disabled(), p.hint.Text)
	}
	field(t, p, "value").entry.SetText("True")
	if !p.apply.Disabled() {
		t.Error("Apply enabled again without a new preview")
	}
	test.Tap(p.preview)
	q.waitFor(t, "the second preview", func() bool { return !p.busy })
	if p.apply.Disabled() {
		t.Fatal("Apply disabled after a new preview")
	}

	// Apply asks first, naming the server and the change; Cancel sends nothing.
	test.Tap(p.apply)
	if p.confirm == nil {
		t.Fatal("Apply did not ask for confirmation")
	}
	if got, want := p.confirm.question.Text, `Set Settings/IsSlave to "True" in as/AS.xml on AS-1?`; got != want {
		t.Errorf("question %q, want %q", got, want)
	}
	if v.env.win.Canvas().Overlays().Top() == nil {
		t.Error("the confirmation is not over the window")
	}
	test.Tap(p.confirm.no)
	if p.confirm != nil || v.env.win.Canvas().Overlays().Top() != nil {
		t.Error("the confirmation is still up after Cancel")
	}
	if n := len(op.requests()); n != 2 {
		t.Fatalf("cancel sent something: %d requests", n)
	}
	test.Tap(p.apply)
	test.Tap(p.confirm.yes)
	q.waitFor(t, "the change", func() bool { return !p.busy })

	sent = op.requests()
	last, preview := sent[len(sent)-1], sent[len(sent)-2]
	if last.DryRun || last.Action != actions.SettingsSet || !maps.Equal(last.Params, preview.Params) {
		t.Errorf("applied %+v after previewing %+v; want the same, not a dry run", last, preview)
	}
	want := map[string]string{"dir": "as", "path": "AS.xml", "key": "Settings/IsSlave", "value": "True"}
	if !maps.Equal(last.Params, want) {
		t.Errorf("params %v, want %v", last.Params, want)
	}
	for _, s := range []string{"state: done", "+  <IsSlave>True</IsSlave>", "previous file kept as /var/lib/vigil-agent/backups/AS.xml.",
		"request id: " + last.RequestID} {
		if !strings.Contains(p.detail.Text, s) {
			t.Errorf("applied result does not show %q:\n%s", s, p.detail.Text)
		}
	}
	if !strings.HasPrefix(p.outcome.Text, "Done") || !p.apply.Disabled() {
		t.Errorf("after applying: outcome %q, apply disabled %v (want Done, and a new preview needed)", p.outcome.Text, p.apply.Disabled())
	}
}

func TestUncertainOutcomeAsksAgainWithTheSameRequest(t *testing.T) {
	op := newFakeOperator()
	op.setStatus("a", actions.Status{AgentID: "a", Services: map[string]string{"AS_Service": "running"},
		Declared: &actions.Declared{Services: []string{"AS_Service"}, CanAct: true}})
	v, q, _ := startView(t, newFakeFeed(0, pairedRedstor()...), op, time.Now)
	p := paneFor(t, v, "a")
	p.chooser.SetSelected("Stop service")
	test.Tap(p.preview)
	q.waitFor(t, "the preview", func() bool { return !p.busy })

	op.setAnswer(func(req actions.Request) (actions.Result, error) {
		return actions.Result{}, &actions.UncertainError{RequestID: req.RequestID, Last: errors.New("context deadline exceeded")}
	})
	test.Tap(p.apply)
	if got, want := p.confirm.question.Text, "Stop service AS_Service on AS-1?"; got != want {
		t.Errorf("question %q, want %q", got, want)
	}
	test.Tap(p.confirm.yes)
	q.waitFor(t, "the uncertain outcome", func() bool { return !p.busy })
	if !strings.Contains(p.outcome.Text, "may or may not have been done") || !p.askAgain.Visible() || p.askAgain.Disabled() {
		t.Fatalf("uncertain: outcome %q, ask again shown %v", p.outcome.Text, p.askAgain.Visible())
	}
	first := op.requests()[1]

	op.setAnswer(func(req actions.Request) (actions.Result, error) {
		return done(req, actions.Outcome{Changed: true, Diff: "AS_Service: running -> stopped"}), nil
	})
	test.Tap(p.askAgain)
	q.waitFor(t, "the answer to asking again", func() bool { return !p.busy })
	sent := op.requests()
	again := sent[len(sent)-1]
	if again.RequestID != first.RequestID || again.DryRun || again.Action != actions.ServiceStop || !maps.Equal(again.Params, first.Params) {
		t.Errorf("asked again with %+v, want the same request as %+v", again, first)
	}
	if !strings.HasPrefix(p.outcome.Text, "Done") || p.askAgain.Visible() {
		t.Errorf("after asking again: %q, ask again still shown %v", p.outcome.Text, p.askAgain.Visible())
	}
}

func TestReadRunsAtOnceAndRefusalsShowTheReason(t *testing.T) {
	op := newFakeOperator()
	op.setStatus("a", actions.Status{AgentID: "a", Declared: &actions.Declared{Services: []string{"AS_Service"}, CanAct: true}})
	op.setAnswer(func(req actions.Request) (actions.Result, error) {
		if req.Action == actions.ServiceStatus {
			return done(req, actions.Outcome{Value: "running"}), nil
		}
		return actions.Result{}, &actions.AgentError{Status: 409, Result: actions.Result{RequestID: req.RequestID, State: actions.StateRefused,
			Action: req.Action, Error: "stale epoch: request epoch 1 is lower than 2"}}
	})
	v, q, _ := startView(t, newFakeFeed(0, pairedRedstor()...), op, time.Now)
	p := paneFor(t, v, "a")

	p.chooser.SetSelected("Service status")
	if p.preview.Visible() || p.apply.Visible() || !p.run.Visible() {
		t.Fatal("a read offers preview and apply instead of run")
	}
	test.Tap(p.run)
	if p.confirm != nil {
		t.Error("a read asked for confirmation")
	}
	q.waitFor(t, "the status", func() bool { return !p.busy })
	if sent := op.requests(); len(sent) != 1 || sent[0].DryRun || sent[0].Params["service"] != "AS_Service" {
		t.Errorf("sent %+v", sent)
	}
	if !strings.Contains(p.detail.Text, "value: running") {
		t.Errorf("status result %q", p.detail.Text)
	}

	p.chooser.SetSelected("Restart service")
	test.Tap(p.preview)
	q.waitFor(t, "the refusal", func() bool { return !p.busy })
	if !strings.Contains(p.outcome.Text, "AS-1 refused") || !strings.Contains(p.outcome.Text, "stale epoch") || p.outcome.Importance != widget.DangerImportance {
		t.Errorf("refusal shown as %q", p.outcome.Text)
	}
	if !p.apply.Disabled() {
		t.Error("Apply enabled after a refused preview")
	}
}

func TestSelectWhenSeenWaitsForThePairedServer(t *testing.T) {
	feed := newFakeFeed(0)
	v, q, _ := startView(t, feed, newFakeOperator(), time.Now)
	v.SelectWhenSeen("AS-1")
	stranger := pairedRedstor()[0]
	stranger.ID, stranger.Paired = "x", false // another console's fleet, seen by mDNS
	feed.updates <- stranger
	q.waitFor(t, "the unpaired AS-1", func() bool { return v.board.rows["x"] != nil })
	if v.pane != nil {
		t.Fatal("selected an unpaired server of the same name")
	}
	feed.updates <- pairedRedstor()[0]
	q.waitFor(t, "the pane of AS-1", func() bool { return v.pane != nil })
	if v.pane.view.ID != "a" {
		t.Errorf("selected %s, want a", v.pane.view.ID)
	}
}
