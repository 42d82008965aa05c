package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/assets"
	"github.com/vigilops/vigil/console"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/procedure"
	"github.com/vigilops/vigil/store"
)

const procedureUsage = `usage: vigil procedure COMMAND [flags]

  vigil procedure list [--json] [--data DIR]
        the procedures Vigil knows: built in, and *.yaml in DIR/procedures
  vigil procedure run ID --system NAME [--operator NAME] [--supervisor NAME] [--param K=V]...
        [--yes] [--dry-run] [--data DIR]
        run a procedure on a system; --dry-run rehearses it (every change as a dry run);
        without --yes, confirmations are asked on the terminal
  vigil procedure resume RUN_ID [--operator NAME] [--yes] [--data DIR]
        continue a run that stopped without ending, at the step it stopped in
  vigil procedure abort RUN_ID [--reason TEXT] [--operator NAME] [--data DIR]
        end a run that stopped without ending, recording where things stand
  vigil procedure report RUN_ID [--format md|html] [--data DIR]
        the after-action report of a run
  vigil procedure history [--json] [--data DIR]
        per system, when each procedure was last run and last rehearsed

Exit status: 0 the procedure completed, 1 it failed, was aborted or refused, 2 usage or bad input.
`

func procedureCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, procedureUsage)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "list":
		return procedureListCmd(args, stdout, stderr)
	case "run":
		return procedureRunCmd(args, stdout, stderr)
	case "resume":
		return procedureResumeCmd(args, stdout, stderr)
	case "abort":
		return procedureAbortCmd(args, stdout, stderr)
	case "report":
		return procedureReportCmd(args, stdout, stderr)
	case "history":
		return procedureHistoryCmd(args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, procedureUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "vigil procedure: unknown command %q\n%s", sub, procedureUsage)
	return exitUsage
}

// parseMixed parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseMixed(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, int, bool) {
	fs.SetOutput(stderr)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, 0, true
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// paramFlags collects repeated --param K=V.
type paramFlags map[string]string

func (p paramFlags) String() string { return fmt.Sprint(map[string]string(p)) }

func (p paramFlags) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not K=V", kv)
	}
	if _, dup := p[k]; dup {
		return fmt.Errorf("%s given twice", k)
	}
	p[k] = v
	return nil
}

// procedureLibrary loads the built-in procedures and the operator's own
// from DIR/procedures. Files that do not load are reported on stderr; the
// others are used.
func procedureLibrary(dataDir string, stderr io.Writer) (*procedure.Library, bool) {
	builtin, err := fs.Sub(assets.Procedures, "procedures")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	dirs := []procedure.Dir{{FS: builtin, Name: "(built in) procedures"}}
	if dataDir != "" {
		own := filepath.Join(dataDir, "procedures")
		dirs = append(dirs, procedure.Dir{FS: os.DirFS(own), Name: own})
	}
	lib, errs := procedure.Load(dirs...)
	for _, err := range errs {
		fmt.Fprintf(stderr, "vigil procedure: refused: %v\n", err)
	}
	return lib, len(errs) == 0
}

type procedureListEntry struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Profile string `json:"profile"`
	Kind    string `json:"kind"`
	Steps   int    `json:"steps"`
}

func procedureListCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("procedure list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON: {\"procedures\":[{\"id\",\"title\",\"profile\",\"kind\",\"steps\"}]}")
	data := dataDirFlag(fs)
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	dir, _ := resolveDataDir(*data) // without a data directory, the built-in ones
	lib, clean := procedureLibrary(dir, stderr)
	list := []procedureListEntry{}
	for _, p := range lib.All() {
		list = append(list, procedureListEntry{ID: p.ID, Title: p.Title, Profile: p.Profile, Kind: string(p.Kind), Steps: len(p.Steps)})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"procedures": list})
	} else {
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "PROFILE\tID\tKIND\tSTEPS\tTITLE")
		for _, p := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", p.Profile, p.ID, p.Kind, p.Steps, p.Title)
		}
		tw.Flush()
	}
	if !clean {
		return exitUsage // a procedure file is bad input; the good ones are listed
	}
	return exitOK
}

// procedureSession is what run, resume and abort share: the store, the
// console's identity, the fleet and the engine.
type procedureSession struct {
	store *store.Store
	fleet *console.Fleet
	eng   *procedure.Engine
	out   *runPrinter
	ctx   context.Context
	close func()
}

func openProcedureSession(name, dataFlag string, stdout, stderr io.Writer) (*procedureSession, string, int) {
	dir, err := resolveDataDir(dataFlag)
	if err != nil {
		fmt.Fprintf(stderr, "vigil procedure %s: %v\n", name, err)
		return nil, "", exitUsage
	}
	db, err := store.Open(dir)
	if err != nil {
		fmt.Fprintf(stderr, "vigil procedure %s: %v\n", name, err)
		return nil, "", exitUsage
	}
	cert, _, err := actions.LoadConsoleIdentity(dir)
	if err != nil {
		db.Close()
		fmt.Fprintf(stderr, "vigil procedure %s: %v\n", name, err)
		return nil, "", exitFailed
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	fl := console.NewFleet(db, &console.Sender{Store: db, Cert: cert}, nil)
	out := &runPrinter{w: stdout}
	s := &procedureSession{store: db, fleet: fl, out: out, ctx: ctx,
		eng: &procedure.Engine{Fleet: fl, Store: db, Observe: out.update, Owner: console.RunOwner(), OwnerAlive: console.OwnerAlive}}
	s.close = func() {
		fl.Close()
		db.Close()
		stop()
	}
	return s, dir, 0
}

func procedureRunCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("procedure run", flag.ContinueOnError)
	system := fs.String("system", "", "the `NAME` of the system to run it on (see vigil status)")
	operator := fs.String("operator", console.OperatorName(), "who runs it, recorded with the run and in agents' audit trails")
	supervisor := fs.String("supervisor", "", "who supervises and signs off (supervised procedures)")
	yes := fs.Bool("yes", false, "answer confirmations yes (recorded as confirmed from the command line)")
	dry := fs.Bool("dry-run", false, "rehearse: every change as a dry run; recorded as a rehearsal")
	params := paramFlags{}
	fs.Var(params, "param", "a parameter `K=V` (repeat for more); also answers a choose step whose var is K")
	data := dataDirFlag(fs)
	pos, code, ok := parseMixed(fs, args, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 || *system == "" {
		fmt.Fprintf(stderr, "vigil procedure run: give one procedure ID and --system NAME\n%s", procedureUsage)
		return exitUsage
	}
	s, dir, code := openProcedureSession("run", *data, stdout, stderr)
	if s == nil {
		return code
	}
	defer s.close()
	lib, _ := procedureLibrary(dir, stderr)
	p, found := lib.Get(pos[0])
	if !found {
		fmt.Fprintf(stderr, "vigil procedure run: no procedure %q; `vigil procedure list` lists them\n", pos[0])
		return exitUsage
	}
	o := procedure.Options{System: *system, Operator: *operator, Supervisor: *supervisor, Params: params,
		AssumeYes: *yes, Rehearsal: *dry}
	s.eng.Prompt = newCLIPrompter(os.Stdin, stdout, *yes, *operator, *supervisor)

	s.out.header(p, o)
	pf, err := s.eng.Preflight(s.ctx, p, o)
	if err != nil {
		fmt.Fprintf(stderr, "vigil procedure run: preflight: %v\n", err)
		return exitFailed
	}
	s.out.preflight(pf)
	if !pf.OK() {
		fmt.Fprintln(stdout, "Preflight refused the run: nothing was done.")
		for _, c := range pf.Checks {
			if !c.OK && (strings.HasPrefix(c.Name, "parameter ") || strings.HasPrefix(c.Name, "answer ")) {
				return exitUsage
			}
		}
		return exitFailed
	}
	out, err := s.eng.Start(s.ctx, p, o, pf)
	if err != nil {
		fmt.Fprintf(stderr, "vigil procedure run: %v\n", err)
		return exitFailed
	}
	return s.out.outcome(out)
}

func procedureResumeCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("procedure resume", flag.ContinueOnError)
	operator := fs.String("operator", console.OperatorName(), "who resumes it (recorded)")
	yes := fs.Bool("yes", false, "answer confirmations yes (a run started with --yes keeps doing so)")
	data := dataDirFlag(fs)
	pos, code, ok := parseMixed(fs, args, stderr)
	if !ok {
		return code
	}
	id, ok := runIDArg(pos, "resume", stderr)
	if !ok {
		return exitUsage
	}
	s, _, code := openProcedureSession("resume", *data, stdout, stderr)
	if s == nil {
		return code
	}
	defer s.close()
	run, err := s.store.ProcedureRun(s.ctx, id)
	if err != nil {
		fmt.Fprintf(stderr, "vigil procedure resume: %v\n", err)
		return exitUsage
	}
	s.eng.Prompt = newCLIPrompter(os.Stdin, stdout, *yes || run.AssumeYes, *operator, run.Supervisor)
	if p, err := procedure.Parse(run.SourceFile, []byte(run.Source)); err == nil {
		s.out.total = len(p.Steps)
	}
	s.out.rehearsal = run.Rehearsal
	fmt.Fprintf(stdout, "Resuming run %d of %s on %s (started %s by %s).\n", run.ID, run.ProcedureID, run.System,
		run.Started.Local().Format(time.DateTime), run.Operator)
	out, err := s.eng.Resume(s.ctx, id, *operator)
	if err != nil {
		fmt.Fprintf(stderr, "vigil procedure resume: %v\n", err)
		return exitFailed
	}
	return s.out.outcome(out)
}

func procedureAbortCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("procedure abort", flag.ContinueOnError)
	operator := fs.String("operator", console.OperatorName(), "who aborts it (recorded)")
	reason := fs.String("reason", "", "why (recorded)")
	data := dataDirFlag(fs)
	pos, code, ok := parseMixed(fs, args, stderr)
	if !ok {
		return code
	}
	id, ok := runIDArg(pos, "abort", stderr)
	if !ok {
		return exitUsage
	}
	s, _, code := openProcedureSession("abort", *data, stdout, stderr)
	if s == nil {
		return code
	}
	defer s.close()
	out, err := s.eng.Abort(s.ctx, id, *operator, *reason)
	if err != nil {
		fmt.Fprintf(stderr, "vigil procedure abort: %v\n", err)
		return exitFailed
	}
	s.out.outcome(out)
	return exitOK
}

func procedureReportCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("procedure report", flag.ContinueOnError)
	format := fs.String("format", "md", "md (Markdown) or html")
	data := dataDirFlag(fs)
	pos, code, ok := parseMixed(fs, args, stderr)
	if !ok {
		return code
	}
	id, ok := runIDArg(pos, "report", stderr)
	if !ok {
		return exitUsage
	}
	if *format != "md" && *format != "html" {
		fmt.Fprintf(stderr, "vigil procedure report: --format %q: expected md or html\n", *format)
		return exitUsage
	}
	db, code := openProcedureStore("report", *data, stderr)
	if db == nil {
		return code
	}
	defer db.Close()
	rep, err := procedure.LoadReport(context.Background(), db, id)
	if err != nil {
		fmt.Fprintf(stderr, "vigil procedure report: %v\n", err)
		return exitUsage
	}
	if *format == "md" {
		fmt.Fprint(stdout, rep.Markdown())
		return exitOK
	}
	html, err := rep.HTML()
	if err != nil {
		fmt.Fprintf(stderr, "vigil procedure report: %v\n", err)
		return exitFailed
	}
	fmt.Fprint(stdout, html)
	return exitOK
}

func procedureHistoryCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("procedure history", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	data := dataDirFlag(fs)
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	db, code := openProcedureStore("history", *data, stderr)
	if db == nil {
		return code
	}
	defer db.Close()
	hist, err := db.ProcedureHistory(context.Background())
	if err != nil {
		fmt.Fprintf(stderr, "vigil procedure history: %v\n", err)
		return exitFailed
	}
	if *asJSON {
		type entry struct {
			System        string         `json:"system"`
			Procedure     string         `json:"procedure"`
			LastRun       *time.Time     `json:"last_run,omitempty"`
			LastRunID     uint           `json:"last_run_id,omitempty"`
			LastRunState  model.RunState `json:"last_run_state,omitempty"`
			LastRehearsal *time.Time     `json:"last_rehearsal,omitempty"`
			LastRehID     uint           `json:"last_rehearsal_id,omitempty"`
			LastRehState  model.RunState `json:"last_rehearsal_state,omitempty"`
		}
		list := []entry{}
		for _, h := range hist {
			e := entry{System: h.System, Procedure: h.ProcedureID, LastRunID: h.LastRunID, LastRunState: h.LastRunState,
				LastRehID: h.LastRehearsalID, LastRehState: h.LastRehearsalState}
			if !h.LastRun.IsZero() {
				e.LastRun = &h.LastRun
			}
			if !h.LastRehearsal.IsZero() {
				e.LastRehearsal = &h.LastRehearsal
			}
			list = append(list, e)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"history": list})
		return exitOK
	}
	now := time.Now()
	ago := func(t time.Time, id uint, state model.RunState) string {
		if t.IsZero() {
			return "never"
		}
		return fmt.Sprintf("%s ago (run %d, %s)", now.Sub(t).Round(time.Second), id, state)
	}
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SYSTEM\tPROCEDURE\tLAST RUN\tLAST REHEARSAL")
	for _, h := range hist {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.System, h.ProcedureID, ago(h.LastRun, h.LastRunID, h.LastRunState),
			ago(h.LastRehearsal, h.LastRehearsalID, h.LastRehearsalState))
	}
	tw.Flush()
	return exitOK
}

// openProcedureStore opens the store for a subcommand that only reads
// records, or prints why not.
func openProcedureStore(name, dataFlag string, stderr io.Writer) (*store.Store, int) {
	dir, err := resolveDataDir(dataFlag)
	if err != nil {
		fmt.Fprintf(stderr, "vigil procedure %s: %v\n", name, err)
		return nil, exitUsage
	}
	db, err := store.Open(dir)
	if err != nil {
		fmt.Fprintf(stderr, "vigil procedure %s: %v\n", name, err)
		return nil, exitUsage
	}
	return db, exitOK
}

func runIDArg(pos []string, cmd string, stderr io.Writer) (uint, bool) {
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "vigil procedure %s: give one RUN_ID\n%s", cmd, procedureUsage)
		return 0, false
	}
	n, err := strconv.ParseUint(pos[0], 10, 32)
	if err != nil || n == 0 {
		fmt.Fprintf(stderr, "vigil procedure %s: %q is not a run id (a number, as `vigil procedure history` shows)\n", cmd, pos[0])
		return 0, false
	}
	return uint(n), true
}

// cliPrompter asks on the terminal, or answers yes itself with --yes.
type cliPrompter struct {
	out        io.Writer
	yes        bool
	operator   string
	supervisor string

	in    io.Reader
	once  sync.Once
	lines chan string // lines read from in; closed at its end
}

var _ procedure.Prompter = (*cliPrompter)(nil)

func newCLIPrompter(in io.Reader, out io.Writer, yes bool, operator, supervisor string) *cliPrompter {
	return &cliPrompter{in: in, out: out, yes: yes, operator: operator, supervisor: supervisor}
}

// ask prints a question and reads one line; ok is false at the end of the
// input. A read never blocks the run past its context.
func (c *cliPrompter) ask(ctx context.Context, question string) (string, bool, error) {
	c.once.Do(func() {
		c.lines = make(chan string)
		go func() {
			defer close(c.lines)
			sc := bufio.NewScanner(c.in)
			for sc.Scan() {
				c.lines <- sc.Text()
			}
		}()
	})
	fmt.Fprint(c.out, question)
	select {
	case <-ctx.Done():
		fmt.Fprintln(c.out)
		return "", false, ctx.Err()
	case line, ok := <-c.lines:
		if !ok {
			fmt.Fprintln(c.out, "(no answer: the input ended)")
		}
		return strings.TrimSpace(line), ok, nil
	}
}

func (c *cliPrompter) yesNo(ctx context.Context, question string) (bool, error) {
	for {
		line, ok, err := c.ask(ctx, question+" [y/N/abort] ")
		if err != nil {
			return false, err
		}
		switch strings.ToLower(line) {
		case "y", "yes":
			return true, nil
		case "abort":
			return false, procedure.ErrAborted
		case "n", "no", "":
			return false, nil
		}
		if !ok {
			return false, nil
		}
	}
}

// Confirm is part of procedure.Prompter.
func (c *cliPrompter) Confirm(ctx context.Context, q procedure.Question) (procedure.Answer, error) {
	for _, pv := range q.Preview {
		line := "    dry run: "
		switch {
		case pv.Err != nil:
			line += fmt.Sprintf("%s on %s: %v", pv.Request.Action, pv.Server, pv.Err)
		case pv.Result.Outcome != nil && pv.Result.Outcome.Diff != "":
			line += pv.Server + ": " + strings.ReplaceAll(strings.TrimSpace(pv.Result.Outcome.Diff), "\n", "\n             ")
		default:
			line += fmt.Sprintf("%s on %s: %s", pv.Request.Action, pv.Server, pv.Result.State)
		}
		fmt.Fprintln(c.out, line)
	}
	if c.yes {
		fmt.Fprintf(c.out, "    %s yes (--yes)\n", q.Text)
		return procedure.Answer{OK: true, By: c.operator + " (--yes)", Note: "confirmed from the command line (--yes)"}, nil
	}
	ok, err := c.yesNo(ctx, "    "+q.Text)
	if err != nil || !ok {
		return procedure.Answer{By: c.operator}, err
	}
	note, _, err := c.ask(ctx, "    Note (Enter for none): ")
	return procedure.Answer{OK: true, By: c.operator, Note: note}, err
}

// Choose is part of procedure.Prompter.
func (c *cliPrompter) Choose(ctx context.Context, q procedure.Question) (procedure.Answer, error) {
	fmt.Fprintf(c.out, "    %s\n", q.Text)
	for i, ch := range q.Choices {
		mark := " "
		if ch.Value == q.Default {
			mark = "*"
		}
		fmt.Fprintf(c.out, "     %s%d. %s (%s)\n", mark, i+1, ch.Label, ch.Value)
	}
	if c.yes {
		if q.Default == "" {
			return procedure.Answer{}, fmt.Errorf("%s has no default answer: run without --yes, or give --param %s=VALUE", q.Step.Label(), q.Step.Var)
		}
		fmt.Fprintf(c.out, "    the default, %s (--yes)\n", q.Default)
		return procedure.Answer{OK: true, Value: q.Default, By: c.operator + " (--yes)"}, nil
	}
	for {
		line, ok, err := c.ask(ctx, "    Your choice (number or value; Enter for the default marked *; abort): ")
		if err != nil {
			return procedure.Answer{}, err
		}
		switch {
		case line == "abort":
			return procedure.Answer{By: c.operator}, procedure.ErrAborted
		case line == "" && q.Default != "":
			return procedure.Answer{OK: true, Value: q.Default, By: c.operator}, nil
		}
		if n, err := strconv.Atoi(line); err == nil && n >= 1 && n <= len(q.Choices) {
			return procedure.Answer{OK: true, Value: q.Choices[n-1].Value, By: c.operator}, nil
		}
		for _, ch := range q.Choices {
			if ch.Value == line {
				return procedure.Answer{OK: true, Value: line, By: c.operator}, nil
			}
		}
		if !ok {
			return procedure.Answer{By: c.operator}, procedure.ErrAborted
		}
	}
}

// SignOff is part of procedure.Prompter.
func (c *cliPrompter) SignOff(ctx context.Context, q procedure.Question) (procedure.Answer, error) {
	if c.yes {
		fmt.Fprintf(c.out, "    %s signs off (--yes)\n", q.Supervisor)
		return procedure.Answer{OK: true, By: q.Supervisor, Note: "signed off from the command line (--yes), entered by " + c.operator}, nil
	}
	ok, err := c.yesNo(ctx, "    "+q.Supervisor+": "+q.Text)
	if err != nil || !ok {
		return procedure.Answer{By: q.Supervisor}, err
	}
	note, _, err := c.ask(ctx, "    Note (Enter for none): ")
	return procedure.Answer{OK: true, By: q.Supervisor, Note: note}, err
}

// runPrinter prints a run as it goes.
type runPrinter struct {
	w         io.Writer
	mu        sync.Mutex
	total     int
	rehearsal bool
	// lastProgress throttles a wait step's progress lines.
	lastProgress     time.Time
	lastProgressText string
}

func (rp *runPrinter) header(p *procedure.Procedure, o procedure.Options) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.total, rp.rehearsal = len(p.Steps), o.Rehearsal
	what := "Running"
	if o.Rehearsal {
		what = "Rehearsing (every change as a dry run)"
	}
	fmt.Fprintf(rp.w, "%s %s: %s\n", what, p.ID, p.Title)
	fmt.Fprintf(rp.w, "  on %s, by %s", o.System, o.Operator)
	if o.Supervisor != "" {
		fmt.Fprintf(rp.w, ", supervised by %s", o.Supervisor)
	}
	fmt.Fprintf(rp.w, "\n  from %s", p.Document.File)
	if p.Document.Section != "" {
		fmt.Fprintf(rp.w, ", %q", p.Document.Section)
	}
	fmt.Fprintln(rp.w)
	for _, w := range p.Warnings {
		fmt.Fprintf(rp.w, "  WARNING: %s\n", w)
	}
}

func (rp *runPrinter) preflight(pf procedure.Preflight) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	fmt.Fprintln(rp.w, "Preflight:")
	for _, c := range pf.Checks {
		mark := "ok    "
		switch {
		case !c.OK:
			mark = "FAILED"
		case c.Warning:
			mark = "note  "
		}
		fmt.Fprintf(rp.w, "  %s %s: %s\n", mark, c.Name, c.Detail)
	}
}

// update prints one engine update. Step lines read "step K/N ...", so a
// script can follow the run.
func (rp *runPrinter) update(u procedure.Update) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	switch u.Kind {
	case procedure.UpdateStarted:
		fmt.Fprintf(rp.w, "Run %d %s.\n", u.Run, u.Text)
	case procedure.UpdateStepStart:
		fmt.Fprintf(rp.w, "step %d/%d", u.Step.Index+1, rp.total)
		if u.Step.DocStep != "" {
			fmt.Fprintf(rp.w, " (document %s)", u.Step.DocStep)
		}
		fmt.Fprintf(rp.w, " %s: %s\n", u.Step.Type, u.Step.Text)
		if u.Step.How != "" {
			fmt.Fprintf(rp.w, "    Vigil: %s\n", u.Step.How)
		}
		rp.lastProgressText = ""
	case procedure.UpdateStepEnd:
		fmt.Fprintf(rp.w, "step %d/%d %s: %s\n", u.Step.Index+1, rp.total, u.Record.State, u.Record.Result)
		if u.Record.Note != "" {
			fmt.Fprintf(rp.w, "    note: %s\n", u.Record.Note)
		}
	case procedure.UpdateRequest:
		kind := "sending"
		if u.Request.DryRun {
			if !rp.rehearsal {
				return // a preview: the prompter shows it with the question
			}
			kind = "dry run"
		}
		if u.Result == nil {
			fmt.Fprintf(rp.w, "    %s: %s [request %s]\n", kind, procedure.Describe(u.Request.Action, u.Request.Params, u.Server), u.Request.RequestID)
			return
		}
		fmt.Fprintf(rp.w, "    answer: %s on %s: %s", u.Request.Action, u.Server, orWord(u.Result.State, "no answer"))
		if u.Result.Error != "" {
			fmt.Fprintf(rp.w, ": %s", u.Result.Error)
		}
		if o := u.Result.Outcome; o != nil && o.Diff != "" && !u.Request.DryRun {
			fmt.Fprintf(rp.w, "; %s", strings.ReplaceAll(strings.TrimSpace(o.Diff), "\n", "; "))
		}
		fmt.Fprintln(rp.w)
	case procedure.UpdateProgress:
		text := u.Text
		if u.Percent >= 0 {
			text = fmt.Sprintf("%.0f%%: %s", u.Percent, u.Text)
		}
		if text == rp.lastProgressText || time.Since(rp.lastProgress) < 2*time.Second {
			return
		}
		rp.lastProgress, rp.lastProgressText = time.Now(), text
		fmt.Fprintf(rp.w, "    now: %s\n", text)
	case procedure.UpdateDeviation:
		fmt.Fprintf(rp.w, "    deviation: %s\n", u.Text)
	case procedure.UpdateEnded:
		fmt.Fprintf(rp.w, "Run %d %s\n", u.Run, u.Text)
	}
}

func orWord(s, w string) string {
	if s == "" {
		return w
	}
	return s
}

// outcome prints how to go on and returns the exit status.
func (rp *runPrinter) outcome(o procedure.Outcome) int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if o.WayBack != "" {
		fmt.Fprintf(rp.w, "The document's way back: %s\n", o.WayBack)
	}
	fmt.Fprintf(rp.w, "Report: vigil procedure report %d\n", o.Run)
	if o.State == model.RunCompleted {
		return exitOK
	}
	return exitFailed
}
