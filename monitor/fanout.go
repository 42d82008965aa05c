package monitor

import (
	"log/slog"
	"sync"
)

// fanout hands what the monitor publishes (server views, events, verdicts)
// to every subscriber without ever waiting for one: a subscriber whose
// buffer is full misses the value, and the first miss is logged. Its
// methods must be called with the monitor's lock held; a subscription's
// cancel takes the lock itself.
type fanout[T any] struct {
	subs    map[int]chan T
	next    int
	dropped bool
	// missed says, for the log, what a subscriber that falls behind misses.
	missed string
}

// subscribe adds a subscriber; cancel removes it and closes its channel,
// once, taking mu.
func (f *fanout[T]) subscribe(mu *sync.Mutex) (<-chan T, func()) {
	ch := make(chan T, subscriberBuffer)
	if f.subs == nil {
		f.subs = map[int]chan T{}
	}
	id := f.next
	f.next++
	f.subs[id] = ch
	return ch, func() {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := f.subs[id]; ok {
			delete(f.subs, id)
			close(ch)
		}
	}
}

// send hands v to every subscriber that has room for it.
func (f *fanout[T]) send(v T, log *slog.Logger) {
	for _, ch := range f.subs {
		select {
		case ch <- v:
		default:
			if !f.dropped {
				f.dropped = true
				log.Warn("a subscriber is falling behind; it missed " + f.missed)
			}
		}
	}
}
