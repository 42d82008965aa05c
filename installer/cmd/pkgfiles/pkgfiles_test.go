package main

import (
	"bytes"
	"debug/buildinfo"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/agent"
)

func TestPackagedUnit(t *testing.T) {
	unit, err := packagedUnit()
	if err != nil {
		t.Fatal(err)
	}
	// The hardening the package promises, from the agent's own generator.
	for _, want := range []string{
		"\n[Unit]\nDescription=Vigil host agent\nDocumentation=man:vigil-agent(1) file:/usr/share/doc/vigil-agent/README.Debian\n",
		"\nExecStart=/usr/bin/vigil-agent run --config /etc/vigil-agent/agent.yaml\n",
		"\nUser=vigil-agent\n",
		"\nGroup=vigil-agent\n",
		"\nReadWritePaths=/var/lib/vigil-agent\n",
		"\nProtectSystem=strict\n",
		"\nProtectHome=yes\n",
		"\nNoNewPrivileges=yes\n",
		"\nPrivateTmp=yes\n",
		"\nCapabilityBoundingSet=\n",
		"\nWantedBy=multi-user.target\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if strings.Contains(unit, "Written by") {
		t.Errorf("unit keeps the install command's header:\n%s", unit)
	}
}

func TestExampleConfigs(t *testing.T) {
	for _, tc := range []struct {
		goos, path      string
		state, roleFile string
	}{
		{"linux", linuxConfigPath, linuxStateDir, linuxStateDir + "/role"},
		{"windows", windowsDataDir + `\agent.yaml`, windowsStateDir, windowsStateDir + `\role`},
	} {
		t.Run(tc.goos, func(t *testing.T) {
			text, err := exampleConfig(tc.goos)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := agent.ParseConfig(tc.path, []byte(text))
			if err != nil {
				t.Fatalf("the agent rejects the package's config: %v", err)
			}
			if tc.goos == "linux" {
				// On Linux the paths are the agent's own; the Windows ones
				// are not absolute here, so only their text is checked.
				if cfg.StateDir != tc.state || cfg.RoleFile != tc.roleFile {
					t.Errorf("state_dir %q, role_file %q; want %q, %q", cfg.StateDir, cfg.RoleFile, tc.state, tc.roleFile)
				}
				if strings.Contains(text, "\r") {
					t.Error("the Linux config has CR line ends")
				}
			} else {
				for _, want := range []string{"state_dir: '" + tc.state + "'\r\n", "role_file: '" + tc.roleFile + "'\r\n"} {
					if !strings.Contains(text, want) {
						t.Errorf("Windows config lacks %q", want)
					}
				}
				if strings.Contains(text, "/var/lib") {
					t.Error("Windows config names a Linux path")
				}
			}
		})
	}
	if _, err := exampleConfig("plan9"); err == nil {
		t.Error("exampleConfig(plan9) succeeded")
	}
}

func TestReplaceValueNeedsOneLine(t *testing.T) {
	if _, err := replaceValue("a: 1\n", "b", "1", "2"); err == nil {
		t.Error("no error for a missing key")
	}
	if _, err := replaceValue("a: 1\na: 1\n", "a", "1", "2"); err == nil {
		t.Error("no error for a repeated key")
	}
	got, err := replaceValue("a: 1\nb: 1\n", "b", "1", "2")
	if err != nil || got != "a: 1\nb: 2\n" {
		t.Errorf("got %q, %v", got, err)
	}
}

// testIcon writes a square PNG of n pixels and returns its path.
func testIcon(t *testing.T, n int) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	for y := range n {
		for x := range n {
			img.Set(x, y, color.NRGBA{uint8(x), uint8(y), 200, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "icon.png")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHicolorIcons(t *testing.T) {
	out := t.TempDir()
	if err := writeHicolor(testIcon(t, 512), out); err != nil {
		t.Fatal(err)
	}
	for _, n := range hicolorSizes {
		f, err := os.Open(filepath.Join(out, fmt.Sprintf("%dx%d", n, n), "apps", appID+".png"))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != n || cfg.Height != n {
			t.Errorf("%d: %dx%d, %v", n, cfg.Width, cfg.Height, err)
		}
	}
	if err := writeHicolor(testIcon(t, 256), out); err == nil {
		t.Error("a 256-pixel source was scaled up to 512")
	}
}

func TestICO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "vigil.ico")
	if err := writeICO(testIcon(t, 512), p); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if le.Uint16(data[0:]) != 0 || le.Uint16(data[2:]) != 1 || int(le.Uint16(data[4:])) != len(icoSizes) {
		t.Fatalf("bad ICONDIR % x", data[:6])
	}
	for i, n := range icoSizes {
		e := data[6+16*i:]
		w := int(e[0])
		if w == 0 {
			w = 256
		}
		size, off := le.Uint32(e[8:]), le.Uint32(e[12:])
		if int(off+size) > len(data) {
			t.Fatalf("entry %d points past the file", i)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(data[off : off+size]))
		if err != nil || w != n || cfg.Width != n || cfg.Height != n {
			t.Errorf("entry %d: says %d, holds %dx%d (%v); want %d", i, w, cfg.Width, cfg.Height, err, n)
		}
	}
}

// Licence texts as modules carry them, cut to what the detector reads and
// wrapped or punctuated as real copies are.
const (
	mitText = `The MIT License (MIT)

Copyright (c) 2016 Alessio Treglia

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.`
	bsdHead = `Copyright (c) 2009 The Go Authors. All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are
met:

   * Redistributions of source code must retain the above copyright
notice, this list of conditions and the following disclaimer.
   * Redistributions in binary form must reproduce the above
copyright notice, this list of conditions and the following disclaimer
in the documentation and/or other materials provided with the
distribution.
`
	bsd3Text = bsdHead + `   * Neither the name of Google Inc. nor the names of its
contributors may be used to endorse or promote products derived from
this software without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS".`
	bsd2Text   = bsdHead + "\nTHIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS \"AS IS\"."
	apacheFull = `
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION

   APPENDIX: How to apply the Apache License to your work.

   Copyright [yyyy] [name of copyright owner]`
	apacheHeader = `Copyright (c) 2011-2019 Canonical Ltd

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.`
	iscText = `Copyright (c) 2012, Jan Schlicht <jan.schlicht@gmail.com>

Permission to use, copy, modify, and/or distribute this software for any purpose
with or without fee is hereby granted, provided that the above copyright notice
and this permission notice appear in all copies.`
	zlibText = `Copyright (c) 2006-2019 Camilla Löwy

This software is provided 'as-is', without any express or implied
warranty. In no event will the authors be held liable for any damages
arising from the use of this software.

1. The origin of this software must not be misrepresented; you must not
   claim that you wrote the original software.`
	mplHeader = `This Source Code Form is subject to the terms of the Mozilla Public
License, v. 2.0. If a copy of the MPL was not distributed with this
file, You can obtain one at http://mozilla.org/MPL/2.0/.`
	oflText = `Copyright (c) 2016-2020 The Inter Project Authors.

This Font Software is licensed under the SIL Open Font License, Version 1.1.
"Font Software" refers to the set of files released by the Copyright Holder(s) under this license.`
	veraText = `Copyright (c) 2003 by Bitstream, Inc. All Rights Reserved. Bitstream Vera is
a trademark of Bitstream, Inc.

Permission is hereby granted, free of charge, to any person obtaining a copy
of the fonts accompanying this license ("Fonts") and associated
documentation files (the "Font Software"), to reproduce and distribute the
Font Software.`
	unlicenseText = `This is free and unencumbered software released into the public domain.`
	gplText       = `This program is free software; you can redistribute it and/or modify
it under the terms of the GNU General Public License as published by
the Free Software Foundation; either version 2 of the License, or
(at your option) any later version.`
)

func TestDetectLicences(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"MIT", mitText, []string{"Expat"}},
		{"MIT on long lines", strings.Join(strings.Fields(mitText), " "), []string{"Expat"}},
		{"MIT in CRLF", strings.ReplaceAll(mitText, "\n", "\r\n"), []string{"Expat"}},
		{"BSD-3-Clause", bsd3Text, []string{"BSD-3-Clause"}},
		{"BSD-2-Clause", bsd2Text, []string{"BSD-2-Clause"}},
		{"BSD-4-Clause", bsd3Text + "\n   * All advertising materials mentioning features or use of this software", []string{"BSD-4-Clause"}},
		{"Apache-2.0, full text", apacheFull, []string{"Apache-2.0"}},
		{"Apache-2.0, a header", apacheHeader, []string{"Apache-2.0"}},
		{"ISC", iscText, []string{"ISC"}},
		{"Zlib", zlibText, []string{"Zlib"}},
		{"MPL-2.0", mplHeader, []string{"MPL-2.0"}},
		{"OFL-1.1", oflText, []string{"OFL-1.1"}},
		{"Bitstream Vera, not MIT", veraText, []string{"Bitstream-Vera"}},
		{"Unlicense", unlicenseText, []string{"Unlicense"}},
		{"MIT and Apache (yaml.v3)", "This project is covered by two different licenses: MIT and Apache.\n\n" + mitText + "\n\n" + apacheHeader,
			[]string{"Apache-2.0", "Expat"}},
		{"GPL: not one the packaging ships", gplText, nil},
		{"a README", "This module does things.", nil},
		{"Apache, version 1.1", "The Apache Software License, Version 1.1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := detectLicences(tc.text); !slices.Equal(got, tc.want) {
				t.Errorf("detectLicences = %q; want %q", got, tc.want)
			}
		})
	}
}

func TestIdentify(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		expr       string // "" when an error is wanted
	}{
		{"one licence", mitText, "Expat"},
		{"two, both apply", mitText + "\n" + apacheHeader, "Apache-2.0 and Expat"},
		{"a choice by SPDX", "SPDX-License-Identifier: Unlicense OR BSD-3-Clause\n\n" + bsd3Text + "\n" + unlicenseText, "Unlicense or BSD-3-Clause"},
		{"SPDX MIT is DEP-5 Expat", "SPDX-License-Identifier: MIT\n" + mitText, "Expat"},
		{"SPDX naming a text it lacks", "SPDX-License-Identifier: MIT OR Apache-2.0\n" + mitText, ""},
		{"SPDX with an exception", "SPDX-License-Identifier: GPL-2.0-or-later WITH Classpath-exception-2.0\n" + gplText, ""},
		{"unknown", gplText, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expr, _, err := identify(tc.text)
			if tc.expr == "" {
				if err == nil {
					t.Errorf("identify = %q; want an error", expr)
				}
				return
			}
			if err != nil || expr != tc.expr {
				t.Errorf("identify = %q, %v; want %q", expr, err, tc.expr)
			}
		})
	}
}

func TestCopyrightLines(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"Copyright (c) 2009 The Go Authors. All rights reserved.", []string{"2009 The Go Authors"}},
		{"Copyright 2021 The go-text authors", []string{"2021 The go-text authors"}},
		{"Copyright © 2018,2019,2020  Ebrahim Byagowi\nCopyright © 2012  Mozilla Foundation", []string{"2018,2019,2020 Ebrahim Byagowi", "2012 Mozilla Foundation"}},
		{"  Copyright (C) 2018 Fyne.io developers (see AUTHORS)", []string{"2018 Fyne.io developers (see AUTHORS)"}},
		{"Copyright (c) 2003 by Bitstream, Inc. All Rights Reserved. Bitstream Vera is", []string{"2003 by Bitstream, Inc"}},
		{"Copyright Yasuhiro MATSUMOTO <mattn.jp@gmail.com>", []string{"Yasuhiro MATSUMOTO <mattn.jp@gmail.com>"}},
		{"(c) 2014 Someone", []string{"2014 Someone"}},
		// Not statements: a licence's own wording and templates.
		{"   copyright notice, this list of conditions and the following disclaimer.", nil},
		{"The above copyright notice and this permission notice", nil},
		{"Copyright Holder. This restriction only applies to the primary font name", nil},
		{"Copyright Holder(s) and the Author(s)", nil},
		{"   Copyright [yyyy] [name of copyright owner]", nil},
		{"Copyright (c) <year> <owner>", nil},
		{"Copyright 2009 The Go Authors.\nCopyright 2009 The Go Authors.", []string{"2009 The Go Authors"}},
	} {
		if got := copyrightLines(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("copyrightLines(%q) = %q; want %q", tc.text, got, tc.want)
		}
	}
}

func TestEscapeModulePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"golang.org/x/net", "golang.org/x/net"},
		{"github.com/BurntSushi/toml", "github.com/!burnt!sushi/toml"},
		{"v2.2.1+incompatible", "v2.2.1+incompatible"},
		{"github.com/FyshOS/fancyfs", "github.com/!fysh!o!s/fancyfs"},
		{"bad!path", ""},
	} {
		got, err := escapeModulePath(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("escapeModulePath(%q) = %q; want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("escapeModulePath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

const testHead = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: vigil

Files: *
Copyright: 2026 The Vigil authors
License: unchosen
 No licence yet.
`

// deb822 splits a DEP-5 file into paragraphs of fields, failing on what is
// not a field or a continuation line.
func deb822(t *testing.T, text string) []map[string]string {
	t.Helper()
	var paras []map[string]string
	var cur map[string]string
	var last string
	for i, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		switch {
		case l == "":
			cur = nil
		case strings.HasPrefix(l, " "):
			if cur == nil || last == "" {
				t.Fatalf("line %d: a continuation line outside a field: %q", i+1, l)
			}
			if strings.TrimSpace(l) == "" || strings.HasSuffix(l, " ") || strings.Contains(l, "\t") {
				t.Fatalf("line %d: blank, trailing space or a tab: %q", i+1, l)
			}
			cur[last] += "\n" + l[1:]
		default:
			k, v, ok := strings.Cut(l, ":")
			if !ok {
				t.Fatalf("line %d: not a field: %q", i+1, l)
			}
			if cur == nil {
				cur = map[string]string{}
				paras = append(paras, cur)
			}
			if _, dup := cur[k]; dup {
				t.Fatalf("line %d: field %s twice in a paragraph", i+1, k)
			}
			cur[k], last = strings.TrimSpace(v), k
		}
	}
	return paras
}

// goEnvT is `go env NAME`, or skips the test.
func goEnvT(t *testing.T, name string) string {
	t.Helper()
	v, err := goEnv(name)
	if err != nil || v == "" {
		t.Skipf("go env %s: %v", name, err)
	}
	return v
}

// TestCopyrightFile makes the copyright file of this test binary, which
// links the agent and its modules, from the real module cache.
func TestCopyrightFile(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bi, err := buildinfo.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	text, err := copyrightFile(testHead, exe, goEnvT(t, "GOROOT"), goEnvT(t, "GOMODCACHE"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, testHead) {
		t.Error("the copyright file does not start with the head")
	}
	paras := deb822(t, text)
	files := map[string]map[string]string{}
	standalone := map[string]bool{}
	for _, p := range paras[1:] {
		if f, ok := p["Files"]; ok {
			if files[f] != nil {
				t.Errorf("Files: %s twice", f)
			}
			files[f] = p
			if p["Copyright"] == "" || p["License"] == "" {
				t.Errorf("Files: %s lacks Copyright or License: %q", f, p)
			}
		} else if l, ok := p["License"]; ok {
			standalone[strings.SplitN(l, "\n", 2)[0]] = true
		} else {
			t.Errorf("a paragraph that is neither Files nor License: %q", p)
		}
	}
	if p := files["GOROOT/src/*"]; p == nil || !strings.HasPrefix(p["License"], "BSD-3-Clause\n") || p["Copyright"] != "2009 The Go Authors" {
		t.Errorf("Go's paragraph: %q", p)
	}
	for _, d := range bi.Deps {
		if files["vendor/"+d.Path+"/*"] == nil {
			t.Errorf("no paragraph for %s", d.Path)
		}
	}
	// Every licence that is only named has its stand-alone paragraph, and
	// lintian's errors for Apache texts stay away.
	for f, p := range files {
		if name, _, hasText := strings.Cut(p["License"], "\n"); !hasText {
			for _, n := range strings.Fields(strings.NewReplacer(",", " ", " and ", " ", " or ", " ").Replace(name)) {
				if !standalone[n] {
					t.Errorf("Files: %s: License: %s has no text and no stand-alone paragraph for %s", f, name, n)
				}
			}
		}
	}
	if strings.Contains(text, "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION") {
		t.Error("the copyright file holds the full Apache licence (lintian: copyright-file-contains-full-apache-2-license)")
	}
	// yaml.v3: the MIT text and the Apache header in place, pointing at
	// Debian's copy of the Apache licence, and its NOTICE.
	if y := files["vendor/gopkg.in/yaml.v3/*"]; y == nil || !strings.HasPrefix(y["License"], "Apache-2.0 and Expat\n") ||
		!strings.Contains(y["License"], "Permission is hereby granted") ||
		!strings.Contains(y["License"], "\n.\nOn Debian systems, the full text of the Apache License, Version 2.0\ncan be found in the file /usr/share/common-licenses/Apache-2.0.") ||
		!strings.Contains(y["Comment"], "NOTICE") {
		t.Errorf("yaml.v3 (MIT and Apache, with a NOTICE): %q", y)
	}
	// A stand-alone paragraph only for what some Files paragraph only names.
	for n := range standalone {
		used := false
		for _, p := range files {
			if name, _, hasText := strings.Cut(p["License"], "\n"); !hasText && strings.Contains(" "+name+" ", " "+n+" ") {
				used = true
			}
		}
		if !used {
			t.Errorf("License: %s stands alone but no Files paragraph needs it", n)
		}
	}
}

// A module without a licence file, or missing from the cache, fails the
// package's build with a message naming it.
func TestCopyrightFileNamesModuleWithoutLicence(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bi, err := buildinfo.ReadFile(exe)
	if err != nil || len(bi.Deps) == 0 {
		t.Fatalf("no modules in the test binary's build info (%v)", err)
	}
	goroot := goEnvT(t, "GOROOT")
	cache := t.TempDir()
	d := bi.Deps[0]
	_, err = copyrightFile(testHead, exe, goroot, cache)
	if err == nil || !strings.Contains(err.Error(), d.Path) || !strings.Contains(err.Error(), "not in the module cache") {
		t.Errorf("with an empty module cache: %v; want an error naming %s", err, d.Path)
	}
	p, _ := escapeModulePath(d.Path)
	v, _ := escapeModulePath(d.Version)
	dir := filepath.Join(cache, filepath.FromSlash(p+"@"+v))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "code.go"), []byte("package x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = copyrightFile(testHead, exe, goroot, cache)
	if err == nil || !strings.Contains(err.Error(), d.Path) || !strings.Contains(err.Error(), "no licence file") {
		t.Errorf("with no licence file: %v; want an error naming %s", err, d.Path)
	}
	if err := os.WriteFile(filepath.Join(dir, "LICENSE"), []byte(gplText), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = copyrightFile(testHead, exe, goroot, cache)
	if err == nil || !strings.Contains(err.Error(), d.Path) || !strings.Contains(err.Error(), "does not recognise") {
		t.Errorf("with a licence it does not know: %v; want an error naming %s", err, d.Path)
	}
}

func TestScanLicencesSkipsWhatIsNotBuilt(t *testing.T) {
	root := t.TempDir()
	write := func(p, text string) {
		t.Helper()
		p = filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("LICENSE", bsd3Text)
	write("fonts/LICENSE_Font.txt", oflText)
	write("testdata/LICENSE", gplText)
	write("_examples/LICENSE", gplText)
	write("cmd/tool/LICENSE", gplText)
	write("cmd/tool/main.go", "package main\n")
	write("license.go", "package x\n")
	write("license_test.go", "package x\n")
	write("NOTICE", "Copyright 2020 Someone Else\n")
	dirs, err := scanLicences(root, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 2 || dirs["."] == nil || dirs["fonts"] == nil {
		t.Fatalf("directories %v; want . and fonts", slices.Collect(maps.Keys(dirs)))
	}
	top := dirs["."]
	if len(top.licences) != 1 || top.licences[0].expr != "BSD-3-Clause" || len(top.notices) != 1 ||
		!slices.Equal(top.holders, []string{"2009 The Go Authors", "2020 Someone Else"}) {
		t.Errorf("root: %+v", top)
	}
}

func TestParseHelp(t *testing.T) {
	agentStyle := "usage: tool COMMAND [flags]\n\ncommands:\n" +
		"  run --config FILE      serve\n" +
		"  install --config F     register the agent,\n" +
		"                         enabled but not started\n" +
		"  version                print the version\n"
	consoleStyle := "usage: tool [COMMAND] [flags]\n\n" +
		"  tool [--data DIR]              open the console\n" +
		"  tool alert set --smtp-host H --smtp-port P --tls none|starttls|tls\n" +
		"        [--user U] [--data DIR]\n" +
		"                                 save the settings\n" +
		"  tool version                   print the version\n"
	for _, tc := range []struct {
		name, help string
		usage      string
		sections   []helpSection
		err        bool
	}{
		{name: "a heading, a description on two lines", help: agentStyle, usage: "tool COMMAND [flags]",
			sections: []helpSection{{title: "commands", entries: []helpEntry{
				{"run --config FILE", "serve"},
				{"install --config F", "register the agent, enabled but not started"},
				{"version", "print the version"},
			}}}},
		{name: "a form on two lines, its description below", help: consoleStyle, usage: "tool [COMMAND] [flags]",
			sections: []helpSection{{entries: []helpEntry{
				{"tool [--data DIR]", "open the console"},
				{"tool alert set --smtp-host H --smtp-port P --tls none|starttls|tls [--user U] [--data DIR]", "save the settings"},
				{"tool version", "print the version"},
			}}}},
		{name: "no usage line", help: "tool does things\n", err: true},
		{name: "no description column", help: "usage: tool\n\n  tool run\n", err: true},
		{name: "a form without a description", help: "usage: tool\n\n  tool run      run it\n  tool stop\n", err: true},
		{name: "a line indented one space", help: "usage: tool\n\n  tool run      run it\n tool stop     stop it\n", err: true},
		{name: "a paragraph of prose", help: "usage: tool\n\n  tool run      run it\nSee the manual.\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			usage, sections, err := parseHelp(tc.help)
			if tc.err {
				if err == nil {
					t.Errorf("parseHelp = %q, %+v; want an error", usage, sections)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if usage != tc.usage || !reflect.DeepEqual(sections, tc.sections) {
				t.Errorf("parseHelp = %q, %+v\nwant %q, %+v", usage, sections, tc.usage, tc.sections)
			}
		})
	}
}

func TestRoff(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"vigil-agent --config F", `vigil\-agent \-\-config F`},
		{`C:\ProgramData`, `C:\eProgramData`},
		{".hidden", `\&.hidden`},
		{"'quoted'", `\&'quoted'`},
		{"plain text", "plain text"},
	} {
		if got := roff(tc.in); got != tc.want {
			t.Errorf("roff(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"vigil alert set --smtp-host H", `\fBvigil alert set\fR \-\-smtp\-host H`},
		{"run --config FILE", `\fBrun\fR \-\-config FILE`},
		{"vigil procedure list|run ...", `\fBvigil procedure\fR list|run ...`},
		{"[--data DIR]", `[\-\-data DIR]`},
	} {
		if got := formLine(tc.in); got != tc.want {
			t.Errorf("formLine(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestLdflagsVersion(t *testing.T) {
	const main = "github.com/vigilops/vigil"
	for _, tc := range []struct{ ldflags, want string }{
		{"-s -w -X github.com/vigilops/vigil/actions.Version=0.1.0", "0.1.0"},
		{"-X=github.com/vigilops/vigil/actions.Version=1.2.3-4-gabcdef0 -s", "1.2.3-4-gabcdef0"},
		{"-s -w", ""},
		{"-X example.com/other/actions.Version=9", ""},
	} {
		if got := ldflagsVersion(main, tc.ldflags); got != tc.want {
			t.Errorf("ldflagsVersion(%q) = %q; want %q", tc.ldflags, got, tc.want)
		}
	}
}

// The pages: from the help text, in the section the page's file name says,
// every command of the help text as an item, and, when groff's man is
// here, no warnings from it (lintian runs the same command).
func TestManPages(t *testing.T) {
	agentHelpText, err := agentHelp()
	if err != nil {
		t.Fatal(err)
	}
	consoleHelp := "usage: vigil [COMMAND] [flags]\n\n" +
		"  vigil [--data DIR]                      open the console\n" +
		"  vigil alert set --smtp-host H --smtp-port P --tls none|starttls|tls --from ADDR --to ADDR[,ADDR]\n" +
		"                [--user U --password-file F] [--data DIR]\n" +
		"                                          save the email alert settings (see vigil alert help)\n" +
		"  vigil version                           print the version\n"
	date := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, help string
		want       []string
	}{
		{"vigil-agent", agentHelpText, []string{
			`.TH "VIGIL\-AGENT" 1 "2026\-11\-23" "vigil\-agent 1.2.3" "Vigil"`,
			".SH NAME\nvigil\\-agent \\- Vigil host agent for redundant server systems\n",
			".SH SYNOPSIS\n\\fBvigil\\-agent\\fR COMMAND [flags]\n",
			".TP\n\\fBrun\\fR \\-\\-config FILE\nserve the agent API and advertise this server\n",
			".TP\n\\fBpair\\-code\\fR \\-\\-config F\n",
			"enabled but not started",
			".SH FILES\n.TP\n\\fI/etc/vigil\\-agent/agent.yaml\\fR\n",
			"\\fI/var/lib/vigil\\-agent\\fR",
			".SH SEE ALSO\n\\fBvigil\\fR(1)",
		}},
		{"vigil", consoleHelp, []string{
			`.TH "VIGIL" 1 "2026\-11\-23" "vigil 1.2.3" "Vigil"`,
			".SH NAME\nvigil \\- operator console for redundant server systems\n",
			".SH SYNOPSIS\n\\fBvigil\\fR [COMMAND] [flags]\n",
			".SH COMMANDS\n.TP\n\\fBvigil\\fR [\\-\\-data DIR]\nopen the console\n",
			"\\-\\-to ADDR[,ADDR] [\\-\\-user U \\-\\-password\\-file F] [\\-\\-data DIR]\nsave the email alert settings",
			".SH FILES\n.TP\n\\fI$XDG_DATA_HOME/vigil, by default ~/.local/share/vigil\\fR\n",
			".SH SEE ALSO\n\\fBvigil\\-agent\\fR(1)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := manText(tc.name, tc.help, "1.2.3", date)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.want {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q:\n%s", want, page)
				}
			}
			if tc.name == "vigil-agent" {
				// Every command the agent has, from its own help text.
				for _, cmd := range []string{"run", "init", "pair\\-code", "install", "uninstall", "version"} {
					if !strings.Contains(page, ".TP\n\\fB"+cmd+"\\fR") {
						t.Errorf("no item for %s", cmd)
					}
				}
			}
			for i, l := range strings.Split(page, "\n") {
				if strings.HasPrefix(l, "'") || (strings.HasPrefix(l, ".") && !regexp.MustCompile(`^\.(\\"|[A-Za-z]{1,2}( |$))`).MatchString(l)) {
					t.Errorf("line %d is a roff request it should not be: %q", i+1, l)
				}
			}
			if _, err := exec.LookPath("man"); err != nil {
				t.Skip("no man here to check the page with")
			}
			dir := filepath.Join(t.TempDir(), "man1")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, tc.name+".1")
			if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, width := range []string{"80", "120"} {
				cmd := exec.Command("man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", file)
				cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MANWIDTH="+width, "MANROFFSEQ=")
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Run(); err != nil || stderr.Len() > 0 {
					t.Errorf("man --warnings (width %s): %v\n%s", width, err, stderr.String())
				}
			}
		})
	}
	if _, err := manText("vigil", agentHelpText, "1", date); err == nil {
		t.Error("vigil's page made from the agent's help text")
	}
	if _, err := manText("other", consoleHelp, "1", date); err == nil {
		t.Error("a page for a program that has none")
	}
}
