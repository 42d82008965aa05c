package discovery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/model"
)

// TestAdvertiseBrowse runs a real responder and a real browser over this
// machine's multicast interface, the way an agent and the console meet.
func TestAdvertiseBrowse(t *testing.T) {
	if testing.Short() {
		t.Skip("sends mDNS on the local network")
	}
	start := time.Now()
	suffix := make([]byte, 6)
	rand.Read(suffix)
	// Other packages' tests may advertise at the same time: a random name
	// keeps this test to its own sightings.
	instance := "vigil-test-" + hex.EncodeToString(suffix)
	const port = 7
	want := Advert{
		ID:          "agent-" + hex.EncodeToString(suffix),
		System:      `Newsroom Café \ K2`, // survives zeroconf's escaping
		Profile:     "k2san",
		Role:        model.RolePrimary,
		Fingerprint: "0123456789abcdef",
	}

	ad, err := Advertise(instance, port, []string{"127.0.0.1"}, want)
	if err != nil {
		t.Fatalf("Advertise: %v", err)
	}
	defer ad.Close()

	ctx, cancel := context.WithCancel(context.Background())
	sightings := make(chan Sighting, 16)
	b := &Browser{Round: 2 * time.Second, MinRetry: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	done := make(chan error, 1)
	go func() {
		done <- b.Run(ctx, func(s Sighting) {
			if s.Instance != instance {
				return
			}
			select {
			case sightings <- s:
			default: // the test has stopped listening
			}
		})
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	}
	defer stop()

	await := func(role model.Role, within time.Duration) Sighting {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case s := <-sightings:
				if s.Advert.Role == role {
					return s
				}
			case <-deadline:
				t.Fatalf("no sighting of %s with role %s within %v", instance, role, within)
			}
		}
	}

	s := await(model.RolePrimary, time.Minute)
	t.Logf("first sighting after %v", time.Since(start).Round(time.Millisecond))
	if s.Advert != want {
		t.Errorf("Advert = %+v, want %+v", s.Advert, want)
	}
	if got, wantAddr := s.Address(), "127.0.0.1:7"; got != wantAddr {
		t.Errorf("Address() = %q, want %q", got, wantAddr)
	}
	if s.Port != port || s.Time.IsZero() {
		t.Errorf("sighting = %+v, want port %d and a time", s, port)
	}

	want.Role = model.RoleStandby
	if err := ad.Update(want); err != nil {
		t.Fatalf("Update: %v", err)
	}
	updated := time.Now()
	s = await(model.RoleStandby, time.Minute)
	t.Logf("updated role seen %v after Update", time.Since(updated).Round(time.Millisecond))
	if s.Advert != want {
		t.Errorf("Advert after Update = %+v, want %+v", s.Advert, want)
	}

	// zeroconf reports an instance once per browse; only the restart loop
	// makes an unchanged agent show up again, a round later.
	again := await(model.RoleStandby, time.Minute)
	t.Logf("repeat sighting %v later; test took %v", again.Time.Sub(s.Time).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	stop()
	// Run waits for zeroconf's browse loop; the loop's socket readers exit
	// as their sockets close, which it cannot wait for, so allow a moment
	// (a long one on a busy machine).
	deadline := time.Now().Add(time.Minute)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "zeroconf.(*client)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zeroconf browse goroutines outlived Run:\n%s", stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}

	ad.Close()
	if err := ad.Update(want); err == nil || !strings.Contains(err.Error(), instance) {
		t.Errorf("Update after Close = %v, want an error naming %s", err, instance)
	}
}

// TestAdvertiseHostAddresses covers an agent on a real interface: with no
// ips, zeroconf publishes the host's own name and addresses.
func TestAdvertiseHostAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("sends mDNS on the local network")
	}
	t.Parallel()
	suffix := make([]byte, 6)
	rand.Read(suffix)
	instance := "vigil-test-" + hex.EncodeToString(suffix)
	want := Advert{ID: "agent-" + hex.EncodeToString(suffix), Role: model.RoleStandby}
	ad, err := Advertise(instance, 8443, nil, want)
	if err != nil {
		t.Fatalf("Advertise: %v", err)
	}
	defer ad.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var got *Sighting
	b := &Browser{Round: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)}
	err = b.Run(ctx, func(s Sighting) {
		if s.Instance == instance && got == nil {
			got = &s
			cancel()
		}
	})
	if got == nil {
		t.Fatalf("no sighting of %s: Run returned %v", instance, err)
	}
	host, _ := os.Hostname()
	t.Logf("sighting from host %s at %s", got.Host, got.Address())
	if got.Advert != want || got.Port != 8443 || !strings.HasPrefix(got.Host, host) {
		t.Errorf("sighting = %+v, want advert %+v on port 8443 from host %s", got, want, host)
	}
	addr, _, _ := net.SplitHostPort(got.Address())
	if ip := net.ParseIP(addr); ip == nil || ip.IsLoopback() {
		t.Errorf("Address() = %q, want one of this host's interface addresses", got.Address())
	}
}
