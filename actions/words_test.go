package actions

import (
	"strings"
	"testing"
)

// A result reads the same wherever it is shown: Say is the one place that
// words it, and each view takes the parts it has room for.
func TestSay(t *testing.T) {
	code := 3
	long := strings.Repeat("é", 200)
	for _, tc := range []struct {
		name       string
		r          Result
		head, line string
		first      string
		text       string
	}{
		{"a change", Result{RequestID: "r1", State: StateDone, Action: SettingsSet,
			Outcome: &Outcome{Changed: true, Diff: "-  <IsSlave>False</IsSlave>\n+  <IsSlave>True</IsSlave>\n", Backup: "/b/AS.xml.1"}},
			"done", "done; -  <IsSlave>False</IsSlave>\n+  <IsSlave>True</IsSlave>", "-  <IsSlave>False</IsSlave>",
			"state: done\n-  <IsSlave>False</IsSlave>\n+  <IsSlave>True</IsSlave>\nprevious file kept as /b/AS.xml.1\nrequest id: r1"},
		{"a dry run that would change nothing", Result{RequestID: "r2", State: StateDone, Action: ServiceStop, DryRun: true, Outcome: &Outcome{}},
			"done (dry run)", "done (dry run); no change: already as asked", "no change: already as asked",
			"state: done (dry run: nothing was changed)\nno change: already as asked\nrequest id: r2"},
		{"a read", Result{State: StateDone, Action: ServiceStatus, Outcome: &Outcome{Value: "running"}},
			"done", "done; value: running", "value: running", "state: done\nvalue: running"},
		{"a command that failed", Result{State: StateFailed, Action: CommandRun, Error: "exit status 3",
			Outcome: &Outcome{Changed: true, Output: " " + long + "\nmore\n", ExitCode: &code}},
			"failed: exit status 3", "failed: exit status 3; exit status 3; output: " + strings.Repeat("é", 5) + "…", "",
			"state: failed\nerror: exit status 3\nexit status 3\noutput:\n" + long + "\nmore"},
	} {
		said := tc.r.Say()
		if got := said.Head(); got != tc.head {
			t.Errorf("%s: Head %q, want %q", tc.name, got, tc.head)
		}
		if got := said.Line(10); got != tc.line {
			t.Errorf("%s: Line %q, want %q", tc.name, got, tc.line)
		}
		if got := said.FirstChange(0); got != tc.first {
			t.Errorf("%s: FirstChange %q, want %q", tc.name, got, tc.first)
		}
		if got := said.Text(); got != tc.text {
			t.Errorf("%s: Text\n%s\nwant\n%s", tc.name, got, tc.text)
		}
	}
	// A cut never splits a character.
	if got := (Said{Change: "ab" + long}).FirstChange(5); got != "abé…" {
		t.Errorf("FirstChange(5) of %q… = %q, want %q", "abé", got, "abé…")
	}
}
