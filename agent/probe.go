package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// ProbeConfig says where an agent reads its server's role.
type ProbeConfig struct {
	Kind     string            // file, setting, log or command
	File     string            // file, log
	Dir      string            // setting: a declared settings directory
	Path     string            // setting: the file in it
	Key      string            // setting: the key path
	Pattern  *regexp.Regexp    // log: the last match wins; its first group, or the whole match, is the value
	Argv     []string          // command
	Interval time.Duration     // command: how often it runs (default 2s)
	Map      map[string]string // value -> role; "*" for any other value. The file kind needs none.
	// Service, when set, is the declared process service that writes what
	// the probe reads. The probe is believed only while it runs, and a file
	// or setting only once written since it started: what a stopped or
	// crashed service left behind is not its current state.
	Service string

	dirLine, serviceLine int // where dir and service were given, for errors found after parsing
}

// FactConfig is a named value the agent reads with a probe and publishes
// in its status.
type FactConfig struct {
	Name  string
	Probe ProbeConfig
}

// valueProbe reads one value: a file's content, a setting, the last match
// in a log or a command's result. A probe is called every poll interval and
// must be cheap then.
type valueProbe interface {
	value(ctx context.Context) (string, error)
}

// roleProbe reads the role. An error makes the role unknown with the error
// as reason.
type roleProbe interface {
	read(ctx context.Context) (model.Role, error)
}

func newValueProbe(p ProbeConfig, settings []DirConfig) (valueProbe, error) {
	switch p.Kind {
	case "file":
		return &fileProbe{path: p.File}, nil
	case "setting":
		roots := make([]actions.SettingsRoot, len(settings))
		var file string
		for i, d := range settings {
			roots[i] = actions.SettingsRoot{Name: d.Name, Dir: d.Dir}
			if d.Name == p.Dir {
				file = filepath.Join(d.Dir, p.Path)
			}
		}
		return &settingProbe{get: actions.NewSettingsGet(roots), file: file,
			params: map[string]string{"dir": p.Dir, "path": p.Path, "key": p.Key}}, nil
	case "log":
		return &logProbe{path: p.File, re: p.Pattern}, nil
	case "command":
		return &commandProbe{argv: p.Argv, every: p.Interval}, nil
	}
	return nil, fmt.Errorf("probe kind %q", p.Kind)
}

func newProbe(cfg *Config, services serviceStates) (roleProbe, error) {
	if cfg.RoleProbe.Kind == "" {
		return nil, nil
	}
	v, err := newValueProbe(cfg.RoleProbe, cfg.Settings)
	if err != nil {
		return nil, err
	}
	mp := &mappedProbe{v: v, m: cfg.RoleProbe.Map}
	if cfg.RoleProbe.Service != "" {
		mp.v = &gatedProbe{v: v, service: cfg.RoleProbe.Service, states: services}
		mp.gated = true
	}
	return mp, nil
}

// serviceStates tells a gated probe a service's state and when it last
// started running.
type serviceStates func(name string) (actions.ServiceState, time.Time)

// gatedProbe believes its probe only while the service that writes what it
// reads is running, and only what was written since that service started.
type gatedProbe struct {
	v       valueProbe
	service string
	states  serviceStates
}

// serviceDownError says the probe was not read because its service is not
// running; a role probe turns it into a role.
type serviceDownError struct {
	service string
	state   actions.ServiceState
}

func (e *serviceDownError) Error() string { return fmt.Sprintf("service %s is %s", e.service, e.state) }

func (g *gatedProbe) String() string { return fmt.Sprint(g.v) }

func (g *gatedProbe) value(ctx context.Context) (string, error) {
	st, since := g.states(g.service)
	if st != actions.ServiceRunning {
		if r, ok := g.v.(interface{ forget() }); ok {
			r.forget()
		}
		return "", &serviceDownError{g.service, st}
	}
	if f, ok := g.v.(interface{ modified() (time.Time, error) }); ok {
		mt, err := f.modified()
		if err != nil {
			return "", err
		}
		if mt.Before(since) {
			return "", fmt.Errorf("%s not yet written since service %s started at %s", g.v, g.service, since.Format(time.TimeOnly))
		}
	}
	return g.v.value(ctx)
}

// mappedProbe turns a value into a role: through the map, or, for a file
// probe without one, by reading the value as a role.
type mappedProbe struct {
	v     valueProbe
	m     map[string]string
	gated bool
}

// read maps the value to a role.
func (p *mappedProbe) read(ctx context.Context) (model.Role, error) {
	v, err := p.v.value(ctx)
	var down *serviceDownError
	if errors.As(err, &down) {
		// The vendor service is what holds the role: stopped on purpose, the
		// server is out of service; ended by itself, it failed.
		switch down.state {
		case actions.ServiceStopped:
			return model.RoleOutOfService, err
		case actions.ServiceFailed:
			return model.RoleFailed, err
		}
		return model.RoleUnknown, err
	}
	if err != nil {
		return model.RoleUnknown, fmt.Errorf("role %w", err)
	}
	if p.m == nil {
		role, err := model.ParseRole(v)
		if err != nil {
			return model.RoleUnknown, fmt.Errorf("role %s: %w", p.v, err)
		}
		return role, nil
	}
	if c, ok := p.v.(*commandProbe); ok {
		// A command's exit status decides when the map names it.
		if _, ok := p.m[strconv.Itoa(c.code)]; ok {
			return mapRole(p.m, strconv.Itoa(c.code))
		}
	}
	return mapRole(p.m, v)
}

// mapRole turns a probe's value into a role through the configured map.
func mapRole(m map[string]string, value string) (model.Role, error) {
	word, ok := m[value]
	if !ok {
		word, ok = m["*"]
	}
	if !ok {
		return model.RoleUnknown, fmt.Errorf("probe value %q is not in the role map", truncate(value, 80))
	}
	return model.ParseRole(word)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// fileProbe reads a small file whose content is the value, e.g. a role.
type fileProbe struct{ path string }

func (p *fileProbe) String() string { return "file " + p.path }

func (p *fileProbe) modified() (time.Time, error) { return modTime(p.path) }

func modTime(path string) (time.Time, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}, fmt.Errorf("file: %w", err)
	}
	return fi.ModTime(), nil
}

func (p *fileProbe) value(context.Context) (string, error) {
	f, err := os.Open(p.path)
	if err != nil {
		return "", fmt.Errorf("file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRoleFile+1))
	if err != nil {
		return "", fmt.Errorf("file %s: %w", p.path, err)
	}
	if len(b) > maxRoleFile {
		return "", fmt.Errorf("file %s is longer than %d bytes", p.path, maxRoleFile)
	}
	return strings.TrimSpace(string(b)), nil
}

// settingProbe reads one value of a settings file, e.g. Redstor's IsSlave.
type settingProbe struct {
	get    actions.Executor
	params map[string]string
	file   string // for its modification time only; reads go through get's confinement

	// The last value read and the file it came from: an unchanged file is
	// not parsed again (a probe runs ten times a second).
	seen os.FileInfo
	last string
}

func (p *settingProbe) modified() (time.Time, error) { return modTime(p.file) }

func (p *settingProbe) String() string {
	return "setting " + p.params["key"] + " in " + p.params["path"]
}

func (p *settingProbe) value(ctx context.Context) (string, error) {
	fi, statErr := os.Stat(p.file)
	if statErr == nil && p.seen != nil && os.SameFile(fi, p.seen) && fi.ModTime().Equal(p.seen.ModTime()) && fi.Size() == p.seen.Size() {
		return p.last, nil
	}
	out, err := p.get.Do(ctx, p.params, false)
	if err != nil {
		p.seen = nil
		return "", fmt.Errorf("setting: %w", err)
	}
	p.last = strings.TrimSpace(out.Value)
	p.seen = nil
	if statErr == nil {
		p.seen = fi
	}
	return p.last, nil
}

// maxLogScan bounds how much of a log the probe reads when it starts or the
// log is replaced; after that it reads only what was appended.
const maxLogScan = 8 << 20

// logProbe follows a log and keeps the last match of a pattern, as an
// operator reading Infocast's log for "Primary/coordinator: <address>" would.
type logProbe struct {
	path   string
	re     *regexp.Regexp
	offset int64
	ident  os.FileInfo // to notice rotation
	last   string      // the value of the last match so far
	seen   bool
	carry  []byte // an unfinished last line
}

func (p *logProbe) String() string { return "log " + p.path }

// forget drops the last match, so that only lines written after the service
// starts again count.
func (p *logProbe) forget() { p.scan(); p.seen, p.last = false, "" }

func (p *logProbe) value(context.Context) (string, error) {
	if err := p.scan(); err != nil {
		return "", err
	}
	if !p.seen {
		return "", fmt.Errorf("log %s has no line matching %s yet", p.path, p.re)
	}
	return p.last, nil
}

func (p *logProbe) scan() error {
	f, err := os.Open(p.path)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("log %s: %w", p.path, err)
	}
	if p.ident == nil || !os.SameFile(p.ident, fi) || fi.Size() < p.offset {
		// New, rotated or truncated: start again from the tail.
		p.ident, p.offset, p.seen, p.last, p.carry = fi, max(0, fi.Size()-maxLogScan), false, "", nil
	}
	if fi.Size() == p.offset {
		return nil
	}
	if _, err := f.Seek(p.offset, io.SeekStart); err != nil {
		return fmt.Errorf("log %s: %w", p.path, err)
	}
	chunk, err := io.ReadAll(io.LimitReader(f, maxLogScan))
	if err != nil {
		return fmt.Errorf("log %s: %w", p.path, err)
	}
	p.offset += int64(len(chunk))
	data := append(p.carry, chunk...)
	end := strings.LastIndexByte(string(data), '\n') + 1
	p.carry = append([]byte(nil), data[end:]...)
	if len(p.carry) > 64<<10 {
		p.carry = nil // a line this long is not one the pattern is for
	}
	if ms := p.re.FindAllSubmatch(data[:end], -1); len(ms) > 0 {
		m := ms[len(ms)-1]
		v := m[0]
		if len(m) > 1 {
			v = m[1]
		}
		p.last, p.seen = strings.TrimSpace(string(v)), true
	}
	return nil
}

// commandProbe runs a command now and then. Its value is the trimmed
// output; code keeps the exit status for role maps that name it.
type commandProbe struct {
	argv    []string
	every   time.Duration
	lastRun time.Time
	out     string
	code    int
	err     error
}

func (p *commandProbe) String() string { return "command " + p.argv[0] }

func (p *commandProbe) value(ctx context.Context) (string, error) {
	if !p.lastRun.IsZero() && time.Since(p.lastRun) < p.every {
		return p.out, p.err
	}
	p.lastRun = time.Now()
	p.out, p.code, p.err = p.run(ctx)
	return p.out, p.err
}

func (p *commandProbe) run(ctx context.Context) (string, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p.argv[0], p.argv[1:]...).Output()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		return "", -1, fmt.Errorf("command %s: %w", p.argv[0], err)
	}
	return strings.TrimSpace(string(truncateBytes(out, 4096))), code, nil
}

func truncateBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
