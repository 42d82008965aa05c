package ui

import (
	"maps"
	"slices"
	"sync"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// pending is what the view's loop goroutine has gathered for the UI
// goroutine and not yet handed over. The loop queues at most one frame
// (one call of loop.do) at a time: until that frame starts, whatever else
// arrives joins it, updates one per server with the latest winning, so the
// UI goroutine is never handed a backlog of frames, however fast the feed
// runs. A frame takes everything when it starts, and the next arrival
// queues the next frame; except that it takes at most frameUpdates
// updates, the ones that came first, and queues the next frame itself for
// the rest, so that no frame keeps the UI goroutine from the operator's
// clicks for long.
type pending struct {
	mu      sync.Mutex
	queued  bool               // a frame is queued and has not started
	updates []model.ServerView // one per server, in the order they first arrived
	index   map[string]int     // the place of a server's update in updates
	// verdicts are the systems' latest verdicts, one per system, the
	// latest winning: few, and always drawn whole in the next frame.
	verdicts map[string]model.SystemVerdict
	events   []model.Event
	tick     bool
	status   selectedStatus
}

// frameUpdates bounds the updates one frame draws, so that a frame stays
// within about 50 ms even on a slow machine: a row's vendor role, which is
// cut short to fit, costs Fyne up to half a millisecond to shape each time
// it changes.
const frameUpdates = 100

// selectedStatus is the selected server's status as the loop last read it.
type selectedStatus struct {
	id   string
	st   actions.Status
	have bool
}

// frame is what one frame draws.
type frame struct {
	updates  []model.ServerView
	verdicts []model.SystemVerdict
	events   []model.Event
	tick     bool
	status   selectedStatus
	more     bool // updates are left for a frame of their own, queued already
}

// addUpdates merges updates into the next frame.
func (p *pending) addUpdates(updates []model.ServerView) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.index == nil {
		p.index = map[string]int{}
	}
	for _, v := range updates {
		if i, ok := p.index[v.ID]; ok {
			p.updates[i] = v
			continue
		}
		p.index[v.ID] = len(p.updates)
		p.updates = append(p.updates, v)
	}
}

// addVerdicts merges verdicts into the next frame, the latest per system
// winning.
func (p *pending) addVerdicts(verdicts []model.SystemVerdict) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.verdicts == nil {
		p.verdicts = map[string]model.SystemVerdict{}
	}
	for _, v := range verdicts {
		p.verdicts[v.System] = v
	}
}

// addEvents adds events to the next frame, in order: every one is drawn.
func (p *pending) addEvents(events []model.Event) {
	p.mu.Lock()
	p.events = append(p.events, events...)
	p.mu.Unlock()
}

// addTick asks the next frame to age the times shown.
func (p *pending) addTick() {
	p.mu.Lock()
	p.tick = true
	p.mu.Unlock()
}

// queue records the selected server's latest status for the next frame
// and reports whether the caller must queue that frame: false when one is
// queued already, which will draw what was added.
func (p *pending) queue(status selectedStatus) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = status
	if p.queued {
		return false
	}
	p.queued = true
	return true
}

// take empties p into the frame that is starting, but for updates past the
// first limit: those stay, and then the next frame counts as queued
// already, for the caller to queue.
func (p *pending) take(limit int) frame {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := frame{events: p.events, tick: p.tick, status: p.status}
	for _, system := range slices.Sorted(maps.Keys(p.verdicts)) {
		f.verdicts = append(f.verdicts, p.verdicts[system])
	}
	p.events, p.tick, p.verdicts = nil, false, nil
	if len(p.updates) <= limit {
		f.updates = p.updates
		p.updates, p.index, p.queued = nil, nil, false
		return f
	}
	f.updates, f.more = p.updates[:limit:limit], true
	p.updates = slices.Clone(p.updates[limit:])
	clear(p.index)
	for i, v := range p.updates {
		p.index[v.ID] = i
	}
	return f
}

// draw draws one frame on the UI goroutine.
func (v *View) draw(f frame) {
	st := f.status
	if len(f.updates) > 0 {
		v.apply(f.updates, st.id, st.st, st.have)
	}
	if len(f.verdicts) > 0 {
		v.board.ApplyVerdicts(f.verdicts)
		v.showTitle()
		v.checkNextSteps()
	}
	if len(f.events) > 0 {
		v.addEvents(f.events)
	}
	if f.tick {
		v.tick(st.id, st.st, st.have)
	}
}
