package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/vigilops/vigil/actions"
)

// buildExecutors makes the executors for what the config declares; the
// agent acts on nothing else. Process-driven services report state changes
// through onChange. The returned drivers must be closed with the agent.
func buildExecutors(cfg *Config, onChange func(service string, st actions.ServiceState)) (map[string]actions.Executor, []*actions.ProcessDriver, error) {
	execs := map[string]actions.Executor{}
	var procs []*actions.ProcessDriver
	if len(cfg.Services) > 0 {
		list := make([]actions.Service, 0, len(cfg.Services))
		for _, s := range cfg.Services {
			var d actions.Driver
			switch s.Driver {
			case "process":
				name := s.Name
				p := actions.NewProcessDriver(name, actions.ProcessSpec{Argv: s.Command, Dir: s.Dir, StopTimeout: s.StopTimeout,
					LogFile: filepath.Join(cfg.StateDir, "service-"+name+".log")},
					func(st actions.ServiceState) { onChange(name, st) })
				procs = append(procs, p)
				d = p
			case "systemd":
				if err := actions.ValidUnit(s.Unit); err != nil {
					return nil, procs, fmt.Errorf("%s: services: %s: %w", cfg.Path(), s.Name, err)
				}
				d = actions.NewSystemdDriver(s.Unit)
			case "windows":
				w, err := actions.NewWindowsDriver(s.WindowsName)
				if err != nil {
					return nil, procs, fmt.Errorf("%s: services: %s: %w", cfg.Path(), s.Name, err)
				}
				d = w
			}
			list = append(list, actions.Service{Name: s.Name, Driver: d})
		}
		for k, v := range actions.NewServices(list).Executors() {
			execs[k] = v
		}
	}
	if len(cfg.Settings) > 0 {
		roots := make([]actions.SettingsRoot, len(cfg.Settings))
		for i, d := range cfg.Settings {
			roots[i] = actions.SettingsRoot{Name: d.Name, Dir: d.Dir}
		}
		execs[actions.SettingsGet] = actions.NewSettingsGet(roots)
		execs[actions.SettingsSet] = actions.NewSettingsSet(roots, filepath.Join(cfg.StateDir, "backups"), time.Now)
	}
	if len(cfg.Queues) > 0 {
		qs := make([]actions.Queue, len(cfg.Queues))
		for i, d := range cfg.Queues {
			qs[i] = actions.Queue{Name: d.Name, Dir: d.Dir}
		}
		execs[actions.TaskfileDrop] = actions.NewTaskfileDrop(qs)
	}
	if len(cfg.Commands) > 0 {
		cs := make([]actions.Command, len(cfg.Commands))
		for i, c := range cfg.Commands {
			cs[i] = actions.Command{Name: c.Name, Argv: c.Argv, Dir: c.Dir, Timeout: c.Timeout, Unless: c.Unless, Mutating: true}
		}
		execs[actions.CommandRun] = actions.NewCommandRun(cs)
	}
	return execs, procs, nil
}

// startServices starts the process-driven services marked autostart.
func (a *Agent) startServices(ctx context.Context) {
	for _, s := range a.cfg.Services {
		if s.Driver != "process" || !s.Autostart {
			continue
		}
		if _, err := a.api.executors[actions.ServiceStart].Do(ctx, map[string]string{"service": s.Name}, false); err != nil {
			a.log.Error("autostart failed", "service", s.Name, "err", err)
		}
	}
}

// serviceChanged puts a service's state into the status, so consoles see a
// crashed vendor service at once.
func (a *Agent) serviceChanged(name string, st actions.ServiceState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.status.Services[name] == string(st) {
		return
	}
	services := make(map[string]string, len(a.status.Services)+1)
	for k, v := range a.status.Services {
		services[k] = v
	}
	services[name] = string(st)
	a.status.Services = services
	if st == actions.ServiceRunning {
		if a.started == nil {
			a.started = map[string]time.Time{}
		}
		// A little before now: a file written in the same clock tick as
		// the start still counts as written since.
		a.started[name] = time.Now().Add(-10 * time.Millisecond)
	}
	a.log.Info("service state", "service", name, "state", st)
	a.bumpLocked()
}
