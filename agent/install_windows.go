//go:build windows

package agent

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

const (
	windowsDisplayName = "Vigil Agent"
	windowsDescription = "Vigil host agent: reports this server's role and health to Vigil consoles and carries out the actions its configuration allows."
	localService       = `NT AUTHORITY\LocalService`
)

// serviceSID is the account Windows gives the service itself (its SID type
// is unrestricted), so that files can be granted to it and nothing else.
const serviceSID = `NT SERVICE\` + WindowsServiceName

func installCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil-agent install", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "agent configuration `FILE`")
	dryRun := fs.Bool("dry-run", false, "print what would be registered; change nothing")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if *configPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "vigil-agent install: --config FILE is required (make one with `vigil-agent init --profile PROFILE`)")
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
	account, why := WindowsServiceAccount(cfg)
	runArgs := slices.Concat(prefix, []string{"run", "--config", cfg.Path()})
	fmt.Fprintf(stdout, "service %s (%s): %s %s\n", WindowsServiceName, windowsDisplayName, syscall.EscapeArg(exe), escapeArgs(runArgs))
	fmt.Fprintf(stdout, "start: automatic (delayed); on failure: restart after 5 s\n")
	fmt.Fprintf(stdout, "runs as %s: %s\n", account, why)
	if *dryRun {
		fmt.Fprintln(stdout, "dry run: nothing is changed")
		return ExitOK
	}
	if err := installWindowsService(stdout, cfg, exe, runArgs, account); err != nil {
		fmt.Fprintln(stderr, "vigil-agent install:", err)
		return ExitFailed
	}
	fmt.Fprintf(stdout, "\n%s is installed; it is not started. Next:\n  sc.exe start %s\n  %s %s\n",
		WindowsServiceName, WindowsServiceName, syscall.EscapeArg(exe), escapeArgs(slices.Concat(prefix, []string{"pair-code", "--config", cfg.Path()})))
	return ExitOK
}

func escapeArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = syscall.EscapeArg(a)
	}
	return strings.Join(q, " ")
}

// connectSCM connects to the service control manager, which only an
// elevated prompt may change.
func connectSCM() (*mgr.Mgr, error) {
	m, err := mgr.Connect()
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return nil, errors.New("needs an elevated prompt: run it from a command prompt opened with \"Run as administrator\"")
	}
	if err != nil {
		return nil, fmt.Errorf("connect to the service control manager: %w", err)
	}
	return m, nil
}

func installWindowsService(out io.Writer, cfg *Config, exe string, args []string, account string) (err error) {
	m, err := connectSCM()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	if s, err := m.OpenService(WindowsServiceName); err == nil {
		s.Close()
		return fmt.Errorf("service %s is already installed; run `vigil-agent uninstall --config %s` first", WindowsServiceName, cfg.Path())
	}
	s, err := m.CreateService(WindowsServiceName, exe, mgr.Config{
		DisplayName:      windowsDisplayName,
		Description:      windowsDescription,
		StartType:        mgr.StartAutomatic,
		DelayedAutoStart: true,
		ErrorControl:     mgr.ErrorNormal,
		ServiceStartName: account,
		SidType:          windows.SERVICE_SID_TYPE_UNRESTRICTED,
	}, args...)
	if err != nil {
		return fmt.Errorf("create service %s: %w", WindowsServiceName, err)
	}
	defer s.Close()
	// Half a service is worse than none.
	defer func() {
		if err != nil {
			s.Delete()
		}
	}()
	restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 5 * time.Second}
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{restart, restart, restart}, uint32((24 * time.Hour).Seconds())); err != nil {
		return fmt.Errorf("set recovery actions: %w", err)
	}
	// Also restart when the agent stops with an error, not only when it crashes.
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return fmt.Errorf("set recovery actions: %w", err)
	}
	fmt.Fprintf(out, "registered service %s\n", WindowsServiceName)
	if err := eventlog.InstallAsEventCreate(WindowsServiceName, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
		fmt.Fprintf(out, "note: event log source %s: %v (the agent logs there when it runs as a service)\n", WindowsServiceName, err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state directory %s: %w", cfg.StateDir, err)
	}
	if account == localService {
		// Files made later inherit the grant, so the codes `pair-code`
		// writes from an administrator's prompt stay readable by the agent.
		if msg, err := exec.Command("icacls", cfg.StateDir, "/grant", serviceSID+":(OI)(CI)M").CombinedOutput(); err != nil {
			return fmt.Errorf("let %s write its state directory %s: %v: %s", serviceSID, cfg.StateDir, err, strings.TrimSpace(string(msg)))
		}
		fmt.Fprintf(out, "granted %s modify rights on %s\n", serviceSID, cfg.StateDir)
		for _, d := range slices.Concat(cfg.Settings, cfg.Queues) {
			fmt.Fprintf(out, "note: the agent runs as %s; if it may not write %s (%s), grant it: icacls %s /grant \"%s:(OI)(CI)M\"\n",
				localService, d.Dir, d.Name, syscall.EscapeArg(d.Dir), serviceSID)
		}
	}
	return nil
}

func uninstallCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil-agent uninstall", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "agent configuration `FILE`")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if *configPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "vigil-agent uninstall: --config FILE is required")
		return ExitUsage
	}
	// A broken config must not keep an operator from removing the service.
	cfg, err := loadConfigAbs(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "vigil-agent uninstall: %v (removing the service anyway)\n", err)
	}
	if err := uninstallWindowsService(stdout); err != nil {
		fmt.Fprintln(stderr, "vigil-agent uninstall:", err)
		return ExitFailed
	}
	if cfg != nil {
		fmt.Fprintf(stdout, "kept the config %s and the state directory %s (keys, agent id, pairings, operation log); remove them by hand if you want them gone\n",
			cfg.Path(), cfg.StateDir)
	}
	return ExitOK
}

func uninstallWindowsService(out io.Writer) error {
	m, err := connectSCM()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(WindowsServiceName)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		fmt.Fprintf(out, "service %s is not installed\n", WindowsServiceName)
		return nil
	}
	if err != nil {
		return fmt.Errorf("open service %s: %w", WindowsServiceName, err)
	}
	defer s.Close()
	if err := stopWindowsService(s); err != nil {
		return err
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("delete service %s: %w", WindowsServiceName, err)
	}
	eventlog.Remove(WindowsServiceName)
	fmt.Fprintf(out, "stopped and removed service %s\n", WindowsServiceName)
	return nil
}

// stopWindowsService stops the service and waits, up to half a minute, until
// it has.
func stopWindowsService(s *mgr.Service) error {
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("query service %s: %w", WindowsServiceName, err)
	}
	if st.State == svc.Stopped {
		return nil
	}
	if st.State != svc.StopPending {
		if st, err = s.Control(svc.Stop); err != nil {
			return fmt.Errorf("stop service %s: %w", WindowsServiceName, err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); st.State != svc.Stopped; {
		if time.Now().After(deadline) {
			return fmt.Errorf("service %s did not stop within 30 s; stop it (sc.exe stop %s) and try again", WindowsServiceName, WindowsServiceName)
		}
		time.Sleep(300 * time.Millisecond)
		if st, err = s.Query(); err != nil {
			return fmt.Errorf("query service %s: %w", WindowsServiceName, err)
		}
	}
	return nil
}

// handToStateOwner has nothing to do on Windows: files in the state
// directory inherit the grant install gave the service.
func handToStateOwner(file, stateDir string) error { return nil }
