package monitor

import (
	"context"
	"time"

	"github.com/vigilops/vigil/model"
)

// tickInterval is how often the detector looks at what time alone changes:
// a flapping server that settled, a system without a primary past its grace.
const tickInterval = time.Second

// emitLocked queues events to be stored and then handed to subscribers.
// m.mu must be held; storing happens on the events goroutine, so a slow
// disk never holds up the watch streams.
func (m *Monitor) emitLocked(evs []model.Event) {
	// Whatever the detector was just told may have changed a verdict.
	m.publishVerdictsLocked()
	if len(evs) == 0 {
		return
	}
	for _, e := range evs {
		m.log.Info("event", "kind", e.Kind, "severity", e.Severity, "system", e.System, "server", e.Server, "from", e.From, "to", e.To, "detail", e.Detail)
	}
	m.evQueue = append(m.evQueue, evs...)
	select {
	case m.evWake <- struct{}{}:
	default:
	}
}

// storeEvents stores queued events in order and hands each stored one to
// the event subscribers, until ctx is done; what is queued then is stored
// before it returns.
func (m *Monitor) storeEvents(ctx context.Context) {
	for {
		m.mu.Lock()
		batch := m.evQueue
		m.evQueue = nil
		m.mu.Unlock()
		for _, e := range batch {
			m.mu.Lock()
			behind := len(m.writes.events) > 0
			if behind {
				// Events the store did not take wait for the writer: this
				// one goes after them, in order.
				m.unwrittenEventLocked(e, m.writes.failing)
			}
			m.mu.Unlock()
			stored := e
			if !behind {
				var err error
				if stored, err = m.record(context.WithoutCancel(ctx), e); err != nil {
					// Shown now, stored once the store takes it.
					m.log.Error("event not stored yet", "kind", e.Kind, "server", e.Server, "err", err)
					stored = e
					m.mu.Lock()
					m.unwrittenEventLocked(e, err)
					m.mu.Unlock()
				}
			}
			m.publishEvent(stored)
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			m.mu.Lock()
			left := len(m.evQueue)
			m.mu.Unlock()
			if left == 0 {
				return
			}
		case <-m.evWake:
		}
	}
}

func (m *Monitor) publishEvent(e model.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events.send(e, m.log)
}

// SubscribeEvents delivers every event stored from now on, in order, until
// cancel is called. The channel is closed after cancel.
func (m *Monitor) SubscribeEvents() (<-chan model.Event, func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.events.subscribe(&m.mu)
}

func (m *Monitor) tick(ctx context.Context) {
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.mu.Lock()
			m.expireLocked(now)
			m.emitLocked(m.det.Tick(now))
			m.mu.Unlock()
		}
	}
}
