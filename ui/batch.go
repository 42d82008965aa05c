package ui

import "sync"

// inOrder is the frame bridge for values that must each be applied, in
// the order they came (a run's engine updates), rather than merged as the
// board's pending merges its servers' views. Its rule is the same: at most
// one frame is queued on the UI goroutine at a time, and whatever arrives
// before that frame starts joins it, so a burst is one frame, not a
// fyne.Do each.
type inOrder[T any] struct {
	mu     sync.Mutex
	queued bool // a frame is queued and has not started
	items  []T
}

// add appends v and reports whether the caller must queue the frame that
// will take it: false when one is queued already.
func (b *inOrder[T]) add(v T) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.items = append(b.items, v)
	if b.queued {
		return false
	}
	b.queued = true
	return true
}

// take empties b into the frame that is starting; the next add queues
// the next frame.
func (b *inOrder[T]) take() []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	items := b.items
	b.items, b.queued = nil, false
	return items
}
