//go:build !windows

package agent

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/vigilops/vigil/actions"
)

// Runner runs a program and returns what it printed. The installer runs
// useradd, chown, chgrp, systemctl and systemd-analyze through it, so tests
// can record them instead.
type Runner func(ctx context.Context, argv ...string) (output []byte, err error)

// ExecRunner runs programs for real.
func ExecRunner(ctx context.Context, argv ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Account is a user as the installer needs it.
type Account struct {
	Name  string
	UID   int
	GID   int    // primary group
	Group string // its name
	GIDs  []int  // every group the user is in
}

// UserDB looks users and groups up. OSUsers reads the system's.
type UserDB interface {
	User(name string) (acct Account, exists bool, err error)
	GroupExists(name string) (bool, error)
}

// OSUsers is the system's user database, through os/user.
type OSUsers struct{}

func (OSUsers) User(name string) (Account, bool, error) {
	u, err := user.Lookup(name)
	if errors.As(err, new(user.UnknownUserError)) {
		return Account{}, false, nil
	}
	if err != nil {
		return Account{}, false, err
	}
	a := Account{Name: name}
	a.UID, _ = strconv.Atoi(u.Uid)
	a.GID, _ = strconv.Atoi(u.Gid)
	if g, err := user.LookupGroupId(u.Gid); err == nil {
		a.Group = g.Name
	}
	ids, _ := u.GroupIds()
	for _, id := range ids {
		if n, err := strconv.Atoi(id); err == nil {
			a.GIDs = append(a.GIDs, n)
		}
	}
	if !slices.Contains(a.GIDs, a.GID) {
		a.GIDs = append(a.GIDs, a.GID)
	}
	return a, true, nil
}

func (OSUsers) GroupExists(name string) (bool, error) {
	_, err := user.LookupGroup(name)
	if errors.As(err, new(user.UnknownGroupError)) {
		return false, nil
	}
	return err == nil, err
}

// SystemdInstaller registers the agent as a systemd unit. Everything it does
// to the system goes through it: files under Root, programs through Run,
// users through Users.
type SystemdInstaller struct {
	Root     string // prefix of every file it reads or writes; "" for the real system
	Run      Runner
	Users    UserDB
	LookPath func(file string) (string, error) // finds systemd-analyze
	Euid     func() int
	Out      io.Writer // what it did, warnings and next steps
}

// NewSystemdInstaller acts on the real system and reports to out.
func NewSystemdInstaller(out io.Writer) *SystemdInstaller {
	return &SystemdInstaller{Run: ExecRunner, Users: OSUsers{}, LookPath: exec.LookPath, Euid: os.Geteuid, Out: out}
}

// path maps a path of the target system under Root.
func (in *SystemdInstaller) path(p string) string {
	if in.Root == "" {
		return p
	}
	return filepath.Join(in.Root, filepath.FromSlash(p))
}

func (in *SystemdInstaller) say(format string, args ...any) {
	fmt.Fprintf(in.Out, format+"\n", args...)
}

func (in *SystemdInstaller) warn(format string, args ...any) {
	fmt.Fprintf(in.Out, "warning: "+format+"\n", args...)
}

func (in *SystemdInstaller) run(ctx context.Context, argv ...string) ([]byte, error) {
	in.say("running: %s", strings.Join(argv, " "))
	return in.Run(ctx, argv...)
}

// systemdRunning is sd_booted(): systemctl can only reload or stop units
// when systemd is the running init.
func (in *SystemdInstaller) systemdRunning() bool {
	fi, err := os.Stat(in.path("/run/systemd/system"))
	return err == nil && fi.IsDir()
}

// Install creates the agent's user if it is missing, hands it the state
// directory, writes the unit (and the polkit rule when the config declares
// systemd services), reloads systemd and enables the unit. It does not start
// it. With dryRun it prints the unit and rule and changes nothing. It fills
// in u.Group.
func (in *SystemdInstaller) Install(ctx context.Context, u *SystemdUnit, dryRun bool) error {
	if err := u.Validate(); err != nil {
		return err
	}
	if !dryRun {
		if in.Euid() != 0 {
			return fmt.Errorf("install %w", errNotRoot)
		}
		if runtime.GOOS != "linux" {
			return fmt.Errorf("install registers a systemd unit, which needs Linux (on Windows it registers a service); add --dry-run to see the unit")
		}
	}
	acct, exists, err := in.Users.User(u.User)
	if err != nil {
		return fmt.Errorf("look up user %s: %w", u.User, err)
	}
	u.Group = u.User // useradd --user-group makes it
	if exists {
		u.Group = groupWord(acct)
	}
	if dryRun {
		return in.dryRun(ctx, u, exists)
	}
	cfg := u.Config

	if !exists {
		if err := in.addUser(ctx, u.User); err != nil {
			return err
		}
		if acct, exists, err = in.Users.User(u.User); err != nil || !exists {
			return fmt.Errorf("user %s was added but cannot be looked up (%v); check the user database", u.User, err)
		}
		u.Group = groupWord(acct)
	} else {
		in.say("user %s exists (uid %d); the agent runs as it", u.User, acct.UID)
	}

	if err := in.prepareStateDir(ctx, u); err != nil {
		return err
	}
	if err := in.checkConfigFile(ctx, u, acct); err != nil {
		return err
	}
	in.checkDeclaredDirs(u, acct)

	unitFile := in.path(u.UnitPath())
	_, statErr := os.Stat(unitFile)
	reinstall := statErr == nil
	if err := in.writeFile(unitFile, []byte(u.Text())); err != nil {
		return err
	}
	in.say("wrote %s", u.UnitPath())

	ruleFile := in.path(u.PolkitRulePath())
	if rule := u.PolkitRule(); rule != "" {
		if _, err := os.Stat(in.path("/etc/polkit-1")); err != nil {
			in.warn("polkit does not seem to be installed (no /etc/polkit-1): without polkitd the agent cannot start or stop %s; install it (apt-get install polkitd)",
				strings.Join(u.ManagedUnits(), ", "))
		}
		if err := in.writeFile(ruleFile, []byte(rule)); err != nil {
			return err
		}
		in.say("wrote %s: %s may start and stop %s, and no other unit", u.PolkitRulePath(), u.User, strings.Join(u.ManagedUnits(), ", "))
	} else if err := os.Remove(ruleFile); err == nil {
		in.say("removed %s: %s no longer needs a polkit rule", u.PolkitRulePath(), u.User)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the stale polkit rule: %w", err)
	} else if len(u.ManagedUnits()) > 0 {
		in.say("%s runs as root, so it needs no polkit rule to start and stop %s", u.Name, strings.Join(u.ManagedUnits(), ", "))
	}

	if in.systemdRunning() {
		if _, err := in.run(ctx, "systemctl", "daemon-reload"); err != nil {
			return err
		}
	} else {
		in.say("systemd is not running here; skipped systemctl daemon-reload")
	}
	if _, err := in.run(ctx, "systemctl", "enable", u.Name); err != nil {
		return err
	}
	in.verify(ctx, unitFile)
	in.notes(u)

	in.say("")
	in.say("%s is installed and enabled; it is not started. Next:", u.Name)
	in.say("  systemctl start %s", u.Name)
	if reinstall {
		in.say("  (it was installed before: if it is running, `systemctl restart %s` applies the new unit)", u.Name)
	}
	in.say("  %s", shellCommand(slices.Concat([]string{u.Exe}, u.ExeArgs, []string{"pair-code", "--config", cfg.Path()})))
	return nil
}

// groupWord is how the unit names the account's group: by name when it has
// a plain one, else by number.
func groupWord(a Account) string {
	if userNameRE.MatchString(a.Group) {
		return a.Group
	}
	return strconv.Itoa(a.GID)
}

func (in *SystemdInstaller) dryRun(ctx context.Context, u *SystemdUnit, userExists bool) error {
	in.say("# dry run: nothing is changed. %s would be:", u.UnitPath())
	in.say("")
	fmt.Fprint(in.Out, u.Text())
	if rule := u.PolkitRule(); rule != "" {
		in.say("")
		in.say("# %s would be:", u.PolkitRulePath())
		in.say("")
		fmt.Fprint(in.Out, rule)
	}
	in.say("")
	if !userExists {
		in.say("would create system user %s (useradd --system --no-create-home --shell /usr/sbin/nologin)", u.User)
	}
	in.say("would make %s owned by %s:%s (created with mode 0700 if missing)", u.Config.StateDir, u.User, u.Group)
	in.say("would run: systemctl daemon-reload; systemctl enable %s (not start)", u.Name)
	in.notes(u)

	dir, err := os.MkdirTemp("", "vigil-agent-unit-")
	if err != nil {
		return nil // checking is a courtesy in a dry run
	}
	defer os.RemoveAll(dir)
	unitFile := filepath.Join(dir, u.Name)
	if err := os.WriteFile(unitFile, []byte(u.Text()), 0o644); err == nil {
		in.verify(ctx, unitFile)
	}
	return nil
}

func (in *SystemdInstaller) notes(u *SystemdUnit) {
	for _, n := range u.Notes() {
		in.say("note: %s", n)
	}
	if _, why := u.capabilities(); len(why) > 0 {
		in.say("note: capabilities kept: %s", strings.Join(why, "; "))
	}
}

// verify runs systemd-analyze verify on the unit, when it is installed, and
// passes on its complaints. They are advice, not failures.
func (in *SystemdInstaller) verify(ctx context.Context, unitFile string) {
	prog, err := in.LookPath("systemd-analyze")
	if err != nil {
		in.say("systemd-analyze is not installed; the unit was not verified")
		return
	}
	out, err := in.Run(ctx, prog, "verify", unitFile)
	text := strings.TrimSpace(string(out))
	switch {
	case text == "" && err == nil:
		in.say("systemd-analyze verify: no complaints")
	case text == "":
		in.warn("systemd-analyze verify: %v", err)
	default:
		in.warn("systemd-analyze verify complains:")
		for _, l := range strings.Split(text, "\n") {
			in.say("  %s", l)
		}
	}
}

func (in *SystemdInstaller) addUser(ctx context.Context, name string) error {
	argv := []string{"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--comment", "Vigil agent"}
	groupExists, err := in.Users.GroupExists(name)
	if err != nil {
		return fmt.Errorf("look up group %s: %w", name, err)
	}
	if groupExists {
		argv = append(argv, "--gid", name)
	} else {
		argv = append(argv, "--user-group")
	}
	if _, err := in.run(ctx, append(argv, name)...); err != nil {
		return fmt.Errorf("create the agent's user: %w", err)
	}
	in.say("created system user %s", name)
	return nil
}

// prepareStateDir creates the state directory (0700) if it is missing and
// gives it, with what is in it, to the agent's user: keys made by an earlier
// `vigil-agent run` as root must become readable by the agent.
func (in *SystemdInstaller) prepareStateDir(ctx context.Context, u *SystemdUnit) error {
	dir := in.path(u.Config.StateDir)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("create state directory %s: %w", u.Config.StateDir, err)
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			return fmt.Errorf("create state directory %s: %w", u.Config.StateDir, err)
		}
		in.say("created %s (mode 0700)", u.Config.StateDir)
	} else if err != nil {
		return fmt.Errorf("state directory %s: %w", u.Config.StateDir, err)
	}
	if _, err := in.run(ctx, "chown", "-R", u.User+":"+u.Group, dir); err != nil {
		return fmt.Errorf("give the state directory to %s: %w", u.User, err)
	}
	return nil
}

// checkConfigFile makes the config readable, and not writable, by the agent:
// it decides what the agent may do, so the agent must not be able to change
// it.
func (in *SystemdInstaller) checkConfigFile(ctx context.Context, u *SystemdUnit, acct Account) error {
	p := u.Config.Path()
	file := in.path(p)
	fi, err := os.Stat(file)
	if err != nil {
		return fmt.Errorf("config %s: %w", p, err)
	}
	perm := fi.Mode().Perm()
	uid, gid := fileOwnerIDs(fi)
	if perm&0o022 != 0 {
		in.warn("%s is writable by its group or by everyone (mode %04o): whoever can change it controls what the agent does; run chmod go-w %s", p, perm, shellQuote(p))
	}
	if uid == acct.UID && acct.UID != 0 {
		in.warn("%s belongs to %s, so the agent could rewrite its own config; run chown root %s", p, u.User, shellQuote(p))
	}
	if dir := in.blockedDir(p, acct); dir != "" {
		in.warn("%s cannot reach %s: it may not enter %s; move the config to /etc/vigil-agent/", u.User, p, dir)
		return nil
	}
	if allows(acct, uid, gid, perm, 0o4) {
		return nil
	}
	if _, err := in.run(ctx, "chgrp", u.Group, file); err != nil {
		return fmt.Errorf("let %s read its config: %w", u.User, err)
	}
	if err := os.Chmod(file, (perm|0o040)&^0o020); err != nil {
		return fmt.Errorf("let %s read its config: %w", u.User, err)
	}
	in.say("made %s readable, not writable, by group %s", p, u.Group)
	return nil
}

// checkDeclaredDirs warns about declared directories the agent will not be
// able to use. It changes nothing: they belong to the vendor.
func (in *SystemdInstaller) checkDeclaredDirs(u *SystemdUnit, acct Account) {
	for _, d := range slices.Concat(u.Config.Settings, u.Config.Queues) {
		fi, err := os.Stat(in.path(d.Dir))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			in.warn("%s (%s) does not exist: create it, then restart the agent; systemd makes a directory writable only if it exists when the agent starts", d.Dir, d.Name)
			continue
		case err != nil:
			in.warn("%s (%s): %v", d.Dir, d.Name, err)
			continue
		}
		uid, gid := fileOwnerIDs(fi)
		if in.blockedDir(d.Dir, acct) != "" || !allows(acct, uid, gid, fi.Mode().Perm(), 0o3) {
			in.warn("%s may not write to %s (%s) by its mode bits; if no ACL grants it, run: setfacl -m u:%s:rwx %s",
				u.User, d.Dir, d.Name, u.User, shellQuote(d.Dir))
		}
	}
	if rf := u.Config.RoleFile; rf != "" {
		if fi, err := os.Stat(in.path(rf)); err == nil {
			uid, gid := fileOwnerIDs(fi)
			if in.blockedDir(rf, acct) != "" || !allows(acct, uid, gid, fi.Mode().Perm(), 0o4) {
				in.warn("%s may not read the role file %s; its role will be unknown until it can", u.User, rf)
			}
		}
	}
}

// blockedDir is the first directory above p that acct may not enter, or "".
func (in *SystemdInstaller) blockedDir(p string, acct Account) string {
	var dirs []string
	for d := path.Dir(path.Clean(p)); ; d = path.Dir(d) {
		dirs = append(dirs, d)
		if d == "/" || d == "." {
			break
		}
	}
	slices.Reverse(dirs)
	for _, d := range dirs {
		fi, err := os.Stat(in.path(d))
		if err != nil {
			return ""
		}
		uid, gid := fileOwnerIDs(fi)
		if !allows(acct, uid, gid, fi.Mode().Perm(), 0o1) {
			return d
		}
	}
	return ""
}

// allows reports whether mode bits grant acct every access in want (4 read,
// 2 write, 1 execute or search). It ignores ACLs and capabilities: the unit
// gives the agent no CAP_DAC_OVERRIDE, even when it runs as root.
func allows(acct Account, uid, gid int, perm fs.FileMode, want fs.FileMode) bool {
	switch {
	case uid == acct.UID:
		return perm>>6&want == want
	case gid == acct.GID || slices.Contains(acct.GIDs, gid):
		return perm>>3&want == want
	default:
		return perm&want == want
	}
}

func fileOwnerIDs(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}

func (in *SystemdInstaller) writeFile(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := actions.WriteFileAtomic(file, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

// Uninstall disables and stops the unit and removes it and its polkit rule.
// It keeps the config, the state directory (keys, pairings, operation log)
// and the user: purging them is the package manager's job.
func (in *SystemdInstaller) Uninstall(ctx context.Context, u *SystemdUnit) error {
	if !unitNameRE.MatchString(u.Name) {
		return fmt.Errorf("unit %q: expected a service unit name such as %s", u.Name, DefaultUnit)
	}
	if in.Euid() != 0 {
		return fmt.Errorf("uninstall needs root: it stops the agent and removes its unit from /etc/systemd/system. Run it with sudo")
	}
	unitFile := in.path(u.UnitPath())
	data, err := os.ReadFile(unitFile)
	installed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", u.UnitPath(), err)
	}
	running := in.systemdRunning()
	agentUser := u.User
	if installed {
		if name := unitSetting(data, "User"); name != "" {
			agentUser = name
		}
		argv := []string{"systemctl", "disable", u.Name}
		if running {
			argv = []string{"systemctl", "disable", "--now", u.Name}
		}
		if _, err := in.run(ctx, argv...); err != nil {
			return err
		}
		if err := os.Remove(unitFile); err != nil {
			return fmt.Errorf("remove %s: %w", u.UnitPath(), err)
		}
		in.say("removed %s", u.UnitPath())
	} else {
		in.say("%s is not installed (no %s)", u.Name, u.UnitPath())
	}
	if err := os.Remove(in.path(u.PolkitRulePath())); err == nil {
		in.say("removed %s", u.PolkitRulePath())
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", u.PolkitRulePath(), err)
	}
	if installed && running {
		if _, err := in.run(ctx, "systemctl", "daemon-reload"); err != nil {
			return err
		}
	}
	var kept []string
	if u.Config != nil {
		kept = append(kept, "the config "+u.Config.Path(), "the state directory "+u.Config.StateDir+" (keys, agent id, pairings, operation log)")
	}
	if installed && agentUser != "" && agentUser != "root" {
		kept = append(kept, "the user "+agentUser)
	}
	if len(kept) > 0 {
		in.say("kept %s; remove by hand what you want gone (purging is the package manager's job)", strings.Join(kept, ", "))
	}
	return nil
}

// unitSetting is the last value of key in a unit file.
func unitSetting(data []byte, key string) string {
	v := ""
	for _, l := range strings.Split(string(data), "\n") {
		if k, val, ok := strings.Cut(strings.TrimSpace(l), "="); ok && strings.TrimSpace(k) == key {
			v = strings.TrimSpace(val)
		}
	}
	return v
}

// handToStateOwner gives a file root just wrote into the state directory to
// the directory's owner, so that an agent installed as its own user can read
// what `sudo vigil-agent pair-code` wrote.
func handToStateOwner(file, stateDir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(stateDir)
	if err != nil {
		return nil
	}
	uid, gid := fileOwnerIDs(fi)
	if uid <= 0 {
		return nil
	}
	return os.Lchown(file, uid, gid)
}

func installCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil-agent install", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "agent configuration `FILE`")
	userName := fs.String("user", DefaultAgentUser, "run the agent as system user `NAME` (created if missing)")
	unit := fs.String("unit", DefaultUnit, "systemd unit `NAME`, e.g. for a second agent instance")
	dryRun := fs.Bool("dry-run", false, "print the unit and polkit rule; change nothing")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if *configPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "vigil-agent install: --config FILE is required (make one with `vigil-agent init --profile PROFILE`)")
		return ExitUsage
	}
	name, err := UnitName(*unit)
	if err != nil {
		fmt.Fprintln(stderr, "vigil-agent install:", err)
		return ExitUsage
	}
	cfg, err := loadConfigAbs(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "vigil-agent:", err)
		return ExitUsage
	}
	exe, prefix, err := selfCommand()
	if err != nil {
		fmt.Fprintln(stderr, "vigil-agent install:", err)
		return ExitFailed
	}
	u := &SystemdUnit{Name: name, Config: cfg, Exe: exe, ExeArgs: prefix, User: *userName}
	if err := u.Validate(); err != nil {
		fmt.Fprintln(stderr, "vigil-agent install:", err)
		return ExitUsage
	}
	if err := NewSystemdInstaller(stdout).Install(context.Background(), u, *dryRun); err != nil {
		fmt.Fprintln(stderr, "vigil-agent install:", err)
		return ExitFailed
	}
	return ExitOK
}

func uninstallCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil-agent uninstall", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "agent configuration `FILE`")
	unit := fs.String("unit", DefaultUnit, "systemd unit `NAME` given to install")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if *configPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "vigil-agent uninstall: --config FILE is required")
		return ExitUsage
	}
	name, err := UnitName(*unit)
	if err != nil {
		fmt.Fprintln(stderr, "vigil-agent uninstall:", err)
		return ExitUsage
	}
	// A broken config must not keep an operator from removing the unit.
	cfg, err := loadConfigAbs(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "vigil-agent uninstall: %v (removing the unit anyway)\n", err)
		cfg = nil
	}
	u := &SystemdUnit{Name: name, Config: cfg, User: DefaultAgentUser}
	if err := NewSystemdInstaller(stdout).Uninstall(context.Background(), u); err != nil {
		fmt.Fprintln(stderr, "vigil-agent uninstall:", err)
		return ExitFailed
	}
	return ExitOK
}
