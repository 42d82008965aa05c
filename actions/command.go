package actions

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// Command is a command line the agent's config declares, by the name
// requests use for it. Requests choose a command; they never add to it.
type Command struct {
	Name    string
	Argv    []string // program first; no shell is involved
	Dir     string   // working directory; the agent's when empty
	Timeout time.Duration
	// Unless is an optional read-only check, as argv: exit status 0 means
	// the work is already done, so the command is not run and the request
	// reports no change. It is what lets a second identical request say so.
	Unless []string
	// Mutating declares that the command changes the host (a backup), as
	// opposed to only reading it (an integrity check). The executor treats
	// both alike: it cannot see what a program did, so a run always reports
	// a change.
	Mutating bool
}

// DefaultCommandTimeout bounds a command (and its Unless check) when
// Command.Timeout is zero.
const DefaultCommandTimeout = 60 * time.Second

// MaxCommandOutput bounds Outcome.Output. The tail is kept: a failing
// program says why at the end.
const MaxCommandOutput = 64 << 10

// outputGrace is how long a finished command's leftover processes may hold
// its output open before the agent stops reading.
const outputGrace = 2 * time.Second

// errTimedOut marks a command the agent killed for running too long.
var errTimedOut = errors.New("timed out")

type commandRun struct {
	byName map[string]Command
}

// NewCommandRun returns the command.run executor for cmds. It panics on an
// empty or repeated name or an empty argv: the agent's config loader
// rejects those before this point.
func NewCommandRun(cmds []Command) Executor {
	r := &commandRun{byName: make(map[string]Command, len(cmds))}
	for _, c := range cmds {
		if c.Name == "" || len(c.Argv) == 0 || c.Argv[0] == "" {
			panic(fmt.Sprintf("actions: command %q declared without a name or a program", c.Name))
		}
		if _, dup := r.byName[c.Name]; dup {
			panic(fmt.Sprintf("actions: command %q declared twice", c.Name))
		}
		c.Argv = append([]string(nil), c.Argv...)
		c.Unless = append([]string(nil), c.Unless...)
		if c.Timeout <= 0 {
			c.Timeout = DefaultCommandTimeout
		}
		r.byName[c.Name] = c
	}
	return r
}

// Do runs the named command, unless its Unless check says the work is done.
// A dry run runs only that check. A non-zero exit is reported in the
// Outcome, not as an error: the command ran, and its output says how.
func (r *commandRun) Do(ctx context.Context, params map[string]string, dryRun bool) (Outcome, error) {
	c, err := r.lookup(params)
	if err != nil {
		return Outcome{}, err
	}
	done, err := c.done(ctx)
	if err != nil || done {
		return Outcome{}, err
	}
	out := Outcome{Changed: true, Diff: fmt.Sprintf("run %s: %s", c.Name, quoteArgv(c.Argv))}
	if dryRun {
		return out, nil
	}
	var output tailBuffer
	code, err := runArgv(ctx, c.Argv, c.Dir, c.Timeout, &output)
	out.Output = output.String()
	if err != nil {
		if errors.Is(err, errTimedOut) || errors.Is(err, context.Canceled) {
			return out, fmt.Errorf("run %s: %w", c.Name, err) // it ran, partly
		}
		return Outcome{}, fmt.Errorf("run %s: %w", c.Name, err)
	}
	out.ExitCode = &code
	return out, nil
}

func (r *commandRun) lookup(params map[string]string) (Command, error) {
	if err := onlyParam(params, "command"); err != nil {
		return Command{}, err
	}
	name, ok := params["command"]
	if !ok || name == "" {
		return Command{}, &ParamError{"command", "missing; expected the name of a command declared in the agent's config"}
	}
	c, ok := r.byName[name]
	if !ok {
		return Command{}, &RefusedError{fmt.Sprintf("command %s is not declared in this agent's config", quoteName(name))}
	}
	return c, nil
}

// done runs the Unless check. Only a clean exit 0 means done; any other
// exit means not done; a check that cannot run or finish is an error, since
// guessing either way could run a backup twice or skip it.
func (c Command) done(ctx context.Context) (bool, error) {
	if len(c.Unless) == 0 {
		return false, nil
	}
	var output tailBuffer
	code, err := runArgv(ctx, c.Unless, c.Dir, c.Timeout, &output)
	if err != nil {
		return false, fmt.Errorf("run %s: check whether already done (%s): %w", c.Name, quoteArgv(c.Unless), err)
	}
	return code == 0, nil
}

// runArgv runs argv in its own process group, bounded by timeout, with its
// combined output in output, and returns its exit status. On timeout the
// whole group is killed. When the program ends, whatever it left running in
// its group is killed too: a declared command is a bounded piece of work,
// and nothing it starts may outlive the agent's record of it.
func runArgv(ctx context.Context, argv []string, dir string, timeout time.Duration, output *tailBuffer) (int, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimedOut)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = output, output // the same writer: one pipe, in order
	ownGroup(cmd)
	cmd.Cancel = func() error { return killGroup(cmd.Process) }
	cmd.WaitDelay = outputGrace

	err := cmd.Run()
	if cmd.Process != nil {
		killLeftovers(cmd.Process)
	}
	if ctx.Err() != nil && err != nil {
		if errors.Is(context.Cause(ctx), errTimedOut) {
			return -1, fmt.Errorf("%w after %s; its process group was killed", errTimedOut, timeout)
		}
		return -1, fmt.Errorf("cancelled; its process group was killed: %w", context.Cause(ctx))
	}
	var exit *exec.ExitError
	switch {
	case errors.Is(err, exec.ErrWaitDelay):
		// It exited cleanly, but something it started held the output
		// open past outputGrace.
		output.note("output cut off: a process the command started kept it open")
		return 0, nil
	case errors.As(err, &exit):
		return commandExitCode(exit), nil
	case err != nil:
		return -1, fmt.Errorf("start %s: %w", argv[0], err)
	}
	return 0, nil
}

// commandExitCode reports a death by signal as a shell does, 128+signal, so that
// it is not mistaken for a success or a program's own status.
func commandExitCode(e *exec.ExitError) int {
	if ws, ok := e.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return e.ExitCode()
}

// tailBuffer keeps the last bytes written to it, up to about
// MaxCommandOutput, and counts what it dropped. os/exec writes to it from
// one goroutine, and it is read only after the command has been waited for.
type tailBuffer struct {
	buf     []byte
	dropped int64
	notes   []string
}

// tailRoom leaves space in MaxCommandOutput for the truncation mark.
const tailRoom = MaxCommandOutput - 128

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= tailRoom {
		b.dropped += int64(len(b.buf) + len(p) - tailRoom)
		b.buf = append(b.buf[:0], p[len(p)-tailRoom:]...)
		return n, nil
	}
	if over := len(b.buf) + len(p) - tailRoom; over > 0 {
		b.dropped += int64(over)
		b.buf = b.buf[:copy(b.buf, b.buf[over:])]
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

func (b *tailBuffer) note(s string) { b.notes = append(b.notes, s) }

// String returns the kept output, marked at the top when the start of it
// was dropped, with any notes at the end.
func (b *tailBuffer) String() string {
	var s strings.Builder
	kept, dropped := b.buf, b.dropped
	if dropped > 0 {
		// Do not begin in the middle of a character.
		for i := 0; i < utf8.UTFMax && len(kept) > 0 && !utf8.RuneStart(kept[0]); i++ {
			kept = kept[1:]
			dropped++
		}
		fmt.Fprintf(&s, "[... first %d bytes of output not kept ...]\n", dropped)
	}
	s.Write(kept)
	for _, n := range b.notes {
		fmt.Fprintf(&s, "\n[%s]", n)
	}
	return s.String()
}

// plainArg is an argument that reads the same unquoted in a shell.
var plainArg = regexp.MustCompile(`^[A-Za-z0-9_./:=@%+,-]+$`)

// quoteArgv writes argv the way an operator could paste it into a POSIX
// shell, quoting only the arguments that need it.
func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if plainArg.MatchString(a) {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}
