package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
)

// A peer's link goes down at once when its host refuses the connection
// (nothing listens), but only after PeerMisses timeouts in a row when it
// does not answer: one lost handshake on a loaded host is not a lost peer.
// Until then the link is up with its failing checks counted, and once down
// it is down since the first of them.
func TestPeerLinkHysteresis(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0).UTC()
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	timeout := fmt.Errorf("dial: %w", context.DeadlineExceeded)
	refused := refusedError(t)

	l := nextLink(actions.PeerLink{}, false, nil, at(0))
	if l.State != "up" || !l.Since.Equal(at(0)) {
		t.Fatalf("first check answered: %+v", l)
	}
	l = nextLink(l, true, timeout, at(1))
	if l.State != "up" || l.Failing != 1 || !l.FailingSince.Equal(at(1)) || !l.Since.Equal(at(0)) {
		t.Fatalf("one timeout: %+v; want up, failing 1 since %v", l, at(1))
	}
	l = nextLink(l, true, nil, at(2))
	if l.State != "up" || l.Failing != 0 || !l.FailingSince.IsZero() || !l.Since.Equal(at(0)) {
		t.Fatalf("answered again: %+v; want up since %v, nothing failing", l, at(0))
	}
	for i := 3; i < 3+PeerMisses-1; i++ {
		l = nextLink(l, true, timeout, at(i))
	}
	if l.State != "up" {
		t.Fatalf("%d timeouts in a row: %+v; want still up", PeerMisses-1, l)
	}
	l = nextLink(l, true, timeout, at(3+PeerMisses-1))
	if l.State != "down" || !l.Since.Equal(at(3)) || l.Failing != 0 || l.Error == "" {
		t.Fatalf("%d timeouts in a row: %+v; want down since the first, %v", PeerMisses, l, at(3))
	}
	l = nextLink(l, true, timeout, at(10))
	if l.State != "down" || !l.Since.Equal(at(3)) {
		t.Fatalf("down and still failing: %+v; want down since %v", l, at(3))
	}
	l = nextLink(l, true, nil, at(11))
	if l.State != "up" || !l.Since.Equal(at(11)) {
		t.Fatalf("back: %+v; want up since %v", l, at(11))
	}
	l = nextLink(l, true, refused, at(12))
	if l.State != "down" || !l.Since.Equal(at(12)) {
		t.Fatalf("refused: %+v (gone %v); want down at once", l, gone(refused))
	}
	if l := nextLink(actions.PeerLink{}, false, timeout, at(0)); l.State != "down" {
		t.Errorf("a peer never seen up that times out: %+v; want down", l)
	}
}

// refusedError is what dialling a port nothing listens on returns.
func refusedError(t *testing.T) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = pingPeer(context.Background(), addr, 5*time.Second)
	if err == nil || !gone(err) {
		t.Fatalf("pinging %s with nothing listening: %v; want a refusal", addr, err)
	}
	if gone(fmt.Errorf("wrapped: %w", context.DeadlineExceeded)) || gone(errors.New("tls: handshake timeout")) {
		t.Fatal("a timeout taken for a refusal")
	}
	return err
}
