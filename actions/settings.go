package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// SettingsRoot is a directory the agent's config declares for settings
// files. Requests name it by Name and give a path relative to Dir.
type SettingsRoot struct {
	Name, Dir string
}

// MaxSettingsSize bounds the settings files the agent reads. Vendor settings
// are kilobytes; anything this large is not one.
const MaxSettingsSize = 8 << 20

// ErrNoKey is the error, wrapped with file and key, of a key that is not in
// the file.
var ErrNoKey = errors.New("not found")

// NewSettingsGet returns the executor of settings.get: it reads one value
// from a settings file inside a declared directory.
//
// Params: dir (a declared name), path (relative to it), key, and optionally
// format (xml, ini or json; by default from the file's extension).
func NewSettingsGet(roots []SettingsRoot) Executor {
	return &settingsGet{roots: slices.Clone(roots)}
}

// NewSettingsSet returns the executor of settings.set: it changes one value
// in a settings file and leaves every other byte of it as it was. The
// previous file is copied into backupDir first; now stamps the copy's name.
//
// Params: dir, path, key, value, and optionally format and, for JSON, type
// (string or raw). It changes existing keys only.
func NewSettingsSet(roots []SettingsRoot, backupDir string, now func() time.Time) Executor {
	if now == nil {
		now = time.Now
	}
	return &settingsSet{roots: slices.Clone(roots), backupDir: backupDir, now: now}
}

type settingsGet struct{ roots []SettingsRoot }

type settingsSet struct {
	roots     []SettingsRoot
	backupDir string
	now       func() time.Time
}

// settingsCodec reads and edits one settings format in place.
type settingsCodec interface {
	// get returns the value of key as a reader of the format sees it.
	get(doc []byte, key string) (string, error)
	// plan returns the splice that makes key read back as value.
	plan(doc []byte, key, value string, opt setOptions) (splice, error)
}

type setOptions struct {
	typ string // JSON only: "", "string" or "raw"
}

// splice replaces doc[start:end] with repl. want is what get returns after
// it; same reports that the key already holds the value.
type splice struct {
	start, end int
	repl       []byte
	want       string
	same       bool
}

func (s splice) apply(doc []byte) []byte {
	out := make([]byte, 0, len(doc)-(s.end-s.start)+len(s.repl))
	out = append(out, doc[:s.start]...)
	out = append(out, s.repl...)
	return append(out, doc[s.end:]...)
}

// editSettings returns doc with key set to value, and the splice that made
// it. It reads the result back before anything is written: an edit that
// does not parse, or does not give the value asked for, must not reach disk.
func editSettings(c settingsCodec, doc []byte, key, value string, opt setOptions) ([]byte, splice, error) {
	sp, err := c.plan(doc, key, value, opt)
	if err != nil || sp.same {
		return doc, sp, err
	}
	out := sp.apply(doc)
	if got, err := c.get(out, key); err != nil || got != sp.want {
		return nil, splice{}, fmt.Errorf("the edited file would not read back as %q (got %q, %v); nothing was written", sp.want, got, err)
	}
	return out, sp, nil
}

func (g *settingsGet) Do(ctx context.Context, params map[string]string, _ bool) (Outcome, error) {
	req, err := parseSettingsParams(params, g.roots, false)
	if err != nil {
		return Outcome{}, err
	}
	f, err := openConfined(req.root.Dir, req.path)
	if err != nil {
		return Outcome{}, err
	}
	defer f.Close()
	doc, _, err := readSettings(f)
	if err != nil {
		return Outcome{}, err
	}
	v, err := req.codec.get(doc, req.key)
	if err != nil {
		return Outcome{}, fmt.Errorf("settings %s: key %s: %w", f.abs, req.key, err)
	}
	return Outcome{Value: v}, nil
}

func (s *settingsSet) Do(ctx context.Context, params map[string]string, dryRun bool) (Outcome, error) {
	req, err := parseSettingsParams(params, s.roots, true)
	if err != nil {
		return Outcome{}, err
	}
	if s.backupDir == "" {
		// Said in the dry run too: it must not promise what the real run refuses.
		return Outcome{}, errors.New("settings.set: no backup directory is configured, and the agent does not edit files without one")
	}
	f, err := openConfined(req.root.Dir, req.path)
	if err != nil {
		return Outcome{}, err
	}
	defer f.Close()
	defer f.lock()()
	old, info, err := readSettings(f)
	if err != nil {
		return Outcome{}, err
	}
	wrap := func(err error) error { return fmt.Errorf("settings %s: key %s: %w", f.abs, req.key, err) }
	doc, sp, err := editSettings(req.codec, old, req.key, req.value, req.opt)
	if errors.Is(err, ErrNoKey) {
		return Outcome{}, wrap(fmt.Errorf("%w; settings.set changes existing keys only, it does not add them", err))
	}
	if err != nil {
		return Outcome{}, wrap(err)
	}
	if sp.same {
		return Outcome{Value: req.value}, nil
	}
	out := Outcome{Changed: true, Diff: UnifiedDiff(f.abs, old, doc), Value: req.value}
	if dryRun {
		return out, nil
	}
	if err := ctx.Err(); err != nil {
		return Outcome{}, err
	}
	if out.Backup, err = s.backup(filepath.Base(f.abs), old); err != nil {
		return Outcome{}, fmt.Errorf("settings %s: backup before editing: %w; nothing was changed", f.abs, err)
	}
	if err := f.replace(doc, info, 0, old); err != nil {
		return Outcome{}, wrap(err)
	}
	return out, nil
}

// backup copies the file's previous content into the backup directory, under
// a name that sorts by time, and syncs it before the original is replaced.
func (s *settingsSet) backup(base string, data []byte) (string, error) {
	if err := os.MkdirAll(s.backupDir, 0o700); err != nil {
		return "", err
	}
	name := filepath.Join(s.backupDir, base+"."+s.now().UTC().Format("20060102T150405.000000000Z")+".bak")
	// Backups may hold passwords: readable by the agent's user only.
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := syncDirPath(s.backupDir); err != nil {
		return "", err
	}
	return name, nil
}

func syncDirPath(dir string) error {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer r.Close()
	return syncDir(r, ".")
}

// readSettings reads a settings file whole, bounded, and refuses encodings
// whose byte offsets the codecs cannot splice.
func readSettings(f *confinedFile) ([]byte, os.FileInfo, error) {
	doc, info, err := f.read(MaxSettingsSize)
	if errors.Is(err, errTooLarge) {
		return nil, nil, fmt.Errorf("settings %s: larger than the %d MiB the agent reads; this is not a settings file", f.abs, MaxSettingsSize>>20)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("settings %s: %w", f.abs, err)
	}
	if bytes.HasPrefix(doc, []byte{0xFF, 0xFE}) || bytes.HasPrefix(doc, []byte{0xFE, 0xFF}) {
		return nil, nil, fmt.Errorf("settings %s: the file is UTF-16; the agent edits only UTF-8 and ASCII files", f.abs)
	}
	return doc, info, nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// stripBOM returns doc without a UTF-8 byte order mark and the mark's length,
// which the codecs add back to their offsets.
func stripBOM(doc []byte) ([]byte, int) {
	if bytes.HasPrefix(doc, utf8BOM) {
		return doc[len(utf8BOM):], len(utf8BOM)
	}
	return doc, 0
}

type settingsRequest struct {
	root             SettingsRoot
	path, key, value string
	codec            settingsCodec
	opt              setOptions
}

func parseSettingsParams(params map[string]string, roots []SettingsRoot, set bool) (settingsRequest, error) {
	allowed := map[string]bool{"dir": true, "path": true, "key": true, "format": true}
	if set {
		allowed["value"], allowed["type"] = true, true
	}
	for k := range params {
		if k == "create" && set {
			return settingsRequest{}, &ParamError{"create", "settings.set changes existing keys only; add a new key by hand"}
		}
		if !allowed[k] {
			return settingsRequest{}, &ParamError{k, "not a parameter of this action"}
		}
	}
	var r settingsRequest
	for _, p := range []struct {
		name string
		dst  *string
	}{{"dir", nil}, {"path", &r.path}, {"key", &r.key}} {
		v, ok := params[p.name]
		if !ok || v == "" {
			return r, &ParamError{p.name, "required"}
		}
		if p.dst != nil {
			*p.dst = v
		}
	}
	// Refuse a bad path before anything else is said about it: refusals are
	// what the audit log must show.
	if _, err := localPath(r.path); err != nil {
		return r, err
	}
	root, ok := findRoot(roots, params["dir"])
	if !ok {
		return r, &ParamError{"dir", fmt.Sprintf("no settings directory %q is declared (declared: %s)", params["dir"], rootNames(roots))}
	}
	r.root = root
	if set {
		v, ok := params["value"]
		if !ok {
			return r, &ParamError{"value", "required (it may be empty)"}
		}
		if !utf8.ValidString(v) {
			return r, &ParamError{"value", "not valid UTF-8"}
		}
		r.value = v
	}
	format := strings.ToLower(params["format"])
	if format == "" {
		format = formatByExt(r.path)
		if format == "" {
			return r, &ParamError{"format", fmt.Sprintf("cannot tell the format of %q from its extension; pass format=xml, ini or json", r.path)}
		}
	}
	switch format {
	case "xml":
		r.codec = xmlCodec{}
	case "ini":
		r.codec = iniCodec{}
	case "json":
		r.codec = jsonCodec{}
	default:
		return r, &ParamError{"format", fmt.Sprintf("%q is not xml, ini or json", format)}
	}
	switch r.opt.typ = params["type"]; {
	case r.opt.typ == "":
	case format != "json":
		return r, &ParamError{"type", "only JSON values have a type"}
	case r.opt.typ != "string" && r.opt.typ != "raw":
		return r, &ParamError{"type", fmt.Sprintf("%q is not string or raw", r.opt.typ)}
	}
	return r, nil
}

func formatByExt(path string) string {
	switch strings.ToLower(filepath.Ext(strings.ReplaceAll(path, `\`, "/"))) {
	case ".xml", ".config":
		return "xml"
	case ".ini", ".cfg", ".conf":
		return "ini"
	case ".json":
		return "json"
	}
	return ""
}

func findRoot(roots []SettingsRoot, name string) (SettingsRoot, bool) {
	for _, r := range roots {
		if r.Name == name {
			return r, true
		}
	}
	return SettingsRoot{}, false
}

func rootNames(roots []SettingsRoot) string {
	names := make([]string, 0, len(roots))
	for _, r := range roots {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
