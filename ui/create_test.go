package ui

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/model"
)

const deadline = 5 * time.Second

// fakeFeed is a Feed whose updates the test sends by hand.
type fakeFeed struct {
	snapshot  []model.ServerView
	updates   chan model.ServerView
	cancelled chan struct{} // closed by the subscription's cancel
	once      sync.Once

	verdictsAtStart []model.SystemVerdict
	verdicts        chan model.SystemVerdict
	verdictsOnce    sync.Once
}

var _ Feed = (*fakeFeed)(nil)

// newFakeFeed buffers up to queued updates; with none, a send returns only
// once the board's goroutine has taken it.
func newFakeFeed(queued int, snapshot ...model.ServerView) *fakeFeed {
	return &fakeFeed{
		snapshot:  snapshot,
		updates:   make(chan model.ServerView, queued),
		cancelled: make(chan struct{}),
		verdicts:  make(chan model.SystemVerdict, 64),
	}
}

func (f *fakeFeed) Verdicts() []model.SystemVerdict { return slices.Clone(f.verdictsAtStart) }

func (f *fakeFeed) SubscribeVerdicts() (<-chan model.SystemVerdict, func()) {
	return f.verdicts, func() { f.verdictsOnce.Do(func() { close(f.verdicts) }) }
}

func (f *fakeFeed) Snapshot() []model.ServerView { return slices.Clone(f.snapshot) }

func (f *fakeFeed) Subscribe() (<-chan model.ServerView, func()) {
	return f.updates, func() {
		f.once.Do(func() {
			close(f.cancelled)
			close(f.updates)
		})
	}
}

// uiQueue stands in for Fyne's event loop: the board's goroutine hands it
// changes, and the test goroutine runs them, so widgets are only ever
// touched by one goroutine. (Fyne's test driver would run fyne.Do at once on
// the board's goroutine, racing with the test's reads.)
type uiQueue chan func()

func (q uiQueue) do(fn func()) { q <- fn }

// waitFor runs queued changes until cond holds or the deadline passes.
func (q uiQueue) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(deadline)
	for !cond() {
		select {
		case fn := <-q:
			fn()
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// startBoard starts the board as Create does, but with the test goroutine
// as the UI goroutine and the test's own clock and ticks.
func startBoard(t *testing.T, feed *fakeFeed, now func() time.Time) (*Board, uiQueue, chan<- time.Time) {
	t.Helper()
	v, q, ticks := startView(t, feed, newFakeOperator(), now)
	return v.board, q, ticks
}

// startView starts the whole view, board and panes, as Create does, with
// the test goroutine as the UI goroutine.
func startView(t *testing.T, feed *fakeFeed, op Operator, now func() time.Time) (*View, uiQueue, chan<- time.Time) {
	t.Helper()
	test.NewTempApp(t)
	q := make(uiQueue, 64)
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	w := test.NewTempWindow(t, widget.NewLabel("starting"))
	v := start(ctx, w, feed, op, loop{now: now, ticks: ticks, stop: func() {}, do: q.do})
	w.SetContent(v)
	w.Resize(fyne.NewSize(1100, 720))
	t.Cleanup(func() {
		cancel()
		waitClosed(t, feed.cancelled, "the feed's cancel")
	})
	return v, q, ticks
}

func redstorPair() []model.ServerView {
	return []model.ServerView{
		{Paired: true, ID: "a", Name: "AS-1", System: "Redstor", Role: model.RolePrimary, VendorRole: "Master AccountServer", Health: model.HealthUp},
		{Paired: true, ID: "b", Name: "AS-2", System: "Redstor", Role: model.RoleStandby, VendorRole: "Slave AccountServer", Health: model.HealthUp},
	}
}

func TestBoardFollowsFailover(t *testing.T) {
	feed := newFakeFeed(0, redstorPair()...)
	b, q, _ := startBoard(t, feed, time.Now)

	a := badge(t, b, "a")
	if a.Text() != "PRIMARY" || a.Fill() != green {
		t.Fatalf("AS-1 badge = %q on %v, want PRIMARY on %v", a.Text(), a.Fill(), green)
	}

	pair := redstorPair()
	pair[0].Role, pair[1].Role = model.RoleStandby, model.RolePrimary
	feed.updates <- pair[0]
	feed.updates <- pair[1]
	q.waitFor(t, "AS-1 STANDBY and AS-2 PRIMARY", func() bool {
		return badge(t, b, "a").Text() == "STANDBY" && badge(t, b, "b").Text() == "PRIMARY"
	})
	if a.Fill() != blue || badge(t, b, "b").Fill() != green {
		t.Errorf("fills = %v, %v; want standby %v, primary %v", a.Fill(), badge(t, b, "b").Fill(), blue, green)
	}
}

func TestBoardShowsNewServerFromFeed(t *testing.T) {
	feed := newFakeFeed(0, redstorPair()...)
	b, q, _ := startBoard(t, feed, time.Now)

	feed.updates <- model.ServerView{Paired: true, ID: "i1", Name: "IC-1", System: "Infocast", Role: model.RoleStandby}
	feed.updates <- model.ServerView{Paired: true, ID: "c", Name: "AS-0", System: "Redstor", Role: model.RoleOutOfService}
	q.waitFor(t, "the new servers", func() bool { return b.rows["i1"] != nil && b.rows["c"] != nil })

	assertCards(t, b, "Infocast", "Redstor")
	assertRows(t, b, "Redstor", "AS-1", "AS-2", "AS-0")
	if got := badge(t, b, "c").Text(); got != "OUT OF SERVICE" {
		t.Errorf("AS-0 badge = %q, want OUT OF SERVICE", got)
	}
}

// During a failover a burst of updates must be drawn once, latest first.
func TestBoardCoalescesQueuedUpdates(t *testing.T) {
	feed := newFakeFeed(8, redstorPair()...)
	for _, r := range []model.Role{model.RoleFailed, model.RoleOutOfService, model.RoleStandby} {
		feed.updates <- model.ServerView{Paired: true, ID: "a", Name: "AS-1", System: "Redstor", Role: r}
	}
	feed.updates <- model.ServerView{Paired: true, ID: "c", Name: "AS-3", System: "Redstor", Role: model.RolePrimary}

	b, q, _ := startBoard(t, feed, time.Now)
	select {
	case fn := <-q:
		fn()
	case <-time.After(deadline):
		t.Fatal("timed out waiting for the first change")
	}
	if n := len(q); n != 0 {
		t.Errorf("%d more changes queued; want the burst in one", n)
	}
	if got := badge(t, b, "a").Text(); got != "STANDBY" {
		t.Errorf("AS-1 badge = %q after one change, want the latest, STANDBY", got)
	}
	if b.rows["c"] == nil {
		t.Error("AS-3 from the same burst is missing")
	}
}

func TestBoardAgesTimesOnTick(t *testing.T) {
	start := time.Date(2025, 3, 1, 3, 0, 0, 0, time.UTC)
	now := start // read only by the board, which runs on this goroutine
	feed := newFakeFeed(0, model.ServerView{Paired: true, ID: "a", Name: "AS-1", LastSeen: start})
	b, q, ticks := startBoard(t, feed, func() time.Time { return now })

	now = start.Add(12 * time.Second)
	ticks <- now
	q.waitFor(t, "the time to age", func() bool { return b.rows["a"].times.Text == "last seen 12s ago" })
}

func TestCreateStopsOnCancel(t *testing.T) {
	test.NewTempApp(t)
	feed := newFakeFeed(0, redstorPair()...)
	w := test.NewTempWindow(t, widget.NewLabel("starting"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := Create(ctx, w, feed, newFakeOperator())
	w.SetContent(v)

	// The feed is unbuffered, so once these sends return the board's
	// goroutine has taken both updates and applies them before it looks
	// at ctx again.
	feed.updates <- model.ServerView{Paired: true, ID: "c", Name: "AS-3", System: "Redstor", Role: model.RoleStandby}
	feed.updates <- model.ServerView{Paired: true, ID: "a", Name: "AS-1", System: "Redstor", Role: model.RoleFailed}
	cancel()
	waitClosed(t, feed.cancelled, "the feed's cancel after ctx is done")

	// The goroutine has ended, so reading its widgets no longer races.
	b := v.board
	if b.rows["c"] == nil {
		t.Error("AS-3 from the feed is missing")
	}
	if got := badge(t, b, "a").Text(); got != "FAILED" {
		t.Errorf("AS-1 badge = %q, want FAILED", got)
	}
}

func waitClosed(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(deadline):
		t.Fatalf("timed out waiting for %s", what)
	}
}
