// Package ui owns Vigil's Fyne views and their view-models. It talks to the
// rest of the console through the small interfaces it declares (Feed for
// the fleet's live picture, Operator for a server's detail and its
// actions, EventSource for the events, AlertConsole for the email alert
// settings, Notifier and Tray for the desktop), never to sockets, mDNS or
// SQL, and it changes widgets only on the UI goroutine.
//
// CreateConsole builds the main window: the status board with the server
// pane beside it, the events timeline and the alert settings in tabs. It
// starts the one goroutine that follows the Feed, the events and the
// selected server's status; that goroutine and every request a view sends
// hand their widget changes to fyne.Do. The goroutine ends, cancelling its
// subscriptions, when its context is done, after the requests in flight.
// StartDesk starts the desktop alarms (notifications and the tray icon)
// on a goroutine of their own, with the same rules.
package ui
