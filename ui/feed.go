package ui

import "github.com/vigilops/vigil/model"

// Feed is the console's live picture of the fleet, as the GUI needs it:
// the servers, and the judge's verdict on each system. Views draw the
// verdicts as they come; they never judge a system themselves.
type Feed interface {
	// Snapshot returns every known server, in display order.
	Snapshot() []model.ServerView
	// Subscribe delivers every later change of a server until cancel is
	// called. The channel is closed after cancel.
	Subscribe() (updates <-chan model.ServerView, cancel func())
	// Verdicts returns the verdict on every judged system.
	Verdicts() []model.SystemVerdict
	// SubscribeVerdicts delivers every later change of a verdict until
	// cancel is called; a verdict with only its system's name says that the
	// system is no longer judged. The channel is closed after cancel.
	SubscribeVerdicts() (verdicts <-chan model.SystemVerdict, cancel func())
}
