package ui

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigilops/vigil/model"
)

// Between two frames, many updates of one server are one update, the
// last; updates of other servers are all kept, in the order they first
// came; every event is kept; and only the first arrival queues a frame.
func TestPendingKeepsTheLatestUpdatePerServer(t *testing.T) {
	var p pending
	if !p.queue(selectedStatus{}) {
		t.Fatal("the first arrival did not queue a frame")
	}
	for i := range 50 {
		p.addUpdates([]model.ServerView{{ID: "a", VendorRole: fmt.Sprintf("word %d", i)}})
		if i%10 == 0 {
			p.addUpdates([]model.ServerView{{ID: fmt.Sprintf("s%d", i)}})
		}
		p.addEvents([]model.Event{{ID: uint(i)}})
		if p.queue(selectedStatus{id: "a", have: i%2 == 0}) {
			t.Fatalf("arrival %d queued a second frame while one waits", i)
		}
	}
	p.addTick()

	f := p.take(frameUpdates)
	var ids []string
	for _, v := range f.updates {
		ids = append(ids, v.ID)
	}
	if want := []string{"a", "s0", "s10", "s20", "s30", "s40"}; !slices.Equal(ids, want) {
		t.Errorf("the frame updates %q, want %q: one each, in the order they came", ids, want)
	}
	if got := f.updates[0].VendorRole; got != "word 49" {
		t.Errorf("server a's update reads %q, want the last, word 49", got)
	}
	if len(f.events) != 50 || f.events[0].ID != 0 || f.events[49].ID != 49 {
		t.Errorf("the frame has %d events; want all 50 in order", len(f.events))
	}
	if !f.tick || f.status.id != "a" || f.status.have {
		t.Errorf("tick %v, status %+v; want the tick and the last status read", f.tick, f.status)
	}

	// Taken, the frame is gone: the next arrival queues another, with
	// only what came after.
	if !p.queue(selectedStatus{}) {
		t.Error("after a frame started, the next arrival did not queue one")
	}
	p.addUpdates([]model.ServerView{{ID: "a", VendorRole: "word 50"}})
	if f := p.take(frameUpdates); len(f.updates) != 1 || f.updates[0].VendorRole != "word 50" || len(f.events) != 0 || f.tick {
		t.Errorf("the next frame has %+v; want word 50 alone", f)
	}
}

// However fast the feed runs, the view's loop has at most one frame
// waiting for the UI goroutine, and the frames it draws lose no server's
// latest state.
func TestViewQueuesOneFrameAtATime(t *testing.T) {
	feed := newFakeFeed(0, redstorPair()...)
	b, q, _ := startBoard(t, feed, time.Now)

	// The UI goroutine (this test) is busy: nothing runs while the feed
	// sends. The feed is unbuffered, so each send returns once the loop
	// has taken the update, and it took the one before to the end.
	const moves = 200
	for i := range moves {
		feed.updates <- model.ServerView{Paired: true, ID: "a", Name: "AS-1", System: "Redstor", Role: model.RolePrimary,
			VendorRole: fmt.Sprintf("Master AccountServer, move %d", i), Health: model.HealthUp}
		if i%20 == 0 {
			feed.updates <- model.ServerView{Paired: true, ID: fmt.Sprintf("n%d", i), Name: fmt.Sprintf("NEW-%03d", i), System: "Infocast", Role: model.RoleStandby}
		}
		if n := len(q); n > 1 {
			t.Fatalf("%d frames queued after %d updates; want one at most", n, i+1)
		}
	}
	last := fmt.Sprintf("Master AccountServer, move %d", moves-1)
	frames := 0
	q.waitFor(t, "the last move", func() bool {
		if r := b.rows["a"]; r != nil && r.vendor.Text == last {
			return true
		}
		frames++
		return false
	})
	// The first frame took all but, at most, the update the loop was
	// still merging when it started; that one needs a second.
	if frames > 2 {
		t.Errorf("%d frames drew %d updates; want one, or two", frames, moves)
	}
	for i := 0; i < moves; i += 20 {
		if b.rows[fmt.Sprintf("n%d", i)] == nil {
			t.Errorf("server NEW-%03d was lost", i)
		}
	}
	if got, want := b.summary.Text, "2 systems · 12 servers"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}

// A frame draws at most so many updates, the first to come; the rest wait
// for the next frame, still one per server, the latest winning, and no
// arrival queues another frame meanwhile.
func TestPendingLeavesTheRestForTheNextFrame(t *testing.T) {
	var p pending
	p.queue(selectedStatus{})
	for i := range 5 {
		p.addUpdates([]model.ServerView{{ID: fmt.Sprintf("s%d", i), VendorRole: "first"}})
	}
	p.addTick()
	f := p.take(3)
	if len(f.updates) != 3 || f.updates[2].ID != "s2" || !f.more || !f.tick {
		t.Fatalf("first frame %+v; want s0 to s2, the tick, and more to come", f)
	}
	p.addUpdates([]model.ServerView{{ID: "s4", VendorRole: "latest"}, {ID: "s0", VendorRole: "again"}})
	if p.queue(selectedStatus{}) {
		t.Error("an arrival queued a frame while the rest of the last one waits")
	}
	f = p.take(3)
	var got []string
	for _, v := range f.updates {
		got = append(got, v.ID+" "+v.VendorRole)
	}
	if want := []string{"s3 first", "s4 latest", "s0 again"}; !slices.Equal(got, want) || f.more || f.tick {
		t.Errorf("second frame %q (more %v, tick %v), want %q and nothing more", got, f.more, f.tick, want)
	}
	if !p.queue(selectedStatus{}) {
		t.Error("with everything drawn, the next arrival did not queue a frame")
	}
}

// A burst of more servers than a frame draws is drawn over several frames,
// each queued by the one before, one at a time, and none is lost.
func TestViewDrawsABurstInBoundedFrames(t *testing.T) {
	feed := newFakeFeed(0)
	b, q, _ := startBoard(t, feed, time.Now)
	const servers = 2*frameUpdates + 10
	for i := range servers {
		feed.updates <- model.ServerView{Paired: true, ID: fmt.Sprintf("s%04d", i), Name: fmt.Sprintf("S-%04d", i), System: fmt.Sprintf("sys-%d", i/2)}
	}
	frames := 0
	q.waitFor(t, "every server", func() bool {
		if n := len(q); n > 1 {
			t.Fatalf("%d frames queued; want one at most", n)
		}
		if len(b.rows) == servers {
			return true
		}
		if frames > 0 && len(b.rows) > frames*frameUpdates {
			t.Fatalf("%d frames drew %d servers; want %d at most each", frames, len(b.rows), frameUpdates)
		}
		frames++
		return false
	})
	if frames < 3 {
		t.Errorf("%d servers drawn in %d frames; want at least 3 of at most %d", servers, frames, frameUpdates)
	}
}
