//go:build !windows

package app

// attachConsole does nothing outside Windows: there, a program started from a
// terminal always has it as its standard input and output.
func attachConsole([]string) {}
