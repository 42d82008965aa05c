package main

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/agent"
	"github.com/vigilops/vigil/store"
)

// The manual pages of the two programs, made from their own help text (the
// `usage` consts that `vigil help` and `vigil-agent help` print), so that
// a page never describes commands the program no longer has. What help
// text does not hold, the one-line summary, a paragraph on what the
// program is and where the package puts its files, is written here.
//
// Both pages are in section 1, as the programs are in /usr/bin. Section 8
// is for programs in /usr/sbin, the administrator's (lintian's
// manual-page-for-system-command holds that one way round); a daemon that a
// package puts in /usr/bin has its page in section 1, as Debian's own Go
// daemons do (prometheus-node-exporter(1)). Most of vigil-agent's commands
// (init, version, help) are for anyone, and `man vigil-agent` finds the
// page whatever its section.
type manPage struct {
	name, section string
	summary       string   // NAME: "name \- summary"
	description   []string // paragraphs before the commands
	files         []manFile
	seeAlso       []string
}

type manFile struct{ path, what string }

var manPages = map[string]manPage{
	"vigil": {
		name:    "vigil",
		section: "1",
		summary: "operator console for redundant server systems",
		description: []string{
			"Vigil finds the servers of redundant systems (primary/backup pairs, master/slave servers with mirrored storage, " +
				"disaster-recovery sites, N+1 standby servers) on the LAN, shows each one's live role and health, alerts by email " +
				"and on the desktop when a server fails or a failover happens, and guides the operator through the vendor's " +
				"failover procedures. It talks to the vigil-agent on each server.",
			"With no command, vigil opens the console's window. The commands below do the same work from a terminal or a script.",
		},
		files: []manFile{
			{"$XDG_DATA_HOME/vigil, by default ~/.local/share/vigil",
				"The console's data directory, unless --data names another: its store (" + store.DatabaseFile + "), its key pair (" +
					actions.ConsoleKeyFile + ", " + actions.ConsoleCertFile + "), which every paired agent knows it by, " +
					"and procedures/, the operator's own procedure files."},
		},
		seeAlso: []string{"vigil-agent(1)"},
	},
	"vigil-agent": {
		name:    "vigil-agent",
		section: "1",
		summary: "Vigil host agent for redundant server systems",
		description: []string{
			"vigil-agent runs on each server a Vigil console watches. It reports the server's role and health, streams " +
				"changes to paired consoles over HTTPS with mutual TLS, announces itself by mDNS, and carries out only the " +
				"actions its configuration allows: start or stop a service, edit a settings file, drop a task file, run a " +
				"declared command.",
			"The package installs the agent but neither enables nor starts it. Edit " + linuxConfigPath + ", run " +
				"vigil-agent install --config " + linuxConfigPath + ", start the unit, then make a pairing code for the " +
				"console with vigil-agent pair-code.",
		},
		files: []manFile{
			{linuxConfigPath, "The configuration. The package installs an example to edit; vigil-agent init --profile PROFILE prints each profile's."},
			{linuxStateDir, "The state directory (state_dir; mode 0700, owned by the " + agent.DefaultAgentUser + " user): the agent's key pair and id, " +
				"the consoles it trusts (" + agent.ConsolesFile + "), the current pairing code (" + agent.PairCodeFile + ") and the operation log."},
			{"/lib/systemd/system/" + agent.DefaultUnit, "The packaged systemd unit, for a configuration that keeps the example's paths."},
			{"/etc/systemd/system/" + agent.DefaultUnit, "The unit vigil-agent install writes for the configuration, with the write paths and " +
				"capabilities it needs; it takes precedence over the packaged one."},
			{"/usr/share/doc/vigil-agent/README.Debian", "How to configure, start and pair the agent."},
		},
		seeAlso: []string{"vigil(1)", "systemctl(1)"},
	},
}

// agentHelp is what `vigil-agent help` prints.
func agentHelp() (string, error) {
	var out, errs bytes.Buffer
	if code := agent.Main([]string{"help"}, &out, &errs); code != agent.ExitOK {
		return "", fmt.Errorf("vigil-agent help: exit status %d: %s", code, errs.String())
	}
	return out.String(), nil
}

// binaryVersion is what BINARY version prints: the version the Makefile
// links into actions.Version with -X, read from the binary's build
// information, which works for a binary built for another architecture.
func binaryVersion(bin string) (string, error) {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "", err
	}
	for _, s := range bi.Settings {
		if s.Key == "-ldflags" {
			if v := ldflagsVersion(bi.Main.Path, s.Value); v != "" {
				return v, nil
			}
		}
	}
	return "", fmt.Errorf("%s: no -X %s/actions.Version=... in its build flags", bin, bi.Main.Path)
}

// ldflagsVersion is the value -ldflags gives actions.Version of the
// module mainPath, or "".
func ldflagsVersion(mainPath, ldflags string) string {
	re := regexp.MustCompile(`(?:^|\s)-X[= ]` + regexp.QuoteMeta(mainPath+"/actions.Version=") + `(\S+)`)
	if m := re.FindStringSubmatch(ldflags); m != nil {
		return m[1]
	}
	return ""
}

// A helpEntry is one command of a help text: the form ("vigil status
// [--data DIR] ...") and what it does.
type helpEntry struct{ term, desc string }

type helpSection struct {
	title   string // "commands", or "" before any heading
	entries []helpEntry
}

// parseHelp reads a help text laid out as both programs lay theirs out:
//
//	usage: NAME ...
//
//	heading:
//	  FORM                DESCRIPTION
//	    FORM CONTINUED
//	                      DESCRIPTION CONTINUED
//
// Forms start two spaces in; descriptions start in one column (the one most
// lines use); a line indented more than a form and less than a description
// continues the form. Anything else is an error, so that a change of
// layout fails the packaging rather than making a wrong page.
func parseHelp(text string) (usage string, sections []helpSection, err error) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "usage: ") {
		return "", nil, fmt.Errorf("the help text does not start with \"usage: \"")
	}
	usage = strings.TrimPrefix(lines[0], "usage: ")
	lines = lines[1:]

	// The description column: where text resumes after a gap of two or
	// more spaces on a form's line, the most common such place.
	gapRE := regexp.MustCompile(`\S( {2,})\S`)
	count := map[int]int{}
	for _, l := range lines {
		if indent(l) == 2 {
			if m := gapRE.FindStringSubmatchIndex(l); m != nil {
				count[m[3]]++
			}
		}
	}
	col := 0
	for c, n := range count {
		if n > count[col] || (n == count[col] && c < col) {
			col = c
		}
	}
	if col == 0 {
		return "", nil, fmt.Errorf("the help text has no column of descriptions")
	}

	// split cuts a line into its form and its description, if it has one
	// that starts in the column.
	split := func(l string) (term, desc string) {
		if len(l) > col && l[col-1] == ' ' && l[col-2] == ' ' && l[col] != ' ' {
			return strings.TrimSpace(l[:col]), strings.TrimSpace(l[col:])
		}
		return strings.TrimSpace(l), ""
	}
	join := func(a, b string) string {
		if a == "" {
			return b
		}
		if b == "" {
			return a
		}
		return a + " " + b
	}
	var cur *helpEntry
	for i, l := range lines {
		n := indent(l)
		switch {
		case strings.TrimSpace(l) == "":
			continue
		case n == 0 && strings.HasSuffix(l, ":"):
			sections = append(sections, helpSection{title: strings.TrimSuffix(l, ":")})
			cur = nil
			continue
		case n == 2:
			if len(sections) == 0 {
				sections = append(sections, helpSection{})
			}
			s := &sections[len(sections)-1]
			term, desc := split(l)
			s.entries = append(s.entries, helpEntry{term: term, desc: desc})
			cur = &s.entries[len(s.entries)-1]
			continue
		case cur == nil:
		case n >= col:
			cur.desc = join(cur.desc, strings.TrimSpace(l))
			continue
		case n > 2:
			term, desc := split(l)
			cur.term, cur.desc = join(cur.term, term), join(cur.desc, desc)
			continue
		}
		return "", nil, fmt.Errorf("help line %d is not laid out as a form, a description or a heading: %q", i+2, l)
	}
	for _, s := range sections {
		for _, e := range s.entries {
			if e.desc == "" {
				return "", nil, fmt.Errorf("the help text's %q has no description", e.term)
			}
		}
	}
	return usage, sections, nil
}

func indent(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

// roff escapes text for a roff text line: backslashes, hyphens as the
// minus sign that command lines need (help2man's way), and a leading dot
// or quote, which would make it a request.
func roff(s string) string {
	s = strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// roffArg quotes a macro argument.
func roffArg(s string) string {
	return `"` + strings.ReplaceAll(roff(s), `"`, `\(dq`) + `"`
}

// literalWords is how many words of a form are typed as they are (the
// program and its command: "vigil alert set"), set in bold; the rest
// (flags, metavariables) in roman.
func literalWords(term string) int {
	n := 0
	for _, w := range strings.Fields(term) {
		if !regexp.MustCompile(`^[a-z][a-z0-9-]*$`).MatchString(w) {
			break
		}
		n++
	}
	return n
}

// formLine sets a form: its literal words in bold, the rest roman.
func formLine(term string) string {
	words := strings.Fields(term)
	n := literalWords(term)
	if n == 0 {
		return roff(term)
	}
	s := `\fB` + roff(strings.Join(words[:n], " ")) + `\fR`
	if n < len(words) {
		s += " " + roff(strings.Join(words[n:], " "))
	}
	return s
}

// manText is the page for name made from its help text.
func manText(name, help, version string, date time.Time) (string, error) {
	page, ok := manPages[name]
	if !ok {
		return "", fmt.Errorf("no manual page for %q (vigil or vigil-agent)", name)
	}
	usage, sections, err := parseHelp(help)
	if err != nil {
		return "", fmt.Errorf("%s help: %w", name, err)
	}
	if u := strings.Fields(usage); len(u) == 0 || u[0] != name {
		return "", fmt.Errorf("%s help: the usage line is for %q", name, usage)
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w(`.\" Made by installer/cmd/pkgfiles from the text of %s help; do not edit.`, name)
	w(".TH %s %s %s %s %s", roffArg(strings.ToUpper(name)), page.section, roffArg(date.Format("2006-01-02")),
		roffArg(name+" "+version), roffArg("Vigil"))
	// Ragged right and no hyphenation: justified command lines spread
	// their words apart, and a hyphenated one reads as another command.
	w(".ad l")
	w(".nh")
	w(".SH NAME")
	w("%s \\- %s", roff(name), roff(page.summary))

	w(".SH SYNOPSIS")
	w("%s", formLine(usage))
	w(".SH DESCRIPTION")
	for i, p := range page.description {
		if i > 0 {
			w(".PP")
		}
		w("%s", roff(p))
	}

	for _, s := range sections {
		title := "COMMANDS"
		if s.title != "" && !strings.EqualFold(s.title, "commands") {
			title = strings.ToUpper(s.title)
		}
		w(".SH %s", title)
		for _, e := range s.entries {
			w(".TP")
			w("%s", formLine(e.term))
			w("%s", roff(e.desc))
		}
	}

	if len(page.files) > 0 {
		w(".SH FILES")
		for _, f := range page.files {
			w(".TP")
			w(`\fI%s\fR`, roff(f.path))
			w("%s", roff(f.what))
		}
	}
	if len(page.seeAlso) > 0 {
		w(".SH SEE ALSO")
		refs := make([]string, len(page.seeAlso))
		for i, r := range page.seeAlso {
			page, section, _ := strings.Cut(r, "(")
			refs[i] = `\fB` + roff(page) + `\fR(` + section
		}
		w("%s", strings.Join(refs, ",\n"))
	}
	return b.String(), nil
}

// writeMan is the man subcommand: the page for name, its help text from
// the agent package (vigil-agent) or from stdin (vigil: the console links
// Fyne and cgo, which this tool does not), its version from the binary.
func writeMan(name, bin, date string, stdin io.Reader, stdout io.Writer) error {
	version, err := binaryVersion(bin)
	if err != nil {
		return err
	}
	var help string
	switch name {
	case "vigil-agent":
		if help, err = agentHelp(); err != nil {
			return err
		}
	default:
		data, err := io.ReadAll(stdin)
		if err != nil {
			return err
		}
		help = string(data)
	}
	when := time.Now().UTC()
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%s: %w", epoch, err)
		}
		when = time.Unix(sec, 0).UTC()
	}
	if date != "" {
		if when, err = time.Parse("2006-01-02", date); err != nil {
			return fmt.Errorf("-date: %w", err)
		}
	}
	text, err := manText(name, help, version, when)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, text)
	return err
}
