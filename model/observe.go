package model

// Observe returns v as o leaves it, and whether o changed its role or
// health; LastChange is when its role or a known health last changed. Each field o gives replaces v's (o leaves empty what it does not
// know); a server not yet paired takes the key it announces, a paired one
// keeps the one pinned; a server that is not reported gone is seen at o's
// time. The store records a server this way, and the monitor shows it this
// way while the store cannot record it: one rule for both.
func (v ServerView) Observe(o Observation) (ServerView, bool) {
	set := func(dst *string, s string) {
		if s != "" {
			*dst = s
		}
	}
	set(&v.Name, o.Name)
	set(&v.Site, o.Site)
	set(&v.System, o.System)
	set(&v.Profile, o.Profile)
	set(&v.Address, o.Address)
	if !v.Paired {
		// Until pairing pins a key, the latest announcement is all there is.
		set(&v.Fingerprint, o.Fingerprint)
	}
	set(&v.VendorRole, o.VendorRole)
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

// NewServerView is what the console knows of a server it has never seen
// before its first observation: its id, as its name until it says one.
func NewServerView(agentID string) ServerView {
	return ServerView{ID: agentID, Name: agentID, Role: RoleUnknown, Health: HealthUnknown}
}
