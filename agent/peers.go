package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/vigilops/vigil/actions"
)

// Peer checks: how often, and how long a peer has to answer.
const (
	DefaultPeerInterval = 250 * time.Millisecond
	DefaultPeerTimeout  = 750 * time.Millisecond
)

// checkPeers checks every declared peer until ctx ends and publishes what
// it sees in the status.
func (a *Agent) checkPeers(ctx context.Context) {
	if len(a.cfg.Peers) == 0 {
		return
	}
	t := time.NewTicker(a.PeerInterval)
	defer t.Stop()
	for {
		results := make(map[string]error, len(a.cfg.Peers))
		done := make(chan struct {
			name string
			err  error
		}, len(a.cfg.Peers))
		for _, p := range a.cfg.Peers {
			go func() {
				done <- struct {
					name string
					err  error
				}{p.Name, pingPeer(ctx, p.Address, a.PeerTimeout)}
			}()
		}
		for range a.cfg.Peers {
			r := <-done
			results[r.name] = r.err
		}
		a.peersChecked(results, time.Now().UTC())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pingPeer proves a peer agent's process is alive: it must answer a TLS
// handshake. A frozen process or a cut link does not; a process that is
// gone refuses the connection. Whether it would accept this agent as a
// client does not matter, so its certificate is not checked here: this is
// evidence for consoles, never a basis for acting.
func pingPeer(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		var alert tls.AlertError
		if errors.As(err, &alert) {
			return nil // it answered, if only to refuse
		}
		return err
	}
	return c.Close()
}

func (a *Agent) peersChecked(results map[string]error, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	peers := make(map[string]actions.PeerLink, len(results))
	changed := false
	for name, err := range results {
		l := actions.PeerLink{State: "up", Checked: now}
		if err != nil {
			l.State, l.Error = "down", err.Error()
		}
		old, ok := a.status.Peers[name]
		l.Since = now
		if ok && old.State == l.State {
			l.Since = old.Since
		}
		if !ok || old.State != l.State {
			changed = true
			a.log.Info("peer", "peer", name, "state", l.State, "err", l.Error)
		}
		peers[name] = l
	}
	a.status.Peers = peers
	// Only a change is sent at once; the check times go out with the next
	// status. A console knows a peer's word is current from its heartbeats:
	// a peer that lost a server says so within a check.
	if changed {
		a.bumpLocked()
	}
}
