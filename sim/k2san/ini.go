package k2san

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// maxINI bounds what the simulation reads of one of its INI files: they are
// a few hundred bytes.
const maxINI = 64 << 10

// iniFile is a parsed Windows-style INI file: "[Section]" headers and
// "Key=Value" lines, ";" or "#" comments, names matched regardless of case
// as GetPrivateProfileString does.
type iniFile struct {
	path string
	vals map[string]string // "section.key", lower case -> value
	line map[string]int    // where each key was, for errors
}

// readINI reads and parses path. Errors name the file and, for a bad line,
// the line.
func readINI(path string) (*iniFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > maxINI {
		return nil, fmt.Errorf("%s: %d bytes; this file is at most %d", path, len(b), maxINI)
	}
	return parseINI(path, b)
}

func parseINI(path string, b []byte) (*iniFile, error) {
	f := &iniFile{path: path, vals: map[string]string{}, line: map[string]int{}}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	sc := bufio.NewScanner(bytes.NewReader(b))
	section := ""
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || l[0] == ';' || l[0] == '#':
			continue
		case l[0] == '[':
			if !strings.HasSuffix(l, "]") || len(l) < 3 {
				return nil, fmt.Errorf("%s:%d: %q is not a section header such as [Server]", path, n, l)
			}
			section = strings.TrimSpace(l[1 : len(l)-1])
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s:%d: %q is not a Key=Value line", path, n, l)
		}
		if section == "" {
			return nil, fmt.Errorf("%s:%d: key %s comes before any [Section]", path, n, k)
		}
		full := strings.ToLower(section + "." + k)
		if prev, dup := f.line[full]; dup {
			return nil, fmt.Errorf("%s:%d: %s.%s is given twice (first on line %d)", path, n, section, k, prev)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		f.vals[full], f.line[full] = v, n
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// where names a key for errors: the file, its line when present, the key.
func (f *iniFile) where(key string) string {
	if n, ok := f.line[strings.ToLower(key)]; ok {
		return fmt.Sprintf("%s:%d: %s", f.path, n, key)
	}
	return fmt.Sprintf("%s: %s", f.path, key)
}

// str is a required value.
func (f *iniFile) str(key string) (string, error) {
	v, ok := f.vals[strings.ToLower(key)]
	if !ok || v == "" {
		return "", fmt.Errorf("%s: missing; it is required", f.where(key))
	}
	return v, nil
}

// opt is an optional value, def when absent.
func (f *iniFile) opt(key, def string) string {
	if v, ok := f.vals[strings.ToLower(key)]; ok && v != "" {
		return v
	}
	return def
}

// seconds is a required whole or decimal number of seconds within [lo, hi].
func (f *iniFile) seconds(key string, lo, hi float64) (time.Duration, error) {
	s, err := f.str(key)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s: %q is not a number of seconds from %g to %g", f.where(key), s, lo, hi)
	}
	return time.Duration(n * float64(time.Second)), nil
}

// oneOf is a required value from a fixed list.
func (f *iniFile) oneOf(key string, allowed ...string) (string, error) {
	s, err := f.str(key)
	if err != nil {
		return "", err
	}
	for _, a := range allowed {
		if strings.EqualFold(s, a) {
			return a, nil
		}
	}
	return "", fmt.Errorf("%s: %q is not one of %s", f.where(key), s, strings.Join(allowed, ", "))
}

// timeValue is an optional sim timestamp (RFC 3339); zero when absent.
func (f *iniFile) timeValue(key string) (time.Time, error) {
	s := f.opt(key, "")
	if s == "" || s == "never" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is not a time such as 2024-05-01T10:00:00Z", f.where(key), s)
	}
	return t, nil
}

// stamp formats a simulated time as the files keep it.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
