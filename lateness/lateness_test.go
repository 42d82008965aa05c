package lateness

import (
	"testing"
	"time"
)

// Lateness is remembered for Window, the worst of each second, and only
// lateness beyond a timer's noise counts.
func TestMeter(t *testing.T) {
	var l Meter
	at := time.Unix(1_700_000_000, 0)
	l.Ran(at, Noise/2)
	if got := l.Recent(at); got != 0 {
		t.Errorf("after lateness within the noise: recent %v, want 0", got)
	}
	l.Ran(at, 300*time.Millisecond)
	l.Ran(at.Add(2*time.Second), 100*time.Millisecond)
	if got := l.Recent(at.Add(10 * time.Second)); got != 300*time.Millisecond {
		t.Errorf("10 s after running 300ms late: recent %v, want 300ms", got)
	}
	if got := l.Recent(at.Add(Window + time.Second)); got != 100*time.Millisecond {
		t.Errorf("once the 300ms is older than %v: recent %v, want the later 100ms", Window, got)
	}
	if got := l.Recent(at.Add(Window + 3*time.Second)); got != 0 {
		t.Errorf("long after: recent %v, want 0", got)
	}
	// A slot reused a turn of the ring later starts afresh.
	l.Ran(at.Add(Window), 50*time.Millisecond)
	if got := l.Recent(at.Add(Window)); got != 100*time.Millisecond {
		t.Errorf("recent %v, want 100ms", got)
	}
}
