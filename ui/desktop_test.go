package ui

import (
	"bytes"
	"context"
	"fmt"
	"image/color"
	"image/png"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/vigilops/vigil/model"
)

// fakeClock is the desk's clock and its timers: the test moves time and
// fires the timer the desk asked for.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []chan time.Time
	waits  []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, ch)
	c.waits = append(c.waits, d)
	return ch
}

// timer waits for the n-th timer asked for (from 1) and returns how long
// it was set for.
func (c *fakeClock) timer(t *testing.T, n int) time.Duration {
	t.Helper()
	for deadline := time.Now().Add(deadline); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		if len(c.timers) >= n {
			d := c.waits[n-1]
			c.mu.Unlock()
			return d
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("the desk never set timer %d", n)
		}
	}
}

// fire fires the n-th timer at the clock's time.
func (c *fakeClock) fire(t *testing.T, n int) {
	t.Helper()
	c.timer(t, n)
	c.mu.Lock()
	ch := c.timers[n-1]
	c.mu.Unlock()
	ch <- c.Now()
}

// notified waits for the n-th notification.
func (n *fakeNotifier) wait(t *testing.T, count int) {
	t.Helper()
	for deadline := time.Now().Add(deadline); len(n.all()) < count; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("notification %d never came; had %q", count, n.all())
		}
	}
}

// fakeNotifier records notifications.
type fakeNotifier struct {
	mu   sync.Mutex
	sent [][2]string
}

func (n *fakeNotifier) Notify(title, body string) {
	n.mu.Lock()
	n.sent = append(n.sent, [2]string{title, body})
	n.mu.Unlock()
}

func (n *fakeNotifier) all() [][2]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.sent)
}

// fakeTray records the tray's icon and menu; the desk sets them through
// do, that is on the test goroutine.
type fakeTray struct {
	icon fyne.Resource
	menu *fyne.Menu
}

func (f *fakeTray) SetSystemTrayMenu(m *fyne.Menu)    { f.menu = m }
func (f *fakeTray) SetSystemTrayIcon(r fyne.Resource) { f.icon = r }

func (f *fakeTray) level() string {
	if f.icon == nil {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(f.icon.Name(), "vigil-tray-"), ".png")
}

func (f *fakeTray) menuText() string {
	var out []string
	for _, it := range f.menu.Items {
		out = append(out, it.Label)
	}
	return strings.Join(out, "|")
}

// startTestDesk starts the desk with a fake clock, on the test goroutine
// as the UI goroutine.
func startTestDesk(t *testing.T, d Desk, clock *fakeClock) (uiQueue, chan<- time.Time) {
	t.Helper()
	test.NewTempApp(t)
	q := make(uiQueue, 64)
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	startDesk(ctx, d, deskLoop{now: clock.Now, after: clock.After, ticks: ticks, stop: func() {}, do: q.do})
	return q, ticks
}

func TestNotifBurstOfTenGivesOneNotification(t *testing.T) {
	clock := &fakeClock{now: t0}
	events := newFakeEvents()
	n := &fakeNotifier{}
	startTestDesk(t, Desk{Feed: newFakeFeed(0), Events: events, Notifier: n}, clock)

	// A failover's burst: ten warning and critical events within a second,
	// and an info event, which is never notified.
	for i := range 10 {
		clock.set(t0.Add(time.Duration(i) * 100 * time.Millisecond))
		sev := model.SeverityWarning
		if i%3 == 0 {
			sev = model.SeverityCritical
		}
		events.live <- model.Event{ID: uint(i + 1), Time: clock.Now(), System: "k2-san", Server: fmt.Sprintf("srv-%d", i),
			Kind: model.EventDown, Severity: sev, From: "up", To: "down"}
	}
	events.live <- model.Event{ID: 11, Time: clock.Now(), System: "k2-san", Server: "srv-0", Kind: model.EventUp, Severity: model.SeverityInfo}
	if got := n.all(); len(got) != 0 {
		t.Fatalf("notified before the burst ended: %q", got)
	}
	if d := clock.timer(t, 1); d != notifyGather {
		t.Errorf("the first event waits %v for its burst, want %v", d, notifyGather)
	}
	clock.set(t0.Add(notifyGather))
	clock.fire(t, 1)
	n.wait(t, 1)
	// A lag warning a second later.
	clock.set(t0.Add(3 * time.Second))
	events.live <- model.Event{ID: 12, Time: clock.Now(), System: "redstor", Server: "MirrorServer", Kind: model.EventLag, Severity: model.SeverityWarning}

	got := n.all()
	if len(got) != 1 {
		t.Fatalf("%d notifications for a burst of 10, want 1: %q", len(got), got)
	}
	title, body := got[0][0], got[0][1]
	if title != "Vigil: 10 events, 4 critical" {
		t.Errorf("title %q", title)
	}
	lines := strings.Split(body, "\n")
	if len(lines) != 5 || lines[0] != "CRITICAL: srv-0 is down" || lines[4] != "and 6 more: see Events in Vigil" {
		t.Errorf("body %q: want the critical ones first and the rest counted", body)
	}

	// The lag warning waits until notifications are notifyGap apart, and
	// then goes out alone, in full.
	if d := clock.timer(t, 2); d != notifyGap-time.Second {
		t.Errorf("the next notification waits %v, want %v", d, notifyGap-time.Second)
	}
	clock.set(t0.Add(notifyGather + notifyGap))
	clock.fire(t, 2)
	n.wait(t, 2)
	if got := n.all()[1]; got[0] != "warning: lag on MirrorServer" || !strings.HasPrefix(got[1], "redstor / MirrorServer at ") {
		t.Errorf("second notification %q", got)
	}
}

func TestNotifBatchTiming(t *testing.T) {
	b := notifyBatch{gather: 2 * time.Second, gap: 5 * time.Second}
	warn := model.Event{Kind: model.EventUnreachable, Server: "a", Severity: model.SeverityWarning}
	if b.add(model.Event{Severity: model.SeverityInfo}, t0) || b.waiting() {
		t.Fatal("an info event waits to be notified")
	}
	b.add(warn, t0)
	if _, _, ok := b.flush(t0.Add(time.Second)); ok {
		t.Error("notified before the burst's gather time")
	}
	if _, _, ok := b.flush(t0.Add(2 * time.Second)); !ok {
		t.Error("not notified at the end of the gather time")
	}
	b.add(warn, t0.Add(3*time.Second))
	if due := b.due(); !due.Equal(t0.Add(7 * time.Second)) {
		t.Errorf("next due %v, want the gap after the last notification, %v", due.Sub(t0), 7*time.Second)
	}
	b.add(warn, t0.Add(20*time.Second))
	if due := b.due(); !due.Equal(t0.Add(7 * time.Second)) {
		t.Errorf("a later event moved the pending notification to %v", due.Sub(t0))
	}
}

// verdict is a judged system for the tray's and the board's tests.
func verdict(system string, v model.Verdict, summary string, reasons ...string) model.SystemVerdict {
	out := model.SystemVerdict{System: system, Profile: "k2san", Verdict: v, Severity: v.Severity(), Since: t0, Summary: summary, Reasons: []model.Reason{}}
	for _, r := range reasons {
		out.Reasons = append(out.Reasons, model.Reason{Severity: model.SeverityWarning, Text: r, Servers: []string{"x"}})
	}
	return out
}

// The tray draws the judge's verdicts: its colour is the worst verdict's
// severity, its menu says which systems and why; a failover under way
// says for how long, on the desk's clock.
func TestTrayColourFollowsTheVerdicts(t *testing.T) {
	feed := newFakeFeed(0)
	feed.verdictsAtStart = []model.SystemVerdict{verdict("k2-san", model.VerdictHealthy, "K2server1 primary"),
		verdict("redstor", model.VerdictHealthy, "AccountServer-Master primary")}
	tray := &fakeTray{}
	clock := &fakeClock{now: t0}
	q, ticks := startTestDesk(t, Desk{Feed: feed, Tray: tray}, clock)
	is := func(level string, menu string) {
		t.Helper()
		q.waitFor(t, "the tray "+level+" saying "+menu, func() bool {
			return tray.level() == level && strings.Contains(tray.menuText(), menu)
		})
	}
	is("ok", "Vigil: all well|")
	if !strings.HasSuffix(tray.menuText(), "Show Vigil") {
		t.Errorf("tray menu %q offers no way to the window", tray.menuText())
	}

	feed.verdicts <- verdict("k2-san", model.VerdictFailingOver, "no server of k2-san is primary: a failover may be under way")
	is("warning", "Vigil: WARNING|k2-san: FAILING OVER for 0 s — no server of k2-san is primary")
	clock.set(t0.Add(3 * time.Second))
	ticks <- clock.Now()
	is("warning", "k2-san: FAILING OVER for 3 s")

	feed.verdicts <- verdict("redstor", model.VerdictNoPrimary, "no server of redstor is primary")
	is("critical", "Vigil: CRITICAL|redstor: NO PRIMARY — no server of redstor is primary||Show Vigil")
	if strings.Contains(tray.menuText(), "k2-san") {
		t.Errorf("the critical tray lists a warning too: %q", tray.menuText())
	}

	feed.verdicts <- verdict("redstor", model.VerdictHealthy, "AccountServer-Slave primary")
	feed.verdicts <- verdict("k2-san", model.VerdictFailedOver, "K2server2 took over from K2server1")
	is("warning", "k2-san: FAILED OVER — K2server2 took over from K2server1")
	// A system no longer judged (its last paired server left it) goes.
	feed.verdicts <- model.SystemVerdict{System: "k2-san"}
	is("ok", "Vigil: all well|")
}

func TestTrayIconsAreTheLevelsColours(t *testing.T) {
	for _, l := range []Level{LevelOK, LevelWarning, LevelCritical} {
		r := trayIcon(l)
		img, err := png.Decode(bytes.NewReader(r.Content()))
		if err != nil {
			t.Fatalf("%s icon: %v", l, err)
		}
		if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 64 {
			t.Errorf("%s icon is %v", l, b)
		}
		// Between the bars, and in a corner inside the edge: the level's
		// colour; outside the rounded corner: nothing.
		for _, p := range [][2]int{{32, 32}, {10, 10}, {54, 54}} {
			got := color.NRGBAModel.Convert(img.At(p[0], p[1])).(color.NRGBA)
			if got != l.Colour() {
				t.Errorf("%s icon at %v is %v, want %v", l, p, got, l.Colour())
			}
		}
		if got := color.NRGBAModel.Convert(img.At(0, 0)).(color.NRGBA); got.A != 0 {
			t.Errorf("%s icon's corner is %v, want transparent", l, got)
		}
		if trayIcon(l) != r {
			t.Errorf("%s icon made twice", l)
		}
	}
}

func TestWorstOfFleet(t *testing.T) {
	of := func(vs ...model.SystemVerdict) map[string]model.SystemVerdict {
		m := map[string]model.SystemVerdict{}
		for _, v := range vs {
			m[v.System] = v
		}
		return m
	}
	tests := []struct {
		name     string
		verdicts map[string]model.SystemVerdict
		level    Level
		reasons  []string
	}{
		{"empty", nil, LevelOK, nil},
		{"healthy", of(verdict("K2", model.VerdictHealthy, "a primary")), LevelOK, nil},
		{"degraded", of(verdict("K2", model.VerdictHealthy, "a primary"), verdict("R", model.VerdictDegraded, "mirror lag 69 min, limit 15 min")),
			LevelWarning, []string{"R: DEGRADED — mirror lag 69 min, limit 15 min"}},
		{"critical outranks warning", of(verdict("K2", model.VerdictFailedOver, "b took over from a"), verdict("R", model.VerdictSplitBrain, "a and b claim primary at once")),
			LevelCritical, []string{"R: SPLIT BRAIN — a and b claim primary at once"}},
		{"most urgent first", of(verdict("A", model.VerdictDegraded, "x"), verdict("B", model.VerdictFailedOver, "y"), verdict("C", model.VerdictUnknown, "z")),
			LevelWarning, []string{"B: FAILED OVER — y", "C: UNKNOWN — z", "A: DEGRADED — x"}},
		{"a critical reason raises a verdict", of(func() model.SystemVerdict {
			v := verdict("K2", model.VerdictDegraded, "b presents another key")
			v.Severity = model.SeverityCritical
			return v
		}()), LevelCritical, []string{"K2: DEGRADED — b presents another key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := worstOfFleet(tt.verdicts, t0)
			if st.level != tt.level || !slices.Equal(st.reasons, tt.reasons) {
				t.Errorf("worstOfFleet = %s %q, want %s %q", st.level, st.reasons, tt.level, tt.reasons)
			}
		})
	}
}
