// Command pkgfiles writes the files the packages carry that are made from
// the program's own code or assets rather than written by hand: the agent's
// systemd unit and example configs, the manual pages (from the programs'
// help text), the copyright files (from the binaries' build information and
// the licences of the modules they link), and the console's icons. The
// Makefile's dist targets run it; it changes nothing outside the paths it is
// given.
//
//	pkgfiles unit                      the packaged vigil-agent.service
//	pkgfiles config -os linux|windows  the example /etc/vigil-agent/agent.yaml (or the Windows one)
//	pkgfiles man -name NAME -bin BIN   the manual page vigil-agent(1), or vigil(1) from `vigil help` on stdin
//	pkgfiles copyright -bin BIN        the package's copyright file: Vigil's, Go's and the linked modules' licences
//	pkgfiles icons -src PNG -out DIR   DIR/NxN/apps/io.vigilops.vigil.png, hicolor sizes 16..512
//	pkgfiles ico -src PNG -out FILE    a Windows .ico with 16..256 pixel images
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: pkgfiles COMMAND [flags]

commands:
  unit                       print the packaged systemd unit for /etc/vigil-agent/agent.yaml
  config -os linux|windows   print the example agent config the package installs
  man -name vigil-agent -bin BINARY
                             print vigil-agent(1), made from its help text
  man -name vigil -bin BINARY <HELP
                             print vigil(1), made from the help text on stdin (BINARY help)
  copyright -bin BINARY [-head FILE] [-goroot DIR] [-modcache DIR]
                             print the package's DEP-5 copyright file: the head, then Go's
                             and every linked module's licence, from BINARY's build info
  icons -src PNG -out DIR    write hicolor icons (16..512) under DIR
  ico -src PNG -out FILE     write a Windows icon (16..256)
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("pkgfiles "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var err error
	switch args[0] {
	case "unit":
		if fs.Parse(args[1:]) != nil {
			return 2
		}
		var text string
		if text, err = packagedUnit(); err == nil {
			_, err = io.WriteString(stdout, text)
		}
	case "config":
		goos := fs.String("os", "linux", "`OS` the config is for: linux or windows")
		if fs.Parse(args[1:]) != nil {
			return 2
		}
		var text string
		if text, err = exampleConfig(*goos); err == nil {
			_, err = io.WriteString(stdout, text)
		}
	case "copyright":
		bin := fs.String("bin", "", "the `BINARY` the package installs")
		head := fs.String("head", "installer/deb/copyright", "the header and Vigil's paragraph (`FILE`)")
		goroot := fs.String("goroot", "", "the Go installation `DIR` the binary was built with (default: go env GOROOT)")
		modcache := fs.String("modcache", "", "the module cache `DIR` (default: go env GOMODCACHE)")
		if fs.Parse(args[1:]) != nil {
			return 2
		}
		if *bin == "" {
			fmt.Fprintln(stderr, "pkgfiles copyright: -bin is required")
			return 2
		}
		var text string
		if text, err = writeCopyright(*head, *bin, *goroot, *modcache); err == nil {
			_, err = io.WriteString(stdout, text)
		}
	case "man":
		name := fs.String("name", "", "the `PROGRAM`: vigil (help text on stdin) or vigil-agent")
		bin := fs.String("bin", "", "the program's `BINARY`, whose version the page gives")
		date := fs.String("date", "", "the page's `DATE`, YYYY-MM-DD (default: SOURCE_DATE_EPOCH or today)")
		if fs.Parse(args[1:]) != nil {
			return 2
		}
		if *name == "" || *bin == "" {
			fmt.Fprintln(stderr, "pkgfiles man: -name and -bin are required")
			return 2
		}
		err = writeMan(*name, *bin, *date, stdin, stdout)
	case "icons", "ico":
		src := fs.String("src", "assets/icon.png", "source `PNG`, square, at least 512 pixels")
		out := fs.String("out", "", "output `PATH`")
		if fs.Parse(args[1:]) != nil {
			return 2
		}
		if *out == "" {
			fmt.Fprintf(stderr, "pkgfiles %s: -out is required\n", args[0])
			return 2
		}
		if args[0] == "icons" {
			err = writeHicolor(*src, *out)
		} else {
			err = writeICO(*src, *out)
		}
	default:
		fmt.Fprintf(stderr, "pkgfiles: unknown command %q\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "pkgfiles %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
