//go:build !windows

package agent

// underServiceManager reports whether the Windows service control manager
// started this process: never, outside Windows. systemd needs nothing of the
// kind; it stops the agent with SIGTERM, which run already handles.
func underServiceManager() bool { return false }

// runUnderServiceManager is only reached on Windows.
func runUnderServiceManager([]string) int { return ExitFailed }
