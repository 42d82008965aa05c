package monitor

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigilops/vigil/model"
)

// This file is the judge: the one place that decides a system's verdict.
// The board's cards and header, the tray, desktop notifications, emails,
// `vigil status --json` and `vigil watch` all draw what it decides; none
// of them counts primaries of its own.

// member is one server of a system as the judge weighs it.
type member struct {
	view model.ServerView
	// serving is the last of primary or standby the server was while the
	// console heard it: what it was doing before it was lost, failed or
	// taken out of service. Empty when the console never saw it serve.
	serving model.Role
	// tookOver: the console saw it go from standby to primary;
	// steppedDown: from primary to standby.
	tookOver, steppedDown bool
	// arriving: the console has heard it for less than the grace and
	// never seen it serve: out of service, it is starting, not taken out.
	arriving bool
	// peers names the servers its agent checks (its system's others, as
	// its config declares them).
	peers []string
	// peersDown names live peers that report their link to this server
	// down while the console hears both.
	peersDown []string
	over      []Limit // facts over their limits
	flapping  bool
}

// judgeInput is what the judge needs to know of one system.
type judgeInput struct {
	system, profile string
	members         []member // the watched servers (paired, key unchanged)
	untrusted       []string // paired servers whose key changed: not counted, but named
	// noPrimarySince is when the system was first judged without a
	// primary, zero while it has one; grace is how long that may last
	// before it is critical.
	noPrimarySince time.Time
	grace          time.Duration
	now            time.Time
}

// judgement is a verdict and whether the system has its primaries: the
// detector times the grace from that.
type judgement struct {
	model.SystemVerdict
	hasPrimary bool
}

// judge decides one system's verdict. It is a pure function of its input:
// the detector keeps the memory (when the primary was lost, what each
// server was serving as) and calls it on every change.
func judge(in judgeInput) judgement {
	v := model.SystemVerdict{System: in.system, Profile: in.profile}
	var (
		primaries      []string // live, primary
		vouchedPrimary []string // unreachable, still seen by a peer, primary when last heard
		awaited        []string // unreachable, primary when last heard, its peers' word not in yet
		waiting        []string // not heard since the console started
		lostPrimary    []string // lost, failed or out of service, and primary before that
		takenOver      []string // live primaries that were standby before: who took over
		reasons        []model.Reason
		quietReasons   []model.Reason // worth saying, not a reason to be less than healthy
	)
	add := func(list *[]model.Reason, sev model.Severity, servers []string, facts []string, format string, args ...any) {
		*list = append(*list, model.Reason{Severity: sev, Text: fmt.Sprintf(format, args...), Servers: servers, Facts: facts})
	}
	members := slices.Clone(in.members)
	slices.SortFunc(members, func(a, b member) int { return cmp.Compare(a.view.Name, b.view.Name) })
	live := 0
	for _, m := range members {
		name, role := m.view.Name, m.view.Role
		switch {
		case m.view.Health == model.HealthUnknown || m.view.Health == "":
			waiting = append(waiting, name)
		case m.view.Live():
			live++
			switch role {
			case model.RolePrimary:
				primaries = append(primaries, name)
				if m.tookOver {
					takenOver = append(takenOver, name)
				}
			case model.RoleFailed, model.RoleOutOfService:
				switch {
				case m.serving == model.RolePrimary:
					lostPrimary = append(lostPrimary, name)
					add(&reasons, model.SeverityWarning, []string{name}, nil, "%s is %s (it was primary)", name, role)
				case role == model.RoleOutOfService && m.arriving:
					add(&quietReasons, model.SeverityInfo, []string{name}, nil, "%s is coming into service", name)
				default:
					add(&reasons, model.SeverityWarning, []string{name}, nil, "%s is %s", name, role)
				}
			case model.RoleUnknown:
				add(&reasons, model.SeverityWarning, []string{name}, nil, "%s does not say what role it has", name)
			}
			for _, l := range m.over {
				add(&reasons, model.SeverityWarning, []string{name}, []string{l.Fact}, "%s: %s", name, l.Words())
			}
			if len(m.peersDown) > 0 {
				add(&reasons, model.SeverityWarning, append([]string{name}, m.peersDown...), nil,
					"%s cannot reach %s: peer link lost", strings.Join(m.peersDown, " and "), name)
			}
			if m.flapping {
				add(&reasons, model.SeverityWarning, []string{name}, nil, "%s keeps changing (flapping)", name)
			}
		case m.view.Health == model.HealthUnreachable && len(m.view.AwaitingWord) > 0:
			// Its peers have not spoken yet: neither lost nor seen.
			if role == model.RolePrimary {
				awaited = append(awaited, name)
			}
			add(&reasons, model.SeverityWarning, []string{name}, nil,
				"%s is unreachable from this console; waiting for the word of %s, which the console still hears", name, strings.Join(m.view.AwaitingWord, " and "))
		case m.view.Health == model.HealthUnreachable && len(m.view.SeenBy) > 0:
			if role == model.RolePrimary {
				vouchedPrimary = append(vouchedPrimary, name)
			}
			add(&reasons, model.SeverityWarning, append([]string{name}, m.view.SeenBy...), nil,
				"%s is unreachable from this console, but %s still sees it (it was %s when last heard): the console's own network may be at fault",
				name, strings.Join(m.view.SeenBy, " and "), strings.ToUpper(role.String()))
		default: // down, or unreachable with no peer to say it lives
			was := m.serving
			if role == model.RolePrimary || role == model.RoleFailed {
				was = cmp.Or(was, role)
			}
			what := "down"
			if m.view.Health == model.HealthUnreachable {
				what = "unreachable"
			}
			switch was {
			case model.RolePrimary:
				lostPrimary = append(lostPrimary, name)
				add(&reasons, model.SeverityWarning, []string{name}, nil, "%s is %s (it was primary)", name, what)
			case model.RoleStandby:
				add(&reasons, model.SeverityWarning, []string{name}, nil, "%s is %s (it was standby): nothing can take over from the primary now", name, what)
			default:
				add(&reasons, model.SeverityWarning, []string{name}, nil, "%s is %s (it was %s)", name, what, role)
			}
		}
	}
	// Servers the members' agents name as peers that the console does not
	// watch: the system is larger than what the console can judge.
	known := map[string]bool{}
	for _, m := range members {
		known[m.view.Name] = true
	}
	for _, name := range in.untrusted {
		known[name] = true
	}
	var unwatched []string
	for _, m := range members {
		for _, p := range m.peers {
			if !known[p] {
				known[p] = true
				unwatched = append(unwatched, p)
			}
		}
	}
	slices.Sort(unwatched)
	if len(unwatched) > 0 {
		add(&quietReasons, model.SeverityInfo, unwatched, nil, "%s %s not paired with this console: pair to watch", joinAnd(unwatched), isAre(unwatched))
	}
	for _, name := range in.untrusted {
		add(&reasons, model.SeverityCritical, []string{name}, nil,
			"%s presents another key than the one pinned when it was paired: the console does not trust what it says; pair it again if that is expected", name)
	}
	if len(waiting) > 0 {
		add(&quietReasons, model.SeverityInfo, waiting, nil, "not heard from yet: %s", strings.Join(waiting, ", "))
	}

	expected := 1
	if !model.SinglePrimary(in.profile) {
		// N+1: every server but the one standby records a logical server.
		expected = max(1, len(members)+len(in.untrusted)-1)
	}
	has := len(primaries)
	if has == 0 {
		has = len(vouchedPrimary)
	}
	out := judgement{hasPrimary: has >= expected}
	decide := func(verdict model.Verdict, summary string, rs ...[]model.Reason) judgement {
		out.Verdict, out.Summary = verdict, summary
		for _, r := range rs {
			out.Reasons = append(out.Reasons, r...)
		}
		if out.Reasons == nil {
			out.Reasons = []model.Reason{}
		}
		out.Severity = verdict.Severity()
		for _, r := range out.Reasons {
			if r.Severity.Rank() > out.Severity.Rank() {
				out.Severity = r.Severity
			}
		}
		out.Next = nextProcedure(in, verdict)
		return out
	}
	out.SystemVerdict = v

	switch {
	case model.SinglePrimary(in.profile) && len(primaries) > 1:
		split := []model.Reason{{Severity: model.SeverityCritical, Servers: primaries,
			Text: fmt.Sprintf("%s all claim primary at once: clients may write to each", joinAnd(primaries))}}
		return decide(model.VerdictSplitBrain, fmt.Sprintf("%s claim primary at once", joinAnd(primaries)), split, reasons, quietReasons)

	case len(members) == 0:
		return decide(model.VerdictUnknown, "no server of "+in.system+" can be trusted", reasons)

	case len(waiting) > 0 && has < expected:
		return decide(model.VerdictUnknown, "waiting to hear from "+joinAnd(waiting), reasons, quietReasons)

	case len(awaited) > 0 && has < expected:
		return decide(model.VerdictUnknown, fmt.Sprintf("%s unreachable from this console; waiting for its peers' word", joinAnd(awaited)), reasons, quietReasons)

	case has == 0 && live == 0 && len(in.untrusted) == 0 && allUnreachable(members):
		// Silence from every server, and no refusal: a console cut off
		// from the network sees exactly this, and must not cry failover.
		return decide(model.VerdictUnknown,
			"the console reaches none of "+in.system+"'s servers and no peer reports on them: the console's own network may be at fault", reasons)

	case has < expected && len(unwatched) > 0:
		return decide(model.VerdictUnknown, fmt.Sprintf("no watched server of %s is primary, and %s %s not paired with this console", in.system, joinAnd(unwatched), isAre(unwatched)), reasons, quietReasons)

	case has == 0 && len(in.untrusted) > 0:
		return decide(model.VerdictUnknown, "no trusted server of "+in.system+" is primary", reasons, quietReasons)

	case has < expected && len(lostPrimary) == 0 && !anySteppedDown(members) && within(in):
		// Nothing that was primary was lost: a system coming into service
		// (a Wavestore physical server arbitrating for its logical server)
		// has no primary yet. That is no cause for a warning: past the
		// grace it is no primary all the same, and critical.
		j := decide(model.VerdictUnknown, missing(in.system, has, expected)+"; none was lost: its servers may be coming into service",
			reasons, quietReasons)
		j.Severity = model.SeverityInfo
		for _, r := range j.Reasons {
			if r.Severity.Rank() > j.Severity.Rank() {
				j.Severity = r.Severity
			}
		}
		return j

	case has < expected:
		missing := missing(in.system, has, expected)
		if within(in) {
			return decide(model.VerdictFailingOver, missing+": a failover may be under way", reasons, quietReasons)
		}
		return decide(model.VerdictNoPrimary, missing, reasons, quietReasons)

	case len(primaries) == 0:
		// Only a peer's word says the primary lives: the console cannot
		// see it serve, and must not advise a failover that would make a
		// second primary.
		return decide(model.VerdictUnknown, fmt.Sprintf("%s unreachable from this console, but its peers still see it: do not fail over", joinAnd(vouchedPrimary)), reasons, quietReasons)

	case len(lostPrimary) > 0:
		summary := fmt.Sprintf("%s serving; %s lost", joinAnd(primaries), joinAnd(lostPrimary))
		if len(takenOver) > 0 {
			summary = fmt.Sprintf("%s took over from %s", joinAnd(takenOver), joinAnd(lostPrimary))
		}
		return decide(model.VerdictFailedOver, summary, reasons, quietReasons)

	case len(reasons) > 0:
		return decide(model.VerdictDegraded, reasons[0].Text, reasons, quietReasons)
	}
	return decide(model.VerdictHealthy, joinAnd(primaries)+" primary", quietReasons)
}

// within says whether the system lost its primary less than the grace
// ago.
func within(in judgeInput) bool {
	return !in.noPrimarySince.IsZero() && in.now.Sub(in.noPrimarySince) < in.grace
}

func anySteppedDown(members []member) bool {
	return slices.ContainsFunc(members, func(m member) bool { return m.steppedDown })
}

// missing says how many primaries a system lacks.
func missing(system string, has, expected int) string {
	if expected > 1 {
		return fmt.Sprintf("%d of %d logical servers are recorded", has, expected)
	}
	return "no server of " + system + " is primary"
}

func isAre(names []string) string {
	if len(names) == 1 {
		return "is"
	}
	return "are"
}

func allUnreachable(members []member) bool {
	for _, m := range members {
		if m.view.Health != model.HealthUnreachable {
			return false
		}
	}
	return len(members) > 0
}

// joinAnd names servers as a sentence does: "A", "A and B", "A, B and C".
func joinAnd(names []string) string {
	switch len(names) {
	case 0:
		return "none"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
