package store

import (
	"github.com/vigilops/vigil/model"

	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestProcedureRunsOnePerSystem: a second run on a system is refused while
// the first has not ended (rehearsals are never refused), and allowed once
// it has; another system is not affected.
func TestProcedureRunsOnePerSystem(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, t.TempDir())
	t0 := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	first := &model.ProcedureRun{ProcedureID: "k2san-take-primary-out-of-service", System: "k2-san", State: model.RunRunning, Operator: "alice", Started: t0}
	if err := s.StartProcedureRun(ctx, first); err != nil || first.ID == 0 {
		t.Fatalf("first run: %v (id %d)", err, first.ID)
	}
	err := s.StartProcedureRun(ctx, &model.ProcedureRun{ProcedureID: "k2san-recover-from-failover", System: "k2-san", State: model.RunRunning, Started: t0})
	var active *model.ActiveRunError
	if !errors.As(err, &active) || active.Run.ID != first.ID || !strings.Contains(err.Error(), "vigil procedure resume 1") {
		t.Fatalf("second run: %v", err)
	}
	if err := s.StartProcedureRun(ctx, &model.ProcedureRun{ProcedureID: "x", System: "k2-san", State: model.RunRunning, Rehearsal: true, Started: t0}); err != nil {
		t.Errorf("a rehearsal was refused: %v", err)
	}
	if err := s.StartProcedureRun(ctx, &model.ProcedureRun{ProcedureID: "x", System: "infocast", State: model.RunRunning, Started: t0}); err != nil {
		t.Errorf("another system was refused: %v", err)
	}
	end := t0.Add(time.Minute)
	first.State, first.Ended = model.RunCompleted, &end
	if err := s.SaveProcedureRun(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := s.StartProcedureRun(ctx, &model.ProcedureRun{ProcedureID: "k2san-recover-from-failover", System: "k2-san", State: model.RunRunning, Started: end}); err != nil {
		t.Errorf("after the first ended: %v", err)
	}
}

// TestProcedureStepsAndRequestsAreKept: step records and the run's cursor
// are written together; a request is kept from before it is sent; a run is
// claimed only while open and not owned by a live process.
func TestProcedureStepsAndRequestsAreKept(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTemp(t, dir)
	now := time.Now()
	run := &model.ProcedureRun{ProcedureID: "p", System: "sys", State: model.RunRunning, Owner: "host:1", Started: now}
	if err := s.StartProcedureRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	rec := &model.ProcedureStepRecord{RunID: run.ID, Index: 0, Attempt: 1, Type: "action", State: "running", Started: now}
	if err := s.BeginProcedureStep(ctx, rec); err != nil {
		t.Fatal(err)
	}
	a := &model.ProcedureAction{RunID: run.ID, StepIndex: 0, RequestID: "01900000-0000-7000-8000-000000000001", Action: "service.stop",
		Params: `{"service":"x"}`, Epoch: 42, Prepared: now}
	if err := s.PrepareProcedureAction(ctx, a); err != nil {
		t.Fatal(err)
	}
	// The process dies here. Another opens the store and finds both.
	s.Close()
	s = openTemp(t, dir)
	steps, _ := s.ProcedureSteps(ctx, run.ID)
	acts, _ := s.ProcedureActions(ctx, run.ID)
	if len(steps) != 1 || steps[0].State != "running" || len(acts) != 1 || acts[0].State != "prepared" || acts[0].Epoch != 42 {
		t.Fatalf("after a restart: steps %+v, requests %+v", steps, acts)
	}
	if _, err := s.ClaimProcedureRun(ctx, run.ID, "host:2", func(string) bool { return true }); err == nil ||
		!strings.Contains(err.Error(), "is being run by host:1 now") {
		t.Errorf("claim of a live run: %v", err)
	}
	claimed, err := s.ClaimProcedureRun(ctx, run.ID, "host:2", func(string) bool { return false })
	if err != nil || claimed.Owner != "host:2" {
		t.Fatalf("claim of a dead run: %+v, %v", claimed, err)
	}
	if err := s.FinishProcedureAction(ctx, a.RequestID, "done", `{"state":"done"}`, now); err != nil {
		t.Fatal(err)
	}
	end := now.Add(time.Second)
	steps[0].State, steps[0].Ended = "passed", &end
	claimed.Cursor, claimed.State, claimed.Ended = 1, model.RunCompleted, &end
	if err := s.EndProcedureStep(ctx, &claimed, &steps[0]); err != nil {
		t.Fatal(err)
	}
	got, _ := s.ProcedureRun(ctx, run.ID)
	steps, _ = s.ProcedureSteps(ctx, run.ID)
	if got.Cursor != 1 || got.State != model.RunCompleted || steps[0].State != "passed" {
		t.Errorf("run %+v, step %+v", got, steps[0])
	}
	if _, err := s.ClaimProcedureRun(ctx, run.ID, "host:3", nil); err == nil || !strings.Contains(err.Error(), "has ended (completed)") {
		t.Errorf("claim of an ended run: %v", err)
	}
	if _, err := s.ProcedureRun(ctx, 99); err == nil || !strings.Contains(err.Error(), "no procedure run 99") {
		t.Errorf("missing run: %v", err)
	}
}

// TestProcedureHistory: per system and procedure, the newest run and the
// newest rehearsal.
func TestProcedureHistory(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, t.TempDir())
	t0 := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	add := func(system, proc string, rehearsal bool, state model.RunState, at time.Time) uint {
		r := &model.ProcedureRun{ProcedureID: proc, System: system, State: state, Rehearsal: rehearsal, Started: at}
		if err := s.StartProcedureRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	add("k2-san", "take", false, model.RunFailed, t0)
	lastRun := add("k2-san", "take", false, model.RunCompleted, t0.Add(time.Hour))
	lastReh := add("k2-san", "take", true, model.RunCompleted, t0.Add(2*time.Hour))
	other := add("infocast", "verify", true, model.RunAborted, t0)
	hist, err := s.ProcedureHistory(ctx)
	if err != nil || len(hist) != 2 {
		t.Fatalf("%+v, %v", hist, err)
	}
	if h := hist[0]; h.System != "infocast" || h.LastRehearsalID != other || !h.LastRun.IsZero() || h.LastRehearsalState != model.RunAborted {
		t.Errorf("infocast: %+v", h)
	}
	if h := hist[1]; h.LastRunID != lastRun || !h.LastRun.Equal(t0.Add(time.Hour)) || h.LastRehearsalID != lastReh || h.LastRunState != model.RunCompleted {
		t.Errorf("k2-san: %+v", h)
	}
}
