package monitor

import (
	"context"
	"sync"
	"time"
)

// The console's own lag: how late it has run lately.
//
// A console that was not scheduled for half a second (a loaded machine, a
// paused VM, a GUI busy drawing) reads its agents' lines half a second
// late: the silence was the console's, not the servers'. So the monitor
// keeps a ticker and measures how late it fires; a stream's allowance
// grows by the worst lateness of the last lagMemory. Real lag widens the
// allowance only while it lasts, and a quiet console adds nothing.
const (
	lagTick   = 50 * time.Millisecond
	lagMemory = 30 * time.Second
	// lagSlots cover lagMemory a second each.
	lagSlots = int(lagMemory / time.Second)
	// lagNoise is the lateness of a ticker on an idle machine, and more:
	// below it the console is on time.
	lagNoise = 20 * time.Millisecond
)

// lagMeter records the console's lateness, the worst of each second of
// the last lagMemory.
type lagMeter struct {
	mu    sync.Mutex
	worst [lagSlots]time.Duration
	slot  [lagSlots]int64 // the second (Unix) each worst is of
}

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

// ran records that the console, due to run at now-late, ran at now.
func (l *lagMeter) ran(now time.Time, late time.Duration) {
	if late < lagNoise {
		return
	}
	sec := now.Unix()
	i := int(sec % int64(lagSlots))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.slot[i] != sec {
		l.slot[i], l.worst[i] = sec, 0
	}
	l.worst[i] = max(l.worst[i], late)
}

// recent is the worst lateness of the last lagMemory before now.
func (l *lagMeter) recent(now time.Time) time.Duration {
	oldest := now.Add(-lagMemory).Unix()
	l.mu.Lock()
	defer l.mu.Unlock()
	var worst time.Duration
	for i, sec := range l.slot {
		if sec > oldest && sec <= now.Unix() {
			worst = max(worst, l.worst[i])
		}
	}
	return worst
}
