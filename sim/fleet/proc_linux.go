package fleet

import "syscall"

// childProcAttr makes fleet members die with the fleet even if it is killed
// without a chance to stop them.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
