// Package arch holds a test that keeps ARCHITECTURE.md true: its table of
// packages lists every package of the module, and imports go one way, from
// the top of the table to the bottom.
package arch
