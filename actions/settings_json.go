package actions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// jsonCodec addresses values by a dot path, "a.b.0.c": a number indexes an
// array, and names an object member otherwise. Names with dots in them
// cannot be addressed. get gives a string's text, and any other value as the
// JSON written in the file. A name that appears twice in one object makes a
// key through it ambiguous, and refused.
type jsonCodec struct{}

func (jsonCodec) get(doc []byte, key string) (string, error) {
	start, end, err := locateJSON(doc, key)
	if err != nil {
		return "", err
	}
	return jsonText(doc[start:end]), nil
}

// plan writes value as a JSON string, or with type=raw as the JSON it is. A
// value that is not a string is replaced only when the request says how:
// writing "true" where the program reads true would break it quietly.
func (jsonCodec) plan(doc []byte, key, value string, opt setOptions) (splice, error) {
	start, end, err := locateJSON(doc, key)
	if err != nil {
		return splice{}, err
	}
	cur := doc[start:end]
	var repl []byte
	switch {
	case opt.typ == "raw":
		repl = bytes.TrimSpace([]byte(value))
		if !json.Valid(repl) {
			return splice{}, &ParamError{"value", "type=raw needs a valid JSON value"}
		}
	case opt.typ == "" && cur[0] != '"':
		return splice{}, &ParamError{"type", fmt.Sprintf("the key holds a JSON %s, not a string; pass type=raw with the JSON to write, or type=string to write a string", jsonKind(cur[0]))}
	default:
		repl = jsonString(value)
	}
	if sameJSON(cur, repl) {
		return splice{same: true, want: jsonText(cur)}, nil
	}
	return splice{start: start, end: end, repl: repl, want: jsonText(repl)}, nil
}

// locateJSON returns the byte span of the one value at key.
func locateJSON(doc []byte, key string) (start, end int, err error) {
	path := strings.Split(key, ".")
	for _, p := range path {
		if p == "" {
			return 0, 0, &ParamError{"key", fmt.Sprintf("%q has an empty step; write a.b.0.c", key)}
		}
	}
	body, off := stripBOM(doc)
	if !json.Valid(body) {
		err := json.Unmarshal(body, new(any)) // for the offset of the fault
		return 0, 0, fmt.Errorf("not valid JSON: %v", err)
	}
	s := jsonScan{b: body}
	s.walk(path)
	switch len(s.hits) {
	case 0:
		return 0, 0, ErrNoKey
	case 1:
		return off + s.hits[0][0], off + s.hits[0][1], nil
	}
	return 0, 0, fmt.Errorf("the key matches %d values: a name appears more than once in an object", len(s.hits))
}

// jsonScan walks a document that json.Valid has accepted, keeping byte
// offsets, which encoding/json does not give for values.
type jsonScan struct {
	b    []byte
	i    int
	hits [][2]int
}

func (s *jsonScan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jsonScan) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// walk consumes one value and records the spans of the values at path
// below it. It reads every member, so that a repeated name is seen.
func (s *jsonScan) walk(path []string) {
	s.ws()
	if len(path) == 0 {
		start := s.i
		s.skip()
		s.hits = append(s.hits, [2]int{start, s.i})
		return
	}
	switch s.peek() {
	case '{':
		s.i++
		for s.ws(); s.i < len(s.b) && s.peek() != '}'; s.ws() {
			ks := s.i
			s.skipString()
			name := jsonText(s.b[ks:s.i])
			s.ws()
			s.i++ // ':'
			if name == path[0] {
				s.walk(path[1:])
			} else {
				s.ws()
				s.skip()
			}
			s.ws()
			if s.peek() == ',' {
				s.i++
			}
		}
		s.i++
	case '[':
		want, err := strconv.Atoi(path[0])
		if err != nil || strconv.Itoa(want) != path[0] {
			want = -1 // a name never matches an element
		}
		s.i++
		for n := 0; ; n++ {
			s.ws()
			if s.i >= len(s.b) || s.peek() == ']' {
				break
			}
			before := s.i
			if n == want {
				s.walk(path[1:])
			} else {
				s.skip()
			}
			s.ws()
			if s.peek() == ',' {
				s.i++
			} else if s.i == before {
				return // cannot happen in valid JSON; never spin
			}
		}
		s.i++
	default:
		s.skip()
	}
}

// skip moves past one value.
func (s *jsonScan) skip() {
	switch s.peek() {
	case '"':
		s.skipString()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				s.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					s.i++
					return
				}
			}
			s.i++
		}
	default:
		for s.i < len(s.b) && !strings.ContainsRune(",}] \t\r\n", rune(s.b[s.i])) {
			s.i++
		}
	}
}

func (s *jsonScan) skipString() {
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			s.i++
		case '"':
			s.i++
			return
		}
	}
}

// jsonText is what get reports for a JSON value: a string's text, or the
// JSON of anything else.
func jsonText(raw []byte) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

func jsonString(v string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<" is as valid JSON as "\u003c", and readable
	if err := enc.Encode(v); err != nil {
		panic(err) // a string always encodes
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// sameJSON reports whether two JSON values are written the same way up to
// insignificant space, or are equal strings however escaped.
func sameJSON(a, b []byte) bool {
	if a[0] == '"' && b[0] == '"' {
		return jsonText(a) == jsonText(b)
	}
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}

func jsonKind(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}
