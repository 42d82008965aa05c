package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// The load of BenchmarkBoardFeed: what the monitor would hand the board
// from 1,000 agents each changing twice a second.
const (
	boardServers    = 1000
	boardPerSecond  = 2 // updates per server per second
	boardWindow     = 10 * time.Second
	boardFeedBuffer = 1024 // as the monitor's subscriber channel
)

// BenchmarkBoardFeed feeds the view Create makes (board and panes, on
// Fyne's headless test app) with 1,000 servers, each changing twice a
// second, for boardWindow, and reports how much of the UI goroutine that
// takes and how many updates each frame (one fyne.Do of the view's loop)
// carries.
//
// Fyne's test driver runs fyne.Do at once on the caller's goroutine, which
// would put the board's work on its own feeding goroutine; here a goroutine
// of the benchmark plays Fyne's event loop, running queued changes one at a
// time, as the real driver does, and timing each. Painting is not
// included: the test driver does not paint. The feed drops an update when
// its buffer is full, as the monitor does for a slow subscriber. A tick a
// second ages the rows' times, as Create's ticker does. b.N is ignored:
// one run is the measurement.
func BenchmarkBoardFeed(b *testing.B) {
	test.NewTempApp(b)
	servers := make([]model.ServerView, boardServers)
	now := time.Now()
	for i := range servers {
		role, vendor := model.RolePrimary, "Master AccountServer"
		if i%2 == 1 {
			role, vendor = model.RoleStandby, "Slave AccountServer"
		}
		servers[i] = model.ServerView{
			ID: fmt.Sprintf("standin-%05d", i), Name: fmt.Sprintf("server-%04d", i), Site: "bench",
			System: fmt.Sprintf("system-%04d", i/2), Profile: "redstor", Role: role, VendorRole: vendor,
			Health: model.HealthUp, Address: fmt.Sprintf("127.0.0.1:%d", 20000+i), Paired: true, LastSeen: now,
		}
	}
	feed := &benchFeed{snapshot: slices.Clone(servers), updates: make(chan model.ServerView, boardFeedBuffer), closed: make(chan struct{})}

	ui := newBenchUI()
	var uiWG sync.WaitGroup
	uiWG.Go(ui.run)
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	var v *View
	var built time.Duration
	ui.call(func() {
		t := time.Now()
		w := test.NewTempWindow(b, widget.NewLabel("starting"))
		v = start(ctx, w, feed, benchOperator{}, loop{now: time.Now, ticks: ticks, stop: func() {}, do: ui.do})
		w.SetContent(v)
		w.Resize(fyne.NewSize(1100, 720))
		built = time.Since(t)
	})
	b.Cleanup(func() {
		cancel()
		feed.wait()
		ui.close()
		uiWG.Wait()
	})
	ui.reset()

	// The load: every 10 ms, the next fiftieth of the fleet changes its
	// vendor role word (a change the board shows) and its last-seen time.
	const step = 10 * time.Millisecond
	var sent, dropped int
	began := time.Now()
	// The ticks come from a goroutine of their own, as Create's ticker's
	// do, so that a busy board never holds up the feed.
	tickCtx, stopTicks := context.WithCancel(ctx)
	var tickWG sync.WaitGroup
	tickWG.Go(func() {
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		for {
			select {
			case <-tickCtx.Done():
				return
			case t := <-ticker.C:
				select {
				case ticks <- t:
				case <-tickCtx.Done():
					return
				}
			}
		}
	})
	stepper := time.NewTicker(step)
	next := 0
	for time.Since(began) < boardWindow {
		t := <-stepper.C
		// Catch up on steps a busy machine made the ticker skip, so that
		// the rate holds.
		due := int(t.Sub(began) * boardServers * boardPerSecond / time.Second)
		for ; next < due; next++ {
			s := &servers[next%boardServers]
			if base, ok := strings.CutSuffix(s.VendorRole, ", replicating"); ok {
				s.VendorRole = base
			} else {
				s.VendorRole += ", replicating"
			}
			s.LastSeen = t
			select {
			case feed.updates <- *s:
				sent++
			default:
				dropped++
			}
		}
	}
	stepper.Stop()
	stopTicks()
	tickWG.Wait()
	wall := time.Since(began)
	taken := sent - len(feed.updates) // what the view's loop took from the feed
	r := ui.stop()
	// Ticks join the frames updates make (a frame draws whatever came
	// while it waited), so every frame counts.
	frames := r.enqueued
	p50, p99, maximum := frameQuantiles(r.durations)

	// One tick on its own: what aging 1,000 rows' times costs.
	var tick time.Duration
	ui.call(func() {
		t := time.Now()
		v.tick("", actions.Status{}, false)
		tick = time.Since(t)
	})

	b.ReportMetric(float64(boardServers), "servers")
	b.ReportMetric(float64(sent)/wall.Seconds(), "updates/s")
	b.ReportMetric(float64(dropped), "dropped")
	b.ReportMetric(float64(r.busy)/float64(time.Millisecond)/wall.Seconds(), "ui-busy-ms/s")
	b.ReportMetric(float64(r.frames)/wall.Seconds(), "frames-run/s")
	b.ReportMetric(float64(frames)/wall.Seconds(), "frames-queued/s")
	b.ReportMetric(float64(taken)/float64(max(frames, 1)), "updates/frame")
	b.ReportMetric(float64(r.backlog), "backlog-frames")
	b.ReportMetric(r.behind.Seconds(), "behind-s")
	b.ReportMetric(built.Seconds(), "board-build-s")
	b.ReportMetric(float64(p50)/float64(time.Millisecond), "frame-p50-ms")
	b.ReportMetric(float64(p99)/float64(time.Millisecond), "frame-p99-ms")
	b.ReportMetric(float64(maximum)/float64(time.Millisecond), "frame-max-ms")
	b.ReportMetric(float64(tick)/float64(time.Millisecond), "tick-ms")
}

// benchUI plays Fyne's event loop: one goroutine runs the queued changes in
// order, and counts the time it spends in them. Like Fyne's, its queue has
// no bound: fyne.Do never blocks, so a board that cannot keep up falls
// behind rather than holding up its feed.
type benchUI struct {
	mu      sync.Mutex
	queue   []queuedFunc
	wake    chan struct{}
	closed  bool
	discard bool // drop queued frames (not calls): the measurement is over

	enqueued  int // frames queued by do
	frames    int // frames run
	busy      time.Duration
	running   time.Time // when the frame now running began; zero between frames
	durations []time.Duration
}

type queuedFunc struct {
	fn   func()
	at   time.Time
	call bool // from call, not from the view's loop
}

func newBenchUI() *benchUI { return &benchUI{wake: make(chan struct{}, 1)} }

func (u *benchUI) push(q queuedFunc) {
	u.mu.Lock()
	u.queue = append(u.queue, q)
	if !q.call {
		u.enqueued++
	}
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// do is the view loop's way onto the UI goroutine, as fyne.Do is.
func (u *benchUI) do(fn func()) { u.push(queuedFunc{fn: fn, at: time.Now()}) }

// call runs fn on the UI goroutine and waits for it.
func (u *benchUI) call(fn func()) {
	done := make(chan struct{})
	u.push(queuedFunc{fn: func() { fn(); close(done) }, at: time.Now(), call: true})
	<-done
}

func (u *benchUI) close() {
	u.mu.Lock()
	u.closed = true
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

func (u *benchUI) run() {
	for {
		u.mu.Lock()
		if len(u.queue) == 0 {
			closed := u.closed
			u.mu.Unlock()
			if closed {
				return
			}
			<-u.wake
			continue
		}
		q := u.queue[0]
		u.queue = u.queue[1:]
		if q.call {
			u.mu.Unlock()
			q.fn()
			continue
		}
		if u.discard {
			u.mu.Unlock()
			continue
		}
		t := time.Now()
		u.running = t
		u.mu.Unlock()
		q.fn()
		d := time.Since(t)
		u.mu.Lock()
		u.running = time.Time{}
		u.busy += d
		u.frames++
		u.durations = append(u.durations, d)
		u.mu.Unlock()
	}
}

func (u *benchUI) reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.busy, u.frames, u.enqueued, u.durations = 0, 0, 0, nil
}

// uiResult is what the UI goroutine did up to a moment.
type uiResult struct {
	busy             time.Duration // including the part of a frame still running
	frames, enqueued int
	backlog          int           // frames queued and not yet run
	behind           time.Duration // how long the oldest of them has waited
	durations        []time.Duration
}

// stop ends the measurement: it returns the result so far and drops the
// frames still queued, so the benchmark need not wait for them.
func (u *benchUI) stop() uiResult {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := time.Now()
	r := uiResult{busy: u.busy, frames: u.frames, enqueued: u.enqueued, durations: slices.Clone(u.durations)}
	if !u.running.IsZero() {
		r.busy += now.Sub(u.running)
	}
	for _, q := range u.queue {
		if !q.call {
			r.backlog++
			r.behind = max(r.behind, now.Sub(q.at))
		}
	}
	u.discard = true
	return r
}

func frameQuantiles(d []time.Duration) (p50, p99, maximum time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(d))+0.999999) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	return rank(0.50), rank(0.99), d[len(d)-1]
}

// benchFeed is a Feed whose updates the benchmark sends.
type benchFeed struct {
	snapshot []model.ServerView
	updates  chan model.ServerView
	once     sync.Once
	closed   chan struct{} // closed by the subscription's cancel
}

var _ Feed = (*benchFeed)(nil)

func (f *benchFeed) Snapshot() []model.ServerView { return slices.Clone(f.snapshot) }

func (f *benchFeed) Verdicts() []model.SystemVerdict { return nil }

func (f *benchFeed) SubscribeVerdicts() (<-chan model.SystemVerdict, func()) { return nil, func() {} }

func (f *benchFeed) Subscribe() (<-chan model.ServerView, func()) {
	return f.updates, func() { f.once.Do(func() { close(f.closed) }) }
}

// wait returns once the view has cancelled its subscription.
func (f *benchFeed) wait() {
	select {
	case <-f.closed:
	case <-time.After(10 * time.Second):
	}
}

// benchOperator is an Operator for a view nobody acts in.
type benchOperator struct{}

func (benchOperator) Status(string) (actions.Status, bool) { return actions.Status{}, false }
func (benchOperator) Act(context.Context, string, actions.Request) (actions.Result, error) {
	return actions.Result{}, errors.New("the benchmark does not act")
}
func (benchOperator) OperatorName() string { return "bench" }
