// Package model owns Vigil's domain vocabulary (roles, health, servers,
// systems, sites) and the Store that keeps the topology in SQLite.
//
// It must not know about the network, mDNS or the GUI: discovery and the
// monitor hand it observations, and everything else reads views from it.
package model
