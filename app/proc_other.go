//go:build !linux

package app

import "syscall"

func childProcAttr() *syscall.SysProcAttr { return nil }
