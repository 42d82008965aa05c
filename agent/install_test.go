//go:build !windows

package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// installConfig declares everything the unit depends on: a settings and a
// queue directory (one with a space), a role file, two systemd units and a
// process service.
const installConfig = `name: K2server1
system: newsroom-k2
profile: k2san
listen: 0.0.0.0:7443
state_dir: /var/lib/vigil-agent
role_file: /run/k2/role
services:
  - {name: K2Server, driver: systemd, unit: k2server}
  - {name: K2Db, driver: systemd, unit: k2db.service}
  - {name: Sim, driver: process, command: [/usr/bin/sleep, "1000"]}
settings:
  - {name: as, dir: "/srv/k2/config dir"}
queues:
  - {name: tasks, dir: /srv/k2/tasks}
`

const installConfigPath = "/etc/vigil agent/agent.yaml"

func installUnit(t *testing.T, text string) *SystemdUnit {
	t.Helper()
	cfg, err := ParseConfig(installConfigPath, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return &SystemdUnit{Name: DefaultUnit, Config: cfg, Exe: "/opt/vigil tools/vigil-agent", User: DefaultAgentUser, Group: DefaultAgentUser}
}

func unitLines(text, key string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

func TestInstallUnitText(t *testing.T) {
	u := installUnit(t, installConfig)
	if err := u.Validate(); err != nil {
		t.Fatal(err)
	}
	text := u.Text()
	t.Log("\n" + text)

	want := map[string]string{
		"ExecStart":               `"/opt/vigil tools/vigil-agent" run --config "/etc/vigil agent/agent.yaml"`,
		"ReadWritePaths":          `/var/lib/vigil-agent "-/srv/k2/config dir" -/srv/k2/tasks -/run/k2`,
		"User":                    "vigil-agent",
		"Group":                   "vigil-agent",
		"Restart":                 "on-failure",
		"RestartSec":              "2s",
		"After":                   "network-online.target",
		"Wants":                   "network-online.target",
		"WantedBy":                "multi-user.target",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
		"RestrictNamespaces":      "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
	}
	for key, v := range want {
		if got := unitLines(text, key); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want exactly one line %q", key, got, v)
		}
	}
	if !strings.Contains(text, "[Unit]\n") || !strings.Contains(text, "[Service]\n") || !strings.Contains(text, "[Install]\n") {
		t.Error("missing a section")
	}
}

func TestInstallUnitQuoting(t *testing.T) {
	for _, tc := range []struct{ in, exec, path string }{
		{"/usr/bin/vigil-agent", "/usr/bin/vigil-agent", "/usr/bin/vigil-agent"},
		{"/opt/my dir/a", `"/opt/my dir/a"`, `"/opt/my dir/a"`},
		{`/opt/q"uote`, `"/opt/q\"uote"`, `"/opt/q\"uote"`},
		{`/opt/back\slash`, `"/opt/back\\slash"`, `"/opt/back\\slash"`},
		{"/opt/100%", "/opt/100%%", "/opt/100%%"},
		{"/opt/$HOME", "/opt/$$HOME", "/opt/$HOME"},
		{"/opt/it's", `"/opt/it's"`, `"/opt/it's"`},
	} {
		if got := systemdWord(tc.in, true); got != tc.exec {
			t.Errorf("command word %q = %s, want %s", tc.in, got, tc.exec)
		}
		if got := systemdWord(tc.in, false); got != tc.path {
			t.Errorf("path word %q = %s, want %s", tc.in, got, tc.path)
		}
	}
	// The console binary runs the agent as `vigil agent run`.
	u := installUnit(t, installConfig)
	u.Exe, u.ExeArgs = "/usr/bin/vigil", []string{"agent"}
	if got := unitLines(u.Text(), "ExecStart"); len(got) != 1 || got[0] != `/usr/bin/vigil agent run --config "/etc/vigil agent/agent.yaml"` {
		t.Errorf("ExecStart = %q", got)
	}
}

func TestInstallUnitPrivileges(t *testing.T) {
	base := `name: a
system: s
profile: k2san
listen: LISTEN
state_dir: /var/lib/vigil-agent
`
	for _, tc := range []struct {
		name, listen, extra string
		caps, home          string
	}{
		{"nothing needed", "0.0.0.0:7443", "", "", "yes"},
		{"any port", "0.0.0.0:0", "", "", "yes"},
		{"low port", "0.0.0.0:443", "", "CAP_NET_BIND_SERVICE", "yes"},
		{"settings keep owners", "127.0.0.1:7443", "settings:\n  - {name: as, dir: /srv/as}\n", "CAP_CHOWN", "yes"},
		{"both", `"[::]:80"`, "settings:\n  - {name: as, dir: /srv/as}\n", "CAP_NET_BIND_SERVICE CAP_CHOWN", "yes"},
		{"queue in a home", "0.0.0.0:7443", "queues:\n  - {name: q, dir: /home/k2/tasks}\n", "", "read-only"},
		{"command in /root", "0.0.0.0:7443", "commands:\n  - {name: c, argv: [/root/bin/backup]}\n", "", "read-only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := installUnit(t, strings.Replace(base, "LISTEN", tc.listen, 1)+tc.extra).Text()
			if got := unitLines(text, "CapabilityBoundingSet"); len(got) != 1 || got[0] != tc.caps {
				t.Errorf("CapabilityBoundingSet = %q, want %q", got, tc.caps)
			}
			ambient := unitLines(text, "AmbientCapabilities")
			if tc.caps == "" && len(ambient) != 0 || tc.caps != "" && (len(ambient) != 1 || ambient[0] != tc.caps) {
				t.Errorf("AmbientCapabilities = %q, want %q", ambient, tc.caps)
			}
			if got := unitLines(text, "ProtectHome"); len(got) != 1 || got[0] != tc.home {
				t.Errorf("ProtectHome = %q, want %q", got, tc.home)
			}
		})
	}
}

func TestInstallPolkitRule(t *testing.T) {
	u := installUnit(t, installConfig)
	rule := u.PolkitRule()
	t.Log("\n" + rule)
	var units []string
	for _, l := range strings.Split(rule, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "var units = "); ok {
			if err := json.Unmarshal([]byte(strings.TrimSuffix(v, ";")), &units); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !slices.Equal(units, []string{"k2server.service", "k2db.service"}) {
		t.Errorf("units in the rule = %q, want exactly the declared systemd units", units)
	}
	for _, s := range []string{`"org.freedesktop.systemd1.manage-units"`, `subject.user !== "vigil-agent"`, `action.lookup("unit")`, `action.lookup("verb")`, `["start", "stop"]`} {
		if !strings.Contains(rule, s) {
			t.Errorf("rule lacks %s", s)
		}
	}
	if strings.Contains(rule, "Result.NO;") || strings.Contains(rule, "sleep") {
		t.Error("the rule must not decide about anything but the declared units")
	}
	if got := u.PolkitRulePath(); got != "/etc/polkit-1/rules.d/50-vigil-agent.rules" {
		t.Errorf("rule path = %s", got)
	}

	u.Name = "vigil-agent-b.service"
	if got := u.PolkitRulePath(); got != "/etc/polkit-1/rules.d/50-vigil-agent-b.rules" {
		t.Errorf("a second instance's rule path = %s, want its own file", got)
	}
	u.User = "root"
	if u.PolkitRule() != "" {
		t.Error("root needs no rule")
	}
	noSystemd := strings.Replace(strings.Replace(installConfig, "driver: systemd, unit: k2server", "driver: process, command: [/bin/true]", 1),
		"  - {name: K2Db, driver: systemd, unit: k2db.service}\n", "", 1)
	if rule := installUnit(t, noSystemd).PolkitRule(); rule != "" {
		t.Errorf("a config without systemd services got a rule:\n%s", rule)
	}
}

// fakeSystem is a root directory, a user database and a command log.
type fakeSystem struct {
	root   string
	users  map[string]Account
	groups map[string]bool
	argv   [][]string
	out    bytes.Buffer
}

func (f *fakeSystem) User(name string) (Account, bool, error) {
	a, ok := f.users[name]
	return a, ok, nil
}

func (f *fakeSystem) GroupExists(name string) (bool, error) { return f.groups[name], nil }

func (f *fakeSystem) commands() []string {
	var out []string
	for _, a := range f.argv {
		out = append(out, strings.Join(a, " "))
	}
	return out
}

func newFakeSystem(t *testing.T) (*fakeSystem, *SystemdInstaller) {
	t.Helper()
	f := &fakeSystem{root: t.TempDir(), users: map[string]Account{}, groups: map[string]bool{}}
	if err := os.Chmod(f.root, 0o755); err != nil {
		t.Fatal(err)
	}
	in := &SystemdInstaller{
		Root:  f.root,
		Users: f,
		Run: func(ctx context.Context, argv ...string) ([]byte, error) {
			f.argv = append(f.argv, argv)
			if argv[0] == "useradd" {
				name := argv[len(argv)-1]
				f.users[name] = Account{Name: name, UID: 999, GID: 999, Group: name, GIDs: []int{999}}
				f.groups[name] = true
			}
			return nil, nil
		},
		LookPath: func(string) (string, error) { return "", exec.ErrNotFound },
		Euid:     func() int { return 0 },
		Out:      &f.out,
	}
	return f, in
}

// writeConfig puts the config where the unit says it is.
func (f *fakeSystem) writeConfig(t *testing.T, u *SystemdUnit, text string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(f.root, u.Config.Path())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func TestInstallCreatesUserWritesUnitAndEnables(t *testing.T) {
	f, in := newFakeSystem(t)
	u := installUnit(t, installConfig)
	f.writeConfig(t, u, installConfig, 0o600)
	if err := os.MkdirAll(filepath.Join(f.root, "run/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := in.Install(context.Background(), u, false); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + f.out.String())

	state := filepath.Join(f.root, "var/lib/vigil-agent")
	config := filepath.Join(f.root, installConfigPath)
	want := []string{
		"useradd --system --no-create-home --shell /usr/sbin/nologin --comment Vigil agent --user-group vigil-agent",
		"chown -R vigil-agent:vigil-agent " + state,
		"chgrp vigil-agent " + config,
		"systemctl daemon-reload",
		"systemctl enable vigil-agent.service",
	}
	if got := f.commands(); !slices.Equal(got, want) {
		t.Errorf("commands:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for _, c := range f.commands() {
		if strings.Contains(c, "start") && !strings.Contains(c, "enable") {
			t.Errorf("install started something: %s", c)
		}
	}

	if fi, err := os.Stat(state); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory: %v, %v; want a 0700 directory", fi, err)
	}
	if fi, err := os.Stat(config); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("config mode: %v, %v; want 0640 (readable by the agent's group, not writable)", fi, err)
	}
	got, err := os.ReadFile(filepath.Join(f.root, "etc/systemd/system/vigil-agent.service"))
	if err != nil || string(got) != u.Text() {
		t.Errorf("unit file: %v\n%s", err, got)
	}
	rule, err := os.ReadFile(filepath.Join(f.root, "etc/polkit-1/rules.d/50-vigil-agent.rules"))
	if err != nil || string(rule) != u.PolkitRule() {
		t.Errorf("polkit rule: %v\n%s", err, rule)
	}
	out := f.out.String()
	for _, s := range []string{
		"systemctl start vigil-agent.service",
		`'/opt/vigil tools/vigil-agent' pair-code --config '/etc/vigil agent/agent.yaml'`,
		"50-vigil-agent.rules: vigil-agent may start and stop k2server.service, k2db.service, and no other unit",
		"commands and process services run as vigil-agent",
		"does not exist", // the settings and queue directories
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}
}

func TestInstallUsesAnExistingUser(t *testing.T) {
	f, in := newFakeSystem(t)
	f.users["vigil-agent"] = Account{Name: "vigil-agent", UID: 998, GID: 50, Group: "staff", GIDs: []int{50}}
	u := installUnit(t, installConfig)
	f.writeConfig(t, u, installConfig, 0o644)
	if err := in.Install(context.Background(), u, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.commands() {
		if strings.HasPrefix(c, "useradd") {
			t.Errorf("useradd for a user that exists: %s", c)
		}
		if strings.HasPrefix(c, "chgrp") {
			t.Errorf("the config was already readable, yet: %s", c)
		}
		if c == "systemctl daemon-reload" {
			t.Error("daemon-reload although systemd is not running")
		}
	}
	if !slices.Contains(f.commands(), "chown -R vigil-agent:staff "+filepath.Join(f.root, "var/lib/vigil-agent")) {
		t.Errorf("commands %q: want the state directory given to vigil-agent:staff", f.commands())
	}
	if got := unitLines(u.Text(), "Group"); len(got) != 1 || got[0] != "staff" {
		t.Errorf("Group = %q, want the user's primary group", got)
	}
	if !slices.Contains(f.commands(), "systemctl enable vigil-agent.service") {
		t.Errorf("commands %q: want the unit enabled", f.commands())
	}
}

func TestInstallUserWhoseGroupExists(t *testing.T) {
	f, in := newFakeSystem(t)
	f.groups["vigil-agent"] = true
	u := installUnit(t, installConfig)
	f.writeConfig(t, u, installConfig, 0o644)
	if err := in.Install(context.Background(), u, false); err != nil {
		t.Fatal(err)
	}
	if c := f.commands()[0]; !strings.HasPrefix(c, "useradd ") || !strings.HasSuffix(c, " --gid vigil-agent vigil-agent") {
		t.Errorf("first command %q: want useradd into the existing group", c)
	}
}

func TestInstallWarnsAboutAWritableConfig(t *testing.T) {
	f, in := newFakeSystem(t)
	u := installUnit(t, installConfig)
	f.writeConfig(t, u, installConfig, 0o666)
	if err := in.Install(context.Background(), u, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.out.String(), "warning: /etc/vigil agent/agent.yaml is writable by its group or by everyone") {
		t.Errorf("no warning about a world-writable config:\n%s", f.out.String())
	}
}

func TestInstallUninstallKeepsState(t *testing.T) {
	f, in := newFakeSystem(t)
	u := installUnit(t, installConfig)
	f.writeConfig(t, u, installConfig, 0o640)
	if err := os.MkdirAll(filepath.Join(f.root, "run/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := in.Install(context.Background(), u, false); err != nil {
		t.Fatal(err)
	}
	kept := []string{filepath.Join(f.root, "var/lib/vigil-agent", "agent.key"), filepath.Join(f.root, "var/lib/vigil-agent", ConsolesFile)}
	for _, p := range kept {
		if err := os.WriteFile(p, []byte("keep me\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kept = append(kept, filepath.Join(f.root, installConfigPath))
	f.argv, f.out = nil, bytes.Buffer{}

	if err := in.Uninstall(context.Background(), &SystemdUnit{Name: DefaultUnit, Config: u.Config, User: DefaultAgentUser}); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + f.out.String())
	want := []string{"systemctl disable --now vigil-agent.service", "systemctl daemon-reload"}
	if got := f.commands(); !slices.Equal(got, want) {
		t.Errorf("commands %q, want %q", got, want)
	}
	for _, gone := range []string{"etc/systemd/system/vigil-agent.service", "etc/polkit-1/rules.d/50-vigil-agent.rules"} {
		if _, err := os.Stat(filepath.Join(f.root, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it removed", gone, err)
		}
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v, want it kept", p, err)
		}
	}
	for _, s := range []string{"kept the config /etc/vigil agent/agent.yaml", "the state directory /var/lib/vigil-agent", "the user vigil-agent"} {
		if !strings.Contains(f.out.String(), s) {
			t.Errorf("output lacks %q", s)
		}
	}

	// Once more: nothing left to do, and no error.
	f.argv, f.out = nil, bytes.Buffer{}
	if err := in.Uninstall(context.Background(), &SystemdUnit{Name: DefaultUnit, Config: u.Config}); err != nil {
		t.Fatal(err)
	}
	if len(f.argv) != 0 || !strings.Contains(f.out.String(), "is not installed") {
		t.Errorf("second uninstall ran %q and said %q", f.commands(), f.out.String())
	}
}

func TestInstallRefusedWithoutRoot(t *testing.T) {
	f, in := newFakeSystem(t)
	in.Euid = func() int { return 1000 }
	u := installUnit(t, installConfig)
	f.writeConfig(t, u, installConfig, 0o644)
	err := in.Install(context.Background(), u, false)
	if err == nil || !strings.Contains(err.Error(), "needs root") || !strings.Contains(err.Error(), "--dry-run") {
		t.Fatalf("install as a user: %v, want a refusal that says root and --dry-run", err)
	}
	if err := in.Uninstall(context.Background(), u); err == nil || !strings.Contains(err.Error(), "needs root") {
		t.Errorf("uninstall as a user: %v, want a refusal", err)
	}
	if len(f.argv) != 0 {
		t.Errorf("ran %q", f.commands())
	}
	// A dry run needs no root and changes nothing.
	if err := in.Install(context.Background(), u, true); err != nil {
		t.Fatal(err)
	}
	if len(f.argv) != 0 {
		t.Errorf("dry run ran %q", f.commands())
	}
	entries, _ := os.ReadDir(f.root)
	if len(entries) != 1 || entries[0].Name() != "etc" {
		t.Errorf("dry run wrote under the root: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(f.root, "etc/systemd")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dry run wrote a unit: %v", err)
	}
	out := f.out.String()
	if !strings.Contains(out, u.Text()) || !strings.Contains(out, u.PolkitRule()) || !strings.Contains(out, "would create system user vigil-agent") {
		t.Errorf("dry run output lacks the unit, the rule or the user:\n%s", out)
	}
}

func TestInstallValidation(t *testing.T) {
	for _, tc := range []struct{ name, from, to, want string }{
		{"system state dir", "state_dir: /var/lib/vigil-agent", "state_dir: /var/lib", "system directory"},
		{"state dir holds vendor files", "state_dir: /var/lib/vigil-agent", "state_dir: /srv/k2", "contains the declared directory"},
		{"bad unit name", "unit: k2server}", "unit: 'k2 server'}", "not a systemd unit name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := installUnit(t, strings.Replace(installConfig, tc.from, tc.to, 1))
			if err := u.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
	u := installUnit(t, installConfig)
	u.User = "Not A User"
	if err := u.Validate(); err == nil {
		t.Error("a user name with spaces was accepted")
	}
	for in, want := range map[string]string{"vigil-agent": "vigil-agent.service", "vigil-agent-b.service": "vigil-agent-b.service", "x.timer": "", "a b": "", "-x": ""} {
		got, err := UnitName(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("UnitName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestInstallCommandBadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.yaml")
	bad := strings.Replace(installConfig, "listen: 0.0.0.0:7443", "listen: nowhere", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"install", "--config", path}, {"install", "--config", path, "--dry-run"}} {
		var stdout, stderr bytes.Buffer
		if code := Main(args, &stdout, &stderr); code != ExitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, ExitUsage)
		}
		if !strings.Contains(stderr.String(), path+":4: listen:") {
			t.Errorf("%q: stderr %q, want file:line: field", args, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"install"}, &stdout, &stderr); code != ExitUsage || !strings.Contains(stderr.String(), "--config FILE is required") {
		t.Errorf("install without --config: exit %d, %q", code, stderr.String())
	}
	if code := Main([]string{"install", "--config", path, "--unit", "a b"}, &stdout, &stderr); code != ExitUsage {
		t.Errorf("install with a bad --unit: exit %d", code)
	}
	stdout.Reset()
	if Main([]string{"help"}, &stdout, &stderr); !strings.Contains(stdout.String(), "install --config") || !strings.Contains(stdout.String(), "uninstall --config") {
		t.Errorf("usage does not list install and uninstall:\n%s", stdout.String())
	}
}

// TestInstallUnitVerifies has systemd itself read the unit: a quoting mistake
// in ExecStart shows as a binary that is not there.
func TestInstallUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed; the unit is not checked by systemd itself")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "my bin", "vigil-agent")
	if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, listen := range []string{"0.0.0.0:7443", "0.0.0.0:443"} {
		u := installUnit(t, strings.Replace(installConfig, "0.0.0.0:7443", listen, 1))
		u.Exe = exe
		unitFile := filepath.Join(dir, u.Name)
		if err := os.WriteFile(unitFile, []byte(u.Text()), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", unitFile).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify (listen %s): %v\n%s\nunit:\n%s", listen, err, out, u.Text())
		}
	}
}

func TestInstallWindowsAccount(t *testing.T) {
	cfg, err := ParseConfig("/etc/a.yaml", []byte(installConfig))
	if err != nil {
		t.Fatal(err)
	}
	if acct, _ := WindowsServiceAccount(cfg); acct != `NT AUTHORITY\LocalService` {
		t.Errorf("account %s, want LocalService without windows services", acct)
	}
	cfg.Services = append(cfg.Services, ServiceConfig{Name: "K2", Driver: "windows", WindowsName: "K2 Server"})
	if acct, why := WindowsServiceAccount(cfg); acct != "LocalSystem" || !strings.Contains(why, "K2 Server") {
		t.Errorf("account %s (%s), want LocalSystem and why", acct, why)
	}
}

// After `sudo vigil-agent pair-code`, the code file must belong to the user
// the installed agent runs as, or the agent cannot read it.
func TestInstallPairCodeGoesToTheAgentUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file away")
	}
	state := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, 4321, 4322); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(installConfig, "/var/lib/vigil-agent", state, 1)
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"pair-code", "--config", path}, &stdout, &stderr); code != ExitOK {
		t.Fatalf("pair-code: exit %d: %s", code, stderr.String())
	}
	fi, err := os.Stat(filepath.Join(state, PairCodeFile))
	if err != nil {
		t.Fatal(err)
	}
	if uid, gid := fileOwnerIDs(fi); uid != 4321 || gid != 4322 || fi.Mode().Perm() != 0o600 {
		t.Errorf("code file owned by %d:%d mode %v, want 4321:4322 0600", uid, gid, fi.Mode().Perm())
	}
}
