//go:build windows

package actions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// WindowsDriver starts, stops and queries a service through the Windows
// service control manager, as K2 and Redstor hosts run their services.
type WindowsDriver struct {
	name string
}

var _ Driver = (*WindowsDriver)(nil)

// NewWindowsDriver returns a driver for the service whose service name (not
// display name) is name.
func NewWindowsDriver(name string) (Driver, error) {
	if name == "" || len(name) > 256 || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("windows service %q: not a service name: expected at most 256 characters without '/' or '\\'", name)
	}
	return &WindowsDriver{name: name}, nil
}

// pendingPoll is how often Start and Stop look again at a service that is
// between states.
const pendingPoll = 250 * time.Millisecond

// Start starts the service. One that is stopping is first let stop: the
// manager refuses to start it until then.
func (d *WindowsDriver) Start(ctx context.Context) error {
	return d.with("start", func(s *mgr.Service) error {
		st, err := d.settle(ctx, s, svc.StopPending)
		if err != nil || st == svc.Running || st == svc.StartPending {
			return err
		}
		err = s.Start()
		if errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
			return nil
		}
		return err
	})
}

// Stop asks the service to stop. One that is starting is first let start:
// it cannot accept a stop until then.
func (d *WindowsDriver) Stop(ctx context.Context) error {
	return d.with("stop", func(s *mgr.Service) error {
		st, err := d.settle(ctx, s, svc.StartPending)
		if err != nil || st == svc.Stopped || st == svc.StopPending {
			return err
		}
		_, err = s.Control(svc.Stop)
		if errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
			return nil
		}
		return err
	})
}

// State queries the service. A stopped service whose last exit carried an
// error code is "failed": the manager has no such state, but an operator
// needs to tell a crash from a stop.
func (d *WindowsDriver) State(ctx context.Context) (ServiceState, error) {
	st := ServiceUnknown
	err := d.with("query", func(s *mgr.Service) error {
		q, err := s.Query()
		if err == nil {
			st = windowsState(q)
		}
		return err
	})
	return st, err
}

func windowsState(q svc.Status) ServiceState {
	switch q.State {
	case svc.Running:
		return ServiceRunning
	case svc.StartPending:
		return ServiceStarting
	case svc.StopPending:
		return ServiceStopping
	case svc.Stopped:
		if q.Win32ExitCode != 0 && q.Win32ExitCode != uint32(windows.ERROR_SERVICE_NEVER_STARTED) {
			return ServiceFailed
		}
		return ServiceStopped
	}
	return ServiceUnknown // paused and its pending states
}

// settle waits while the service is in the pending state and returns the
// state it reaches.
func (d *WindowsDriver) settle(ctx context.Context, s *mgr.Service, pending svc.State) (svc.State, error) {
	for {
		q, err := s.Query()
		if err != nil || q.State != pending {
			return q.State, err
		}
		select {
		case <-ctx.Done():
			return q.State, fmt.Errorf("still pending: %w", ctx.Err())
		case <-time.After(pendingPoll):
		}
	}
}

// with connects to the service manager and opens the service for op. The
// connection is per call: an agent runs for months and the manager may be
// restarted under it.
func (d *WindowsDriver) with(verb string, op func(*mgr.Service) error) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("%s windows service %s: connect to the service manager: %w", verb, d.name, err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(d.name)
	if err != nil {
		return fmt.Errorf("%s windows service %s: %w", verb, d.name, err)
	}
	defer s.Close()
	if err := op(s); err != nil {
		return fmt.Errorf("%s windows service %s: %w", verb, d.name, err)
	}
	return nil
}

// ownGroup puts cmd's process in a new console process group, so a Ctrl+C
// aimed at the agent's console does not reach it. Windows has no signal to
// end a group: see killGroup.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// terminateGroup kills p: Windows offers no polite request to a process
// without a window or a console of its own.
func terminateGroup(p *os.Process) error { return killGroup(p) }

// killGroup kills p. Processes p started are not reached: that would need a
// job object assigned before p can fork, which os/exec cannot do.
func killGroup(p *os.Process) error {
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill process %d: %w", p.Pid, err)
	}
	return nil
}

// killLeftovers does nothing on Windows, for the reason killGroup gives.
func killLeftovers(*os.Process) {}
