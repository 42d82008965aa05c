package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
)

const factsConfig = `name: ss1
system: redstor
profile: redstor
listen: 127.0.0.1:0
state_dir: state
advertise: false
role_file: role
permissions: [read, act]
facts:
  - name: mirror_lag_seconds
    kind: setting
    dir: ss
    path: mirror.json
    key: lag_seconds
  - name: last_backup
    kind: log
    file: ss/backup.log
    pattern: 'backup finished at (\S+)'
  - name: integrity
    kind: command
    argv: ["/bin/sh", "-c", "exit 3"]
    interval: 50ms
  - name: site
    kind: file
    file: ss/site
settings:
  - name: ss
    dir: ss
commands:
  - name: integrity-check
    argv: ["/bin/true"]
`

func TestFactsArePublishedAndFollowChanges(t *testing.T) {
	dir := t.TempDir()
	ss := filepath.Join(dir, "ss")
	os.MkdirAll(ss, 0o755)
	os.WriteFile(filepath.Join(dir, "role"), []byte("primary"), 0o644)
	os.WriteFile(filepath.Join(ss, "mirror.json"), []byte(`{"lag_seconds": 12, "progress": 0.5}`), 0o644)
	os.WriteFile(filepath.Join(ss, "backup.log"), []byte("backup finished at 10:00\nbackup finished at 10:05\n"), 0o644)
	cfg, err := ParseConfig(filepath.Join(dir, "agent.yaml"), []byte(factsConfig))
	if err != nil {
		t.Fatal(err)
	}
	a, addr := runAgent(t, cfg)
	st, err := pinnedClient(t, a, addr).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"mirror_lag_seconds": "12", "last_backup": "10:05", "integrity": "3"}
	for k, v := range want {
		if st.Facts[k] != v {
			t.Errorf("fact %s = %q, want %q (facts %v, errors %v)", k, st.Facts[k], v, st.Facts, st.FactErrors)
		}
	}
	if e := st.FactErrors["site"]; !strings.Contains(e, "site") {
		t.Errorf("missing file fact: error %q, want one naming the file", e)
	}
	if _, ok := st.Facts["site"]; ok {
		t.Errorf("unreadable fact has a value: %v", st.Facts)
	}
	if d := st.Declared; d == nil || !d.CanAct || len(d.Settings) != 1 || d.Settings[0] != "ss" || len(d.Commands) != 1 || d.Commands[0] != "integrity-check" {
		t.Errorf("declared = %+v, want settings [ss], commands [integrity-check], can act", d)
	}

	// A change of a fact's source changes the status and its sequence number.
	seq := st.Seq
	os.WriteFile(filepath.Join(ss, "mirror.json"), []byte(`{"lag_seconds": 0, "progress": 1}`), 0o644)
	os.WriteFile(filepath.Join(ss, "site"), []byte("secondary site\n"), 0o644)
	eventually(t, "the facts to follow their sources", func() bool {
		st = a.Status()
		return st.Facts["mirror_lag_seconds"] == "0" && st.Facts["site"] == "secondary site" && st.FactErrors["site"] == ""
	})
	if st.Seq <= seq {
		t.Errorf("seq %d after a fact changed, was %d", st.Seq, seq)
	}
}

func TestFactConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, replace, with string
		field, expect       string
	}{
		{"map on a fact", "    key: lag_seconds\n", "    key: lag_seconds\n    map: {\"1\": primary}\n", "facts[0].map", "takes no map"},
		{"undeclared settings dir", "    dir: ss\n    path: mirror.json", "    dir: nowhere\n    path: mirror.json", "facts[0].dir", "not a declared settings directory"},
		{"missing pattern", "    pattern: 'backup finished at (\\S+)'\n", "", "facts[1].pattern", "missing"},
		{"bad kind", "kind: file", "kind: registry", "facts[3].kind", "not a probe"},
		{"duplicate", "name: site", "name: integrity", "facts[3].name", "declared twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(factsConfig, tc.replace, tc.with, 1)
			if text == factsConfig {
				t.Fatalf("replacement %q not found", tc.replace)
			}
			_, err := ParseConfig("agent.yaml", []byte(text))
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(ce.Msg, tc.expect) || ce.Line == 0 {
				t.Errorf("err = %v (field %q), want field %q with %q and a line", err, fieldOf(ce), tc.field, tc.expect)
			}
		})
	}
}

// A role written by a vendor service is believed only while that service
// runs and once it has written it since starting: a stopped service's server
// is out of service, and a stale file from before a restart is not its role.
func TestRoleProbeGatedByItsService(t *testing.T) {
	dir := t.TempDir()
	roleFile := filepath.Join(dir, "role")
	os.WriteFile(roleFile, []byte("primary\n"), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(roleFile, old, old)
	os.WriteFile(filepath.Join(dir, "next"), []byte("standby\n"), 0o644)
	cfg, err := ParseConfig(filepath.Join(dir, "agent.yaml"), []byte(`name: k2b
system: k2
profile: k2san
listen: 127.0.0.1:0
state_dir: state
advertise: false
permissions: [read, act]
services:
  - name: media
    driver: process
    dir: .
    command: ["/bin/sh", "-c", "sleep 0.5; cat next > role; exec sleep 600"]
role_probe:
  kind: file
  file: role
  service: media
`))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := runAgent(t, cfg)
	if st := a.Status(); st.Role == "primary" {
		t.Fatalf("role %s from a file written before the service started (error %q)", st.Role, st.RoleError)
	}
	waitRole := func(want string) actions.Status {
		t.Helper()
		var st actions.Status
		eventually(t, "role "+want, func() bool {
			st = a.Status()
			return st.Role == want
		})
		return st
	}
	waitRole("standby")
	if _, err := a.api.executors[actions.ServiceStop].Do(context.Background(), map[string]string{"service": "media"}, false); err != nil {
		t.Fatal(err)
	}
	st := waitRole("out-of-service")
	if !strings.Contains(st.RoleError, "media is stopped") {
		t.Errorf("role error %q, want it to say the service is stopped", st.RoleError)
	}
}

func TestProbeServiceMustBeADeclaredProcessService(t *testing.T) {
	_, err := ParseConfig("agent.yaml", []byte("name: a\nsystem: s\nprofile: k2san\nlisten: 127.0.0.1:0\nstate_dir: st\nrole_probe:\n  kind: file\n  file: role\n  service: media\n"))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "role_probe.service" || ce.Line != 9 {
		t.Errorf("err = %v, want one at line 9, role_probe.service", err)
	}
}

func TestPeerConfig(t *testing.T) {
	base := "name: a\nsystem: s\nprofile: k2san\nlisten: 127.0.0.1:0\nstate_dir: st\nrole_file: role\npeers:\n"
	cfg, err := ParseConfig("agent.yaml", []byte(base+"  - name: b\n    address: 10.0.0.2:7443\n"))
	if err != nil || len(cfg.Peers) != 1 || cfg.Peers[0] != (PeerConfig{Name: "b", Address: "10.0.0.2:7443"}) {
		t.Fatalf("peers = %+v, %v", cfg, err)
	}
	for _, tc := range []struct{ item, field, msg string }{
		{"  - name: b\n    address: 10.0.0.2:0\n", "peers[0].address", "real port"},
		{"  - name: b\n    address: b.example\n", "peers[0].address", "not an address"},
		{"  - name: b\n", "peers[0].address", "missing"},
	} {
		_, err := ParseConfig("agent.yaml", []byte(base+tc.item))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(ce.Msg, tc.msg) || ce.Line == 0 {
			t.Errorf("%q: err = %v, want %s with %q and a line", tc.item, err, tc.field, tc.msg)
		}
	}
}

func TestServiceNotStartedIsStoppedInStatus(t *testing.T) {
	dir := t.TempDir()
	cfg, err := ParseConfig(filepath.Join(dir, "agent.yaml"), []byte("name: dr\nsystem: s\nprofile: nintex\nlisten: 127.0.0.1:0\nstate_dir: state\nadvertise: false\nrole_file: role\nservices:\n  - name: k2\n    driver: process\n    command: [/bin/sleep, \"60\"]\n    autostart: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := runAgent(t, cfg)
	if got := a.Status().Services["k2"]; got != "stopped" {
		t.Errorf("a service kept off shows as %q, want stopped", got)
	}
}
