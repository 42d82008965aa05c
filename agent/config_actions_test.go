package agent

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

const actionsConfig = goodConfig + `services:
  - name: AS_Service
    driver: process
    command: ["/opt/sim/as", "--state", "as"]
    dir: as
    stop_timeout: 5s
  - name: redstor-ss
    driver: systemd
    unit: redstor-ss.service
  - name: K2Server
    driver: windows
    windows_name: "K2 Server"
    autostart: false
settings:
  - name: as
    dir: AS_Service
queues:
  - name: as-tasks
    dir: /srv/redstor/AS_Service/Tasks
commands:
  - name: db-backup
    argv: [/opt/redstor/bin/backup, --database, StoragePlatform]
    timeout: 10m
    unless: [/opt/redstor/bin/backup, --check]
permissions: [read, act]
`

func TestParseActionSections(t *testing.T) {
	cfg, err := ParseConfig("/etc/vigil/agent.yaml", []byte(actionsConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Services) != 3 {
		t.Fatalf("%d services, want 3", len(cfg.Services))
	}
	as := cfg.Services[0]
	if as.Name != "AS_Service" || as.Driver != "process" || !slices.Equal(as.Command, []string{"/opt/sim/as", "--state", "as"}) ||
		as.Dir != "/etc/vigil/as" || as.StopTimeout != 5*time.Second || !as.Autostart {
		t.Errorf("process service = %+v", as)
	}
	if s := cfg.Services[1]; s.Unit != "redstor-ss.service" || s.Driver != "systemd" {
		t.Errorf("systemd service = %+v", s)
	}
	if s := cfg.Services[2]; s.WindowsName != "K2 Server" || s.Autostart {
		t.Errorf("windows service = %+v", s)
	}
	if len(cfg.Settings) != 1 || cfg.Settings[0] != (DirConfig{"as", "/etc/vigil/AS_Service"}) {
		t.Errorf("settings = %+v", cfg.Settings)
	}
	if len(cfg.Queues) != 1 || cfg.Queues[0].Dir != "/srv/redstor/AS_Service/Tasks" {
		t.Errorf("queues = %+v", cfg.Queues)
	}
	c := cfg.Commands[0]
	if c.Name != "db-backup" || len(c.Argv) != 3 || c.Timeout != 10*time.Minute || len(c.Unless) != 2 {
		t.Errorf("command = %+v", c)
	}
	if !slices.Equal(cfg.Permissions, []string{"read", "act"}) {
		t.Errorf("permissions = %v", cfg.Permissions)
	}
	plain, err := ParseConfig("x.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plain.Permissions, []string{"read"}) {
		t.Errorf("default permissions = %v, want read only", plain.Permissions)
	}
}

func TestActionSectionErrors(t *testing.T) {
	for _, tc := range []struct {
		name, replace, with string
		field, expect       string
	}{
		{"unknown driver", "driver: process", "driver: launchd", "services[0].driver", "not a driver"},
		{"missing command", `    command: ["/opt/sim/as", "--state", "as"]` + "\n", "", "services[0].command", "the process driver needs it"},
		{"shell string command", `command: ["/opt/sim/as", "--state", "as"]`, `command: "/opt/sim/as --state as"`, "services[0].command", "no shell"},
		{"field for another driver", "    unit: redstor-ss.service\n", "    unit: redstor-ss.service\n    command: [x]\n", "services[1].command", "not used by the systemd driver"},
		{"duplicate name", "name: redstor-ss", "name: AS_Service", "services[1].name", "declared twice"},
		{"unknown key in item", "stop_timeout: 5s", "stop_after: 5s", "services[0].stop_after", "unknown key"},
		{"bad duration", "timeout: 10m", "timeout: soon", "commands[0].timeout", "not a duration"},
		{"missing dir", "    dir: AS_Service\n", "", "settings[0].dir", "missing"},
		{"bad permission", "permissions: [read, act]", "permissions: [read, root]", "permissions", "not a permission"},
		{"not a list", "queues:\n  - name: as-tasks\n    dir: /srv/redstor/AS_Service/Tasks\n", "queues: /srv/tasks\n", "queues", "expected a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(actionsConfig, tc.replace, tc.with, 1)
			if text == actionsConfig {
				t.Fatalf("replacement %q not found", tc.replace)
			}
			_, err := ParseConfig("agent.yaml", []byte(text))
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(ce.Msg, tc.expect) || ce.Line == 0 && tc.name != "missing command" {
				t.Errorf("err = %v (field %q), want field %q with %q and a line", err, fieldOf(ce), tc.field, tc.expect)
			}
		})
	}
}

func fieldOf(ce *ConfigError) string {
	if ce == nil {
		return ""
	}
	return ce.Field
}
