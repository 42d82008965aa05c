package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vigilops/vigil/model"
)

// Config is an agent's configuration file.
type Config struct {
	Name        string                // server name; also the mDNS instance name
	System      string                // the redundant installation it belongs to
	Profile     string                // vendor profile, e.g. k2san
	Site        string                // optional
	Listen      string                // host:port of the HTTPS API; port 0 picks a free one
	StateDir    string                // keys, identity and the bound address live here
	RoleFile    string                // file whose content is the generic role (shorthand for a file probe)
	RoleProbe   ProbeConfig           // where the role is read
	Facts       []FactConfig          // values published in the status beside the role
	VendorRoles map[model.Role]string // the vendor's word for each generic role
	Advertise   bool                  // announce by mDNS (default true)

	// What the agent may act on; nothing else.
	Services    []ServiceConfig
	Settings    []DirConfig // directories whose settings files may be read and edited
	Queues      []DirConfig // task queue directories task files may be dropped into
	Commands    []CommandConfig
	Permissions []string     // granted to a console when it pairs (default: read)
	Peers       []PeerConfig // the other servers of the system, whose agents this one checks

	path string
}

// configParser carries the file being parsed, for errors.
type configParser struct {
	path string
	cfg  *Config
}

func (p *configParser) fail(line int, field, format string, args ...any) error {
	return &ConfigError{File: p.path, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Path is the file the configuration was read from.
func (c *Config) Path() string { return c.path }

// ConfigError is a problem in a configuration file, with where it is.
type ConfigError struct {
	File  string
	Line  int // 0 when the problem has no single line (a missing field)
	Field string
	Msg   string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": %s", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Profiles are the vendor profiles Vigil knows.
var Profiles = []string{"k2san", "redstor", "nintex", "infocast", "wavestore"}

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	profileRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
)

// maxConfigSize bounds what LoadConfig reads: a config is a few hundred bytes.
const maxConfigSize = 1 << 20

// LoadConfig reads and checks an agent configuration file. Relative paths in
// it are taken from the file's own directory. Every error is a *ConfigError,
// or names the file when it cannot be read at all.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read agent config: %w", err)
	}
	if len(data) > maxConfigSize {
		return nil, &ConfigError{File: path, Msg: fmt.Sprintf("file is %d bytes; a config is at most %d", len(data), maxConfigSize)}
	}
	return ParseConfig(path, data)
}

// ParseConfig checks configuration text; path is used in errors and to
// resolve relative paths.
func ParseConfig(path string, data []byte) (*Config, error) {
	cfg := &Config{Advertise: true, VendorRoles: map[model.Role]string{}, Permissions: []string{PermRead}, path: path}
	p := &configParser{path: path, cfg: cfg}
	fail := p.fail

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fail(yamlLine(err), "", "not valid YAML: %s", yamlMsg(err))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fail(0, "", "file is empty; run `vigil-agent init --profile PROFILE` for an example")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fail(root.Line, "", "expected a mapping of keys to values at the top level")
	}

	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := k.Value
		if prev, dup := seen[key]; dup {
			return nil, fail(k.Line, key, "given twice (first on line %d)", prev)
		}
		seen[key] = k.Line
		switch key {
		case "name", "system", "profile", "site", "listen", "state_dir", "role_file":
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				return nil, fail(v.Line, key, "expected a single value")
			}
		}
		switch key {
		case "name":
			if !nameRE.MatchString(v.Value) {
				return nil, fail(v.Line, key, "%q is not a valid server name: expected 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", v.Value)
			}
			cfg.Name = v.Value
		case "system":
			if !nameRE.MatchString(v.Value) {
				return nil, fail(v.Line, key, "%q is not a valid system name: expected 1 to 63 letters, digits, '.', '_' or '-'", v.Value)
			}
			cfg.System = v.Value
		case "profile":
			if !profileRE.MatchString(v.Value) {
				return nil, fail(v.Line, key, "%q is not a valid profile: expected one of %s", v.Value, strings.Join(Profiles, ", "))
			}
			cfg.Profile = v.Value
		case "site":
			cfg.Site = strings.TrimSpace(v.Value)
		case "listen":
			if err := checkListen(v.Value); err != nil {
				return nil, fail(v.Line, key, "%v", err)
			}
			cfg.Listen = v.Value
		case "state_dir":
			cfg.StateDir = resolve(path, v.Value)
		case "role_file":
			cfg.RoleFile = resolve(path, v.Value)
		case "advertise":
			b, err := strconv.ParseBool(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil {
				return nil, fail(v.Line, key, "expected true or false, got %q", v.Value)
			}
			cfg.Advertise = b
		case "vendor_roles":
			if v.Kind != yaml.MappingNode {
				return nil, fail(v.Line, key, "expected a mapping from role (primary, standby, ...) to the vendor's word")
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				rk, rv := v.Content[j], v.Content[j+1]
				role, err := model.ParseRole(rk.Value)
				if err != nil {
					return nil, fail(rk.Line, key+"."+rk.Value, "%v", err)
				}
				if rv.Kind != yaml.ScalarNode {
					return nil, fail(rv.Line, key+"."+rk.Value, "expected the vendor's word for this role")
				}
				cfg.VendorRoles[role] = rv.Value
			}
		case "role_probe":
			if err := p.roleProbe(v); err != nil {
				return nil, err
			}
		case "facts":
			if err := p.facts(v); err != nil {
				return nil, err
			}
		case "services":
			if err := p.services(v); err != nil {
				return nil, err
			}
		case "settings":
			if err := p.dirs(v, key, &cfg.Settings); err != nil {
				return nil, err
			}
		case "queues":
			if err := p.dirs(v, key, &cfg.Queues); err != nil {
				return nil, err
			}
		case "peers":
			if err := p.peers(v); err != nil {
				return nil, err
			}
		case "commands":
			if err := p.commands(v); err != nil {
				return nil, err
			}
		case "permissions":
			if err := p.permissions(v); err != nil {
				return nil, err
			}
		default:
			return nil, fail(k.Line, key, "unknown key; expected one of %s", strings.Join(configKeys, ", "))
		}
	}
	for _, req := range []struct {
		field string
		value string
	}{{"name", cfg.Name}, {"system", cfg.System}, {"profile", cfg.Profile}, {"listen", cfg.Listen}, {"state_dir", cfg.StateDir}} {
		if req.value == "" {
			return nil, fail(0, req.field, "missing; it is required")
		}
	}
	if cfg.RoleFile != "" {
		if cfg.RoleProbe.Kind != "" {
			return nil, fail(seen["role_file"], "role_file", "role_file and role_probe both say where the role is; keep one")
		}
		cfg.RoleProbe = ProbeConfig{Kind: "file", File: cfg.RoleFile}
	}
	if err := p.checkProbeDirs(); err != nil {
		return nil, err
	}
	return cfg, nil
}

var configKeys = func() []string {
	k := []string{"name", "system", "profile", "site", "listen", "state_dir", "role_file", "vendor_roles", "advertise",
		"services", "settings", "queues", "commands", "permissions", "role_probe", "facts", "peers"}
	sort.Strings(k)
	return k
}()

func checkListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not an address: expected HOST:PORT such as 0.0.0.0:7443 or 127.0.0.1:7443", s)
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		return fmt.Errorf("host %q in %q is not an IP address: expected an IP such as 0.0.0.0, 127.0.0.1 or ::", host, s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("port %q in %q: expected a number from 0 to 65535", port, s)
	}
	return nil
}

func resolve(configPath, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(configPath), p)
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func yamlLine(err error) int {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

var yamlPrefixRE = regexp.MustCompile(`^(yaml: )?(line \d+: )?`)

func yamlMsg(err error) string {
	return yamlPrefixRE.ReplaceAllString(err.Error(), "")
}
