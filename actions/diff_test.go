package actions

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"equal", "a\nb\n", "a\nb\n", ""},
		{"both empty", "", "", ""},
		{"one line changed", "a\nb\nc\n", "a\nB\nc\n", "--- f\n+++ f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
		{"context is three lines", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nX\n6\n7\n8\n9\n",
			"--- f\n+++ f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+X\n 6\n 7\n 8\n"},
		{"far changes make two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "X\n2\n3\n4\n5\n6\n7\n8\n9\nY\n",
			"--- f\n+++ f\n@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n 4\n@@ -7,4 +7,4 @@\n 7\n 8\n 9\n-10\n+Y\n"},
		{"near changes share a hunk", "1\n2\n3\n4\n5\n6\n7\n8\n", "X\n2\n3\n4\n5\n6\n7\nY\n",
			"--- f\n+++ f\n@@ -1,8 +1,8 @@\n-1\n+X\n 2\n 3\n 4\n 5\n 6\n 7\n-8\n+Y\n"},
		{"from empty", "", "a\n", "--- f\n+++ f\n@@ -0,0 +1 @@\n+a\n"},
		{"to empty", "a\nb\n", "", "--- f\n+++ f\n@@ -1,2 +0,0 @@\n-a\n-b\n"},
		{"no newline at end", "a\nb", "a\nc", "--- f\n+++ f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"},
		{"newline added at end", "a", "a\n", "--- f\n+++ f\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+a\n"},
		{"CRLF kept", "a\r\nb\r\n", "a\r\nc\r\n", "--- f\n+++ f\n@@ -1,2 +1,2 @@\n a\r\n-b\r\n+c\r\n"},
		{"line ending change shows", "a\r\n", "a\n", "--- f\n+++ f\n@@ -1 +1 @@\n-a\r\n+a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UnifiedDiff("f", []byte(tt.old), []byte(tt.new))
			if got != tt.want {
				t.Errorf("UnifiedDiff:\n%s\nwant:\n%s", got, tt.want)
			}
			checkDiffApplies(t, tt.old, tt.new, got)
		})
	}
}

// TestUnifiedDiffMatchesGNU compares hunks with diff -u where the shortest
// edit is unique, so both must print the same.
func TestUnifiedDiffMatchesGNU(t *testing.T) {
	if _, err := exec.LookPath("diff"); err != nil {
		t.Skip("no diff on this host")
	}
	pairs := [][2]string{
		{"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "1\n2\n3\nfour\n5\n6\n7\n8\n9\n10\n11\ntwelve\n"},
		{"a\nb\nc", "a\nb\nc\nd"},
		{"x\n", "x\ny\nz\n"},
		{"<IsSlave>False</IsSlave>\r\n<Port>1</Port>\r\n", "<IsSlave>True</IsSlave>\r\n<Port>1</Port>\r\n"},
	}
	dir := t.TempDir()
	for i, p := range pairs {
		a, b := filepath.Join(dir, "a"+strconv.Itoa(i)), filepath.Join(dir, "b"+strconv.Itoa(i))
		os.WriteFile(a, []byte(p[0]), 0o600)
		os.WriteFile(b, []byte(p[1]), 0o600)
		out, _ := exec.Command("diff", "-u", a, b).Output()
		gnu := string(out[bytes.Index(out, []byte("@@")):])
		ours := UnifiedDiff("f", []byte(p[0]), []byte(p[1]))
		ours = ours[strings.Index(ours, "@@"):]
		if ours != gnu {
			t.Errorf("pair %d:\nours:\n%s\ndiff -u:\n%s", i, ours, gnu)
		}
	}
}

// TestUnifiedDiffRandom checks on random files that the diff applies and is
// a shortest one: as many changed lines as the longest common subsequence
// leaves.
func TestUnifiedDiffRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gen := func() []string {
		lines := make([]string, r.IntN(30))
		for i := range lines {
			lines[i] = string(rune('a'+r.IntN(4))) + "\n"
		}
		return lines
	}
	for i := range 2000 {
		a, b := gen(), gen()
		old, new := strings.Join(a, ""), strings.Join(b, "")
		d := UnifiedDiff("f", []byte(old), []byte(new))
		checkDiffApplies(t, old, new, d)
		changed := strings.Count(d, "\n-") + strings.Count(d, "\n+") - 1 // less the +++ header
		if old == new {
			changed = 0
		}
		if want := len(a) + len(b) - 2*lcsLen(a, b); changed != want {
			t.Fatalf("case %d: %d changed lines, shortest is %d\nold %q\nnew %q\n%s", i, changed, want, old, new, d)
		}
	}
}

func TestUnifiedDiffFallback(t *testing.T) {
	// Past maxDiffEdits the diff is longer but must still apply.
	var a, b strings.Builder
	for i := range 3 * maxDiffEdits {
		fmt.Fprintf(&a, "a%d\n", i)
		fmt.Fprintf(&b, "b%d\n", i)
	}
	d := UnifiedDiff("f", []byte(a.String()), []byte(b.String()))
	checkDiffApplies(t, a.String(), b.String(), d)
}

func FuzzUnifiedDiff(f *testing.F) {
	f.Add([]byte("a\nb\nc\n"), []byte("a\nB\nc\n"))
	f.Add([]byte("a\r\nb"), []byte("a\nb\n"))
	f.Add([]byte(""), []byte("x"))
	f.Fuzz(func(t *testing.T, old, new []byte) {
		checkDiffApplies(t, string(old), string(new), UnifiedDiff("f", old, new))
	})
}

func lcsLen(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

// checkDiffApplies applies a unified diff to old, checking context and
// counts as patch does, and compares the result with new.
func checkDiffApplies(t *testing.T, old, new, diff string) {
	t.Helper()
	if diff == "" {
		if old != new {
			t.Fatalf("empty diff for different files")
		}
		return
	}
	got, err := applyUnified(old, diff)
	if err != nil {
		t.Fatalf("diff does not apply: %v\n%s", err, diff)
	}
	if got != new {
		t.Fatalf("diff applied gives %q, want %q\n%s", got, new, diff)
	}
}

func applyUnified(old, diff string) (string, error) {
	src := splitLines([]byte(old))
	lines := strings.SplitAfter(diff, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "--- ") || !strings.HasPrefix(lines[1], "+++ ") {
		return "", fmt.Errorf("bad headers")
	}
	var out []string
	pos := 0
	i := 2
	for i < len(lines) && lines[i] != "" {
		var os, oc, ns, nc int
		if _, err := fmt.Sscanf(lines[i], "@@ -%s +%s @@\n", new(string), new(string)); err != nil {
			return "", fmt.Errorf("bad hunk header %q", lines[i])
		}
		f := strings.Fields(lines[i])
		os, oc = parseRange(f[1][1:])
		ns, nc = parseRange(f[2][1:])
		_ = ns
		start := os - 1
		if oc == 0 {
			start = os
		}
		if start < pos || start > len(src) {
			return "", fmt.Errorf("hunk at %d out of order", os)
		}
		out = append(out, src[pos:start]...)
		pos = start
		i++
		var gotO, gotN int
		for i < len(lines) && lines[i] != "" && !strings.HasPrefix(lines[i], "@@") {
			l := lines[i]
			body := l[1:]
			if i+1 < len(lines) && lines[i+1] == "\\ No newline at end of file\n" {
				body = strings.TrimSuffix(body, "\n")
				i++
			}
			switch l[0] {
			case ' ', '-':
				if pos >= len(src) || src[pos] != body {
					return "", fmt.Errorf("line %d: have %q, diff says %q", pos+1, at(src, pos), body)
				}
				if l[0] == ' ' {
					out = append(out, body)
					gotN++
				}
				pos++
				gotO++
			case '+':
				out = append(out, body)
				gotN++
			default:
				return "", fmt.Errorf("bad line %q", l)
			}
			i++
		}
		if gotO != oc || gotN != nc {
			return "", fmt.Errorf("hunk counts %d,%d, header says %d,%d", gotO, gotN, oc, nc)
		}
	}
	out = append(out, src[pos:]...)
	return strings.Join(out, ""), nil
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "<end of file>"
}

func parseRange(s string) (start, count int) {
	a, b, ok := strings.Cut(s, ",")
	start, _ = strconv.Atoi(a)
	count = 1
	if ok {
		count, _ = strconv.Atoi(b)
	}
	return start, count
}
