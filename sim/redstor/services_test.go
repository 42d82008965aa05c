package redstor

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilops/vigil/agent"
	"github.com/vigilops/vigil/sim"
)

// inProcess runs the four simulated services in this process, so that the
// race detector sees them (the fleet tests run them as separate programs).
type inProcess struct {
	t      *testing.T
	l      *sim.Layout
	hosts  string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startInProcess(t *testing.T, speed float64) *inProcess {
	t.Helper()
	dir := t.TempDir()
	l := &sim.Layout{Dirs: map[string]string{}, Exe: "vigil", Clock: sim.NewClock(time.Now(), speed)}
	for _, m := range []string{memMaster, memSlave, memSS, memMirror} {
		l.Dirs[m] = filepath.Join(dir, m)
	}
	configs, err := layout(l)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"--hosts", "([^"]+)"`).FindStringSubmatch(configs[memMaster])
	if m == nil {
		t.Fatalf("no --hosts in the agent configuration:\n%s", configs[memMaster])
	}
	p := &inProcess{t: t, l: l, hosts: m[1]}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for _, s := range []struct {
		member string
		run    func(context.Context, *sim.Env) error
	}{{memMaster, runAccountServer}, {memSlave, runAccountServer}, {memSS, runStorageServer}, {memMirror, runStorageServer}} {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := s.run(ctx, p.env(s.member)); err != nil {
				t.Errorf("%s: %v", s.member, err)
			}
		}()
	}
	t.Cleanup(p.stop)
	return p
}

func (p *inProcess) stop() {
	p.cancel()
	p.wg.Wait()
}

func (p *inProcess) env(member string, args ...string) *sim.Env {
	return &sim.Env{State: p.l.Dirs[member], Clock: p.l.Clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Args: append([]string{"--name", member, "--hosts", p.hosts}, args...)}
}

// diag reads one value of a member's Diagnostics.xml, as the agent's fact
// probe would.
func (p *inProcess) diag(member, key string) string {
	dir := ssServiceDir
	if member == memMaster || member == memSlave {
		dir = asServiceDir
	}
	b, err := os.ReadFile(p.l.Host(member, under(dir, diagnosticsFile)...))
	if err != nil {
		return ""
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == key {
			var v string
			d.DecodeElement(&v, &se)
			return v
		}
	}
}

func (p *inProcess) await(member, key string, ok func(string) bool) string {
	p.t.Helper()
	// Generous: a bound for a stuck test, not a measure. The four services
	// share this process with the race detector on a machine that may be
	// busy with other work.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		v := p.diag(member, key)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s %s: still %q", member, key, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tool runs a one-shot tool on member and returns its output.
func (p *inProcess) tool(member string, run func(context.Context, *sim.Env) error, args ...string) (string, error) {
	var out bytes.Buffer
	stdout = &out
	defer func() { stdout = os.Stdout }()
	err := run(context.Background(), p.env(member, args...))
	return out.String(), err
}

func TestServicesInProcess(t *testing.T) {
	p := startInProcess(t, 120)
	p.await(memMaster, "RunningAs", func(v string) bool { return v == "Master" })
	p.await(memSlave, "MasterAccountServer", func(v string) bool { return v == memMaster })
	p.await(memMirror, "Role", func(v string) bool { return v == roleMirror })
	first := p.await(memSS, "MirrorProgress", func(v string) bool { return v != "" })
	p.await(memSS, "MirrorProgress", func(v string) bool { return v != "" && v != first })
	p.await(memMaster, "BackupsSucceeded", func(v string) bool { return v != "" && v != "0" })

	out, err := p.tool(memMaster, runConsole, "--op", "groups", "--disabled=true")
	if err != nil || !strings.Contains(out, "Group Is Disabled True") {
		t.Fatalf("groups: %v\n%s", err, out)
	}
	p.await(memMaster, "GroupsDisabled", func(v string) bool { return v == "2/2" })
	p.await(memMaster, "BackupsBlocked", func(v string) bool { return v != "" && v != "0" })

	out, err = p.tool(memMaster, runConsole, "--op", "db-backup")
	if err != nil || !strings.Contains(out, "copied to Slave AccountServer "+memSlave) {
		t.Fatalf("db-backup: %v\n%s", err, out)
	}
	p.await(memSlave, "DatabaseRestored", func(v string) bool { return strings.Contains(v, "from "+memMaster) })
	if _, err := p.tool(memSlave, runConsole, "--op", "groups", "--disabled=false"); err == nil || !strings.Contains(err.Error(), "Slave") {
		t.Errorf("a Slave took an SP Console change: %v", err)
	}

	queue := p.l.Host(memMaster, under(asServiceDir, taskQueue)...)
	if err := os.WriteFile(filepath.Join(queue, taskUpdateSS), []byte("not empty"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.await(memMaster, "LastTask", func(v string) bool { return strings.Contains(v, "must be empty, but holds 9 bytes") })
	if err := os.WriteFile(filepath.Join(queue, "Failover.Unknown"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p.await(memMaster, "LastTask", func(v string) bool { return strings.Contains(v, "is not a task this AccountServer knows") })
	if err := os.WriteFile(filepath.Join(queue, taskUpdateSS), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p.await(memMaster, "LastTask", func(v string) bool { return strings.Contains(v, "0 of 6 accounts updated; account settings synced") })

	out, err = p.tool(memSS, runIntegrityCheck)
	if !strings.Contains(out, "Integrity check of StorageServer") || (err != nil) != strings.Contains(out, "INCOMPLETE") {
		t.Errorf("integrity check: %v\n%s", err, out)
	}
	// A direct edit of the database (SQL Management Studio in the
	// document) is read back by the running service.
	dbPath := p.l.Host(memMaster, under(databaseDir, databaseFile)...)
	b, _ := os.ReadFile(dbPath)
	os.WriteFile(dbPath, bytes.Replace(b, []byte(`"Disabled": true`), []byte(`"Disabled": false`), 1), 0o644)
	p.await(memMaster, "GroupsDisabled", func(v string) bool { return v == "1/2" })
	os.WriteFile(dbPath, []byte("{not json"), 0o644)
	p.await(memMaster, "DatabaseError", func(v string) bool { return strings.Contains(v, dbPath) })
}

// TestBadSettingsStopTheService: a Settings.xml the service cannot use is
// an error naming the file and the element, and the service does not start.
func TestBadSettingsStopTheService(t *testing.T) {
	p := startInProcess(t, 60)
	p.stop()
	path := p.l.Host(memSlave, under(asServiceDir, settingsFile)...)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(b, []byte(">True</IsSlave>"), []byte(">Maybe</IsSlave>"), 1), 0o644)
	err := runAccountServer(context.Background(), p.env(memSlave))
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `<IsSlave> is "Maybe"; expected True or False`) {
		t.Fatalf("got %v", err)
	}
}

var settingsCases = []struct {
	name, doc, err string
}{
	{"master", asSettingsXML("a40b132e-b8b1-4316-b1f2-c27d301ad2e5", "AS", false), ""},
	{"no IsSlave is a Master", `<Settings><ServerGuid>a40b132e-b8b1-4316-b1f2-c27d301ad2e5</ServerGuid></Settings>`, ""},
	{"the document's line", "\ufeff<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<Settings><ServerGuid>A40B132E-B8B1-4316-B1F2-C27D301AD2E5</ServerGuid>\r\n<IsSlave>true</IsSlave></Settings>", ""},
	{"storage", ssSettingsXML("a40b132e-b8b1-4316-b1f2-c27d301ad2e5", "SS", []string{"A", "B"}), ""},
	{"no guid", `<Settings><IsSlave>True</IsSlave></Settings>`, "<ServerGuid> is missing"},
	{"bad guid", `<Settings><ServerGuid>a40b132e</ServerGuid></Settings>`, "is not a GUID"},
	{"two IsSlave", `<Settings><ServerGuid>a40b132e-b8b1-4316-b1f2-c27d301ad2e5</ServerGuid><IsSlave>False</IsSlave><IsSlave>True</IsSlave></Settings>`, "given 2 times"},
	{"bad bool", `<Settings><ServerGuid>a40b132e-b8b1-4316-b1f2-c27d301ad2e5</ServerGuid><Mirroring>yes</Mirroring></Settings>`, `<Mirroring> is "yes"`},
	{"other root", `<Config/>`, "not a valid Settings.xml"},
	{"utf-16", `<?xml version="1.0" encoding="utf-16"?><Settings/>`, "save the file as UTF-8"},
	{"not xml", `IsSlave=True`, "not a valid Settings.xml"},
}

func TestParseSettings(t *testing.T) {
	for _, c := range settingsCases {
		t.Run(c.name, func(t *testing.T) {
			s, err := parseSettings("Settings.xml", []byte(c.doc))
			if c.err == "" {
				if err != nil || len(s.GUID) != 36 {
					t.Fatalf("got %+v, %v", s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.HasPrefix(err.Error(), "Settings.xml: ") {
				t.Fatalf("got %v, want an error naming the file with %q", err, c.err)
			}
		})
	}
	s, _ := parseSettings("x", []byte(settingsCases[2].doc))
	if !s.IsSlave || s.GUID != "a40b132e-b8b1-4316-b1f2-c27d301ad2e5" {
		t.Errorf("the document's line: %+v", s)
	}
}

func FuzzParseSettings(f *testing.F) {
	for _, c := range settingsCases {
		f.Add([]byte(c.doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := parseSettings("Settings.xml", doc)
		if err == nil && len(s.GUID) != 36 {
			t.Fatalf("accepted a ServerGuid %q", s.GUID)
		}
	})
}

func testDatabase(t testing.TB) []byte {
	g := map[string]string{memMaster: "a40b132e-b8b1-4316-b1f2-c27d301ad2e5", memSlave: "b40b132e-b8b1-4316-b1f2-c27d301ad2e5",
		memSS: "c40b132e-b8b1-4316-b1f2-c27d301ad2e5", memMirror: "d40b132e-b8b1-4316-b1f2-c27d301ad2e5"}
	b, err := initialDatabase(g, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)).encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDatabase(t *testing.T) {
	good := string(testDatabase(t))
	for _, c := range []struct{ name, doc, err string }{
		{"laid out", good, ""},
		{"unknown column", strings.Replace(good, `"OnLine"`, `"Colour"`, 1), "unknown field"},
		{"bad type", strings.Replace(good, `"Type": "MirrorServer"`, `"Type": "Mirror"`, 1), `Type "Mirror" is not one of`},
		{"no group", strings.Replace(good, `"Name": "Sales"`, `"Name": "Marketing"`, 1), `Group "Sales" is not in the Groups table`},
		{"account on no StorageServer", strings.Replace(good, `"StorageServer": "StorageServer"`, `"StorageServer": "Nowhere"`, 1), `StorageServer "Nowhere" is not a StorageServer`},
		{"not json", "{", "not valid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, err := parseDatabase("StoragePlatform.json", []byte(c.doc))
			if c.err == "" {
				if err != nil || len(db.Accounts) != 6 || db.homeGUIDs() != "c40b132e-b8b1-4316-b1f2-c27d301ad2e5:6" {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "StoragePlatform.json") {
				t.Fatalf("got %v, want an error naming the file with %q", err, c.err)
			}
		})
	}
}

func FuzzParseDatabase(f *testing.F) {
	f.Add(testDatabase(f))
	f.Add([]byte(`{"BackupServer":[{"ServerGUID":"x","Type":"StorageServer"}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		db, err := parseDatabase("StoragePlatform.json", doc)
		if err == nil {
			db.homeGUIDs()
			if _, err := db.encode(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestParseHosts(t *testing.T) {
	h, err := parseHosts("A=127.0.0.1:5000, B=127.0.0.1:5001")
	if err != nil || len(h) != 2 || h["B"].Port != 5001 {
		t.Fatalf("got %v, %v", h, err)
	}
	for _, bad := range []string{"", "A", "A=127.0.0.1", "=127.0.0.1:1"} {
		if _, err := parseHosts(bad); err == nil || !strings.HasPrefix(err.Error(), "--hosts") {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}

func TestAgentTotal(t *testing.T) {
	if agentTotal(1, 0) != 0 || agentTotal(1, 2) != backupSize(1, 1)+backupSize(1, 2) {
		t.Fatal("agentTotal is not the sum of the backups")
	}
	for n := 1; n < 200; n++ {
		if s := backupSize(3, n); s < 20<<20 || s > 120<<20 {
			t.Fatalf("backup %d is %d bytes", n, s)
		}
	}
	c := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if dueSeq(c, c.Add(-time.Second)) != 0 || dueSeq(c, c.Add(2*backupInterval+time.Second)) != 2 {
		t.Fatal("dueSeq")
	}
}

// TestLayoutKeepsState: a fleet restarted on the same directory gets new
// ports but keeps every server's identity and what became of its files.
func TestLayoutKeepsState(t *testing.T) {
	dir := t.TempDir()
	l := &sim.Layout{Dirs: map[string]string{}, Exe: "/usr/bin/vigil", Clock: sim.NewClock(time.Now(), 1)}
	for _, m := range []string{memMaster, memSlave, memSS, memMirror} {
		l.Dirs[m] = filepath.Join(dir, m)
	}
	first, err := layout(l)
	if err != nil {
		t.Fatal(err)
	}
	settings := l.Host(memMaster, under(asServiceDir, settingsFile)...)
	s1, _, err := readSettings(settings)
	if err != nil {
		t.Fatal(err)
	}
	dbPath := l.Host(memMaster, under(databaseDir, databaseFile)...)
	b, _ := os.ReadFile(dbPath)
	edited := bytes.Replace(b, []byte(`"Disabled": false`), []byte(`"Disabled": true`), 1)
	os.WriteFile(dbPath, edited, 0o644)
	second, err := layout(l)
	if err != nil {
		t.Fatal(err)
	}
	s2, _, _ := readSettings(settings)
	if s1.GUID != s2.GUID {
		t.Errorf("ServerGuid changed from %s to %s", s1.GUID, s2.GUID)
	}
	if b, _ := os.ReadFile(dbPath); !bytes.Equal(b, edited) {
		t.Error("the second layout rewrote the database")
	}
	if first[memMaster] == second[memMaster] {
		t.Error("the second layout kept the old ports")
	}
	// Every configuration is one the agent accepts.
	for m, body := range second {
		cfg := "name: " + m + "\nsystem: redstor\nprofile: redstor\nlisten: 127.0.0.1:0\nstate_dir: .\n" + body
		c, err := agent.ParseConfig(filepath.Join(l.Dirs[m], "agent.yaml"), []byte(cfg))
		if err != nil {
			t.Fatalf("%s: %v\n%s", m, err, body)
		}
		if len(c.Facts) < 15 || c.RoleProbe.Service == "" || len(c.Commands) == 0 {
			t.Errorf("%s: %d facts, role probe service %q, %d commands", m, len(c.Facts), c.RoleProbe.Service, len(c.Commands))
		}
	}
	// A corrupt Settings.xml stops the layout with the file's name.
	os.WriteFile(settings, []byte("<Settings>"), 0o644)
	if _, err := layout(l); err == nil || !strings.Contains(err.Error(), settings) {
		t.Errorf("corrupt Settings.xml: %v", err)
	}
}
