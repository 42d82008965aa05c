package monitor

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/vigilops/vigil/lateness"
)

// The console's own lag: how late it has run lately.
//
// A console that was not scheduled for half a second (a loaded machine, a
// paused VM, a GUI busy drawing) reads its agents' lines half a second
// late: the silence was the console's, not the servers'. So the monitor
// keeps a timer and measures how late it fires; a stream's allowance
// grows by the worst lateness of the last lateness.Window (30 s). Real lag
// widens the allowance only while it lasts, and a quiet console adds
// nothing.
const lagTick = 50 * time.Millisecond

// lagMeter measures the console's lateness. Every stream's line reads it,
// so the worst of the window is worked out once a tick, not once a line.
type lagMeter struct {
	lateness.Meter
	worst atomic.Int64 // Recent as of the last tick, in nanoseconds
}

// ran records a tick's lateness and works out the worst of the window.
func (l *lagMeter) ran(now time.Time, late time.Duration) {
	l.Ran(now, late)
	l.worst.Store(int64(l.Recent(now)))
}

// recent is the worst lateness of the window as of the last tick.
func (l *lagMeter) recent() time.Duration { return time.Duration(l.worst.Load()) }

// run measures until ctx ends.
func (l *lagMeter) run(ctx context.Context) {
	t := time.NewTimer(lagTick)
	defer t.Stop()
	for due := time.Now().Add(lagTick); ; due = due.Add(lagTick) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		l.ran(now, now.Sub(due))
		due = now
		t.Reset(lagTick)
	}
}
