package ui

import (
	"image/color"
	"math"
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/model"
)

var (
	green = color.NRGBA{R: 0x2e, G: 0x7d, B: 0x32, A: 0xff}
	blue  = color.NRGBA{R: 0x15, G: 0x65, B: 0xc0, A: 0xff}
	grey  = color.NRGBA{R: 0x61, G: 0x61, B: 0x61, A: 0xff}
	red   = color.NRGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}
	amber = color.NRGBA{R: 0x7a, G: 0x5c, B: 0x00, A: 0xff}
)

func TestLookOfRole(t *testing.T) {
	tests := []struct {
		role model.Role
		text string
		fill color.NRGBA
	}{
		{model.RolePrimary, "PRIMARY", green},
		{model.RoleStandby, "STANDBY", blue},
		{model.RoleOutOfService, "OUT OF SERVICE", grey},
		{model.RoleFailed, "FAILED", red},
		{model.RoleUnknown, "UNKNOWN", amber},
		{"", "UNKNOWN", amber},
		{"bogus", "UNKNOWN", amber},
		{" Primary ", "PRIMARY", green},
	}
	for _, tt := range tests {
		got := lookOfRole(tt.role)
		if got.word != tt.text || got.fill != tt.fill {
			t.Errorf("lookOfRole(%q) = %q on %v, want %q on %v", tt.role, got.word, got.fill, tt.text, tt.fill)
		}
	}
}

// The badge must stay readable on a dim screen: WCAG AA asks 4.5:1 for
// normal text.
func TestRoleBadgeContrast(t *testing.T) {
	for _, r := range model.Roles {
		look := lookOfRole(r)
		if c := contrast(look.fill, look.ink); c < 4.5 {
			t.Errorf("%s: contrast %.2f:1, want at least 4.5:1", r, c)
		}
	}
}

func TestLookOfHealth(t *testing.T) {
	tests := []struct {
		health     model.Health
		word       string
		importance widget.Importance
		loud       bool
	}{
		{model.HealthUp, "Up", widget.SuccessImportance, false},
		{model.HealthDegraded, "Degraded", widget.WarningImportance, false},
		{model.HealthUnreachable, "Unreachable", widget.WarningImportance, true},
		{model.HealthDown, "Down", widget.DangerImportance, true},
		{model.HealthUnknown, "Unknown", widget.LowImportance, false},
		{"", "Unknown", widget.LowImportance, false},
		{"bogus", "Unknown", widget.LowImportance, false},
	}
	for _, tt := range tests {
		got := lookOfHealth(tt.health)
		if got.word != tt.word || got.importance != tt.importance || got.loud != tt.loud {
			t.Errorf("lookOfHealth(%q) = %q/%v/loud=%v, want %q/%v/loud=%v",
				tt.health, got.word, got.importance, got.loud, tt.word, tt.importance, tt.loud)
		}
		if got.icon == nil {
			t.Errorf("lookOfHealth(%q) has no icon", tt.health)
		}
		if got.loud != (got.tint.A > 0) {
			t.Errorf("lookOfHealth(%q): loud=%v but tint alpha %d", tt.health, got.loud, got.tint.A)
		}
	}
}

func TestRelativeTime(t *testing.T) {
	now := time.Date(2025, 3, 1, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{0, "just now"},
		{-3 * time.Second, "just now"}, // a peer's clock slightly ahead
		{4 * time.Second, "just now"},
		{12 * time.Second, "12s ago"},
		{59 * time.Second, "59s ago"},
		{time.Minute, "1m ago"},
		{3*time.Minute + 59*time.Second, "3m ago"},
		{2 * time.Hour, "2h ago"},
		{23*time.Hour + 59*time.Minute, "23h ago"},
		{50 * time.Hour, "2d ago"},
	}
	for _, tt := range tests {
		if got := relativeTime(now.Add(-tt.ago), now); got != tt.want {
			t.Errorf("relativeTime(now-%v) = %q, want %q", tt.ago, got, tt.want)
		}
	}
	if got := relativeTime(time.Time{}, now); got != "never" {
		t.Errorf("relativeTime(zero) = %q, want never", got)
	}
}

func TestTimesLine(t *testing.T) {
	now := time.Date(2025, 3, 1, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		seen, changed time.Time
		want          string
	}{
		{time.Time{}, time.Time{}, "never seen"},
		{now.Add(-3 * time.Second), time.Time{}, "last seen just now"},
		{now.Add(-30 * time.Second), now.Add(-2 * time.Minute), "last seen 30s ago · changed 2m ago"},
		{time.Time{}, now.Add(-2 * time.Hour), "never seen · changed 2h ago"},
	}
	for _, tt := range tests {
		v := model.ServerView{LastSeen: tt.seen, LastChange: tt.changed}
		if got := timesLine(v, now); got != tt.want {
			t.Errorf("timesLine(seen %v, changed %v) = %q, want %q", tt.seen, tt.changed, got, tt.want)
		}
	}
}

func TestLookOfServerPutsTrustFirst(t *testing.T) {
	for _, tc := range []struct {
		v    model.ServerView
		word string
		loud bool
	}{
		{model.ServerView{Paired: true, Health: model.HealthUp}, "Up", false},
		{model.ServerView{Paired: false, Health: model.HealthUnknown}, "Not paired", false},
		{model.ServerView{Paired: false, Health: model.HealthDown}, "Down", true},
		{model.ServerView{Paired: true, IdentityChanged: true, Health: model.HealthUp}, "Identity changed", true},
	} {
		look := lookOfServer(tc.v)
		if look.word != tc.word || look.loud != tc.loud {
			t.Errorf("lookOfServer(%+v) = %q loud=%v, want %q loud=%v", tc.v, look.word, look.loud, tc.word, tc.loud)
		}
	}
}

func TestDisplayName(t *testing.T) {
	tests := []struct {
		v    model.ServerView
		want string
	}{
		{model.ServerView{ID: "a1", Name: "K2-SAN-A"}, "K2-SAN-A"},
		{model.ServerView{ID: "a1"}, "a1"},
		{model.ServerView{}, "(unnamed)"},
	}
	for _, tt := range tests {
		if got := displayName(tt.v); got != tt.want {
			t.Errorf("displayName(%+v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestSystemSubtitle(t *testing.T) {
	tests := []struct {
		servers []model.ServerView
		want    string
	}{
		{nil, ""},
		{[]model.ServerView{{Profile: "k2san", Site: "Newsroom"}, {Profile: "k2san", Site: "Newsroom"}}, "k2san · Newsroom"},
		{[]model.ServerView{{Profile: "nintex", Site: "Prod"}, {Site: "DR"}}, "nintex · DR, Prod"},
		{[]model.ServerView{{Site: "Prod"}}, "Prod"},
		{[]model.ServerView{{Profile: "redstor"}}, "redstor"},
	}
	for _, tt := range tests {
		if got := systemSubtitle(tt.servers); got != tt.want {
			t.Errorf("systemSubtitle(%+v) = %q, want %q", tt.servers, got, tt.want)
		}
	}
}

func TestCompareSystemsPutsUnassignedAndNotPairedLast(t *testing.T) {
	got := []string{notPaired, "", "redstor", "K2", "alpha", "k2"}
	slices.SortFunc(got, compareSystems)
	want := []string{"alpha", "K2", "k2", "redstor", "", notPaired}
	if !slices.Equal(got, want) {
		t.Errorf("sorted systems = %q, want %q", got, want)
	}
}

func TestCompareServersPutsPrimariesFirst(t *testing.T) {
	up := model.HealthUp
	got := []model.ServerView{
		{ID: "1", Name: "a", Role: model.RoleOutOfService, Health: up}, {ID: "2", Name: "b", Role: model.RoleStandby, Health: up},
		{ID: "3", Name: "c", Role: model.RolePrimary, Health: up}, {ID: "4", Name: "A", Role: model.RoleStandby, Health: model.HealthDegraded},
		{ID: "5", Name: "d", Role: "bogus", Health: up}, {ID: "6", Name: "B", Role: model.RolePrimary, Health: model.HealthDown},
	}
	slices.SortFunc(got, compareServers)
	var names []string
	for _, v := range got {
		names = append(names, v.Name)
	}
	// A primary the console does not hear is history: it comes last.
	if want := []string{"c", "A", "b", "a", "d", "B"}; !slices.Equal(names, want) {
		t.Errorf("sorted servers = %q, want %q", names, want)
	}
}

// The header sums the fleet up and lists every system whose verdict is
// not healthy, from the judge's verdicts alone: it counts no primaries of
// its own.
func TestFleetSummary(t *testing.T) {
	server := func(system string, r model.Role, h model.Health) model.ServerView {
		return model.ServerView{System: system, Role: r, Health: h, Paired: true}
	}
	of := func(vs ...model.SystemVerdict) map[string]model.SystemVerdict {
		m := map[string]model.SystemVerdict{}
		for _, v := range vs {
			m[v.System] = v
		}
		return m
	}
	tests := []struct {
		name     string
		servers  []model.ServerView
		verdicts map[string]model.SystemVerdict
		summary  string
		alarms   []string
		level    Level
	}{
		{"empty", nil, nil, "0 systems · 0 servers", nil, LevelOK},
		{"healthy pair", []model.ServerView{
			server("K2", model.RolePrimary, model.HealthUp),
			server("K2", model.RoleStandby, model.HealthUp),
		}, of(verdict("K2", model.VerdictHealthy, "")), "1 system · 2 servers · all healthy", nil, LevelOK},
		{"down and unreachable", []model.ServerView{
			server("K2", model.RolePrimary, model.HealthUp),
			server("K2", model.RoleFailed, model.HealthDown),
			server("Redstor", model.RolePrimary, model.HealthUnreachable),
		}, of(verdict("K2", model.VerdictDegraded, ""), verdict("Redstor", model.VerdictUnknown, "")),
			"2 systems · 3 servers · 1 down · 1 unreachable", []string{"Redstor UNKNOWN", "K2 DEGRADED"}, LevelWarning},
		{"a failed-over system's down primary is no second primary", []model.ServerView{
			server("k2-san", model.RolePrimary, model.HealthDown),
			server("k2-san", model.RolePrimary, model.HealthUp),
		}, of(verdict("k2-san", model.VerdictFailedOver, "")), "1 system · 2 servers · 1 down", []string{"k2-san FAILED OVER"}, LevelWarning},
		{"critical first", nil, of(verdict("W", model.VerdictFailingOver, ""), verdict("K2", model.VerdictSplitBrain, "")),
			"2 systems · 0 servers", []string{"K2 SPLIT BRAIN", "W FAILING OVER"}, LevelCritical},
		{"servers not paired are counted apart", []model.ServerView{
			server("K2", model.RolePrimary, model.HealthUp),
			{System: "K2", Role: model.RolePrimary, Health: model.HealthUnknown},
			{System: "Other", Role: model.RoleStandby, Health: model.HealthDown},
		}, of(verdict("K2", model.VerdictHealthy, "")), "1 system · 1 server · 2 not paired · all healthy", nil, LevelOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			summary, alarms, level := fleetSummary(tt.servers, tt.verdicts)
			if summary != tt.summary || !slices.Equal(alarms, tt.alarms) || level != tt.level {
				t.Errorf("fleetSummary = %q, %q, %s; want %q, %q, %s", summary, alarms, level, tt.summary, tt.alarms, tt.level)
			}
		})
	}
}

// contrast is the WCAG contrast ratio of two opaque colours.
func contrast(a, b color.Color) float64 {
	la, lb := luminance(a), luminance(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	channel := func(v uint32) float64 {
		s := float64(v) / 0xffff
		if s <= 0.03928 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*channel(r) + 0.7152*channel(g) + 0.0722*channel(b)
}
