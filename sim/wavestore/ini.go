package wavestore

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// maxINI bounds what the simulation reads of one of its files: Wavestore's
// settings are a few hundred bytes.
const maxINI = 1 << 20

// iniFile is one parsed settings file. Keys are "Section.Key" and match
// without regard to case, as the agent's settings codec reads them, so that
// what an operator edits with settings.set is what the service reads.
type iniFile struct {
	path string
	vals map[string]iniValue // lower-case "section.key"
	secs []string            // section names as written, in order, once each
}

type iniValue struct {
	v    string
	line int
}

// readINI reads and parses an INI file; every error names the file.
func readINI(path string) (*iniFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxINI+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxINI {
		return nil, fmt.Errorf("%s: larger than %d bytes; this is not a Wavestore settings file", path, maxINI)
	}
	return parseINI(path, data)
}

// parseINI parses "key = value" lines under "[section]" headers. The first
// '=' or ':' separates key from value; ';' and '#' start comment lines; one
// pair of enclosing quotes is dropped. Anything else is an error with its
// line: a corrupt settings file must not be half read.
func parseINI(path string, data []byte) (*iniFile, error) {
	data = bytes.TrimPrefix(data, []byte{0xEF, 0xBB, 0xBF})
	f := &iniFile{path: path, vals: map[string]iniValue{}}
	section := ""
	for n, raw := range strings.Split(string(data), "\n") {
		ln := n + 1
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		switch {
		case line == "" || line[0] == ';' || line[0] == '#':
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				return nil, fmt.Errorf("%s:%d: a section header must be [Name], got %q", path, ln, line)
			}
			section = strings.TrimSpace(line[1 : len(line)-1])
			if !slices.ContainsFunc(f.secs, func(s string) bool { return strings.EqualFold(s, section) }) {
				f.secs = append(f.secs, section)
			}
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("%s:%d: expected \"key = value\", a [section] or a comment, got %q", path, ln, truncate(line, 60))
		}
		key := strings.TrimSpace(line[:i])
		val := strings.TrimSpace(line[i+1:])
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		full := strings.ToLower(key)
		if section != "" {
			full = strings.ToLower(section) + "." + full
		}
		if prev, dup := f.vals[full]; dup {
			return nil, fmt.Errorf("%s:%d: %s is given twice (first on line %d)", path, ln, key, prev.line)
		}
		f.vals[full] = iniValue{v: val, line: ln}
	}
	return f, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// get returns a value and whether the key is there.
func (f *iniFile) get(key string) (string, bool) {
	v, ok := f.vals[strings.ToLower(key)]
	return v.v, ok
}

// str returns a value, or def when the key is missing.
func (f *iniFile) str(key, def string) string {
	if v, ok := f.get(key); ok {
		return v
	}
	return def
}

// need returns a value that must be there and not be empty.
func (f *iniFile) need(key string) (string, error) {
	v, ok := f.vals[strings.ToLower(key)]
	if !ok {
		return "", fmt.Errorf("%s: %s is missing", f.path, key)
	}
	if v.v == "" {
		return "", fmt.Errorf("%s:%d: %s is empty", f.path, v.line, key)
	}
	return v.v, nil
}

// integer reads a whole number in [lo, hi]; def when the key is missing.
func (f *iniFile) integer(key string, lo, hi, def int) (int, error) {
	v, ok := f.vals[strings.ToLower(key)]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v.v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s:%d: %s is %q; expected a whole number from %d to %d", f.path, v.line, key, v.v, lo, hi)
	}
	return n, nil
}

// boolean reads 1/0, yes/no, true/false; def when the key is missing.
func (f *iniFile) boolean(key string, def bool) (bool, error) {
	v, ok := f.vals[strings.ToLower(key)]
	if !ok {
		return def, nil
	}
	switch strings.ToLower(v.v) {
	case "1", "yes", "true", "on":
		return true, nil
	case "0", "no", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s:%d: %s is %q; expected 1 or 0", f.path, v.line, key, v.v)
}

// sections lists the section names in the order the file gives them.
func (f *iniFile) sections() []string { return f.secs }

// line is where key was given, for errors about its value.
func (f *iniFile) line(key string) int { return f.vals[strings.ToLower(key)].line }
