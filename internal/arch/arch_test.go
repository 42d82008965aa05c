package arch

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/vigilops/vigil"

// root is the module's root: the directory above this one with go.mod.
func root(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = up
	}
}

// rows reads the packages of ARCHITECTURE.md's table, top to bottom: the
// first cell of each row, `main.go` standing for the module's root.
func rows(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cell := regexp.MustCompile("^\\| `([^`]+)` \\|")
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := cell.FindStringSubmatch(sc.Text()); m != nil {
			name := m[1]
			if name == "main.go" {
				name = "."
			}
			out = append(out, name)
		}
	}
	if len(out) < 5 {
		t.Fatalf("ARCHITECTURE.md: found %d rows of the package table, expected the table", len(out))
	}
	return out
}

// rowOf is the index of the row a package (a path relative to the root)
// falls under: its own, or its closest parent's.
func rowOf(table []string, pkg string) int {
	best, bestLen := -1, -1
	for i, r := range table {
		if (pkg == r || r == "." && pkg == ".") || strings.HasPrefix(pkg, r+"/") {
			if len(r) > bestLen {
				best, bestLen = i, len(r)
			}
		}
	}
	return best
}

// imports lists, per package directory relative to the root, the module's
// packages its non-test Go files import.
func imports(t *testing.T, dir string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != dir || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		if _, ok := out[rel]; !ok {
			out[rel] = nil
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			dep := ""
			switch {
			case p == module:
				dep = "."
			case strings.HasPrefix(p, module+"/"):
				dep = strings.TrimPrefix(p, module+"/")
			}
			if dep != "" && !slices.Contains(out[rel], dep) {
				out[rel] = append(out[rel], dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImportsGoDownTheTable: every package of the module has a row in
// ARCHITECTURE.md's table (its own or a parent's), and imports only
// packages of its own row or of rows below it.
func TestImportsGoDownTheTable(t *testing.T) {
	dir := root(t)
	table := rows(t, dir)
	for pkg, deps := range imports(t, dir) {
		from := rowOf(table, pkg)
		if from < 0 {
			t.Errorf("package %s has no row in ARCHITECTURE.md's table", pkg)
			continue
		}
		for _, dep := range deps {
			to := rowOf(table, dep)
			if to < 0 {
				t.Errorf("package %s imports %s, which has no row in ARCHITECTURE.md's table", pkg, dep)
				continue
			}
			if to < from {
				t.Errorf("package %s (row %s) imports %s (row %s), which is above it in ARCHITECTURE.md's table",
					pkg, table[from], dep, table[to])
			}
		}
	}
}

// TestRowOf pins the matching the check above relies on.
func TestRowOf(t *testing.T) {
	table := []string{".", "app", "sim", "simulate", "model"}
	for pkg, want := range map[string]int{".": 0, "app": 1, "sim/fleet": 2, "simulate": 3, "simulate/x": 3, "model": 4, "other": -1} {
		if got := rowOf(table, pkg); got != want {
			t.Errorf("rowOf(%q) = %d, want %d", pkg, got, want)
		}
	}
}
