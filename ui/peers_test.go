package ui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

func TestPaneShowsPeersAndLag(t *testing.T) {
	now := t0
	op := newFakeOperator()
	op.setStatus("b", actions.Status{
		AgentID: "b",
		Facts: map[string]string{
			"mirror_lag_seconds": "1250", "mirror_lag_seconds_limit": "900",
			"rpo_minutes": "12", "rpo_minutes_limit": "240",
			"orphan_limit": "5", "mirror_state": "mirroring",
		},
		Peers: map[string]actions.PeerLink{
			"AS-1":          {State: "up", Since: now.Add(-3 * time.Minute), Checked: now},
			"StorageServer": {State: "down", Since: now.Add(-40 * time.Second), Checked: now, Error: "dial tcp 10.0.0.7:7443: connect: connection refused"},
		},
	})
	feed := newFakeFeed(0, pairedRedstor()...)
	v, q, ticks := startView(t, feed, op, func() time.Time { return now })
	p := paneFor(t, v, "b")

	peers := texts(p.peers)
	want := []string{"AS-1", "up since " + clockTime(now.Add(-3*time.Minute), now) + " (3m ago)",
		"StorageServer", "DOWN since " + clockTime(now.Add(-40*time.Second), now) + " (40s ago): dial tcp 10.0.0.7:7443: connect: connection refused"}
	if !slices.Equal(peers, want) {
		t.Errorf("peer links show %q\nwant %q", peers, want)
	}
	if l := p.peerTimes[1].label; l.Importance != widget.DangerImportance || !l.TextStyle.Bold {
		t.Errorf("a down peer link is not loud: importance %v bold %v", l.Importance, l.TextStyle.Bold)
	}

	facts := texts(p.facts)
	for _, want := range []string{"mirror_lag_seconds", "1250 of 900 (over the limit)", "rpo_minutes", "12 of 240",
		"orphan_limit", "5", "mirror_state", "mirroring"} {
		if !slices.Contains(facts, want) {
			t.Errorf("facts show %q, lacking %q", facts, want)
		}
	}
	for _, gone := range []string{"mirror_lag_seconds_limit", "rpo_minutes_limit"} {
		if slices.Contains(facts, gone) {
			t.Errorf("facts show %q apart from the fact it limits: %q", gone, facts)
		}
	}
	if over := labelWith(p.facts, "1250 of 900 (over the limit)"); over == nil || over.Importance != widget.WarningImportance {
		t.Error("a lag over its limit is not shown as a warning")
	}
	if within := labelWith(p.facts, "12 of 240"); within == nil || within.Importance == widget.WarningImportance {
		t.Error("a lag within its limit is shown as a warning")
	}

	// The peers' times age with the clock; a new check time alone redraws
	// nothing.
	first := p.peerTimes[0].label
	now = now.Add(2 * time.Minute)
	st, _ := op.Status("b")
	link := st.Peers["AS-1"]
	link.Checked = now
	st.Peers = map[string]actions.PeerLink{"AS-1": link, "StorageServer": st.Peers["StorageServer"]}
	op.setStatus("b", st)
	ticks <- now
	q.waitFor(t, "the peer's time to age", func() bool { return strings.Contains(p.peerTimes[0].label.Text, "(5m ago)") })
	if p.peerTimes[0].label != first {
		t.Error("a new check time rebuilt the peer links")
	}

	// No peers reported: said so, once the status is known.
	op.setStatus("b", actions.Status{AgentID: "b"})
	ticks <- now
	q.waitFor(t, "no peers", func() bool { return slices.Contains(texts(p.peers), "No peer links reported") })
}

// labelWith finds the visible label showing text in o.
func labelWith(o fyne.CanvasObject, text string) *widget.Label {
	var found *widget.Label
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if !o.Visible() || found != nil {
			return
		}
		switch x := o.(type) {
		case *widget.Label:
			if x.Text == text {
				found = x
			}
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
	return found
}

func TestSystemAlarms(t *testing.T) {
	v := func(name string, r model.Role, h model.Health) model.ServerView {
		return model.ServerView{ID: name, Name: name, System: "K2", Profile: "k2san", Role: r, Health: h}
	}
	tests := []struct {
		name    string
		servers []model.ServerView
		text    string
		level   Level
	}{
		{"healthy", []model.ServerView{v("a", model.RolePrimary, model.HealthUp), v("b", model.RoleStandby, model.HealthUp)}, "", LevelOK},
		{"split brain", []model.ServerView{v("a", model.RolePrimary, model.HealthUp), v("b", model.RolePrimary, model.HealthUp),
			v("c", model.RolePrimary, model.HealthDegraded)}, "SPLIT BRAIN: a, b and c all primary · c degraded", LevelCritical},
		{"failover: the old primary is down", []model.ServerView{v("a", model.RolePrimary, model.HealthDown), v("b", model.RolePrimary, model.HealthUp)},
			"a down", LevelCritical},
		{"no primary", []model.ServerView{v("a", model.RolePrimary, model.HealthDown), v("b", model.RoleStandby, model.HealthUnreachable)},
			"NO PRIMARY · a down · b unreachable", LevelCritical},
		{"not heard yet", []model.ServerView{v("a", model.RoleStandby, model.HealthUnknown), v("b", model.RoleStandby, model.HealthUp)}, "", LevelOK},
		{"many down", []model.ServerView{v("a", model.RolePrimary, model.HealthUp), v("b", model.RoleStandby, model.HealthDown),
			v("c", model.RoleStandby, model.HealthDown), v("d", model.RoleStandby, model.HealthDown), v("e", model.RoleStandby, model.HealthDown)},
			"b, c, d and 1 more down", LevelCritical},
		{"unreachable", []model.ServerView{v("a", model.RolePrimary, model.HealthUp), v("b", model.RoleStandby, model.HealthUnreachable)},
			"b unreachable", LevelWarning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, level := alarmsText(systemAlarms("K2", tt.servers))
			if text != tt.text || level != tt.level {
				t.Errorf("alarms %q %s, want %q %s", text, level, tt.text, tt.level)
			}
		})
	}
}

func TestBoardSystemCardShowsItsAlarm(t *testing.T) {
	feed := newFakeFeed(0, pairedRedstor()...)
	b, q, _ := startBoard(t, feed, time.Now)
	g := b.groups["Redstor"]
	if g.alarmLine.Visible() {
		t.Fatalf("a healthy system's card shows %q", g.alarm.Text)
	}
	pair := pairedRedstor()
	pair[1].Role = model.RolePrimary
	feed.updates <- pair[1]
	q.waitFor(t, "the split brain on the card", func() bool { return g.alarmLine.Visible() })
	if g.alarm.Text != "SPLIT BRAIN: AS-1 and AS-2 both primary" || g.alarm.Importance != widget.DangerImportance {
		t.Errorf("card alarm %q (%v)", g.alarm.Text, g.alarm.Importance)
	}
	pair[0].Health = model.HealthDown
	feed.updates <- pair[0]
	q.waitFor(t, "the down server on the card", func() bool { return g.alarm.Text == "AS-1 down" })
	pair[0].Health, pair[0].Role = model.HealthUp, model.RoleStandby
	feed.updates <- pair[0]
	q.waitFor(t, "the card to calm down", func() bool { return !g.alarmLine.Visible() })
}
