package ui

import (
	"slices"
	"sync"
	"testing"
)

// A burst of values handed over while a frame is queued joins that frame,
// in order; once the frame has taken them, the next value queues the next
// frame. Under concurrent senders, every value is taken exactly once and
// each sender's values stay in its order.
func TestInOrder(t *testing.T) {
	var b inOrder[int]
	if !b.add(1) || b.add(2) || b.add(3) {
		t.Fatal("want only the first of a burst to queue a frame")
	}
	if got := b.take(); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("took %v, want [1 2 3]", got)
	}
	if !b.add(4) {
		t.Fatal("after the frame took its values, the next one must queue a frame")
	}
	b.take()

	const senders, each = 4, 500
	frames := make(chan struct{}, senders*each)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				if b.add(s*each + i) {
					frames <- struct{}{}
				}
			}
		})
	}
	var got []int
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	queued := 0
	for finished := false; !finished; {
		select {
		case <-frames:
			queued++
			got = append(got, b.take()...)
		case <-done:
			finished = true
		}
	}
	for len(frames) > 0 {
		<-frames
		queued++
		got = append(got, b.take()...)
	}
	if len(got) != senders*each {
		t.Fatalf("took %d values in %d frames, want %d", len(got), queued, senders*each)
	}
	last := make([]int, senders)
	for i := range last {
		last[i] = -1
	}
	for _, v := range got {
		s := v / each
		if v <= last[s] {
			t.Fatalf("sender %d's %d came after its %d", s, v, last[s])
		}
		last[s] = v
	}
	t.Logf("%d values in %d frames", len(got), queued)
}
