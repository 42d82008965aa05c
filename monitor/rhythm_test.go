package monitor

import (
	"context"
	"crypto/tls"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/internal/standin"
)

// TestSuspicionZ: phi 8 is the normal distribution's 10^-8 upper tail,
// about 5.6 spreads past the mean.
func TestSuspicionZ(t *testing.T) {
	tail := 0.5 * math.Erfc(suspicionZ/math.Sqrt2)
	if math.Abs(math.Log10(tail)+SuspicionPhi) > 1e-6 || suspicionZ < 5.5 || suspicionZ > 5.7 {
		t.Errorf("suspicionZ = %v, whose upper tail is %v; want 1e-%d", suspicionZ, tail, SuspicionPhi)
	}
}

// feed gives r n lines, the gaps between them drawn by gap, and returns the
// time of the last.
func feed(r *rhythm, start time.Time, n int, ceiling time.Duration, gap func() time.Duration) time.Time {
	now := start
	for range n {
		r.heard(now, ceiling)
		now = now.Add(gap())
	}
	return now
}

// A stream's allowance is the fixed one until it has shown its rhythm;
// then lines like clockwork (a quiet LAN) are suspected sooner than the
// fixed second, jittery ones (a lossy link, a loaded host) later, and a
// long pause counts only up to the ceiling.
func TestRhythmAllowance(t *testing.T) {
	const fixed, ceiling = time.Second, 5 * time.Second
	start := time.Unix(1_700_000_000, 0)
	every := func(d time.Duration) func() time.Duration { return func() time.Duration { return d } }

	var r rhythm
	feed(&r, start, rhythmLearned, ceiling, every(200*time.Millisecond))
	if r.learned() || r.allowance(fixed, ceiling) != youngFactor*fixed {
		t.Fatalf("after %d gaps: learned %v, allowance %v; want a young stream's %v until %d gaps",
			rhythmLearned-1, r.learned(), r.allowance(fixed, ceiling), youngFactor*fixed, rhythmLearned)
	}
	feed(&r, start.Add(time.Hour), 2, ceiling, every(200*time.Millisecond))
	// The hour's gap between the two feeds counts as the ceiling.
	mean, _ := r.usual()
	if want := (rhythmLearned-1)*200*time.Millisecond + ceiling + 200*time.Millisecond; mean != want/(rhythmLearned+1) {
		t.Errorf("mean gap %v; want %v: a gap longer than the ceiling counts as the ceiling", mean, want/(rhythmLearned+1))
	}

	// A young stream's rhythm may lengthen its allowance (twice the fixed
	// one), never shorten it: a minute of lines is needed for that.
	var young rhythm
	feed(&young, start, rhythmWindow-1, ceiling, every(200*time.Millisecond))
	if a := young.allowance(fixed, ceiling); a != youngFactor*fixed {
		t.Errorf("%d quiet gaps: allowance %v, want a young stream's %v until the window is full", rhythmWindow-2, a, youngFactor*fixed)
	}
	var youngLossy rhythm
	feed(&youngLossy, start, rhythmLearned+1, ceiling, every(1200*time.Millisecond))
	if a := youngLossy.allowance(fixed, ceiling); a != 2400*time.Millisecond {
		t.Errorf("%d gaps of 1.2s: allowance %v, want 2.4s, the rhythm's, longer than a young stream's", rhythmLearned, a)
	}

	var quiet rhythm
	next := feed(&quiet, start, rhythmWindow+50, ceiling, every(200*time.Millisecond))
	a := quiet.allowance(fixed, ceiling)
	if want := 200*time.Millisecond + time.Duration(suspicionZ*float64(minSpread)); a != want.Truncate(time.Nanosecond) && (a-want).Abs() > time.Microsecond {
		t.Errorf("lines every 200ms exactly: allowance %v, want %v (the mean and %.1f times the least spread)", a, want, suspicionZ)
	}
	if a >= 500*time.Millisecond {
		t.Errorf("lines every 200ms exactly: allowance %v; a frozen server must be suspected within 500 ms", a)
	}
	if s := quiet.String(); !strings.Contains(s, "every 200ms ± 46ms, at most 200ms apart") {
		t.Errorf("String() = %q", s)
	}

	// One line sent again after a lost packet (a 400 ms gap) in the last
	// minute: the next silence may be twice as long, and is allowed it.
	next = feed(&quiet, next.Add(200*time.Millisecond), 1, ceiling, every(200*time.Millisecond))
	if a := quiet.allowance(fixed, ceiling); a != 800*time.Millisecond {
		t.Errorf("after one 400ms gap among lines every 200ms: allowance %v, want twice the longest gap, 800ms", a)
	}
	// Once that gap has left the window, the allowance is the quiet one
	// again.
	feed(&quiet, next, rhythmWindow, ceiling, every(200*time.Millisecond))
	if a := quiet.allowance(fixed, ceiling); a >= 500*time.Millisecond {
		t.Errorf("a minute after the long gap: allowance %v, want the quiet one again", a)
	}

	// 200 ms ± 150 ms, and now and then a line 600 ms late, as TCP's
	// retransmission makes on a link that drops packets.
	rnd := rand.New(rand.NewPCG(1, 2))
	var lossy rhythm
	var worst time.Duration
	feed(&lossy, start, rhythmWindow, ceiling, func() time.Duration {
		g := 50*time.Millisecond + time.Duration(rnd.Int64N(int64(300*time.Millisecond)))
		if rnd.IntN(20) == 0 {
			g += 600 * time.Millisecond
		}
		worst = max(worst, g)
		return g
	})
	if la := lossy.allowance(fixed, ceiling); la <= worst || la >= ceiling {
		t.Errorf("a jittery stream's allowance %v: want more than its worst gap %v and less than the ceiling", la, worst)
	}

	var paused rhythm
	feed(&paused, start, rhythmWindow, ceiling, func() time.Duration {
		if rnd.IntN(4) == 0 {
			return time.Minute
		}
		return 200 * time.Millisecond
	})
	if pa := paused.allowance(fixed, ceiling); pa != ceiling {
		t.Errorf("a stream that pauses for minutes: allowance %v, want the ceiling %v", pa, ceiling)
	}
}

// The running sums stay right over many turns of the ring.
func TestRhythmSumsStayRight(t *testing.T) {
	var r rhythm
	now := time.Unix(1_700_000_000, 0)
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 10*rhythmWindow + 7 {
		r.heard(now, time.Hour)
		now = now.Add(time.Duration(rnd.Int64N(int64(time.Second))))
	}
	sum, sumSq := r.sum, r.sumSq
	r.resum()
	if math.Abs(sum-r.sum) > 1e-9 || math.Abs(sumSq-r.sumSq) > 1e-9 {
		t.Errorf("running sums %v, %v; from the ring %v, %v", sum, sumSq, r.sum, r.sumSq)
	}
}

// The monitor's allowance is the rhythm's grown by the console's lag,
// within MinSilence and MaxSilence.
func TestMonitorAllowance(t *testing.T) {
	m := New(nil, tls.Certificate{}, nil)
	now := time.Unix(1_700_000_000, 0)
	var r rhythm
	feed(&r, now.Add(-time.Minute), rhythmWindow, m.maxSilence(), func() time.Duration { return 200 * time.Millisecond })
	base := r.allowance(m.Silence, m.maxSilence())
	if got := m.allowance(&r); got != base {
		t.Errorf("a console on time: allowance %v, want the rhythm's %v", got, base)
	}
	m.lag.ran(now, 700*time.Millisecond)
	if got := m.allowance(&r); got != base+700*time.Millisecond {
		t.Errorf("a console 700ms late lately: allowance %v, want %v", got, base+700*time.Millisecond)
	}
	m.lag.ran(now, time.Minute)
	if got := m.allowance(&r); got != DefaultMaxSilence {
		t.Errorf("a console a minute late: allowance %v, want MaxSilence %v", got, DefaultMaxSilence)
	}
	m.MinSilence = 10 * time.Second
	if got := m.allowance(&r); got != 10*time.Second {
		t.Errorf("MinSilence above MaxSilence: allowance %v, want MinSilence: the floor wins", got)
	}
}

// Allowance reports what a real stream is allowed: twice the fixed
// silence while it is young, then, once it has a minute of lines, its
// rhythm's alone.
func TestAllowanceOfAStream(t *testing.T) {
	f, err := standin.Start(standin.Options{Agents: 1, Heartbeat: 20 * time.Millisecond, Change: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st := pairedWith(t, f)
	m := New(st, tls.Certificate{}, slog.New(slog.DiscardHandler))
	id := f.Agents()[0].ID
	if _, _, ok := m.Allowance(id); ok {
		t.Fatal("an allowance before any line")
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { stop(); <-done }()

	// Heartbeats change nothing a subscriber hears of: look every 10 ms.
	look := time.NewTicker(10 * time.Millisecond)
	defer look.Stop()
	sawYoung := false
	deadline := time.After(2 * time.Minute)
	for {
		allowed, settled, ok := m.Allowance(id)
		if ok && !settled {
			sawYoung = true
			if allowed < youngFactor*m.Silence {
				t.Fatalf("a young stream allowed %v, want at least %v", allowed, youngFactor*m.Silence)
			}
		}
		if settled {
			if !sawYoung || allowed <= 0 || allowed > m.maxSilence() {
				t.Fatalf("settled at %v (seen young: %v)", allowed, sawYoung)
			}
			t.Logf("settled after a minute of lines 20ms apart: allowed %v", allowed)
			return
		}
		select {
		case <-look.C:
		case <-deadline:
			t.Fatalf("not settled within 2 minutes (allowed %v, ok %v)", allowed, ok)
		}
	}
}
