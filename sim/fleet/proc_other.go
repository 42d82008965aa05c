//go:build !linux

package fleet

import "syscall"

func childProcAttr() *syscall.SysProcAttr { return nil }
