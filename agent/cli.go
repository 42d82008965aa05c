package agent

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
	"slices"
	"strings"
	"syscall"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// Exit statuses shared by both binaries (DESIGN.md).
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
)

const usage = `usage: vigil-agent COMMAND [flags]

commands:
  run --config FILE      serve the agent API and advertise this server
  init --profile P       print a commented example config (profiles: %s)
  pair-code --config F   print a one-time pairing code for a console (valid 10 minutes)
  install --config F     register the agent as a systemd unit (Linux) or a Windows service, enabled
                         but not started, with the least privilege the config needs; --dry-run
                         prints what it would do. Linux: [--user NAME] [--unit NAME]
  uninstall --config F   stop and unregister the agent; keeps its config, keys and pairings
  version                print the version
`

// Main runs the agent command line and returns the exit status. The console
// binary calls it for `vigil agent ...`.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, strings.Join(Profiles, ", "))
		return ExitUsage
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:], stderr)
	case "init":
		return initCmd(args[1:], stdout, stderr)
	case "pair-code":
		return pairCodeCmd(args[1:], stdout, stderr)
	case "install":
		return installCmd(args[1:], stdout, stderr)
	case "uninstall":
		return uninstallCmd(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "vigil-agent", actions.Version)
		return ExitOK
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, usage, strings.Join(Profiles, ", "))
		return ExitOK
	default:
		fmt.Fprintf(stderr, "vigil-agent: unknown command %q\n"+usage, args[0], strings.Join(Profiles, ", "))
		return ExitUsage
	}
}

func runCmd(args []string, stderr io.Writer) int {
	if underServiceManager() {
		return runUnderServiceManager(args)
	}
	cfg, code := configFromFlags("run", args, stderr)
	if cfg == nil {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, stderr)
}

// serve runs the agent until ctx is cancelled, logging to logw, and returns
// the exit status.
func serve(ctx context.Context, cfg *Config, logw io.Writer) int {
	log := slog.New(slog.NewTextHandler(logw, nil))
	a, err := New(cfg, log)
	if err != nil {
		fmt.Fprintln(logw, "vigil-agent:", err)
		return ExitFailed
	}
	defer a.Close()
	if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(logw, "vigil-agent:", err)
		return ExitFailed
	}
	return ExitOK
}

// configFromFlags parses a subcommand's only flag, --config FILE, and loads
// the file. On failure it has printed why and returns the exit status.
func configFromFlags(cmd string, args []string, stderr io.Writer) (*Config, int) {
	fs := flag.NewFlagSet("vigil-agent "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "agent configuration `FILE`")
	if err := fs.Parse(args); err != nil {
		return nil, ExitUsage
	}
	if *configPath == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vigil-agent %s: --config FILE is required (make one with `vigil-agent init --profile PROFILE`)\n", cmd)
		return nil, ExitUsage
	}
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "vigil-agent:", err)
		return nil, ExitUsage
	}
	return cfg, ExitOK
}

func pairCodeCmd(args []string, stdout, stderr io.Writer) int {
	cfg, exit := configFromFlags("pair-code", args, stderr)
	if cfg == nil {
		return exit
	}
	p := NewPairing(cfg.StateDir, nil)
	code, expires, err := p.NewCode()
	if err != nil {
		fmt.Fprintln(stderr, "vigil-agent pair-code:", err)
		return ExitFailed
	}
	// Run as root for an agent installed as its own user, the code file
	// must go to that user, or the agent cannot read it.
	if err := handToStateOwner(filepath.Join(cfg.StateDir, PairCodeFile), cfg.StateDir); err != nil {
		fmt.Fprintf(stderr, "vigil-agent pair-code: the agent's user may not be able to read the code: %v\n", err)
	}
	fmt.Fprintf(stdout, "pairing code for %s: %s\nvalid until %s; on the console run:\n  vigil pair ADDRESS --code %s\n",
		cfg.Name, code, expires.Local().Format("15:04:05"), code)
	if until, err := p.LockedUntil(); err == nil && !until.IsZero() {
		fmt.Fprintf(stdout, "note: pairing is locked after too many wrong codes until %s\n", until.Local().Format("15:04:05"))
	}
	return ExitOK
}

func initCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil-agent init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profile := fs.String("profile", "", "vendor `PROFILE`: "+strings.Join(Profiles, ", "))
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if !slices.Contains(Profiles, *profile) {
		fmt.Fprintf(stderr, "vigil-agent init: --profile must be one of %s (got %q)\n", strings.Join(Profiles, ", "), *profile)
		return ExitUsage
	}
	fmt.Fprint(stdout, ExampleConfig(*profile))
	return ExitOK
}

// VendorRoles gives each profile's own words for the generic roles, as its
// vendor's documents use them.
func VendorRoles(profile string) map[model.Role]string {
	switch profile {
	case "k2san":
		return map[model.Role]string{model.RolePrimary: "primary K2 Media Server", model.RoleStandby: "backup K2 Media Server", model.RoleOutOfService: "out of service"}
	case "redstor":
		return map[model.Role]string{model.RolePrimary: "Master AccountServer", model.RoleStandby: "Slave AccountServer"}
	case "nintex":
		return map[model.Role]string{model.RolePrimary: "production K2 server", model.RoleStandby: "disaster recovery K2 server"}
	case "infocast":
		return map[model.Role]string{model.RolePrimary: "Primary/coordinator", model.RoleStandby: "Secondary"}
	case "wavestore":
		return map[model.Role]string{model.RolePrimary: "physical server hosting a logical server", model.RoleStandby: "standby server"}
	}
	return nil
}

// ExampleConfig is a commented configuration for profile.
func ExampleConfig(profile string) string {
	var roles strings.Builder
	for _, r := range model.Roles {
		if w, ok := VendorRoles(profile)[r]; ok {
			fmt.Fprintf(&roles, "  %s: %q\n", r, w)
		}
	}
	return fmt.Sprintf(`# Vigil agent configuration (profile %[1]s).
# Every key is checked when the agent starts; an unknown key is an error.

# The server's name as operators know it. It is also the mDNS instance name.
name: server1

# The redundant installation this server belongs to. Every server of one
# system must use the same name.
system: my-%[1]s

# The vendor profile: %[2]s.
profile: %[1]s

# Optional: where the server is, e.g. the primary or the DR site.
site: primary-site

# Address of the agent API (HTTPS). 0.0.0.0 listens on every interface;
# port 0 picks a free port (the bound address is written to state_dir/agent.addr).
listen: 0.0.0.0:7443

# Keys, the agent id and the bound address are kept here. Relative paths are
# taken from this file's directory.
state_dir: /var/lib/vigil-agent

# The role source: a file holding one of primary, standby, out-of-service,
# failed or unknown. It is re-read when it changes.
role_file: /var/lib/vigil-agent/role

# The vendor's own words for the roles, shown beside the generic role.
vendor_roles:
%[3]s
# Announce this server by mDNS (_vigil._tcp) so consoles find it.
advertise: true
`, profile, strings.Join(Profiles, ", "), roles.String())
}
