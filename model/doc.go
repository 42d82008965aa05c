// Package model is Vigil's vocabulary: roles, health, severities, verdicts,
// the views of servers and systems the console shows, the events it
// records, and the records of actions and procedure runs. The struct tags
// on the records name their columns for the store (package store), which
// alone links GORM and SQLite: everything else speaks in these types
// without a database.
//
// It must not know about the network, mDNS, the store or the GUI.
package model
