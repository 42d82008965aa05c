package main

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The copyright file of a .deb: installer/deb/copyright (the header and
// Vigil's own paragraph) followed by a DEP-5 paragraph for the Go runtime
// and standard library and for every module the binary links, read from the
// binary's own build information (which a binary built for another
// architecture has too), so that it names what the binary holds and nothing
// else. The licences of those modules (MIT, BSD and the like) ask for their
// notices to travel with binary copies; this is where a Debian package puts
// them.
//
// A module's licence files are those at its root and those of directories
// below it that have their own (fonts, code copied from elsewhere); each
// makes a paragraph whose Files pattern says where the files are in a
// source tree laid out as `go mod vendor` lays one out (vendor/MODULE/DIR/*).
// Go's is GOROOT/src/*. A licence is recognised by phrases of its text (or
// by an SPDX-License-Identifier line, for a choice of licences) and named by
// its DEP-5 short name; a module with no licence file, or one not
// recognised, fails the build with a message naming it.
//
// The texts are copied in full where they are used, as they carry their
// holders' names, except those of the licences every Debian system has in
// /usr/share/common-licenses (Apache-2.0, MPL-2.0), which are pointed at
// there, as Debian's own copyright files do (lintian calls a full copy an
// error); a stand-alone License paragraph does that for Files paragraphs
// that only name one. NOTICE files, which the Apache licence asks to be
// passed on, go into the paragraph's Comment.

// A licence the packaging recognises, by phrases every copy of its text
// holds. Texts are compared normalised (see normalise).
type licence struct {
	name    string   // DEP-5 short name
	phrases []string // all must appear
	// group: licences of one family, of which only the first that matches
	// counts (a BSD-3-Clause text also holds the BSD-2-Clause phrases).
	group string
	// For texts in /usr/share/common-licenses: its title, and a phrase
	// only the full text has (a file that only refers to the licence, as a
	// source file's header does, lacks it).
	common, full string
}

// licences, in the order the detector reports them. "Expat" is DEP-5's
// short name for the MIT licence as most Go modules use it.
var licences = []licence{
	{name: "Apache-2.0", phrases: []string{"apache license", "version 2.0"},
		common: "the Apache License, Version 2.0", full: "terms and conditions for use reproduction and distribution"},
	{name: "MPL-2.0", phrases: []string{"mozilla public license", "2.0"},
		common: "the Mozilla Public License, Version 2.0", full: "1.1 contributor means each individual or legal entity"},
	{name: "BSD-4-Clause", group: "bsd", phrases: []string{"redistribution and use in source and binary forms", "all advertising materials mentioning"}},
	{name: "BSD-3-Clause", group: "bsd", phrases: []string{"redistribution and use in source and binary forms", "endorse or promote products derived from this software"}},
	{name: "BSD-2-Clause", group: "bsd", phrases: []string{"redistribution and use in source and binary forms"}},
	{name: "Expat", phrases: []string{"permission is hereby granted free of charge to any person obtaining a copy of this software",
		"the above copyright notice and this permission notice shall be included"}},
	{name: "ISC", phrases: []string{"distribute this software for any purpose with or without fee is hereby granted"}},
	{name: "Zlib", phrases: []string{"this software is provided as is without any express or implied warranty",
		"the origin of this software must not be misrepresented"}},
	{name: "OFL-1.1", phrases: []string{"sil open font license", "version 1.1"}},
	{name: "Bitstream-Vera", phrases: []string{"bitstream vera", "permission is hereby granted free of charge to any person obtaining a copy of the fonts accompanying this license"}},
	{name: "Unlicense", phrases: []string{"this is free and unencumbered software released into the public domain"}},
}

const commonLicenses = "/usr/share/common-licenses"

// commonPointer is what a copyright file says instead of a licence text
// that every Debian system has.
func commonPointer(l licence) string {
	return fmt.Sprintf("On Debian systems, the full text of %s\ncan be found in the file %s/%s.", l.common, commonLicenses, l.name)
}

// normalise lowercases text and reduces it to words separated by single
// spaces: punctuation, quotes and line breaks become spaces, except a dot
// between digits ("2.0"), so that a phrase matches however a copy is
// wrapped, quoted or punctuated.
func normalise(text string) string {
	var b strings.Builder
	rs := []rune(text)
	space := true
	for i, r := range rs {
		keep := unicode.IsLetter(r) || unicode.IsDigit(r) ||
			(r == '.' && i > 0 && i+1 < len(rs) && unicode.IsDigit(rs[i-1]) && unicode.IsDigit(rs[i+1]))
		if !keep {
			if !space {
				b.WriteByte(' ')
				space = true
			}
			continue
		}
		b.WriteRune(unicode.ToLower(r))
		space = false
	}
	return strings.TrimSpace(b.String())
}

// detectLicences names the licences a licence file's text holds, in the
// order of licences; none if it holds none the packaging knows.
func detectLicences(text string) []string {
	norm := " " + normalise(text) + " "
	var names []string
	groups := map[string]bool{}
	for _, l := range licences {
		if l.group != "" && groups[l.group] {
			continue
		}
		ok := true
		for _, p := range l.phrases {
			if !strings.Contains(norm, " "+normalise(p)+" ") {
				ok = false
				break
			}
		}
		if ok {
			names = append(names, l.name)
			if l.group != "" {
				groups[l.group] = true
			}
		}
	}
	return names
}

func licenceNamed(name string) licence {
	for _, l := range licences {
		if l.name == name {
			return l
		}
	}
	panic("no licence " + name)
}

var (
	// A line that states a copyright: "Copyright 2009 The Go Authors.",
	// "Copyright (c) 2016 ...", "© 2019 ...". Not the lower-case
	// "copyright notice" of the licences' own wording.
	copyrightLineRE = regexp.MustCompile(`^\s*(?:Copyright\b|©|\([cC]\)\s*\d)`)
	copyrightMarkRE = regexp.MustCompile(`^(?:Copyright\b|\([cC]\)|©|:|,|\s)+`)
	// Templates' placeholders, as in the appendix of the Apache licence.
	placeholderRE   = regexp.MustCompile(`(?i)[\[{<]\s*(?:yyyy|year|dates?|owner|name of|copyright holder)`)
	yearRE          = regexp.MustCompile(`\b(?:19|20)\d\d\b`)
	rightsRE        = regexp.MustCompile(`(?i)\s*\ball rights reserved\b.*$`)
	spacesRE        = regexp.MustCompile(`\s+`)
	licenceFileRE   = regexp.MustCompile(`(?i)^(?:licen[cs]e|copying|unlicense)(?:[-_][a-z0-9-]+)?(?:\.(?:txt|md|rst))?$`)
	noticeFileRE    = regexp.MustCompile(`(?i)^notice(?:\.(?:txt|md))?$`)
	copyrightFileRE = regexp.MustCompile(`(?i)^copyright(?:\.(?:txt|md))?$`)
)

// Words that follow "Copyright" in licences' wording rather than names.
var notHolders = map[string]bool{"holder": true, "holders": true, "owner": true, "owners": true,
	"notice": true, "notices": true, "law": true, "laws": true, "statement": true, "statements": true}

// copyrightLines returns the holders a text states, as DEP-5's Copyright
// field wants them: "2009 The Go Authors", without the word Copyright, the
// (c) and "All rights reserved".
func copyrightLines(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if !copyrightLineRE.MatchString(line) || placeholderRE.MatchString(line) {
			continue
		}
		s := copyrightMarkRE.ReplaceAllString(strings.TrimSpace(line), "")
		// "Copyright Holder(s)" and the like, in a licence's own wording,
		// name no one: a statement has a year, a (c) or a name.
		if !yearRE.MatchString(line) && !strings.Contains(line, "©") && !strings.Contains(strings.ToLower(line), "(c)") {
			first, _, _ := strings.Cut(s, " ")
			word := strings.TrimSuffix(strings.TrimRight(strings.ToLower(first), ".,;:"), "(s)")
			if first == "" || !unicode.IsUpper([]rune(first)[0]) || notHolders[word] {
				continue
			}
		}
		s = rightsRE.ReplaceAllString(s, "")
		s = strings.TrimRight(spacesRE.ReplaceAllString(s, " "), " .,;")
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// A licenceFile is one licence file of a module (or of Go), as found.
type licenceFile struct {
	name  string   // its name in its directory
	text  string   // cleaned: LF line ends, no trailing blank lines
	expr  string   // its DEP-5 License expression: "Expat", "Unlicense or BSD-3-Clause"
	names []string // the licences in expr
}

var spdxRE = regexp.MustCompile(`(?m)SPDX-License-Identifier:[ \t]*(.+?)[ \t]*$`)

// identify works out the licence expression of a licence file: the
// licences whose texts it holds, all of which apply, or the choice its
// SPDX-License-Identifier line states, each of whose texts it must hold.
func identify(text string) (expr string, names []string, err error) {
	detected := detectLicences(text)
	m := spdxRE.FindStringSubmatch(text)
	if m == nil {
		if len(detected) == 0 {
			return "", nil, errors.New("a licence the packaging does not recognise; add it to licences in installer/cmd/pkgfiles/copyright.go")
		}
		return strings.Join(detected, " and "), detected, nil
	}
	var words []string
	for _, tok := range strings.Fields(m[1]) {
		switch tok {
		case "AND", "OR":
			words = append(words, strings.ToLower(tok))
			continue
		}
		name := tok
		if n, ok := spdxToDEP5[tok]; ok {
			name = n
		}
		if !slices.Contains(detected, name) {
			return "", nil, fmt.Errorf("SPDX-License-Identifier: %s: %s is not a licence whose text it holds (it holds %s); the packaging takes AND and OR of those only",
				m[1], tok, strings.Join(detected, ", "))
		}
		names = append(names, name)
		words = append(words, name)
	}
	if len(names) == 0 {
		return "", nil, fmt.Errorf("SPDX-License-Identifier: %s names no licence", m[1])
	}
	return strings.Join(words, " "), names, nil
}

// SPDX identifiers whose DEP-5 short name differs.
var spdxToDEP5 = map[string]string{"MIT": "Expat"}

// A copyrightPara is one Files paragraph.
type copyrightPara struct {
	files    string // the Files pattern
	holders  []string
	licences []licenceFile
	notices  []licenceFile // NOTICE files, shipped in the Comment
	comment  string
}

// cleanText reads a licence file's bytes as text fit for a DEP-5 field.
func cleanText(where string, data []byte) (string, error) {
	if !utf8.Valid(data) {
		return "", fmt.Errorf("%s is not UTF-8", where)
	}
	s := strings.NewReplacer("\r\n", "\n", "\r", "\n", "\f", "").Replace(string(data))
	s = strings.TrimLeft(s, "\n")
	return strings.TrimRight(s, " \t\n"), nil
}

// scanLicences finds the licence and notice files of the tree at root:
// the root's, and those of directories below it that have their own
// (fonts, code copied from elsewhere). It skips what the go tool never
// builds: testdata, vendor, and directories starting with . or _.
func scanLicences(root, label string) (map[string]*copyrightPara, error) {
	dirs := map[string]*copyrightPara{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		isLicence, isNotice, isCopyright := licenceFileRE.MatchString(name), noticeFileRE.MatchString(name), copyrightFileRE.MatchString(name)
		if !d.Type().IsRegular() || !(isLicence || isNotice || isCopyright) {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		// A command's licence (cmd/tool/LICENSE) is not that of anything
		// a program can import.
		if rel != "." && isCommand(filepath.Dir(p)) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		text, err := cleanText(label+"/"+path.Join(rel, name), data)
		if err != nil {
			return err
		}
		para := dirs[rel]
		if para == nil {
			para = &copyrightPara{}
			dirs[rel] = para
		}
		f := licenceFile{name: name, text: text}
		switch {
		case isLicence:
			if f.expr, f.names, err = identify(text); err != nil {
				return fmt.Errorf("%s/%s: %w", label, path.Join(rel, name), err)
			}
			para.licences = append(para.licences, f)
		case isNotice:
			para.notices = append(para.notices, f)
		}
		for _, h := range copyrightLines(text) {
			if !slices.Contains(para.holders, h) {
				para.holders = append(para.holders, h)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A directory with only a NOTICE or COPYRIGHT file states holders for
	// the licence above it: fold it into the root.
	for rel, para := range dirs {
		if rel != "." && len(para.licences) == 0 {
			if dirs["."] == nil {
				dirs["."] = &copyrightPara{}
			}
			top := dirs["."]
			top.notices = append(top.notices, para.notices...)
			for _, h := range para.holders {
				if !slices.Contains(top.holders, h) {
					top.holders = append(top.holders, h)
				}
			}
			delete(dirs, rel)
		}
	}
	if top := dirs["."]; top == nil || len(top.licences) == 0 {
		return nil, fmt.Errorf("%s: no licence file (LICENSE, COPYING, ...) in %s", label, root)
	}
	return dirs, nil
}

// isCommand reports whether dir holds a Go command (package main), which
// no other package can import.
func isCommand(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	main := false
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, n), nil, parser.PackageClauseOnly)
		if err != nil {
			return false
		}
		if f.Name.Name != "main" {
			return false
		}
		main = true
	}
	return main
}

// escapeModulePath is the module cache's spelling of a module path or
// version: each capital letter becomes "!" and the letter in lower case
// (golang.org/x/mod/module.EscapePath), so that the cache works on
// case-insensitive file systems.
func escapeModulePath(p string) (string, error) {
	var b strings.Builder
	for _, r := range p {
		switch {
		case r == '!' || r >= utf8.RuneSelf:
			return "", fmt.Errorf("module path %q: unexpected %q", p, r)
		case 'A' <= r && r <= 'Z':
			b.WriteByte('!')
			b.WriteRune(r + 'a' - 'A')
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// goEnv asks the go command for the value of a variable.
func goEnv(name string) (string, error) {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// copyrightFile is the copyright file for the binary bin: head (the
// header and Vigil's paragraph), then Go's and each linked module's.
func copyrightFile(head, bin, goroot, modcache string) (string, error) {
	if !strings.HasPrefix(head, "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n") ||
		!strings.Contains(head, "\nFiles: *\n") {
		return "", fmt.Errorf("the head is not a DEP-5 header followed by a Files: * paragraph")
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "", err
	}
	var paras []*copyrightPara

	// Go itself: the runtime and the standard library are in every binary.
	if v, err := os.ReadFile(filepath.Join(goroot, "VERSION")); err == nil {
		if have := strings.SplitN(string(v), "\n", 2)[0]; have != bi.GoVersion {
			return "", fmt.Errorf("%s was built with %s, but %s is %s", bin, bi.GoVersion, goroot, have)
		}
	}
	text, err := readLicence(filepath.Join(goroot, "LICENSE"), "Go ("+goroot+")")
	if err != nil {
		return "", err
	}
	paras = append(paras, &copyrightPara{
		files:    "GOROOT/src/*",
		holders:  copyrightLines(text.text),
		licences: []licenceFile{text},
		comment: fmt.Sprintf("The Go runtime and standard library, %s, which the Go linker puts in\n"+
			"every Go program. GOROOT is the Go installation the binary was built with.", bi.GoVersion),
	})

	for _, d := range bi.Deps {
		src, label := d, d.Path+" "+d.Version
		if r := d.Replace; r != nil {
			src, label = r, label+" => "+strings.TrimSpace(r.Path+" "+r.Version)
		}
		var dir string
		if src.Version == "" { // replaced by a directory
			if !filepath.IsAbs(src.Path) {
				return "", fmt.Errorf("module %s: replaced by a relative directory, which the packaging cannot find", label)
			}
			dir = src.Path
		} else {
			p, err := escapeModulePath(src.Path)
			if err != nil {
				return "", err
			}
			v, err := escapeModulePath(src.Version)
			if err != nil {
				return "", err
			}
			dir = filepath.Join(modcache, filepath.FromSlash(p+"@"+v))
		}
		if _, err := os.Stat(dir); err != nil {
			return "", fmt.Errorf("module %s: not in the module cache (%v); `go mod download` fetches it", label, err)
		}
		dirs, err := scanLicences(dir, "module "+label)
		if err != nil {
			return "", err
		}
		rels := make([]string, 0, len(dirs))
		for rel := range dirs {
			rels = append(rels, rel)
		}
		slices.Sort(rels) // "." first: the more specific paragraphs follow it
		for _, rel := range rels {
			p := dirs[rel]
			// Where `go mod vendor` puts it: under the path go.mod names.
			p.files = path.Join("vendor", d.Path, rel) + "/*"
			if len(p.holders) == 0 {
				p.holders = []string{"the authors of " + d.Path}
			}
			paras = append(paras, p)
		}
	}

	var b strings.Builder
	b.WriteString(strings.TrimRight(head, "\n"))
	b.WriteString("\n")
	var common []string
	for _, p := range paras {
		text, refs, err := p.render()
		if err != nil {
			return "", err
		}
		b.WriteString("\n")
		b.WriteString(text)
		for _, n := range refs {
			if !slices.Contains(common, n) {
				common = append(common, n)
			}
		}
	}
	slices.Sort(common)
	for _, n := range common {
		l := licenceNamed(n)
		fmt.Fprintf(&b, "\nLicense: %s\n", n)
		writeFieldText(&b, strings.Split(commonPointer(l), "\n"))
	}
	return b.String(), nil
}

func readLicence(p, label string) (licenceFile, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return licenceFile{}, fmt.Errorf("%s: %w", label, err)
	}
	text, err := cleanText(p, data)
	if err != nil {
		return licenceFile{}, err
	}
	f := licenceFile{name: filepath.Base(p), text: text}
	if f.expr, f.names, err = identify(text); err != nil {
		return licenceFile{}, fmt.Errorf("%s: %s: %w", label, p, err)
	}
	return f, nil
}

// render writes the paragraph. The licence texts are copied in place,
// except the full texts of licences Debian ships in common-licenses, which
// are pointed at there. A paragraph left with no text at all names in refs
// the licences whose stand-alone paragraphs must follow.
func (p *copyrightPara) render() (text string, refs []string, err error) {
	slices.SortFunc(p.licences, func(a, b licenceFile) int { return strings.Compare(a.name, b.name) })
	var exprs, names, body []string
	var copied int
	for _, f := range p.licences {
		if !slices.Contains(exprs, f.expr) {
			exprs = append(exprs, f.expr)
		}
		var full string
		var pointers []string
		for _, n := range f.names {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
			l := licenceNamed(n)
			if l.common == "" {
				continue
			}
			if strings.Contains(normalise(f.text), normalise(l.full)) {
				full = n
			}
			pointers = append(pointers, commonPointer(l))
		}
		switch {
		case full != "" && len(f.names) > 1:
			return "", nil, fmt.Errorf("%s/%s: the full text of %s together with other licences (%s); the packaging cannot ship that",
				strings.TrimSuffix(p.files, "/*"), f.name, full, strings.Join(f.names, ", "))
		case full != "":
			// Pointed at rather than copied, as Debian's copyright files do.
			if len(p.licences) > 1 {
				body = append(body, f.name+": "+full+".", "")
			}
			for i, ptr := range pointers {
				if i > 0 {
					body = append(body, "")
				}
				body = append(body, strings.Split(ptr, "\n")...)
			}
		default:
			copied++
			if len(p.licences) > 1 {
				body = append(body, f.name+":", "")
			}
			body = append(body, strings.Split(f.text, "\n")...)
			// A header that refers to a licence in common-licenses
			// ("Licensed under the Apache License, Version 2.0 ...").
			for _, ptr := range pointers {
				body = append(body, "")
				body = append(body, strings.Split(ptr, "\n")...)
			}
		}
		if len(p.licences) > 1 {
			body = append(body, "")
		}
	}
	if copied == 0 && len(p.licences) == 1 {
		refs = names
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Files: %s\n", p.files)
	b.WriteString("Copyright:")
	for i, h := range p.holders {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(" " + h)
	}
	b.WriteString("\n")
	// DEP-5: "and" binds more tightly than "or" unless a comma comes before it.
	and := " and "
	for _, e := range exprs {
		if strings.Contains(e, " or ") && len(exprs) > 1 {
			and = ", and "
		}
	}
	fmt.Fprintf(&b, "License: %s\n", strings.Join(exprs, and))
	if refs == nil {
		writeFieldText(&b, body)
	}
	comment := p.comment
	for _, n := range p.notices {
		if comment != "" {
			comment += "\n\n"
		}
		comment += "The module's " + n.name + " file:\n\n" + n.text
	}
	if comment != "" {
		lines := strings.Split(comment, "\n")
		fmt.Fprintf(&b, "Comment: %s\n", strings.TrimSpace(lines[0]))
		writeFieldText(&b, lines[1:])
	}
	return b.String(), refs, nil
}

// writeFieldText writes lines as the continuation lines of a deb822 field:
// each indented by a space, an empty line as " .", tabs expanded, no
// trailing space, and no empty lines at the end.
func writeFieldText(b *strings.Builder, lines []string) {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	for _, l := range lines {
		l = strings.TrimRight(expandTabs(l), " ")
		if l == "" {
			b.WriteString(" .\n")
			continue
		}
		b.WriteString(" " + l + "\n")
	}
}

func expandTabs(s string) string {
	if !strings.Contains(s, "\t") {
		return s
	}
	var b strings.Builder
	col := 0
	for _, r := range s {
		if r == '\t' {
			n := 8 - col%8
			b.WriteString(strings.Repeat(" ", n))
			col += n
			continue
		}
		b.WriteRune(r)
		col++
	}
	return b.String()
}

// writeCopyright is the copyright subcommand: copyrightFile with the head
// read from a file and the go command's defaults for the directories.
func writeCopyright(headFile, bin, goroot, modcache string) (string, error) {
	head, err := os.ReadFile(headFile)
	if err != nil {
		return "", err
	}
	if goroot == "" {
		if goroot, err = goEnv("GOROOT"); err != nil {
			return "", err
		}
	}
	if modcache == "" {
		if modcache, err = goEnv("GOMODCACHE"); err != nil {
			return "", err
		}
	}
	return copyrightFile(string(head), bin, goroot, modcache)
}
