package ui

import "github.com/vigilops/vigil/model"

// Feed is the console's live picture of the fleet, as the GUI needs it.
type Feed interface {
	// Snapshot returns every known server, in display order.
	Snapshot() []model.ServerView
	// Subscribe delivers every later change of a server until cancel is
	// called. The channel is closed after cancel.
	Subscribe() (updates <-chan model.ServerView, cancel func())
}
