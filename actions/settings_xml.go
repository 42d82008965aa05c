package actions

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// xmlCodec addresses values by element path from the root element:
// "Settings/IsSlave", "Settings/Servers/Server[2]/Address" (1-based among
// siblings of that name), "Settings/IsSlave/@choices" for an attribute. Names
// are matched as written, prefix included ("x:Item"). A step without an index
// may match several elements, as long as the whole path matches exactly one.
type xmlCodec struct{}

type xmlStep struct {
	name  string
	index int // 1-based; 0 when the key gives none
}

type xmlKey struct {
	path []xmlStep
	attr string // "" for the element's text
}

// xmlTarget is the element a key names, and where its parts lie in the file.
type xmlTarget struct {
	name             string
	depth            int
	tagStart, tagEnd int // the start tag
	contentEnd       int // where the end tag starts
	selfClosing      bool
	attrs            []xml.Attr
	text             strings.Builder // character data directly inside
	children         bool            // has child elements
	other            bool            // has comments or processing instructions
}

func (xmlCodec) get(doc []byte, key string) (string, error) {
	k, err := parseXMLKey(key)
	if err != nil {
		return "", err
	}
	t, err := locateXML(doc, k)
	if err != nil {
		return "", err
	}
	if k.attr != "" {
		return xmlAttr(t, k.attr)
	}
	if t.children {
		return "", fmt.Errorf("<%s> has child elements; name one of them", t.name)
	}
	return t.text.String(), nil
}

func (xmlCodec) plan(doc []byte, key, value string, _ setOptions) (splice, error) {
	k, err := parseXMLKey(key)
	if err != nil {
		return splice{}, err
	}
	esc, err := escapeXML(value)
	if err != nil {
		return splice{}, err
	}
	t, err := locateXML(doc, k)
	if err != nil {
		return splice{}, err
	}
	if k.attr != "" {
		return planXMLAttr(doc, t, k.attr, value, esc)
	}
	switch {
	case t.children:
		return splice{}, fmt.Errorf("<%s> has child elements; the agent sets only elements that hold text", t.name)
	case t.other:
		// Replacing the content would drop them.
		return splice{}, fmt.Errorf("<%s> holds comments or processing instructions; edit it by hand", t.name)
	case t.text.String() == value:
		return splice{same: true, want: value}, nil
	case t.selfClosing:
		// <IsSlave/> becomes <IsSlave>value</IsSlave>: only the "/>" changes.
		repl := append(append([]byte(">"), esc...), "</"+t.name+">"...)
		return splice{start: t.tagEnd - 2, end: t.tagEnd, repl: repl, want: value}, nil
	}
	return splice{start: t.tagEnd, end: t.contentEnd, repl: esc, want: value}, nil
}

func xmlAttr(t *xmlTarget, name string) (string, error) {
	var vals []string
	for _, a := range t.attrs {
		if xmlName(a.Name) == name {
			vals = append(vals, a.Value)
		}
	}
	switch len(vals) {
	case 0:
		return "", fmt.Errorf("<%s> has no attribute %s: %w", t.name, name, ErrNoKey)
	case 1:
		return vals[0], nil
	}
	return "", fmt.Errorf("<%s> has attribute %s %d times", t.name, name, len(vals))
}

func planXMLAttr(doc []byte, t *xmlTarget, name, value string, esc []byte) (splice, error) {
	cur, err := xmlAttr(t, name)
	if err != nil {
		return splice{}, err
	}
	if cur == value {
		return splice{same: true, want: value}, nil
	}
	start, end, err := attrSpan(doc[t.tagStart:t.tagEnd], name)
	if err != nil {
		return splice{}, fmt.Errorf("<%s>: %w", t.name, err)
	}
	return splice{start: t.tagStart + start, end: t.tagStart + end, repl: esc, want: value}, nil
}

// attrSpan finds the value of attribute name, between its quotes, in a start
// tag the decoder has already accepted as well-formed.
func attrSpan(tag []byte, name string) (start, end int, err error) {
	bad := fmt.Errorf("cannot find attribute %s in the start tag", name)
	i := 1
	for i < len(tag) && !isXMLSpace(tag[i]) && tag[i] != '/' && tag[i] != '>' {
		i++
	}
	for {
		for i < len(tag) && isXMLSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || tag[i] == '/' || tag[i] == '>' {
			return 0, 0, bad
		}
		ns := i
		for i < len(tag) && !isXMLSpace(tag[i]) && tag[i] != '=' {
			i++
		}
		an := string(tag[ns:i])
		for i < len(tag) && isXMLSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || tag[i] != '=' {
			return 0, 0, bad
		}
		i++
		for i < len(tag) && isXMLSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || (tag[i] != '"' && tag[i] != '\'') {
			return 0, 0, bad
		}
		q := tag[i]
		vs := i + 1
		n := bytes.IndexByte(tag[vs:], q)
		if n < 0 {
			return 0, 0, bad
		}
		if an == name {
			return vs, vs + n, nil
		}
		i = vs + n + 1
	}
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// locateXML scans the whole document, so that a malformed file is refused
// and a key matching more than one element is noticed, and returns the one
// element the key names.
func locateXML(doc []byte, k xmlKey) (*xmlTarget, error) {
	body, off := stripBOM(doc)
	d := xml.NewDecoder(bytes.NewReader(body))
	d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		if strings.EqualFold(label, "us-ascii") || strings.EqualFold(label, "ascii") {
			return r, nil
		}
		// A transcoding reader would break the byte offsets the edit needs.
		return nil, fmt.Errorf("the file declares encoding %q; the agent edits only UTF-8 and ASCII files", label)
	}
	type frame struct {
		name   string
		match  bool
		counts map[string]int
	}
	var (
		stack   []frame
		matches []*xmlTarget
		cur     *xmlTarget // the matching element while it is open
		roots   int
	)
	for {
		start := int(d.InputOffset())
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not well-formed XML: %w", err)
		}
		end := int(d.InputOffset())
		depth := len(stack)
		inCur := cur != nil && depth == cur.depth+1
		switch t := tok.(type) {
		case xml.StartElement:
			name := xmlName(t.Name)
			idx, match := 1, depth == 0
			if depth == 0 {
				if roots++; roots > 1 {
					return nil, errors.New("not well-formed XML: more than one root element")
				}
			} else {
				p := &stack[depth-1]
				if p.counts == nil {
					p.counts = map[string]int{}
				}
				p.counts[name]++
				idx, match = p.counts[name], p.match
			}
			if inCur {
				cur.children = true
			}
			match = match && depth < len(k.path) && k.path[depth].name == name &&
				(k.path[depth].index == 0 || k.path[depth].index == idx)
			if match && depth == len(k.path)-1 {
				cur = &xmlTarget{name: name, depth: depth, tagStart: off + start, tagEnd: off + end, attrs: t.Attr}
				matches = append(matches, cur)
			}
			stack = append(stack, frame{name: name, match: match})
		case xml.EndElement:
			// RawToken leaves matching end tags to the caller.
			if depth == 0 || stack[depth-1].name != xmlName(t.Name) {
				return nil, fmt.Errorf("not well-formed XML: unexpected end tag </%s> at byte %d", xmlName(t.Name), off+start)
			}
			if cur != nil && depth-1 == cur.depth {
				cur.selfClosing = start == end // the decoder made it up for <x/>
				cur.contentEnd = off + start
				cur = nil
			}
			stack = stack[:depth-1]
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("not well-formed XML: text outside the root element")
			}
			if inCur {
				cur.text.Write(t)
			}
		case xml.Comment, xml.ProcInst, xml.Directive:
			if inCur {
				cur.other = true
			}
		}
	}
	switch {
	case len(stack) > 0:
		return nil, fmt.Errorf("not well-formed XML: <%s> is not closed", stack[len(stack)-1].name)
	case roots == 0:
		return nil, errors.New("not well-formed XML: no root element")
	case len(matches) == 0:
		return nil, ErrNoKey
	case len(matches) > 1:
		return nil, fmt.Errorf("the key matches %d elements; add an index, such as %s[1]", len(matches), k.path[len(k.path)-1].name)
	}
	return matches[0], nil
}

// xmlName is a name as written in the file: RawToken leaves the prefix in
// Space.
func xmlName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

func parseXMLKey(key string) (xmlKey, error) {
	var k xmlKey
	parts := strings.Split(strings.TrimPrefix(key, "/"), "/")
	for i, p := range parts {
		if attr, ok := strings.CutPrefix(p, "@"); ok {
			if i == 0 || i != len(parts)-1 || attr == "" {
				return k, &ParamError{"key", fmt.Sprintf("%q: an attribute (@name) must follow an element, at the end", key)}
			}
			k.attr = attr
			break
		}
		s, err := parseXMLStep(p)
		if err != nil {
			return k, &ParamError{"key", fmt.Sprintf("%q: %v", key, err)}
		}
		k.path = append(k.path, s)
	}
	return k, nil
}

func parseXMLStep(p string) (xmlStep, error) {
	name, rest, indexed := strings.Cut(p, "[")
	if name == "" || strings.ContainsAny(name, "]@") {
		return xmlStep{}, fmt.Errorf("%q is not an element name", p)
	}
	if !indexed {
		return xmlStep{name: name}, nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	if !strings.HasSuffix(rest, "]") || err != nil || n < 1 {
		return xmlStep{}, fmt.Errorf("%q: the index must be a whole number from 1, as in Server[2]", p)
	}
	return xmlStep{name: name, index: n}, nil
}

// escapeXML escapes a value for character data or either kind of quoted
// attribute. Line breaks and tabs become character references, so they
// survive attribute normalisation and read back as given.
func escapeXML(s string) ([]byte, error) {
	for _, r := range s {
		if !isXMLChar(r) {
			return nil, &ParamError{"value", fmt.Sprintf("holds the character %U, which XML 1.0 cannot hold", r)}
		}
	}
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.Bytes(), nil
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}
