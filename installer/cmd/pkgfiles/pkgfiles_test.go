package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
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
		"\n[Unit]\nDescription=Vigil host agent\n",
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
