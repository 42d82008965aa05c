package monitor

import (
	"context"
	"fmt"
	"time"

	"github.com/vigilops/vigil/model"
)

// What the monitor learns is shown first and stored after: apply publishes
// a server's new view at once and leaves the observation to the writer, so
// a store that is slow (another process holding its lock) or failing (a
// full disk, a read-only file system) never holds back what operators see
// or the events and alarms it makes. Observations wait in memory, one per
// server (a later one laid over an earlier), events in order up to
// maxUnwrittenEvents; while writes fail the console raises one
// console-store alarm, and says when the store takes them again.

// Bounds of the writer.
const (
	// maxUnwrittenEvents bounds the events kept in memory while the store
	// fails. The oldest are kept, since an outage's first events say the
	// most; later ones are counted and the count reported.
	maxUnwrittenEvents = 10000
	// writeRetry is how long the writer waits after a failed write.
	writeRetry = time.Second
)

// writer is the state of the background writes. Guarded by Monitor.mu.
type writer struct {
	servers map[string][]model.Observation // not yet stored, by server, oldest first
	events  []model.Event                  // published, not yet stored, oldest first
	dropped int                            // events not kept, beyond maxUnwrittenEvents
	wake    chan struct{}
	// failing is the last write error while writes fail, and since when.
	failing error
	since   time.Time
	busy    bool // a write is under way
}

// queueLocked hands o to the writer. m.mu must be held.
func (m *Monitor) queueLocked(o model.Observation) {
	if m.writes.servers == nil {
		m.writes.servers = map[string][]model.Observation{}
	}
	m.writes.servers[o.AgentID] = queued(m.writes.servers[o.AgentID], o)
	if s, ok := m.seen[o.AgentID]; ok && o.VendorRole != "" {
		// The batch of sightings is stored after this: it must carry the
		// vendor's latest word, not the one it had.
		s.VendorRole = o.VendorRole
		m.seen[o.AgentID] = s
	}
	m.wakeWriterLocked()
}

func (m *Monitor) wakeWriterLocked() {
	select {
	case m.writes.wake <- struct{}{}:
	default:
	}
}

// maxQueuedPerServer bounds the observations of one server waiting for the
// store: a server that keeps changing while the store fails has its oldest
// changes folded together beyond it.
const maxQueuedPerServer = 64

// queued adds o to a server's queue: laid over the last one when it
// changes neither its role nor its health (storing the two as one then
// leaves the server as storing both would), after it otherwise.
func queued(q []model.Observation, o model.Observation) []model.Observation {
	if n := len(q); n > 0 {
		last := q[n-1]
		if (o.Role == "" || o.Role == last.Role) && (o.Health == "" || o.Health == last.Health) {
			q[n-1] = last.Then(o)
			return q
		}
	}
	q = append(q, o)
	if len(q) > maxQueuedPerServer {
		q[1] = q[0].Then(q[1])
		q = q[1:]
	}
	return q
}

// unwrittenEventLocked keeps an event the store did not take, to store it
// once it does. m.mu must be held.
func (m *Monitor) unwrittenEventLocked(e model.Event, err error) {
	if len(m.writes.events) < maxUnwrittenEvents {
		m.writes.events = append(m.writes.events, e)
	} else {
		m.writes.dropped++
	}
	m.storeFailingLocked(err)
	m.wakeWriterLocked() // it tries them again, and says when the store is back
}

// storeWrites stores what apply queued, and every seenInterval the
// sightings written behind, until ctx ends; Run stores the last of them.
// One goroutine writes both, observations first, so a later word never
// reaches the store before an earlier one. While writes fail it tries
// again every writeRetry, not at every observation.
func (m *Monitor) storeWrites(ctx context.Context) {
	wctx := context.WithoutCancel(ctx)
	tick := time.NewTicker(seenInterval)
	defer tick.Stop()
	seen := false
	for {
		var again <-chan time.Time
		wake := m.writes.wake
		if !m.writeQueued(wctx) {
			again, wake = time.After(writeRetry), nil
		} else if seen {
			m.writeSeen(wctx)
		}
		seen = false
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-again:
		case <-tick.C:
			seen = true
		}
	}
}

// writeQueued stores the queued observations and the events the store did
// not take before; it reports false when a write failed, leaving what it
// could not store queued.
func (m *Monitor) writeQueued(ctx context.Context) bool {
	m.mu.Lock()
	servers, events := m.writes.servers, m.writes.events
	m.writes.servers, m.writes.events = nil, nil
	m.writes.busy = true
	m.mu.Unlock()
	var failed error
	for id, q := range servers {
		for failed == nil && len(q) > 0 {
			if _, _, err := m.store.Observe(ctx, q[0]); err != nil {
				failed = err
			} else {
				q = q[1:]
			}
		}
		if len(q) == 0 {
			delete(servers, id)
		} else {
			servers[id] = q
		}
	}
	stored := 0
	for _, e := range events {
		if failed != nil {
			break
		}
		if _, err := m.record(ctx, e); err != nil {
			failed = err
			break
		}
		stored++
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes.busy = false
	// What came meanwhile is newer: it goes after what is left.
	for id, q := range servers {
		for _, later := range m.writes.servers[id] {
			q = queued(q, later)
		}
		if m.writes.servers == nil {
			m.writes.servers = map[string][]model.Observation{}
		}
		m.writes.servers[id] = q
	}
	m.writes.events = append(events[stored:], m.writes.events...)
	if failed != nil {
		m.storeFailingLocked(failed)
		return false
	}
	if m.writes.failing != nil && len(m.writes.servers) == 0 && len(m.writes.events) == 0 {
		m.storeBackLocked()
	}
	return true
}

// record stores an event with its alert.
func (m *Monitor) record(ctx context.Context, e model.Event) (model.Event, error) {
	if m.Record != nil {
		return m.Record(ctx, e)
	}
	return m.store.AddEvent(ctx, e)
}

// storeFailingLocked notes a failed write; the first of a run of them
// raises the console-store alarm. m.mu must be held.
func (m *Monitor) storeFailingLocked(err error) {
	first := m.writes.failing == nil
	m.writes.failing = err
	if !first {
		return
	}
	m.writes.since = time.Now()
	m.log.Error("console store failing; what the console learns is shown and kept in memory until it can be written", "err", err)
	m.emitLocked([]model.Event{{Time: m.writes.since, Kind: model.EventConsoleStore, Severity: model.SeverityCritical, To: "failing",
		Detail: fmt.Sprintf("console store failing: %v; what the console learns is shown as it happens and kept in memory (up to %d events) until the store takes it again", err, maxUnwrittenEvents)}})
}

// storeBackLocked ends the console-store alarm once everything kept in
// memory is stored. m.mu must be held.
func (m *Monitor) storeBackLocked() {
	detail := fmt.Sprintf("console store writable again after %v; what was kept in memory is stored", Duration(time.Since(m.writes.since)))
	if m.writes.dropped > 0 {
		detail += fmt.Sprintf(", but for %d events beyond the %d kept, which were shown and are not in the history", m.writes.dropped, maxUnwrittenEvents)
	}
	m.log.Info("console store writable again", "dropped_events", m.writes.dropped)
	m.writes.failing, m.writes.dropped = nil, 0
	m.emitLocked([]model.Event{{Time: time.Now(), Kind: model.EventConsoleStore, Severity: model.SeverityInfo, From: "failing", To: "ok", Detail: detail}})
}

// StoreFailing is the error of the last failed write to the console's
// store while writes fail, and since when; nil while they succeed.
func (m *Monitor) StoreFailing() (error, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes.failing, m.writes.since
}

// writesDone says whether nothing waits for the writer: for tests.
func (m *Monitor) writesDone() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.writes.servers) == 0 && len(m.writes.events) == 0 && !m.writes.busy
}
