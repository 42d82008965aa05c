package model

import (
	"errors"
	"testing"
)

func TestParseRole(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Role
		ok   bool
	}{
		{"primary", RolePrimary, true},
		{" Standby\n", RoleStandby, true},
		{"OUT-OF-SERVICE", RoleOutOfService, true},
		{"failed", RoleFailed, true},
		{"unknown", RoleUnknown, true},
		{"master", RoleUnknown, false},
		{"", RoleUnknown, false},
	} {
		got, err := ParseRole(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseRole(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestStatesReadAsTheirWords: the typed states are stored and printed as
// the words DESIGN.md gives them, and only the open run states resume.
func TestStatesReadAsTheirWords(t *testing.T) {
	for _, tc := range []struct {
		got  interface{ String() string }
		want string
	}{
		{RunRunning, "running"}, {RunInterrupted, "interrupted"}, {RunCompleted, "completed"},
		{RunFailed, "failed"}, {RunAborted, "aborted"}, {RunRefused, "refused"},
		{StepPassed, "passed"}, {StepRehearsed, "rehearsed"}, {StepInterrupted, "interrupted"},
		{ActionPrepared, "prepared"}, {ActionDone, "done"}, {ActionUncertain, "uncertain"},
	} {
		if tc.got.String() != tc.want {
			t.Errorf("%#v reads %q, want %q", tc.got, tc.got.String(), tc.want)
		}
	}
	for _, s := range []RunState{RunRunning, RunInterrupted} {
		if !s.Open() {
			t.Errorf("%s is not open", s)
		}
	}
	for _, s := range []RunState{RunCompleted, RunFailed, RunAborted, RunRefused} {
		if s.Open() {
			t.Errorf("%s is open", s)
		}
	}
}

// TestRefusal: the console acts only on servers it watches, and its
// refusal says what the operator can do.
func TestRefusal(t *testing.T) {
	ours := ServerView{ID: "id-1", Name: "AS-1", Address: "10.0.0.5:7443", Paired: true}
	if err := ours.Refusal(); err != nil {
		t.Errorf("a paired server is refused: %v", err)
	}
	for _, tc := range []struct {
		v    ServerView
		want string
	}{
		{ServerView{ID: "id-1", Name: "AS-1", Address: "10.0.0.5:7443"},
			"AS-1 is not paired with this console; run `vigil-agent pair-code --config FILE` on it, then `vigil pair 10.0.0.5:7443 --code CODE`"},
		{ServerView{ID: "id-1", Paired: true, IdentityChanged: true},
			"id-1 presents another key than the one pinned when it was paired; Vigil will not act on it. If the host was reinstalled on purpose, run `vigil-agent pair-code` on it and `vigil pair - --code CODE` here"},
	} {
		err := tc.v.Refusal()
		var no *NotOursError
		if !errors.As(err, &no) || err.Error() != tc.want {
			t.Errorf("Refusal of %+v = %v, want %q", tc.v, err, tc.want)
		}
	}
}
