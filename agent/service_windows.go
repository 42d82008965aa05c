//go:build windows

package agent

import (
	"context"
	"io"
	"strings"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
)

// underServiceManager reports whether the Windows service control manager
// started this process, as it does the service `vigil-agent install`
// registers.
func underServiceManager() bool {
	ok, err := svc.IsWindowsService()
	return err == nil && ok
}

// runUnderServiceManager runs `run` as a Windows service: the service
// control manager, not a console, tells it when to stop, and it logs to the
// Windows event log, since a service has no stderr.
func runUnderServiceManager(args []string) int {
	logw := openEventLog()
	defer logw.Close()
	s := &agentService{args: args, logw: logw}
	if err := svc.Run(WindowsServiceName, s); err != nil {
		io.WriteString(logw, "vigil-agent: run as a Windows service: "+err.Error())
		return ExitFailed
	}
	return s.code
}

// agentService is the agent as the service control manager sees it.
type agentService struct {
	args []string
	logw io.Writer
	code int
}

var _ svc.Handler = (*agentService)(nil)

// Execute loads the config, runs the agent and stops it cleanly on Stop or
// Shutdown. A config error or an agent that stops by itself ends the
// service with a service-specific exit code, so the recovery actions that
// install set up restart it.
func (s *agentService) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	cfg, code := configFromFlags("run", s.args, s.logw)
	if cfg == nil {
		s.code = code
		return true, uint32(code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- serve(ctx, cfg, s.logw) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case code := <-done:
			io.WriteString(s.logw, "vigil-agent: the agent stopped without being asked to")
			s.code = max(code, ExitFailed)
			return true, uint32(s.code)
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: 20000}
				cancel()
				s.code = <-done
				return s.code != ExitOK, uint32(s.code)
			}
		}
	}
}

// eventLogWriter sends each line the agent logs to the Windows event log.
type eventLogWriter struct {
	el *eventlog.Log
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// openEventLog opens the event log under the source install registered. A
// service with nowhere to log still runs.
func openEventLog() io.WriteCloser {
	el, err := eventlog.Open(WindowsServiceName)
	if err != nil {
		return nopWriteCloser{io.Discard}
	}
	return &eventLogWriter{el: el}
}

func (w *eventLogWriter) Close() error { return w.el.Close() }

// Write picks the event type from slog's level= field. Lines without one
// are the command's own error messages.
func (w *eventLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if msg == "" {
		return len(p), nil
	}
	level := "ERROR"
	if strings.HasPrefix(msg, "time=") {
		level = "INFO"
		fields := strings.Fields(msg)
		for _, f := range fields[:min(3, len(fields))] {
			if v, ok := strings.CutPrefix(f, "level="); ok {
				level = v
			}
		}
	}
	switch {
	case strings.HasPrefix(level, "ERROR"):
		w.el.Error(1, msg)
	case strings.HasPrefix(level, "WARN"):
		w.el.Warning(1, msg)
	default:
		w.el.Info(1, msg)
	}
	// The event log is best effort: a full log must not stop the agent.
	return len(p), nil
}
