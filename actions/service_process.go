package actions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"
)

// DefaultStopTimeout is how long a supervised process has to exit after
// SIGTERM before it is killed, when ProcessSpec.StopTimeout is zero.
const DefaultStopTimeout = 10 * time.Second

// ProcessSpec is a command line the agent runs and supervises as a service.
type ProcessSpec struct {
	Argv        []string // program first; no shell is involved
	Dir         string   // working directory; the agent's when empty
	Env         []string // KEY=VALUE added to the agent's environment, winning over it
	StopTimeout time.Duration
	LogFile     string // stdout and stderr are appended here; discarded when empty
}

// ProcessDriver runs a service as the agent's own child process: for Vigil's
// simulator and for hosts that have no service manager.
//
// The process is "running" while it lives. When it exits it is "stopped" if
// Stop asked for that, and "failed" otherwise, whatever its exit status: a
// service nobody asked to end has failed, even if it said goodbye politely.
type ProcessDriver struct {
	name     string
	spec     ProcessSpec
	onChange func(ServiceState)

	mu      sync.Mutex
	state   ServiceState
	cur     *supervised // the live process; nil when there is none
	closed  bool
	pending []ServiceState // changes not yet handed to onChange, oldest first

	notifyMu    sync.Mutex     // one onChange call at a time, in order
	supervisors sync.WaitGroup // one per process started; Close waits for them
}

// supervised is one run of the command line.
type supervised struct {
	proc     *os.Process
	stop     chan struct{} // closed once, by Stop, to ask for termination
	exited   chan struct{} // closed by the supervisor once the exit is recorded
	stopping bool          // guarded by ProcessDriver.mu
}

var _ Driver = (*ProcessDriver)(nil)

// NewProcessDriver returns a driver for the command line in spec, stopped.
// onChange, if not nil, is called with every new state, in order, from the
// goroutine that made the change: a process that dies is reported as soon
// as the agent reaps it. onChange may call State but must not call Start,
// Stop or Close, and should return quickly.
func NewProcessDriver(name string, spec ProcessSpec, onChange func(ServiceState)) *ProcessDriver {
	spec.Argv = append([]string(nil), spec.Argv...)
	spec.Env = append([]string(nil), spec.Env...)
	if spec.StopTimeout <= 0 {
		spec.StopTimeout = DefaultStopTimeout
	}
	return &ProcessDriver{name: name, spec: spec, onChange: onChange, state: ServiceStopped}
}

// State reports the process's state.
func (d *ProcessDriver) State(context.Context) (ServiceState, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state, nil
}

// Start spawns the process unless it is already running. The process
// belongs to the driver, not to ctx: it runs until Stop or Close.
func (d *ProcessDriver) Start(context.Context) error {
	d.mu.Lock()
	err := d.startLocked()
	d.mu.Unlock()
	d.notify()
	if err != nil {
		return fmt.Errorf("start service %s: %w", d.name, err)
	}
	return nil
}

func (d *ProcessDriver) startLocked() error {
	switch {
	case d.closed:
		return errors.New("the agent is shutting down")
	case d.cur != nil && d.cur.stopping:
		return fmt.Errorf("process %d is still stopping", d.cur.proc.Pid)
	case d.cur != nil:
		return nil
	case len(d.spec.Argv) == 0:
		return errors.New("no command line declared")
	}
	cmd, err := d.command()
	if err != nil {
		return err
	}
	err = cmd.Start()
	if f, ok := cmd.Stdout.(*os.File); ok {
		f.Close() // the child holds its own copy
	}
	if err != nil {
		return fmt.Errorf("run %s: %w", d.spec.Argv[0], err)
	}
	s := &supervised{proc: cmd.Process, stop: make(chan struct{}), exited: make(chan struct{})}
	d.cur = s
	d.setState(ServiceRunning)
	d.supervisors.Add(1)
	go d.supervise(cmd, s)
	return nil
}

func (d *ProcessDriver) command() (*exec.Cmd, error) {
	cmd := exec.Command(d.spec.Argv[0], d.spec.Argv[1:]...)
	cmd.Dir = d.spec.Dir
	if len(d.spec.Env) > 0 {
		// os/exec keeps the last of repeated keys, so spec.Env wins.
		cmd.Env = append(os.Environ(), d.spec.Env...)
	}
	ownGroup(cmd)
	if d.spec.LogFile != "" {
		f, err := os.OpenFile(d.spec.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("open log: %w", err)
		}
		// An *os.File goes to the child as is: no copying goroutine, and
		// Wait does not hang on helpers that keep the descriptor open.
		cmd.Stdout, cmd.Stderr = f, f
	}
	return cmd, nil
}

// supervise owns one process from spawn to reaping: it terminates it when
// Stop asks, kills it when it outstays StopTimeout, and records its exit.
func (d *ProcessDriver) supervise(cmd *exec.Cmd, s *supervised) {
	defer d.supervisors.Done()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }() // always received below

	stop := s.stop
	var kill <-chan time.Time
	for {
		select {
		case <-waited:
			// The exit status is the service's own business: its log says
			// why it ended; what matters here is whether it was asked to.
			killLeftovers(s.proc)
			d.exited(s)
			return
		case <-stop:
			stop = nil
			_ = terminateGroup(s.proc) // a failure shows as the kill below
			t := time.NewTimer(d.spec.StopTimeout)
			defer t.Stop() // runs once: stop is nil from here on
			kill = t.C
		case <-kill:
			kill = nil
			_ = killGroup(s.proc) // nothing more to try; Wait still reports the exit
		}
	}
}

// exited records how s ended and tells onChange straight away. Stop
// returns when s.exited closes, so that closes only once onChange has had
// the new state: whoever reads the service's state from what onChange
// reports (the agent's status stream) sees "stopped" by the time Stop
// returns, never the "stopping" before it.
func (d *ProcessDriver) exited(s *supervised) {
	d.mu.Lock()
	d.cur = nil
	if s.stopping {
		d.setState(ServiceStopped)
	} else {
		d.setState(ServiceFailed)
	}
	d.mu.Unlock()
	// notify returns once the change is delivered, whether this call or
	// one already draining the queue delivers it.
	d.notify()
	close(s.exited)
}

// Stop terminates the process group with SIGTERM (a kill on Windows), kills
// it after StopTimeout, and returns once the process has exited and
// onChange has been told it is stopped. A failed
// service becomes stopped: the operator has seen to it. If ctx ends first,
// Stop returns but the kill still follows on time.
func (d *ProcessDriver) Stop(ctx context.Context) error {
	d.mu.Lock()
	s := d.cur
	switch {
	case s == nil && d.state == ServiceFailed:
		d.setState(ServiceStopped)
	case s != nil && !s.stopping:
		s.stopping = true
		d.setState(ServiceStopping)
		close(s.stop)
	}
	d.mu.Unlock()
	d.notify()
	if s == nil {
		return nil
	}
	select {
	case <-s.exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop service %s: process %d has not exited yet (it is killed %s after SIGTERM): %w",
			d.name, s.proc.Pid, d.spec.StopTimeout, ctx.Err())
	}
}

// Close stops the process, as Stop does, and waits until every goroutine the
// driver started has ended. The driver cannot be started again.
func (d *ProcessDriver) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	err := d.Stop(context.Background())
	d.supervisors.Wait()
	return err
}

// setState records a change for notify; d.mu must be held.
func (d *ProcessDriver) setState(st ServiceState) {
	if st == d.state {
		return
	}
	d.state = st
	if d.onChange != nil {
		d.pending = append(d.pending, st)
	}
}

// notify hands pending changes to onChange, outside d.mu so that onChange
// may read the state. Whoever made a change calls it; one caller drains the
// queue at a time, so changes arrive in the order they happened.
func (d *ProcessDriver) notify() {
	if d.onChange == nil {
		return
	}
	d.notifyMu.Lock()
	defer d.notifyMu.Unlock()
	for {
		d.mu.Lock()
		if len(d.pending) == 0 {
			d.mu.Unlock()
			return
		}
		st := d.pending[0]
		d.pending = d.pending[1:]
		d.mu.Unlock()
		d.onChange(st)
	}
}
