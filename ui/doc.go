// Package ui owns Vigil's Fyne views and their view-models. It talks to the
// rest of the console through the small interfaces it declares (Feed for
// the fleet's live picture, Operator for a server's detail and its
// actions), never to sockets, mDNS or SQL, and it changes widgets only on
// the UI goroutine.
//
// Create builds the status board and the server pane beside it, and starts
// the one goroutine that follows the Feed and the selected server's status;
// that goroutine and every request a pane sends hand their widget changes
// to fyne.Do. The goroutine ends, cancelling its subscription, when its
// context is done, after the requests in flight.
package ui
