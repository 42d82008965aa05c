//go:build !windows

package fleet

import (
	"os"
	"syscall"
)

func terminate(p *os.Process) { p.Signal(syscall.SIGTERM) }
