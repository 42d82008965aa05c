package agent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/discovery"
	"github.com/vigilops/vigil/model"
)

// Timing of the agent. Heartbeat must stay under 250 ms (DESIGN.md) so a
// console can tell a frozen host within a second.
const (
	DefaultHeartbeat = 200 * time.Millisecond
	DefaultRolePoll  = 100 * time.Millisecond
	writeTimeout     = 2 * time.Second
	maxRoleFile      = 4 << 10
)

// Agent is one running host agent.
type Agent struct {
	cfg      *Config
	identity *Identity
	log      *slog.Logger

	// Heartbeat and RolePoll may be changed before Run.
	Heartbeat time.Duration
	RolePoll  time.Duration
	// PeerInterval and PeerTimeout pace the checks of the config's peers.
	PeerInterval, PeerTimeout time.Duration

	oplog   *OpLog
	api     *actionAPI
	probe   roleProbe
	facts   []fact
	pairing *Pairing
	procs   []*actions.ProcessDriver

	mu      sync.Mutex
	status  actions.Status
	changed chan struct{}        // closed and replaced on every change of status
	lastErr string               // last role-file problem logged, so it is logged once
	started map[string]time.Time // when each process service last began running
}

// serviceState is a process service's state and when it last started.
func (a *Agent) serviceState(name string) (actions.ServiceState, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := actions.ServiceState(a.status.Services[name])
	if st == "" {
		st = actions.ServiceUnknown
	}
	return st, a.started[name]
}

// New prepares an agent from its configuration, creating its identity on
// first start.
func New(cfg *Config, log *slog.Logger) (*Agent, error) {
	id, err := LoadIdentity(cfg.StateDir, cfg.Name)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	a := &Agent{
		cfg: cfg, identity: id, log: log.With("server", cfg.Name),
		Heartbeat: DefaultHeartbeat, RolePoll: DefaultRolePoll,
		PeerInterval: DefaultPeerInterval, PeerTimeout: DefaultPeerTimeout,
		changed: make(chan struct{}),
		status: actions.Status{
			AgentID: id.ID, Name: cfg.Name, System: cfg.System, Profile: cfg.Profile, Site: cfg.Site,
			Role: string(model.RoleUnknown), Fingerprint: id.Fingerprint, Version: actions.Version,
			Started: now, Seq: 1,
		},
	}
	oplog, indeterminate, err := OpenOpLog(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if indeterminate > 0 {
		a.log.Warn("actions were running when the agent last stopped; they are reported as indeterminate and will not be re-run",
			"count", indeterminate)
	}
	a.oplog = oplog
	if a.probe, err = newProbe(cfg, a.serviceState); err != nil {
		oplog.Close()
		return nil, err
	}
	execs, procs, err := buildExecutors(cfg, a.serviceChanged)
	a.procs = procs
	if err != nil {
		a.Close()
		return nil, err
	}
	a.pairing = NewPairing(cfg.StateDir, nil)
	a.pairing.Log = a.log
	a.api = &actionAPI{log: oplog, executors: execs, now: time.Now, console: ClientFingerprint, audited: a.audited, epoch: a.epochSeen}
	if a.status.AuditSeq, err = oplog.LastAuditID(context.Background()); err != nil {
		a.Close()
		return nil, err
	}
	if a.status.Epoch, err = oplog.HighestEpoch(); err != nil {
		a.Close()
		return nil, err
	}
	for _, f := range cfg.Facts {
		v, err := newValueProbe(f.Probe, cfg.Settings)
		if err != nil {
			a.Close()
			return nil, err
		}
		if f.Probe.Service != "" {
			v = &gatedProbe{v: v, service: f.Probe.Service, states: a.serviceState}
		}
		a.facts = append(a.facts, fact{name: f.Name, probe: v})
	}
	a.status.Declared = declared(cfg)
	// Every process service is in the status from the start, stopped until
	// the agent starts it, so one that is not started at once is not missing.
	for _, sc := range cfg.Services {
		if sc.Driver == "process" {
			if a.status.Services == nil {
				a.status.Services = map[string]string{}
			}
			a.status.Services[sc.Name] = string(actions.ServiceStopped)
		}
	}
	a.refreshRole()
	return a, nil
}

// SetExecutor makes the agent carry out action with exec. It must be called
// before Run.
func (a *Agent) SetExecutor(action string, exec actions.Executor) { a.api.executors[action] = exec }

// Close stops the services the agent supervises and releases what New
// opened. Call it after Run has returned.
func (a *Agent) Close() error {
	for _, p := range a.procs {
		p.Close()
	}
	return a.oplog.Close()
}

// Identity is the agent's id and key.
func (a *Agent) Identity() *Identity { return a.identity }

// Status returns the current status.
func (a *Agent) Status() actions.Status {
	st, _ := a.snapshot()
	return st
}

func (a *Agent) snapshot() (actions.Status, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.status
	st.Time = time.Now().UTC()
	return st, a.changed
}

// Run serves the agent API until ctx is done.
func (a *Agent) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (listen in %s): %w", a.cfg.Listen, a.cfg.Path(), err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	if err := actions.WriteFileAtomic(filepath.Join(a.cfg.StateDir, AddressFile), []byte(addr.String()+"\n"), 0o644); err != nil {
		ln.Close()
		return fmt.Errorf("record bound address: %w", err)
	}

	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return serveCtx },
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	tlsLn := tls.NewListener(ln, a.pairing.TLSConfig(a.identity.Cert))

	var wg sync.WaitGroup
	defer wg.Wait()
	serveErr := make(chan error, 1)
	wg.Add(2)
	go func() {
		defer wg.Done()
		serveErr <- srv.Serve(tlsLn)
	}()
	go func() {
		defer wg.Done()
		a.watchRoleFile(serveCtx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.checkPeers(serveCtx)
	}()
	if a.cfg.Advertise {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.advertise(serveCtx, addr)
		}()
	}
	a.startServices(serveCtx)
	a.log.Info("agent serving", "address", addr.String(), "agent_id", a.identity.ID,
		"fingerprint", a.identity.Fingerprint, "version", actions.Version)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		stopServing()
		return fmt.Errorf("agent API on %s: %w", addr, err)
	}
	stopServing() // ends watch streams, which would otherwise hold Shutdown
	shutCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
	}
	return nil
}

// Pairing is the agent's pairing state: codes, lock and pinned consoles.
func (a *Agent) Pairing() *Pairing { return a.pairing }

// Handler is the agent API. Every endpoint but pairing needs a console the
// agent has pinned; acting needs the act permission.
func (a *Agent) Handler() http.Handler {
	read := func(h http.HandlerFunc) http.Handler { return a.pairing.Require(PermRead, h) }
	mux := http.NewServeMux()
	mux.Handle("POST /v1/pair", a.pairing.Handler(a.identity.Fingerprint, a.cfg.Permissions))
	mux.Handle("GET /v1/status", read(a.handleStatus))
	mux.Handle("GET /v1/watch", read(a.handleWatch))
	mux.Handle("POST /v1/actions", a.pairing.Require(PermAct, http.HandlerFunc(a.api.handlePost)))
	mux.Handle("GET /v1/actions/{request_id}", read(a.api.handleGet))
	mux.Handle("GET /v1/audit", read(a.api.handleAudit))
	return mux
}

func (a *Agent) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, _ := a.snapshot()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st)
}

// handleWatch streams NDJSON: the status at once, the status again on every
// change, and a heartbeat in between so that silence means trouble.
func (a *Agent) handleWatch(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	send := func(l actions.WatchLine) bool {
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := enc.Encode(l); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	st, changed := a.snapshot()
	if !send(actions.WatchLine{Type: actions.LineStatus, Time: st.Time, Seq: st.Seq, Status: &st}) {
		return
	}
	tick := time.NewTicker(a.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-changed:
			st, changed = a.snapshot()
			if !send(actions.WatchLine{Type: actions.LineStatus, Time: st.Time, Seq: st.Seq, Status: &st}) {
				return
			}
		case now := <-tick.C:
			a.mu.Lock()
			seq := a.status.Seq
			a.mu.Unlock()
			if !send(actions.WatchLine{Type: actions.LineHeartbeat, Time: now.UTC(), Seq: seq}) {
				return
			}
		}
	}
}

// watchRoleFile re-reads the role file whenever it may have changed. Polling
// is used rather than inotify because role files may sit on network shares
// and on Windows, and a read every 100 ms costs nothing.
func (a *Agent) watchRoleFile(ctx context.Context) {
	t := time.NewTicker(a.RolePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.refreshRole()
		}
	}
}

func (a *Agent) refreshRole() {
	role, roleErr := a.readRole()
	facts, factErrs := a.readFacts()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !maps.Equal(facts, a.status.Facts) || !maps.Equal(factErrs, a.status.FactErrors) {
		for name, e := range factErrs {
			if a.status.FactErrors[name] != e {
				a.log.Warn("fact unreadable", "fact", name, "err", e)
			}
		}
		a.status.Facts, a.status.FactErrors = facts, factErrs
		a.bumpLocked()
	}
	errText := ""
	if roleErr != nil {
		errText = roleErr.Error()
	}
	if errText != a.lastErr {
		if roleErr != nil {
			a.log.Warn("role not read from its source", "role", role, "err", roleErr)
		} else if a.lastErr != "" {
			a.log.Info("role source readable again", "role", role)
		}
		a.lastErr = errText
	}
	vendor := a.cfg.VendorRoles[role]
	if string(role) == a.status.Role && vendor == a.status.VendorRole && errText == a.status.RoleError {
		return
	}
	a.log.Info("role changed", "from", a.status.Role, "to", role)
	a.status.Role, a.status.VendorRole, a.status.RoleError = string(role), vendor, errText
	a.bumpLocked()
}

// bumpLocked publishes a change of the status to every watch stream.
// a.mu must be held.
func (a *Agent) bumpLocked() {
	a.status.Seq++
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *Agent) readRole() (model.Role, error) {
	if a.probe == nil {
		return model.RoleUnknown, errors.New("no role source configured (role_file or role_probe)")
	}
	return a.probe.read(context.Background())
}

// advertise announces the agent by mDNS and re-announces on role changes.
// A failure is logged and retried: consoles can still reach the agent by
// address, so mDNS trouble must not stop the agent.
func (a *Agent) advertise(ctx context.Context, addr *net.TCPAddr) {
	var ips []string
	if !addr.IP.IsUnspecified() {
		ips = []string{addr.IP.String()}
	}
	st, changed := a.snapshot()
	advert := func(st actions.Status) discovery.Advert {
		role, _ := model.ParseRole(st.Role)
		return discovery.Advert{ID: st.AgentID, System: st.System, Profile: st.Profile, Role: role,
			Fingerprint: st.Fingerprint[:actions.ShortFingerprintLen]}
	}
	var ad *discovery.Advertisement
	retry := time.NewTimer(0)
	defer retry.Stop()
	defer func() {
		if ad != nil {
			ad.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
			var err error
			ad, err = discovery.Advertise(a.cfg.Name, addr.Port, ips, advert(st))
			if err != nil {
				a.log.Warn("mDNS advertisement failed; retrying in 10s", "err", err)
				retry.Reset(10 * time.Second)
			}
		case <-changed:
			st, changed = a.snapshot()
			if ad != nil {
				ad.Update(advert(st))
			}
		}
	}
}

// BoundAddress reads the address a running agent recorded in its state directory.
func BoundAddress(stateDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, AddressFile))
	if err != nil {
		return "", err
	}
	s := string(b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	if _, p, err := net.SplitHostPort(s); err != nil {
		return "", fmt.Errorf("%s: %q is not an address", AddressFile, s)
	} else if _, err := strconv.Atoi(p); err != nil {
		return "", fmt.Errorf("%s: %q has no port", AddressFile, s)
	}
	return s, nil
}

// audited publishes the id of the newest audit entry in the status.
func (a *Agent) audited(id uint64) { a.raise(&a.status.AuditSeq, id) }

// epochSeen publishes the highest epoch accepted in the status.
func (a *Agent) epochSeen(e uint64) { a.raise(&a.status.Epoch, e) }

// raise sets a counter of the status to v when v is higher, and tells the
// watchers.
func (a *Agent) raise(field *uint64, v uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if v > *field {
		*field = v
		a.bumpLocked()
	}
}

// fact is a declared fact and the probe that reads it.
type fact struct {
	name  string
	probe valueProbe
}

// readFacts reads every declared fact. Both maps are nil when none is
// declared, so an agent without facts publishes none.
func (a *Agent) readFacts() (values, errs map[string]string) {
	for _, f := range a.facts {
		v, err := f.probe.value(context.Background())
		if err != nil {
			if errs == nil {
				errs = map[string]string{}
			}
			errs[f.name] = err.Error()
			continue
		}
		if c, ok := f.probe.(*commandProbe); ok && v == "" {
			v = strconv.Itoa(c.code) // a check command says it by its exit status
		}
		if values == nil {
			values = map[string]string{}
		}
		values[f.name] = v
	}
	return values, errs
}

// declared lists what the config lets consoles act on.
func declared(cfg *Config) *actions.Declared {
	d := &actions.Declared{CanAct: slices.Contains(cfg.Permissions, PermAct)}
	for _, s := range cfg.Services {
		d.Services = append(d.Services, s.Name)
	}
	for _, s := range cfg.Settings {
		d.Settings = append(d.Settings, s.Name)
	}
	for _, q := range cfg.Queues {
		d.Queues = append(d.Queues, q.Name)
	}
	for _, c := range cfg.Commands {
		d.Commands = append(d.Commands, c.Name)
	}
	return d
}
