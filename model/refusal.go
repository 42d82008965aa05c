package model

import "fmt"

// NotOursError is why the console refuses to act on a server: it is not
// paired with this console, or it presents another key than the one
// pinned when it was. Its words say what the operator can do.
type NotOursError struct {
	Server ServerView
}

func (e *NotOursError) Error() string {
	v := e.Server
	name, addr := v.Name, v.Address
	if name == "" {
		name = v.ID
	}
	if addr == "" {
		addr = "-"
	}
	if v.IdentityChanged {
		return fmt.Sprintf("%s presents another key than the one pinned when it was paired; Vigil will not act on it. "+
			"If the host was reinstalled on purpose, run `vigil-agent pair-code` on it and `vigil pair %s --code CODE` here", name, addr)
	}
	return fmt.Sprintf("%s is not paired with this console; run `vigil-agent pair-code --config FILE` on it, then `vigil pair %s --code CODE`",
		name, addr)
}

// Refusal is the one test of whether the console may act on a server:
// nil when it is watched (paired, with the key pinned then), a
// *NotOursError otherwise. `vigil action`, the server pane and the
// procedure engine's requests all ask it.
func (v ServerView) Refusal() error {
	if !v.Watched() {
		return &NotOursError{Server: v}
	}
	return nil
}
