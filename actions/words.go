package actions

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Said is a result in words: the one place that turns a result into
// what an operator reads. Each view (the CLI and the console's detail box,
// a run's records and step results, the wizard's request list) joins the
// parts it has room for; none words a result of its own.
type Said struct {
	// State is the request's state ("done", "failed"); DryRun and Error
	// say whether it was a dry run and what the agent refused or failed
	// with.
	State  string
	DryRun bool
	Error  string
	// Change is what it changed or read: the diff, "value: X", or "no
	// change: already as asked"; empty when there is nothing to say.
	// Change may hold several lines (a diff); FirstChange is the first.
	Change string
	// Exit is "exit status N" of a command; empty for other actions.
	Exit string
	// Output is a command's output, trimmed; Backup is "previous file
	// kept as PATH" after a settings.set that kept one.
	Output, Backup string
	// RequestID names the request.
	RequestID string
}

// Say puts r in words.
func (r Result) Say() Said {
	s := Said{State: r.State, DryRun: r.DryRun, Error: r.Error, RequestID: r.RequestID}
	o := r.Outcome
	if o == nil {
		return s
	}
	switch {
	case o.Diff != "":
		s.Change = strings.TrimSpace(o.Diff)
	case o.Value != "":
		s.Change = "value: " + o.Value
	case !o.Changed && Mutating(r.Action):
		s.Change = "no change: already as asked"
	}
	if o.ExitCode != nil {
		s.Exit = fmt.Sprintf("exit status %d", *o.ExitCode)
	}
	s.Output = strings.TrimSpace(o.Output)
	if o.Backup != "" {
		s.Backup = "previous file kept as " + o.Backup
	}
	return s
}

// Head is the state, whether it was a dry run and the error, in a few
// words: "done (dry run)", "failed: unit not found".
func (s Said) Head() string {
	h := s.State
	if s.DryRun {
		h += " (dry run)"
	}
	if s.Error != "" {
		h += ": " + s.Error
	}
	return h
}

// Text is the result a part a line, as `vigil action` prints it and the
// console's detail box shows it, so the two read the same.
func (s Said) Text() string {
	lines := []string{"state: " + s.State}
	if s.DryRun {
		lines[0] += " (dry run: nothing was changed)"
	}
	if s.Error != "" {
		lines = append(lines, "error: "+s.Error)
	}
	if s.Change != "" {
		lines = append(lines, s.Change)
	}
	if s.Exit != "" {
		lines = append(lines, s.Exit)
	}
	if s.Output != "" {
		lines = append(lines, "output:", s.Output)
	}
	if s.Backup != "" {
		lines = append(lines, s.Backup)
	}
	if s.RequestID != "" {
		lines = append(lines, "request id: "+s.RequestID)
	}
	return strings.Join(lines, "\n")
}

// FirstChange is the first line of Change, at most width characters
// (an ellipsis marks a cut); width 0 leaves it whole.
func (s Said) FirstChange(width int) string {
	first, _, _ := strings.Cut(s.Change, "\n")
	return clip(first, width)
}

// Line is the result in one line of at most a few hundred characters:
// the head, the whole change, the exit status and the output cut to
// outputWidth, each after a "; ".
func (s Said) Line(outputWidth int) string {
	parts := []string{s.Head()}
	if s.Change != "" {
		parts = append(parts, s.Change)
	}
	if s.Exit != "" {
		parts = append(parts, s.Exit)
	}
	if s.Output != "" {
		parts = append(parts, "output: "+strings.ReplaceAll(clip(s.Output, outputWidth), "\n", " / "))
	}
	return strings.Join(parts, "; ")
}

// clip cuts s to width bytes, on a rune boundary, marking the cut.
func clip(s string, width int) string {
	if width <= 0 || len(s) <= width {
		return s
	}
	cut := width
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
