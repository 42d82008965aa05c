package actions

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// confineTree makes a declared directory with a file, a link that stays
// inside, links that lead out, and a dangling link. It returns the root, its
// resolved form, and the directory outside it.
func confineTree(t testing.TB) (root, resolved, outside string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "root")
	outside = filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "sub"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(root, "sub", "file"), "inside")
	write(t, filepath.Join(outside, "secret"), "outside")
	links := map[string]string{
		"inlink":   "sub",                                  // a directory inside
		"filelink": filepath.Join("sub", "file"),           // a file inside
		"uplink":   filepath.Join("sub", "..", "sub"),      // climbs, but stays
		"outlink":  outside,                                // absolute, out
		"outrel":   filepath.Join("..", "outside"),         // relative, out
		"outfile":  filepath.Join(outside, "secret"),       // the last component, out
		"dangling": filepath.Join("..", "outside", "nope"), // would create outside
		"selflink": ".",                                    // the root itself
	}
	for name, to := range links {
		if err := os.Symlink(to, filepath.Join(root, name)); err != nil {
			t.Skipf("cannot make symbolic links here: %v", err)
		}
	}
	// A link inside a subdirectory that leads out by climbing.
	if err := os.Symlink(filepath.Join("..", "..", "outside"), filepath.Join(root, "sub", "deep")); err != nil {
		t.Fatal(err)
	}
	resolved, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, resolved, outside
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

var confineCases = []struct {
	rel     string
	want    string // relative to the resolved root, with /; "" when refused or failed
	refused bool
}{
	{rel: "Settings.xml", want: "Settings.xml"},
	{rel: "sub/file", want: "sub/file"},
	{rel: "sub/./file", want: "sub/file"},
	{rel: "sub/../sub/file", want: "sub/file"},
	{rel: `sub\file`, want: "sub/file"},
	{rel: "new/dir/task", want: "new/dir/task"},
	{rel: "inlink/file", want: "sub/file"},
	{rel: "inlink/new", want: "sub/new"},
	{rel: "filelink", want: "sub/file"},
	{rel: "uplink/file", want: "sub/file"},
	{rel: "selflink/sub/file", want: "sub/file"},
	// ".." is resolved as written, before any link: outlink/.. is the root.
	{rel: "outlink/../sub/file", want: "sub/file"},

	{rel: "../../etc/passwd", refused: true},
	{rel: "..", refused: true},
	{rel: "sub/../../x", refused: true},
	{rel: `..\..\windows\win.ini`, refused: true},
	{rel: "/etc/passwd", refused: true},
	{rel: `\x`, refused: true},
	{rel: `C:\Windows\win.ini`, refused: true},
	{rel: "c:x", refused: true},
	{rel: `\\server\share\x`, refused: true},
	{rel: "//server/share/x", refused: true},
	{rel: "a\x00b", refused: true},
	{rel: "", refused: true},
	{rel: ".", refused: true},
	{rel: "sub/..", refused: true},
	{rel: "selflink", refused: true},
	{rel: "outlink/secret", refused: true},
	{rel: "outlink/new", refused: true},
	{rel: "outrel/secret", refused: true},
	{rel: "outfile", refused: true},
	{rel: "dangling", refused: true},
	{rel: "sub/deep/secret", refused: true},
	{rel: "inlink/deep/secret", refused: true},
}

func TestConfine(t *testing.T) {
	root, resolved, _ := confineTree(t)
	for _, tt := range confineCases {
		t.Run(tt.rel, func(t *testing.T) {
			got, err := Confine(root, tt.rel)
			var refused *RefusedError
			if tt.refused {
				if !errors.As(err, &refused) {
					t.Fatalf("Confine(%q) = %q, %v; want a *RefusedError", tt.rel, got, err)
				}
				if tt.rel != "" && !strings.Contains(err.Error(), "path") {
					t.Errorf("reason %q does not name the path", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Confine(%q): %v", tt.rel, err)
			}
			if want := filepath.Join(resolved, filepath.FromSlash(tt.want)); got != want {
				t.Errorf("Confine(%q) = %q, want %q", tt.rel, got, want)
			}
		})
	}
}

func TestConfineNotADirectory(t *testing.T) {
	root, _, _ := confineTree(t)
	_, err := Confine(root, "sub/file/x")
	var refused *RefusedError
	if err == nil || errors.As(err, &refused) || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("err = %v, want a plain 'not a directory' error", err)
	}
}

func TestConfineMissingRoot(t *testing.T) {
	if _, err := Confine(filepath.Join(t.TempDir(), "nope"), "x"); err == nil {
		t.Fatal("a missing declared directory was accepted")
	}
}

func TestConfineRootIsLink(t *testing.T) {
	root, resolved, _ := confineTree(t)
	link := filepath.Join(t.TempDir(), "rootlink")
	if err := os.Symlink(root, link); err != nil {
		t.Skip(err)
	}
	got, err := Confine(link, "sub/file")
	if want := filepath.Join(resolved, "sub", "file"); err != nil || got != want {
		t.Fatalf("Confine = %q, %v; want %q", got, err, want)
	}
}

func TestConfineSpecialFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no FIFOs")
	}
	root, _, _ := confineTree(t)
	if err := exec.Command("mkfifo", filepath.Join(root, "fifo")).Run(); err != nil {
		t.Skip("mkfifo:", err)
	}
	if err := os.Symlink("fifo", filepath.Join(root, "fifolink")); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"fifo", "fifolink"} {
		var refused *RefusedError
		if _, err := Confine(root, rel); !errors.As(err, &refused) {
			t.Errorf("%s was accepted: %v", rel, err)
		}
	}
}

func FuzzConfine(f *testing.F) {
	for _, tt := range confineCases {
		f.Add(tt.rel)
	}
	root, resolved, outside := confineTree(f)
	f.Fuzz(func(t *testing.T, rel string) {
		got, err := Confine(root, rel)
		if err != nil {
			return
		}
		if !filepath.IsAbs(got) || filepath.Clean(got) != got {
			t.Fatalf("Confine(%q) = %q: not absolute and clean", rel, got)
		}
		if got == resolved || !isWithin(resolved, got) {
			t.Fatalf("Confine(%q) = %q: not inside %q", rel, got, resolved)
		}
		if strings.HasPrefix(got, outside) {
			t.Fatalf("Confine(%q) = %q: in the outside directory", rel, got)
		}
		// What exists must really be inside once every link is followed.
		if real, err := filepath.EvalSymlinks(got); err == nil && !isWithin(resolved, real) {
			t.Fatalf("Confine(%q) = %q, which leads to %q", rel, got, real)
		}
	})
}
