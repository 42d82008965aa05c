package actions

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// ServiceState is what a service driver reports about a service.
type ServiceState string

// States a service can be in. Drivers map their own vocabulary onto these.
const (
	ServiceRunning  ServiceState = "running"
	ServiceStopped  ServiceState = "stopped"
	ServiceFailed   ServiceState = "failed" // ended without being asked to
	ServiceStarting ServiceState = "starting"
	ServiceStopping ServiceState = "stopping"
	ServiceUnknown  ServiceState = "unknown"
)

// down reports whether nothing of the service is running, cleanly or not.
func (s ServiceState) down() bool { return s == ServiceStopped || s == ServiceFailed }

// Driver starts, stops and queries one service through whatever manages it
// (the agent itself, systemd, the Windows service manager). Start and Stop
// ask for the change; the caller waits for State to show it. Their errors
// say what was done to which service, as callers pass them on unwrapped.
// Drivers must be safe for concurrent use.
type Driver interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	State(ctx context.Context) (ServiceState, error)
}

// DefaultServiceTimeout bounds how long a start or stop may take to show in
// the service's state when Service.Timeout is zero.
const DefaultServiceTimeout = 30 * time.Second

// Service is a service the agent's config declares, by the name requests
// use for it.
type Service struct {
	Name    string
	Driver  Driver
	Timeout time.Duration // per start or stop; DefaultServiceTimeout when zero
}

// statePollInterval is how often a start or stop re-reads the state while
// it waits for the service to get there.
const statePollInterval = 100 * time.Millisecond

// Services is the set of declared services and the executors that act on
// them. Only declared services can be touched: a request names a service,
// never a unit, a path or a command line.
type Services struct {
	byName map[string]*service
}

type service struct {
	Service
	// mu keeps two requests from interleaving a stop and a start of the same
	// service, whatever the agent above serialises.
	mu sync.Mutex
}

// NewServices declares list. It panics on an empty or repeated name or a nil
// driver: the agent's config loader rejects those before this point.
func NewServices(list []Service) *Services {
	s := &Services{byName: make(map[string]*service, len(list))}
	for _, svc := range list {
		if svc.Name == "" || svc.Driver == nil {
			panic(fmt.Sprintf("actions: service %q declared without a name or a driver", svc.Name))
		}
		if _, dup := s.byName[svc.Name]; dup {
			panic(fmt.Sprintf("actions: service %q declared twice", svc.Name))
		}
		s.byName[svc.Name] = &service{Service: svc}
	}
	return s
}

// Names lists the declared services, sorted.
func (s *Services) Names() []string {
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Executors returns the executors for service.start, service.stop,
// service.restart and service.status.
func (s *Services) Executors() map[string]Executor {
	return map[string]Executor{
		ServiceStart:   serviceExec{s, (*service).start},
		ServiceStop:    serviceExec{s, (*service).stop},
		ServiceRestart: serviceExec{s, (*service).restart},
		ServiceStatus:  serviceExec{s, (*service).status},
	}
}

// serviceExec adapts one service operation to the Executor interface.
type serviceExec struct {
	s  *Services
	op func(svc *service, ctx context.Context, dryRun bool) (Outcome, error)
}

func (e serviceExec) Do(ctx context.Context, params map[string]string, dryRun bool) (Outcome, error) {
	svc, err := e.s.lookup(params)
	if err != nil {
		return Outcome{}, err
	}
	return e.op(svc, ctx, dryRun)
}

// lookup finds the service a request names. Any parameter but "service" is
// refused, so a request never carries something the agent silently ignores.
func (s *Services) lookup(params map[string]string) (*service, error) {
	if err := onlyParam(params, "service"); err != nil {
		return nil, err
	}
	name, ok := params["service"]
	if !ok || name == "" {
		return nil, &ParamError{"service", "missing; expected the name of a service declared in the agent's config"}
	}
	svc, ok := s.byName[name]
	if !ok {
		// The reason names only what was asked for: the list of declared
		// services is for the operator's config, not for any caller.
		return nil, &RefusedError{fmt.Sprintf("service %s is not declared in this agent's config", quoteName(name))}
	}
	return svc, nil
}

// onlyParam refuses any request parameter other than want.
func onlyParam(params map[string]string, want string) error {
	var extra []string
	for k := range params {
		if k != want {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return &ParamError{extra[0], fmt.Sprintf("not accepted: this action takes only %q", want)}
}

// quoteName quotes a caller-supplied name for an error, cut to a readable length.
func quoteName(s string) string {
	const limit = 64
	if len(s) > limit {
		return fmt.Sprintf("%q...", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}

func (svc *service) diff(from, to string) string {
	return fmt.Sprintf("service %s: %s -> %s", svc.Name, from, to)
}

func (svc *service) state(ctx context.Context) (ServiceState, error) {
	st, err := svc.Driver.State(ctx)
	if err != nil {
		return ServiceUnknown, fmt.Errorf("read state of service %s: %w", svc.Name, err)
	}
	return st, nil
}

func (svc *service) status(ctx context.Context, _ bool) (Outcome, error) {
	st, err := svc.state(ctx)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Value: string(st)}, nil
}

func (svc *service) start(ctx context.Context, dryRun bool) (Outcome, error) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	from, err := svc.state(ctx)
	if err != nil || from == ServiceRunning {
		return Outcome{}, err
	}
	out := Outcome{Changed: true, Diff: svc.diff(string(from), string(ServiceRunning))}
	if dryRun {
		return out, nil
	}
	return out, svc.bring(ctx, ServiceRunning)
}

// stop treats a failed service as already stopped, as systemctl does: there
// is nothing left to stop, and stopping it would not clear the failure.
func (svc *service) stop(ctx context.Context, dryRun bool) (Outcome, error) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	from, err := svc.state(ctx)
	if err != nil || from.down() {
		return Outcome{}, err
	}
	out := Outcome{Changed: true, Diff: svc.diff(string(from), string(ServiceStopped))}
	if dryRun {
		return out, nil
	}
	if err := svc.bring(ctx, ServiceStopped); err != nil {
		return out, err
	}
	// A service that exits non-zero on SIGTERM ends "failed" under systemd:
	// it did stop, and the diff says how it ended rather than what we hoped.
	if to, err := svc.state(ctx); err == nil && to != ServiceStopped {
		out.Diff = svc.diff(string(from), string(to))
	}
	return out, nil
}

// restart always acts: an operator restarts a running service to get a
// fresh process, so "already running" is no reason to do nothing.
func (svc *service) restart(ctx context.Context, dryRun bool) (Outcome, error) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	from, err := svc.state(ctx)
	if err != nil {
		return Outcome{}, err
	}
	to := string(ServiceRunning)
	if from == ServiceRunning {
		to = "restarted"
	}
	out := Outcome{Changed: true, Diff: svc.diff(string(from), to)}
	if dryRun {
		return out, nil
	}
	if !from.down() {
		if err := svc.bring(ctx, ServiceStopped); err != nil {
			return out, err
		}
	}
	return out, svc.bring(ctx, ServiceRunning)
}

// bring asks the driver for target and waits until the state shows it,
// within the service's timeout.
func (svc *service) bring(ctx context.Context, target ServiceState) error {
	timeout := svc.Timeout
	if timeout <= 0 {
		timeout = DefaultServiceTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	verb, ask := "start", svc.Driver.Start
	if target == ServiceStopped {
		verb, ask = "stop", svc.Driver.Stop
	}
	if err := ask(ctx); err != nil {
		if ctx.Err() != nil {
			// The driver ran out of time; where the service is stuck says
			// more than the driver's "deadline exceeded".
			return svc.stuck(ctx, verb, target, timeout)
		}
		return err // drivers' errors say what they did to which service
	}
	return svc.await(ctx, verb, target, timeout)
}

// await polls the state until it reaches target. A stop is done once the
// service is down either way; a start that ends in "failed" is reported at
// once rather than after the whole timeout.
func (svc *service) await(ctx context.Context, verb string, target ServiceState, timeout time.Duration) error {
	tick := time.NewTicker(statePollInterval)
	defer tick.Stop()
	for {
		st, err := svc.Driver.State(ctx)
		switch {
		case err == nil && (st == target || target == ServiceStopped && st.down()):
			return nil
		case err == nil && target == ServiceRunning && st == ServiceFailed:
			return fmt.Errorf("%s service %s: it failed while starting; see its log", verb, svc.Name)
		}
		select {
		case <-ctx.Done():
			return svc.stuck(ctx, verb, target, timeout)
		case <-tick.C:
		}
	}
}

// stuck explains a start or stop whose ctx ended before the service got to
// target, by the state it is in now.
func (svc *service) stuck(ctx context.Context, verb string, target ServiceState, timeout time.Duration) error {
	after := fmt.Sprintf("after %s", timeout)
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		after = "when the request was cancelled"
	}
	// ctx is over; the state still deserves a bounded look.
	look, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	st, err := svc.Driver.State(look)
	if err != nil {
		return fmt.Errorf("%s service %s: not %s %s, and its state cannot be read: %w", verb, svc.Name, target, after, err)
	}
	return fmt.Errorf("%s service %s: still %s %s (wanted %s)", verb, svc.Name, st, after, target)
}

// String makes states print as their word in logs and errors.
func (s ServiceState) String() string { return string(s) }
