package app

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFleetAllSystems starts `vigil fleet` with every simulated
// system, as an operator would, and reports how long it takes to print its
// ready line and how much memory the whole fleet (the fleet process, every
// agent and every simulated service) uses once settled: PSS, which counts
// the pages processes share (the binary) once in all, and RSS summed over
// processes, which counts them once per process.
func BenchmarkFleetAllSystems(b *testing.B) {
	for i := 0; i < b.N; i++ {
		state := b.TempDir()
		cmd := exec.Command(vigilBin, "fleet", "--state", state)
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		ready := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "ready") {
					close(ready)
				}
			}
		}()
		select {
		case <-ready:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			b.Fatal("fleet not ready within 60 s")
		}
		startup := time.Since(start)
		time.Sleep(5 * time.Second) // let simulations settle into their steady state
		procs := processTree(cmd.Process.Pid)
		var pss, rss int64
		for _, pid := range procs {
			p, r := memoryOf(pid)
			pss += p
			rss += r
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		b.ReportMetric(startup.Seconds(), "s-to-ready")
		b.ReportMetric(float64(pss)/1024, "MB-pss")
		b.ReportMetric(float64(rss)/1024, "MB-rss-sum")
		b.ReportMetric(float64(len(procs)), "processes")
	}
}

// processTree lists pid and all its descendants.
func processTree(root int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name may hold spaces; the fields after its ")" do not.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			children[ppid] = append(children[ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// memoryOf reads a process's PSS and RSS in kB.
func memoryOf(pid int) (pss, rss int64) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "Pss:":
			pss = n
		case "Rss:":
			rss = n
		}
	}
	return pss, rss
}
