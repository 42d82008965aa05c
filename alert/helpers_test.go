package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilops/vigil/alert/alerttest"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/store"
)

// staticSource serves fixed settings, password and roots included.
type staticSource Settings

func (s staticSource) Settings(context.Context) (Settings, error) { return Settings(s), nil }
func (s staticSource) ForSending(_ context.Context, set Settings) (Settings, error) {
	return set, nil
}

// countingSource is a staticSource that counts the sender's rounds: the
// outbox reads its settings once at the start of every sendDue.
type countingSource struct {
	staticSource
	reads atomic.Int64
}

func (c *countingSource) Settings(ctx context.Context) (Settings, error) {
	c.reads.Add(1)
	return c.staticSource.Settings(ctx)
}

// waitRounds waits until the running outbox reading src has gone through n
// whole rounds of its loop that began after the call: whatever those rounds
// would send has been sent by the time it returns. The wait is a barrier
// for "nothing more was sent", where a sleep would only be a guess.
func waitRounds(t *testing.T, src *countingSource, n int) {
	t.Helper()
	// The round under way at the call may have read its settings before
	// the caller's state was reached; the round after the n-th starting
	// proves the n-th has ended.
	want := src.reads.Load() + int64(n) + 1
	waitFor(t, fmt.Sprintf("the sender to go round %d more times", n), func() bool { return src.reads.Load() >= want })
}

// clock is a settable time for tests that must not sleep.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// syncBuffer is a log sink the race detector accepts.
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

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// settingsFor points settings at a test server, trusting its certificate.
func settingsFor(srv *alerttest.Server, mode TLSMode, to ...string) Settings {
	if len(to) == 0 {
		to = []string{"ops@example.com"}
	}
	return Settings{Host: srv.Host, Port: srv.Port, TLS: mode, From: "vigil@example.com", To: to, RootCAs: srv.CertPool}
}

// testOutbox makes an outbox with fast retries and a captured debug log.
func testOutbox(t *testing.T, st *store.Store, src Source) (*Outbox, *syncBuffer) {
	t.Helper()
	logBuf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logBuf, testLog{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	o := New(st, src, log)
	o.MinBackoff, o.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
	o.idle = 200 * time.Millisecond
	o.loc = time.UTC
	// Generous: a handshake on loopback takes milliseconds on a quiet
	// machine and seconds on a loaded one under -race; a timeout would turn
	// into a retry and a duplicate.
	o.client.timeouts = timeouts{Dial: 30 * time.Second, Command: 30 * time.Second, Submission: 30 * time.Second, Attempt: 60 * time.Second}
	return o, logBuf
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// runOutbox runs o until the test ends.
func runOutbox(t *testing.T, o *Outbox) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// mailWait bounds the wait for the test SMTP server to receive messages.
const mailWait = time.Minute

// waitFor polls cond until it holds or fails the test after a minute: long
// enough for a loaded machine under -race, and free when cond holds early.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func status(t *testing.T, o *Outbox) Status {
	t.Helper()
	st, err := o.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// decoded returns a received message's headers and its decoded body.
func decoded(t *testing.T, data []byte) (mail.Header, string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, data)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatalf("body is not quoted-printable: %v", err)
	}
	return msg.Header, string(b)
}

func event(server, system, kind string, sev model.Severity) model.Event {
	return model.Event{Time: time.Date(2026, 3, 1, 13, 2, 11, 0, time.UTC), Server: server, System: system, Kind: kind, Severity: sev}
}
