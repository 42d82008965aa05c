package console

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// RunOwner names this process on the procedure runs it runs: host:pid.
func RunOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// OwnerAlive says whether the process that owns a run still runs, so that
// resuming does not take over a live run. Only a process on this host can
// be checked; one elsewhere is taken as alive. This process is not: its
// runs are its own to take over.
func OwnerAlive(owner string) bool {
	host, pidText, ok := strings.Cut(owner, ":")
	me, _ := os.Hostname()
	if !ok || host != me {
		return true
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return false
	}
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Linux: a killed process its parent has not reaped yet is a zombie.
		if _, rest, ok := strings.Cut(string(stat), ") "); ok && (strings.HasPrefix(rest, "Z") || strings.HasPrefix(rest, "X")) {
			return false
		}
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}
