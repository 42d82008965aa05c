package ui

import (
	"context"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// Create returns the main window's content: a status board that follows
// feed until ctx is done, when it also cancels its subscription. Selecting
// a server opens its pane beside the board, which acts through op; w is
// where its confirmations appear.
func Create(ctx context.Context, w fyne.Window, feed Feed, op Operator) *View {
	ticker := time.NewTicker(time.Second)
	return start(ctx, w, feed, op, loop{now: time.Now, ticks: ticker.C, stop: ticker.Stop, do: fyne.Do})
}

// loop is what the view's background goroutine takes from outside: a
// clock, and a way onto the UI goroutine. Tests supply their own, because
// fyne's test driver runs fyne.Do at once on the calling goroutine, so a
// test reading widgets while the loop writes them would race.
type loop struct {
	now   func() time.Time
	ticks <-chan time.Time // when to age the "last seen" times and re-read the selected server's status
	stop  func()           // releases ticks
	do    func(func())     // runs a change on the UI goroutine
}

var _ fyne.Widget = (*View)(nil)

// View is the main window's content: the board, and beside it the pane of
// the selected server. Its methods must be called on the UI goroutine.
type View struct {
	widget.BaseWidget

	env    paneEnv
	board  *Board
	panes  map[string]*ServerPane // by server id, kept so that a request in flight finishes in its own pane
	pane   *ServerPane            // the one shown, or nil
	holder *fyne.Container        // holds the pane shown
	split  *container.Split
	chosen *selection // the selected server, shared with the loop goroutine
	want   string     // a server name to select once it appears
}

// selection is the selected server's id: set on the UI goroutine, read by
// the loop goroutine to know whose status to follow.
type selection struct {
	mu sync.Mutex
	id string
}

func (s *selection) set(id string) {
	s.mu.Lock()
	s.id = id
	s.mu.Unlock()
}

func (s *selection) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// requests are the view's requests in flight, so that the view's goroutine
// can wait for them when it ends.
type requests struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// goRequest runs fn on a goroutine of its own, unless the view has ended.
func (r *requests) goRequest(fn func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.wg.Go(fn)
	return true
}

func (r *requests) closeAndWait() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
}

// start shows feed on a new view and starts the one goroutine that keeps
// it current until ctx is done.
func start(ctx context.Context, w fyne.Window, feed Feed, op Operator, l loop) *View {
	// Subscribe before taking the snapshot: a change in between then
	// arrives as an update instead of being lost.
	updates, cancel := feed.Subscribe()
	v := &View{
		env:    paneEnv{ctx: ctx, win: w, op: op, do: l.do, now: l.now, requests: &requests{}},
		board:  NewBoard(feed.Snapshot(), l.now),
		panes:  map[string]*ServerPane{},
		holder: container.NewStack(),
		chosen: &selection{},
	}
	v.env.onClose = v.Close
	v.board.OnSelect = v.Select
	v.holder.Hide()
	v.split = container.NewHSplit(v.board, v.holder)
	v.split.Offset = 0.5
	v.ExtendBaseWidget(v)
	go func() {
		defer cancel()
		defer l.stop()
		defer v.env.requests.closeAndWait() // requests in flight end with ctx
		l.run(ctx, v, op, updates)
	}()
	return v
}

// CreateRenderer is part of fyne.Widget.
func (v *View) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(v.split)
}

// Select opens the pane of the server with id beside the board.
func (v *View) Select(id string) {
	sv, ok := v.board.View(id)
	if !ok {
		return
	}
	p := v.panes[id]
	if p == nil {
		p = newServerPane(v.env)
		v.panes[id] = p
	}
	p.SetView(sv)
	st, have := v.env.op.Status(id)
	p.SetStatus(st, have)
	v.chosen.set(id)
	v.board.Select(id)
	v.board.SetCompact(true)
	if v.pane != p {
		v.pane = p
		v.holder.Objects = []fyne.CanvasObject{p}
		v.holder.Show()
		v.split.Refresh()
	}
}

// SelectWhenSeen selects the paired server named name, now if it is on
// the board, or as soon as it is.
func (v *View) SelectWhenSeen(name string) {
	v.want = name
	v.selectWanted()
}

func (v *View) selectWanted() {
	if v.want == "" {
		return
	}
	for id, row := range v.board.rows {
		if row.view.Name == v.want && row.view.Paired {
			v.want = ""
			v.Select(id)
			return
		}
	}
}

// Close closes the pane; the board takes the whole window again.
func (v *View) Close() {
	v.chosen.set("")
	v.pane = nil
	v.board.Select("")
	v.board.SetCompact(false)
	v.holder.Hide()
	v.holder.Objects = nil
	v.split.Refresh()
}

// apply shows a batch of feed updates, and the latest status of the
// selected server if the loop read it.
func (v *View) apply(batch []model.ServerView, id string, st actions.Status, have bool) {
	for _, sv := range batch {
		v.board.Apply(sv)
		if p := v.panes[sv.ID]; p != nil {
			p.SetView(sv)
		}
	}
	v.showStatus(id, st, have)
	v.selectWanted()
}

func (v *View) tick(id string, st actions.Status, have bool) {
	v.board.RefreshTimes()
	if v.pane != nil {
		v.pane.RefreshTimes()
	}
	v.showStatus(id, st, have)
}

func (v *View) showStatus(id string, st actions.Status, have bool) {
	if p := v.panes[id]; id != "" && p != nil {
		p.SetStatus(st, have)
	}
}

// run never touches a widget itself: every change goes through l.do. The
// selected server's status is read here, off the UI goroutine, on every
// update and every tick: facts and services change without a change the
// feed would report.
func (l loop) run(ctx context.Context, v *View, op Operator, updates <-chan model.ServerView) {
	status := func() (string, actions.Status, bool) {
		id := v.chosen.get()
		if id == "" {
			return "", actions.Status{}, false
		}
		st, ok := op.Status(id)
		return id, st, ok
	}
	for {
		select {
		case <-ctx.Done():
			return
		case sv, ok := <-updates:
			if !ok {
				updates = nil // the feed has gone; the times still age until ctx ends
				continue
			}
			batch, open := drain(updates, sv)
			if !open {
				updates = nil
			}
			id, st, have := status()
			l.do(func() { v.apply(batch, id, st, have) })
		case <-l.ticks:
			id, st, have := status()
			l.do(func() { v.tick(id, st, have) })
		}
	}
}

// drain takes every update already queued behind first, keeping only the
// latest per server: during a failover a server can change several times
// before the UI goroutine has a turn, and only its latest state is worth
// drawing. open is false if the channel was closed.
func drain(updates <-chan model.ServerView, first model.ServerView) (batch []model.ServerView, open bool) {
	batch = []model.ServerView{first}
	index := map[string]int{first.ID: 0}
	for {
		select {
		case v, ok := <-updates:
			if !ok {
				return batch, false
			}
			if i, seen := index[v.ID]; seen {
				batch[i] = v
				continue
			}
			index[v.ID] = len(batch)
			batch = append(batch, v)
		default:
			return batch, true
		}
	}
}
