package monitor

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// DetectorConfig tunes what becomes an event.
type DetectorConfig struct {
	// FlapCount transitions of one server within FlapWindow make it
	// flapping: one flapping event instead of a storm. It is stable again
	// after a whole FlapWindow without a transition.
	FlapCount  int
	FlapWindow time.Duration
	// NoPrimaryGrace is how long a system may have no primary before it is
	// an event: a failover leaves a system without one for a moment.
	NoPrimaryGrace time.Duration
	// Limits bound facts whose agents publish no X_limit beside them, by
	// fact name; nil means DefaultLimits.
	Limits map[string]float64
}

// Defaults of DetectorConfig.
const (
	DefaultFlapCount      = 5
	DefaultFlapWindow     = 2 * time.Minute
	DefaultNoPrimaryGrace = 15 * time.Second
)

// Detector turns changes of what the console sees into events. It keeps
// the state it needs (each server's last view, services, facts and
// transitions; each system's alarms) and is not safe for concurrent use:
// the monitor calls it under its lock.
type Detector struct {
	cfg     DetectorConfig
	servers map[string]*detected
	// bySystem holds the ids of each system's servers, sorted: a change
	// of one server is judged over its system, not over the fleet.
	bySystem map[string][]string
	systems  map[string]*systemState
	changed  map[string]bool // systems whose verdict changed since Changed was last called
	// judgements counts the systems judged, for tests.
	judgements int
}

type detected struct {
	view        model.ServerView
	status      *actions.Status // the last full status; nil until one came
	serving     model.Role      // the last of primary or standby it was while live
	servedAs    model.Role      // what it served as before serving last changed
	liveSince   time.Time       // since when the detector has seen it live this time
	services    map[string]string
	lagging     map[string]bool // facts over their limit
	judged      string          // what the judge read of status (judgedOf)
	transitions []time.Time
	flapping    bool
}

// systemState is what the detector remembers of a system between
// judgements.
type systemState struct {
	verdict model.SystemVerdict // the last judged; zero before the first
	// settled: the system has been judged something other than unknown,
	// so a verdict reached now is news (before, it is the console finding
	// out what it did not know).
	settled        bool
	noPrimarySince time.Time // zero while it has its primaries
}

// NewDetector returns a detector with cfg, defaults filling zero fields.
func NewDetector(cfg DetectorConfig) *Detector {
	if cfg.FlapCount <= 0 {
		cfg.FlapCount = DefaultFlapCount
	}
	if cfg.FlapWindow <= 0 {
		cfg.FlapWindow = DefaultFlapWindow
	}
	if cfg.NoPrimaryGrace <= 0 {
		cfg.NoPrimaryGrace = DefaultNoPrimaryGrace
	}
	if cfg.Limits == nil {
		cfg.Limits = DefaultLimits
	}
	return &Detector{cfg: cfg, servers: map[string]*detected{}, bySystem: map[string][]string{},
		systems: map[string]*systemState{}, changed: map[string]bool{}}
}

func (d *Detector) server(id string) *detected {
	s := d.servers[id]
	if s == nil {
		s = &detected{}
		d.servers[id] = s
	}
	return s
}

// setView gives s (the server id) its new view, keeping bySystem.
func (d *Detector) setView(s *detected, id string, v model.ServerView) {
	if s.view.ID == "" || s.view.System != v.System {
		if s.view.ID != "" {
			ids := d.bySystem[s.view.System]
			if i, ok := slices.BinarySearch(ids, id); ok {
				ids = slices.Delete(ids, i, i+1)
			}
			if len(ids) == 0 {
				delete(d.bySystem, s.view.System)
			} else {
				d.bySystem[s.view.System] = ids
			}
		}
		ids := d.bySystem[v.System]
		if i, ok := slices.BinarySearch(ids, id); !ok {
			d.bySystem[v.System] = slices.Insert(ids, i, id)
		}
	}
	s.view = v
}

// members are the servers of system, in the order of their ids.
func (d *Detector) members(system string) []*detected {
	ids := d.bySystem[system]
	out := make([]*detected, len(ids))
	for i, id := range ids {
		out[i] = d.servers[id]
	}
	return out
}

// View takes a server's new view and returns the events it makes: health
// and role transitions, identity changes, flapping, and the alarms of its
// system.
func (d *Detector) View(v model.ServerView, now time.Time) []model.Event {
	s := d.server(v.ID)
	old := s.view
	d.setView(s, v.ID, v)
	var evs []model.Event
	ev := func(kind string, sev model.Severity, from, to, detail string) {
		evs = append(evs, model.Event{Time: now, System: v.System, Server: v.Name, AgentID: v.ID,
			Kind: kind, Severity: sev, From: from, To: to, Detail: detail})
	}
	if v.IdentityChanged && !old.IdentityChanged {
		ev(model.EventIdentityChanged, model.SeverityCritical, "", "", "the server presents another key than the one pinned when it was paired; Vigil will not act on it until it is paired again")
	}
	if v.Conflict != "" && v.Conflict != old.Conflict {
		ev(model.EventConflict, model.SeverityWarning, "", "", v.Conflict+"; Vigil keeps watching the server it paired, at "+orUnknown(v.Address))
	}

	transition := false
	if old.ID != "" && old.Health != v.Health && v.Health != model.HealthUnknown {
		switch {
		case v.Health == model.HealthDown:
			transition = true
			ev(model.EventDown, model.SeverityCritical, string(old.Health), string(v.Health), v.Detail)
		case v.Health == model.HealthUnreachable:
			transition = true
			ev(model.EventUnreachable, model.SeverityWarning, string(old.Health), string(v.Health), v.Detail)
		case v.Live() && (old.Health == model.HealthDown || old.Health == model.HealthUnreachable):
			transition = true
			detail, sev := "heard from again", model.SeverityInfo
			if old.Role != v.Role && old.Role != model.RoleUnknown && v.Role != model.RoleUnknown {
				detail += fmt.Sprintf("; now %s (it was %s when last heard)", v.Role, old.Role)
			}
			if v.Role == model.RoleFailed {
				sev = model.SeverityWarning // back, but not to work
			}
			ev(model.EventUp, sev, string(old.Health), string(v.Health), detail)
		}
	}
	// A role is news only while the console hears the server before and
	// after: a down server's last role is history, and the first status
	// after (re)connecting tells what the server is, not a change the
	// console saw happen (the up event says what changed meanwhile).
	if old.ID != "" && old.Role != v.Role && old.Live() && v.Live() &&
		old.Role != model.RoleUnknown && v.Role != model.RoleUnknown {
		transition = true
		// A failover or a server taken out of service is a warning, a
		// failed one critical; one coming into service (as a server's
		// vendor service starts) is news, not trouble.
		sev := model.SeverityWarning
		switch {
		case v.Role == model.RoleFailed:
			sev = model.SeverityCritical
		case old.Role == model.RoleOutOfService && (v.Role == model.RolePrimary || v.Role == model.RoleStandby):
			sev = model.SeverityInfo
		}
		ev(model.EventRole, sev, string(old.Role), string(v.Role), roleDetail(old, v))
	}
	if v.Live() && (!old.Live() || s.liveSince.IsZero()) {
		s.liveSince = now
	}
	if v.Live() && (v.Role == model.RolePrimary || v.Role == model.RoleStandby) && v.Role != s.serving {
		s.servedAs, s.serving = s.serving, v.Role
	}

	if transition {
		evs = d.flap(s, v, now, evs)
	}
	if old.System != "" && old.System != v.System {
		evs = append(evs, d.judgeSystem(old.System, now)...)
	}
	return append(evs, d.judgeSystem(v.System, now)...)
}

func roleDetail(old, v model.ServerView) string {
	if old.VendorRole != "" && v.VendorRole != "" && old.VendorRole != v.VendorRole {
		return fmt.Sprintf("%s is now %s (was %s)", v.Name, v.VendorRole, old.VendorRole)
	}
	return fmt.Sprintf("%s is now %s (was %s)", v.Name, v.Role, old.Role)
}

// flap counts a transition; once a server flaps, its transitions are one
// flapping event until it is stable again.
func (d *Detector) flap(s *detected, v model.ServerView, now time.Time, evs []model.Event) []model.Event {
	cut := now.Add(-d.cfg.FlapWindow)
	s.transitions = slices.DeleteFunc(append(s.transitions, now), func(t time.Time) bool { return t.Before(cut) })
	if s.flapping {
		return slices.DeleteFunc(evs, func(e model.Event) bool { return e.Kind != model.EventIdentityChanged })
	}
	if len(s.transitions) > d.cfg.FlapCount {
		s.flapping = true
		return append(slices.DeleteFunc(evs, func(e model.Event) bool { return e.Kind != model.EventIdentityChanged }),
			model.Event{Time: now, System: v.System, Server: v.Name, AgentID: v.ID, Kind: model.EventFlapping,
				Severity: model.SeverityWarning, To: "flapping",
				Detail: fmt.Sprintf("%d changes within %v; now %s, %s; further changes are not reported one by one until it is stable for %v",
					len(s.transitions), d.cfg.FlapWindow, v.Health, v.Role, d.cfg.FlapWindow)})
	}
	return evs
}

// Tick ends flapping for servers stable for a whole window and raises
// alarms that waited for a grace period. The monitor calls it now and then.
func (d *Detector) Tick(now time.Time) []model.Event {
	var evs []model.Event
	ids := make([]string, 0, len(d.servers))
	for id := range d.servers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	systems := map[string]string{}
	for _, id := range ids {
		s := d.servers[id]
		systems[s.view.System] = s.view.Profile
		if s.flapping && (len(s.transitions) == 0 || now.Sub(s.transitions[len(s.transitions)-1]) >= d.cfg.FlapWindow) {
			s.flapping, s.transitions = false, nil
			evs = append(evs, model.Event{Time: now, System: s.view.System, Server: s.view.Name, AgentID: s.view.ID,
				Kind: model.EventFlapping, Severity: model.SeverityInfo, From: "flapping", To: "stable",
				Detail: fmt.Sprintf("no change for %v; now %s, %s", d.cfg.FlapWindow, s.view.Health, s.view.Role)})
		}
	}
	names := make([]string, 0, len(systems))
	for n := range systems {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		evs = append(evs, d.judgeSystem(n, now)...)
	}
	return evs
}

// judgeSystem judges system again and returns the event its verdict
// makes when it changed: one event a verdict, of the verdict's kind, from
// the last one to this. Settling at first (from unknown) into healthy is
// no news; into anything worse it is.
func (d *Detector) judgeSystem(system string, now time.Time) []model.Event {
	if system == "" {
		return nil
	}
	d.judgements++
	in := judgeInput{system: system, grace: d.cfg.NoPrimaryGrace, now: now}
	members := d.members(system)
	for _, s := range members {
		v := s.view
		if in.profile == "" {
			in.profile = v.Profile
		}
		switch {
		case v.Paired && v.IdentityChanged:
			in.untrusted = append(in.untrusted, v.Name)
		case v.Watched():
			in.members = append(in.members, d.member(s, now))
		}
	}
	in.grace = max(in.grace, takeoverGrace(members))
	st := d.systems[system]
	if len(in.members) == 0 && len(in.untrusted) == 0 {
		// Only hints (servers not paired): nothing to judge, and a verdict
		// judged before is gone.
		if st != nil {
			delete(d.systems, system)
			d.changed[system] = true
		}
		return nil
	}
	if st == nil {
		st = &systemState{}
		d.systems[system] = st
	}
	in.noPrimarySince = st.noPrimarySince
	j := judge(in)
	if j.hasPrimary {
		st.noPrimarySince = time.Time{}
	} else if st.noPrimarySince.IsZero() {
		st.noPrimarySince = now
		in.noPrimarySince = now
		j = judge(in)
	}
	old := st.verdict
	j.Since = old.Since
	if old.Verdict != j.Verdict {
		j.Since = now
	}
	if !old.Same(j.SystemVerdict) || old.Since != j.Since {
		d.changed[system] = true
	}
	st.verdict = j.SystemVerdict
	if old.Verdict == j.Verdict || j.Verdict == model.VerdictUnknown && !st.settled {
		return nil
	}
	news := st.settled || j.Verdict != model.VerdictHealthy
	st.settled = true
	if !news {
		return nil
	}
	return []model.Event{{Time: now, System: system, Kind: string(j.Verdict), Severity: j.Severity,
		From: string(old.Verdict), To: string(j.Verdict), Detail: verdictDetail(j.SystemVerdict)}}
}

// takeoverFacts are the facts in which agents publish how long their
// system's own failover waits before a standby takes over: a K2 backup's
// heartbeat timeout, a Wavestore standby's takeover time.
var takeoverFacts = []string{"heartbeat_timeout_seconds", "takeover_seconds", "takeover_seconds_in_effect"}

// takeoverMargin is the time a takeover may take once it starts.
const takeoverMargin = 10 * time.Second

// takeoverGrace is how long a system's own failover may take, as its
// agents (servers, one system's) publish it, with a margin: a system without a primary for less is
// failing over, not without one. Zero when no agent says.
func takeoverGrace(servers []*detected) time.Duration {
	var longest float64
	for _, s := range servers {
		if s.status == nil {
			continue
		}
		for _, f := range takeoverFacts {
			if v, err := strconv.ParseFloat(strings.TrimSpace(s.status.Facts[f]), 64); err == nil && v > longest && v < 24*3600 {
				longest = v
			}
		}
	}
	if longest == 0 {
		return 0
	}
	return time.Duration(longest*float64(time.Second)) + takeoverMargin
}

// member is what the judge needs of one watched server.
func (d *Detector) member(s *detected, now time.Time) member {
	m := member{view: s.view, serving: s.serving, flapping: s.flapping,
		arriving:    s.serving == "" && !s.liveSince.IsZero() && now.Sub(s.liveSince) < d.cfg.NoPrimaryGrace,
		tookOver:    s.serving == model.RolePrimary && s.servedAs == model.RoleStandby,
		steppedDown: s.serving == model.RoleStandby && s.servedAs == model.RolePrimary}
	if s.status != nil {
		m.peers = slices.Sorted(maps.Keys(s.status.Peers))
		if s.view.Live() {
			m.over = Over(Limits(s.status.Facts, d.cfg.Limits))
		}
	}
	// A live peer that says its link to this live server is down: the
	// console hears both, so the link between them is what failed.
	if s.view.Live() {
		for _, p := range d.members(s.view.System) {
			if p == s || !p.view.Live() || !p.view.Watched() || p.status == nil {
				continue
			}
			// A link down for a moment is a peer that checked before this
			// server was up: it counts once it has lasted a peer's word,
			// by the peer's clock, and the console has heard this server
			// for as long.
			if l, ok := p.status.Peers[s.view.Name]; ok && l.State == "down" &&
				p.status.Time.Sub(l.Since) >= PeerWord && now.Sub(s.liveSince) >= PeerWord {
				m.peersDown = append(m.peersDown, p.view.Name)
			}
		}
	}
	return m
}

// verdictDetail is a verdict written out for an event and an email: what
// it is, why, and what to do next.
func verdictDetail(v model.SystemVerdict) string {
	parts := []string{v.Summary}
	for _, r := range v.Reasons {
		if r.Text != v.Summary {
			parts = append(parts, r.Text)
		}
	}
	if v.Next != "" {
		parts = append(parts, "next: "+v.Next)
	}
	return strings.Join(parts, "; ")
}

// Verdicts returns the verdict of every judged system, by system name.
func (d *Detector) Verdicts() []model.SystemVerdict {
	out := make([]model.SystemVerdict, 0, len(d.systems))
	for _, name := range slices.Sorted(maps.Keys(d.systems)) {
		out = append(out, d.systems[name].verdict)
	}
	return out
}

// Changed returns the verdicts that changed since it was last called; a
// system that is no longer judged comes as a verdict with only its name.
func (d *Detector) Changed() []model.SystemVerdict {
	if len(d.changed) == 0 {
		return nil
	}
	out := make([]model.SystemVerdict, 0, len(d.changed))
	for _, name := range slices.Sorted(maps.Keys(d.changed)) {
		if st := d.systems[name]; st != nil {
			out = append(out, st.verdict)
		} else {
			out = append(out, model.SystemVerdict{System: name})
		}
	}
	clear(d.changed)
	return out
}

// Status takes a server's full status and returns the events it makes: a
// service that stopped or failed, a fact over its limit or back within it,
// and a new verdict of its system (its facts and its peers' word count).
func (d *Detector) Status(v model.ServerView, st actions.Status, now time.Time) []model.Event {
	s := d.server(v.ID)
	first, oldView := s.status == nil, s.view
	d.setView(s, v.ID, v)
	s.status = &st
	var evs []model.Event
	ev := func(kind string, sev model.Severity, from, to, detail string) {
		evs = append(evs, model.Event{Time: now, System: v.System, Server: v.Name, AgentID: v.ID,
			Kind: kind, Severity: sev, From: from, To: to, Detail: detail})
	}
	for _, n := range slices.Sorted(maps.Keys(st.Services)) {
		was, cur := s.services[n], st.Services[n]
		if s.services == nil || was == cur || cur == "starting" || cur == "stopping" {
			continue
		}
		switch cur {
		case "failed":
			ev(model.EventService, model.SeverityCritical, was, cur, fmt.Sprintf("service %s on %s ended without being asked to", n, v.Name))
		case "stopped":
			ev(model.EventService, model.SeverityWarning, was, cur, fmt.Sprintf("service %s on %s was stopped", n, v.Name))
		case "running":
			ev(model.EventService, model.SeverityInfo, was, cur, fmt.Sprintf("service %s on %s is running", n, v.Name))
		}
	}
	s.services = st.Services

	if s.lagging == nil {
		s.lagging = map[string]bool{}
	}
	limits := Limits(st.Facts, d.cfg.Limits)
	for _, l := range limits {
		value := st.Facts[l.Fact]
		switch {
		case l.Over && !s.lagging[l.Fact]:
			s.lagging[l.Fact] = true
			ev(model.EventLag, model.SeverityWarning, "", value, fmt.Sprintf("%s: %s", v.Name, l.Words()))
		case !l.Over && s.lagging[l.Fact]:
			s.lagging[l.Fact] = false
			ev(model.EventLag, model.SeverityInfo, "", value, fmt.Sprintf("%s: %s, back within its limit", v.Name, l.Words()))
		}
	}
	judged := judgedOf(&st, limits)
	if !first && judged == s.judged && sameToOperator(oldView, v) {
		// Nothing the judge reads changed: the verdict stands. What
		// time alone changes (a grace running out), Tick judges.
		return evs
	}
	s.judged = judged
	return append(evs, d.judgeSystem(v.System, now)...)
}

// judgedOf is what the judge reads of a server's status (member and
// takeoverGrace): the peers it names, the state of each link and whether
// a down one has lasted a peer's word by the agent's clock, the facts over
// their limits with their values, and the takeover facts. A status that
// changes none of it, of a server whose view is the same to the operator,
// leaves the verdict as it was. A fleet sends thousands of status lines a
// second, most of them a fact under its limit that moved: judging each
// system again for each was a tenth of the console's CPU.
func judgedOf(st *actions.Status, limits []Limit) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(st.Peers)) {
		l := st.Peers[name]
		b.WriteString(name)
		b.WriteByte(' ')
		b.WriteString(l.State)
		if l.State == "down" && st.Time.Sub(l.Since) >= PeerWord {
			b.WriteString(" lasted")
		}
		b.WriteByte('\n')
	}
	for _, l := range limits {
		if l.Over {
			b.WriteString(l.Words())
			b.WriteByte('\n')
		}
	}
	for _, f := range takeoverFacts {
		if v, ok := st.Facts[f]; ok {
			b.WriteString(f)
			b.WriteByte('=')
			b.WriteString(v)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
