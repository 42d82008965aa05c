// Package ui owns Vigil's Fyne views and their view-models. It talks to the
// rest of the console through the small interfaces it declares (Feed), never
// to sockets, mDNS or SQL, and it changes widgets only on the UI goroutine.
//
// Create builds the status board and starts the one goroutine that follows
// the Feed; that goroutine hands every widget change to fyne.Do, and it ends,
// cancelling its subscription, when its context is done.
package ui
