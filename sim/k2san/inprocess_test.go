package k2san_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/sim"
	"github.com/vigilops/vigil/sim/k2san"
	"github.com/vigilops/vigil/sim/simtest"
)

// run runs one of the system's simulated programs in this process, as
// `vigil sim NAME --state DIR -- ARGS` would, and returns its error.
func run(t *testing.T, name, state string, args ...string) error {
	t.Helper()
	for _, sv := range k2san.System().Services {
		if sv.Name == name {
			// A bound for a program that does not fail as it should, not a
			// measure: generous for a loaded machine.
			ctx, cancel := context.WithTimeout(context.Background(), simtest.WaitLimit)
			defer cancel()
			env := &sim.Env{State: state, Clock: sim.NewClock(time.Now(), 1000), Args: args,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			return sv.Run(ctx, env)
		}
	}
	t.Fatalf("no simulated program %s", name)
	return nil
}

// laidOut lays out a fresh K2 SAN in a temporary directory and returns
// K2server1's directory.
func laidOut(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l := &sim.Layout{Dirs: map[string]string{k2san.Server1: filepath.Join(dir, "1"), k2san.Server2: filepath.Join(dir, "2")},
		Exe: "/bin/false", Clock: sim.NewClock(time.Now(), 1)}
	configs, err := k2san.System().Layout(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(configs) != 2 || !strings.Contains(configs[k2san.Server1], "name: restart-fc-switch") {
		t.Fatalf("agent configs: %v", configs)
	}
	return l.Dirs[k2san.Server1]
}

func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s has no %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBadInputIsNamed(t *testing.T) {
	failover := filepath.Join("host", "ProgramData", "Grass Valley", "K2 Media Server", "Failover.ini")
	devices := filepath.Join("host", "ProgramData", "Grass Valley", "K2 SAN", "SideDevices.ini")
	ports := []string{"--", "--heartbeat-port", "1", "--peer-port", "2"}
	for _, tc := range []struct {
		name    string
		program string
		file    string // edited: old -> new
		old     string
		new     string
		args    []string
		want    []string // in the error
	}{
		{"no ports", k2san.MediaServerService, "", "", "", nil, []string{"--heartbeat-port 0", "UDP port"}},
		{"unknown flag", k2san.MediaServerService, "", "", "", []string{"--", "--colour", "red"}, []string{"colour"}},
		{"timeout not a number", k2san.MediaServerService, failover, "TimeoutSeconds=10", "TimeoutSeconds=ten", ports,
			[]string{"Failover.ini:", "Heartbeat.TimeoutSeconds", `"ten"`}},
		{"timeout shorter than two heartbeats", k2san.MediaServerService, failover, "TimeoutSeconds=10", "TimeoutSeconds=1.5", ports,
			[]string{"Failover.ini:", "two heartbeat intervals"}},
		{"bad side", k2san.MediaServerService, failover, "Side=A", "Side=C", ports, []string{"Failover.ini:", "Server.Side", `"C"`}},
		{"garbage line", k2san.MediaServerService, failover, "[Failover]", "[Failover]\nthis is not ini", ports,
			[]string{"Failover.ini:", "not a Key=Value line"}},
		{"missing peer", k2san.MediaServerService, failover, "Peer=K2server2", "", ports, []string{"Failover.ini", "Server.Peer", "missing"}},
		{"bad device", k2san.DeviceTool, "", "", "", []string{"--", "--device", "toaster", "--do", "restart"}, []string{`--device "toaster"`}},
		{"bad operation", k2san.DeviceTool, "", "", "", []string{"--", "--device", "fc-switch", "--do", "reboot"}, []string{`--do "reboot"`}},
		{"corrupt device state", k2san.DeviceTool, devices, "State=online", "State=smoking",
			[]string{"--", "--device", "fc-switch", "--do", "power-off"}, []string{"SideDevices.ini:", "ISCSIBridge.State", `"smoking"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := laidOut(t)
			if tc.file != "" {
				edit(t, filepath.Join(dir, tc.file), tc.old, tc.new)
			}
			err := run(t, tc.program, dir, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestDeviceTool restarts and powers off a device in process and checks
// what it leaves in SideDevices.ini.
func TestDeviceTool(t *testing.T) {
	dir := laidOut(t)
	path := filepath.Join(dir, "host", "ProgramData", "Grass Valley", "K2 SAN", "SideDevices.ini")
	if err := run(t, k2san.DeviceTool, dir, "--", "--device", "iscsi-bridge", "--do", "power-off"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "[ISCSIBridge]\nName=iSCSI bridge A\nState=off\n") {
		t.Fatalf("after power-off:\n%s", b)
	}
	if err := run(t, k2san.DeviceTool, dir, "--", "--device", "iscsi-bridge", "--do", "restart"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if !strings.Contains(string(b), "[ISCSIBridge]\nName=iSCSI bridge A\nState=online\n") || !strings.Contains(string(b), "Starts=2") {
		t.Fatalf("after restart:\n%s", b)
	}
}

// TestRestartedPairKeepsItsPrimary runs both media servers in this process:
// after a failover to K2server2, stopping and starting both (a fleet
// restart on the same directory) keeps K2server2 primary.
func TestRestartedPairKeepsItsPrimary(t *testing.T) {
	dir := t.TempDir()
	l := &sim.Layout{Dirs: map[string]string{k2san.Server1: filepath.Join(dir, "1"), k2san.Server2: filepath.Join(dir, "2")},
		Exe: "/bin/false", Clock: sim.NewClock(time.Now(), speed)}
	if _, err := k2san.System().Layout(l); err != nil {
		t.Fatal(err)
	}
	var svc sim.Service
	for _, s := range k2san.System().Services {
		if s.Name == k2san.MediaServerService {
			svc = s
		}
	}
	ports := map[string]int{}
	for _, name := range []string{k2san.Server1, k2san.Server2} {
		p, err := sim.FreeUDPPort()
		if err != nil {
			t.Fatal(err)
		}
		ports[name] = p
	}
	peer := map[string]string{k2san.Server1: k2san.Server2, k2san.Server2: k2san.Server1}
	start := func(name string) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		env := &sim.Env{State: l.Dirs[name], Clock: l.Clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Args: []string{"--", "--heartbeat-port", strconv.Itoa(ports[name]), "--peer-port", strconv.Itoa(ports[peer[name]])}}
		go func() { done <- svc.Run(ctx, env) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	state := func(name, key string) string {
		b, _ := os.ReadFile(filepath.Join(l.Dirs[name], "host", "ProgramData", "Grass Valley", "K2 Media Server", "Status", "ServerState.ini"))
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, key+"="); ok {
				return v
			}
		}
		return ""
	}
	await := func(name, key, want string) {
		t.Helper()
		deadline := time.Now().Add(simtest.WaitLimit)
		for state(name, key) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s is %q, want %q", name, key, state(name, key), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	stop1, stop2 := start(k2san.Server1), start(k2san.Server2)
	await(k2san.Server1, "Role", "primary")
	await(k2san.Server2, "Role", "backup")
	await(k2san.Server2, "Qualified", "true")
	stop1()
	await(k2san.Server1, "Role", "out of service")
	await(k2san.Server2, "Role", "primary")
	stop2()
	await(k2san.Server2, "Role", "out of service")

	stop1, stop2 = start(k2san.Server1), start(k2san.Server2)
	defer func() { stop1(); stop2() }()
	await(k2san.Server2, "Role", "primary")
	await(k2san.Server1, "Role", "backup")
}
