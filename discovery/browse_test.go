package discovery

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grandcat/zeroconf"
	"github.com/vigilops/vigil/model"
)

func TestSightingAddress(t *testing.T) {
	ip := net.ParseIP
	for _, tt := range []struct {
		name string
		s    Sighting
		want string
	}{
		{"none", Sighting{Port: 7}, ""},
		{"first IPv4", Sighting{Port: 7, IPv4: []net.IP{ip("192.0.2.2"), ip("192.0.2.3")}, IPv6: []net.IP{ip("fd00::2")}}, "192.0.2.2:7"},
		{"loopback IPv4 wins", Sighting{Port: 7, IPv4: []net.IP{ip("192.0.2.2"), ip("127.0.0.1")}}, "127.0.0.1:7"},
		{"IPv6 when no IPv4", Sighting{Port: 8443, IPv6: []net.IP{ip("fe80::1"), ip("fd00::2")}}, "[fd00::2]:8443"},
		{"link-local IPv6 as last resort", Sighting{Port: 8443, IPv6: []net.IP{ip("fe80::1")}}, "[fe80::1]:8443"},
	} {
		if got := tt.s.Address(); got != tt.want {
			t.Errorf("%s: Address() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestUnescape(t *testing.T) {
	// As github.com/miekg/dns presents received names and TXT strings.
	for in, want := range map[string]string{
		`plain`:                     "plain",
		`sys=Newsroom\ Caf\195\169`: "sys=Newsroom Café",
		`a\\b\"c\.d`:                `a\b"c.d`,
		`ctl\000\127`:               "ctl\x00\x7f",
		`dangling\`:                 "dangling",
		`short\12`:                  "short12",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
	for _, s := range []string{`a\b`, `a.b`, `\\.`, `x\123`} {
		if got := unescape(escapeLabel(s)); got != s {
			t.Errorf("unescape(escapeLabel(%q)) = %q", s, got)
		}
		if got := unescape(escapeTXT([]string{s})[0]); got != s {
			t.Errorf("unescape(escapeTXT(%q)) = %q", s, got)
		}
	}
}

func TestHostLabel(t *testing.T) {
	for in, want := range map[string]string{
		"k2-server-a":           "k2-server-a-vigil",
		"Redstor Master #1":     "redstor-master-1-vigil",
		"--édition..x--":        "dition-x-vigil",
		"ünï":                   "n-vigil",
		"日本":                    "agent-vigil",
		strings.Repeat("a", 70): strings.Repeat("a", 57) + "-vigil",
	} {
		got := hostLabel(in)
		if got != want {
			t.Errorf("hostLabel(%q) = %q, want %q", in, got, want)
		}
		if len(got) > maxLabelLen {
			t.Errorf("hostLabel(%q) is %d bytes, over %d", in, len(got), maxLabelLen)
		}
	}
}

func TestAdvertiseRejectsBadArguments(t *testing.T) {
	good := Advert{ID: "a", Role: model.RolePrimary}
	for _, tt := range []struct {
		instance string
		port     int
		ips      []string
		a        Advert
		want     string
	}{
		{"", 7, nil, good, "empty"},
		{strings.Repeat("n", 64), 7, nil, good, "exceeds 63"},
		{".hidden", 7, nil, good, "dot"},
		{"trailing ", 7, nil, good, "white space"},
		{"bell\a", 7, nil, good, "non-printable"},
		{"srv", 0, nil, good, "port out of range"},
		{"srv", 70000, nil, good, "port out of range"},
		{"srv", 7, nil, Advert{ID: "a b"}, "advert"},
		{"srv", 7, []string{"localhost"}, good, "not an IP address"},
	} {
		ad, err := Advertise(tt.instance, tt.port, tt.ips, tt.a)
		if err == nil {
			ad.Close()
			t.Errorf("Advertise(%q, %d, %q, %+v) succeeded, want error", tt.instance, tt.port, tt.ips, tt.a)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "on port") {
			t.Errorf("Advertise(%q, %d) error = %v, want one naming instance and port and %q", tt.instance, tt.port, err, tt.want)
		}
	}
}

// syncBuffer collects log output written from Run's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func entry(instance string, txt ...string) *zeroconf.ServiceEntry {
	e := zeroconf.NewServiceEntry(instance, Service, Domain)
	e.HostName = "host.local."
	e.Port = 7
	e.Text = txt
	e.AddrIPv4 = []net.IP{net.ParseIP("127.0.0.1")}
	return e
}

// TestRunDecodes feeds Run entries as zeroconf delivers them, in escaped
// presentation form, including broken ones that must be logged and skipped.
func TestRunDecodes(t *testing.T) {
	entries := []*zeroconf.ServiceEntry{
		entry(`Newsroom\ K2\.A`, "v=1", "id=a", `sys=Caf\195\169\\`, "role=primary"),
		entry("no-version", "id=b"),
		entry("odd-role", "v=1", "id=c", "role=boss"),
		entry(`bad\007name`, "v=1", "id=d"),
	}
	var rounds int
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	b := &Browser{
		Round:  10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return now },
		browse: func(ctx context.Context, ch chan *zeroconf.ServiceEntry) error {
			rounds++
			round := rounds
			go func() {
				defer close(ch)
				for _, e := range entries {
					ch <- e
				}
				if round == 2 {
					cancel()
				}
				// Stands in for the end of the round.
				<-ctx.Done()
			}()
			return nil
		},
	}
	var got []Sighting
	err := b.Run(ctx, func(s Sighting) { got = append(got, s) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d sightings, want 2 a round for 2 rounds: %+v", len(got), got)
	}
	want := Sighting{
		Instance: "Newsroom K2.A", Host: "host.local", Port: 7,
		IPv4:   []net.IP{net.ParseIP("127.0.0.1")},
		Advert: Advert{ID: "a", System: `Café\`, Role: model.RolePrimary},
		Time:   now,
	}
	if s := got[0]; s.Instance != want.Instance || s.Host != want.Host || s.Advert != want.Advert || s.Address() != "127.0.0.1:7" || !s.Time.Equal(now) {
		t.Errorf("sighting = %+v, want %+v", s, want)
	}
	if s := got[1]; s.Instance != "odd-role" || s.Advert.Role != model.RoleUnknown {
		t.Errorf("sighting = %+v, want odd-role with role unknown", s)
	}

	out := logs.String()
	for _, want := range []string{
		`level=WARN msg="ignoring mDNS advert" instance=no-version err="TXT record rejected: no v key"`,
		`level=WARN msg="mDNS advert has problems" instance=odd-role`,
		`level=WARN msg="ignoring mDNS advert" instance="bad\aname"`,
		// The second round repeats the faults, quietly.
		`level=DEBUG msg="ignoring mDNS advert" instance=no-version`,
		`level=DEBUG msg="mDNS advert has problems" instance=odd-role`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s\nlog:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "level=WARN"); n != 3 {
		t.Errorf("%d warnings, want 3, one per broken agent:\n%s", n, out)
	}
}

// TestRunRetries checks the restart loop against a resolver that fails:
// the waits double up to MaxRetry, and cancellation ends Run at once.
func TestRunRetries(t *testing.T) {
	var starts []time.Time
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	b := &Browser{
		Round:    time.Hour,
		MinRetry: 20 * time.Millisecond,
		MaxRetry: 80 * time.Millisecond,
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
		browse: func(ctx context.Context, ch chan *zeroconf.ServiceEntry) error {
			starts = append(starts, time.Now())
			switch {
			case len(starts) <= 5:
				close(ch)
				return errors.New("no multicast interface")
			case len(starts) == 6:
				// zeroconf's Browse giving up quietly: the channel closes
				// long before the round ends.
				close(ch)
				return nil
			default:
				cancel()
				close(ch)
				return nil
			}
		},
	}
	err := b.Run(ctx, func(Sighting) { t.Error("found called without entries") })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if len(starts) != 7 {
		t.Fatalf("%d browses, want 7", len(starts))
	}
	// The waits are read from the log, which says what Run chose: how much
	// longer than that a wait lasted depends on how busy the machine is. A
	// wait never lasts less.
	out := logs.String()
	var waits []string
	for _, l := range strings.Split(out, "\n") {
		if _, after, ok := strings.Cut(l, "retry_in="); ok {
			waits = append(waits, strings.Fields(after)[0])
		}
	}
	if got, want := strings.Join(waits, " "), "20ms 40ms 80ms 80ms 80ms 80ms"; got != want {
		t.Errorf("waits %s, want %s", got, want)
	}
	for i, w := range []time.Duration{20, 40, 80, 80, 80, 80} {
		if gap := starts[i+1].Sub(starts[i]); gap < w*time.Millisecond {
			t.Errorf("wait %d lasted %v, less than %v", i+1, gap, w*time.Millisecond)
		}
	}
	if !strings.Contains(out, "no multicast interface") || !strings.Contains(out, "browse stopped before the round ended") {
		t.Errorf("log lacks the failures:\n%s", out)
	}
}

// TestRoundLengths checks the query schedule of a fresh browser: each round
// starts with a query, and the first ones come 1, 2, 4, 8 and 16 s after
// the start, so answers lost in the first wave are found within seconds.
func TestRoundLengths(t *testing.T) {
	var at time.Duration
	var starts []string
	for i := range 7 {
		starts = append(starts, at.String())
		at += roundLength(i, DefaultRound)
	}
	if got, want := strings.Join(starts, " "), "0s 1s 2s 4s 8s 16s 31s"; got != want {
		t.Errorf("rounds start at %s, want %s", got, want)
	}
	if got := roundLength(0, 10*time.Millisecond); got != 10*time.Millisecond {
		t.Errorf("first round with Round 10ms lasts %v, want 10ms", got)
	}
}

func TestRunStopsDuringBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b := &Browser{
		MinRetry: time.Hour,
		Logger:   slog.New(slog.DiscardHandler),
		browse: func(ctx context.Context, ch chan *zeroconf.ServiceEntry) error {
			close(ch)
			time.AfterFunc(10*time.Millisecond, cancel)
			return errors.New("down")
		},
	}
	start := time.Now()
	if err := b.Run(ctx, func(Sighting) {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	// Against an hour of backoff, a minute tells "stopped at once" from
	// "waited out the backoff" however busy the machine is.
	if d := time.Since(start); d > time.Minute {
		t.Errorf("Run took %v to stop during a one-hour backoff", d)
	}
}

func TestRunNeedsCallback(t *testing.T) {
	if err := new(Browser).Run(context.Background(), nil); err == nil {
		t.Error("Run(ctx, nil) = nil, want an error")
	}
}
