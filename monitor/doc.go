// Package monitor keeps the console's live picture of every server: it
// follows each agent's watch stream, derives health from it, records changes
// in the store and feeds them to whoever subscribes (the GUI, the CLI).
//
// mDNS sightings only tell it where servers are; liveness comes from the
// watch stream alone. It must not touch widgets or know about Fyne.
package monitor
