package monitor

import (
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// The console weighs a lost server by its peers' word: a peer whose link
// is down says the server is gone too; one whose link is up, heard since,
// says the console's path is at fault; one whose checks have begun to
// fail (the link not yet down) has not spoken yet, and is not taken for
// a peer that still sees the server.
func TestPeersWord(t *testing.T) {
	lostAt := t0.Add(10 * time.Second)
	for _, tc := range []struct {
		name   string
		link   actions.PeerLink
		skew   time.Duration // the peer's clock against the console's
		health model.Health
		detail string
	}{
		{"the peer lost it too, by a clock 5 s behind", actions.PeerLink{State: "down", Since: lostAt.Add(-5 * time.Second), Error: "i/o timeout"},
			-5 * time.Second, model.HealthDown, "its peers lost it too: b (i/o timeout)"},
		{"the peer lost it long before, by a clock 5 s ahead", actions.PeerLink{State: "down", Since: lostAt.Add(5*time.Second - 3*PeerWord)},
			5 * time.Second, model.HealthUnreachable, "waiting for the word of b"},
		{"the peer lost it too", actions.PeerLink{State: "down", Since: lostAt, Error: "i/o timeout"}, 0,
			model.HealthDown, "its peers lost it too: b (i/o timeout)"},
		{"the peer still sees it", actions.PeerLink{State: "up", Since: t0}, 0,
			model.HealthUnreachable, "b still sees it"},
		{"the peer's checks begin to fail", actions.PeerLink{State: "up", Since: t0, Failing: 1, FailingSince: lostAt}, 0,
			model.HealthUnreachable, "waiting for the word of b"},
		{"the peer lost it long before", actions.PeerLink{State: "down", Since: t0}, 0,
			model.HealthUnreachable, "waiting for the word of b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &tracked{view: sv("a", "ic", "infocast", model.RolePrimary, model.HealthUnreachable), lostAt: lostAt}
			bv := sv("b", "ic", "infocast", model.RoleStandby, model.HealthUp)
			bv.LastSeen = lostAt.Add(2 * PeerWord)
			b := &tracked{view: bv, status: &actions.Status{Peers: map[string]actions.PeerLink{"a": tc.link}}, skew: tc.skew}
			m := &Monitor{servers: map[string]*tracked{"a": a, "b": b}}
			health, detail, _, _ := m.peersWordLocked(a, lostAt.Add(2*PeerWord))
			if health != tc.health || !strings.Contains(detail, tc.detail) {
				t.Errorf("link %+v: %s, %q; want %s, %q", tc.link, health, detail, tc.health, tc.detail)
			}
		})
	}
}
