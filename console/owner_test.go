package console

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// TestOwnerAlive: a run is taken over only when its owner is gone: this
// process's own runs and those of a process that exited are free, a live
// process on this host and any process elsewhere keep theirs, and an
// owner that names no process is free.
func TestOwnerAlive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checks processes the Linux way")
	}
	host, _ := os.Hostname()
	if OwnerAlive(RunOwner()) {
		t.Error("this process's own run is taken as another's")
	}
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Process.Kill(); live.Wait() })
	if !OwnerAlive(fmt.Sprintf("%s:%d", host, live.Process.Pid)) {
		t.Error("a live process's run is taken as free")
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if OwnerAlive(fmt.Sprintf("%s:%d", host, dead.Process.Pid)) {
		t.Error("a process that exited is taken as alive")
	}
	// A killed process its parent has not reaped yet is a zombie: gone.
	zombie := exec.Command("sleep", "60")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	zombie.Process.Kill()
	for !isZombie(zombie.Process.Pid) {
		runtime.Gosched()
	}
	if OwnerAlive(fmt.Sprintf("%s:%d", host, zombie.Process.Pid)) {
		t.Error("a killed, unreaped process is taken as alive")
	}
	zombie.Wait()
	for owner, want := range map[string]bool{
		"elsewhere:1": true, // another host's: cannot be checked, so kept
		host + ":0":   false,
		host + ":x":   false,
		"no-colon":    true, // not this host's
	} {
		if got := OwnerAlive(owner); got != want {
			t.Errorf("OwnerAlive(%q) = %v, want %v", owner, got, want)
		}
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	var p int
	var comm, state string
	fmt.Sscanf(string(b), "%d %s %s", &p, &comm, &state)
	return state == "Z"
}
