// Package actions owns the agent's wire types and the console-side client
// that talks to agents over HTTPS. Host-side executors for agent actions
// will live here too.
//
// It must not import the GUI or the store: callers turn what it returns into
// model observations.
package actions
