package monitor

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

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

// DefaultLimits are the thresholds of the lag facts the profiles publish,
// where the agent does not give its own: a Redstor mirror 15 minutes
// behind, a Nintex K2 DR site past the 4 hours of data loss the document
// accepts.
var DefaultLimits = map[string]float64{
	"mirror_lag_seconds":         15 * 60,
	"recovery_point_age_seconds": 4 * 60 * 60,
}

// Defaults of DetectorConfig.
const (
	DefaultFlapCount      = 5
	DefaultFlapWindow     = 2 * time.Minute
	DefaultNoPrimaryGrace = 15 * time.Second
)

// limitSuffix marks a fact that bounds another: a fact X with a numeric
// fact X_limit beside it lags when X exceeds the limit (a mirror's lag, a
// recovery point's age against the accepted data loss).
const limitSuffix = "_limit"

// Detector turns changes of what the console sees into events. It keeps
// the state it needs (each server's last view, services, facts and
// transitions; each system's alarms) and is not safe for concurrent use:
// the monitor calls it under its lock.
type Detector struct {
	cfg     DetectorConfig
	servers map[string]*detected
	systems map[string]*systemAlarms
}

type detected struct {
	view        model.ServerView
	services    map[string]string
	lagging     map[string]bool // facts over their limit
	transitions []time.Time
	flapping    bool
}

type systemAlarms struct {
	splitBrain     bool
	noPrimarySince time.Time // zero while some server is primary
	noPrimary      bool      // the event was raised
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
	return &Detector{cfg: cfg, servers: map[string]*detected{}, systems: map[string]*systemAlarms{}}
}

func (d *Detector) server(id string) *detected {
	s := d.servers[id]
	if s == nil {
		s = &detected{}
		d.servers[id] = s
	}
	return s
}

// View takes a server's new view and returns the events it makes: health
// and role transitions, identity changes, flapping, and the alarms of its
// system.
func (d *Detector) View(v model.ServerView, now time.Time) []model.Event {
	s := d.server(v.ID)
	old := s.view
	s.view = v
	var evs []model.Event
	ev := func(kind string, sev model.Severity, from, to, detail string) {
		evs = append(evs, model.Event{Time: now, System: v.System, Server: v.Name, AgentID: v.ID,
			Kind: kind, Severity: sev, From: from, To: to, Detail: detail})
	}
	if v.IdentityChanged && !old.IdentityChanged {
		ev(model.EventIdentityChanged, model.SeverityCritical, "", "", "the server presents another key than the one pinned when it was paired; Vigil will not act on it until it is paired again")
	}

	transition := false
	if old.ID != "" && old.Health != v.Health && v.Health != model.HealthUnknown {
		switch v.Health {
		case model.HealthDown:
			transition = true
			ev(model.EventDown, model.SeverityCritical, string(old.Health), string(v.Health), v.Detail)
		case model.HealthUnreachable:
			transition = true
			ev(model.EventUnreachable, model.SeverityWarning, string(old.Health), string(v.Health), v.Detail)
		case model.HealthUp:
			if old.Health == model.HealthDown || old.Health == model.HealthUnreachable {
				transition = true
				ev(model.EventUp, model.SeverityInfo, string(old.Health), string(v.Health), "heard from again")
			}
		}
	}
	// A role is news only from a server the console hears: a down server's
	// last role is history, and unknown is no role.
	if old.ID != "" && old.Role != v.Role && v.Health == model.HealthUp &&
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

	if transition {
		evs = d.flap(s, v, now, evs)
	}
	return append(evs, d.systemAlarms(v.System, v.Profile, now)...)
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
		evs = append(evs, d.systemAlarms(n, systems[n], now)...)
	}
	return evs
}

// systemAlarms raises and clears a system's split-brain and no-primary
// alarms.
func (d *Detector) systemAlarms(system, profile string, now time.Time) []model.Event {
	if system == "" {
		return nil
	}
	a := d.systems[system]
	if a == nil {
		a = &systemAlarms{}
		d.systems[system] = a
	}
	var primaries, members []string
	settled := true // every server's health is known
	for _, s := range d.servers {
		if s.view.System != system {
			continue
		}
		members = append(members, s.view.Name)
		if s.view.Health == model.HealthUnknown {
			settled = false
		}
		if s.view.Health == model.HealthUp && s.view.Role == model.RolePrimary {
			primaries = append(primaries, s.view.Name)
		}
	}
	sort.Strings(primaries)
	var evs []model.Event
	ev := func(kind string, sev model.Severity, from, to, detail string) {
		evs = append(evs, model.Event{Time: now, System: system, Kind: kind, Severity: sev, From: from, To: to, Detail: detail})
	}
	split := model.SinglePrimary(profile) && len(primaries) > 1
	switch {
	case split && !a.splitBrain:
		a.splitBrain = true
		ev(model.EventSplitBrain, model.SeverityCritical, "", strings.Join(primaries, ","),
			fmt.Sprintf("%s are all primary at once; clients may write to both", strings.Join(primaries, " and ")))
	case !split && a.splitBrain:
		a.splitBrain = false
		ev(model.EventSplitBrain, model.SeverityInfo, "split-brain", "resolved", fmt.Sprintf("primary now: %s", orNone(primaries)))
	}
	switch {
	case len(primaries) > 0:
		a.noPrimarySince = time.Time{}
		if a.noPrimary {
			a.noPrimary = false
			ev(model.EventNoPrimary, model.SeverityInfo, "no-primary", "resolved", fmt.Sprintf("primary now: %s", strings.Join(primaries, ", ")))
		}
	case !settled:
		// Until every server has been heard from (or found down), "no
		// primary" may only mean "not heard yet".
	case a.noPrimarySince.IsZero():
		a.noPrimarySince = now
	case !a.noPrimary && now.Sub(a.noPrimarySince) >= d.cfg.NoPrimaryGrace:
		a.noPrimary = true
		sort.Strings(members)
		ev(model.EventNoPrimary, model.SeverityCritical, "", "", fmt.Sprintf("no server of %s has been primary for %v (%s)",
			system, now.Sub(a.noPrimarySince).Round(time.Second), strings.Join(members, ", ")))
	}
	return evs
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Status takes the services and facts of a server's full status and
// returns the events they make: a service that stopped or failed, a lag
// over its limit.
func (d *Detector) Status(v model.ServerView, services, facts map[string]string, now time.Time) []model.Event {
	s := d.server(v.ID)
	var evs []model.Event
	ev := func(kind string, sev model.Severity, from, to, detail string) {
		evs = append(evs, model.Event{Time: now, System: v.System, Server: v.Name, AgentID: v.ID,
			Kind: kind, Severity: sev, From: from, To: to, Detail: detail})
	}
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		was, cur := s.services[n], services[n]
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
	s.services = services

	if s.lagging == nil {
		s.lagging = map[string]bool{}
	}
	facts = orEmpty(facts)
	keys := make([]string, 0, len(facts))
	for k := range facts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasSuffix(k, limitSuffix) {
			continue
		}
		limitText, ok := facts[k+limitSuffix]
		if !ok {
			l, known := d.cfg.Limits[k]
			if !known {
				continue
			}
			limitText = strconv.FormatFloat(l, 'f', -1, 64)
		}
		value, err1 := strconv.ParseFloat(facts[k], 64)
		limit, err2 := strconv.ParseFloat(limitText, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		over := value > limit
		switch {
		case over && !s.lagging[k]:
			s.lagging[k] = true
			ev(model.EventLag, model.SeverityWarning, "", facts[k],
				fmt.Sprintf("%s on %s is %s, over its limit of %s", strings.ReplaceAll(k, "_", " "), v.Name, facts[k], limitText))
		case !over && s.lagging[k]:
			s.lagging[k] = false
			ev(model.EventLag, model.SeverityInfo, "", facts[k],
				fmt.Sprintf("%s on %s is %s, back within its limit of %s", strings.ReplaceAll(k, "_", " "), v.Name, facts[k], limitText))
		}
	}
	return evs
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
