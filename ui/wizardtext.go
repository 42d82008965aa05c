package ui

import (
	"fmt"
	"image/color"
	"regexp"
	"strings"
	"time"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/procedure"
	"github.com/vigilops/vigil/ui/runmodel"
)

// The words and colours of the procedure wizard, as pure functions: the
// wizard's widgets only show what these say.

// Step states the wizard shows besides the engine's record states: a step
// not reached yet, and one that waits for the operator's answer.
var (
	inkDark   = color.NRGBA{R: 0x21, G: 0x21, B: 0x21, A: 0xff}
	fillGreen = color.NRGBA{R: 0x2e, G: 0x7d, B: 0x32, A: 0xff}
	fillBlue  = color.NRGBA{R: 0x15, G: 0x65, B: 0xc0, A: 0xff}
	fillRed   = color.NRGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}
	fillGrey  = color.NRGBA{R: 0x61, G: 0x61, B: 0x61, A: 0xff}
)

// lookOfStep gives fixed colours, like lookOfRole, each dark enough for
// white text (or, for pending, light enough for dark text) to pass WCAG AA.
func lookOfStep(state model.StepState) tagLook {
	switch state {
	case runmodel.StepPending:
		return tagLook{"PENDING", color.NRGBA{R: 0xdd, G: 0xdd, B: 0xdd, A: 0xff}, inkDark}
	case model.StepRunning:
		return tagLook{"RUNNING", fillBlue, white}
	case runmodel.StepYourTurn:
		return tagLook{"YOUR TURN", color.NRGBA{R: 0xa8, G: 0x40, B: 0x00, A: 0xff}, white}
	case model.StepPassed:
		return tagLook{"DONE", fillGreen, white}
	case model.StepFailed:
		return tagLook{"FAILED", fillRed, white}
	case model.StepSkipped:
		return tagLook{"SKIPPED", fillGrey, white}
	case model.StepRehearsed:
		return tagLook{"REHEARSED", color.NRGBA{R: 0x6a, G: 0x1b, B: 0x9a, A: 0xff}, white}
	case model.StepAborted:
		return tagLook{"ABORTED", color.NRGBA{R: 0x8e, G: 0x1c, B: 0x1c, A: 0xff}, white}
	case model.StepInterrupted:
		return tagLook{"STOPPED", color.NRGBA{R: 0x7a, G: 0x5c, B: 0x00, A: 0xff}, white}
	}
	return tagLook{strings.ToUpper(state.String()), fillGrey, white}
}

// stepWords lists every word a step tag can show, so that tags share one
// width and the step list lines up.
var stepWords = []model.StepState{runmodel.StepPending, model.StepRunning, runmodel.StepYourTurn, model.StepPassed, model.StepFailed,
	model.StepSkipped, model.StepRehearsed, model.StepAborted, model.StepInterrupted}

// lookOfOutcome is how a run's end reads at the top of its last screen.
func lookOfOutcome(state model.RunState, rehearsal bool) tagLook {
	switch state {
	case model.RunCompleted:
		if rehearsal {
			return tagLook{"REHEARSAL COMPLETED", fillGreen, white}
		}
		return tagLook{"COMPLETED", fillGreen, white}
	case model.RunFailed:
		return tagLook{"FAILED", fillRed, white}
	case model.RunAborted:
		return tagLook{"ABORTED", lookOfStep(model.StepAborted).fill, white}
	case model.RunInterrupted, model.RunRunning:
		return tagLook{"STOPPED: CAN BE RESUMED", lookOfStep(model.StepInterrupted).fill, white}
	}
	return tagLook{strings.ToUpper(state.String()), fillGrey, white}
}

// stepTitle is a step's title in the step list: the document's words, cut
// to their first line and to what two lines of the list hold.
func stepTitle(st procedure.Step) string {
	t := strings.TrimSpace(st.Text)
	if i := strings.IndexAny(t, "\n"); i > 0 {
		t = t[:i]
	}
	if len([]rune(t)) > 64 {
		t = string([]rune(t)[:63]) + "…"
	}
	return t
}

// docStep is the step's place in the document: "¶9", "step 3".
func docStep(st procedure.Step) string {
	switch {
	case st.DocStep == "":
		return ""
	case strings.HasPrefix(st.DocStep, "¶"):
		return st.DocStep
	}
	return "doc. " + st.DocStep
}

// stepHeading is the line over the current step.
func stepHeading(st procedure.Step, total int) string {
	s := fmt.Sprintf("Step %d of %d", st.Index+1, total)
	if st.DocStep != "" {
		s += " · document " + st.DocStep
	}
	return s + " · " + stepTypeWord(st.Type)
}

func stepTypeWord(t procedure.StepType) string {
	switch t {
	case procedure.StepCheck:
		return "check"
	case procedure.StepAction:
		return "action on a server"
	case procedure.StepVerify:
		return "verify"
	case procedure.StepWait:
		return "wait"
	case procedure.StepConfirm:
		return "done by hand, you confirm"
	case procedure.StepSupervise:
		return "supervisor's sign-off"
	case procedure.StepChoose:
		return "your choice"
	case procedure.StepBranch:
		return "branch"
	}
	return string(t)
}

// boundNames says which servers a binding holds, for the words below:
// "infocast-a", or the binding's own name before preflight has bound it.
type boundNames map[string][]string

func (b boundNames) of(binding string) string {
	if names := b[binding]; len(names) > 0 {
		return strings.Join(names, " and ")
	}
	return binding
}

// whatVigilDoes says, for the operator about to let a step run, what
// Vigil will do in it.
func whatVigilDoes(p *procedure.Procedure, st procedure.Step, names boundNames, vars map[string]string, supervisor string, rehearsal bool) string {
	var b strings.Builder
	switch st.Type {
	case procedure.StepCheck:
		fmt.Fprintf(&b, "Vigil reads the servers now and checks that %s.", conditionWords(st.Condition, names))
		if rehearsal {
			b.WriteString(" In a rehearsal a failed check is noted and the run goes on.")
		} else {
			b.WriteString(" If that does not hold, the run stops here.")
		}
	case procedure.StepAction:
		what := procedure.Describe(st.Action, expandParams(st.Params, vars), names.of(st.Server))
		if rehearsal {
			fmt.Fprintf(&b, "Vigil sends a dry run to %s: %s. Nothing is changed.", names.of(st.Server), what)
		} else {
			fmt.Fprintf(&b, "Vigil will %s, through its agent. It first sends a dry run and shows you what would change; "+
				"nothing is sent until you approve.", what)
		}
	case procedure.StepVerify, procedure.StepWait:
		timeout := st.Timeout
		if timeout == 0 {
			timeout = procedure.DefaultVerifyTimeout
			if st.Type == procedure.StepWait {
				timeout = procedure.DefaultWaitTimeout
			}
		}
		fmt.Fprintf(&b, "Vigil waits up to %v until %s", timeout, conditionWords(st.Condition, names))
		if st.Hold > 0 {
			fmt.Fprintf(&b, ", and that it stays so for %v", st.Hold)
		}
		b.WriteString(".")
		if st.Progress != nil {
			fmt.Fprintf(&b, " Progress comes from %s's %s.", names.of(st.Progress.Server), st.Progress.Fact)
		}
		if rehearsal {
			b.WriteString(" A rehearsal reads it once and does not wait.")
		}
	case procedure.StepConfirm:
		b.WriteString("You do this step by hand, as the document says, then confirm it here with a note.")
	case procedure.StepSupervise:
		who := supervisor
		if who == "" {
			who = "The supervisor"
		}
		fmt.Fprintf(&b, "%s signs off here; nothing that changes production is sent before.", who)
	case procedure.StepChoose:
		b.WriteString("You answer the document's question; later steps follow your answer.")
	case procedure.StepBranch:
		to := st.Goto
		if i := p.StepByID(st.Goto); i >= 0 {
			to = fmt.Sprintf("step %d", i+1)
		}
		fmt.Fprintf(&b, "When %s, the run goes on at %s; otherwise with the next step.", conditionWords(st.Condition, names), to)
	}
	if st.How != "" {
		b.WriteString("\n" + st.How)
	}
	return b.String()
}

// conditionWords says what a condition asks for, in words: "infocast-b is
// standby and logging the primary as Primary/coordinator".
func conditionWords(c *procedure.Condition, names boundNames) string {
	if c == nil {
		return "nothing"
	}
	switch {
	case c.Not != nil:
		return "it is not so that " + conditionWords(c.Not, names)
	case len(c.All) > 0:
		parts := make([]string, len(c.All))
		for i, sub := range c.All {
			parts[i] = conditionWords(sub, names)
		}
		return joinWith(parts, "and")
	case len(c.Any) > 0:
		parts := make([]string, len(c.Any))
		for i, sub := range c.Any {
			parts[i] = conditionWords(sub, names)
		}
		return "either " + joinWith(parts, "or")
	}
	subject := names.of(c.Server)
	switch {
	case c.Param != "":
		return fmt.Sprintf("the answer %s %s", c.Param, comparison(c))
	case len(c.Role) > 0:
		return subject + " is " + orWords(c.Role)
	case len(c.Health) > 0:
		return subject + " is " + orWords(c.Health)
	case c.Service != "":
		return fmt.Sprintf("%s has %s %s", subject, c.Service, orWords(c.State))
	case c.Says != "":
		return subject + " is " + c.Says
	}
	return fmt.Sprintf("%s's %s %s", subject, c.Fact, comparison(c))
}

func comparison(c *procedure.Condition) string {
	switch c.Op {
	case procedure.OpEquals:
		return "is " + quoteWord(c.Value)
	case procedure.OpNotEquals:
		return "is not " + quoteWord(c.Value)
	case procedure.OpAtLeast:
		return "is at least " + c.Value
	case procedure.OpAtMost:
		return "is at most " + c.Value
	case procedure.OpMatches:
		return "matches " + quoteWord(c.Value)
	case procedure.OpPresent:
		if c.Value == "false" {
			return "is not given"
		}
		return "is given"
	}
	return c.Op + " " + c.Value
}

func quoteWord(s string) string { return "\u201c" + s + "\u201d" }

func orWords[T ~string](list []T) string {
	words := make([]string, len(list))
	for i, w := range list {
		words[i] = string(w)
	}
	return joinWith(words, "or")
}

// joinWith joins "a", "b" and "c" as "a, b and c".
func joinWith(words []string, conj string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " " + conj + " " + words[len(words)-1]
}

// agoWords says how long ago something happened, in words an operator
// reads at a glance: "never", "just now", "3 days ago".
func agoWords(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	unit := func(n int, one string) string {
		if n == 1 {
			return "1 " + one + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, one)
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return unit(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return unit(int(d/time.Hour), "hour")
	}
	return unit(int(d/(24*time.Hour)), "day")
}

// lastTimes is a procedure's line of history on one system.
func lastTimes(l model.ProcedureLast, now time.Time) string {
	run := "Last run: " + agoWords(l.LastRun, now)
	if l.LastRunState != "" {
		run += " (" + l.LastRunState.String() + ")"
	}
	reh := "last rehearsal: " + agoWords(l.LastRehearsal, now)
	if l.LastRehearsalState != "" {
		reh += " (" + l.LastRehearsalState.String() + ")"
	}
	return run + " · " + reh
}

// checkMark is a preflight check's word.
func checkMark(c procedure.Check) string {
	switch {
	case !c.OK:
		return "FAILED"
	case c.Warning:
		return "NOTE"
	}
	return "OK"
}

// preflightSummary sums up a preflight in one line.
func preflightSummary(pf procedure.Preflight, rehearsal bool) string {
	failed, notes := 0, 0
	for _, c := range pf.Checks {
		switch {
		case !c.OK:
			failed++
		case c.Warning:
			notes++
		}
	}
	what := "run"
	if rehearsal {
		what = "rehearsal"
	}
	switch {
	case len(pf.Checks) == 0:
		return "Preflight made no checks: the " + what + " cannot start."
	case failed > 0:
		return fmt.Sprintf("Preflight: %s FAILED. The %s cannot start until %s.", plural(failed, "check", "checks"), what,
			map[bool]string{true: "it passes", false: "they pass"}[failed == 1])
	case notes > 0:
		return fmt.Sprintf("Preflight passed: %s, with %s to read.", plural(len(pf.Checks), "check", "checks"), plural(notes, "note", "notes"))
	}
	return fmt.Sprintf("Preflight passed: all %s.", plural(len(pf.Checks), "check", "checks"))
}

// previewLines is an action's dry run as the operator reads it before
// approving: per server, what would change.
func previewLines(pv procedure.ActionPreview) string {
	head := procedure.Describe(pv.Request.Action, pv.Request.Params, pv.Server)
	switch {
	case pv.Err != nil:
		return head + "\n  the dry run failed: " + pv.Err.Error()
	case pv.Result.Error != "":
		return head + "\n  the agent says: " + pv.Result.Error
	}
	o := pv.Result.Outcome
	switch {
	case o == nil:
		return head + "\n  " + pv.Result.State
	case o.Diff != "":
		return head + "\n  " + strings.ReplaceAll(strings.TrimSpace(o.Diff), "\n", "\n  ")
	case !o.Changed:
		return head + "\n  no change: it is already as asked"
	case o.Value != "":
		return head + "\n  " + o.Value
	}
	return head + "\n  would change (" + pv.Result.State + ")"
}

// evidenceLines reads a step record's evidence (a JSON list).
func evidenceLines(rec model.ProcedureStepRecord) []string {
	return decodeList(rec.Evidence)
}

var refRE = regexp.MustCompile(`\$\{([^}]+)\}`)

// expandParams puts the run's parameters and answers into an action's
// parameters for display; what only the servers can tell (a binding's
// fact) stays as written, and the engine fills it in when it sends.
func expandParams(params, vars map[string]string) map[string]string {
	out := make(map[string]string, len(params))
	for k, v := range params {
		out[k] = refRE.ReplaceAllStringFunc(v, func(ref string) string {
			if x, ok := vars[refRE.FindStringSubmatch(ref)[1]]; ok {
				return x
			}
			return ref
		})
	}
	return out
}

var (
	paramFlagRE = regexp.MustCompile("give it with --param ([A-Za-z0-9_.-]+)=VALUE")
	runCmdRE    = regexp.MustCompile("resume it with `vigil procedure resume [0-9]+` or abort it with `vigil procedure abort [0-9]+`")
)

// wizardWords says what the engine says for the command line in the
// wizard's terms: its fields instead of flags.
func wizardWords(s string) string {
	s = paramFlagRE.ReplaceAllString(s, "give it in the field $1")
	s = runCmdRE.ReplaceAllString(s, "open it from this system's list of procedures to resume or abort it")
	return strings.ReplaceAll(s, "name the supervisor with --supervisor NAME", "name the supervisor in the Supervisor field")
}
