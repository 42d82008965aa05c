package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilops/vigil/model"
)

func probeFor(t *testing.T, dir, yaml string) roleProbe {
	t.Helper()
	cfg, err := ParseConfig(filepath.Join(dir, "agent.yaml"), []byte(
		"name: t\nsystem: s\nprofile: redstor\nlisten: 127.0.0.1:0\nstate_dir: state\n"+yaml))
	if err != nil {
		t.Fatal(err)
	}
	p, err := newProbe(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func expectRole(t *testing.T, p roleProbe, want model.Role, errPart string) {
	t.Helper()
	got, err := p.read(context.Background())
	if got != want {
		t.Errorf("role = %s (err %v), want %s", got, err, want)
	}
	if errPart == "" && err != nil {
		t.Errorf("unexpected error: %v", err)
	}
	if errPart != "" && (err == nil || !strings.Contains(err.Error(), errPart)) {
		t.Errorf("err = %v, want one containing %q", err, errPart)
	}
}

func TestSettingProbeReadsIsSlave(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "AS_Service"), 0o755)
	settings := filepath.Join(dir, "AS_Service", "Settings.xml")
	write := func(v string) {
		os.WriteFile(settings, []byte(`<?xml version="1.0"?>
<Settings>
  <ServerGuid>5e0c6a4e-1d1c-4c4e-9d41-6f0f2f1b9a10</ServerGuid>
  <IsSlave choices="True,False" description="Is this a slave AccountServer">`+v+`</IsSlave>
</Settings>
`), 0o644)
	}
	p := probeFor(t, dir, `settings:
  - name: as
    dir: AS_Service
role_probe:
  kind: setting
  dir: as
  path: Settings.xml
  key: Settings/IsSlave
  map: {"False": primary, "True": standby}
`)
	write("False")
	expectRole(t, p, model.RolePrimary, "")
	write("True")
	expectRole(t, p, model.RoleStandby, "")
	write("Maybe")
	expectRole(t, p, model.RoleUnknown, `"Maybe" is not in the role map`)
	os.Remove(settings)
	expectRole(t, p, model.RoleUnknown, "role setting")
}

func TestLogProbeFollowsTheLastMatch(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "infocast.log")
	p := probeFor(t, dir, `role_probe:
  kind: log
  file: infocast.log
  pattern: 'Primary/coordinator: (\S+)'
  map: {"198.18.0.1": primary, "*": standby}
`)
	expectRole(t, p, model.RoleUnknown, "role log")
	appendLog := func(s string) {
		f, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(s)
		f.Close()
	}
	appendLog("GMS: address is 198.18.0.1\n")
	expectRole(t, p, model.RoleUnknown, "no line matching")
	appendLog("-------\nPrimary/coordinator: 198.18.0.2\n")
	expectRole(t, p, model.RoleStandby, "")
	appendLog(`Primary/coordinator: 198.18.0.1` + "\n" + `2008-11-19 10:02:04 - (224.2.2.2:22222): Processing "bootcast_1900"` + "\n")
	expectRole(t, p, model.RolePrimary, "")
	// Half a line is not a match yet.
	appendLog("Primary/coordinator: 198.18.0.2")
	expectRole(t, p, model.RolePrimary, "")
	appendLog("\n")
	expectRole(t, p, model.RoleStandby, "")
	// Rotation: a new, shorter file starts over.
	os.Rename(log, log+".1")
	appendLog("Primary/coordinator: 198.18.0.1\n")
	expectRole(t, p, model.RolePrimary, "")
}

func TestCommandProbeMapsStatusOrOutput(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "probe.sh")
	state := filepath.Join(dir, "state.txt")
	os.WriteFile(script, []byte("#!/bin/sh\nread s < "+state+"\ncase $s in\n  exit*) exit ${s#exit} ;;\n  *) echo \"$s\" ;;\nesac\n"), 0o755)
	p := probeFor(t, dir, `role_probe:
  kind: command
  argv: [`+script+`]
  interval: 1ns
  map: {"3": failed, "backup": standby, "primary": primary}
`)
	for _, tc := range []struct {
		state string
		want  model.Role
		err   string
	}{
		{"primary", model.RolePrimary, ""},
		{"backup", model.RoleStandby, ""},
		{"exit3", model.RoleFailed, ""},
		{"exit1", model.RoleUnknown, "not in the role map"},
	} {
		os.WriteFile(state, []byte(tc.state+"\n"), 0o644)
		expectRole(t, p, tc.want, tc.err)
	}
}

func TestRoleProbeConfigErrors(t *testing.T) {
	base := "name: t\nsystem: s\nprofile: redstor\nlisten: 127.0.0.1:0\nstate_dir: state\n"
	for _, tc := range []struct{ yaml, field, want string }{
		{"role_probe:\n  kind: magic\n", "role_probe.kind", "not a probe"},
		{"role_probe:\n  kind: log\n  file: x.log\n  map: {a: primary}\n", "role_probe.pattern", "missing"},
		{"role_probe:\n  kind: log\n  file: x.log\n  pattern: '('\n  map: {a: primary}\n", "role_probe.pattern", "not a regular expression"},
		{"role_probe:\n  kind: file\n  file: r\n  map: {a: primary}\n", "role_probe.map", "not used by a file probe"},
		{"role_probe:\n  kind: command\n  argv: [x]\n  map: {a: leader}\n", "role_probe.map.a", "not one of"},
		{"role_probe:\n  kind: setting\n  dir: as\n  path: S.xml\n  key: S/IsSlave\n  map: {a: primary}\n", "role_probe.dir", "not a declared settings directory"},
		{"role_file: r\nrole_probe:\n  kind: file\n  file: r\n", "role_file", "keep one"},
	} {
		_, err := ParseConfig("agent.yaml", []byte(base+tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %s: %s", tc.yaml, err, tc.field, tc.want)
		}
	}
}
