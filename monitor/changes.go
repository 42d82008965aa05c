package monitor

import "sync"

// changes wakes the readers of one system's servers (a procedure's wait
// step, the wizard's server list) when what the monitor knows of one of
// them changed: its view or its agent's full status. A wake-up is a token
// in a channel of one: a reader that has not woken yet misses nothing,
// since it reads everything afresh when it does. Its methods must be
// called with the monitor's lock held; a subscription's cancel takes the
// lock itself.
type changes struct {
	subs map[string]map[chan struct{}]struct{} // by system
}

func (c *changes) subscribe(mu *sync.Mutex, system string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	if c.subs == nil {
		c.subs = map[string]map[chan struct{}]struct{}{}
	}
	if c.subs[system] == nil {
		c.subs[system] = map[chan struct{}]struct{}{}
	}
	c.subs[system][ch] = struct{}{}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			delete(c.subs[system], ch)
			if len(c.subs[system]) == 0 {
				delete(c.subs, system)
			}
		})
	}
}

func (c *changes) wake(system string) {
	for ch := range c.subs[system] {
		select {
		case ch <- struct{}{}:
		default: // a token is waiting already
		}
	}
}

// Changes wakes its channel each time a server of system changes, in its
// view or its agent's full status, until cancel is called. Read the
// servers again on a wake-up: the channel carries no news itself, and
// several changes may share one token.
func (m *Monitor) Changes(system string) (<-chan struct{}, func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed.subscribe(&m.mu, system)
}
