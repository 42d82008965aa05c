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
	for _, want := range []string{"mirror_lag_seconds", "mirror lag 21 min, limit 15 min: over the limit", "rpo_minutes", "rpo minutes 12, limit 240",
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
	if over := labelWith(p.facts, "mirror lag 21 min, limit 15 min: over the limit"); over == nil || over.Importance != widget.WarningImportance {
		t.Error("a lag over its limit is not shown as a warning")
	}
	if within := labelWith(p.facts, "rpo minutes 12, limit 240"); within == nil || within.Importance == widget.WarningImportance {
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
	eachVisible(o, func(o fyne.CanvasObject) bool {
		if l, ok := o.(*widget.Label); ok && l.Text == text {
			found = l
		}
		return found == nil
	})
	return found
}

// eachVisible calls visit with o and every visible object in it, depth
// first, until visit returns false.
func eachVisible(o fyne.CanvasObject, visit func(fyne.CanvasObject) bool) bool {
	if !o.Visible() {
		return true
	}
	if !visit(o) {
		return false
	}
	var children []fyne.CanvasObject
	switch x := o.(type) {
	case *widget.Label:
	case *fyne.Container:
		children = x.Objects
	case fyne.Widget:
		children = test.WidgetRenderer(x).Objects()
	}
	for _, c := range children {
		if !eachVisible(c, visit) {
			return false
		}
	}
	return true
}

// A system's card draws the verdict the feed brings, whatever its rows
// say: the judge decides, the card shows its headline, its other reasons
// and its next step.
func TestBoardSystemCardDrawsItsVerdict(t *testing.T) {
	feed := newFakeFeed(0, pairedRedstor()...)
	b, q, _ := startBoard(t, feed, time.Now)
	g := b.groups["Redstor"]
	if g.alarmLine.Visible() {
		t.Fatalf("a card with no verdict shows %q", g.alarm.Text)
	}
	split := verdict("Redstor", model.VerdictSplitBrain, "AS-1 and AS-2 claim primary at once")
	feed.verdicts <- split
	q.waitFor(t, "the split brain on the card", func() bool { return g.alarmLine.Visible() })
	if g.alarm.Text != "SPLIT BRAIN — AS-1 and AS-2 claim primary at once" || g.alarm.Importance != widget.DangerImportance {
		t.Errorf("card alarm %q (%v)", g.alarm.Text, g.alarm.Importance)
	}
	if g.next.Visible() {
		t.Errorf("a verdict with no next step offers %q", g.next.Text)
	}
	over := verdict("Redstor", model.VerdictFailedOver, "AS-2 took over from AS-1", "AS-1 is down (it was primary)", "AS-3 is unreachable")
	over.Next = "redstor-prepare-failback-accountserver"
	feed.verdicts <- over
	q.waitFor(t, "the failover on the card", func() bool { return strings.HasPrefix(g.alarm.Text, "FAILED OVER") })
	if g.alarm.Text != "FAILED OVER — AS-2 took over from AS-1" || g.alarm.Importance != widget.WarningImportance {
		t.Errorf("card alarm %q (%v)", g.alarm.Text, g.alarm.Importance)
	}
	if !g.reasons.Visible() || g.reasons.Text != "AS-1 is down (it was primary) · AS-3 is unreachable" {
		t.Errorf("card reasons visible=%v %q", g.reasons.Visible(), g.reasons.Text)
	}
	if !g.next.Visible() || g.next.Text != "Next: redstor-prepare-failback-accountserver…" {
		t.Errorf("next step visible=%v %q", g.next.Visible(), g.next.Text)
	}
	var opened []string
	b.OnNext = func(system, id string) { opened = append(opened, system+" "+id) }
	test.Tap(g.next)
	if !slices.Equal(opened, []string{"Redstor redstor-prepare-failback-accountserver"}) {
		t.Errorf("tapping the next step opened %q", opened)
	}
	feed.verdicts <- verdict("Redstor", model.VerdictHealthy, "AS-2 primary")
	q.waitFor(t, "the card to calm down", func() bool { return !g.alarmLine.Visible() })
	// The rows changing alone change nothing on the card: it is the
	// judge's to say.
	pair := pairedRedstor()
	pair[0].Health = model.HealthDown
	feed.updates <- pair[0]
	q.waitFor(t, "the row to go down", func() bool { return b.rows[pair[0].ID].health.Text == "Down" })
	if g.alarmLine.Visible() {
		t.Errorf("the card judged on its own: %q", g.alarm.Text)
	}
}
