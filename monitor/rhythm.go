package monitor

import (
	"fmt"
	"math"
	"time"
)

// How a watch stream's silence becomes suspicion.
//
// A fixed allowance is wrong twice over: on a quiet LAN, where an agent's
// lines come like clockwork, it waits longer than it needs before it
// suspects a server; on a lossy link or a loaded machine, where lines come
// late now and then, it raises alarms over servers that are fine. So the
// console learns each stream's rhythm, the gaps between its recent lines,
// and suspects the server once the silence has grown as unlikely under that
// rhythm as SuspicionPhi says: the phi accrual failure detector
// (Hayashibara et al., 2004), with the gaps taken as normally distributed.
// Gaps are not normal where a link loses packets: TCP sends a lost line
// again after a probe or a timeout, 200 ms and more, and a second loss
// doubles that, so the tail is longer than a bell's. The allowance is
// therefore also at least tailFactor times the longest gap of the window:
// a link that paused for 400 ms in the last minute may pause for 800.
// Until its window is full (a minute of lines) a stream is young: its
// allowance is at least youngFactor times the fixed one (Silence), and its
// rhythm may lengthen that but not shorten it. A few dozen gaps cannot
// show a tail of one in a few hundred, and a stream is youngest when its
// host or the console is busiest, as either starts.
const (
	// SuspicionPhi: a silence is suspect once a gap as long would come by
	// chance less than once in 10^SuspicionPhi gaps of the learned rhythm.
	SuspicionPhi = 8
	// rhythmWindow is how many recent gaps make the rhythm: a minute of
	// heartbeats and more, so one late line does not set it.
	rhythmWindow = 300
	// rhythmLearned is how many gaps a rhythm needs before it may lengthen
	// the fixed allowance; it may shorten it once it has rhythmWindow.
	rhythmLearned = 20
	// minSpread is the least spread assumed of the gaps: a LAN's lines come
	// so regularly that their measured spread is a few milliseconds, and a
	// scheduler's hiccup, or one lost packet sent again 200 ms later, is
	// not a lost server. With it a stream of lines 200 ms apart is
	// suspected after about 460 ms of silence.
	minSpread = 46 * time.Millisecond
	// tailFactor times the longest recent gap is the least allowance.
	tailFactor = 2
	// youngFactor times the fixed allowance is a young stream's least.
	youngFactor = 2
)

// suspicionZ is how many spreads past the mean gap a silence is suspect:
// where the normal distribution's upper tail holds 10^-SuspicionPhi.
var suspicionZ = math.Sqrt2 * math.Erfcinv(2*math.Pow(10, -SuspicionPhi))

// rhythm is the recent gaps between one stream's lines. It is not safe
// for concurrent use; the stream's watcher holds it under its lock.
type rhythm struct {
	gaps       [rhythmWindow]float64 // seconds, a ring
	n, next    int
	sum, sumSq float64 // of the gaps in the ring
	longest    float64 // of the gaps in the ring
	last       time.Time
}

// heard records a line at now. A gap longer than ceiling counts as
// ceiling: a server frozen for an hour and thawed says its link pauses,
// not that it should be given an hour next time.
func (r *rhythm) heard(now time.Time, ceiling time.Duration) {
	if !r.last.IsZero() {
		gap := min(now.Sub(r.last), ceiling).Seconds()
		evicted := 0.0
		if r.n == rhythmWindow {
			evicted = r.gaps[r.next]
			r.sum -= evicted
			r.sumSq -= evicted * evicted
		} else {
			r.n++
		}
		r.gaps[r.next] = gap
		r.sum += gap
		r.sumSq += gap * gap
		r.longest = max(r.longest, gap)
		r.next = (r.next + 1) % rhythmWindow
		if r.next == 0 || evicted == r.longest && gap < evicted {
			// Running sums drift, and the longest gap may have left:
			// count again, at each full turn and when that happens.
			r.resum()
		}
	}
	r.last = now
}

func (r *rhythm) resum() {
	r.sum, r.sumSq, r.longest = 0, 0, 0
	for _, g := range r.gaps[:r.n] {
		r.sum += g
		r.sumSq += g * g
		r.longest = max(r.longest, g)
	}
}

// learned says whether the stream has shown its rhythm.
func (r *rhythm) learned() bool { return r.n >= rhythmLearned }

// settled says whether the stream has a full window of gaps: its rhythm
// alone then sets its allowance.
func (r *rhythm) settled() bool { return r.n == rhythmWindow }

// usual is the mean gap and its spread (the standard deviation, at least
// minSpread).
func (r *rhythm) usual() (mean, spread time.Duration) {
	if r.n == 0 {
		return 0, minSpread
	}
	m := r.sum / float64(r.n)
	v := max(r.sumSq/float64(r.n)-m*m, 0)
	return seconds(m), max(seconds(math.Sqrt(v)), minSpread)
}

// allowance is how long the stream may now stay silent before its server
// is suspected: while the stream is young, youngFactor times fixed or the
// rhythm's if longer (once learned); then the rhythm's; at most ceiling.
func (r *rhythm) allowance(fixed, ceiling time.Duration) time.Duration {
	young := youngFactor * fixed
	if !r.learned() {
		return min(young, ceiling)
	}
	mean, spread := r.usual()
	a := max(mean+time.Duration(suspicionZ*float64(spread)), time.Duration(tailFactor*r.longest*float64(time.Second)))
	if !r.settled() {
		a = max(a, young)
	}
	return min(a, ceiling)
}

// String says the rhythm in an operator's words, for the detail of a
// suspicion.
func (r *rhythm) String() string {
	if !r.learned() {
		return "before its rhythm was learned"
	}
	mean, spread := r.usual()
	return fmt.Sprintf("its lines come every %v ± %v, at most %v apart lately", mean.Round(time.Millisecond),
		spread.Round(time.Millisecond), seconds(r.longest).Round(time.Millisecond))
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
