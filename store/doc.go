// Package store keeps the console's last known picture in SQLite (GORM
// with glebarez/sqlite): servers, sites and systems, events, the alert
// outbox and settings, the console's record of actions, the agents'
// mirrored audit logs, and the records of procedure runs. It speaks in
// the types of package model; it knows nothing of the network or the GUI.
package store
