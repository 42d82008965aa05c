package ui

import (
	"fmt"
	"image/color"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// This file decides how alarming the fleet is: a system card's alarm line,
// the tray icon's colour. Pure functions over views and statuses, so that
// what an operator is told is table-tested.

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

// alarm is one thing wrong, in the words an operator reads.
type alarm struct {
	level Level
	text  string
	// whole is an alarm of the whole system (split brain, no primary)
	// rather than of some of its servers.
	whole bool
	// noPrimary is the system's no-primary alarm, which a noPrimaryWatch
	// softens while a failover may still be under way.
	noPrimary bool
}

// alarmsText joins alarms, worst first, and returns the worst level.
func alarmsText(alarms []alarm) (string, Level) {
	slices.SortStableFunc(alarms, func(a, b alarm) int { return int(b.level) - int(a.level) })
	worst := LevelOK
	parts := make([]string, len(alarms))
	for i, a := range alarms {
		worst = max(worst, a.level)
		parts[i] = a.text
	}
	return strings.Join(parts, " · "), worst
}

// systemAlarms says what is wrong with one system from its servers' views:
// two primaries where one is expected (split brain), no primary once every
// server has been heard from, servers down, failed, untrusted or
// unreachable. Like the monitor's detector, only a server that is up counts
// as primary: a primary that went down keeps its last role on the board,
// and with its standby promoted that is a failover, not a split brain.
func systemAlarms(system string, servers []model.ServerView) []alarm {
	var primaries, down, failed, changed, unreachable, degraded []string
	settled := len(servers) > 0
	profile := ""
	for _, v := range servers {
		name := displayName(v)
		if profile == "" {
			profile = v.Profile
		}
		if v.Health == model.HealthUnknown || v.Health == "" {
			settled = false
		}
		live := v.Health == model.HealthUp || v.Health == model.HealthDegraded
		if live && normalRole(v.Role) == model.RolePrimary {
			primaries = append(primaries, name)
		}
		switch {
		case v.IdentityChanged:
			changed = append(changed, name)
		case v.Health == model.HealthDown:
			down = append(down, name)
		case v.Health == model.HealthUnreachable:
			unreachable = append(unreachable, name)
		case live && normalRole(v.Role) == model.RoleFailed:
			failed = append(failed, name)
		case v.Health == model.HealthDegraded:
			degraded = append(degraded, name)
		}
	}
	var out []alarm
	add := func(level Level, format string, args ...any) {
		out = append(out, alarm{level: level, text: fmt.Sprintf(format, args...)})
	}
	if system != "" {
		switch {
		case len(primaries) > 1 && model.SinglePrimary(profile):
			slices.Sort(primaries)
			all := "all"
			if len(primaries) == 2 {
				all = "both"
			}
			out = append(out, alarm{level: LevelCritical, text: fmt.Sprintf("SPLIT BRAIN: %s %s primary", joinNames(primaries), all), whole: true})
		case len(primaries) == 0 && settled:
			out = append(out, alarm{level: LevelCritical, text: "NO PRIMARY", whole: true, noPrimary: true})
		}
	}
	for _, g := range []struct {
		names []string
		level Level
		word  string
	}{
		{changed, LevelCritical, "identity changed"},
		{down, LevelCritical, "down"},
		{failed, LevelCritical, "failed"},
		{unreachable, LevelWarning, "unreachable"},
		{degraded, LevelWarning, "degraded"},
	} {
		if len(g.names) == 0 {
			continue
		}
		slices.Sort(g.names)
		add(g.level, "%s %s", joinNames(g.names), g.word)
	}
	return out
}

// noPrimaryWatch remembers since when each system has had no primary, so
// that the board and the tray judge it as the monitor's detector does: a
// failover passes through a moment without a primary, so for a grace
// period the alarm is a warning that says for how long, and only then
// critical. A split brain has no grace. Not safe for concurrent use.
type noPrimaryWatch struct {
	grace   time.Duration
	systems map[string]*noPrimarySince
}

type noPrimarySince struct {
	since  time.Time // when the system was first judged without a primary
	graced bool      // its alarm was last judged a warning, within the grace
}

// newNoPrimaryWatch returns a watch with the given grace; the console
// uses the detector's, monitor.DefaultNoPrimaryGrace.
func newNoPrimaryWatch(grace time.Duration) *noPrimaryWatch {
	return &noPrimaryWatch{grace: grace, systems: map[string]*noPrimarySince{}}
}

// judge returns system's alarms as they stand at now: its no-primary
// alarm, if it has one, is a warning while the grace runs and critical
// after it. It notes when the system lost its primary, and forgets that
// once the system has one again.
func (w *noPrimaryWatch) judge(system string, alarms []alarm, now time.Time) []alarm {
	i := slices.IndexFunc(alarms, func(a alarm) bool { return a.noPrimary })
	if i < 0 {
		delete(w.systems, system)
		return alarms
	}
	s := w.systems[system]
	if s == nil {
		s = &noPrimarySince{since: now}
		w.systems[system] = s
	}
	d := max(now.Sub(s.since), 0)
	s.graced = d < w.grace
	if s.graced {
		alarms[i].level = LevelWarning
		alarms[i].text = fmt.Sprintf("NO PRIMARY for %d s — a failover may be under way", int(d/time.Second))
	}
	return alarms
}

// graced reports whether system's no-primary alarm was last judged within
// its grace: judged again later, it reads another time, and may turn
// critical, with no news from the servers.
func (w *noPrimaryWatch) graced(system string) bool {
	s := w.systems[system]
	return s != nil && s.graced
}

// forget drops what the watch knows of system, which has gone.
func (w *noPrimaryWatch) forget(system string) {
	delete(w.systems, system)
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

// lagFact is a fact X shown against its limit X_limit.
type lagFact struct {
	value, limit string
	over         bool
}

// lagFacts finds the facts that have a numeric limit beside them, as the
// monitor's detector does: a fact X with a fact X_limit lags when X
// exceeds it.
func lagFacts(facts map[string]string) map[string]lagFact {
	out := map[string]lagFact{}
	for name, limitText := range facts {
		base, ok := strings.CutSuffix(name, "_limit")
		if !ok || base == "" {
			continue
		}
		valueText, ok := facts[base]
		if !ok {
			continue
		}
		value, err1 := strconv.ParseFloat(strings.TrimSpace(valueText), 64)
		limit, err2 := strconv.ParseFloat(strings.TrimSpace(limitText), 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out[base] = lagFact{value: valueText, limit: limitText, over: value > limit}
	}
	return out
}

// lagLine is a lag fact as the pane shows it: "1250 of 900 (over the
// limit)".
func lagLine(f lagFact) string {
	s := strings.TrimSpace(f.value) + " of " + strings.TrimSpace(f.limit)
	if f.over {
		s += " (over the limit)"
	}
	return s
}

// fleetState is the worst of what is wrong anywhere, for the tray: which
// level, and the words for the worst things.
type fleetState struct {
	level   Level
	reasons []string // the alarms at that level, for the tray's menu
}

// worstOfFleet sums the fleet up at now: critical when any server is down,
// failed or untrusted, or a system has a split brain or has had no primary
// past watch's grace; warning when a system has had no primary for less, a
// server is unreachable or degraded, a fact lags behind its limit, or a
// server flaps; OK otherwise. statuses gives each server's last full
// status (for lag); flapping names the servers flapping now.
func worstOfFleet(views []model.ServerView, statuses map[string]actions.Status, flapping map[string]bool,
	watch *noPrimaryWatch, now time.Time) fleetState {
	bySystem := map[string][]model.ServerView{}
	for _, v := range views {
		bySystem[v.System] = append(bySystem[v.System], v)
	}
	for system := range watch.systems {
		if _, ok := bySystem[system]; !ok {
			watch.forget(system)
		}
	}
	var all []alarm
	for _, system := range slices.SortedFunc(maps.Keys(bySystem), compareSystems) {
		for _, a := range watch.judge(system, systemAlarms(system, bySystem[system]), now) {
			if a.whole {
				a.text = system + ": " + a.text
			}
			all = append(all, a)
		}
	}
	names := map[string]string{}
	for _, v := range views {
		names[v.ID] = displayName(v)
	}
	for _, id := range slices.Sorted(maps.Keys(statuses)) {
		lags := lagFacts(statuses[id].Facts)
		for _, fact := range slices.Sorted(maps.Keys(lags)) {
			if lags[fact].over {
				name := names[id]
				if name == "" {
					name = dash(statuses[id].Name)
				}
				all = append(all, alarm{level: LevelWarning, text: fmt.Sprintf("%s: %s %s", name, fact, lagLine(lags[fact]))})
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(flapping)) {
		if flapping[name] {
			all = append(all, alarm{level: LevelWarning, text: name + " flapping"})
		}
	}
	st := fleetState{}
	for _, a := range all {
		switch {
		case a.level > st.level:
			st = fleetState{level: a.level, reasons: []string{a.text}}
		case a.level == st.level && a.level > LevelOK:
			st.reasons = append(st.reasons, a.text)
		}
	}
	return st
}
