package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/model"
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
