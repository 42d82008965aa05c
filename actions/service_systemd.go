package actions

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
)

// SystemdDriver starts, stops and queries a systemd unit through systemctl.
type SystemdDriver struct {
	Unit      string
	Systemctl string // the systemctl program; "systemctl" from PATH by default
}

var _ Driver = (*SystemdDriver)(nil)

// unitRE is the characters systemd allows in unit names. Refusing anything
// else, and a leading '-', keeps a unit name from ever reading as an option.
var unitRE = regexp.MustCompile(`^[A-Za-z0-9:_.@-]+$`)

// NewSystemdDriver returns a driver for unit. The name is checked when the
// driver is used; ValidUnit lets config code check it up front.
func NewSystemdDriver(unit string) *SystemdDriver {
	return &SystemdDriver{Unit: unit, Systemctl: "systemctl"}
}

// ValidUnit checks that unit is a plain systemd unit name.
func ValidUnit(unit string) error {
	if !unitRE.MatchString(unit) || strings.HasPrefix(unit, "-") || len(unit) > 256 {
		return fmt.Errorf("%q is not a systemd unit name: expected letters, digits, ':', '_', '.', '@' or '-', not starting with '-'", unit)
	}
	return nil
}

// Start runs systemctl start, which waits for the start job to finish.
func (d *SystemdDriver) Start(ctx context.Context) error {
	_, err := d.systemctl(ctx, "start", "--no-ask-password")
	return err
}

// Stop runs systemctl stop, which waits for the stop job to finish.
func (d *SystemdDriver) Stop(ctx context.Context) error {
	_, err := d.systemctl(ctx, "stop", "--no-ask-password")
	return err
}

// State reads the unit's ActiveState. A unit systemd does not know is an
// error, not "stopped": systemctl show reports such units as inactive.
func (d *SystemdDriver) State(ctx context.Context) (ServiceState, error) {
	out, err := d.systemctl(ctx, "show", "-p", "LoadState,ActiveState,SubState")
	if err != nil {
		return ServiceUnknown, err
	}
	// Named properties rather than --value: systemctl prints them in its
	// own order, not the order asked for.
	props := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			props[k] = v
		}
	}
	if props["LoadState"] == "not-found" {
		return ServiceUnknown, fmt.Errorf("systemd unit %s: not found; check the unit name in the agent's config", d.Unit)
	}
	return systemdState(props["ActiveState"]), nil
}

// systemdState maps a unit's ActiveState onto a ServiceState.
func systemdState(active string) ServiceState {
	switch active {
	case "active", "reloading": // reloading units keep running
		return ServiceRunning
	case "inactive":
		return ServiceStopped
	case "failed":
		return ServiceFailed
	case "activating":
		return ServiceStarting
	case "deactivating":
		return ServiceStopping
	}
	return ServiceUnknown
}

// systemctl runs `systemctl VERB [OPTIONS] -- UNIT` directly, never through
// a shell, and returns its stdout. Errors carry systemctl's stderr, which is
// where it explains itself.
func (d *SystemdDriver) systemctl(ctx context.Context, verb string, opts ...string) ([]byte, error) {
	if err := ValidUnit(d.Unit); err != nil {
		return nil, fmt.Errorf("systemctl %s: %w", verb, err)
	}
	prog := d.Systemctl
	if prog == "" {
		prog = "systemctl"
	}
	args := append(append([]string{verb}, opts...), "--", d.Unit)
	cmd := exec.CommandContext(ctx, prog, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &headWriter{w: &stderr, n: 4 << 10}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return nil, fmt.Errorf("systemctl %s %s: %w", verb, d.Unit, err)
		}
		return nil, fmt.Errorf("systemctl %s %s: %w: %s", verb, d.Unit, err, msg)
	}
	return stdout.Bytes(), nil
}

// headWriter keeps the first n bytes and drops the rest, so a chatty
// program cannot grow an error message without bound.
type headWriter struct {
	w io.Writer
	n int
}

func (l *headWriter) Write(p []byte) (int, error) {
	keep := min(len(p), l.n)
	if keep > 0 {
		l.w.Write(p[:keep])
		l.n -= keep
	}
	return len(p), nil
}
