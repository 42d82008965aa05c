// Package installer owns packaging for the console and the agent. For now it
// holds only the Linux desktop entry, installer/linux/io.vigilops.vigil.desktop;
// building installable packages comes later.
//
// It contains no Go code with behaviour.
package installer
