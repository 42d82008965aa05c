package ui

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/procedure"
	"github.com/vigilops/vigil/ui/runmodel"
)

func TestAgoWords(t *testing.T) {
	now := time.Date(2026, 3, 4, 3, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "never"},
		{now.Add(-20 * time.Second), "just now"},
		{now.Add(time.Minute), "just now"}, // a clock a little ahead
		{now.Add(-1 * time.Minute), "1 minute ago"},
		{now.Add(-59 * time.Minute), "59 minutes ago"},
		{now.Add(-3 * time.Hour), "3 hours ago"},
		{now.Add(-25 * time.Hour), "1 day ago"},
		{now.Add(-3 * 24 * time.Hour), "3 days ago"},
	} {
		if got := agoWords(c.t, now); got != c.want {
			t.Errorf("agoWords(%v) = %q, want %q", now.Sub(c.t), got, c.want)
		}
	}
	l := model.ProcedureLast{LastRehearsal: now.Add(-3 * 24 * time.Hour), LastRehearsalState: model.RunCompleted}
	if got := lastTimes(l, now); got != "Last run: never · last rehearsal: 3 days ago (completed)" {
		t.Errorf("lastTimes = %q", got)
	}
}

func TestConditionWords(t *testing.T) {
	names := boundNames{"spare": {"beta"}, "pair": {"a", "b"}}
	for _, c := range []struct {
		c    *procedure.Condition
		want string
	}{
		{&procedure.Condition{Server: "spare", Role: []model.Role{model.RoleStandby}}, "beta is standby"},
		{&procedure.Condition{Server: "pair", Health: []model.Health{model.HealthUp}}, "a and b is up"},
		{&procedure.Condition{Server: "spare", Fact: "qualified", Op: procedure.OpEquals, Value: "true", Says: "qualified"}, "beta is qualified"},
		{&procedure.Condition{Server: "spare", Fact: "lag", Op: procedure.OpAtMost, Value: "5"}, "beta's lag is at most 5"},
		{&procedure.Condition{Server: "other", Service: "svc", State: []string{"stopped", "failed"}}, "other has svc stopped or failed"},
		{&procedure.Condition{Param: "sides", Op: procedure.OpEquals, Value: "none"}, "the answer sides is “none”"},
		{&procedure.Condition{All: []*procedure.Condition{
			{Server: "spare", Role: []model.Role{model.RolePrimary}},
			{Any: []*procedure.Condition{{Server: "spare", Fact: "x", Op: procedure.OpPresent, Value: "true"},
				{Not: &procedure.Condition{Server: "spare", Fact: "y", Op: procedure.OpPresent, Value: "false"}}}},
		}}, "beta is primary and either beta's x is given or it is not so that beta's y is not given"},
	} {
		if got := conditionWords(c.c, names); got != c.want {
			t.Errorf("conditionWords = %q, want %q", got, c.want)
		}
	}
}

func TestStepLooksAreDistinctWords(t *testing.T) {
	seen := map[string]model.StepState{}
	for _, s := range stepWords {
		l := lookOfStep(s)
		if l.word == "" || l.word != strings.ToUpper(l.word) {
			t.Errorf("%s reads %q", s, l.word)
		}
		if prev, dup := seen[l.word]; dup {
			t.Errorf("%s and %s both read %q", prev, s, l.word)
		}
		seen[l.word] = s
	}
	if lookOfStep(model.StepPassed).word != "DONE" || lookOfStep(runmodel.StepYourTurn).word != "YOUR TURN" {
		t.Error("passed must read DONE and the operator's turn YOUR TURN")
	}
}

func TestPreviewLinesAndSummaries(t *testing.T) {
	req := actions.Request{Action: actions.ServiceStop, Params: map[string]string{"service": "svc"}}
	for _, c := range []struct {
		pv   procedure.ActionPreview
		want string
	}{
		{procedure.ActionPreview{Server: "a", Request: req, Result: actions.Result{State: actions.StateDone,
			Outcome: &actions.Outcome{Changed: true, Diff: "service svc: running -> stopped\n"}}},
			"stop service svc on a\n  service svc: running -> stopped"},
		{procedure.ActionPreview{Server: "a", Request: req, Result: actions.Result{State: actions.StateDone, Outcome: &actions.Outcome{}}},
			"stop service svc on a\n  no change: it is already as asked"},
		{procedure.ActionPreview{Server: "a", Request: req, Err: errors.New("connection refused")},
			"stop service svc on a\n  the dry run failed: connection refused"},
	} {
		if got := previewLines(c.pv); got != c.want {
			t.Errorf("previewLines = %q, want %q", got, c.want)
		}
	}
	pf := procedure.Preflight{Checks: []procedure.Check{{OK: true}, {OK: true, Warning: true}}}
	if got := preflightSummary(pf, false); got != "Preflight passed: 2 checks, with 1 note to read." {
		t.Errorf("summary = %q", got)
	}
	pf.Checks = append(pf.Checks, procedure.Check{})
	if got := preflightSummary(pf, true); got != "Preflight: 1 check FAILED. The rehearsal cannot start until it passes." {
		t.Errorf("summary = %q", got)
	}
	if got := wizardWords("no value: Which server?; give it with --param server=VALUE"); got != "no value: Which server?; give it in the field server" {
		t.Errorf("wizardWords = %q", got)
	}
}
