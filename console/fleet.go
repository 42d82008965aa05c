package console

import (
	"context"
	"sync"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/procedure"
	"github.com/vigilops/vigil/store"
)

// Live is what a running monitor offers the fleet: every server as the
// console sees it, each paired agent's last full status from its watch
// stream, and a wake-up when one of a system's servers changes.
type Live interface {
	Snapshot() []model.ServerView
	Status(id string) (actions.Status, bool)
	Changes(system string) (<-chan struct{}, func())
}

// Fleet is the procedure engine's fleet, for the window's wizard and the
// command line alike. With a monitor (Live) it reads what the monitor
// holds, which its watch streams keep current, and a wait step wakes as
// soon as the monitor hears of a change: the wizard, the board and the
// panes read one truth. Without one (`vigil procedure run` in a terminal)
// it asks each paired agent for its status once per reading. Either way,
// requests go through the Sender.
type Fleet struct {
	Store  *store.Store
	Sender *Sender
	Live   Live // nil: ask the agents

	mu      sync.Mutex
	clients map[string]*actions.Client // by agent id, address and key: for one-shot reads
}

var (
	_ procedure.Fleet   = (*Fleet)(nil)
	_ procedure.Watcher = (*Fleet)(nil)
)

// NewFleet returns a fleet over the store that acts through s; live, when
// not nil, is the running monitor it reads.
func NewFleet(db *store.Store, s *Sender, live Live) *Fleet {
	return &Fleet{Store: db, Sender: s, Live: live, clients: map[string]*actions.Client{}}
}

// StatusTimeout bounds one reading of an agent's status when the fleet
// asks agents itself.
const StatusTimeout = 3 * time.Second

// Servers is part of procedure.Fleet: every server of system the console
// knows, with its live status where the console has it.
func (f *Fleet) Servers(ctx context.Context, system string) ([]procedure.Server, error) {
	if f.Live != nil {
		return f.fromMonitor(system), nil
	}
	return f.fromAgents(ctx, system)
}

// Changes is part of procedure.Watcher. A fleet without a monitor never
// wakes: its readers poll.
func (f *Fleet) Changes(system string) (<-chan struct{}, func()) {
	if f.Live == nil {
		return nil, func() {}
	}
	return f.Live.Changes(system)
}

// server is what the console knows of v before its live status: its
// place, and its last role as a vendor's word to show, never to count.
func server(v model.ServerView) procedure.Server {
	return procedure.Server{ID: v.ID, Name: v.Name, Site: v.Site, System: v.System, Profile: v.Profile,
		Role: model.RoleUnknown, VendorRole: lastKnown(v), Health: model.HealthUnknown, Paired: v.Paired,
		IdentityChanged: v.IdentityChanged, Detail: "not asked"}
}

func lastKnown(v model.ServerView) string {
	if v.Role == "" || v.Role == model.RoleUnknown {
		return ""
	}
	return "last known as " + string(v.Role)
}

// withStatus fills s from its agent's status: its role, services and
// facts, and up, since it answered.
func withStatus(s *procedure.Server, st actions.Status) {
	role, _ := model.ParseRole(st.Role)
	s.Role, s.VendorRole, s.RoleError = role, st.VendorRole, st.RoleError
	s.Health, s.Detail = model.HealthUp, ""
	s.Services, s.Facts, s.FactErrors, s.Declared = st.Services, st.Facts, st.FactErrors, st.Declared
	s.Epoch = st.Epoch
}

// fromMonitor reads the system's servers as the monitor holds them. A
// server the monitor hears (up, or degraded by a fact over its limit) is
// up to the engine, with its agent's last status; any other keeps the
// monitor's health and the reason in words.
func (f *Fleet) fromMonitor(system string) []procedure.Server {
	var out []procedure.Server
	for _, v := range f.Live.Snapshot() {
		if v.System != system {
			continue
		}
		s := server(v)
		if st, ok := f.Live.Status(v.ID); ok && v.Live() && v.Paired && !v.IdentityChanged {
			withStatus(&s, st)
		} else if v.Paired && !v.IdentityChanged {
			s.Health, s.Detail = v.Health, v.Detail
			if s.Detail == "" {
				s.Detail = "not heard from yet"
			}
		}
		out = append(out, s)
	}
	return out
}

// fromAgents asks each paired agent of the system for its status, all at
// once.
func (f *Fleet) fromAgents(ctx context.Context, system string) ([]procedure.Server, error) {
	views, err := f.Store.Servers(ctx)
	if err != nil {
		return nil, err
	}
	var out []procedure.Server
	var of []model.ServerView
	for _, v := range views {
		if v.System == system {
			out = append(out, server(v))
			of = append(of, v)
		}
	}
	var wg sync.WaitGroup
	for i := range out {
		s, v := &out[i], of[i]
		if !v.Paired || v.IdentityChanged || v.Address == "" {
			continue
		}
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, StatusTimeout)
			defer cancel()
			st, err := f.client(v).Status(sctx)
			if err != nil {
				s.Health, s.Detail = model.HealthDown, actions.Explain(err)
				return
			}
			if actions.MatchFingerprint(v.Fingerprint, st.Fingerprint) != nil {
				s.Health, s.Detail, s.IdentityChanged = model.HealthUnknown, "it presents another key than the pinned one", true
				return
			}
			withStatus(s, st)
		})
	}
	wg.Wait()
	return out, nil
}

func (f *Fleet) client(v model.ServerView) *actions.Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := v.ID + "@" + v.Address + "#" + v.Fingerprint
	c := f.clients[key]
	if c == nil {
		c = actions.NewClient(v.Address, v.Fingerprint, f.Sender.Cert)
		f.clients[key] = c
	}
	return c
}

// Close closes the connections of one-shot reads.
func (f *Fleet) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, c := range f.clients {
		c.Close()
		delete(f.clients, k)
	}
}

// Act is part of procedure.Fleet: the request is refused for a server
// that is not ours (model.ServerView.Refusal), recorded in the console's action log and sent, as
// `vigil action` sends it.
func (f *Fleet) Act(ctx context.Context, s procedure.Server, req actions.Request) (actions.Result, error) {
	v, err := f.Store.Server(ctx, s.ID)
	if err != nil {
		return actions.Result{}, err
	}
	resend, err := f.Store.ActionRecorded(ctx, req.RequestID)
	if err != nil {
		return actions.Result{}, err
	}
	return f.Sender.Send(ctx, v, req, resend)
}
