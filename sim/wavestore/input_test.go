package wavestore_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/sim"
	"github.com/vigilops/vigil/sim/wavestore"
)

type decodeCase struct {
	name string
	in   string
	ok   bool
	want string // a part of the error
}

var iniCases = []decodeCase{
	{"sections", "; c\n[A]\nx = 1\ny: 2\n# c\n[B]\nx = \"q\"\n", true, ""},
	{"garbage line", "[A]\nthis is not a setting\n", false, "test.ini:2: expected"},
	{"duplicate", "[A]\nx=1\nX=2\n", false, "test.ini:3: X is given twice (first on line 2)"},
	{"bad section", "[A\n", false, "test.ini:1: a section header"},
	{"empty", "", true, ""},
}

var eventCases = []decodeCase{
	{"raised", "cause = DiskFault\ndetail = disk B\n", true, ""},
	{"cleared", "cause = DiskFault\nstate = cleared\n", true, ""},
	{"no cause", "detail = x\n", false, "cause is missing"},
	{"bad cause", "cause = Disk Fault\n", false, `cause "Disk Fault" is not a cause name`},
	{"bad state", "cause = Manual\nstate = maybe\n", false, `state "maybe"`},
	{"unknown key", "cause = Manual\nscript = 99\n", false, `unknown key "script"`},
	{"section", "[Event]\ncause = Manual\n", false, "no [sections]"},
}

var messageCases = []decodeCase{
	{"beat", `{"t":"hb","from":"ws-physical-1","mode":"Physical","home":1,"hosts":1,"contend":true,"rec_until":1,"cfg":{"disks":"A,B","tracks":"","cameras":12,"user":true,"licence":"Enterprise","channels":16}}`, true, ""},
	{"release", `{"t":"release","from":"ws-standby","logical":1,"rec_until":5}`, true, ""},
	{"release without logical", `{"t":"release","from":"ws-standby"}`, false, "without a logical server"},
	{"delete", `{"t":"failover-delete","id":"ab12"}`, true, ""},
	{"no sender", `{"t":"hb","hosts":1}`, false, "without a valid sender"},
	{"range", `{"t":"hb","from":"x","hosts":1000}`, false, "out of range"},
	{"kind", `{"t":"boom"}`, false, "unknown message kind"},
	{"json", `{"t":`, false, "not a Wavestore failover message"},
}

var copyCases = []decodeCase{
	{"begin", `{"op":"begin","from":"ws-standby","logical":1,"total":10,"count":1}`, true, ""},
	{"segment", `{"op":"segment","disk":"A","name":"seg-1-ws-standby.wsv","nominal":3,"data":"x"}`, true, ""},
	{"segment path", `{"op":"segment","disk":"A","name":"../../etc/passwd","data":"x"}`, false, "not a valid footage segment"},
	{"segment disk", `{"op":"segment","disk":"AB","name":"seg-1-x.wsv"}`, false, "not a valid footage segment"},
	{"begin logical", `{"op":"begin","from":"x","logical":0}`, false, "begin without"},
	{"op", `{"op":"rm"}`, false, "unknown op"},
}

var segmentCases = []decodeCase{
	{"segment", "[Segment]\nLogicalServer = 1\nRecordedBy = ws-standby\nDisk = A\nTracks = Track1\nCameras = 12\nStart = 2026-01-01T00:00:00Z\nEnd = 2026-01-01T00:00:10Z\nNominalBytes = 100\n", true, ""},
	{"bad time", "[Segment]\nLogicalServer = 1\nRecordedBy = x\nDisk = A\nStart = yesterday\nEnd = 2026-01-01T00:00:10Z\nNominalBytes = 1\n", false, `Segment.Start "yesterday"`},
	{"reversed", "[Segment]\nLogicalServer = 1\nRecordedBy = x\nDisk = A\nStart = 2026-01-01T00:00:10Z\nEnd = 2026-01-01T00:00:00Z\nNominalBytes = 1\n", false, "End before Start"},
	{"bytes", "[Segment]\nLogicalServer = 1\nRecordedBy = x\nDisk = A\nStart = 2026-01-01T00:00:00Z\nEnd = 2026-01-01T00:00:00Z\nNominalBytes = -4\n", false, "NominalBytes"},
}

func checkCases(t *testing.T, cases []decodeCase, decode func([]byte) error) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := decode([]byte(c.in))
			switch {
			case c.ok && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case !c.ok && err == nil:
				t.Fatal("accepted")
			case !c.ok && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestDecoders(t *testing.T) {
	t.Run("ini", func(t *testing.T) { checkCases(t, iniCases, wavestore.ParseINI) })
	t.Run("event", func(t *testing.T) { checkCases(t, eventCases, wavestore.ParseEvent) })
	t.Run("message", func(t *testing.T) { checkCases(t, messageCases, wavestore.DecodeMessage) })
	t.Run("copy", func(t *testing.T) { checkCases(t, copyCases, wavestore.DecodeCopyLine) })
	t.Run("segment", func(t *testing.T) { checkCases(t, segmentCases, wavestore.ParseSegment) })
	for _, bad := range []string{"Track1:A", "Track1:a:3d", "Track1:A:0d", "Track1:A:3d,track1:B:3d"} {
		if wavestore.ParseTracks(bad) == nil {
			t.Errorf("tracks %q accepted", bad)
		}
	}
}

func fuzz(f *testing.F, cases []decodeCase, decode func([]byte) error) {
	for _, c := range cases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) { decode(b) })
}

func FuzzParseINI(f *testing.F)      { fuzz(f, iniCases, wavestore.ParseINI) }
func FuzzParseEvent(f *testing.F)    { fuzz(f, eventCases, wavestore.ParseEvent) }
func FuzzDecodeMessage(f *testing.F) { fuzz(f, messageCases, wavestore.DecodeMessage) }
func FuzzDecodeCopyLine(f *testing.F) {
	fuzz(f, copyCases, wavestore.DecodeCopyLine)
}
func FuzzParseSegment(f *testing.F) { fuzz(f, segmentCases, wavestore.ParseSegment) }

// laidOut lays the system out in a temporary directory, as a fleet does.
func laidOut(t *testing.T) (*sim.System, *sim.Layout) {
	t.Helper()
	sys := wavestore.System()
	dir := t.TempDir()
	l := &sim.Layout{Dirs: map[string]string{}, Exe: "/nonexistent/vigil", Clock: sim.NewClock(time.Now(), 1)}
	for _, m := range sys.Members {
		l.Dirs[m.Name] = filepath.Join(dir, m.Name)
	}
	if _, err := sys.Layout(l); err != nil {
		t.Fatal(err)
	}
	return sys, l
}

func service(t *testing.T, sys *sim.System, name string) sim.Service {
	t.Helper()
	for _, s := range sys.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no service %s", name)
	return sim.Service{}
}

// TestBadSettings: a corrupt settings file stops the service at once with an
// error naming the file, the line and what is wrong, also in the system log.
func TestBadSettings(t *testing.T) {
	sys, l := laidOut(t)
	svc := service(t, sys, wavestore.ServiceName)
	etc := filepath.Join(l.Dirs[p1], "host", "etc", "wavestore")
	for _, c := range []struct {
		file, old, new, want string
	}{
		{"server.ini", "Letters = A,B", "Letters = A,,B", "server.ini:14: Disks.Letters"},
		{"server.ini", "Tracks = Track1:A:30d,Track2:B:7d", "Tracks = Track1:A:30d,Track2:C:7d", "Track2 records to disk letter C"},
		{"failover.ini", "Mode = Physical", "Mode = Primary", `failover.ini:6: Failover.Mode "Primary"`},
		{"failover.ini", "TakeoverSeconds = 10", "TakeoverSeconds = ten", `Failover.TakeoverSeconds is "ten"`},
		{"failover.ini", "ws-physical-1:1,", "ws-physical-1:2,", "logical server 2 is given to both"},
		{"network.ini", "Address = 192.168.10.11", "Address = server-one", `eth0.Address "server-one" is not an IP address`},
		{"eventrules.ini", "Script = 99\nParameter = 0\nText = Failover\n[Rule2]", "Parameter = 0\n[Rule2]", "Rule1.Script is missing"},
		{"users.ini", "[admin]", "[admin", "users.ini:2: a section header"},
	} {
		t.Run(c.file+" "+c.new, func(t *testing.T) {
			path := filepath.Join(etc, c.file)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(path, orig, 0o644)
			if !bytes.Contains(orig, []byte(c.old)) {
				t.Fatalf("%s has no %q", c.file, c.old)
			}
			os.WriteFile(path, bytes.Replace(orig, []byte(c.old), []byte(c.new), 1), 0o644)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = svc.Run(ctx, &sim.Env{State: l.Dirs[p1], Clock: l.Clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err == nil || !strings.Contains(err.Error(), path) && !strings.Contains(err.Error(), c.file) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v; want one naming %s and saying %q", err, path, c.want)
			}
			log, _ := os.ReadFile(filepath.Join(l.Dirs[p1], "host", "var", "log", "wavestore", "system.log"))
			if !bytes.Contains(log, []byte("ERROR   wavestore (simulated): Wavestore cannot start: "+err.Error())) {
				t.Errorf("system log does not say why:\n%s", log)
			}
		})
	}
}

// TestFailoverDeleteOffline: with the service stopped, failover-delete
// removes the configuration by itself and says it takes effect at the next
// start; --check then reports nothing left to delete.
func TestFailoverDeleteOffline(t *testing.T) {
	sys, l := laidOut(t)
	tool := service(t, sys, wavestore.FailoverDeleteTool)
	env := func(args ...string) *sim.Env {
		return &sim.Env{State: l.Dirs[sb], Clock: l.Clock, Args: args, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	}
	if err := tool.Run(context.Background(), env("--check")); err == nil || !strings.Contains(err.Error(), "holds a failover configuration (Mode Standby)") {
		t.Fatalf("--check before: %v", err)
	}
	if err := tool.Run(context.Background(), env()); err != nil {
		t.Fatal(err)
	}
	if err := tool.Run(context.Background(), env("--check")); err != nil {
		t.Fatalf("--check after: %v", err)
	}
	etc := filepath.Join(l.Dirs[sb], "host", "etc", "wavestore")
	now, _ := os.ReadFile(filepath.Join(etc, "failover.ini"))
	before, _ := os.ReadFile(filepath.Join(etc, "failover.ini.before-failover-delete"))
	if !bytes.Contains(now, []byte("Enabled = 0\nMode = None")) || !bytes.Contains(before, []byte("Mode = Standby")) {
		t.Errorf("failover.ini:\n%s\nkept copy:\n%s", now, before)
	}
	if err := tool.Run(context.Background(), env("--bogus")); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("a bad flag: %v", err)
	}
}
