package agent

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigilops/vigil/model"
)

// ServiceConfig declares a service the agent may start, stop and query.
type ServiceConfig struct {
	Name        string
	Driver      string   // process, systemd or windows
	Command     []string // process: the command line the agent supervises
	Dir         string   // process: working directory
	Unit        string   // systemd: the unit name
	WindowsName string   // windows: the service name
	StopTimeout time.Duration
	Autostart   bool // process: start when the agent starts (default true)
}

// DirConfig declares a directory by the name requests use for it.
type DirConfig struct {
	Name string
	Dir  string
}

// CommandConfig declares a command the agent may run, as argv.
type CommandConfig struct {
	Name    string
	Argv    []string
	Dir     string
	Timeout time.Duration
	Unless  []string // argv; exit 0 means already done, so the command is skipped
}

// Permissions a console may be granted when it pairs.
const (
	PermRead = "read"
	PermAct  = "act"
)

// field is one key of a mapping item and where it stood.
type field struct {
	key  *yaml.Node
	val  *yaml.Node
	path string // e.g. services[1].driver, for errors
}

// items walks a list of mappings, checking every key against allowed and
// that names are unique.
func (p *configParser) items(v *yaml.Node, key string, allowed []string, each func(i int, get func(string) *field) error) error {
	if v.Kind != yaml.SequenceNode {
		return p.fail(v.Line, key, "expected a list")
	}
	names := map[string]int{}
	for i, item := range v.Content {
		where := fmt.Sprintf("%s[%d]", key, i)
		get, err := p.item(item, where, allowed)
		if err != nil {
			return err
		}
		name := get("name")
		if name == nil {
			return p.fail(item.Line, where+".name", "missing; every entry needs a name that requests use")
		}
		if !nameRE.MatchString(name.val.Value) {
			return p.fail(name.val.Line, name.path, "%q is not a valid name: expected letters, digits, '.', '_' or '-'", name.val.Value)
		}
		if prev, dup := names[name.val.Value]; dup {
			return p.fail(name.val.Line, name.path, "%q is declared twice (first in %s[%d])", name.val.Value, key, prev)
		}
		names[name.val.Value] = i
		if err := each(i, get); err != nil {
			return err
		}
	}
	return nil
}

// item checks one mapping's keys and returns a lookup of its fields.
func (p *configParser) item(item *yaml.Node, where string, allowed []string) (func(string) *field, error) {
	if item.Kind != yaml.MappingNode {
		return nil, p.fail(item.Line, where, "expected a mapping with %s", strings.Join(allowed, ", "))
	}
	fields := map[string]*field{}
	for j := 0; j+1 < len(item.Content); j += 2 {
		k, val := item.Content[j], item.Content[j+1]
		if !slices.Contains(allowed, k.Value) {
			return nil, p.fail(k.Line, where+"."+k.Value, "unknown key; expected one of %s", strings.Join(allowed, ", "))
		}
		if _, dup := fields[k.Value]; dup {
			return nil, p.fail(k.Line, where+"."+k.Value, "given twice")
		}
		fields[k.Value] = &field{key: k, val: val, path: where + "." + k.Value}
	}
	return func(k string) *field { return fields[k] }, nil
}

func (p *configParser) scalar(f *field) (string, error) {
	if f.val.Kind != yaml.ScalarNode || f.val.Tag == "!!null" || f.val.Value == "" {
		return "", p.fail(f.val.Line, f.path, "expected a single value")
	}
	return f.val.Value, nil
}

func (p *configParser) argv(f *field) ([]string, error) {
	if f.val.Kind != yaml.SequenceNode || len(f.val.Content) == 0 {
		return nil, p.fail(f.val.Line, f.path, "expected a list of arguments, program first, e.g. [\"/usr/bin/backup\", \"--now\"] (no shell is used)")
	}
	out := make([]string, len(f.val.Content))
	for i, a := range f.val.Content {
		if a.Kind != yaml.ScalarNode {
			return nil, p.fail(a.Line, f.path, "argument %d is not a single value", i)
		}
		out[i] = a.Value
	}
	return out, nil
}

func (p *configParser) duration(f *field) (time.Duration, error) {
	s, err := p.scalar(f)
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > 24*time.Hour {
		return 0, p.fail(f.val.Line, f.path, "%q is not a duration such as 30s or 5m (at most 24h)", s)
	}
	return d, nil
}

func (p *configParser) services(v *yaml.Node) error {
	return p.items(v, "services", []string{"name", "driver", "command", "dir", "unit", "windows_name", "stop_timeout", "autostart"},
		func(i int, get func(string) *field) error {
			s := ServiceConfig{Name: get("name").val.Value, Autostart: true}
			where := fmt.Sprintf("services[%d]", i)
			d := get("driver")
			if d == nil {
				return p.fail(v.Content[i].Line, where+".driver", "missing; expected process, systemd or windows")
			}
			s.Driver = d.val.Value
			need := map[string]string{"process": "command", "systemd": "unit", "windows": "windows_name"}[s.Driver]
			if need == "" {
				return p.fail(d.val.Line, d.path, "%q is not a driver: expected process, systemd or windows", s.Driver)
			}
			if get(need) == nil {
				return p.fail(d.val.Line, where+"."+need, "missing; the %s driver needs it", s.Driver)
			}
			var err error
			for _, k := range []string{"command", "dir", "unit", "windows_name", "stop_timeout", "autostart"} {
				f := get(k)
				if f == nil {
					continue
				}
				if k != "stop_timeout" && k != "autostart" && k != need && !(k == "dir" && s.Driver == "process") {
					return p.fail(f.key.Line, f.path, "not used by the %s driver", s.Driver)
				}
				switch k {
				case "command":
					s.Command, err = p.argv(f)
				case "dir":
					s.Dir, err = p.scalar(f)
					s.Dir = resolve(p.path, s.Dir)
				case "unit":
					s.Unit, err = p.scalar(f)
				case "windows_name":
					s.WindowsName, err = p.scalar(f)
				case "stop_timeout":
					s.StopTimeout, err = p.duration(f)
				case "autostart":
					s.Autostart, err = p.boolean(f)
				}
				if err != nil {
					return err
				}
			}
			p.cfg.Services = append(p.cfg.Services, s)
			return nil
		})
}

func (p *configParser) dirs(v *yaml.Node, key string, dst *[]DirConfig) error {
	return p.items(v, key, []string{"name", "dir"}, func(i int, get func(string) *field) error {
		f := get("dir")
		if f == nil {
			return p.fail(v.Content[i].Line, fmt.Sprintf("%s[%d].dir", key, i), "missing; expected the directory's path")
		}
		dir, err := p.scalar(f)
		if err != nil {
			return err
		}
		*dst = append(*dst, DirConfig{Name: get("name").val.Value, Dir: resolve(p.path, dir)})
		return nil
	})
}

// PeerConfig is another server of the same system whose agent this one
// checks, so a console that loses a server can ask its peers whether it is
// gone or only out of the console's reach.
type PeerConfig struct {
	Name    string
	Address string // host:port of the peer's agent API
}

func (p *configParser) peers(v *yaml.Node) error {
	return p.items(v, "peers", []string{"name", "address"}, func(i int, get func(string) *field) error {
		f := get("address")
		if f == nil {
			return p.fail(v.Content[i].Line, fmt.Sprintf("peers[%d].address", i), "missing; expected the peer agent's HOST:PORT")
		}
		addr, err := p.scalar(f)
		if err != nil {
			return err
		}
		if err := checkListen(addr); err != nil {
			return p.fail(f.val.Line, f.path, "%v", err)
		}
		if _, port, _ := net.SplitHostPort(addr); port == "0" {
			return p.fail(f.val.Line, f.path, "port 0 picks a free port when listening; a peer needs its real port")
		}
		p.cfg.Peers = append(p.cfg.Peers, PeerConfig{Name: get("name").val.Value, Address: addr})
		return nil
	})
}

func (p *configParser) commands(v *yaml.Node) error {
	return p.items(v, "commands", []string{"name", "argv", "dir", "timeout", "unless"}, func(i int, get func(string) *field) error {
		c := CommandConfig{Name: get("name").val.Value}
		f := get("argv")
		if f == nil {
			return p.fail(v.Content[i].Line, fmt.Sprintf("commands[%d].argv", i), "missing; expected the command as a list of arguments")
		}
		var err error
		if c.Argv, err = p.argv(f); err != nil {
			return err
		}
		if f := get("unless"); f != nil {
			if c.Unless, err = p.argv(f); err != nil {
				return err
			}
		}
		if f := get("timeout"); f != nil {
			if c.Timeout, err = p.duration(f); err != nil {
				return err
			}
		}
		if f := get("dir"); f != nil {
			if c.Dir, err = p.scalar(f); err != nil {
				return err
			}
			c.Dir = resolve(p.path, c.Dir)
		}
		p.cfg.Commands = append(p.cfg.Commands, c)
		return nil
	})
}

func (p *configParser) permissions(v *yaml.Node) error {
	if v.Kind != yaml.SequenceNode {
		return p.fail(v.Line, "permissions", "expected a list: [read] or [read, act]")
	}
	p.cfg.Permissions = nil
	for _, n := range v.Content {
		if n.Value != PermRead && n.Value != PermAct {
			return p.fail(n.Line, "permissions", "%q is not a permission: expected read or act", n.Value)
		}
		if !slices.Contains(p.cfg.Permissions, n.Value) {
			p.cfg.Permissions = append(p.cfg.Permissions, n.Value)
		}
	}
	return nil
}

func (p *configParser) boolean(f *field) (bool, error) {
	switch f.val.Value {
	case "true", "yes", "on":
		return true, nil
	case "false", "no", "off":
		return false, nil
	}
	return false, p.fail(f.val.Line, f.path, "expected true or false, got %q", f.val.Value)
}

// probeKeys are the keys a probe (role_probe, or an entry of facts) may have.
var probeKeys = []string{"kind", "file", "dir", "path", "key", "pattern", "argv", "interval", "map", "service"}

// roleProbe parses role_probe: a mapping naming its kind and what it reads.
func (p *configParser) roleProbe(v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return p.fail(v.Line, "role_probe", "expected a mapping with kind: file, setting, log or command")
	}
	get, err := p.item(v, "role_probe", probeKeys)
	if err != nil {
		return err
	}
	pc, err := p.probe(v, "role_probe", get, true)
	if err != nil {
		return err
	}
	p.cfg.RoleProbe = pc
	return nil
}

// facts parses facts: named probes whose values the agent publishes in its
// status, e.g. whether a K2 backup is qualified or how far a mirror lags.
func (p *configParser) facts(v *yaml.Node) error {
	return p.items(v, "facts", append([]string{"name"}, probeKeys...), func(i int, get func(string) *field) error {
		where := fmt.Sprintf("facts[%d]", i)
		pc, err := p.probe(v.Content[i], where, get, false)
		if err != nil {
			return err
		}
		p.cfg.Facts = append(p.cfg.Facts, FactConfig{Name: get("name").val.Value, Probe: pc})
		return nil
	})
}

// probe reads the fields of one probe. A role probe must map values to
// roles (except a file probe, whose content is the role); a fact publishes
// the value itself and takes no map.
func (p *configParser) probe(v *yaml.Node, where string, get func(string) *field, role bool) (ProbeConfig, error) {
	pc := ProbeConfig{Interval: 2 * time.Second}
	kind := get("kind")
	if kind == nil {
		return pc, p.fail(v.Line, where+".kind", "missing; expected file, setting, log or command")
	}
	pc.Kind = kind.val.Value
	needs := map[string][]string{"file": {"file"}, "setting": {"dir", "path", "key"},
		"log": {"file", "pattern"}, "command": {"argv"}}[pc.Kind]
	if needs == nil {
		return pc, p.fail(kind.val.Line, where+".kind", "%q is not a probe: expected file, setting, log or command", pc.Kind)
	}
	if role && pc.Kind != "file" {
		needs = append(needs, "map")
	}
	for _, k := range probeKeys[1:] {
		f := get(k)
		if f == nil {
			if slices.Contains(needs, k) {
				return pc, p.fail(v.Line, where+"."+k, "missing; a %s probe needs it", pc.Kind)
			}
			continue
		}
		if !slices.Contains(needs, k) && !(k == "interval" && pc.Kind == "command") && k != "service" {
			if k == "map" && !role {
				return pc, p.fail(f.key.Line, f.path, "a fact publishes the value itself and takes no map")
			}
			return pc, p.fail(f.key.Line, f.path, "not used by a %s probe", pc.Kind)
		}
		var err error
		switch k {
		case "file":
			pc.File, err = p.scalar(f)
			pc.File = resolve(p.path, pc.File)
		case "dir":
			pc.Dir, err = p.scalar(f)
		case "path":
			pc.Path, err = p.scalar(f)
		case "key":
			pc.Key, err = p.scalar(f)
		case "pattern":
			var s string
			if s, err = p.scalar(f); err == nil {
				if pc.Pattern, err = regexp.Compile(s); err != nil {
					return pc, p.fail(f.val.Line, f.path, "not a regular expression: %v", err)
				}
			}
		case "argv":
			pc.Argv, err = p.argv(f)
		case "interval":
			pc.Interval, err = p.duration(f)
		case "map":
			pc.Map, err = p.roleMap(f)
		case "service":
			pc.Service, err = p.scalar(f)
			pc.serviceLine = f.val.Line
		}
		if err != nil {
			return pc, err
		}
	}
	if pc.Kind == "setting" {
		pc.dirLine = get("dir").val.Line
	}
	return pc, nil
}

// checkProbeDirs checks, once the whole file is read, that every setting
// probe names a declared settings directory.
func (p *configParser) checkProbeDirs() error {
	check := func(pc ProbeConfig, where string) error {
		if pc.Kind == "setting" && !slices.ContainsFunc(p.cfg.Settings, func(d DirConfig) bool { return d.Name == pc.Dir }) {
			return p.fail(pc.dirLine, where+".dir", "%q is not a declared settings directory (declare it under settings:)", pc.Dir)
		}
		if pc.Service != "" && !slices.ContainsFunc(p.cfg.Services, func(s ServiceConfig) bool { return s.Name == pc.Service && s.Driver == "process" }) {
			return p.fail(pc.serviceLine, where+".service", "%q is not a declared service of the process driver, whose state the agent follows", pc.Service)
		}
		return nil
	}
	if err := check(p.cfg.RoleProbe, "role_probe"); err != nil {
		return err
	}
	for i, f := range p.cfg.Facts {
		if err := check(f.Probe, fmt.Sprintf("facts[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

func (p *configParser) roleMap(f *field) (map[string]string, error) {
	if f.val.Kind != yaml.MappingNode || len(f.val.Content) == 0 {
		return nil, p.fail(f.val.Line, f.path, `expected a mapping from value to role, e.g. {"False": primary, "True": standby}`)
	}
	m := map[string]string{}
	for i := 0; i+1 < len(f.val.Content); i += 2 {
		k, r := f.val.Content[i], f.val.Content[i+1]
		if _, err := model.ParseRole(r.Value); err != nil {
			return nil, p.fail(r.Line, f.path+"."+k.Value, "%v", err)
		}
		m[k.Value] = r.Value
	}
	return m, nil
}
