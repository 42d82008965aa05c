package procedure

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/store"
)

// fakeFleet is a system in memory. It answers a request id it has seen
// with the result it recorded, as agents do, and counts what it applied.
type fakeFleet struct {
	mu      sync.Mutex
	servers []Server
	// effect applies a real (not dry run) request to the fleet.
	effect  func(f *fakeFleet, s *Server, req actions.Request) actions.Outcome
	results map[string]actions.Result
	applied []string // "server action params" of every request applied
	dryRuns []string
	seen    map[string]int // how often each request id was asked
	// lose, when it returns true, makes Act apply a request and then lose
	// the answer, as a runner killed while the request was in flight.
	lose func(req actions.Request) bool
	// reads counts Servers calls.
	reads int
}

func (f *fakeFleet) Servers(ctx context.Context, system string) ([]Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	out := make([]Server, len(f.servers))
	for i, s := range f.servers {
		s.Facts, s.Services = clone(s.Facts), clone(s.Services)
		out[i] = s
	}
	return out, nil
}

func clone(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

var errLost = errors.New("the answer was lost")

func (f *fakeFleet) Act(ctx context.Context, s Server, req actions.Request) (actions.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen[req.RequestID]++
	if res, ok := f.results[req.RequestID]; ok {
		return res, nil
	}
	srv := f.server(s.ID)
	line := fmt.Sprintf("%s %s %v", srv.Name, req.Action, req.Params)
	res := actions.Result{RequestID: req.RequestID, State: actions.StateDone, Action: req.Action, DryRun: req.DryRun}
	if req.DryRun {
		f.dryRuns = append(f.dryRuns, line)
		res.Outcome = &actions.Outcome{Changed: true, Diff: "would: " + line}
	} else {
		f.applied = append(f.applied, line)
		out := actions.Outcome{Changed: true, Diff: "did: " + line}
		if f.effect != nil {
			out = f.effect(f, srv, req)
		}
		res.Outcome = &out
	}
	f.results[req.RequestID] = res
	if f.lose != nil && f.lose(req) {
		return actions.Result{}, errLost
	}
	return res, nil
}

func (f *fakeFleet) server(id string) *Server {
	for i := range f.servers {
		if f.servers[i].ID == id || f.servers[i].Name == id {
			return &f.servers[i]
		}
	}
	panic("no server " + id)
}

// set changes a server under the lock.
func (f *fakeFleet) set(name string, change func(s *Server)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f.server(name))
}

func (f *fakeFleet) count(substr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, a := range f.applied {
		if strings.Contains(a, substr) {
			n++
		}
	}
	return n
}

var k2Declared = &actions.Declared{Services: []string{"k2-media-server"}, Settings: []string{"k2-config", "k2-status", "k2-san-devices"},
	Commands: []string{"restart-iscsi-bridge", "power-off-iscsi-bridge", "restart-ethernet-switch", "power-off-ethernet-switch",
		"restart-fc-switch", "power-off-fc-switch"}, CanAct: true}

// newK2 is a K2 SAN in memory, behaving as the document says: Stop on the
// primary makes the backup take over; Start brings a server back as a
// qualified backup.
func newK2() *fakeFleet {
	mk := func(id, name string, role model.Role, vendor string) Server {
		return Server{ID: id, Name: name, System: "k2-san", Profile: "k2san", Role: role, VendorRole: vendor, Health: model.HealthUp,
			Paired: true, Declared: k2Declared, Services: map[string]string{"k2-media-server": "running"},
			Facts: map[string]string{"qualified": "true", "failover": "none", "peer_heartbeat": "ok", "redundancy": "protected",
				"media_database": "synchronised", "iscsi_bridge": "online", "ethernet_switch": "online", "fc_switch": "online",
				"role_since": "2026-01-01T10:00:00Z", "side_devices_started": "2026-01-01T09:00:00Z"}}
	}
	f := &fakeFleet{results: map[string]actions.Result{}, seen: map[string]int{},
		servers: []Server{mk("ag-1", "K2server1", model.RolePrimary, "primary K2 Media Server"),
			mk("ag-2", "K2server2", model.RoleStandby, "backup K2 Media Server")}}
	f.effect = func(f *fakeFleet, s *Server, req actions.Request) actions.Outcome {
		other := &f.servers[0]
		if other.ID == s.ID {
			other = &f.servers[1]
		}
		switch req.Action + " " + req.Params["service"] + req.Params["command"] {
		case "service.stop k2-media-server":
			was := s.Role
			s.Services["k2-media-server"] = "stopped"
			s.Role, s.VendorRole = model.RoleOutOfService, "out of service"
			s.Facts["qualified"], s.Facts["peer_heartbeat"] = "false", "missing"
			if was == model.RolePrimary && other.Facts["qualified"] == "true" {
				other.Role, other.VendorRole = model.RolePrimary, "primary K2 Media Server"
				other.Facts["failover"], other.Facts["role_since"] = "complete", "2026-01-01T11:00:00Z"
				other.Facts["redundancy"], other.Facts["peer_heartbeat"] = "degraded", "missing"
			}
			return actions.Outcome{Changed: true, Diff: "service k2-media-server: running -> stopped"}
		case "service.start k2-media-server":
			s.Services["k2-media-server"] = "running"
			s.Role, s.VendorRole = model.RoleStandby, "backup K2 Media Server"
			s.Facts["qualified"], s.Facts["failover"], s.Facts["peer_heartbeat"] = "true", "none", "ok"
			other.Facts["redundancy"], other.Facts["peer_heartbeat"] = "protected", "ok"
			return actions.Outcome{Changed: true, Diff: "service k2-media-server: stopped -> running"}
		case "command.run restart-iscsi-bridge", "command.run restart-fc-switch", "command.run restart-ethernet-switch":
			s.Facts["side_devices_started"] = "2026-01-01T12:00:00Z"
			zero := 0
			return actions.Outcome{Changed: true, ExitCode: &zero, Output: "online"}
		}
		return actions.Outcome{Changed: true}
	}
	return f
}

// fakeClock makes waiting instant: After moves the clock on.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	t := c.now
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- t
	return ch
}

// answers is a Prompter with set answers; it records the questions.
type answers struct {
	mu        sync.Mutex
	confirm   func(q Question) (Answer, error)
	choose    func(q Question) (Answer, error)
	signOff   func(q Question) (Answer, error)
	questions []string
}

func (a *answers) note(kind string, q Question) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.questions = append(a.questions, kind+": "+q.Text)
}

func (a *answers) Confirm(ctx context.Context, q Question) (Answer, error) {
	a.note("confirm", q)
	if a.confirm != nil {
		return a.confirm(q)
	}
	return Answer{OK: true, By: "alice", Note: "done by hand"}, nil
}

func (a *answers) Choose(ctx context.Context, q Question) (Answer, error) {
	a.note("choose", q)
	if a.choose != nil {
		return a.choose(q)
	}
	return Answer{OK: true, Value: q.Default, By: "alice"}, nil
}

func (a *answers) SignOff(ctx context.Context, q Question) (Answer, error) {
	a.note("sign-off", q)
	if a.signOff != nil {
		return a.signOff(q)
	}
	return Answer{OK: true, By: q.Supervisor}, nil
}

// rig is an engine over a fake fleet and a real store in a temporary
// directory.
type rig struct {
	t     *testing.T
	fleet *fakeFleet
	store *store.Store
	eng   *Engine
	ask   *answers
	mu    sync.Mutex
	log   []Update
}

func newRig(t *testing.T, f *fakeFleet) *rig {
	t.Helper()
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &rig{t: t, fleet: f, store: db, ask: &answers{}}
	r.eng = r.engine()
	return r
}

// engine is a fresh engine on the rig's fleet and store, as a new process
// would make.
func (r *rig) engine() *Engine {
	return &Engine{Fleet: r.fleet, Store: r.store, Prompt: r.ask, Owner: "test:1",
		Clock: &fakeClock{now: time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)},
		Observe: func(u Update) {
			r.mu.Lock()
			r.log = append(r.log, u)
			r.mu.Unlock()
		}}
}

// builtin loads one of the procedures in assets/procedures.
func builtin(t testing.TB, id string) *Procedure {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "assets", "procedures", id+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse("assets/procedures/"+id+".yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func k2Options() Options {
	return Options{System: "k2-san", Operator: "alice", AssumeYes: true}
}
