package actions

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func taskQueue(t *testing.T) (string, Executor) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "TaskQueue")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, NewTaskfileDrop([]Queue{{Name: "as-tasks", Dir: dir}})
}

func TestTaskfileDrop(t *testing.T) {
	ctx := context.Background()
	for _, content := range []string{"", "account=42\r\n"} {
		t.Run(content, func(t *testing.T) {
			dir, drop := taskQueue(t)
			p := map[string]string{"queue": "as-tasks", "name": "Failover.UpdateSettingsOnSS"}
			if content != "" {
				p["content"] = content
			}
			path := filepath.Join(dir, p["name"])

			dry, err := drop.Do(ctx, p, true)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the dry run made the file: %v", err)
			}
			done, err := drop.Do(ctx, p, false)
			if err != nil {
				t.Fatal(err)
			}
			want := Outcome{Changed: true, Diff: "+ as-tasks/Failover.UpdateSettingsOnSS (" + strconv.Itoa(len(content)) + " bytes)", Value: "queued"}
			if dry != want || done != want {
				t.Errorf("dry run %+v, real run %+v; want %+v", dry, done, want)
			}
			if got := readFile(t, path); got != content {
				t.Errorf("task file holds %q, want %q", got, content)
			}
			if names := readDir(t, dir); len(names) != 1 {
				t.Errorf("queue holds %v, want the task file only", names)
			}

			for _, dry := range []bool{true, false} {
				again, err := drop.Do(ctx, p, dry)
				if err != nil || again != (Outcome{Value: "already queued"}) {
					t.Errorf("drop again (dry %v) = %+v, %v; want already queued", dry, again, err)
				}
			}
			other := map[string]string{"queue": "as-tasks", "name": p["name"], "content": content + "more"}
			for _, dry := range []bool{true, false} {
				_, err := drop.Do(ctx, other, dry)
				var re *RefusedError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), "already queued") {
					t.Errorf("drop with other content (dry %v): %v, want a refusal", dry, err)
				}
			}
			if got := readFile(t, path); got != content {
				t.Errorf("a refused drop changed the task file to %q", got)
			}
		})
	}
}

func TestTaskfileDropErrors(t *testing.T) {
	dir, drop := taskQueue(t)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(filepath.Dir(dir), "elsewhere")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	linked := os.Symlink(filepath.Join(outside, "Failover.X"), filepath.Join(dir, "Failover.X")) == nil

	param := func(name string) func(*testing.T, error) {
		return func(t *testing.T, err error) {
			if !isParamErr(err, name) {
				t.Errorf("err = %v, want a *ParamError for %s", err, name)
			}
		}
	}
	refused := func(t *testing.T, err error) {
		var re *RefusedError
		if !errors.As(err, &re) {
			t.Errorf("err = %v, want a *RefusedError", err)
		}
	}
	tests := []struct {
		name   string
		params map[string]string
		check  func(*testing.T, error)
	}{
		{"no queue", map[string]string{"name": "t"}, param("queue")},
		{"unknown queue", map[string]string{"queue": "nope", "name": "t"}, param("queue")},
		{"no name", map[string]string{"queue": "as-tasks"}, param("name")},
		{"unknown param", map[string]string{"queue": "as-tasks", "name": "t", "mode": "0777"}, param("mode")},
		{"long name", map[string]string{"queue": "as-tasks", "name": strings.Repeat("x", 256)}, param("name")},
		{"climbing", map[string]string{"queue": "as-tasks", "name": "../../etc/passwd"}, refused},
		{"dot dot", map[string]string{"queue": "as-tasks", "name": ".."}, refused},
		{"dot", map[string]string{"queue": "as-tasks", "name": "."}, refused},
		{"separator", map[string]string{"queue": "as-tasks", "name": "sub/t"}, refused},
		{"backslash", map[string]string{"queue": "as-tasks", "name": `sub\t`}, refused},
		{"absolute", map[string]string{"queue": "as-tasks", "name": "/etc/passwd"}, refused},
		{"NUL", map[string]string{"queue": "as-tasks", "name": "a\x00b"}, refused},
		{"newline", map[string]string{"queue": "as-tasks", "name": "a\nb"}, refused},
		{"a directory", map[string]string{"queue": "as-tasks", "name": "sub"}, func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("err = %v", err)
			}
		}},
		{"dangling link out", map[string]string{"queue": "as-tasks", "name": "Failover.X"}, refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "dangling link out" && !linked {
				t.Skip("no symbolic links")
			}
			for _, dry := range []bool{true, false} {
				out, err := drop.Do(context.Background(), tt.params, dry)
				if out != (Outcome{}) {
					t.Errorf("failed drop returned %+v", out)
				}
				tt.check(t, err)
			}
		})
	}
	if _, err := os.Lstat(filepath.Join(outside, "Failover.X")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a task file was made outside the queue")
	}
	if names := readDir(t, dir); len(names) != 2 {
		t.Errorf("queue holds %v after failed drops", names)
	}
}

func TestTaskfileDropMissingQueueDir(t *testing.T) {
	drop := NewTaskfileDrop([]Queue{{Name: "q", Dir: filepath.Join(t.TempDir(), "nope")}})
	_, err := drop.Do(context.Background(), map[string]string{"queue": "q", "name": "t"}, false)
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("err = %v, want one naming the missing directory", err)
	}
}
