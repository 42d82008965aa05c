package ui

import (
	"cmp"
	"fmt"
	"image/color"
	"slices"
	"strings"
	"time"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/monitor"
)

// This file turns the judge's verdicts into what the board's cards and
// header and the tray show. The views decide nothing of their own: how
// alarming a system is comes from its verdict's severity.

// Level is how alarming something is, mildest first.
type Level int

// Levels.
const (
	LevelOK Level = iota
	LevelWarning
	LevelCritical
)

func (l Level) String() string {
	switch l {
	case LevelWarning:
		return "warning"
	case LevelCritical:
		return "critical"
	}
	return "ok"
}

// levelOf is a severity as an alarm level.
func levelOf(s model.Severity) Level {
	switch s {
	case model.SeverityCritical:
		return LevelCritical
	case model.SeverityWarning:
		return LevelWarning
	}
	return LevelOK
}

// Colours of the levels, fixed like the role badges' so that they read the
// same in light and dark themes.
var (
	criticalRed  = color.NRGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}
	warningAmber = color.NRGBA{R: 0xff, G: 0xa0, B: 0x00, A: 0xff}
	okGreen      = color.NRGBA{R: 0x2e, G: 0x7d, B: 0x32, A: 0xff}
)

// Colour is the level's colour: red, amber or green.
func (l Level) Colour() color.NRGBA {
	switch l {
	case LevelCritical:
		return criticalRed
	case LevelWarning:
		return warningAmber
	}
	return okGreen
}

// verdictHeadline is a verdict as a card's alarm line and the tray say it:
// "FAILED OVER — K2server2 took over from K2server1". A failover under way
// says for how long, as of now.
func verdictHeadline(v model.SystemVerdict, now time.Time) string {
	label := v.Verdict.Label()
	if v.Verdict == model.VerdictFailingOver && !v.Since.IsZero() {
		label += " for " + monitor.Duration(max(now.Sub(v.Since), 0))
	}
	if v.Summary == "" {
		return label
	}
	return label + " — " + v.Summary
}

// verdictReasons are a verdict's reasons that its summary does not say
// already, joined for a card.
func verdictReasons(v model.SystemVerdict) string {
	var parts []string
	for _, r := range v.Reasons {
		if r.Text != v.Summary && !strings.Contains(v.Summary, r.Text) {
			parts = append(parts, r.Text)
		}
	}
	return strings.Join(parts, " · ")
}

// byUrgency orders verdicts most urgent first, then by system name.
func byUrgency(a, b model.SystemVerdict) int {
	return cmp.Or(a.Verdict.Urgency()-b.Verdict.Urgency(), compareSystems(a.System, b.System))
}

// fleetState is the worst of the verdicts, for the tray: which level, and
// the words for the systems at that level.
type fleetState struct {
	level   Level
	reasons []string
}

// worstOfFleet sums the verdicts up as of now: the level of the worst, and
// a line for each system at that level, the most urgent first.
func worstOfFleet(verdicts map[string]model.SystemVerdict, now time.Time) fleetState {
	sorted := make([]model.SystemVerdict, 0, len(verdicts))
	for _, v := range verdicts {
		sorted = append(sorted, v)
	}
	slices.SortFunc(sorted, byUrgency)
	st := fleetState{}
	for _, v := range sorted {
		l := levelOf(v.Severity)
		line := fmt.Sprintf("%s: %s", v.System, verdictHeadline(v, now))
		switch {
		case l > st.level:
			st = fleetState{level: l, reasons: []string{line}}
		case l == st.level && l > LevelOK:
			st.reasons = append(st.reasons, line)
		}
	}
	return st
}

// joinNames names up to three servers and counts the rest.
func joinNames(names []string) string {
	const most = 3
	if len(names) > most {
		return strings.Join(names[:most], ", ") + fmt.Sprintf(" and %d more", len(names)-most)
	}
	if len(names) > 1 {
		return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	}
	return strings.Join(names, "")
}
