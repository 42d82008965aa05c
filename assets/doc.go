// Package assets owns the files Vigil ships inside its binaries: the
// application icon now, and later the vendor procedures and system profiles.
// They are embedded with go:embed so that a single binary carries everything
// it needs.
//
// This package only exposes embedded bytes and resources; it must not hold
// code with behaviour (parsing, loading, validation belong to the packages
// that use the files).
package assets
