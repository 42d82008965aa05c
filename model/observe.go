package model

// Observe returns v as o leaves it, and whether o changed its role or
// health; LastChange is when its role or a known health last changed. Each field o gives replaces v's (o leaves empty what it does not
// know); a server not yet paired takes the key it announces, a paired one
// keeps the one pinned; a server that is not reported gone is seen at o's
// time. The store records a server this way, and the monitor shows it this
// way while the store cannot record it: one rule for both.
func (v ServerView) Observe(o Observation) (ServerView, bool) {
	setIf(&v.Name, o.Name)
	setIf(&v.Site, o.Site)
	setIf(&v.System, o.System)
	setIf(&v.Profile, o.Profile)
	setIf(&v.Address, o.Address)
	if !v.Paired {
		// Until pairing pins a key, the latest announcement is all there is.
		setIf(&v.Fingerprint, o.Fingerprint)
	}
	setIf(&v.VendorRole, o.VendorRole)
	changed, known := false, false
	if o.Role != "" && o.Role != v.Role {
		v.Role, changed, known = o.Role, true, true
	}
	if o.Health != "" && o.Health != v.Health {
		// A health that was not known (a console that just started has
		// not heard the server yet) changes nothing that happened to it.
		known = known || v.Health != HealthUnknown
		v.Health, changed = o.Health, true
	}
	if known || v.LastChange.IsZero() {
		v.LastChange = o.Time
	}
	// A reachable server is seen now; a report that it went away is not a
	// sighting.
	if o.Health != HealthDown && o.Health != HealthUnreachable && o.Time.After(v.LastSeen) {
		v.LastSeen = o.Time
	}
	return v, changed
}

// Then is what o and then later leave, as one observation: later's fields
// where it gives them, o's where it does not, and the later time. When
// later changes neither the role nor the health o gives, observing it
// leaves a server as observing both in turn would; otherwise the times
// differ (when it was last seen, when it last changed).
func (o Observation) Then(later Observation) Observation {
	setIf(&o.AgentID, later.AgentID)
	setIf(&o.Name, later.Name)
	setIf(&o.Site, later.Site)
	setIf(&o.System, later.System)
	setIf(&o.Profile, later.Profile)
	setIf(&o.Address, later.Address)
	setIf(&o.Fingerprint, later.Fingerprint)
	setIf(&o.VendorRole, later.VendorRole)
	if later.Role != "" {
		o.Role = later.Role
	}
	if later.Health != "" {
		o.Health = later.Health
	}
	if later.Time.After(o.Time) {
		o.Time = later.Time
	}
	return o
}

// NewServerView is what the console knows of a server it has never seen
// before its first observation: its id, as its name until it says one.
func NewServerView(agentID string) ServerView {
	return ServerView{ID: agentID, Name: agentID, Role: RoleUnknown, Health: HealthUnknown}
}

// setIf sets *dst to s unless s is empty: what is not known leaves what
// was.
func setIf(dst *string, s string) {
	if s != "" {
		*dst = s
	}
}
