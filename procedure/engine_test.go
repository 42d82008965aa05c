package procedure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// TestRunTakesThePrimaryOutOfService runs the K2 SAN procedure on a fake
// K2 SAN: every step passes in order, the four changes are applied once
// each after their dry runs, roles end swapped, and the run, its steps,
// requests and events are recorded.
func TestRunTakesThePrimaryOutOfService(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, newK2())
	p := builtin(t, "k2san-take-primary-out-of-service")
	out, err := r.eng.Run(ctx, p, k2Options())
	if err != nil {
		t.Fatal(err)
	}
	if out.State != model.RunCompleted {
		t.Fatalf("outcome %+v", out)
	}
	want := []string{
		"K2server1 service.stop map[service:k2-media-server]",
		"K2server1 command.run map[command:restart-iscsi-bridge]",
		"K2server1 command.run map[command:restart-fc-switch]",
		"K2server1 service.start map[service:k2-media-server]",
	}
	if !slices.Equal(r.fleet.applied, want) {
		t.Errorf("applied:\n%s\nwant:\n%s", strings.Join(r.fleet.applied, "\n"), strings.Join(want, "\n"))
	}
	if len(r.fleet.dryRuns) != 4 {
		t.Errorf("each change is shown as a dry run first; dry runs: %v", r.fleet.dryRuns)
	}
	if s := r.fleet.server("K2server2"); s.Role != model.RolePrimary {
		t.Errorf("K2server2 is %s", s.Role)
	}
	if s := r.fleet.server("K2server1"); s.Role != model.RoleStandby || s.Facts["qualified"] != "true" {
		t.Errorf("K2server1 is %s, qualified %s", s.Role, s.Facts["qualified"])
	}

	run, _ := r.store.ProcedureRun(ctx, out.Run)
	if run.State != model.RunCompleted || run.Cursor != len(p.Steps) || run.Operator != "alice" || run.Ended == nil || run.Owner != "" {
		t.Errorf("run record %+v", run)
	}
	steps, _ := r.store.ProcedureSteps(ctx, out.Run)
	if len(steps) != len(p.Steps) {
		t.Fatalf("%d step records for %d steps", len(steps), len(p.Steps))
	}
	for i, s := range steps {
		if s.Index != i || s.State != model.StepPassed || s.Ended == nil || s.Text != p.Steps[i].Text {
			t.Errorf("step record %d: %+v", i, s)
		}
	}
	var ev []string
	json.Unmarshal([]byte(steps[0].Evidence), &ev)
	if !slices.Contains(ev, "K2server2 qualified=true") {
		t.Errorf("step 1 evidence %v lacks the value it checked", ev)
	}
	acts, _ := r.store.ProcedureActions(ctx, out.Run)
	real := 0
	for _, a := range acts {
		if !a.Preview {
			real++
			if a.State != actions.StateDone || a.RequestID == "" || a.DryRun {
				t.Errorf("request record %+v", a)
			}
		}
	}
	if real != 4 || len(acts) != 8 {
		t.Errorf("%d request records, %d real; want 8 and 4", len(acts), real)
	}
	events, _ := r.store.Events(ctx, model.EventFilter{Kinds: []string{model.EventProcedure}})
	if len(events) != 2 || events[0].To != model.RunCompleted.String() || events[1].To != model.RunRunning.String() || events[0].System != "k2-san" {
		t.Errorf("procedure events: %+v", events)
	}
	// A second run finds the roles swapped and takes K2server2 out of
	// service: the bindings follow the roles.
	out, err = r.eng.Run(ctx, p, k2Options())
	if err != nil || out.State != model.RunCompleted {
		t.Fatalf("second run: %+v, %v", out, err)
	}
	if s := r.fleet.server("K2server1"); s.Role != model.RolePrimary {
		t.Errorf("after two runs K2server1 is %s", s.Role)
	}
}

// TestPreflightRefusesAndSaysWhy: preflight names each check that fails
// and why, records nothing and sends nothing.
func TestPreflightRefusesAndSaysWhy(t *testing.T) {
	ctx := context.Background()
	p := builtin(t, "k2san-take-primary-out-of-service")
	for _, tc := range []struct {
		name  string
		setup func(f *fakeFleet)
		opts  func(o *Options)
		want  []string // failed check: detail
	}{
		{"backup not qualified", func(f *fakeFleet) {
			f.set("K2server2", func(s *Server) { s.Facts["qualified"] = "false" })
		}, nil, []string{"step 1 (document 1): K2server1 is primary (primary K2 Media Server); K2server2 is standby (backup K2 Media Server) and hearing the primary's heartbeat but not qualified (qualified=false)"}},
		{"two primaries", func(f *fakeFleet) {
			f.set("K2server2", func(s *Server) { s.Role, s.VendorRole = model.RolePrimary, "primary K2 Media Server" })
		}, nil, []string{
			"binding old_primary (K2server1 in the document): 2 servers are primary (K2server1, K2server2); the procedure needs exactly one",
			"binding old_backup (K2server2 in the document): no server is standby: K2server1 is primary (primary K2 Media Server); K2server2 is primary (primary K2 Media Server)"}},
		{"backup unreachable", func(f *fakeFleet) {
			f.set("K2server2", func(s *Server) {
				s.Health, s.Detail, s.Role, s.VendorRole, s.Facts = model.HealthDown, "connection refused", model.RoleUnknown, "", nil
			})
		}, nil, []string{
			"server K2server2: K2server2 is down: connection refused: start it (its host and its agent) first; every server the procedure uses must answer before it starts",
			"binding old_backup (K2server2 in the document): no server is standby: K2server1 is primary (primary K2 Media Server); K2server2 is unknown, down: connection refused"}},
		// A server that binds by its last role but does not answer fails
		// once, on its binding's line, saying what to do: not OK there and
		// failed elsewhere.
		{"primary down, its last role known", func(f *fakeFleet) {
			f.set("K2server1", func(s *Server) { s.Health, s.Detail, s.Facts = model.HealthDown, "connection refused", nil })
		}, nil, []string{
			"binding old_primary (K2server1 in the document): K2server1 is down: connection refused: start it (its host and its agent) first; every server the procedure uses must answer before it starts"}},
		{"undeclared service", func(f *fakeFleet) {
			f.set("K2server1", func(s *Server) {
				d := *k2Declared
				d.Services = []string{"other"}
				s.Declared = &d
			})
		}, nil, []string{`step 3 (document 3): service.stop on K2server1: its agent declares no service "k2-media-server" (it declares other)`,
			`step 14 (document 8): service.start on K2server1: its agent declares no service "k2-media-server" (it declares other)`}},
		{"bad parameter", nil, func(o *Options) { o.Params = map[string]string{"colour": "red", "side_devices": "maybe"} },
			[]string{`parameter colour: k2san-take-primary-out-of-service takes no parameter "colour"`,
				`answer side_devices: "maybe" does not answer step 9 (document 7): expected one of restart, none`}},
		{"wrong system", nil, func(o *Options) { o.System = "newsroom" },
			[]string{`system newsroom: no server of a system named "newsroom" is known to this console; ` + "`vigil status` lists them"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newK2()
			if tc.setup != nil {
				tc.setup(f)
			}
			f.servers[0].System, f.servers[1].System = "k2-san", "k2-san"
			r := newRig(t, f)
			if tc.name == "wrong system" {
				r.fleet.servers = nil
			}
			o := k2Options()
			if tc.opts != nil {
				tc.opts(&o)
			}
			out, err := r.eng.Run(ctx, p, o)
			var pe *PreflightError
			if !errors.As(err, &pe) {
				t.Fatalf("outcome %+v, err %v; want a preflight refusal", out, err)
			}
			var failed []string
			for _, c := range pe.Preflight.Checks {
				if !c.OK {
					failed = append(failed, c.Name+": "+c.Detail)
				}
			}
			for _, w := range tc.want {
				if !slices.Contains(failed, w) {
					t.Errorf("missing failed check\n  %s\ngot:\n  %s", w, strings.Join(failed, "\n  "))
				}
			}
			if len(failed) != len(tc.want) {
				t.Errorf("%d failed checks, want %d:\n  %s", len(failed), len(tc.want), strings.Join(failed, "\n  "))
			}
			if runs, _ := r.store.ProcedureRuns(ctx, "", 10); len(runs) != 0 || len(r.fleet.applied)+len(r.fleet.dryRuns) != 0 {
				t.Errorf("a refused run recorded %d runs and sent %v %v", len(runs), r.fleet.applied, r.fleet.dryRuns)
			}
		})
	}
}

// TestPreflightRefusesWhileAnotherRunIsOpen, and an unpaired stranger
// announcing the system is a note, not a refusal.
func TestPreflightRefusesWhileAnotherRunIsOpen(t *testing.T) {
	ctx := context.Background()
	f := newK2()
	f.servers = append(f.servers, Server{ID: "ag-x", Name: "K2server1", System: "k2-san", Profile: "k2san", Role: model.RoleUnknown})
	r := newRig(t, f)
	p := builtin(t, "k2san-take-primary-out-of-service")
	// The runner stops at step 7 and the run stays open.
	cctx, cancel := context.WithCancel(ctx)
	r.ask.confirm = func(q Question) (Answer, error) {
		if strings.Contains(q.Text, "started up") {
			cancel()
			return Answer{}, context.Canceled
		}
		return Answer{OK: true, By: "alice"}, nil
	}
	out, err := r.eng.Run(cctx, p, k2Options())
	if err != nil || out.State != model.RunInterrupted {
		t.Fatalf("first run: %+v, %v", out, err)
	}
	pf, err := r.eng.Preflight(ctx, builtin(t, "k2san-recover-from-failover"), Options{System: "k2-san", Operator: "bob", Supervisor: "gv"})
	if err != nil {
		t.Fatal(err)
	}
	var busy, note *Check
	for i, c := range pf.Checks {
		switch {
		case c.Name == "no other run":
			busy = &pf.Checks[i]
		case c.Warning:
			note = &pf.Checks[i]
		}
	}
	if busy == nil || busy.OK || !strings.Contains(busy.Detail, fmt.Sprintf("run %d of k2san-take-primary-out-of-service on k2-san has not ended", out.Run)) ||
		!strings.Contains(busy.Detail, fmt.Sprintf("vigil procedure resume %d", out.Run)) {
		t.Errorf("open-run check: %+v", busy)
	}
	if note == nil || !note.OK || !strings.Contains(note.Detail, "not paired") {
		t.Errorf("the unpaired server's check: %+v", note)
	}
	// A rehearsal is neither refused for it nor counted as a run.
	pf, _ = r.eng.Preflight(ctx, p, Options{System: "k2-san", Rehearsal: true})
	for _, c := range pf.Checks {
		if c.Name == "no other run" {
			t.Errorf("a rehearsal checked for other runs: %+v", c)
		}
	}
}

// TestSupervisedProcedureNeedsTheSupervisor: without a supervisor named,
// preflight refuses; a supervisor who does not sign off aborts the run
// before anything is sent; destructive steps cannot pass without the
// sign-off even if the procedure were to skip it; with it, the run
// completes and records who signed off.
func TestSupervisedProcedureNeedsTheSupervisor(t *testing.T) {
	ctx := context.Background()
	p := builtin(t, "k2san-recover-from-failover")
	failed := func() *fakeFleet {
		f := newK2()
		f.set("K2server1", func(s *Server) {
			s.Role, s.VendorRole, s.Services["k2-media-server"], s.Facts["qualified"] = model.RoleFailed, "failed", "failed", "false"
		})
		f.set("K2server2", func(s *Server) {
			s.Role, s.VendorRole, s.Facts["role_since"], s.Facts["failover"] = model.RolePrimary, "primary K2 Media Server", "2026-01-01T11:00:00Z", "complete"
		})
		return f
	}

	r := newRig(t, failed())
	_, err := r.eng.Run(ctx, p, Options{System: "k2-san", Operator: "alice"})
	var pe *PreflightError
	if !errors.As(err, &pe) || !strings.Contains(pe.Error(), "supervisor: k2san-recover-from-failover must be supervised") ||
		!strings.Contains(pe.Error(), "--supervisor NAME") {
		t.Fatalf("without a supervisor: %v", err)
	}

	r.ask.signOff = func(q Question) (Answer, error) { return Answer{OK: false, By: q.Supervisor, Note: "not today"}, nil }
	out, err := r.eng.Run(ctx, p, Options{System: "k2-san", Operator: "alice", Supervisor: "gv-engineer"})
	if err != nil || out.State != model.RunAborted {
		t.Fatalf("declined sign-off: %+v, %v", out, err)
	}
	if len(r.fleet.applied)+len(r.fleet.dryRuns) != 0 || !strings.Contains(out.Summary, "gv-engineer did not sign off") ||
		!strings.Contains(out.Summary, "Nothing was changed on the servers") {
		t.Errorf("declined sign-off sent %v %v; summary %q", r.fleet.applied, r.fleet.dryRuns, out.Summary)
	}

	// The gate itself: the same procedure with its supervise step taken
	// out (as a file edited after it was checked might be) stops at the
	// first destructive step with nothing sent.
	q := *p
	q.Steps = slices.Clone(p.Steps[1:])
	for i := range q.Steps {
		q.Steps[i].Index = i
	}
	r2 := newRig(t, failed())
	out, err = r2.eng.Run(ctx, &q, Options{System: "k2-san", Operator: "alice", Supervisor: "gv-engineer", AssumeYes: true})
	if err != nil || out.State != model.RunFailed {
		t.Fatalf("without a sign-off step: %+v, %v", out, err)
	}
	if len(r2.fleet.applied)+len(r2.fleet.dryRuns) != 0 || !strings.Contains(out.Summary, "no supervisor's sign-off yet; nothing was sent") {
		t.Errorf("the gate let %v %v through; summary %q", r2.fleet.applied, r2.fleet.dryRuns, out.Summary)
	}

	r3 := newRig(t, failed())
	out, err = r3.eng.Run(ctx, p, Options{System: "k2-san", Operator: "alice", Supervisor: "gv-engineer", AssumeYes: true})
	if err != nil || out.State != model.RunCompleted {
		t.Fatalf("supervised run: %+v, %v", out, err)
	}
	if r3.fleet.count("service.start") != 1 || r3.fleet.count("command.run") != 3 {
		t.Errorf("applied %v", r3.fleet.applied)
	}
	run, _ := r3.store.ProcedureRun(ctx, out.Run)
	if run.SignedOffBy != "gv-engineer" || run.SignedOffAt == nil {
		t.Errorf("sign-off not recorded: %+v", run)
	}
}

// TestChooseAndBranch: the answer of a choose step, given in advance as a
// parameter or asked, decides which steps run; skipped steps are recorded
// as skipped.
func TestChooseAndBranch(t *testing.T) {
	ctx := context.Background()
	p := builtin(t, "k2san-take-primary-out-of-service")

	r := newRig(t, newK2())
	o := k2Options()
	o.Params = map[string]string{"side_devices": "none"}
	out, err := r.eng.Run(ctx, p, o)
	if err != nil || out.State != model.RunCompleted {
		t.Fatalf("%+v, %v", out, err)
	}
	if r.fleet.count("command.run") != 0 {
		t.Errorf("with no devices on the side, the restarts ran: %v", r.fleet.applied)
	}
	steps, _ := r.store.ProcedureSteps(ctx, out.Run)
	var skipped []int
	for _, s := range steps {
		if s.State == model.StepSkipped {
			skipped = append(skipped, s.Index+1)
		}
	}
	if !slices.Equal(skipped, []int{11, 12, 13}) {
		t.Errorf("skipped steps %v, want 11 12 13", skipped)
	}
	for _, q := range r.ask.questions {
		if strings.HasPrefix(q, "choose:") {
			t.Errorf("a choice given as a parameter was asked: %s", q)
		}
	}

	// Asked: the operator's answer goes the other way.
	r = newRig(t, newK2())
	r.ask.choose = func(q Question) (Answer, error) { return Answer{OK: true, Value: "restart", By: "bob"}, nil }
	out, err = r.eng.Run(ctx, p, k2Options())
	if err != nil || out.State != model.RunCompleted || r.fleet.count("command.run") != 2 {
		t.Fatalf("%+v, %v, applied %v", out, err, r.fleet.applied)
	}
	run, _ := r.store.ProcedureRun(ctx, out.Run)
	if !strings.Contains(run.Vars, `"side_devices":"restart"`) {
		t.Errorf("the answer is not kept with the run: %s", run.Vars)
	}
}

// TestKilledAtEveryStepResumesToTheSameEnd stops the runner after each
// step in turn, and with each request in flight, then resumes it in a new
// engine (as a new process): every run ends as an uninterrupted one does,
// and no request was applied twice; an in-flight one was sent again
// under its request id.
func TestKilledAtEveryStepResumesToTheSameEnd(t *testing.T) {
	ctx := context.Background()
	p := builtin(t, "k2san-take-primary-out-of-service")
	want := []string{"K2server1 service.stop", "K2server1 command.run", "K2server1 command.run", "K2server1 service.start"}
	check := func(t *testing.T, r *rig, runID uint) {
		t.Helper()
		run, _ := r.store.ProcedureRun(ctx, runID)
		if run.State != model.RunCompleted {
			t.Fatalf("run ended %s: %s", run.State, run.Summary)
		}
		var got []string
		for _, a := range r.fleet.applied {
			f := strings.Fields(a)
			got = append(got, f[0]+" "+f[1])
		}
		if !slices.Equal(got, want) {
			t.Errorf("applied %v, want each change once: %v", r.fleet.applied, want)
		}
		if s := r.fleet.server("K2server1"); s.Role != model.RoleStandby || r.fleet.server("K2server2").Role != model.RolePrimary {
			t.Errorf("end state: K2server1 %s, K2server2 %s", s.Role, r.fleet.server("K2server2").Role)
		}
	}
	for k := 1; k <= len(p.Steps); k++ {
		t.Run(fmt.Sprintf("after step %d", k), func(t *testing.T) {
			r := newRig(t, newK2())
			cctx, kill := context.WithCancel(ctx)
			r.eng.Observe = func(u Update) {
				if u.Kind == UpdateStepEnd && u.Record.Index == k-1 {
					kill()
				}
			}
			out, err := r.eng.Run(cctx, p, k2Options())
			if err != nil {
				t.Fatal(err)
			}
			if k < len(p.Steps) && out.State != model.RunInterrupted {
				t.Fatalf("killed after step %d: %+v", k, out)
			}
			if out.State == model.RunInterrupted {
				out, err = r.engine().Resume(ctx, out.Run, "bob")
				if err != nil {
					t.Fatal(err)
				}
			}
			check(t, r, out.Run)
		})
	}
	for _, action := range []string{"service.stop", "command.run", "service.start"} {
		t.Run("in flight "+action, func(t *testing.T) {
			r := newRig(t, newK2())
			cctx, kill := context.WithCancel(ctx)
			var lost string
			r.fleet.lose = func(req actions.Request) bool {
				if req.Action == action && !req.DryRun && lost == "" {
					lost = req.RequestID
					kill()
					return true
				}
				return false
			}
			out, err := r.eng.Run(cctx, p, k2Options())
			if err != nil || out.State != model.RunInterrupted {
				t.Fatalf("%+v, %v", out, err)
			}
			acts, _ := r.store.ProcedureActions(ctx, out.Run)
			prepared := false
			for _, a := range acts {
				prepared = prepared || (a.RequestID == lost && a.State == "prepared")
			}
			if !prepared {
				t.Fatalf("the request in flight was not recorded before it was sent: %+v", acts)
			}
			out, err = r.engine().Resume(ctx, out.Run, "bob")
			if err != nil {
				t.Fatal(err)
			}
			check(t, r, out.Run)
			if r.fleet.seen[lost] != 2 {
				t.Errorf("request %s asked %d times; want twice (sent, then sent again on resume)", lost, r.fleet.seen[lost])
			}
			devs, _ := r.store.ProcedureDeviations(ctx, out.Run)
			var texts []string
			for _, d := range devs {
				texts = append(texts, d.Text)
			}
			all := strings.Join(texts, "\n")
			if !strings.Contains(all, "was resumed by bob") || !strings.Contains(all, lost+" ") || !strings.Contains(all, "sent again under the same request id") {
				t.Errorf("deviations:\n%s", all)
			}
			steps, _ := r.store.ProcedureSteps(ctx, out.Run)
			interrupted := 0
			for _, s := range steps {
				if s.State == model.StepInterrupted {
					interrupted++
				}
			}
			if interrupted != 1 {
				t.Errorf("%d interrupted step records, want 1", interrupted)
			}
		})
	}
}

// TestRehearsalChangesNothing: every change goes as a dry run, waits are
// not waited for, and the run is recorded as a rehearsal that the history
// shows apart from real runs.
func TestRehearsalChangesNothing(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, newK2())
	p := builtin(t, "k2san-take-primary-out-of-service")
	o := k2Options()
	o.Rehearsal = true
	out, err := r.eng.Run(ctx, p, o)
	if err != nil || out.State != model.RunCompleted {
		t.Fatalf("%+v, %v", out, err)
	}
	if len(r.fleet.applied) != 0 || len(r.fleet.dryRuns) != 4 {
		t.Errorf("a rehearsal applied %v; dry runs %v", r.fleet.applied, r.fleet.dryRuns)
	}
	steps, _ := r.store.ProcedureSteps(ctx, out.Run)
	states := map[model.StepState]int{}
	for _, s := range steps {
		states[s.State]++
	}
	if states[model.StepRehearsed] == 0 || states[model.StepFailed] != 0 {
		t.Errorf("step states %v", states)
	}
	if _, err := r.eng.Run(ctx, p, k2Options()); err != nil {
		t.Fatal(err)
	}
	hist, err := r.store.ProcedureHistory(ctx)
	if err != nil || len(hist) != 1 {
		t.Fatalf("history %+v, %v", hist, err)
	}
	h := hist[0]
	if h.System != "k2-san" || h.LastRehearsalID != out.Run || h.LastRunID != out.Run+1 || h.LastRun.IsZero() || h.LastRunState != model.RunCompleted {
		t.Errorf("history %+v", h)
	}
	rep, err := LoadReport(ctx, r.store, out.Run)
	if err != nil || !strings.Contains(rep.Markdown(), "# Rehearsal") || !strings.Contains(rep.RecoveryText(), "nothing was changed") {
		t.Errorf("rehearsal report: %v\n%s", err, rep.Markdown())
	}
}

// TestAbortSaysWhereThingsStand: an operator who does not confirm ends the
// run aborted with what was done, the servers now, and the document's way
// back; a run left open can be aborted later.
func TestAbortSaysWhereThingsStand(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, newK2())
	p := builtin(t, "k2san-take-primary-out-of-service")
	r.ask.confirm = func(q Question) (Answer, error) {
		if strings.Contains(q.Text, "started up") {
			return Answer{By: "alice"}, ErrAborted
		}
		return Answer{OK: true, By: "alice"}, nil
	}
	out, err := r.eng.Run(ctx, p, k2Options())
	if err != nil || out.State != model.RunAborted {
		t.Fatalf("%+v, %v", out, err)
	}
	for _, want := range []string{"step 7 (document 6): aborted by the operator", "6 of 16 steps were done",
		"Requests sent: service.stop on K2server1 (done)", "Now: K2server1 is out-of-service (out of service); K2server2 is primary"} {
		if !strings.Contains(out.Summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, out.Summary)
		}
	}
	if !strings.Contains(out.WayBack, "To put K2server1 back into service") {
		t.Errorf("way back %q", out.WayBack)
	}
	events, _ := r.store.Events(ctx, model.EventFilter{Kinds: []string{model.EventProcedure}})
	if len(events) == 0 || events[0].To != model.RunAborted.String() || events[0].Severity != model.SeverityWarning {
		t.Errorf("events %+v", events)
	}

	// A run left open (its runner killed) is aborted from the command line.
	cctx, kill := context.WithCancel(ctx)
	r.ask.confirm = nil
	r.eng.Observe = func(u Update) {
		if u.Kind == UpdateStepEnd && u.Record.Index == 0 {
			kill()
		}
	}
	r.fleet.set("K2server1", func(s *Server) {
		s.Role, s.VendorRole, s.Services["k2-media-server"], s.Facts["qualified"] = model.RoleStandby, "backup K2 Media Server", "running", "true"
		s.Facts["peer_heartbeat"] = "ok"
	})
	out, err = r.eng.Run(cctx, p, Options{System: "k2-san", Operator: "alice"})
	if out.State != model.RunInterrupted {
		t.Fatalf("%+v, %v", out, err)
	}
	ab, err := r.engine().Abort(ctx, out.Run, "carol", "the night shift takes over")
	if err != nil || ab.State != model.RunAborted || !strings.Contains(ab.Summary, "aborted by carol: the night shift takes over") {
		t.Fatalf("abort: %+v, %v", ab, err)
	}
	if _, err := r.engine().Resume(ctx, out.Run, "dave"); err == nil || !strings.Contains(err.Error(), "has ended (aborted)") {
		t.Errorf("resume of an aborted run: %v", err)
	}
}

// TestResumeRefusesALiveRun: a run whose owner still runs is not taken
// over.
func TestResumeRefusesALiveRun(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, newK2())
	p := builtin(t, "k2san-take-primary-out-of-service")
	cctx, kill := context.WithCancel(ctx)
	r.eng.Observe = func(u Update) {
		if u.Kind == UpdateStepEnd {
			kill()
		}
	}
	out, _ := r.eng.Run(cctx, p, k2Options())
	run, _ := r.store.ProcedureRun(ctx, out.Run)
	run.Owner = "elsewhere:42"
	r.store.SaveProcedureRun(ctx, &run)
	e := r.engine()
	e.OwnerAlive = func(owner string) bool { return owner == "elsewhere:42" }
	if _, err := e.Resume(ctx, out.Run, "bob"); err == nil || !strings.Contains(err.Error(), "is being run by elsewhere:42 now") {
		t.Errorf("resume of a live run: %v", err)
	}
}

// TestVerifyTimesOut: a condition that never holds fails its step after
// the timeout, with what it saw.
func TestVerifyTimesOut(t *testing.T) {
	ctx := context.Background()
	f := newK2()
	inner := f.effect
	f.effect = func(f *fakeFleet, s *Server, req actions.Request) actions.Outcome {
		if req.Action == actions.ServiceStop {
			// The backup does not take over.
			s.Role, s.VendorRole = model.RoleOutOfService, "out of service"
			return actions.Outcome{Changed: true}
		}
		return inner(f, s, req)
	}
	r := newRig(t, f)
	out, err := r.eng.Run(ctx, builtin(t, "k2san-take-primary-out-of-service"), k2Options())
	if err != nil || out.State != model.RunFailed {
		t.Fatalf("%+v, %v", out, err)
	}
	if !strings.Contains(out.Summary, "step 4 (document 3) failed: not within 2m0s: K2server1 is out-of-service (out of service); K2server2 is standby (backup K2 Media Server), not primary") {
		t.Errorf("summary %q", out.Summary)
	}
}

// flapping serves a fact that flickers for its first reads, as a restarted
// server's stale log does.
type flapping struct {
	*fakeFleet
	flicker []string
}

func (f *flapping) Servers(ctx context.Context, system string) ([]Server, error) {
	list, err := f.fakeFleet.Servers(ctx, system)
	v := "ok"
	if n := f.fakeFleet.reads; n <= len(f.flicker) {
		v = f.flicker[n-1]
	}
	for i := range list {
		list[i].Facts["state"] = v
	}
	return list, err
}

// TestHoldWaitsForTheConditionToStay: a verify step with hold passes only
// once its condition has held that long without a break.
func TestHoldWaitsForTheConditionToStay(t *testing.T) {
	ctx := context.Background()
	p, err := Parse("hold.yaml", []byte(`id: hold
title: Hold
profile: k2san
kind: check
document: {file: d.txt}
bindings: {p: {role: primary}}
steps:
  - type: verify
    text: It stays ok.
    hold: 1s
    timeout: 1m
    condition: {server: p, fact: state, equals: ok}
`))
	if err != nil {
		t.Fatal(err)
	}
	f := &flapping{fakeFleet: newK2(), flicker: []string{"ok", "ok", "ok", "stale", "ok", "stale"}}
	r := newRig(t, f.fakeFleet)
	r.eng.Fleet = f
	out, err := r.eng.Run(ctx, p, k2Options())
	if err != nil || out.State != model.RunCompleted {
		t.Fatalf("%+v, %v", out, err)
	}
	// Preflight read once; the step read until five polls (250 ms each)
	// after the last flicker.
	if f.reads < 6+5 {
		t.Errorf("passed after %d reads; the condition broke at read 6", f.reads)
	}
	steps, _ := r.store.ProcedureSteps(ctx, out.Run)
	if !strings.Contains(steps[0].Result, "held for 1s") {
		t.Errorf("result %q", steps[0].Result)
	}
}

// TestRefusedApprovalSaysWhatAndWhy: an operator who refuses a change
// after its dry run ends the run aborted, and the summary says which change
// in plain words and the operator's reason.
func TestRefusedApprovalSaysWhatAndWhy(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, newK2())
	p := builtin(t, "k2san-take-primary-out-of-service")
	r.ask.confirm = func(q Question) (Answer, error) {
		if len(q.Preview) > 0 {
			return Answer{OK: false, By: "alice", Note: "the tape is still rolling"}, nil
		}
		return Answer{OK: true, By: "alice"}, nil
	}
	out, err := r.eng.Run(ctx, p, k2Options())
	if err != nil || out.State != model.RunAborted {
		t.Fatalf("%+v, %v", out, err)
	}
	want := "the operator did not approve: stop service k2-media-server on K2server1 (the tape is still rolling)"
	if !strings.Contains(out.Summary, want) || strings.Contains(out.Summary, "?") {
		t.Errorf("summary lacks %q (or asks a question):\n%s", want, out.Summary)
	}
}

// A preflight's blocker is what must change on the servers, not what the
// operator gives when starting: a supervised procedure with no supervisor
// named yet is ready as far as the fleet goes; a server down blocks it.
func TestPreflightBlockerIsTheFleetsNotTheOperators(t *testing.T) {
	ctx := context.Background()
	p := builtin(t, "k2san-recover-from-failover")
	f := newK2()
	f.servers[0].System, f.servers[1].System = "k2-san", "k2-san"
	f.set("K2server1", func(s *Server) { s.Role = model.RoleOutOfService })
	f.set("K2server2", func(s *Server) { s.Role = model.RolePrimary })
	r := newRig(t, f)
	pf, err := r.eng.Preflight(ctx, p, k2Options()) // no supervisor named
	if err != nil {
		t.Fatal(err)
	}
	if pf.OK() {
		t.Fatal("a supervised procedure passed its preflight without a supervisor")
	}
	if c, blocked := pf.Blocker(); blocked {
		t.Errorf("blocked by %s: %s; want only the supervisor missing, which is the operator's to give", c.Name, c.Detail)
	}
	// Right after the failover K2server1 is down: the document's step 2
	// has the operator start it, and the check after that step waits for
	// it. Preflight does not judge that check before the operator's step.
	f.set("K2server1", func(s *Server) {
		s.Role, s.Health, s.Detail = model.RoleUnknown, model.HealthDown, "connection refused"
	})
	if pf, err = r.eng.Preflight(ctx, p, k2Options()); err != nil {
		t.Fatal(err)
	}
	if c, blocked := pf.Blocker(); blocked {
		t.Errorf("right after the failover the recovery is blocked by %s: %s", c.Name, c.Detail)
	}
	f.set("K2server2", func(s *Server) { s.Health, s.Detail = model.HealthDown, "no answer from the host in time" })
	pf, err = r.eng.Preflight(ctx, p, k2Options())
	if err != nil {
		t.Fatal(err)
	}
	if c, blocked := pf.Blocker(); !blocked || !strings.Contains(c.Detail, "K2server2 is down: no answer from the host in time: start it") {
		t.Errorf("with the primary down the blocker is %+v (%v)", c, blocked)
	}
}
