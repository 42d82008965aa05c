package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vigilops/vigil/actions"
)

// Defaults of `vigil-agent install`.
const (
	DefaultUnit        = "vigil-agent.service"
	DefaultAgentUser   = "vigil-agent"
	WindowsServiceName = "VigilAgent"
)

// Where install puts what it writes on Linux, as seen from the root of the
// target system.
const (
	systemdUnitDir = "/etc/systemd/system"
	polkitRuleDir  = "/etc/polkit-1/rules.d"
)

// SystemdUnit is everything the generated systemd unit and polkit rule are
// made from. The paths in Config must be absolute (load it from an absolute
// path, as the install command does).
type SystemdUnit struct {
	Name    string   // unit name, e.g. vigil-agent.service
	Config  *Config  // the agent's configuration; Config.Path() is its file
	Exe     string   // absolute path of the agent binary
	ExeArgs []string // arguments before "run": ["agent"] when the console binary runs the agent
	User    string   // the account the agent runs as
	Group   string   // its primary group
}

var (
	userNameRE  = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	groupNameRE = regexp.MustCompile(`^([a-z_][a-z0-9_-]{0,31}|[0-9]+)$`) // a name, or a number
	unitNameRE  = regexp.MustCompile(`^[A-Za-z0-9:_.-]+\.service$`)
)

// UnitName turns --unit into a unit name: a bare name gets ".service".
func UnitName(s string) (string, error) {
	if !strings.HasSuffix(s, ".service") {
		if unitTypeRE.MatchString(s) {
			return "", fmt.Errorf("--unit %q: the agent runs as a service unit; expected a name such as vigil-agent or vigil-agent-b.service", s)
		}
		s += ".service"
	}
	if !unitNameRE.MatchString(s) || strings.HasPrefix(s, "-") || len(s) > 256 {
		return "", fmt.Errorf("--unit %q: expected a service unit name such as vigil-agent or vigil-agent-b.service (letters, digits, ':', '_', '.', '-')", s)
	}
	return s, nil
}

// unitTypeRE matches names that already end in a unit type.
var unitTypeRE = regexp.MustCompile(`\.(service|socket|target|timer|mount|automount|path|slice|scope|device|swap)$`)

// Validate checks what the generated files depend on, before anything is
// written.
func (u *SystemdUnit) Validate() error {
	if !unitNameRE.MatchString(u.Name) || strings.HasPrefix(u.Name, "-") {
		return fmt.Errorf("unit %q: expected a service unit name such as %s", u.Name, DefaultUnit)
	}
	if !userNameRE.MatchString(u.User) {
		return fmt.Errorf("--user %q: expected a system user name (lower-case letters, digits, '_' or '-', at most 32)", u.User)
	}
	if u.Group != "" && !groupNameRE.MatchString(u.Group) {
		return fmt.Errorf("group %q of user %s cannot be written into a unit; give the agent its own user", u.Group, u.User)
	}
	if !path.IsAbs(u.Exe) {
		return fmt.Errorf("agent binary %q: expected an absolute path", u.Exe)
	}
	cfg := u.Config
	for _, p := range append([]string{u.Exe, cfg.Path()}, u.ReadWritePaths()...) {
		if !path.IsAbs(strings.TrimPrefix(p, "-")) {
			return fmt.Errorf("%s: %q is not an absolute path; load the config from an absolute path", cfg.Path(), p)
		}
		if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("%s: path %q contains a control character, which a systemd unit cannot hold", cfg.Path(), p)
		}
	}
	state := path.Clean(cfg.StateDir)
	if slices.Contains(systemDirs, state) {
		return fmt.Errorf("%s: state_dir: %s is a system directory; install hands the state directory to the agent's user, so give the agent a directory of its own such as /var/lib/vigil-agent", cfg.Path(), state)
	}
	for _, d := range slices.Concat(cfg.Settings, cfg.Queues) {
		if within(state, d.Dir) {
			return fmt.Errorf("%s: state_dir %s contains the declared directory %s; install hands the state directory to the agent's user, which would take the vendor's files too: give the agent a state_dir of its own", cfg.Path(), state, d.Dir)
		}
	}
	for _, unit := range u.ManagedUnits() {
		if err := actions.ValidUnit(unit); err != nil {
			return fmt.Errorf("%s: services: %w", cfg.Path(), err)
		}
	}
	return nil
}

// systemDirs may never be a state directory: install changes its owner.
var systemDirs = []string{"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root",
	"/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/local", "/var", "/var/lib", "/var/tmp", "/var/log"}

// within reports whether p is dir or lies under it.
func within(dir, p string) bool {
	dir, p = path.Clean(dir), path.Clean(p)
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// UnitPath is where the unit file goes.
func (u *SystemdUnit) UnitPath() string { return path.Join(systemdUnitDir, u.Name) }

// PolkitRulePath is where the polkit rule goes. It is named after the unit,
// so that a second agent instance has a rule of its own.
func (u *SystemdUnit) PolkitRulePath() string {
	return path.Join(polkitRuleDir, "50-"+strings.TrimSuffix(u.Name, ".service")+".rules")
}

// ManagedUnits are the systemd units the config lets the agent start and
// stop, with the ".service" systemctl would add to a bare name.
func (u *SystemdUnit) ManagedUnits() []string {
	var units []string
	for _, s := range u.Config.Services {
		if s.Driver != "systemd" {
			continue
		}
		unit := s.Unit
		if !unitTypeRE.MatchString(unit) {
			unit += ".service"
		}
		if !slices.Contains(units, unit) {
			units = append(units, unit)
		}
	}
	return units
}

// ReadWritePaths are the only places the agent may write: its state
// directory, the declared settings and queue directories and the role
// file's directory. All but the state directory, which install creates,
// carry systemd's "-" prefix: a vendor directory that is missing when the
// agent starts makes the actions on it fail, not the whole agent.
func (u *SystemdUnit) ReadWritePaths() []string {
	cfg := u.Config
	out := []string{path.Clean(cfg.StateDir)}
	add := func(p string) {
		p = path.Clean(p)
		if !slices.Contains(out, p) && !slices.Contains(out, "-"+p) {
			out = append(out, "-"+p)
		}
	}
	for _, d := range cfg.Settings {
		add(d.Dir)
	}
	for _, d := range cfg.Queues {
		add(d.Dir)
	}
	if cfg.RoleFile != "" {
		add(path.Dir(cfg.RoleFile))
	}
	return out
}

// usesPaths are the paths the agent reads, writes or runs, for choosing
// ProtectHome= and for the notes.
func (u *SystemdUnit) usesPaths() []string {
	cfg := u.Config
	ps := []string{u.Exe, cfg.Path(), cfg.StateDir, cfg.RoleFile, cfg.RoleProbe.File}
	for _, f := range cfg.Facts {
		ps = append(ps, f.Probe.File)
	}
	for _, d := range slices.Concat(cfg.Settings, cfg.Queues) {
		ps = append(ps, d.Dir)
	}
	for _, s := range cfg.Services {
		ps = append(ps, s.Dir)
		if len(s.Command) > 0 {
			ps = append(ps, s.Command[0])
		}
	}
	for _, c := range cfg.Commands {
		ps = append(ps, c.Dir, c.Argv[0])
	}
	return slices.DeleteFunc(ps, func(p string) bool { return !path.IsAbs(p) })
}

// homeDirs are what ProtectHome= hides.
var homeDirs = []string{"/home", "/root", "/run/user"}

func (u *SystemdUnit) protectHome() string {
	for _, p := range u.usesPaths() {
		for _, h := range homeDirs {
			if within(h, p) {
				return "read-only"
			}
		}
	}
	return "yes"
}

// capabilities are the capabilities the config needs, and why.
func (u *SystemdUnit) capabilities() (caps []string, why []string) {
	if _, port, err := net.SplitHostPort(u.Config.Listen); err == nil {
		if p, _ := strconv.Atoi(port); p > 0 && p < 1024 {
			caps = append(caps, "CAP_NET_BIND_SERVICE")
			why = append(why, fmt.Sprintf("CAP_NET_BIND_SERVICE: the agent listens on port %d, below 1024", p))
		}
	}
	if len(u.Config.Settings) > 0 {
		// A settings edit replaces the file and gives the new one the old
		// one's owner, so the vendor's service can still rewrite it; only
		// CAP_CHOWN may give a file away. ProtectSystem=strict keeps that to
		// the ReadWritePaths: chown fails with EROFS everywhere else.
		caps = append(caps, "CAP_CHOWN")
		why = append(why, "CAP_CHOWN: a settings edit keeps the file's owner (the vendor's service must still own it); it only works where the agent may write")
	}
	return caps, why
}

// Text is the unit file.
func (u *SystemdUnit) Text() string {
	cfg := u.Config
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# Written by `vigil-agent install` from %s.", cfg.Path())
	line("# Remove it with `vigil-agent uninstall --config %s`; changes made here are lost on the next install.", shellQuote(cfg.Path()))
	line("[Unit]")
	line("Description=Vigil agent for %s (system %s)", escapeSpecifiers(cfg.Name), escapeSpecifiers(cfg.System))
	line("After=network-online.target")
	line("Wants=network-online.target")
	line("")
	line("[Service]")
	line("Type=simple")
	argv := slices.Concat([]string{u.Exe}, u.ExeArgs, []string{"run", "--config", cfg.Path()})
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = systemdWord(a, true)
	}
	line("ExecStart=%s", strings.Join(words, " "))
	line("Restart=on-failure")
	line("RestartSec=2s")
	line("User=%s", u.User)
	line("Group=%s", u.groupOrUser())
	line("")
	line("# The agent, and the commands and process services it runs as children,")
	line("# may write only to its state, the declared settings and queue directories")
	line("# and the role file's directory; the rest of the file system is read-only.")
	rw := u.ReadWritePaths()
	for i, p := range rw {
		rw[i] = systemdWord(p, false)
	}
	line("ReadWritePaths=%s", strings.Join(rw, " "))
	line("ProtectSystem=strict")
	if ph := u.protectHome(); ph == "yes" {
		line("ProtectHome=yes")
	} else {
		line("# A path the agent uses lies under /home, /root or /run/user.")
		line("ProtectHome=%s", ph)
	}
	line("PrivateTmp=yes")
	line("PrivateDevices=yes")
	line("NoNewPrivileges=yes")
	line("ProtectKernelTunables=yes")
	line("ProtectKernelModules=yes")
	line("ProtectKernelLogs=yes")
	line("ProtectControlGroups=yes")
	line("# IP for the API and mDNS, Unix sockets for D-Bus (systemctl), netlink to list interfaces.")
	line("RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK")
	line("RestrictNamespaces=yes")
	line("LockPersonality=yes")
	line("MemoryDenyWriteExecute=yes")
	line("SystemCallArchitectures=native")
	caps, why := u.capabilities()
	for _, w := range why {
		line("# %s.", w)
	}
	line("CapabilityBoundingSet=%s", strings.Join(caps, " "))
	if len(caps) > 0 {
		line("AmbientCapabilities=%s", strings.Join(caps, " "))
	}
	line("")
	line("[Install]")
	line("WantedBy=multi-user.target")
	return b.String()
}

func (u *SystemdUnit) groupOrUser() string {
	if u.Group != "" {
		return u.Group
	}
	return u.User
}

// PolkitRule is the polkit rule that lets the agent's user start and stop
// exactly the systemd units its config declares, or "" when it declares none
// (or runs as root, which needs no rule).
func (u *SystemdUnit) PolkitRule() string {
	units := u.ManagedUnits()
	if len(units) == 0 || u.User == "root" {
		return ""
	}
	list, _ := json.Marshal(units) // JSON strings are JavaScript strings
	user, _ := json.Marshal(u.User)
	// NOT_HANDLED rather than NO for everything else: the rules of a second
	// agent instance for the same user must still be asked, and polkit's
	// default already refuses a system user without a session.
	return fmt.Sprintf(`// Written by `+"`vigil-agent install`"+` for %[1]s from %[2]s.
// Lets %[3]s start and stop exactly the systemd units its config declares,
// and no other unit. `+"`vigil-agent uninstall`"+` removes this file.
polkit.addRule(function(action, subject) {
    if (action.id !== "org.freedesktop.systemd1.manage-units" || subject.user !== %[4]s) {
        return polkit.Result.NOT_HANDLED;
    }
    var units = %[5]s;
    var verbs = ["start", "stop"];
    if (units.indexOf(action.lookup("unit")) >= 0 && verbs.indexOf(action.lookup("verb")) >= 0) {
        return polkit.Result.YES;
    }
    return polkit.Result.NOT_HANDLED;
});
`, u.Name, u.Config.Path(), u.User, user, list)
}

// Notes are what an operator should know about how the unit confines the
// agent with this config.
func (u *SystemdUnit) Notes() []string {
	cfg := u.Config
	var notes []string
	hasProc := slices.ContainsFunc(cfg.Services, func(s ServiceConfig) bool { return s.Driver == "process" })
	if hasProc || len(cfg.Commands) > 0 {
		notes = append(notes, fmt.Sprintf("commands and process services run as %s, inside the same sandbox as the agent: "+
			"they may write only to %s, and code that needs writable+executable memory (JIT runtimes such as Java, .NET or Node) "+
			"is refused by MemoryDenyWriteExecute", u.User, strings.Join(trimDash(u.ReadWritePaths()), ", ")))
	}
	if slices.ContainsFunc(cfg.Services, func(s ServiceConfig) bool { return s.Driver == "windows" }) {
		notes = append(notes, "the config declares services with the windows driver; they cannot work on Linux")
	}
	for _, p := range u.usesPaths() {
		if within("/tmp", p) || within("/var/tmp", p) {
			notes = append(notes, fmt.Sprintf("%s is under /tmp or /var/tmp, which the unit replaces with a private, empty directory (PrivateTmp=yes): the agent will not see it; move it", p))
		}
	}
	return notes
}

func trimDash(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = strings.TrimPrefix(p, "-")
	}
	return out
}

// systemdWord quotes one word of a unit file setting the way systemd splits
// it: double quotes around anything with blanks, quotes or backslashes
// (C escapes inside), "%%" for a literal '%' (specifiers), and in command
// lines "$$" for a literal '$' (variable expansion).
func systemdWord(s string, command bool) string {
	s = escapeSpecifiers(s)
	if command {
		s = strings.ReplaceAll(s, "$", "$$")
	}
	if s != "" && !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

func escapeSpecifiers(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellCommand(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// selfCommand is how the service manager should start this program: its
// absolute path, and "agent" first when the console binary (`vigil agent
// install`) is the one installing.
func selfCommand() (exe string, prefix []string, err error) {
	exe, err = os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("find the agent binary: %w", err)
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return "", nil, fmt.Errorf("find the agent binary: %w", err)
	}
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		prefix = []string{"agent"}
	}
	return exe, prefix, nil
}

// loadConfigAbs loads the config from its absolute path, so that the paths
// in it, and the path the service is started with, are absolute.
func loadConfigAbs(p string) (*Config, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", p, err)
	}
	return LoadConfig(abs)
}

// WindowsServiceAccount is the account the Windows service runs as, and why.
// LocalService has no rights on other services; starting and stopping the
// vendor's services (the windows driver) needs LocalSystem, since Windows
// grants that only to administrators and the system by default.
func WindowsServiceAccount(cfg *Config) (account, why string) {
	var names []string
	for _, s := range cfg.Services {
		if s.Driver == "windows" {
			names = append(names, s.WindowsName)
		}
	}
	if len(names) == 0 {
		return `NT AUTHORITY\LocalService`, "the config declares no Windows services, so the agent needs no rights beyond a local service account's"
	}
	return "LocalSystem", fmt.Sprintf("the config declares Windows services the agent starts and stops (%s), and by default Windows lets only administrators and LocalSystem do that",
		strings.Join(names, ", "))
}

// errNotRoot is returned by a real install or uninstall run without root.
var errNotRoot = errors.New("needs root: it creates a system user, writes the unit to /etc/systemd/system and enables it. Run it with sudo, or add --dry-run to see what it would do")
