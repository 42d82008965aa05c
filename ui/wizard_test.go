package ui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	"github.com/vigilops/vigil/procedure"
	"github.com/vigilops/vigil/store"
	"github.com/vigilops/vigil/ui/runmodel"
)

// drillProcedure is a supervised switch-over with every kind of question
// the wizard asks: a sign-off, a choice, an approval after a dry run, and
// a step done by hand.
const drillProcedure = `
id: drill-switch-over
title: Switch the service over to the spare server
profile: drill
kind: failover
document: {file: drill-manual.txt, section: Switching over}
warnings:
  - Stopping the service on the active server interrupts every client for a few seconds.
parameters:
  - name: service
    prompt: Which service moves?
    default: drilld
target_recovery: 30s
supervised: true
way_back: Start the service on the old active server again; it comes back as the spare.
bindings:
  primary: {role: primary, document_name: the active server}
  spare: {role: standby, document_name: the spare server}
steps:
  - type: check
    doc_step: "1"
    text: Make sure the spare server stands by.
    condition: {server: spare, role: standby}
  - type: supervise
    doc_step: "2"
    text: The shift supervisor approves the switch-over.
  - type: choose
    doc_step: "3"
    text: Is this a planned switch-over or an emergency?
    var: reason
    prompt: Why is the service switched over?
    choices:
      - {value: planned, label: Planned maintenance}
      - {value: emergency, label: The active server is failing}
    default: planned
  - type: action
    doc_step: "4"
    text: Stop the service on the active server.
    server: primary
    action: service.stop
    params: {service: "${service}"}
    destructive: true
  - type: verify
    doc_step: "5"
    text: The spare server takes over.
    timeout: 30s
    condition: {server: spare, role: primary}
  - type: confirm
    doc_step: "6"
    text: Tell the newsroom that the switch-over is done.
`

// memFleet is the drill system in memory: stopping the service on the
// active server makes the spare take over, unless stuck is set. It
// answers a request id it has seen with what it answered before, as
// agents do.
type memFleet struct {
	mu      sync.Mutex
	servers []procedure.Server
	results map[string]actions.Result
	applied []string
	stuck   bool // the spare never takes over
}

func newMemFleet(roles ...model.Role) *memFleet {
	f := &memFleet{results: map[string]actions.Result{}}
	for i, role := range roles {
		name := []string{"alpha", "beta"}[i]
		f.servers = append(f.servers, procedure.Server{ID: "ag-" + name, Name: name, System: "drill", Profile: "drill",
			Role: role, VendorRole: string(role) + " drill server", Health: model.HealthUp, Paired: true,
			Services: map[string]string{"drilld": "running"}, Facts: map[string]string{},
			Declared: &actions.Declared{Services: []string{"drilld"}, CanAct: true}})
	}
	return f
}

func (f *memFleet) Servers(ctx context.Context, system string) ([]procedure.Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.servers)
	for i := range out {
		out[i].Services, out[i].Facts = cloneMap(out[i].Services), cloneMap(out[i].Facts)
	}
	return out, nil
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (f *memFleet) Act(ctx context.Context, s procedure.Server, req actions.Request) (actions.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if res, ok := f.results[req.RequestID]; ok {
		return res, nil
	}
	svc := req.Params["service"]
	res := actions.Result{RequestID: req.RequestID, State: actions.StateDone, Action: req.Action, DryRun: req.DryRun,
		Outcome: &actions.Outcome{Changed: true, Diff: fmt.Sprintf("service %s: running -> stopped", svc)}}
	if !req.DryRun {
		f.applied = append(f.applied, s.Name+" "+req.Action+" "+svc)
		for i := range f.servers {
			srv := &f.servers[i]
			switch {
			case srv.ID == s.ID:
				srv.Services[svc], srv.Role = "stopped", model.RoleOutOfService
			case !f.stuck:
				srv.Role = model.RolePrimary
			}
		}
	}
	f.results[req.RequestID] = res
	return res, nil
}

func (f *memFleet) changes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.applied)
}

// memDesk is the console as the wizard sees it: the drill procedure, a
// real store in a temporary directory, and engines over the memory fleet.
type memDesk struct {
	store *store.Store
	fleet *memFleet
	procs []*procedure.Procedure
}

const wizardOwner = "wizard-test:1"

func (d *memDesk) ProcedureTitle(id string) string {
	for _, p := range d.procs {
		if p.ID == id {
			return p.Title
		}
	}
	return id
}

func (d *memDesk) Procedures(ctx context.Context, system string) ([]procedure.Entry, error) {
	hist, err := d.store.ProcedureHistory(ctx)
	if err != nil {
		return nil, err
	}
	var out []procedure.Entry
	for _, p := range d.procs {
		e := procedure.Entry{Procedure: p}
		for _, h := range hist {
			if h.System == system && h.ProcedureID == p.ID {
				e.Last = h
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func (d *memDesk) StoppedRuns(ctx context.Context, system string) ([]model.ProcedureRun, error) {
	runs, err := d.store.OpenProcedureRuns(ctx, system)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(runs, func(r model.ProcedureRun) bool { return r.Owner != "" }), nil
}

func (d *memDesk) Engine(prompt procedure.Prompter, observe func(procedure.Update)) *procedure.Engine {
	return &procedure.Engine{Fleet: d.fleet, Store: d.store, Prompt: prompt, Observe: observe, Poll: 5 * time.Millisecond,
		Owner: wizardOwner, OwnerAlive: func(string) bool { return false }}
}

func (d *memDesk) OperatorName() string { return "alice" }

// wizardRig is the wizard's world for one test: the test goroutine is the
// UI goroutine (it runs what the wizard's goroutines hand to q).
type wizardRig struct {
	t     *testing.T
	q     uiQueue
	desk  *memDesk
	procs *Procedures
}

func newWizardRig(t *testing.T, fleet *memFleet) *wizardRig {
	t.Helper()
	a := test.NewTempApp(t)
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := procedure.Parse("drill.yaml", []byte(drillProcedure))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rig := &wizardRig{t: t, q: make(uiQueue, 256), desk: &memDesk{store: db, fleet: fleet, procs: []*procedure.Procedure{p}}}
	rig.procs = NewProcedures(ctx, a, rig.desk)
	rig.procs.Do = rig.q.do
	rig.procs.StatusEvery = -1
	t.Cleanup(func() {
		// The runs stop with ctx; what they hand over on the way out still
		// runs here, until every one of them has ended.
		cancel()
		done := make(chan struct{})
		go func() {
			rig.procs.Wait()
			close(done)
		}()
		for {
			select {
			case fn := <-rig.q:
				fn()
			case <-done:
				return
			case <-time.After(deadline):
				t.Error("the wizard's goroutines did not end")
				return
			}
		}
	})
	return rig
}

// startView starts the console's view over feed with the rig's
// procedures, in a window of its own, until the test ends.
func (rig *wizardRig) startView(feed *fakeFeed) (*View, fyne.Window) {
	t := rig.t
	t.Helper()
	w := test.NewTempWindow(t, widget.NewLabel("starting"))
	vctx, cancel := context.WithCancel(context.Background())
	v := startConsole(vctx, w, Console{Feed: feed, Operator: newFakeOperator(), Procedures: rig.procs},
		loop{now: time.Now, ticks: make(chan time.Time), stop: func() {}, do: rig.q.do})
	w.SetContent(v)
	t.Cleanup(func() {
		cancel()
		waitClosed(t, feed.cancelled, "the feed's cancel")
	})
	return v, w
}

// startDrill opens the wizard, picks the drill, names the supervisor and
// starts the run after its preflight.
func (rig *wizardRig) startDrill(supervisor string) *Wizard {
	t := rig.t
	t.Helper()
	w := rig.procs.Open("drill")
	rig.q.waitFor(t, "the list of procedures", func() bool { return w.picks["drill-switch-over"] != nil })
	test.Tap(w.picks["drill-switch-over"])
	if w.screen != "start" {
		t.Fatalf("after choosing the drill the wizard shows %q", w.screen)
	}
	test.Type(w.start.supervisor, supervisor)
	test.Tap(w.start.preflight)
	rig.q.waitFor(t, "the preflight", func() bool { return w.start.pf != nil })
	if !w.start.pf.OK() {
		t.Fatalf("preflight: %s", w.start.summary.Text)
	}
	test.Tap(w.start.startBtn)
	if w.screen != "run" {
		t.Fatalf("after Start the wizard shows %q", w.screen)
	}
	return w
}

func (rig *wizardRig) waitQuestion(w *Wizard, kind runmodel.Ask) {
	rig.t.Helper()
	rig.q.waitFor(rig.t, "a "+string(kind)+" question", func() bool { return w.run.m.Q != nil && w.run.m.Q.Kind == kind })
}

func (rig *wizardRig) waitEnd(w *Wizard) {
	rig.t.Helper()
	rig.q.waitFor(rig.t, "the end of the run", func() bool { return !w.run.m.Active && w.run.m.Out != nil && w.run.m.Report != nil })
}

func stepWordsShown(r *runScreen) []string {
	var out []string
	for _, row := range r.rows {
		out = append(out, row.tag.Text())
	}
	return out
}

func wantSteps(t *testing.T, r *runScreen, want ...string) {
	t.Helper()
	if got := stepWordsShown(r); !slices.Equal(got, want) {
		t.Fatalf("the step list shows %v, want %v", got, want)
	}
}

// The wizard walks the drill from the list of procedures to its report:
// the warnings and the preflight before the start, a supervisor's
// sign-off, the document's choice, an approval after a dry run (with a
// look back at an earlier step on the way), a step done by hand, and the
// report naming who ran, supervised and signed off, saved as Markdown.
func TestWizardWalksAProcedureToItsReport(t *testing.T) {
	fleet := newMemFleet(model.RolePrimary, model.RoleStandby)
	rig := newWizardRig(t, fleet)
	w := rig.procs.Open("drill")
	rig.q.waitFor(t, "the list of procedures", func() bool { return w.picks["drill-switch-over"] != nil })
	if got := w.Snapshot().Procedures; !slices.Equal(got, []string{"drill-switch-over"}) {
		t.Fatalf("procedures listed: %v", got)
	}
	if !strings.Contains(labelText(w.holder), "Last run: never · last rehearsal: never") {
		t.Errorf("the list does not say the drill was never run:\n%s", labelText(w.holder))
	}
	test.Tap(w.picks["drill-switch-over"])

	s := w.start
	if text := labelText(w.holder); !strings.Contains(text, "Stopping the service on the active server interrupts every client") {
		t.Errorf("the start screen does not show the document's warning:\n%s", text)
	}
	if !s.startBtn.Disabled() {
		t.Error("Start is enabled before any preflight")
	}
	if s.operator.Text != "alice" || len(s.params) != 1 || s.params[0].value() != "drilld" {
		t.Errorf("operator %q, parameters %+v: want alice and the default drilld", s.operator.Text, s.params)
	}
	test.Type(s.supervisor, "sam")
	test.Tap(s.preflight)
	rig.q.waitFor(t, "the preflight", func() bool { return s.pf != nil })
	if s.startBtn.Disabled() || !strings.HasPrefix(s.summary.Text, "Preflight passed") {
		t.Fatalf("after a preflight that passed: Start disabled %v, summary %q", s.startBtn.Disabled(), s.summary.Text)
	}
	if n := len(s.checks.Objects); n != len(s.pf.Checks) || n < 5 {
		t.Errorf("%d check rows for %d checks", n, len(s.pf.Checks))
	}
	test.Tap(s.startBtn)
	r := w.run

	rig.waitQuestion(w, runmodel.AskSignOff)
	wantSteps(t, r, "DONE", "YOUR TURN", "PENDING", "PENDING", "PENDING", "PENDING")
	if r.signName.Text != "sam" || !r.signRow.Visible() || !strings.Contains(w.win.Title(), "your turn") {
		t.Errorf("sign-off: name %q shown %v, title %q", r.signName.Text, r.signRow.Visible(), w.win.Title())
	}
	test.Type(r.note, "approved on the phone")
	test.Tap(r.next)

	rig.waitQuestion(w, runmodel.AskChoose)
	if !slices.Equal(r.choices.Options, []string{"Planned maintenance", "The active server is failing"}) ||
		r.choices.Selected != "Planned maintenance" || r.askText.Text != "Why is the service switched over?" {
		t.Errorf("choose: %q with %v, %q selected", r.askText.Text, r.choices.Options, r.choices.Selected)
	}
	r.choices.SetSelected("The active server is failing")
	test.Tap(r.next)

	rig.waitQuestion(w, runmodel.AskConfirm)
	wantSteps(t, r, "DONE", "DONE", "DONE", "YOUR TURN", "PENDING", "PENDING")
	if !strings.Contains(r.preview.Text, "stop service drilld on alpha\n  service drilld: running -> stopped") || !r.previewRow.Visible() {
		t.Errorf("the dry run shown: %q (visible %v)", r.preview.Text, r.previewRow.Visible())
	}
	if !r.dangerRow.Visible() || !strings.HasPrefix(r.danger.Text, "DESTRUCTIVE") || r.next.Text != "Approve and send" ||
		r.next.Importance != widget.DangerImportance {
		t.Errorf("the approval: danger %v %q, button %q (%v)", r.dangerRow.Visible(), r.danger.Text, r.next.Text, r.next.Importance)
	}
	if got := fleet.changes(); len(got) != 0 {
		t.Fatalf("changes before the approval: %v", got)
	}

	// Back to review step 1, read-only, and on to the approval again.
	test.Tap(r.rows[0].obj.(*rowTap))
	if r.m.Review != 0 || !r.reviewPane.Visible() || !strings.Contains(r.revResult.Text, "beta is standby") ||
		!strings.Contains(r.revEvidence.Text, "beta role=standby") {
		t.Errorf("review of step 1: shown %v, result %q, evidence %q", r.reviewPane.Visible(), r.revResult.Text, r.revEvidence.Text)
	}
	if r.next.Text != "Back to the current step" {
		t.Errorf("while reviewing, Next says %q", r.next.Text)
	}
	test.Tap(r.next)
	if r.m.Review != -1 || !r.currentPane.Visible() || r.next.Text != "Approve and send" {
		t.Fatalf("back from the review: review %d, current shown %v, Next %q", r.m.Review, r.currentPane.Visible(), r.next.Text)
	}
	test.Tap(r.next)

	rig.waitQuestion(w, runmodel.AskConfirm)
	wantSteps(t, r, "DONE", "DONE", "DONE", "DONE", "DONE", "YOUR TURN")
	if got := fleet.changes(); !slices.Equal(got, []string{"alpha service.stop drilld"}) {
		t.Errorf("changes: %v", got)
	}
	test.Type(r.note, "newsroom told")
	test.Tap(r.next)

	rig.waitEnd(w)
	wantSteps(t, r, "DONE", "DONE", "DONE", "DONE", "DONE", "DONE")
	snap := w.Snapshot()
	if snap.Outcome != model.RunCompleted || r.endTag.Text() != "COMPLETED" || !r.endPane.Visible() {
		t.Fatalf("end: outcome %q, tag %q, shown %v", snap.Outcome, r.endTag.Text(), r.endPane.Visible())
	}
	shown := richText(r.reportView)
	for _, want := range []string{"Operator: alice", "Supervisor: sam", "Supervisor sam signed off", "approved on the phone",
		"The active server is failing", "newsroom told", "Outcome: completed"} {
		if !strings.Contains(shown, want) {
			t.Errorf("the report shown lacks %q:\n%s", want, shown)
		}
	}
	run, err := rig.desk.store.ProcedureRun(context.Background(), snap.Run)
	if err != nil || run.State != model.RunCompleted || run.SignedOffBy != "sam" || run.Operator != "alice" {
		t.Errorf("stored run: %+v, %v", run, err)
	}

	path := filepath.Join(t.TempDir(), "drill-report")
	r.savePath.SetText(path)
	test.Tap(r.saveMD)
	test.Tap(r.saveHTML)
	rig.q.waitFor(t, "the reports saved", func() bool {
		_, e1 := os.Stat(path + ".md")
		_, e2 := os.Stat(path + ".html")
		return e1 == nil && e2 == nil
	})
	md, _ := os.ReadFile(path + ".md")
	html, _ := os.ReadFile(path + ".html")
	if !strings.HasPrefix(string(md), fmt.Sprintf("# Run %d: Switch the service over", snap.Run)) || !strings.HasPrefix(string(html), "<!DOCTYPE html>") {
		t.Errorf("saved reports: %.80q, %.40q", md, html)
	}

	// The list of procedures now says when the drill was last run.
	w2 := rig.procs.Open("drill")
	rig.q.waitFor(t, "the list of procedures", func() bool { return w2.picks["drill-switch-over"] != nil })
	if !strings.Contains(labelText(w2.holder), "Last run: just now (completed)") {
		t.Errorf("the list after the run:\n%s", labelText(w2.holder))
	}
}

// Abort asks, then ends the run as aborted with where things stand:
// answering an open question with ErrAborted, or, while a step runs,
// stopping it and ending the run through the engine's Abort.
func TestWizardAbort(t *testing.T) {
	t.Run("at a question", func(t *testing.T) {
		fleet := newMemFleet(model.RolePrimary, model.RoleStandby)
		rig := newWizardRig(t, fleet)
		w := rig.startDrill("sam")
		r := w.run
		rig.waitQuestion(w, runmodel.AskSignOff)
		test.Tap(r.abort)
		if r.popup == nil || r.abortGo == nil {
			t.Fatal("Abort did not ask")
		}
		test.Type(r.abortReason, "the supervisor said no")
		test.Tap(r.abortGo)
		rig.waitEnd(w)
		wantSteps(t, r, "DONE", "ABORTED", "PENDING", "PENDING", "PENDING", "PENDING")
		if r.endTag.Text() != "ABORTED" || !strings.Contains(r.endSummary.Text, "Nothing was changed on the servers") ||
			!strings.Contains(r.endWayBack.Text, "Start the service on the old active server again") || !r.wayBackRow.Visible() {
			t.Errorf("end: %q, summary %q, way back %q", r.endTag.Text(), r.endSummary.Text, r.endWayBack.Text)
		}
		if !strings.Contains(richText(r.reportView), "the supervisor said no") {
			t.Errorf("the report lacks the reason:\n%s", richText(r.reportView))
		}
		run, _ := rig.desk.store.ProcedureRun(context.Background(), r.m.RunID)
		if run.State != model.RunAborted || len(fleet.changes()) != 0 {
			t.Errorf("stored run %s, changes %v", run.State, fleet.changes())
		}
	})
	t.Run("while a step runs", func(t *testing.T) {
		fleet := newMemFleet(model.RolePrimary, model.RoleStandby)
		fleet.stuck = true
		rig := newWizardRig(t, fleet)
		w := rig.startDrill("sam")
		r := w.run
		rig.waitQuestion(w, runmodel.AskSignOff)
		test.Tap(r.next)
		rig.waitQuestion(w, runmodel.AskChoose)
		test.Tap(r.next)
		rig.waitQuestion(w, runmodel.AskConfirm)
		test.Tap(r.next)
		rig.q.waitFor(t, "the verify step", func() bool { return r.m.Current == 4 && r.busyRow.Visible() })
		test.Tap(r.abort)
		test.Type(r.abortReason, "the spare does not take over")
		test.Tap(r.abortGo)
		rig.waitEnd(w)
		wantSteps(t, r, "DONE", "DONE", "DONE", "DONE", "ABORTED", "PENDING")
		if r.endTag.Text() != "ABORTED" || !strings.Contains(r.endSummary.Text, "aborted by alice: the spare does not take over") ||
			!strings.Contains(r.endSummary.Text, "Requests sent: service.stop on alpha (done)") {
			t.Errorf("end: %q, summary %q", r.endTag.Text(), r.endSummary.Text)
		}
		run, _ := rig.desk.store.ProcedureRun(context.Background(), r.m.RunID)
		if run.State != model.RunAborted {
			t.Errorf("stored run %s", run.State)
		}
	})
}

// Start stays disabled while the preflight has a failure, and after the
// fields change until the preflight runs again.
func TestWizardStartDisabledWhilePreflightFails(t *testing.T) {
	fleet := newMemFleet(model.RolePrimary, model.RolePrimary) // no spare: the binding fails
	rig := newWizardRig(t, fleet)
	w := rig.procs.Open("drill")
	rig.q.waitFor(t, "the list of procedures", func() bool { return w.picks["drill-switch-over"] != nil })
	test.Tap(w.picks["drill-switch-over"])
	s := w.start
	test.Tap(s.preflight) // no supervisor named either
	rig.q.waitFor(t, "the preflight", func() bool { return s.pf != nil })
	if !s.startBtn.Disabled() || !strings.Contains(s.summary.Text, "checks FAILED") {
		t.Fatalf("after a failed preflight: Start disabled %v, summary %q", s.startBtn.Disabled(), s.summary.Text)
	}
	text := labelText(s.checks)
	for _, want := range []string{"FAILED\nbinding spare (the spare server in the document)", "no server is standby",
		"FAILED\nsupervisor", "name the supervisor in the Supervisor field", "OK\nno other run"} {
		if !strings.Contains(text, want) {
			t.Errorf("the checks shown lack %q:\n%s", want, text)
		}
	}
	test.Tap(s.startBtn)
	if w.screen != "start" || w.StartRun() {
		t.Fatal("a disabled Start started the run")
	}

	// Fixed, the preflight passes; a change of the fields asks for it again.
	fleet.mu.Lock()
	fleet.servers[1].Role = model.RoleStandby
	fleet.mu.Unlock()
	test.Type(s.supervisor, "sam")
	test.Tap(s.preflight)
	rig.q.waitFor(t, "the preflight", func() bool { return s.pf != nil })
	if s.startBtn.Disabled() {
		t.Fatalf("Start disabled after a preflight that passed: %s", s.summary.Text)
	}
	test.Type(s.supervisor, "h")
	if !s.startBtn.Disabled() || !strings.Contains(s.summary.Text, "run it again") {
		t.Errorf("after the supervisor changed: Start disabled %v, %q", s.startBtn.Disabled(), s.summary.Text)
	}
}

// Closing the window mid-run asks; leaving the run to resume stops it
// where it is, and a wizard opened on the stopped run (as the console
// offers when it opens again) resumes it at that step and takes it to the
// end, each change made once.
func TestWizardCloseLeavesRunToResume(t *testing.T) {
	fleet := newMemFleet(model.RolePrimary, model.RoleStandby)
	rig := newWizardRig(t, fleet)
	w := rig.startDrill("sam")
	r := w.run
	rig.waitQuestion(w, runmodel.AskSignOff)
	test.Tap(r.next)
	rig.waitQuestion(w, runmodel.AskChoose)
	w.requestClose()
	if r.popup == nil || r.leave == nil {
		t.Fatal("closing mid-run did not ask")
	}
	test.Tap(r.leave)
	rig.waitEnd(w)
	if r.m.Out.State != model.RunInterrupted {
		t.Fatalf("left to resume: outcome %+v", r.m.Out)
	}
	if w.ctx.Err() == nil {
		t.Error("the window stayed open")
	}
	stopped, err := rig.desk.StoppedRuns(context.Background(), "drill")
	if err != nil || len(stopped) != 1 || stopped[0].Cursor != 2 {
		t.Fatalf("stopped runs: %+v, %v", stopped, err)
	}

	w2 := rig.procs.Resume(stopped[0])
	r2 := w2.run
	rig.q.waitFor(t, "the stopped run", func() bool { return r2.m.Report != nil })
	wantSteps(t, r2, "DONE", "DONE", "STOPPED", "PENDING", "PENDING", "PENDING")
	if r2.endTag.Text() != "STOPPED: CAN BE RESUMED" || !r2.resume.Visible() || r2.resume.Text != "Resume at step 3" {
		t.Fatalf("stopped run: %q, resume %v %q", r2.endTag.Text(), r2.resume.Visible(), r2.resume.Text)
	}
	test.Tap(r2.resume)
	rig.waitQuestion(w2, runmodel.AskChoose)
	wantSteps(t, r2, "DONE", "DONE", "YOUR TURN", "PENDING", "PENDING", "PENDING")
	test.Tap(r2.next)
	rig.waitQuestion(w2, runmodel.AskConfirm)
	test.Tap(r2.next)
	rig.waitQuestion(w2, runmodel.AskConfirm)
	test.Tap(r2.next)
	rig.waitEnd(w2)
	if r2.m.Outcome() != model.RunCompleted || len(fleet.changes()) != 1 {
		t.Errorf("resumed: %s, changes %v", r2.m.Outcome(), fleet.changes())
	}
	if !strings.Contains(richText(r2.reportView), "was resumed by alice") {
		t.Errorf("the report does not record the resume:\n%s", richText(r2.reportView))
	}
}

// richText is all the text a rich text shows, lists and tables
// included, one segment a line.
func richText(rt *widget.RichText) string {
	var b strings.Builder
	var walk func(segs []widget.RichTextSegment)
	walk = func(segs []widget.RichTextSegment) {
		for _, seg := range segs {
			switch x := seg.(type) {
			case *widget.ListSegment:
				walk(x.Items)
			case *widget.ParagraphSegment:
				walk(x.Texts)
				b.WriteString("\n")
			case *widget.TableSegment:
				for _, cell := range x.Headers {
					walk(cell)
				}
				for _, row := range x.Rows {
					for _, cell := range row {
						walk(cell)
					}
				}
			default:
				b.WriteString(seg.Textual())
				if !seg.Inline() {
					b.WriteString("\n")
				}
			}
		}
	}
	walk(rt.Segments)
	return b.String()
}

// labelText is the text of every label and state tag shown under o, one
// a line.
func labelText(o fyne.CanvasObject) string {
	var out []string
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if !o.Visible() {
			return
		}
		switch x := o.(type) {
		case *widget.Label:
			out = append(out, x.Text)
		case *stateTag:
			out = append(out, x.Text())
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
	return strings.Join(out, "\n")
}

// The main window's Procedures tab lists each system's procedures with
// when they were last run and rehearsed, and the runs that stopped; its
// Open button and a server pane's Procedures button open wizard windows;
// and a run a killed console left running is offered for resuming when
// the console opens.
func TestWizardProceduresTabAndResumeOffer(t *testing.T) {
	fleet := newMemFleet(model.RolePrimary, model.RoleStandby)
	rig := newWizardRig(t, fleet)
	ctx := context.Background()
	// A run whose console was killed: still running, its owner gone.
	stopped := &model.ProcedureRun{ProcedureID: "drill-switch-over", Title: "Switch the service over to the spare server",
		Profile: "drill", System: "drill", State: model.RunRunning, Operator: "bob", Owner: "", Source: drillProcedure,
		SourceFile: "drill.yaml", Cursor: 1, Started: time.Now()}
	if err := rig.desk.store.StartProcedureRun(ctx, stopped); err != nil {
		t.Fatal(err)
	}

	feed := newFakeFeed(0, model.ServerView{ID: "ag-alpha", Name: "alpha", System: "drill", Profile: "drill", Paired: true,
		Role: model.RolePrimary, Health: model.HealthUp})
	v, w := rig.startView(feed)

	rig.procs.OfferResume(w)
	rig.q.waitFor(t, "the offer to resume", func() bool { return w.Canvas().Overlays().Top() != nil })
	if text := labelText(w.Canvas().Overlays().Top()); !strings.Contains(text, "Run 1: Switch the service over to the spare server on drill, stopped at step 2") {
		t.Errorf("the offer says:\n%s", text)
	}
	w.Canvas().Overlays().Top().Hide()

	if !v.ShowTab(TabProcedures) {
		t.Fatal("no Procedures tab")
	}
	rig.q.waitFor(t, "the procedures tab", func() bool { return v.procTab.opens["drill/drill-switch-over"] != nil })
	text := labelText(v.procTab)
	for _, want := range []string{"failover · Last run: just now (running) · last rehearsal: never", "Run 1: Switch the service over"} {
		if !strings.Contains(text, want) {
			t.Errorf("the tab lacks %q:\n%s", want, text)
		}
	}
	windows := func() int { return len(fyne.CurrentApp().Driver().AllWindows()) }
	before := windows()
	test.Tap(v.procTab.opens["drill/drill-switch-over"])
	if windows() != before+1 {
		t.Fatalf("Open… opened %d windows", windows()-before)
	}
	v.Select("ag-alpha")
	if v.pane == nil || v.pane.procs == nil || !v.pane.procs.Visible() {
		t.Fatal("the server pane offers no procedures")
	}
	test.Tap(v.pane.procs)
	if windows() != before+2 {
		t.Fatalf("the pane's Procedures… opened %d windows in all", windows()-before)
	}
}

// Rehearse runs its own preflight (no supervisor needed: nothing is
// changed) and then the rehearsal: every change a dry run, nothing
// applied, each step shown as rehearsed or done, and the run recorded as
// a rehearsal in the list's history.
func TestWizardRehearsal(t *testing.T) {
	fleet := newMemFleet(model.RolePrimary, model.RoleStandby)
	rig := newWizardRig(t, fleet)
	w := rig.procs.Open("drill")
	rig.q.waitFor(t, "the list of procedures", func() bool { return w.picks["drill-switch-over"] != nil })
	test.Tap(w.picks["drill-switch-over"])
	test.Tap(w.start.rehearse)
	rig.q.waitFor(t, "the rehearsal", func() bool { return w.screen == "run" })
	r := w.run
	if !strings.Contains(labelText(w.holder), "REHEARSAL: every change is sent as a dry run") {
		t.Errorf("no rehearsal banner:\n%s", labelText(w.holder))
	}
	rig.waitQuestion(w, runmodel.AskChoose)
	test.Tap(r.next)
	rig.waitQuestion(w, runmodel.AskConfirm)
	if len(r.m.Q.Q.Preview) != 0 || !r.m.Q.Q.Rehearsal {
		t.Errorf("in a rehearsal the confirm step is asked as such: %+v", r.m.Q.Q)
	}
	test.Tap(r.next)
	rig.waitEnd(w)
	wantSteps(t, r, "DONE", "REHEARSED", "DONE", "REHEARSED", "REHEARSED", "REHEARSED")
	if r.endTag.Text() != "REHEARSAL COMPLETED" || len(fleet.changes()) != 0 {
		t.Errorf("end %q, changes %v", r.endTag.Text(), fleet.changes())
	}
	w2 := rig.procs.Open("drill")
	rig.q.waitFor(t, "the list of procedures", func() bool { return w2.picks["drill-switch-over"] != nil })
	if !strings.Contains(labelText(w2.holder), "Last run: never · last rehearsal: just now (completed)") {
		t.Errorf("the list after the rehearsal:\n%s", labelText(w2.holder))
	}
}

// A card's next step shows what its preflight finds on the fleet: ready,
// or blocked with why, in words; the supervisor the procedure needs is
// the operator's to name when starting, and blocks nothing here.
func TestCardNextStepShowsItsPreflight(t *testing.T) {
	fleet := newMemFleet(model.RolePrimary, model.RoleStandby)
	rig := newWizardRig(t, fleet)
	var views []model.ServerView
	for _, s := range fleet.servers {
		views = append(views, model.ServerView{ID: s.ID, Name: s.Name, System: "drill", Profile: "drill", Paired: true, Role: s.Role, Health: model.HealthUp})
	}
	feed := newFakeFeed(0, views...)
	next := model.SystemVerdict{System: "drill", Profile: "drill", Verdict: model.VerdictDegraded, Severity: model.SeverityWarning,
		Summary: "beta keeps changing", Next: "drill-switch-over", Reasons: []model.Reason{}}
	feed.verdictsAtStart = []model.SystemVerdict{next}
	v, _ := rig.startView(feed)
	g := v.board.groups["drill"]
	rig.q.waitFor(t, "the next step ready", func() bool {
		return g.next.Text == "Next: Switch the service over to the spare server (ready)…"
	})
	if g.nextWhy.Visible() {
		t.Errorf("a ready next step says %q", g.nextWhy.Text)
	}

	// The spare goes: the next step is blocked, and the card says why.
	fleet.mu.Lock()
	fleet.servers[1].Health, fleet.servers[1].Detail = model.HealthDown, "no answer from the host in time"
	fleet.mu.Unlock()
	next.Summary = "beta is down"
	feed.verdicts <- next
	rig.q.waitFor(t, "the next step blocked", func() bool { return strings.HasSuffix(g.next.Text, "(blocked)…") })
	if !g.nextWhy.Visible() || !strings.Contains(g.nextWhy.Text, "beta is down: no answer from the host in time: start it") {
		t.Errorf("the blocked next step says %q (visible %v)", g.nextWhy.Text, g.nextWhy.Visible())
	}
}
