package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/vigilops/vigil/actions"
)

// Peer checks: how often, and how long a peer has to answer. The timeout
// outlasts TCP's first retransmission of a lost SYN (one second), so that
// one lost packet on a lossy link does not fail a check.
const (
	DefaultPeerInterval = 250 * time.Millisecond
	DefaultPeerTimeout  = 1500 * time.Millisecond
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
		old, ok := a.status.Peers[name]
		l := nextLink(old, ok, err, now)
		if !ok || old.State != l.State || old.Failing != l.Failing {
			changed = true
		}
		if !ok || old.State != l.State {
			a.log.Info("peer", "peer", name, "state", l.State, "err", l.Error)
		}
		peers[name] = l
	}
	a.status.Peers = peers
	// Only a change is sent at once; the check times go out with the next
	// status. A console knows a peer's word is current from its heartbeats:
	// a peer that lost a server says so within a few checks.
	if changed {
		a.bumpLocked()
	}
}

// PeerMisses is how many checks in a row must fail without proving the
// peer gone before its link is down. A refused connection proves it: the
// host answered and nothing listens. A timeout does not: a loaded host, a
// lost packet or a frozen process look alike for one check.
const PeerMisses = 2

// nextLink is a peer link after a check that ended in err (nil: the peer
// answered); old is the link before it, when had.
func nextLink(old actions.PeerLink, had bool, err error, now time.Time) actions.PeerLink {
	l := actions.PeerLink{State: "up", Since: now, Checked: now}
	if had {
		l.Since = old.Since
	}
	switch {
	case err == nil:
		if had && old.State != "up" {
			l.Since = now
		}
	case gone(err) || !had || old.State == "down":
		// Refused, or still down, or the first word on a peer never
		// seen up: there is no up to hold on to.
		l.State, l.Error = "down", err.Error()
		if !had || old.State != "down" {
			l.Since = now
			if !old.FailingSince.IsZero() {
				l.Since = old.FailingSince
			}
		}
	default:
		l.Failing, l.FailingSince, l.Error = old.Failing+1, old.FailingSince, err.Error()
		if l.FailingSince.IsZero() {
			l.FailingSince = now
		}
		if l.Failing >= PeerMisses {
			l.State, l.Since, l.Failing, l.FailingSince = "down", l.FailingSince, 0, time.Time{}
		}
	}
	return l
}

// gone says whether a failed check proves the peer's agent is not running:
// its host refused or reset the connection.
func gone(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
