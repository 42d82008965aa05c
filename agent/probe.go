package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
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
}

// roleProbe reads the role. A probe is called every poll interval and must
// be cheap then; an error makes the role unknown with the error as reason.
type roleProbe interface {
	read(ctx context.Context) (model.Role, error)
}

func newProbe(cfg *Config) (roleProbe, error) {
	p := cfg.RoleProbe
	switch p.Kind {
	case "":
		return nil, nil
	case "file":
		return &fileProbe{path: p.File}, nil
	case "setting":
		roots := make([]actions.SettingsRoot, len(cfg.Settings))
		for i, d := range cfg.Settings {
			roots[i] = actions.SettingsRoot{Name: d.Name, Dir: d.Dir}
		}
		return &settingProbe{get: actions.NewSettingsGet(roots),
			params: map[string]string{"dir": p.Dir, "path": p.Path, "key": p.Key}, m: p.Map}, nil
	case "log":
		return &logProbe{path: p.File, re: p.Pattern, m: p.Map}, nil
	case "command":
		return &commandProbe{argv: p.Argv, every: p.Interval, m: p.Map}, nil
	}
	return nil, fmt.Errorf("role probe kind %q", p.Kind)
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

// fileProbe reads a file whose content is the role itself.
type fileProbe struct{ path string }

func (p *fileProbe) read(context.Context) (model.Role, error) {
	f, err := os.Open(p.path)
	if err != nil {
		return model.RoleUnknown, fmt.Errorf("role file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRoleFile+1))
	if err != nil {
		return model.RoleUnknown, fmt.Errorf("role file %s: %w", p.path, err)
	}
	if len(b) > maxRoleFile {
		return model.RoleUnknown, fmt.Errorf("role file %s is longer than %d bytes", p.path, maxRoleFile)
	}
	role, err := model.ParseRole(string(b))
	if err != nil {
		return model.RoleUnknown, fmt.Errorf("role file %s: %w", p.path, err)
	}
	return role, nil
}

// settingProbe reads one value of a settings file, e.g. Redstor's IsSlave.
type settingProbe struct {
	get    actions.Executor
	params map[string]string
	m      map[string]string
}

func (p *settingProbe) read(ctx context.Context) (model.Role, error) {
	out, err := p.get.Do(ctx, p.params, false)
	if err != nil {
		return model.RoleUnknown, fmt.Errorf("role setting: %w", err)
	}
	return mapRole(p.m, strings.TrimSpace(out.Value))
}

// maxLogScan bounds how much of a log the probe reads when it starts or the
// log is replaced; after that it reads only what was appended.
const maxLogScan = 8 << 20

// logProbe follows a log and keeps the last match of a pattern, as an
// operator reading Infocast's log for "Primary/coordinator: <address>" would.
type logProbe struct {
	path   string
	re     *regexp.Regexp
	m      map[string]string
	offset int64
	ident  os.FileInfo // to notice rotation
	last   string      // the value of the last match so far
	seen   bool
	carry  []byte // an unfinished last line
}

func (p *logProbe) read(context.Context) (model.Role, error) {
	if err := p.scan(); err != nil {
		return model.RoleUnknown, err
	}
	if !p.seen {
		return model.RoleUnknown, fmt.Errorf("log %s has no line matching %s yet", p.path, p.re)
	}
	return mapRole(p.m, p.last)
}

func (p *logProbe) scan() error {
	f, err := os.Open(p.path)
	if err != nil {
		return fmt.Errorf("role log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("role log %s: %w", p.path, err)
	}
	if p.ident == nil || !os.SameFile(p.ident, fi) || fi.Size() < p.offset {
		// New, rotated or truncated: start again from the tail.
		p.ident, p.offset, p.seen, p.last, p.carry = fi, max(0, fi.Size()-maxLogScan), false, "", nil
	}
	if fi.Size() == p.offset {
		return nil
	}
	if _, err := f.Seek(p.offset, io.SeekStart); err != nil {
		return fmt.Errorf("role log %s: %w", p.path, err)
	}
	chunk, err := io.ReadAll(io.LimitReader(f, maxLogScan))
	if err != nil {
		return fmt.Errorf("role log %s: %w", p.path, err)
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

// commandProbe runs a command now and then and maps its exit status, or
// its output when the map has no entry for the status.
type commandProbe struct {
	argv    []string
	every   time.Duration
	m       map[string]string
	lastRun time.Time
	role    model.Role
	err     error
}

func (p *commandProbe) read(ctx context.Context) (model.Role, error) {
	if !p.lastRun.IsZero() && time.Since(p.lastRun) < p.every {
		return p.role, p.err
	}
	p.lastRun = time.Now()
	p.role, p.err = p.run(ctx)
	return p.role, p.err
}

func (p *commandProbe) run(ctx context.Context) (model.Role, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p.argv[0], p.argv[1:]...).Output()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		return model.RoleUnknown, fmt.Errorf("role command %s: %w", p.argv[0], err)
	}
	if _, ok := p.m[strconv.Itoa(code)]; ok {
		return mapRole(p.m, strconv.Itoa(code))
	}
	return mapRole(p.m, strings.TrimSpace(string(truncateBytes(out, 4096))))
}

func truncateBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
