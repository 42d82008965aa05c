package model

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Role is the generic role the console reasons with. The vendor's own word
// for it is kept separately as a vendor role.
type Role string

// The generic roles of DESIGN.md.
const (
	RolePrimary      Role = "primary"
	RoleStandby      Role = "standby"
	RoleOutOfService Role = "out-of-service"
	RoleFailed       Role = "failed"
	RoleUnknown      Role = "unknown"
)

// Roles lists every valid role, in the order an operator reads them.
var Roles = []Role{RolePrimary, RoleStandby, RoleOutOfService, RoleFailed, RoleUnknown}

// ParseRole reads a role written by a person or a file: it ignores case and
// surrounding white space. Anything else is an error that quotes the input.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	for _, known := range Roles {
		if r == known {
			return r, nil
		}
	}
	return RoleUnknown, fmt.Errorf("role %q is not one of primary, standby, out-of-service, failed, unknown", truncate(s, 40))
}

func (r Role) String() string {
	if r == "" {
		return string(RoleUnknown)
	}
	return string(r)
}

// SinglePrimary reports whether a system of this profile must have exactly
// one primary, so that two are a split brain. Wavestore N+1 systems are the
// exception: every physical server is primary for its own logical server.
func SinglePrimary(profile string) bool {
	return profile != "wavestore"
}

// Health says whether the console can see a server working.
type Health string

// The health states of DESIGN.md.
const (
	HealthUp          Health = "up"
	HealthDegraded    Health = "degraded"
	HealthUnreachable Health = "unreachable"
	HealthDown        Health = "down"
	HealthUnknown     Health = "unknown"
)

func (h Health) String() string {
	if h == "" {
		return string(HealthUnknown)
	}
	return string(h)
}

// Observation is what discovery or a live status stream has learnt about one
// server at one moment. Empty fields mean "not known from this source" and
// never overwrite what the store already holds.
type Observation struct {
	AgentID     string // stable identity the agent reports; required
	Name        string
	Site        string
	System      string
	Profile     string
	Address     string // host:port of the agent API
	Fingerprint string // hex prefix of the SHA-256 of the agent's public key
	Role        Role
	VendorRole  string
	Health      Health
	Time        time.Time
}

// ServerView is one server as the console shows it and as `vigil status
// --json` prints it.
type ServerView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Site        string    `json:"site"`
	System      string    `json:"system"`
	Profile     string    `json:"profile"`
	Role        Role      `json:"role"`
	VendorRole  string    `json:"vendor_role"`
	Health      Health    `json:"health"`
	Address     string    `json:"address"`
	Paired      bool      `json:"paired"`
	LastSeen    time.Time `json:"last_seen"`
	LastChange  time.Time `json:"-"`
	Fingerprint string    `json:"-"` // pinned key fingerprint: full once paired, else what mDNS announced
	// IdentityChanged: the server now presents another key than the one
	// pinned when it was paired. The console refuses to act on it.
	IdentityChanged bool `json:"identity_changed,omitempty"`
	// Conflict says, while it lasts, that another host announces this
	// paired server's id without its pinned key: an impostor, or a copy
	// of its agent's state. The console keeps watching the paired one.
	Conflict string `json:"conflict,omitempty"`
	Detail   string `json:"-"` // why the health is what it is, in the operator's words
	// Error is the error behind Detail as the program met it, for
	// "details" and logs; empty when Detail says everything.
	Error string `json:"-"`
	// SeenBy names the peers that still see a server the console cannot
	// reach: their word that it is alive.
	SeenBy []string `json:"seen_by,omitempty"`
	// AwaitingWord names the peers whose word on a server the console
	// cannot reach it still waits for: until it comes, the console cannot
	// tell a server gone from its own path to it broken.
	AwaitingWord []string `json:"-"`
	// Expired: a server known only from mDNS (not paired) that has not
	// been announced for longer than the console's expiry. Views leave it
	// out; the store keeps it until an operator forgets it.
	Expired bool `json:"-"`
}

// Equal reports whether two views are the same in every field.
func (v ServerView) Equal(w ServerView) bool {
	return v.ID == w.ID && v.Name == w.Name && v.Site == w.Site && v.System == w.System && v.Profile == w.Profile &&
		v.Role == w.Role && v.VendorRole == w.VendorRole && v.Health == w.Health && v.Address == w.Address &&
		v.Paired == w.Paired && v.LastSeen.Equal(w.LastSeen) && v.LastChange.Equal(w.LastChange) &&
		v.Fingerprint == w.Fingerprint && v.IdentityChanged == w.IdentityChanged && v.Conflict == w.Conflict && v.Detail == w.Detail &&
		v.Error == w.Error && slices.Equal(v.SeenBy, w.SeenBy) && slices.Equal(v.AwaitingWord, w.AwaitingWord) && v.Expired == w.Expired
}

// Live reports whether the console hears the server now, so that what it
// shows of it (role, services, facts) is current. A server that is down,
// unreachable or not yet heard shows what it said last: that is history,
// and never counts as its present.
func (v ServerView) Live() bool {
	return v.Health == HealthUp || v.Health == HealthDegraded
}

// Watched reports whether the console follows the server's own stream:
// it is paired and still presents the key it was paired with. Only
// watched servers count in a system's verdict; the rest are hints.
func (v ServerView) Watched() bool {
	return v.Paired && !v.IdentityChanged
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Seen is a sighting of a server that changed nothing else the store
// keeps (store.MarkSeen): when it was heard from, and the vendor's word for its role then
// ("" leaves the stored one).
type Seen struct {
	At         time.Time
	VendorRole string
}
