package ui

import (
	"cmp"
	"fmt"
	"image/color"
	"maps"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/model"
)

var white = color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}

// lookOfRole gives fixed colours rather than theme colours so that a role
// looks the same in light and dark themes. Every fill is dark enough for
// white text to pass WCAG AA (4.5:1), and the word alone tells the roles
// apart for operators who cannot tell the colours apart.
func lookOfRole(r model.Role) tagLook {
	switch normalRole(r) {
	case model.RolePrimary:
		return tagLook{"PRIMARY", color.NRGBA{R: 0x2e, G: 0x7d, B: 0x32, A: 0xff}, white}
	case model.RoleStandby:
		return tagLook{"STANDBY", color.NRGBA{R: 0x15, G: 0x65, B: 0xc0, A: 0xff}, white}
	case model.RoleOutOfService:
		return tagLook{"OUT OF SERVICE", color.NRGBA{R: 0x61, G: 0x61, B: 0x61, A: 0xff}, white}
	case model.RoleFailed:
		return tagLook{"FAILED", color.NRGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}, white}
	default:
		return tagLook{"UNKNOWN", color.NRGBA{R: 0x7a, G: 0x5c, B: 0x00, A: 0xff}, white}
	}
}

// normalRole reads whatever a feed sends: a word the console does not know
// is shown as unknown rather than trusted or hidden.
func normalRole(r model.Role) model.Role {
	known, _ := model.ParseRole(string(r))
	return known
}

// healthLook is how a health state is shown in a server row.
type healthLook struct {
	word       string
	importance widget.Importance
	icon       fyne.Resource
	// loud states are bold on a tinted row, so that they stand out on a
	// long board seen from across the room.
	loud bool
	tint color.NRGBA
}

// lookOfServer is lookOfHealth, except where trust comes first: a server
// whose key changed is shown as that, loudly, whatever its health; an
// unpaired one as not paired, since the console cannot know its health.
func lookOfServer(v model.ServerView) healthLook {
	switch {
	case v.IdentityChanged:
		return healthLook{word: "Identity changed", importance: widget.DangerImportance,
			icon: theme.NewErrorThemedResource(theme.WarningIcon()),
			loud: true, tint: color.NRGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0x38}}
	case !v.Paired && v.Health == model.HealthUnknown:
		return healthLook{word: "Not paired", importance: widget.LowImportance,
			icon: theme.NewDisabledResource(theme.LoginIcon())}
	}
	return lookOfHealth(v.Health)
}

func lookOfHealth(h model.Health) healthLook {
	switch h {
	case model.HealthUp:
		return healthLook{word: "Up", importance: widget.SuccessImportance,
			icon: theme.NewSuccessThemedResource(theme.ConfirmIcon())}
	case model.HealthDegraded:
		return healthLook{word: "Degraded", importance: widget.WarningImportance,
			icon: theme.NewWarningThemedResource(theme.WarningIcon())}
	case model.HealthUnreachable:
		return healthLook{word: "Unreachable", importance: widget.WarningImportance,
			icon: theme.NewWarningThemedResource(theme.ErrorIcon()),
			loud: true, tint: color.NRGBA{R: 0xef, G: 0x6c, B: 0x00, A: 0x38}}
	case model.HealthDown:
		return healthLook{word: "Down", importance: widget.DangerImportance,
			icon: theme.NewErrorThemedResource(theme.CancelIcon()),
			loud: true, tint: color.NRGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0x38}}
	default:
		return healthLook{word: "Unknown", importance: widget.LowImportance,
			icon: theme.NewDisabledResource(theme.QuestionIcon())}
	}
}

// relativeTime is coarse on purpose: an operator wants to know at a glance
// whether something is fresh, not the exact second.
func relativeTime(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 5*time.Second: // also absorbs small clock skew into the future
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
	}
}

// timesLine reads as a sentence; "last seen never" would not. A server that
// is up is streaming right now, so its last sighting is not news: only a
// server that is not up says when it was last seen.
func timesLine(v model.ServerView, now time.Time) string {
	seen := "never seen"
	switch {
	case v.Health == model.HealthUp:
		seen = "live"
	case !v.LastSeen.IsZero():
		seen = "last seen " + relativeTime(v.LastSeen, now)
	}
	if v.LastChange.IsZero() {
		return seen
	}
	return seen + " · changed " + relativeTime(v.LastChange, now)
}

// displayName falls back to the agent id so that a row is never blank and
// the operator still has something to search the logs for.
func displayName(v model.ServerView) string {
	switch {
	case v.Name != "":
		return v.Name
	case v.ID != "":
		return v.ID
	default:
		return "(unnamed)"
	}
}

// unassigned titles the group of servers that name no system.
const unassigned = "Unassigned"

func systemTitle(system string) string {
	switch system {
	case "":
		return unassigned
	case notPaired:
		return "Not paired"
	}
	return system
}

// systemSubtitle lists every site because a production/disaster-recovery
// system spans two.
func systemSubtitle(servers []model.ServerView) string {
	var profile string
	var sites []string
	for _, v := range servers {
		if profile == "" {
			profile = v.Profile
		}
		if v.Site != "" && !slices.Contains(sites, v.Site) {
			sites = append(sites, v.Site)
		}
	}
	slices.Sort(sites)
	parts := slices.DeleteFunc([]string{profile, strings.Join(sites, ", ")}, func(s string) bool { return s == "" })
	return strings.Join(parts, " · ")
}

// compareSystems puts the unassigned group, and after it the servers not
// paired, last: they are not systems, and what an operator looks for
// first is a real one.
func compareSystems(a, b string) int {
	rank := func(s string) int {
		switch s {
		case "":
			return 1
		case notPaired:
			return 2
		}
		return 0
	}
	return cmp.Or(rank(a)-rank(b), cmp.Compare(strings.ToLower(a), strings.ToLower(b)), cmp.Compare(a, b))
}

// roleRank orders a system's servers: the live primary first, where an
// operator's eye goes, then the standbys, then the rest, and last the
// servers the console does not hear (their role is history).
func roleRank(v model.ServerView) int {
	if !v.Live() {
		return 3
	}
	switch normalRole(v.Role) {
	case model.RolePrimary:
		return 0
	case model.RoleStandby:
		return 1
	}
	return 2
}

// compareServers puts primaries first, then orders by name, and breaks
// ties by id so that the order never depends on map iteration or arrival
// order.
func compareServers(a, b model.ServerView) int {
	return cmp.Or(
		roleRank(a)-roleRank(b),
		cmp.Compare(strings.ToLower(displayName(a)), strings.ToLower(displayName(b))),
		cmp.Compare(a.ID, b.ID),
	)
}

// fleetSummary is the header an operator reads first: the size of the
// fleet and what is down, then every system whose verdict is not healthy,
// the most urgent first, and the worst level among them. It counts only
// the servers the console watches; those not paired are counted apart.
func fleetSummary(servers []model.ServerView, verdicts map[string]model.SystemVerdict) (summary string, alarms []string, worst Level) {
	var watched, strangers, down, unreachable int
	systems := map[string]bool{}
	for system := range verdicts {
		systems[system] = true
	}
	for _, v := range servers {
		if !v.Paired {
			strangers++
			continue
		}
		watched++
		if v.System != "" {
			systems[v.System] = true
		}
		switch v.Health {
		case model.HealthDown:
			down++
		case model.HealthUnreachable:
			unreachable++
		}
	}
	parts := []string{plural(len(systems), "system", "systems"), plural(watched, "server", "servers")}
	if down > 0 {
		parts = append(parts, fmt.Sprintf("%d down", down))
	}
	if unreachable > 0 {
		parts = append(parts, fmt.Sprintf("%d unreachable", unreachable))
	}
	if strangers > 0 {
		parts = append(parts, fmt.Sprintf("%d not paired", strangers))
	}
	sorted := slices.SortedFunc(maps.Values(verdicts), byUrgency)
	for _, v := range sorted {
		if v.Verdict == model.VerdictHealthy {
			continue
		}
		alarms = append(alarms, v.System+" "+v.Verdict.Label())
		worst = max(worst, levelOf(v.Severity))
	}
	if len(verdicts) > 0 && len(alarms) == 0 {
		// Said in words: at a glance, a header with nothing after it
		// could also be a console that has not looked yet.
		parts = append(parts, "all healthy")
	}
	return strings.Join(parts, " · "), alarms, worst
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
