// Package lateness remembers how late a loop has run lately: the worst
// lateness of each second of a recent window. A process that was not
// scheduled for half a second (a loaded machine, a paused VM) heard
// nothing in that half second, and the silence it then sees of others was
// its own: the console's monitor and the simulated vendor services widen
// their silence allowances by it.
package lateness

import (
	"sync"
	"time"
)

// Window is how far back Recent looks.
const Window = 30 * time.Second

const slots = int(Window / time.Second)

// Noise is the lateness of a timer on an idle machine, and more: below it
// a loop is on time.
const Noise = 20 * time.Millisecond

// Meter records a loop's lateness. The zero value is ready; it is safe for
// concurrent use.
type Meter struct {
	mu    sync.Mutex
	worst [slots]time.Duration
	slot  [slots]int64 // the second (Unix) each worst is of
}

// Ran records that the loop, due to run at now-late, ran at now.
func (m *Meter) Ran(now time.Time, late time.Duration) {
	if late < Noise {
		return
	}
	sec := now.Unix()
	i := int(sec % int64(slots))
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.slot[i] != sec {
		m.slot[i], m.worst[i] = sec, 0
	}
	m.worst[i] = max(m.worst[i], late)
}

// Recent is the worst lateness of the last Window before now.
func (m *Meter) Recent(now time.Time) time.Duration {
	oldest := now.Add(-Window).Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	var worst time.Duration
	for i, sec := range m.slot {
		if sec > oldest && sec <= now.Unix() {
			worst = max(worst, m.worst[i])
		}
	}
	return worst
}
