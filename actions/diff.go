package actions

import (
	"bytes"
	"fmt"
	"strings"
)

// diffContext is the number of unchanged lines shown around each change, as
// diff -u does.
const diffContext = 3

// maxDiffEdits and maxDiffWork bound the line diff (edits, and line
// comparisons). Past either the differing middle of the files is shown as
// removed and re-added: still a correct diff, only not the shortest.
// Settings edits change a line or two.
const (
	maxDiffEdits = 1000
	maxDiffWork  = 20_000_000
)

// UnifiedDiff returns the changes from old to new as a unified diff of lines
// with three lines of context, headed by name, for an operator to read before
// and after a change. It is empty when old and new are equal. Lines keep
// their endings, so a change of line ending shows, and a last line without a
// newline is marked as diff -u marks it.
func UnifiedDiff(name string, old, new []byte) string {
	if bytes.Equal(old, new) {
		return ""
	}
	ops := diffLines(splitLines(old), splitLines(new))
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", name, name)
	for _, h := range hunks(ops) {
		writeHunk(&b, ops[h[0]:h[1]])
	}
	return b.String()
}

// splitLines splits s after each newline; the last line may lack one.
func splitLines(s []byte) []string {
	var lines []string
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\n') + 1
		if i == 0 {
			i = len(s)
		}
		lines = append(lines, string(s[:i]))
		s = s[i:]
	}
	return lines
}

// diffOp is one line of the edit script: kept (' '), removed ('-') or added
// ('+'). oldPos and newPos count the lines of each side before it.
type diffOp struct {
	kind           byte
	line           string
	oldPos, newPos int
}

// diffLines returns an edit script from a to b.
func diffLines(a, b []string) []diffOp {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var ops []diffOp
	o, n := 0, 0
	add := func(kind byte, line string) {
		ops = append(ops, diffOp{kind, line, o, n})
		if kind != '+' {
			o++
		}
		if kind != '-' {
			n++
		}
	}
	for _, l := range a[:pre] {
		add(' ', l)
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	script, ok := myers(ma, mb)
	if !ok {
		script = nil
		for range ma {
			script = append(script, '-')
		}
		for range mb {
			script = append(script, '+')
		}
	}
	i, j := 0, 0
	for _, k := range script {
		switch k {
		case ' ':
			add(' ', ma[i])
			i, j = i+1, j+1
		case '-':
			add('-', ma[i])
			i++
		case '+':
			add('+', mb[j])
			j++
		}
	}
	for _, l := range a[len(a)-suf:] {
		add(' ', l)
	}
	return ops
}

// myers finds a shortest edit script from a to b (E. Myers, "An O(ND)
// difference algorithm", 1986), as a string of ' ', '-' and '+'. It gives up
// (ok false) past maxDiffEdits edits or maxDiffWork comparisons.
func myers(a, b []string) (script []byte, ok bool) {
	// Compare numbers, not strings.
	ids := map[string]int{}
	id := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, l := range lines {
			v, seen := ids[l]
			if !seen {
				v = len(ids)
				ids[l] = v
			}
			out[i] = v
		}
		return out
	}
	x, y := id(a), id(b)
	n, m := len(x), len(y)
	max := n + m
	off := max + 1
	v := make([]int, 2*max+3)
	// trace[d] holds v[-d..d] after step d, all the backtrack needs: the
	// memory is O(D²), not O(D·(N+M)).
	var trace [][]int
	work := 0
	for d := 0; d <= max; d++ {
		if d > maxDiffEdits {
			return nil, false
		}
		done := false
		for k := -d; k <= d; k += 2 {
			var i int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				i = v[off+k+1]
			} else {
				i = v[off+k-1] + 1
			}
			j := i - k
			from := i
			for i < n && j < m && x[i] == y[j] {
				i, j = i+1, j+1
			}
			if work += i - from + 1; work > maxDiffWork {
				return nil, false
			}
			v[off+k] = i
			done = done || i >= n && j >= m
		}
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
		if done {
			return backtrack(trace, n, m), true
		}
	}
	return nil, false
}

// backtrack walks the snapshots of myers from the end to the start and
// returns the edit script in order.
func backtrack(trace [][]int, n, m int) []byte {
	var rev []byte
	i, j := n, m
	for d := len(trace) - 1; d > 0; d-- {
		prev := trace[d-1] // v[-(d-1)..d-1]
		at := func(k int) int { return prev[k+d-1] }
		k := i - j
		var pk int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		pi := at(pk)
		pj := pi - pk
		for i > pi && j > pj {
			rev = append(rev, ' ')
			i, j = i-1, j-1
		}
		if i == pi {
			rev = append(rev, '+')
			j--
		} else {
			rev = append(rev, '-')
			i--
		}
	}
	for ; i > 0; i-- {
		rev = append(rev, ' ')
	}
	for l, r := 0, len(rev)-1; l < r; l, r = l+1, r-1 {
		rev[l], rev[r] = rev[r], rev[l]
	}
	return rev
}

// hunks groups the changes of ops with their context into [start, end)
// ranges of ops; changes closer than twice the context share a hunk.
func hunks(ops []diffOp) [][2]int {
	var hs [][2]int
	for i, op := range ops {
		if op.kind == ' ' {
			continue
		}
		s, e := max(0, i-diffContext), min(len(ops), i+1+diffContext)
		if len(hs) > 0 && s <= hs[len(hs)-1][1] {
			hs[len(hs)-1][1] = e
		} else {
			hs = append(hs, [2]int{s, e})
		}
	}
	return hs
}

func writeHunk(b *strings.Builder, ops []diffOp) {
	var oldN, newN int
	for _, op := range ops {
		if op.kind != '+' {
			oldN++
		}
		if op.kind != '-' {
			newN++
		}
	}
	fmt.Fprintf(b, "@@ -%s +%s @@\n", hunkRange(ops[0].oldPos, oldN), hunkRange(ops[0].newPos, newN))
	for _, op := range ops {
		b.WriteByte(op.kind)
		b.WriteString(op.line)
		if !strings.HasSuffix(op.line, "\n") {
			b.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

// hunkRange formats a hunk's line range the way diff -u does: an empty range
// names the line before it, and a count of one is left out.
func hunkRange(before, count int) string {
	switch count {
	case 0:
		return fmt.Sprintf("%d,0", before)
	case 1:
		return fmt.Sprintf("%d", before+1)
	}
	return fmt.Sprintf("%d,%d", before+1, count)
}
