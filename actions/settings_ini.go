package actions

import (
	"bytes"
	"fmt"
	"strings"
)

// iniCodec addresses values as "Section.Key", or "Key" for keys before any
// section. Names match regardless of case, as the Windows profile API does;
// a key that matches more than one entry (in a repeated section, or where
// dots in names make "a.b.c" mean two things) is refused as ambiguous.
//
// Lines are "key = value" or "key: value"; ";" and "#" start comment lines
// only. A value runs to the end of the line, without the spaces around it
// and without one pair of enclosing quotes, as GetPrivateProfileString reads
// it: there are no inline comments, and no continuation lines.
type iniCodec struct{}

type iniEntry struct {
	section, key string
	line         int
	start, end   int // the value, inside its quotes if quoted
	quoted       bool
}

func (iniCodec) get(doc []byte, key string) (string, error) {
	e, err := findINI(doc, key)
	if err != nil {
		return "", err
	}
	return string(doc[e.start:e.end]), nil
}

func (iniCodec) plan(doc []byte, key, value string, _ setOptions) (splice, error) {
	e, err := findINI(doc, key)
	if err != nil {
		return splice{}, err
	}
	if string(doc[e.start:e.end]) == value {
		return splice{same: true, want: value}, nil
	}
	if strings.ContainsAny(value, "\r\n") {
		return splice{}, &ParamError{"value", "an INI value cannot hold a line break"}
	}
	if !e.quoted {
		// Written bare, the value must read back unchanged: no spaces at the
		// ends, no enclosing quotes.
		if s, n, q := iniValueSpan([]byte(value)); q || s != 0 || n != len(value) {
			return splice{}, &ParamError{"value", fmt.Sprintf("%q would read back as %q: the value in the file is not quoted, and INI drops spaces and quotes around values", value, value[s:n])}
		}
	}
	return splice{start: e.start, end: e.end, repl: []byte(value), want: value}, nil
}

func findINI(doc []byte, key string) (iniEntry, error) {
	entries, err := parseINI(doc)
	if err != nil {
		return iniEntry{}, err
	}
	var found []iniEntry
	for _, e := range entries {
		full := e.key
		if e.section != "" {
			full = e.section + "." + e.key
		}
		if strings.EqualFold(full, key) {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 0:
		return iniEntry{}, ErrNoKey
	case 1:
		return found[0], nil
	}
	lines := make([]string, len(found))
	for i, e := range found {
		lines[i] = fmt.Sprint(e.line)
	}
	return iniEntry{}, fmt.Errorf("the key is ambiguous: it matches the entries on lines %s", strings.Join(lines, ", "))
}

// parseINI returns every key line of doc with the byte span of its value.
func parseINI(doc []byte) ([]iniEntry, error) {
	body, off := stripBOM(doc)
	var entries []iniEntry
	section := ""
	for ln, pos := 1, 0; pos < len(body); ln++ {
		end, next := lineEnd(body, pos)
		line := body[pos:end]
		base := off + pos
		pos = next
		i := 0
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) || line[i] == ';' || line[i] == '#' {
			continue
		}
		if line[i] == '[' {
			j := bytes.IndexByte(line[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("line %d: a section header without ]", ln)
			}
			section = strings.TrimSpace(string(line[i+1 : i+j]))
			continue
		}
		d := bytes.IndexAny(line[i:], "=:")
		if d < 0 {
			continue // not a key line; kept as it is
		}
		k := strings.TrimSpace(string(line[i : i+d]))
		if k == "" {
			continue
		}
		v := i + d + 1
		s, e, q := iniValueSpan(line[v:])
		entries = append(entries, iniEntry{section: section, key: k, line: ln, start: base + v + s, end: base + v + e, quoted: q})
	}
	return entries, nil
}

// lineEnd returns where the line at pos ends and the next begins. CRLF, LF
// and a lone CR (old Mac files) all end a line: a CR must never end up inside
// a value, where a reader that splits on it would see something else.
func lineEnd(b []byte, pos int) (end, next int) {
	i := bytes.IndexAny(b[pos:], "\r\n")
	if i < 0 {
		return len(b), len(b)
	}
	end = pos + i
	if b[end] == '\r' && end+1 < len(b) && b[end+1] == '\n' {
		return end, end + 2
	}
	return end, end + 1
}

// iniValueSpan returns where the value lies in the text after the "=".
func iniValueSpan(v []byte) (start, end int, quoted bool) {
	for start < len(v) && (v[start] == ' ' || v[start] == '\t') {
		start++
	}
	end = len(v)
	for end > start && (v[end-1] == ' ' || v[end-1] == '\t') {
		end--
	}
	if end-start >= 2 && (v[start] == '"' || v[start] == '\'') && v[end-1] == v[start] {
		return start + 1, end - 1, true
	}
	return start, end, false
}
