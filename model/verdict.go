package model

import (
	"fmt"
	"slices"
	"time"
)

// Verdict is what the console concludes about a whole system: one word,
// decided in one place (the monitor's judge) and drawn by every view.
type Verdict string

// The verdicts, in the operator's words.
const (
	// VerdictHealthy: the primaries a system should have are up, and
	// nothing else is wrong.
	VerdictHealthy Verdict = "healthy"
	// VerdictDegraded: the system serves, but with less in reserve: a
	// standby down, a fact over its limit, a peer link lost.
	VerdictDegraded Verdict = "degraded"
	// VerdictFailingOver: no primary, for less than the takeover grace: a
	// failover may be under way.
	VerdictFailingOver Verdict = "failing-over"
	// VerdictFailedOver: a new primary serves and the old one is lost: the
	// system runs on its standby, and the vendor's recovery is the next step.
	VerdictFailedOver Verdict = "failed-over"
	// VerdictNoPrimary: no primary past the grace.
	VerdictNoPrimary Verdict = "no-primary"
	// VerdictSplitBrain: two servers the console hears claim primary where
	// one is expected.
	VerdictSplitBrain Verdict = "split-brain"
	// VerdictUnknown: the console cannot tell, and says why.
	VerdictUnknown Verdict = "unknown"
)

// Verdicts lists every verdict, from the most to the least urgent.
var Verdicts = []Verdict{VerdictSplitBrain, VerdictNoPrimary, VerdictFailingOver, VerdictFailedOver,
	VerdictUnknown, VerdictDegraded, VerdictHealthy}

// Severity is how urgent the verdict is: critical for a split brain and
// for no primary past the grace, warning for what needs a look, info for
// a healthy system.
func (v Verdict) Severity() Severity {
	switch v {
	case VerdictSplitBrain, VerdictNoPrimary:
		return SeverityCritical
	case VerdictHealthy:
		return SeverityInfo
	}
	return SeverityWarning
}

// Urgency orders verdicts for display: 0 is the most urgent.
func (v Verdict) Urgency() int {
	if i := slices.Index(Verdicts, v); i >= 0 {
		return i
	}
	return len(Verdicts)
}

// Label is the verdict as a card or a subject line writes it: "FAILED OVER".
func (v Verdict) Label() string {
	switch v {
	case VerdictHealthy:
		return "HEALTHY"
	case VerdictDegraded:
		return "DEGRADED"
	case VerdictFailingOver:
		return "FAILING OVER"
	case VerdictFailedOver:
		return "FAILED OVER"
	case VerdictNoPrimary:
		return "NO PRIMARY"
	case VerdictSplitBrain:
		return "SPLIT BRAIN"
	}
	return "UNKNOWN"
}

func (v Verdict) String() string {
	if v == "" {
		return string(VerdictUnknown)
	}
	return string(v)
}

// ParseVerdict reads a verdict word; anything else is an error that quotes
// it.
func ParseVerdict(s string) (Verdict, error) {
	if slices.Contains(Verdicts, Verdict(s)) {
		return Verdict(s), nil
	}
	return VerdictUnknown, fmt.Errorf("verdict %q is not one of healthy, degraded, failing-over, failed-over, no-primary, split-brain, unknown", truncate(s, 40))
}

// Reason is one thing behind a verdict, in words, with the servers and
// facts it is about.
type Reason struct {
	Severity Severity `json:"severity"`
	Text     string   `json:"text"`
	Servers  []string `json:"servers,omitempty"`
	Facts    []string `json:"facts,omitempty"`
}

// SystemVerdict is the judge's verdict on one system, as the board, the
// tray, the emails, `vigil status --json` and `vigil watch` show it.
type SystemVerdict struct {
	System   string   `json:"system"`
	Profile  string   `json:"profile"`
	Verdict  Verdict  `json:"verdict"`
	Severity Severity `json:"severity"`
	// Since is when the system came to this verdict.
	Since time.Time `json:"since"`
	// Summary says it in one line: "K2server2 took over from K2server1,
	// which is down".
	Summary string   `json:"summary"`
	Reasons []Reason `json:"reasons"`
	// Next is the id of the vendor procedure that fits, or empty.
	Next string `json:"next"`
}

// Same reports whether v and w say the same: the same verdict for the
// same reasons and advice, whenever each was reached.
func (v SystemVerdict) Same(w SystemVerdict) bool {
	return v.System == w.System && v.Profile == w.Profile && v.Verdict == w.Verdict && v.Severity == w.Severity &&
		v.Summary == w.Summary && v.Next == w.Next && slices.EqualFunc(v.Reasons, w.Reasons, func(a, b Reason) bool {
		return a.Severity == b.Severity && a.Text == b.Text && slices.Equal(a.Servers, b.Servers) && slices.Equal(a.Facts, b.Facts)
	})
}
