package ui

import (
	"fmt"
	"image/color"
	"maps"
	"slices"
	"strconv"
	"strings"

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
			out = append(out, alarm{LevelCritical, fmt.Sprintf("SPLIT BRAIN: %s %s primary", joinNames(primaries), all), true})
		case len(primaries) == 0 && settled:
			out = append(out, alarm{LevelCritical, "NO PRIMARY", true})
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

// worstOfFleet sums the fleet up: critical when any server is down, failed
// or untrusted, or a system has a split brain or no primary; warning when
// a server is unreachable or degraded, a fact lags behind its limit, or a
// server flaps; OK otherwise. statuses gives each server's last full
// status (for lag); flapping names the servers flapping now.
func worstOfFleet(views []model.ServerView, statuses map[string]actions.Status, flapping map[string]bool) fleetState {
	bySystem := map[string][]model.ServerView{}
	for _, v := range views {
		bySystem[v.System] = append(bySystem[v.System], v)
	}
	var all []alarm
	for _, system := range slices.SortedFunc(maps.Keys(bySystem), compareSystems) {
		for _, a := range systemAlarms(system, bySystem[system]) {
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
