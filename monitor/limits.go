package monitor

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// limitSuffix marks a fact that bounds another: a fact X with a numeric
// fact X_limit beside it is over its limit when X exceeds it (a mirror's
// lag, a recovery point's age against the accepted data loss).
const limitSuffix = "_limit"

// DefaultLimits are the thresholds of the lag facts the profiles publish,
// where the agent does not give its own: a Redstor mirror 15 minutes
// behind, a Nintex K2 DR site past the 4 hours of data loss the document
// accepts.
var DefaultLimits = map[string]float64{
	"mirror_lag_seconds":         15 * 60,
	"recovery_point_age_seconds": 4 * 60 * 60,
}

// Limit is one fact weighed against its limit: the agent's own (X_limit
// beside X) or the profile's default.
type Limit struct {
	Fact         string  // the fact's name, e.g. mirror_lag_seconds
	Value, Bound float64 // the fact and its limit
	Over         bool    // the value exceeds the limit
}

// Limits weighs every fact that has a limit, in the order of their names.
// defaults are the limits of facts whose agent gives none; nil means
// DefaultLimits. Facts that are not numbers are left out: an agent's
// fact error says why elsewhere.
func Limits(facts map[string]string, defaults map[string]float64) []Limit {
	if defaults == nil {
		defaults = DefaultLimits
	}
	var out []Limit
	for _, k := range slices.Sorted(maps.Keys(facts)) {
		if strings.HasSuffix(k, limitSuffix) {
			continue
		}
		value, err := strconv.ParseFloat(strings.TrimSpace(facts[k]), 64)
		if err != nil || math.IsNaN(value) {
			continue
		}
		bound, known := defaults[k]
		if text, ok := facts[k+limitSuffix]; ok {
			own, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
			if err != nil || math.IsNaN(own) {
				continue
			}
			bound, known = own, true
		}
		if known {
			out = append(out, Limit{Fact: k, Value: value, Bound: bound, Over: value > bound})
		}
	}
	return out
}

// Over is the subset of limits that are exceeded.
func Over(limits []Limit) []Limit {
	var out []Limit
	for _, l := range limits {
		if l.Over {
			out = append(out, l)
		}
	}
	return out
}

// Words says the limit as an operator reads it: "mirror lag 69 min, limit
// 15 min". A fact whose name ends in _seconds is a duration.
func (l Limit) Words() string {
	name, seconds := strings.CutSuffix(l.Fact, "_seconds")
	name = strings.ReplaceAll(name, "_", " ")
	show := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	if seconds {
		show = func(x float64) string { return Duration(time.Duration(x * float64(time.Second))) }
	}
	return fmt.Sprintf("%s %s, limit %s", name, show(l.Value), show(l.Bound))
}

// Duration writes a length of time as an operator reads it at a glance:
// "40 s", "69 min", "4 h 10 min", "3 days".
func Duration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + Duration(-d)
	case d < 100*time.Second:
		return fmt.Sprintf("%d s", int(d.Round(time.Second)/time.Second))
	case d < 100*time.Minute:
		return fmt.Sprintf("%d min", int(d.Round(time.Minute)/time.Minute))
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	return fmt.Sprintf("%d days", int(d.Round(24*time.Hour)/(24*time.Hour)))
}
