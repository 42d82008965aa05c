//go:build !windows

package actions

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"syscall"
)

// NewWindowsDriver exists on every OS so that the agent's config code can
// name it everywhere; off Windows it only says why it cannot work.
func NewWindowsDriver(name string) (Driver, error) {
	return nil, fmt.Errorf("windows service %s: the windows driver is only available on Windows", name)
}

// ownGroup gives cmd's process a process group of its own, so that a stop or
// a timeout reaches the helpers it forks as well, and a terminal's Ctrl-C
// aimed at the agent does not reach it.
//
// Where the kernel offers it (Linux), the process also gets SIGTERM when the
// agent dies: whatever the agent started must not run on unsupervised, with
// nobody to report it failed or to stop it before the next agent starts a
// second copy. SIGTERM rather than SIGKILL lets a vendor service shut down
// cleanly. The kernel sends it when the agent's thread that forked the
// process ends; Go ends threads only when a goroutine that locked one exits
// without unlocking it, which the agent never does around these calls.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setPdeathsig(cmd.SysProcAttr, syscall.SIGTERM)
}

// setPdeathsig sets SysProcAttr.Pdeathsig on the systems whose SysProcAttr
// has it (Linux, FreeBSD). Reflection keeps this one file building on every
// unix, macOS included, where the field does not exist.
func setPdeathsig(attr *syscall.SysProcAttr, sig syscall.Signal) {
	if f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig"); f.IsValid() && f.Type() == reflect.TypeOf(sig) {
		f.Set(reflect.ValueOf(sig))
	}
}

// terminateGroup asks p's whole process group to end.
func terminateGroup(p *os.Process) error { return signalGroup(p, syscall.SIGTERM) }

// killGroup ends p's whole process group.
func killGroup(p *os.Process) error { return signalGroup(p, syscall.SIGKILL) }

// killLeftovers ends what p forked into its group and left behind when it
// exited, as systemd does for a unit's cgroup: a service's orphaned workers
// would otherwise hold its ports and files against the next start.
func killLeftovers(p *os.Process) { _ = signalGroup(p, syscall.SIGKILL) }

func signalGroup(p *os.Process, sig syscall.Signal) error {
	// A negative pid addresses the group whose id is p's pid (Setpgid made
	// p its leader).
	err := syscall.Kill(-p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil // the whole group is already gone
	}
	if err != nil {
		return fmt.Errorf("signal process group %d with %v: %w", p.Pid, sig, err)
	}
	return nil
}
