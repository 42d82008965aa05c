// Package console holds the console's services that the window and the
// command line share: the fleet the procedure engine acts on (read from
// the monitor when the console runs one, asked of the agents once when it
// does not), sending an operator's or a procedure's request to an agent
// (refused for a server that is not ours, recorded, sent, its outcome
// classified and recorded, asked again under the same id), which process
// owns a run, and what an alert says beside its event.
//
// It knows no widgets and no flags: package app wires it to the store,
// the monitor and the views.
package console
