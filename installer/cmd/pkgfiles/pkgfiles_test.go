package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
