package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/vigilops/vigil/alert"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/store"
)

const alertUsage = `usage: vigil alert COMMAND [flags]

  vigil alert set --smtp-host H [--smtp-port P] --tls none|starttls|tls --from ADDR --to ADDR[,ADDR]
                  [--user U --password-file F] [--ca-file F] [--rule SPEC]... [--quiet HH:MM-HH:MM]
                  [--coalesce D] [--data DIR]
                                  save the email alert settings, replacing the old ones
  vigil alert test [--data DIR]   send a test email now and print what the mail server said
  vigil alert show [--data DIR]   print the settings (never the password) and the outbox

--smtp-port defaults to 587 for starttls, 465 for tls and 25 for none; none
(plain text) is accepted only for a mail server on this machine.
--password-file holds the password on its first line; Vigil keeps it in the OS
keyring, or where there is none in a file in the data directory only you can read.
--rule SEVERITIES[:KINDS][=ADDR,...] sends matching events to ADDR (default:
--to); without rules, warnings and critical events go to --to. For example
  --rule critical=oncall@example.com --rule warning,critical --rule all:lag=dba@example.com
--quiet 22:00-07:00: during these hours (local time) only critical alerts go
out; the others wait until the end. Off unless given.
--coalesce 10s: events to the same recipients within this window go out as one
message.
`

func alertCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, alertUsage)
		return exitUsage
	}
	switch args[0] {
	case "set":
		return alertSetCmd(args[1:], stdout, stderr)
	case "test":
		return alertTestCmd(args[1:], stdout, stderr)
	case "show":
		return alertShowCmd(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, alertUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "vigil alert: unknown command %q\n%s", args[0], alertUsage)
	return exitUsage
}

// ruleFlags collects repeated --rule flags.
type ruleFlags []alert.Rule

func (r *ruleFlags) String() string { return fmt.Sprint(*r) }

func (r *ruleFlags) Set(spec string) error {
	rule, err := alert.ParseRule(spec)
	if err != nil {
		return err
	}
	*r = append(*r, rule)
	return nil
}

// quietFlag is a --quiet flag.
type quietFlag struct{ q alert.QuietHours }

func (f *quietFlag) String() string { return f.q.String() }

func (f *quietFlag) Set(spec string) (err error) {
	f.q, err = alert.ParseQuiet(spec)
	return err
}

// defaultPorts are the usual ports of each TLS mode.
var defaultPorts = map[alert.TLSMode]int{alert.TLSStartTLS: 587, alert.TLSImplicit: 465, alert.TLSNone: 25}

func alertSetCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("alert set", flag.ContinueOnError)
	data := dataDirFlag(fs)
	host := fs.String("smtp-host", "", "mail server `HOST` (name or IP address)")
	port := fs.Int("smtp-port", 0, "mail server `PORT` (default: 587 for starttls, 465 for tls, 25 for none)")
	mode := fs.String("tls", "", "`MODE`: none (this machine only), starttls or tls")
	from := fs.String("from", "", "sender `ADDR`")
	to := fs.String("to", "", "recipients `ADDR[,ADDR]`")
	user := fs.String("user", "", "login `USER` (needs --password-file)")
	pwFile := fs.String("password-file", "", "`FILE` whose first line is the login password")
	caFile := fs.String("ca-file", "", "PEM `FILE` of CA certificates to trust for the mail server")
	var rules ruleFlags
	fs.Var(&rules, "rule", "`SEVERITIES[:KINDS][=ADDR,...]`: who gets which events (repeatable)")
	var quiet quietFlag
	fs.Var(&quiet, "quiet", "quiet hours `HH:MM-HH:MM`, local time: only critical alerts go out")
	coalesce := fs.Duration("coalesce", alert.DefaultCoalesce, "send events to the same recipients within `D` as one message")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vigil alert set: "+format+"\n", a...)
		return exitUsage
	}
	portSet := false
	fs.Visit(func(f *flag.Flag) { portSet = portSet || f.Name == "smtp-port" })
	s := alert.Settings{Host: *host, Port: *port, TLS: alert.TLSMode(*mode), From: *from, User: *user,
		Rules: rules, Quiet: quiet.q, Coalesce: alert.Duration(*coalesce)}
	if !portSet {
		s.Port = defaultPorts[s.TLS]
	}
	if *to != "" {
		list, err := alert.ParseAddresses(*to)
		if err != nil {
			return fail("--to: %v", err)
		}
		s.To = list
	}
	if *caFile != "" {
		abs, err := filepath.Abs(*caFile)
		if err != nil {
			return fail("--ca-file: %v", err)
		}
		s.CAFile = abs
	}
	var password alert.Secret
	if *pwFile != "" {
		if *user == "" {
			return fail("--password-file needs --user")
		}
		b, err := os.ReadFile(*pwFile)
		if err != nil {
			return fail("--password-file: %v", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		password = alert.Secret(strings.TrimSuffix(line, "\r"))
		if password == "" {
			return fail("--password-file %s: the first line is empty", *pwFile)
		}
	}

	dir, err := resolveDataDir(*data)
	if err != nil {
		return fail("%v", err)
	}
	db, err := store.Open(dir)
	if err != nil {
		return fail("%v", err)
	}
	defer db.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if password == "" && s.User != "" {
		// The same login as before keeps its password.
		if old, err := alert.Load(ctx, db); err == nil && old.User == s.User {
			s.PasswordRef = old.PasswordRef
		}
	}
	check := s
	check.Password = password
	if err := check.Validate(); err != nil {
		return printSettingsError(stderr, "vigil alert set", err)
	}
	if password != "" {
		secrets := alert.NewSecrets(dir, slog.New(slog.DiscardHandler))
		ref, err := secrets.Put(ctx, password)
		if err != nil {
			fmt.Fprintf(stderr, "vigil alert set: %v\n", err)
			return exitFailed
		}
		s.PasswordRef = ref
	}
	if err := alert.Save(ctx, db, s); err != nil {
		var ve alert.ValidationError
		if errors.As(err, &ve) {
			return printSettingsError(stderr, "vigil alert set", err)
		}
		fmt.Fprintf(stderr, "vigil alert set: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "Email alert settings saved: %s (%s), from %s to %s.\n", s.Addr(), s.TLS, s.From, strings.Join(s.To, ", "))
	if s.User != "" {
		fmt.Fprintf(stdout, "The password of %s is kept %s.\n", s.User, alert.DescribeRef(s.PasswordRef))
	}
	fmt.Fprintln(stdout, "Check them with: vigil alert test")
	return exitOK
}

// printSettingsError prints a validation error one field a line.
func printSettingsError(stderr io.Writer, cmd string, err error) int {
	var ve alert.ValidationError
	if !errors.As(err, &ve) {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "%s: the alert settings are not valid:\n", cmd)
	for _, f := range ve {
		fmt.Fprintf(stderr, "  --%s: %s\n", strings.TrimPrefix(f.Field, "--"), f.Problem)
	}
	return exitUsage
}

// openAlertStore opens the store for an alert subcommand, or prints why not.
func openAlertStore(name, dataFlag string, stderr io.Writer) (*store.Store, string, int) {
	dir, err := resolveDataDir(dataFlag)
	if err != nil {
		fmt.Fprintf(stderr, "vigil %s: %v\n", name, err)
		return nil, "", exitUsage
	}
	db, err := store.Open(dir)
	if err != nil {
		fmt.Fprintf(stderr, "vigil %s: %v\n", name, err)
		return nil, "", exitUsage
	}
	return db, dir, exitOK
}

// newAlertSource reads alert settings from the store and the password from
// the keyring or the data directory.
func newAlertSource(db *store.Store, dir string, log *slog.Logger) *alert.StoreSource {
	return &alert.StoreSource{Store: db, Secrets: alert.NewSecrets(dir, log)}
}

func alertTestCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("alert test", flag.ContinueOnError)
	data := dataDirFlag(fs)
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after `D`")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	db, dir, code := openAlertStore("alert test", *data, stderr)
	if db == nil {
		return code
	}
	defer db.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	src := newAlertSource(db, dir, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	s, err := src.Settings(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "vigil alert test: %v\n", err)
		if errors.Is(err, alert.ErrNotConfigured) {
			return exitUsage
		}
		return exitFailed
	}
	if err := s.Validate(); err != nil {
		return printSettingsError(stderr, "vigil alert test", err)
	}
	full, err := src.ForSending(ctx, s)
	if err != nil {
		fmt.Fprintf(stderr, "vigil alert test: %v\n", err)
		return exitFailed
	}
	to := strings.Join(s.AllRecipients(), ", ")
	fmt.Fprintf(stdout, "Sending a test email through %s (%s) to %s...\n", s.Addr(), s.TLS, to)
	reply, err := alert.Test(ctx, full)
	if err != nil {
		fmt.Fprintf(stderr, "vigil alert test: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "The mail server accepted it: %s\n", reply)
	return exitOK
}

func alertShowCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("alert show", flag.ContinueOnError)
	data := dataDirFlag(fs)
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	db, dir, code := openAlertStore("alert show", *data, stderr)
	if db == nil {
		return code
	}
	defer db.Close()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	src := newAlertSource(db, dir, log)
	s, err := src.Settings(ctx)
	switch {
	case errors.Is(err, alert.ErrNotConfigured):
		fmt.Fprintln(stdout, "Email alerts are not set up: use vigil alert set.")
	case err != nil:
		fmt.Fprintf(stderr, "vigil alert show: %v\n", err)
		return exitFailed
	default:
		printAlertSettings(stdout, s)
	}
	st, err := alert.New(db, src, log).Status(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "vigil alert show: %v\n", err)
		return exitFailed
	}
	printOutbox(stdout, st, time.Now())
	return exitOK
}

func printAlertSettings(w io.Writer, s alert.Settings) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	login := "no login"
	if s.User != "" {
		login = fmt.Sprintf("login %s, password %s", s.User, alert.DescribeRef(s.PasswordRef))
	}
	fmt.Fprintf(tw, "Mail server\t%s (%s), %s\n", s.Addr(), s.TLS, login)
	if s.CAFile != "" {
		fmt.Fprintf(tw, "Trusted CAs\t%s\n", s.CAFile)
	}
	fmt.Fprintf(tw, "From\t%s\n", s.From)
	fmt.Fprintf(tw, "To\t%s\n", strings.Join(s.To, ", "))
	if len(s.Rules) == 0 {
		fmt.Fprintf(tw, "Rules\t%s (the default: warnings and critical events to To)\n", alert.DefaultRule)
	}
	for i, r := range s.Rules {
		label := ""
		if i == 0 {
			label = "Rules"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, r)
	}
	quiet := "off"
	if s.Quiet.On() {
		quiet = s.Quiet.String() + " local time: only critical alerts go out, the others wait"
	}
	fmt.Fprintf(tw, "Quiet hours\t%s\n", quiet)
	fmt.Fprintf(tw, "Coalesce\t%v\n", s.Window())
	tw.Flush()
}

func printOutbox(w io.Writer, st alert.Status, now time.Time) {
	fmt.Fprintf(w, "Outbox: %d pending, %d sent, %d failed\n", st.Pending, st.Sent, st.Failed)
	for _, it := range st.Queue {
		next := "now"
		if it.NextAttempt.After(now) {
			next = "in " + it.NextAttempt.Sub(now).Round(time.Second).String()
		}
		fmt.Fprintf(w, "  waiting #%d %s to %s: %d attempts, next %s", it.ID, it.Subject, strings.Join(it.Recipients, ", "), it.Attempts, next)
		if it.LastError != "" {
			fmt.Fprintf(w, "; last error: %s", it.LastError)
		}
		fmt.Fprintln(w)
	}
	for _, it := range st.Failures {
		when := it.Done.Local().Format("2006-01-02 15:04")
		if it.State == model.OutboxFailed {
			fmt.Fprintf(w, "  failed  #%d %s %s to %s: %s\n", it.ID, when, it.Subject, strings.Join(it.Recipients, ", "), it.Reply)
		} else {
			fmt.Fprintf(w, "  refused #%d %s %s: sent, but refused for %s\n", it.ID, when, it.Subject, it.Rejected)
		}
	}
}
