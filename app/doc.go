// Package app is Vigil's composition root: it parses the command line, picks
// the concrete parts (SQLite store, mDNS discovery, HTTPS agent client, Fyne
// GUI) and wires them together. No other package chooses implementations.
package app
