package procedure

import (
	"context"
	"strings"
	"testing"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// TestReportTellsTheRun: the after-action report of a run that was
// interrupted with a request in flight and resumed has the timeline in
// the document's words with evidence, the recovery time against the
// target, the deviations and who confirmed and signed off, in Markdown
// and in HTML with everything escaped.
func TestReportTellsTheRun(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, newK2())
	p := builtin(t, "k2san-take-primary-out-of-service")
	cctx, kill := context.WithCancel(ctx)
	r.fleet.lose = func(req actions.Request) bool {
		if req.Action == actions.ServiceStart && !req.DryRun {
			r.fleet.lose = nil
			kill()
			return true
		}
		return false
	}
	r.ask.confirm = func(q Question) (Answer, error) {
		if strings.Contains(q.Text, "started up") {
			return Answer{OK: true, By: "alice", Note: "replaced a <fan> & cleaned filters"}, nil
		}
		return Answer{OK: true, By: "alice"}, nil
	}
	out, _ := r.eng.Run(cctx, p, Options{System: "k2-san", Operator: "alice"})
	if out.State != model.RunInterrupted {
		t.Fatalf("%+v", out)
	}
	if out, _ = r.engine().Resume(ctx, out.Run, "bob"); out.State != model.RunCompleted {
		t.Fatalf("%+v", out)
	}
	rep, err := LoadReport(ctx, r.store, out.Run)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Recovered || rep.Recovery <= 0 || !strings.Contains(rep.RecoveryFrom, "step 3 (document 3)") {
		t.Errorf("recovery %v %v from %q", rep.Recovered, rep.Recovery, rep.RecoveryFrom)
	}
	md := rep.Markdown()
	for _, want := range []string{
		"# Run 1: Take the primary K2 Media Server out of service",
		"- Outcome: **completed**",
		"- Operator: alice",
		"old\\_primary (K2server1 in the document) = K2server1",
		"from the start of step 3 (document 3), the first change to production, within the target of 2m0s.",
		"| step 3 (document 3) | action |",
		"| step 14 (document 8) | action |",
		"interrupted | the runner stopped during this step",
		"**step 1 (document 1)** (passed, attempt 1): Verify primary/backup roles and make sure K2server2 (the backup) is qualified",
		"- K2server2 qualified=true",
		"(preview, dry run): done",
		"## Deviations",
		"was resumed by bob",
		"was in flight when the run stopped; it was sent again under the same request id",
		"step 7 (document 6): confirmed by alice — note: replaced a &lt;fan> & cleaned filters",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	html, err := rep.HTML()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"<title>Run 1: Take the primary K2 Media Server out of service</title>",
		`<strong class="completed">completed</strong>`,
		"within the target of 2m0s",
		"running -&gt; stopped",
		"replaced a &lt;fan&gt; &amp; cleaned filters",
		"(attempt 2)",
		"<h2>Deviations</h2>",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Contains(html, "<fan>") {
		t.Error("HTML does not escape an operator's note")
	}
	if t.Failed() {
		t.Logf("Markdown:\n%s", md)
	}
}

// TestReportOfAFailedSupervisedRun: sign-offs, no recovery, where things
// stand and the way back.
func TestReportOfAFailedSupervisedRun(t *testing.T) {
	ctx := context.Background()
	f := newK2()
	f.set("K2server1", func(s *Server) {
		s.Role, s.VendorRole, s.Services["k2-media-server"] = model.RoleFailed, "failed", "failed"
	})
	f.set("K2server2", func(s *Server) { s.Role, s.VendorRole = model.RolePrimary, "primary K2 Media Server" })
	inner := f.effect
	f.effect = func(f *fakeFleet, s *Server, req actions.Request) actions.Outcome {
		out := inner(f, s, req)
		if req.Params["command"] == "restart-fc-switch" {
			one := 1
			out.ExitCode = &one
		}
		return out
	}
	r := newRig(t, f)
	out, err := r.eng.Run(ctx, builtin(t, "k2san-recover-from-failover"), Options{System: "k2-san", Operator: "alice", Supervisor: "gv-engineer", AssumeYes: true})
	if err != nil || out.State != model.RunFailed {
		t.Fatalf("%+v, %v", out, err)
	}
	rep, err := LoadReport(ctx, r.store, out.Run)
	if err != nil {
		t.Fatal(err)
	}
	md := rep.Markdown()
	for _, want := range []string{
		"- Outcome: **failed**",
		"- Supervisor: gv-engineer",
		"Not recovered: the run ended failed. Target: 15m0s.",
		"## Where things stand",
		"step 9 (document 4) failed: command.run on K2server1: done; exit status 1.",
		"Requests sent: command.run on K2server1 (done); command.run on K2server1 (done); command.run on K2server1 (done).",
		"The document's way back: Until step 5, K2server1 is out of service",
		"Supervisor gv-engineer signed off at",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("Markdown:\n%s", md)
	}
}
