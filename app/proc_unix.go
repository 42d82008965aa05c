//go:build !windows

package app

import (
	"os"
	"syscall"
)

func terminate(p *os.Process) { p.Signal(syscall.SIGTERM) }
