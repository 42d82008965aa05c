package standin

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
)

// TestWatchSpeaksTheAgentsProtocol follows one stand-in with the console's
// own client: the pinned key passes, the stream opens with the full status,
// and heartbeats and changes follow.
func TestWatchSpeaksTheAgentsProtocol(t *testing.T) {
	f, err := Start(Options{Agents: 3, Heartbeat: 20 * time.Millisecond, Change: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	agents := f.Agents()
	if len(agents) != 3 || agents[0].Role != "primary" || agents[1].Role != "standby" || agents[0].System != agents[1].System ||
		agents[2].System == agents[0].System || agents[0].Address == agents[1].Address {
		t.Fatalf("agents %+v", agents)
	}
	a := agents[1]
	c := actions.NewClient(a.Address, a.Fingerprint, tls.Certificate{})
	defer c.Close()
	st, err := c.Status(context.Background())
	if err != nil || st.AgentID != a.ID || st.Role != "standby" {
		t.Fatalf("status %+v, %v", st, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var lines []actions.WatchLine
	done := errors.New("enough")
	err = c.Watch(ctx, func(l actions.WatchLine) error {
		lines = append(lines, l)
		var beats, changes int
		for _, l := range lines[1:] {
			if l.Status != nil {
				changes++
			} else {
				beats++
			}
		}
		if beats >= 2 && changes >= 2 {
			return done
		}
		return nil
	})
	if !errors.Is(err, done) {
		t.Fatalf("watch ended with %v after %d lines", err, len(lines))
	}
	if lines[0].Status == nil || lines[0].Status.AgentID != a.ID {
		t.Fatalf("first line %+v is not the full status", lines[0])
	}
	vendors := map[string]bool{}
	for _, l := range lines {
		if l.Status != nil {
			vendors[l.Status.VendorRole] = true
		}
	}
	if len(vendors) != 2 {
		t.Errorf("vendor roles seen %v, want the two words alternating", vendors)
	}

	other := "0" + a.Fingerprint[1:]
	if other == a.Fingerprint {
		other = "1" + a.Fingerprint[1:]
	}
	wrong := actions.NewClient(a.Address, other, tls.Certificate{})
	defer wrong.Close()
	if _, err := wrong.Status(context.Background()); !errors.Is(err, actions.ErrIdentityChanged) {
		t.Errorf("a client pinning another key: %v, want %v", err, actions.ErrIdentityChanged)
	}
	if s := f.Stats(); s.Streams != 1 || s.StatusLines < 3 || s.Heartbeats < 2 {
		t.Errorf("stats %+v", s)
	}
}
