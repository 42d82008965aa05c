package app

import (
	"context"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilops/vigil/alert/alerttest"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/sim/fleet"
)

// demoQuiet is how long the demo's fleet is watched for a false alarm: the
// first minute, as an operator trying the demo sees it.
const demoQuiet = time.Minute

// TestDemoFleetStartsQuiet runs the demo's fleet (every profile, at the
// demo's speed) with a console paired to every member, as `vigil demo`
// does, and watches its first minute: every system is judged healthy, and
// not one warning or critical event is raised. Noise at the start teaches
// operators to ignore the Events tab.
func TestDemoFleetStartsQuiet(t *testing.T) {
	t.Parallel()
	_, members, _ := startFleetAt(t, vigilBin, "infocast,k2san,nintex,redstor,wavestore", 1)
	c, updates, _ := testConsole(t, t.TempDir())
	events, cancel := c.mon.SubscribeEvents()
	defer cancel()
	for _, m := range members {
		if _, err := c.pair(context.Background(), m.Address, testCode); err != nil {
			t.Fatalf("pair %s: %v", m.Name, err)
		}
	}
	hold := time.After(demoQuiet)
	for watching := true; watching; {
		select {
		case e := <-events:
			if e.Severity.Rank() >= model.SeverityWarning.Rank() {
				t.Errorf("in the demo's first minute: %s %s %s %s→%s: %s", e.Severity, e.System, e.Server, e.From, e.To, e.Detail)
			}
		case <-updates:
		case <-hold:
			watching = false
		}
	}
	verdicts := c.mon.Verdicts()
	if len(verdicts) != 6 {
		t.Errorf("%d systems judged, want the demo's 6: %+v", len(verdicts), verdicts)
	}
	for _, v := range verdicts {
		if v.Verdict != model.VerdictHealthy {
			t.Errorf("%s is %s after a minute: %s (%s)", v.System, v.Verdict, v.Summary, reasonTexts(v))
		}
	}
}

func reasonTexts(v model.SystemVerdict) string {
	var out []string
	for _, r := range v.Reasons {
		out = append(out, r.Text)
	}
	return strings.Join(out, "; ")
}

// TestK2FailoverAmongStrangers runs a simulated K2 SAN (agent processes,
// mDNS, the document's heartbeat and takeover) paired with the console,
// beside another K2 SAN of the same name that the console does not watch,
// as another console's fleet on the LAN would be. Killing the primary's
// agent makes the backup take over: the console's verdict goes failing over
// → failed over, never split brain, and at no moment does it show two live
// primaries; the strangers, announced only, count in no verdict; each
// transition is mailed once.
func TestK2FailoverAmongStrangers(t *testing.T) {
	t.Parallel()
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS})
	data := t.TempDir()
	setAlerts(t, data, srv, "2s")
	// At twice the document's speed the backup waits 5 s for the lost
	// heartbeat: the failover is long enough to be seen, and mailed, on
	// its own.
	_, ours, _ := startFleetAt(t, vigilBin, "k2san", 2)
	_, strangers, _ := startFleet(t, "k2san")
	c, updates, byID := testConsole(t, data)
	for _, m := range ours {
		if _, err := c.pair(context.Background(), m.Address, testCode); err != nil {
			t.Fatalf("pair %s: %v", m.Name, err)
		}
	}
	var primary, backup fleet.Member
	waitFor(t, updates, time.Minute, "ours up with a qualified backup, and a stranger announced by mDNS", func() bool {
		seen := false
		for _, m := range strangers {
			v := byID(m.AgentID)
			seen = seen || v.ID != "" && !v.Paired
		}
		for _, m := range ours {
			v := byID(m.AgentID)
			st, ok := c.mon.Status(m.AgentID)
			switch {
			case v.Health != model.HealthUp:
				return false
			case v.Role == model.RolePrimary:
				primary = m
			case v.Role == model.RoleStandby && ok && st.Facts["qualified"] == "true":
				backup = m
			}
		}
		return seen && primary.Name != "" && backup.Name != ""
	})
	if v := verdictOf(c, "k2-san"); v.Verdict != model.VerdictHealthy {
		t.Fatalf("before the failover k2-san is %s: %s (%s)", v.Verdict, v.Summary, reasonTexts(v))
	}
	verdicts, cancelVerdicts := c.mon.SubscribeVerdicts()
	defer cancelVerdicts()
	events, cancelEvents := c.mon.SubscribeEvents()
	defer cancelEvents()
	views, cancelViews := c.mon.Subscribe()
	defer cancelViews()

	syscall.Kill(primary.PID, syscall.SIGKILL)
	var path []model.Verdict
	deadline := time.After(2 * time.Minute)
	for len(path) == 0 || path[len(path)-1] != model.VerdictFailedOver {
		select {
		case v := <-verdicts:
			if v.System != "k2-san" {
				continue
			}
			if len(path) == 0 || path[len(path)-1] != v.Verdict {
				path = append(path, v.Verdict)
				t.Logf("k2-san %s: %s (%s)", v.Verdict, v.Summary, reasonTexts(v))
			}
			if v.Verdict == model.VerdictFailedOver && v.Next != "k2san-recover-from-failover" {
				t.Errorf("failed over with next step %q", v.Next)
			}
		case v := <-views:
			live := 0
			for _, s := range c.mon.Snapshot() {
				if s.System == "k2-san" && s.Paired && s.Live() && s.Role == model.RolePrimary {
					live++
				}
			}
			if live > 1 {
				t.Errorf("two live primaries shown after %s changed: %+v", v.Name, c.mon.Snapshot())
			}
		case <-deadline:
			t.Fatalf("k2-san's verdicts %v, never failed over", path)
		}
	}
	if want := []model.Verdict{model.VerdictFailingOver, model.VerdictFailedOver}; !slices.Equal(path, want) {
		t.Errorf("k2-san went %v, want %v", path, want)
	}
	for _, m := range strangers {
		if v := byID(m.AgentID); v.Paired {
			t.Errorf("stranger %s is paired", m.Name)
		}
	}

	// One email per transition: the first (the primary down, failing
	// over) at once, the next (failed over) after it. The event is stored
	// (with its alert) before subscribers hear of it.
	nextEvent(t, events, string(model.VerdictFailedOver), "")
	sent := outboxSettled(t, c)
	msgs := srv.Wait(sent, time.Minute)
	var all strings.Builder
	for _, m := range msgs {
		all.WriteString(mailBody(t, m.Data))
	}
	for _, v := range []model.Verdict{model.VerdictFailingOver, model.VerdictFailedOver} {
		if n := strings.Count(all.String(), "k2-san is now "+v.Label()); n != 1 {
			t.Errorf("the emails say %d times that k2-san is now %s, want once:\n%s", n, v.Label(), all.String())
		}
	}
	if strings.Contains(all.String(), "not paired") {
		t.Errorf("the emails speak of the strangers:\n%s", all.String())
	}
	if len(msgs) != 2 {
		t.Errorf("%d emails, want 2", len(msgs))
	}
}

func verdictOf(c *core, system string) model.SystemVerdict {
	for _, v := range c.mon.Verdicts() {
		if v.System == system {
			return v
		}
	}
	return model.SystemVerdict{}
}
