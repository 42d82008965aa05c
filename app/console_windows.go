//go:build windows

package app

import (
	"fmt"
	"log"
	"os"

	"golang.org/x/sys/windows"
)

// attachConsole gives the commands of vigil.exe the console they were typed
// in.
//
// The Windows MSI installs two programs linked from this package (Makefile,
// pkg-console-msi): vigil.exe, a GUI program (-H windowsgui) so that the
// Start menu opens no console window along with the console's window, and
// vigil.com, a console program for the command line, which cmd.exe and
// PowerShell pick for `vigil` before vigil.exe (PATHEXT lists .COM first).
// A GUI program started from a Command Prompt has no standard output, so
// without this `vigil.exe version` would print nothing. For a command
// (consoleCommand), attachConsole attaches the process to the console of the
// process that started it, if that has one, and points the standard output
// and error that were not redirected at it. It does not take input from that
// console: cmd.exe does not wait for a GUI program and goes on reading it, so
// the two would fight over every line. The command reads an empty standard
// input (NUL) instead, and one that may ask questions says to use vigil.com.
//
// vigil.com already has its console's handles, and vigil.exe started from
// the Start menu or Explorer has no parent console: for both, and for
// vigil.exe with its output and errors redirected, this changes nothing.
func attachConsole(args []string) {
	if !consoleCommand(args) {
		return
	}
	in, out, errOut := stdValid(windows.STD_INPUT_HANDLE), stdValid(windows.STD_OUTPUT_HANDLE), stdValid(windows.STD_ERROR_HANDLE)
	if out && errOut {
		return
	}
	if r, _, _ := procAttachConsole.Call(uintptr(attachParentProcess)); r == 0 {
		return // no parent console (or one of our own already)
	}
	con, err := openStd("CONOUT$", windows.GENERIC_READ|windows.GENERIC_WRITE)
	if err != nil {
		return
	}
	if !out {
		setStd(windows.STD_OUTPUT_HANDLE, &os.Stdout, con, "/dev/stdout")
	}
	if !errOut {
		setStd(windows.STD_ERROR_HANDLE, &os.Stderr, con, "/dev/stderr")
		log.SetOutput(os.Stderr) // the log package (and slog's default) kept the old one
	}
	if !in {
		if nul, err := openStd("NUL", windows.GENERIC_READ); err == nil {
			setStd(windows.STD_INPUT_HANDLE, &os.Stdin, nul, "/dev/stdin")
		}
		if readsAnswers(args) {
			fmt.Fprintln(os.Stderr, "vigil: vigil.exe cannot read answers from this console, so its questions go unanswered; "+
				"type vigil.com (or vigil, without .exe) to answer them")
		}
	}
}

// attachParentProcess is ATTACH_PARENT_PROCESS, (DWORD)-1.
const attachParentProcess = ^uint32(0)

// AttachConsole is not in golang.org/x/sys/windows v0.30.0.
var procAttachConsole = windows.NewLazySystemDLL("kernel32.dll").NewProc("AttachConsole")

// stdValid says whether the standard handle id is usable: a file, pipe or
// character device the parent passed (redirected, or a console's).
func stdValid(id uint32) bool {
	h, err := windows.GetStdHandle(id)
	if err != nil || h == 0 || h == windows.InvalidHandle {
		return false
	}
	t, err := windows.GetFileType(h)
	return err == nil && t != windows.FILE_TYPE_UNKNOWN
}

func openStd(name string, access uint32) (windows.Handle, error) {
	return windows.CreateFile(windows.StringToUTF16Ptr(name), access,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
}

// replacedStd keeps the *os.File values attachConsole replaced reachable:
// collected, they would close their handle values, which after the
// replacement may be those of the new handles.
var replacedStd []*os.File

// setStd makes h the process's standard handle id (for what reads it from
// the process, like the runtime's panic messages) and *f, Go's.
func setStd(id uint32, f **os.File, h windows.Handle, name string) {
	if windows.SetStdHandle(id, h) != nil {
		return
	}
	replacedStd = append(replacedStd, *f)
	*f = os.NewFile(uintptr(h), name)
}
