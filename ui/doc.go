// Package ui owns Vigil's Fyne views and their view-models. It talks to the
// rest of the console through the small interfaces it declares (Feed for
// the fleet's live picture, Operator for a server's detail and its
// actions, EventSource for the events, AlertConsole for the email alert
// settings, ProcedureDesk for the procedures and their engine, Notifier
// and Tray for the desktop), never to sockets, mDNS or SQL, and it changes
// widgets only on the UI goroutine.
//
// CreateConsole builds the main window: the status board with the server
// pane beside it, the events timeline and the alert settings in tabs. It
// starts the one goroutine that follows the Feed, the events and the
// selected server's status; that goroutine and every request a view sends
// hand their widget changes to fyne.Do. The goroutine ends, cancelling its
// subscriptions, when its context is done, after the requests in flight.
// StartDesk starts the desktop alarms (notifications and the tray icon)
// on a goroutine of their own, with the same rules.
//
// Procedures opens the procedure wizards, each in a window of its own: the
// engine of a run works on a goroutine of its own, the wizard is its
// Prompter (the engine's goroutine waits on a channel for the operator's
// answer, never the UI goroutine on the engine), and what the engine tells
// reaches the widgets through fyne.Do.
package ui
