//go:build unix

package actions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func cmdDo(t *testing.T, e Executor, name string, dryRun bool) Outcome {
	t.Helper()
	return svcDo(t, e, map[string]string{"command": name}, dryRun)
}

func TestCommandRun(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	greet := svcScript(t, dir, "cmd-greet", `echo "out $1 in $PWD"; echo err >&2; touch "$2"`)
	fail := svcScript(t, dir, "cmd-fail", "echo broken; exit 3\n")
	signal := svcScript(t, dir, "cmd-signal", "kill -9 $$\n")
	e := NewCommandRun([]Command{
		{Name: "greet", Argv: []string{greet, "hello world", marker}, Dir: dir},
		{Name: "fail", Argv: []string{fail}},
		{Name: "signal", Argv: []string{signal}},
	})

	wantDiff := "run greet: " + greet + " 'hello world' " + marker
	if got := cmdDo(t, e, "greet", true); got != (Outcome{Changed: true, Diff: wantDiff}) {
		t.Errorf("dry run: %+v, want only the diff %q", got, wantDiff)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the dry run ran the command")
	}
	got := cmdDo(t, e, "greet", false)
	if !got.Changed || got.Diff != wantDiff || got.ExitCode == nil || *got.ExitCode != 0 {
		t.Errorf("run: %+v, want a change, the diff and exit code 0", got)
	}
	if want := "out hello world in " + dir + "\nerr\n"; got.Output != want {
		t.Errorf("output %q, want %q", got.Output, want)
	}

	// A failing program is reported, not an agent error: it ran.
	got = cmdDo(t, e, "fail", false)
	if !got.Changed || got.ExitCode == nil || *got.ExitCode != 3 || got.Output != "broken\n" {
		t.Errorf("exit 3: %+v, want a change, exit code 3 and its output", got)
	}
	got = cmdDo(t, e, "signal", false)
	if got.ExitCode == nil || *got.ExitCode != 128+9 {
		t.Errorf("killed by SIGKILL: %+v, want exit code 137", got)
	}
}

func TestCommandUnlessMakesSecondRunNoChange(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "backup.done")
	count := filepath.Join(dir, "runs")
	backup := svcScript(t, dir, "cmd-backup", `echo run >>"$1"; touch "$2"`)
	e := NewCommandRun([]Command{{
		Name: "backup", Argv: []string{backup, count, marker},
		Unless: []string{"test", "-f", marker}, Mutating: true,
	}})

	dry := cmdDo(t, e, "backup", true)
	if !dry.Changed {
		t.Errorf("dry run before the backup: %+v, want a change", dry)
	}
	first := cmdDo(t, e, "backup", false)
	if !first.Changed || first.Diff != dry.Diff {
		t.Errorf("first run: %+v, want the change the dry run described (%q)", first, dry.Diff)
	}
	for _, dryRun := range []bool{true, false} {
		if got := cmdDo(t, e, "backup", dryRun); got != (Outcome{}) {
			t.Errorf("second run (dry run %t): %+v, want no change", dryRun, got)
		}
	}
	if b, _ := os.ReadFile(count); string(b) != "run\n" {
		t.Errorf("the backup ran %d times, want once", strings.Count(string(b), "run"))
	}
}

func TestCommandUnlessThatCannotRunIsAnError(t *testing.T) {
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	e := NewCommandRun([]Command{{Name: "x", Argv: []string{"touch", ran}, Unless: []string{filepath.Join(dir, "missing")}}})
	for _, dryRun := range []bool{true, false} {
		_, err := e.Do(context.Background(), map[string]string{"command": "x"}, dryRun)
		if err == nil || !strings.Contains(err.Error(), "already done") {
			t.Errorf("dry run %t: %v, want an error about the check", dryRun, err)
		}
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("the command ran although its check could not")
	}
}

func TestCommandTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	childFile := filepath.Join(dir, "child")
	script := svcScript(t, dir, "cmd-hang", `echo starting
sleep 1000 &
echo $! >"$1.tmp" && mv "$1.tmp" "$1"
wait
`)
	// The timeout must leave the shell time to start, print and fork before
	// it fires, however busy the machine: a few milliseconds on a quiet
	// one, far more on a loaded one under -race.
	e := NewCommandRun([]Command{{Name: "hang", Argv: []string{script, childFile}, Timeout: 2 * time.Second}})
	begin := time.Now()
	out, err := e.Do(context.Background(), map[string]string{"command": "hang"}, false)
	if err == nil || !strings.Contains(err.Error(), "timed out after 2s") {
		t.Fatalf("a command past its timeout: %v, want an error saying it timed out after 2s", err)
	}
	// Against the child's 1000 s, a minute tells "killed at the timeout"
	// from "waited for the child" however busy the machine is.
	if took := time.Since(begin); took > time.Minute {
		t.Errorf("the timed-out command took %s to return", took)
	}
	if !out.Changed || out.Output != "starting\n" || out.ExitCode != nil {
		t.Errorf("outcome %+v, want a change, the output so far and no exit code", out)
	}
	child := svcReadPID(t, childFile)
	svcEventually(t, "the command's child to be killed", func() bool { return !procAlive(child) })
}

func TestCommandKillsLeftovers(t *testing.T) {
	dir := t.TempDir()
	childFile := filepath.Join(dir, "child")
	// The child closes its output so that only the group kill can end it.
	script := svcScript(t, dir, "cmd-fork", `sleep 1000 >/dev/null 2>&1 &
echo $! >"$1.tmp" && mv "$1.tmp" "$1"
`)
	e := NewCommandRun([]Command{{Name: "fork", Argv: []string{script, childFile}}})
	cmdDo(t, e, "fork", false)
	child := svcReadPID(t, childFile)
	svcEventually(t, "the command's leftover child to be killed", func() bool { return !procAlive(child) })
}

func TestCommandOutputKeepsTheTail(t *testing.T) {
	dir := t.TempDir()
	script := svcScript(t, dir, "cmd-chatty", `i=0
while [ $i -lt 3000 ]; do echo "line $i with some padding to make it longer"; i=$((i+1)); done
echo END
`)
	e := NewCommandRun([]Command{{Name: "chatty", Argv: []string{script}}})
	out := cmdDo(t, e, "chatty", false)
	if len(out.Output) > MaxCommandOutput {
		t.Errorf("output is %d bytes, more than %d", len(out.Output), MaxCommandOutput)
	}
	if !strings.HasPrefix(out.Output, "[... first ") || !strings.Contains(out.Output, "bytes of output not kept ...]\n") {
		t.Errorf("output does not begin with a truncation mark: %.80q", out.Output)
	}
	if !strings.HasSuffix(out.Output, "line 2999 with some padding to make it longer\nEND\n") {
		t.Errorf("output does not end with the program's last lines: ...%q", out.Output[max(0, len(out.Output)-80):])
	}
}

func TestTailBuffer(t *testing.T) {
	var b tailBuffer
	total := 0
	for _, n := range []int{10, tailRoom - 5, 7, 3 * tailRoom, 1, 100} {
		p := []byte(strings.Repeat("é", n)[:n]) // may split characters
		b.Write(p)
		total += n
	}
	s := b.String()
	head, kept, ok := strings.Cut(s, " bytes of output not kept ...]\n")
	if !ok || len(s) > MaxCommandOutput {
		t.Fatalf("len %d, head %.60q", len(s), s)
	}
	var dropped int
	if _, err := fmt.Sscan(strings.TrimPrefix(head, "[... first "), &dropped); err != nil {
		t.Fatal(err)
	}
	if dropped+len(kept) != total {
		t.Errorf("dropped %d + kept %d != written %d", dropped, len(kept), total)
	}
	if !utf8.RuneStart(kept[0]) {
		t.Errorf("kept output starts inside a character: %q", kept[:4])
	}
}

func TestCommandRefusals(t *testing.T) {
	e := NewCommandRun([]Command{{Name: "backup", Argv: []string{"true"}}})
	_, err := e.Do(context.Background(), map[string]string{"command": "rm"}, false)
	var refused *RefusedError
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), `"rm"`) || strings.Contains(err.Error(), "backup") {
		t.Errorf("undeclared command: %v, want a RefusedError naming only it", err)
	}
	for _, params := range []map[string]string{{}, {"command": ""}, {"command": "backup", "args": "--all"}} {
		_, err := e.Do(context.Background(), params, false)
		var bad *ParamError
		if !errors.As(err, &bad) {
			t.Errorf("params %v: %v, want a ParamError", params, err)
		}
	}
}

func TestQuoteArgv(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"/usr/bin/backup", "--now"}, "/usr/bin/backup --now"},
		{[]string{"pg_dump", "-f", "/var/backups/db 1.sql"}, "pg_dump -f '/var/backups/db 1.sql'"},
		{[]string{"echo", "it's", ""}, `echo 'it'\''s' ''`},
		{[]string{"x", "$HOME", "a;b", "*"}, `x '$HOME' 'a;b' '*'`},
		{[]string{"k=v", "user@host:/p", "50%"}, "k=v user@host:/p 50%"},
	} {
		if got := quoteArgv(c.argv); got != c.want {
			t.Errorf("quoteArgv(%q) = %s, want %s", c.argv, got, c.want)
		}
	}
}

func TestCommandLeftoverHoldingOutput(t *testing.T) {
	dir := t.TempDir()
	childFile := filepath.Join(dir, "child")
	script := svcScript(t, dir, "cmd-daemonish", `echo forking
sleep 1000 &
echo $! >"$1.tmp" && mv "$1.tmp" "$1"
`)
	e := NewCommandRun([]Command{{Name: "daemonish", Argv: []string{script, childFile}}})
	out := cmdDo(t, e, "daemonish", false)
	if out.ExitCode == nil || *out.ExitCode != 0 || !strings.HasPrefix(out.Output, "forking\n") ||
		!strings.Contains(out.Output, "kept it open") {
		t.Errorf("outcome %+v, want exit 0 and a note that the output was cut off", out)
	}
	child := svcReadPID(t, childFile)
	svcEventually(t, "the leftover child to be killed", func() bool { return !procAlive(child) })
}
