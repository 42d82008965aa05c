package monitor

import (
	"testing"
	"time"
)

// TestRecheckAfter: a silence timer on time calls the server lost; one
// that fired late says the console was not running, and the stream's
// reader gets as long as the console was late, within bounds, before the
// server is called lost.
func TestRecheckAfter(t *testing.T) {
	const allowance = time.Second
	for _, tc := range []struct {
		late  time.Duration
		again time.Duration
		ok    bool
	}{
		{0, 0, false},
		{starvedAfter, 0, false},
		{starvedAfter + time.Millisecond, minRecheck, true},
		{300 * time.Millisecond, 300 * time.Millisecond, true},
		{5 * time.Second, allowance, true},
	} {
		again, ok := recheckAfter(tc.late, allowance)
		if again != tc.again || ok != tc.ok {
			t.Errorf("recheckAfter(%v) = %v, %v; want %v, %v", tc.late, again, ok, tc.again, tc.ok)
		}
	}
}
