package agent

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
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

// items walks a list of mappings, checking every key against allowed.
func (p *configParser) items(v *yaml.Node, key string, allowed []string, each func(i int, get func(string) *field) error) error {
	if v.Kind != yaml.SequenceNode {
		return p.fail(v.Line, key, "expected a list")
	}
	names := map[string]int{}
	for i, item := range v.Content {
		where := fmt.Sprintf("%s[%d]", key, i)
		if item.Kind != yaml.MappingNode {
			return p.fail(item.Line, where, "expected a mapping with %s", strings.Join(allowed, ", "))
		}
		fields := map[string]*field{}
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, val := item.Content[j], item.Content[j+1]
			if !slices.Contains(allowed, k.Value) {
				return p.fail(k.Line, where+"."+k.Value, "unknown key; expected one of %s", strings.Join(allowed, ", "))
			}
			if _, dup := fields[k.Value]; dup {
				return p.fail(k.Line, where+"."+k.Value, "given twice")
			}
			fields[k.Value] = &field{key: k, val: val, path: where + "." + k.Value}
		}
		name := fields["name"]
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
		if err := each(i, func(k string) *field { return fields[k] }); err != nil {
			return err
		}
	}
	return nil
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
