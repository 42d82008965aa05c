package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// Queue is a task queue directory the agent's config declares: a vendor
// service picks up files dropped into it (Redstor's
// "Failover.UpdateSettingsOnSS").
type Queue struct {
	Name, Dir string
}

// maxTaskFile bounds how much of an existing task file is read to compare it
// with the one asked for; content in a request is smaller still.
const maxTaskFile = 1 << 20

// NewTaskfileDrop returns the executor of taskfile.drop: it creates a file in
// a declared queue directory, whole or not at all. A task already queued with
// the same content is left alone; one with other content is never
// overwritten, since the vendor service may not have acted on it yet.
//
// Params: queue (a declared name), name (a file name, no directories), and
// optionally content (empty by default).
func NewTaskfileDrop(queues []Queue) Executor {
	return &taskfileDrop{queues: slices.Clone(queues)}
}

type taskfileDrop struct {
	queues []Queue
}

func (t *taskfileDrop) Do(ctx context.Context, params map[string]string, dryRun bool) (Outcome, error) {
	q, name, content, err := t.parse(params)
	if err != nil {
		return Outcome{}, err
	}
	f, err := openConfined(q.Dir, name)
	if err != nil {
		return Outcome{}, err
	}
	defer f.Close()
	defer f.lock()()

	have, _, err := f.read(maxTaskFile)
	switch {
	case err == nil && bytes.Equal(have, content):
		return Outcome{Value: "already queued"}, nil
	case err == nil || errors.Is(err, errTooLarge):
		return Outcome{}, refusef("task file %s is already queued with other content; it is not overwritten: wait for the vendor service to take it, or remove it by hand", f.abs)
	case !errors.Is(err, fs.ErrNotExist):
		return Outcome{}, fmt.Errorf("task file %s: %w", f.abs, err)
	}
	out := Outcome{Changed: true, Diff: fmt.Sprintf("+ %s/%s (%d bytes)", q.Name, name, len(content)), Value: "queued"}
	if dryRun {
		return out, nil
	}
	if err := ctx.Err(); err != nil {
		return Outcome{}, err
	}
	if err := f.replace(content, nil, 0o644, nil); err != nil {
		return Outcome{}, fmt.Errorf("task file %s: %w", f.abs, err)
	}
	return out, nil
}

func (t *taskfileDrop) parse(params map[string]string) (Queue, string, []byte, error) {
	for k := range params {
		if k != "queue" && k != "name" && k != "content" {
			return Queue{}, "", nil, &ParamError{k, "not a parameter of taskfile.drop"}
		}
	}
	qn := params["queue"]
	if qn == "" {
		return Queue{}, "", nil, &ParamError{"queue", "required"}
	}
	i := slices.IndexFunc(t.queues, func(q Queue) bool { return q.Name == qn })
	if i < 0 {
		names := make([]string, len(t.queues))
		for i, q := range t.queues {
			names[i] = q.Name
		}
		slices.Sort(names)
		return Queue{}, "", nil, &ParamError{"queue", fmt.Sprintf("no queue %q is declared (declared: %s)", qn, strings.Join(names, ", "))}
	}
	name := params["name"]
	if err := checkTaskName(name); err != nil {
		return Queue{}, "", nil, err
	}
	return t.queues[i], name, []byte(params["content"]), nil
}

// checkTaskName accepts a single path element. Confine checks it again; this
// gives the operator the plainer message.
func checkTaskName(name string) error {
	switch {
	case name == "":
		return &ParamError{"name", "required"}
	case len(name) > 255:
		return &ParamError{"name", "longer than 255 bytes"}
	case name == "." || name == "..":
		return refusef("task file name %q is not a file name", name)
	case strings.ContainsAny(name, `/\`):
		return refusef("task file name %q has a path separator; give a bare file name", name)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return refusef("task file name %q holds a control character", name)
	}
	return nil
}
