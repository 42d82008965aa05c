package monitor

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// PeerWord is how long after losing a server the console waits for its
// peers' word: an agent checks its peers four times a second and gives
// each 1.5 s to answer, so within this a peer that lost the server too has
// begun to say so (its checks failing); it says down after
// agent.PeerMisses checks, and the console goes on asking until then.
const PeerWord = 2 * time.Second

// lost records that the console stopped hearing a server at since, without
// a reset: a frozen host, a pulled cable, or a break in the console's own
// path. It is unreachable until its peers' word decides: down if they lost
// it too, unreachable if one still sees it.
func (m *Monitor) lost(ctx context.Context, id string, since time.Time, why string) {
	m.mu.Lock()
	t := m.servers[id]
	if t == nil {
		m.mu.Unlock()
		return
	}
	if t.lostAt.IsZero() || since.Before(t.lostAt) {
		t.lostAt = since
	}
	since = t.lostAt
	m.mu.Unlock()
	m.weigh(ctx, id, why)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		// Ask again as the peers' word comes in, until it has had time to.
		tick := time.NewTicker(PeerWord / 6)
		defer tick.Stop()
		for time.Since(since) < 3*PeerWord {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if !m.weigh(ctx, id, why) {
					return
				}
			}
		}
	}()
}

// found records that the console hears a server again.
func (m *Monitor) found(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.servers[id]; t != nil {
		t.lostAt = time.Time{}
	}
}

// weigh sets a lost server's health from what its peers say. It returns
// false when the server is no longer lost.
func (m *Monitor) weigh(ctx context.Context, id, why string) bool {
	m.mu.Lock()
	t := m.servers[id]
	if t == nil || t.lostAt.IsZero() {
		m.mu.Unlock()
		return false
	}
	health, detail, seenBy, awaiting := m.peersWordLocked(t, time.Now())
	m.mu.Unlock()
	m.apply(ctx, model.Observation{AgentID: id, Health: health}, note{detail: why + "; " + detail, seenBy: seenBy, awaiting: awaiting})
	return true
}

// peersWordLocked weighs the peers' word on a server the console lost: its
// health, why, the peers that still see it, and those whose word it still
// waits for. m.mu must be held.
func (m *Monitor) peersWordLocked(lost *tracked, now time.Time) (model.Health, string, []string, []string) {
	name, since := lost.view.Name, lost.lostAt
	var alive, gone, silent []string
	for _, p := range m.servers {
		if p == lost || p.view.System != lost.view.System || p.status == nil {
			continue
		}
		link, ok := p.status.Peers[name]
		if !ok {
			continue
		}
		// A peer's word counts only while the console hears the peer.
		if !p.view.Live() || !p.lostAt.IsZero() {
			continue
		}
		// The peer's times are by its clock: laid on the console's by
		// how far ahead its last status was stamped, so that a peer
		// whose clock is behind still confirms a loss.
		linkSince := link.Since.Add(-p.skew)
		switch {
		case link.State == "down" && !linkSince.Before(since.Add(-PeerWord)):
			gone = append(gone, fmt.Sprintf("%s (%s)", p.view.Name, link.Error))
		case link.State == "up" && link.Failing > 0:
			// Its checks of the server have begun to fail: its word is
			// coming, and it is not "I see it".
			silent = append(silent, p.view.Name)
		case link.State == "up" && p.view.LastSeen.After(since.Add(PeerWord)):
			// Heard from after it would have reported a loss, and it did not.
			alive = append(alive, p.view.Name)
		default:
			silent = append(silent, p.view.Name)
		}
	}
	sort.Strings(alive)
	sort.Strings(gone)
	switch {
	case len(alive) > 0:
		return model.HealthUnreachable, fmt.Sprintf("but %s still sees it: the console's path to it is at fault, not the server", strings.Join(alive, " and ")), alive, nil
	case len(gone) > 0 && len(silent) == 0:
		return model.HealthDown, fmt.Sprintf("its peers lost it too: %s", strings.Join(gone, ", ")), nil, nil
	case len(silent) > 0:
		sort.Strings(silent)
		return model.HealthUnreachable, fmt.Sprintf("waiting for the word of %s", strings.Join(silent, ", ")), nil, silent
	}
	return model.HealthUnreachable, "no peer reports on it", nil, nil
}

// peersSpoke re-judges servers the console lost when a peer's view of them
// changes.
func (m *Monitor) peersSpoke(ctx context.Context, from string, peers map[string]actions.PeerLink) {
	if len(peers) == 0 {
		return
	}
	m.mu.Lock()
	var system string
	if t := m.servers[from]; t != nil {
		system = t.view.System
	}
	var lost []string
	for id, t := range m.servers {
		if _, named := peers[t.view.Name]; named && t.view.System == system && !t.lostAt.IsZero() {
			lost = append(lost, id)
		}
	}
	m.mu.Unlock()
	for _, id := range lost {
		m.weigh(ctx, id, "not heard")
	}
}
