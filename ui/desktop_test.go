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

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/monitor"
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

func TestTrayColourFollowsTheWorstState(t *testing.T) {
	servers := []model.ServerView{
		{ID: "1", Name: "K2server1", System: "k2-san", Profile: "k2san", Role: model.RolePrimary, Health: model.HealthUp, Paired: true},
		{ID: "2", Name: "K2server2", System: "k2-san", Profile: "k2san", Role: model.RoleStandby, Health: model.HealthUp, Paired: true},
	}
	feed := newFakeFeed(0, servers...)
	op := newFakeOperator()
	events := newFakeEvents()
	tray := &fakeTray{}
	clock := &fakeClock{now: t0}
	q, ticks := startTestDesk(t, Desk{Feed: feed, Operator: op, Events: events, Tray: tray}, clock)
	is := func(level string, menu string) {
		t.Helper()
		q.waitFor(t, "the tray "+level, func() bool { return tray.level() == level })
		if got := tray.menuText(); !strings.Contains(got, menu) {
			t.Errorf("tray menu %q, want it to say %q", got, menu)
		}
	}
	// Each update comes a second after the last, unless the test says.
	send := func(v model.ServerView) {
		clock.set(clock.Now().Add(time.Second))
		feed.updates <- v
	}
	is("ok", "Vigil: all well|")
	if !strings.HasSuffix(tray.menuText(), "Show Vigil") {
		t.Errorf("tray menu %q offers no way to the window", tray.menuText())
	}

	down := servers[0]
	down.Health = model.HealthDown
	send(down)
	is("critical", "K2server1 down")

	// The standby takes over: still critical while K2server1 is down, but
	// no split brain, whatever K2server1's last role was.
	promoted := servers[1]
	promoted.Role = model.RolePrimary
	send(promoted)
	q.waitFor(t, "the takeover", func() bool { return !strings.Contains(tray.menuText(), "NO PRIMARY") })
	if got := tray.menuText(); strings.Contains(got, "SPLIT") || tray.level() != "critical" {
		t.Errorf("after the takeover the tray is %s: %q", tray.level(), got)
	}

	back := servers[0]
	back.Role, back.Health = model.RoleStandby, model.HealthUnreachable
	send(back)
	is("warning", "K2server1 unreachable")

	// An update sooner than paintEvery after the last look is shown by the
	// next tick at the latest.
	back.Health = model.HealthUp
	feed.updates <- back
	ticks <- t0
	is("ok", "all well")

	// A lag over its limit shows on the next tick; a flapping server until
	// it is stable.
	op.setStatus("1", actions.Status{Facts: map[string]string{"mirror_lag_seconds": "1250", "mirror_lag_seconds_limit": "900"}})
	ticks <- t0
	is("warning", "K2server1: mirror_lag_seconds 1250 of 900 (over the limit)")
	op.setStatus("1", actions.Status{Facts: map[string]string{"mirror_lag_seconds": "12", "mirror_lag_seconds_limit": "900"}})
	ticks <- t0
	is("ok", "all well")
	events.live <- model.Event{Server: "K2server2", System: "k2-san", Kind: model.EventFlapping, Severity: model.SeverityWarning, To: "flapping"}
	is("warning", "K2server2 flapping")
	events.live <- model.Event{Server: "K2server2", System: "k2-san", Kind: model.EventFlapping, Severity: model.SeverityInfo, From: "flapping", To: "stable"}
	is("ok", "all well")

	// Two primaries that both answer are a split brain.
	servers[0].Role, servers[1].Role = model.RolePrimary, model.RolePrimary
	send(servers[0])
	send(servers[1])
	is("critical", "k2-san: SPLIT BRAIN: K2server1 and K2server2 both primary")
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
	up := func(id, system string, r model.Role) model.ServerView {
		return model.ServerView{ID: id, Name: id, System: system, Profile: "k2san", Role: r, Health: model.HealthUp}
	}
	with := func(v model.ServerView, f func(*model.ServerView)) model.ServerView { f(&v); return v }
	tests := []struct {
		name     string
		views    []model.ServerView
		statuses map[string]actions.Status
		flapping map[string]bool
		level    Level
		reasons  []string
	}{
		{"empty", nil, nil, nil, LevelOK, nil},
		{"healthy", []model.ServerView{up("a", "K2", model.RolePrimary), up("b", "K2", model.RoleStandby)}, nil, nil, LevelOK, nil},
		{"not heard yet is no alarm", []model.ServerView{
			{ID: "a", System: "K2", Role: model.RoleStandby}, {ID: "b", System: "K2", Role: model.RoleStandby}}, nil, nil, LevelOK, nil},
		{"no primary", []model.ServerView{up("a", "K2", model.RoleStandby), up("b", "K2", model.RoleStandby)}, nil, nil,
			LevelCritical, []string{"K2: NO PRIMARY"}},
		{"failed role", []model.ServerView{up("a", "K2", model.RolePrimary), up("b", "K2", model.RoleFailed)}, nil, nil,
			LevelCritical, []string{"b failed"}},
		{"identity changed", []model.ServerView{up("a", "K2", model.RolePrimary), with(up("b", "K2", model.RoleStandby),
			func(v *model.ServerView) { v.IdentityChanged = true })}, nil, nil, LevelCritical, []string{"b identity changed"}},
		{"wavestore has a primary per logical server", []model.ServerView{
			with(up("a", "WS", model.RolePrimary), func(v *model.ServerView) { v.Profile = "wavestore" }),
			with(up("b", "WS", model.RolePrimary), func(v *model.ServerView) { v.Profile = "wavestore" })}, nil, nil, LevelOK, nil},
		{"critical outranks warning", []model.ServerView{
			up("a", "K2", model.RolePrimary), with(up("b", "K2", model.RoleStandby), func(v *model.ServerView) { v.Health = model.HealthUnreachable }),
			up("c", "R", model.RolePrimary), with(up("d", "R", model.RoleStandby), func(v *model.ServerView) { v.Health = model.HealthDown })},
			nil, nil, LevelCritical, []string{"d down"}},
		{"lag", []model.ServerView{up("a", "K2", model.RolePrimary)},
			map[string]actions.Status{"a": {Facts: map[string]string{"rpo_minutes": "300", "rpo_minutes_limit": "240", "x_limit": "1"}}},
			nil, LevelWarning, []string{"a: rpo_minutes 300 of 240 (over the limit)"}},
		{"flapping", []model.ServerView{up("a", "K2", model.RolePrimary)}, nil, map[string]bool{"a": true},
			LevelWarning, []string{"a flapping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No grace: each fleet is judged once, as it stands.
			st := worstOfFleet(tt.views, tt.statuses, tt.flapping, newNoPrimaryWatch(0), t0)
			if st.level != tt.level || !slices.Equal(st.reasons, tt.reasons) {
				t.Errorf("worstOfFleet = %s %q, want %s %q", st.level, st.reasons, tt.level, tt.reasons)
			}
		})
	}
}

// A system without a primary is a warning that says for how long while
// the detector's grace runs, as a failover passes through that moment,
// and critical after it; a primary back clears it, and a split brain is
// critical at once.
func TestWorstOfFleetNoPrimaryGrace(t *testing.T) {
	grace := monitor.DefaultNoPrimaryGrace
	v := func(id string, r model.Role) model.ServerView {
		return model.ServerView{ID: id, Name: id, System: "K2", Profile: "k2san", Role: r, Health: model.HealthUp, Paired: true}
	}
	none := []model.ServerView{v("a", model.RoleStandby), v("b", model.RoleStandby)}
	w := newNoPrimaryWatch(grace)
	is := func(what string, views []model.ServerView, at time.Duration, level Level, reasons ...string) {
		t.Helper()
		st := worstOfFleet(views, nil, nil, w, t0.Add(at))
		if st.level != level || !slices.Equal(st.reasons, reasons) {
			t.Errorf("%s: %s %q, want %s %q", what, st.level, st.reasons, level, reasons)
		}
	}
	is("no primary, just now", none, 0, LevelWarning, "K2: NO PRIMARY for 0 s — a failover may be under way")
	is("no primary within the grace", none, 4*time.Second, LevelWarning, "K2: NO PRIMARY for 4 s — a failover may be under way")
	is("no primary just within the grace", none, grace-time.Millisecond, LevelWarning,
		fmt.Sprintf("K2: NO PRIMARY for %d s — a failover may be under way", int((grace-time.Millisecond)/time.Second)))
	is("no primary past the grace", none, grace, LevelCritical, "K2: NO PRIMARY")
	is("primary back", []model.ServerView{v("a", model.RoleStandby), v("b", model.RolePrimary)}, grace+time.Second, LevelOK)
	// The grace starts again from the next loss.
	is("lost again", none, grace+2*time.Second, LevelWarning, "K2: NO PRIMARY for 0 s — a failover may be under way")
	is("lost again, within its grace", none, 2*grace, LevelWarning,
		fmt.Sprintf("K2: NO PRIMARY for %d s — a failover may be under way", int((grace-2*time.Second)/time.Second)))
	is("split brain", []model.ServerView{v("a", model.RolePrimary), v("b", model.RolePrimary)}, 2*grace, LevelCritical,
		"K2: SPLIT BRAIN: a and b both primary")
}

// The tray is amber while a system's no-primary grace runs and turns red
// on the tick past it, with no news from the servers.
func TestTrayNoPrimaryTurnsCriticalAfterTheGrace(t *testing.T) {
	servers := []model.ServerView{
		{ID: "1", Name: "K2server1", System: "k2-san", Profile: "k2san", Role: model.RolePrimary, Health: model.HealthUp, Paired: true},
		{ID: "2", Name: "K2server2", System: "k2-san", Profile: "k2san", Role: model.RoleStandby, Health: model.HealthUp, Paired: true},
	}
	feed := newFakeFeed(0, servers...)
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

	// The primary steps down: a failover is under way.
	lost := t0.Add(time.Second)
	clock.set(lost)
	servers[0].Role = model.RoleStandby
	feed.updates <- servers[0]
	is("warning", "Vigil: WARNING|k2-san: NO PRIMARY for 0 s — a failover may be under way|")
	clock.set(lost.Add(3 * time.Second))
	ticks <- clock.Now()
	is("warning", "k2-san: NO PRIMARY for 3 s — a failover may be under way|")

	clock.set(lost.Add(monitor.DefaultNoPrimaryGrace))
	ticks <- clock.Now()
	is("critical", "Vigil: CRITICAL|k2-san: NO PRIMARY|")

	// The standby takes over.
	clock.set(clock.Now().Add(time.Second))
	servers[1].Role = model.RolePrimary
	feed.updates <- servers[1]
	is("ok", "Vigil: all well|")
}
