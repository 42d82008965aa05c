package ui

import (
	"context"
	"time"

	"fyne.io/fyne/v2"

	"github.com/vigilops/vigil/model"
)

// Create returns the main window's content: a status board that follows
// feed until ctx is done, when it also cancels its subscription. The window
// is taken for the dialogs that later views will open over it.
func Create(ctx context.Context, _ fyne.Window, feed Feed) fyne.CanvasObject {
	ticker := time.NewTicker(time.Second)
	return start(ctx, feed, loop{now: time.Now, ticks: ticker.C, stop: ticker.Stop, do: fyne.Do})
}

// loop is what the board's background goroutine takes from outside: a
// clock, and a way onto the UI goroutine. Tests supply their own, because
// fyne's test driver runs fyne.Do at once on the calling goroutine, so a
// test reading widgets while the loop writes them would race.
type loop struct {
	now   func() time.Time
	ticks <-chan time.Time // when to age the "last seen" times
	stop  func()           // releases ticks
	do    func(func())     // runs a change on the UI goroutine
}

// start shows feed on a new board and starts the one goroutine that keeps
// it current until ctx is done.
func start(ctx context.Context, feed Feed, l loop) *Board {
	// Subscribe before taking the snapshot: a change in between then
	// arrives as an update instead of being lost.
	updates, cancel := feed.Subscribe()
	board := NewBoard(feed.Snapshot(), l.now)
	go func() {
		defer cancel()
		defer l.stop()
		l.run(ctx, board, updates)
	}()
	return board
}

// run never touches a widget itself: every change goes through l.do.
func (l loop) run(ctx context.Context, board *Board, updates <-chan model.ServerView) {
	for {
		select {
		case <-ctx.Done():
			return
		case v, ok := <-updates:
			if !ok {
				updates = nil // the feed has gone; the times still age until ctx ends
				continue
			}
			batch, open := drain(updates, v)
			if !open {
				updates = nil
			}
			l.do(func() {
				for _, v := range batch {
					board.Apply(v)
				}
			})
		case <-l.ticks:
			l.do(board.RefreshTimes)
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
