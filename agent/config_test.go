package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilops/vigil/model"
)

const goodConfig = `name: K2server1
system: k2-san
profile: k2san
site: north
listen: 127.0.0.1:0
state_dir: state
role_file: /var/run/role
vendor_roles:
  primary: "primary K2 Media Server"
  standby: backup
advertise: false
`

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig("/etc/vigil/agent.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "K2server1" || cfg.System != "k2-san" || cfg.Profile != "k2san" || cfg.Site != "north" ||
		cfg.Listen != "127.0.0.1:0" || cfg.Advertise {
		t.Errorf("parsed %+v", cfg)
	}
	if cfg.StateDir != "/etc/vigil/state" {
		t.Errorf("state_dir = %q, want it relative to the config file", cfg.StateDir)
	}
	if cfg.RoleFile != "/var/run/role" {
		t.Errorf("role_file = %q", cfg.RoleFile)
	}
	if cfg.VendorRoles[model.RolePrimary] != "primary K2 Media Server" || cfg.VendorRoles[model.RoleStandby] != "backup" {
		t.Errorf("vendor roles = %v", cfg.VendorRoles)
	}
}

var badConfigs = []struct {
	name   string
	text   string
	line   int
	field  string
	expect string
}{
	{"unknown key", goodConfig + "colour: red\n", 12, "colour", "unknown key"},
	{"missing name", strings.Replace(goodConfig, "name: K2server1\n", "", 1), 0, "name", "missing"},
	{"missing listen", strings.Replace(goodConfig, "listen: 127.0.0.1:0\n", "", 1), 0, "listen", "missing"},
	{"bad address", strings.Replace(goodConfig, "127.0.0.1:0", "127.0.0.1", 1), 5, "listen", "HOST:PORT"},
	{"bad port", strings.Replace(goodConfig, "127.0.0.1:0", "127.0.0.1:70000", 1), 5, "listen", "0 to 65535"},
	{"host name", strings.Replace(goodConfig, "127.0.0.1:0", "server.example:7443", 1), 5, "listen", "not an IP"},
	{"bad name", strings.Replace(goodConfig, "K2server1", "K2 server 1", 1), 1, "name", "not a valid server name"},
	{"duplicate key", goodConfig + "name: other\n", 12, "name", "given twice (first on line 1)"},
	{"bad role", strings.Replace(goodConfig, "standby: backup", "master: x", 1), 10, "vendor_roles.master", "not one of"},
	{"bad bool", strings.Replace(goodConfig, "advertise: false", "advertise: perhaps", 1), 11, "advertise", "true or false"},
	{"list for name", strings.Replace(goodConfig, "name: K2server1", "name: [a, b]", 1), 1, "name", "single value"},
	{"empty", "", 0, "", "empty"},
	{"not a mapping", "- a\n- b\n", 1, "", "mapping"},
	{"bad yaml", "name: a\n  b: c\n", 2, "", "not valid YAML"},
	{"tabs", "name:\ta\n\tsystem: b\n", 2, "", "not valid YAML"},
}

func TestParseConfigErrors(t *testing.T) {
	const file = "/etc/vigil/agent.yaml"
	for _, tc := range badConfigs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(file, []byte(tc.text))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if ce.File != file || ce.Line != tc.line || ce.Field != tc.field || !strings.Contains(ce.Msg, tc.expect) {
				t.Errorf("got %q (line %d, field %q), want line %d, field %q, message with %q",
					err, ce.Line, ce.Field, tc.line, tc.field, tc.expect)
			}
			if !strings.HasPrefix(err.Error(), file) {
				t.Errorf("%q does not start with the file name", err)
			}
		})
	}
}

func TestExampleConfigsParse(t *testing.T) {
	for _, p := range Profiles {
		cfg, err := ParseConfig("example.yaml", []byte(ExampleConfig(p)))
		if err != nil {
			t.Errorf("example for %s: %v", p, err)
			continue
		}
		if cfg.Profile != p || cfg.VendorRoles[model.RolePrimary] == "" {
			t.Errorf("example for %s parsed as %+v", p, cfg)
		}
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := LoadConfig(path)
	if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want not-exist naming %s", err, path)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	f.Add([]byte(actionsConfig))
	for _, tc := range badConfigs {
		f.Add([]byte(tc.text))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("fuzz.yaml", data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.File != "fuzz.yaml" {
				t.Fatalf("error %v is not a ConfigError naming the file", err)
			}
			return
		}
		if cfg.Name == "" || cfg.System == "" || cfg.Profile == "" || cfg.Listen == "" || cfg.StateDir == "" {
			t.Fatalf("accepted config lacks a required field: %+v", cfg)
		}
		if err := checkListen(cfg.Listen); err != nil {
			t.Fatalf("accepted bad listen %q", cfg.Listen)
		}
	})
}
