package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/vigilops/vigil/monitor"
	"github.com/vigilops/vigil/store"
)

const storeUsage = `usage: vigil store COMMAND [--data DIR]

  vigil store check [--data DIR]          check the console store and list its backups
  vigil store backup [--data DIR]         back the store up now
  vigil store restore [--backup FILE] [--yes] [--data DIR]
                                          set the store aside and start again from a backup
                                          (the newest unless --backup names one)
  vigil store reset [--yes] [--data DIR]  set the store aside and start again from an empty one

The console backs its store up once a day and before it changes the store's tables, into
DIR/backups (the newest 10 are kept). Nothing is deleted: a store set aside is renamed
vigil.db.damaged-TIME beside the new one. Stop the console before restore or reset.
`

// storeCmd checks, backs up and replaces the console's store.
func storeCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, storeUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("store "+sub, flag.ContinueOnError)
	data := dataDirFlag(fs)
	var from *string
	var yes *bool
	switch sub {
	case "restore":
		from = fs.String("backup", "", "the backup to start from (default: the newest)")
		fallthrough
	case "reset":
		yes = fs.Bool("yes", false, "do it without asking")
	case "check", "backup":
	default:
		fmt.Fprintf(stderr, "vigil store: unknown command %q\n%s", sub, storeUsage)
		return exitUsage
	}
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	dir, err := resolveDataDir(*data)
	if err != nil {
		fmt.Fprintln(stderr, "vigil store:", err)
		return exitUsage
	}
	backups, err := store.Backups(dir)
	if err != nil {
		fmt.Fprintln(stderr, "vigil store:", err)
		return exitFailed
	}
	switch sub {
	case "check":
		return storeCheck(dir, backups, stdout)
	case "backup":
		s, err := store.Open(dir)
		if err != nil {
			fmt.Fprintln(stderr, "vigil store backup:", err)
			return exitFailed
		}
		defer s.Close()
		b, err := s.Backup(context.Background(), "by-hand")
		if err != nil {
			fmt.Fprintln(stderr, "vigil store backup:", err)
			return exitFailed
		}
		fmt.Fprintf(stdout, "backed up to %s (%d KB)\n", b.Path, b.Size/1024)
		return exitOK
	case "restore":
		var b store.Backup
		switch {
		case *from != "":
			for _, c := range backups {
				if c.Path == *from {
					b = c
				}
			}
			if b.Path == "" {
				fmt.Fprintf(stderr, "vigil store restore: %s is not one of the backups in %s; `vigil store check` lists them\n", *from, dir)
				return exitUsage
			}
		case len(backups) == 0:
			fmt.Fprintf(stderr, "vigil store restore: %s has no backups; `vigil store reset` starts from an empty store\n", dir)
			return exitFailed
		default:
			b = backups[0]
		}
		fmt.Fprintf(stdout, "The store will be as it was at %s (%s ago, %s): events, procedure runs, pairings and alert settings since then are lost.\n",
			b.Time.Local().Format(time.DateTime), monitor.Duration(time.Since(b.Time)), b.Reason)
		if !*yes && !askYes(stdin, stdout, "Set the store aside and restore this backup?") {
			fmt.Fprintln(stdout, "Nothing changed.")
			return exitFailed
		}
		aside, err := store.Restore(dir, b)
		if err != nil {
			fmt.Fprintln(stderr, "vigil store restore:", err)
			return exitFailed
		}
		return storeReopened(dir, aside, "restored "+b.Path, stdout, stderr)
	case "reset":
		fmt.Fprintln(stdout, "The store will start empty: every server must be paired again, and the history of events, runs and alerts is left in the old file.")
		if !*yes && !askYes(stdin, stdout, "Set the store aside and start from an empty one?") {
			fmt.Fprintln(stdout, "Nothing changed.")
			return exitFailed
		}
		aside, err := store.SetAside(dir)
		if err != nil {
			fmt.Fprintln(stderr, "vigil store reset:", err)
			return exitFailed
		}
		return storeReopened(dir, aside, "started an empty store", stdout, stderr)
	}
	return exitUsage
}

// storeCheck opens the store (Open runs SQLite's quick check) and lists
// the backups.
func storeCheck(dir string, backups []store.Backup, stdout io.Writer) int {
	code := exitOK
	s, err := store.Open(dir)
	var damaged *store.DamagedError
	switch {
	case errors.As(err, &damaged):
		fmt.Fprintf(stdout, "DAMAGED: %s: %s\n", damaged.Path, damaged.Why)
		code = exitFailed
	case err != nil:
		fmt.Fprintln(stdout, "cannot open:", err)
		code = exitFailed
	default:
		fmt.Fprintf(stdout, "ok: %s\n", s.Path())
		s.Close()
	}
	if len(backups) == 0 {
		fmt.Fprintln(stdout, "no backups yet")
		return code
	}
	fmt.Fprintln(stdout, "backups, newest first:")
	for _, b := range backups {
		fmt.Fprintf(stdout, "  %s  %-28s %6d KB  %s\n", b.Time.Local().Format(time.DateTime), b.Reason, b.Size/1024, b.Path)
	}
	return code
}

// storeReopened says what was done and checks that the new store opens.
func storeReopened(dir, aside, done string, stdout, stderr io.Writer) int {
	s, err := store.Open(dir)
	if err != nil {
		fmt.Fprintf(stderr, "vigil store: %s, but the store does not open: %v\n", done, err)
		return exitFailed
	}
	s.Close()
	fmt.Fprintf(stdout, "%s; the store opens.\n", done)
	if aside != "" {
		fmt.Fprintf(stdout, "The old store is kept at %s.\n", aside)
	}
	return exitOK
}
