package monitor

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/discovery"
	"github.com/vigilops/vigil/model"
)

// Store is what the monitor needs of the topology store.
type Store interface {
	Observe(ctx context.Context, o model.Observation) (model.ServerView, bool, error)
	Servers(ctx context.Context) ([]model.ServerView, error)
	SetPaired(ctx context.Context, agentID, fingerprint string) (model.ServerView, error)
	SetIdentityChanged(ctx context.Context, agentID string) (model.ServerView, error)
	AuditCursor(ctx context.Context, agentID string) (uint64, error)
	AddEvent(ctx context.Context, e model.Event) (model.Event, error)
	MirrorAudit(ctx context.Context, agentID, server string, entries []model.AuditEntry) error
	MarkSeen(ctx context.Context, seen map[string]model.Seen) error
}

// Defaults; see the fields of Monitor.
const (
	DefaultSilence    = time.Second
	DefaultMaxSilence = 5 * time.Second
	DefaultConnect    = 5 * time.Second
	// DefaultExpiry is several rounds of mDNS discovery (15 s each): a
	// stranger's agent that left the LAN leaves the board after it, not
	// at the first lost announcement.
	DefaultExpiry    = 2 * time.Minute
	maxBackoff       = 5 * time.Second
	minBackoff       = 100 * time.Millisecond
	seenInterval     = time.Second // how often sightings written behind reach the store
	subscriberBuffer = 1024
)

// Monitor follows every known agent. Create it with New, then call Run.
type Monitor struct {
	store Store
	cert  tls.Certificate // the console's, which paired agents pinned
	log   *slog.Logger

	// Silence is how long a stream may stay quiet before the server is
	// reported unreachable, until the stream has shown its rhythm (see
	// rhythm.go); after ten times as long the stream is dropped and
	// dialled again. Set before Run.
	Silence time.Duration
	// MinSilence and MaxSilence bound the allowance a learned rhythm and
	// the console's own lag give a stream: on the worst link a lost server
	// is suspected within MaxSilence, and never before MinSilence (zero:
	// the rhythm alone decides). Set before Run.
	MinSilence, MaxSilence time.Duration
	// Connect is how long a new stream may take to deliver its first line
	// (dial, TLS handshake, the agent's first status) before the server is
	// reported unreachable; Silence when that is longer. A console starting
	// among a thousand agents makes a thousand handshakes at once, and one
	// that takes longer than a heartbeat's allowance is slow, not lost.
	// Set before Run.
	Connect time.Duration
	// Detect tunes what becomes an event. Set before Run.
	Detect DetectorConfig
	// Expiry is how long a server known only from mDNS (not paired) stays
	// in the views after it was last announced; DefaultExpiry when zero.
	// Set before Run.
	Expiry time.Duration
	// Record stores an event and returns it with its id; the default is
	// the store's AddEvent. The console sets it to the alert outbox's, which
	// stores the event and its alert together. Set before Run.
	Record func(ctx context.Context, e model.Event) (model.Event, error)

	mu      sync.Mutex
	servers map[string]*tracked
	views   fanout[model.ServerView]

	ctx     context.Context // Run's; nil until Run starts
	wg      sync.WaitGroup
	pending chan discovery.Sighting
	started chan struct{}
	// Sightings not yet in the store, by server: when each was last heard
	// from and the vendor's word for its role then. seen is filled by the
	// watchers; seenWriting is what writeSeen is storing now. Guarded by mu.
	seen, seenWriting map[string]model.Seen

	det      *Detector     // guarded by mu
	evQueue  []model.Event // events not yet stored, oldest first; guarded by mu
	evWake   chan struct{} // a token when evQueue has grown
	events   fanout[model.Event]
	verdicts fanout[model.SystemVerdict]
	changed  changes
	lag      lagMeter
	writes   writer // guarded by mu
}

// note is what the monitor says of a server beside what the store keeps:
// why its health is what it is, in words and as the error behind them, and
// the peers that still see it when the console cannot.
type note struct {
	detail, err      string
	seenBy, awaiting []string
}

type tracked struct {
	view   model.ServerView
	status *actions.Status // the agent's last full status, for detail views
	// auditing is true while the agent's audit log is being mirrored;
	// auditAgain asks for one more round when it ends.
	auditing, auditAgain bool
	audited              uint64    // the newest entry known to be mirrored
	lostAt               time.Time // when the console stopped hearing it; zero while it hears it
	// live is the health and detail its last full status earned it (up,
	// or degraded with the limits it exceeds): what a heartbeat confirms.
	live     note
	liveOver bool // live says degraded
	watching bool
	kick     chan struct{} // wakes the watcher's backoff when the address changes
	// allowed is the silence its stream is allowed now, in nanoseconds,
	// and settled whether the stream's rhythm alone sets it: written by
	// the watcher at every line, read by Allowance.
	allowed atomic.Int64
	settled atomic.Bool
	// verifying: a new address from mDNS is being checked; unproven is the
	// last address that failed the check, and when.
	verifying  bool
	unproven   string
	unprovenAt time.Time
	conflictAt time.Time // when another host last claimed its id
	// skew is how far ahead of the console's clock the agent's stamps its
	// status (its clock's offset, plus the line's way here).
	skew time.Duration
}

// New returns a monitor over db that presents cert to agents.
func New(db Store, cert tls.Certificate, log *slog.Logger) *Monitor {
	return &Monitor{
		store: db, cert: cert, log: log, Silence: DefaultSilence, MaxSilence: DefaultMaxSilence, Connect: DefaultConnect,
		servers: map[string]*tracked{},
		views:   fanout[model.ServerView]{missed: "some updates of servers"},
		pending: make(chan discovery.Sighting, 256),
		writes:  writer{wake: make(chan struct{}, 1)},
		started: make(chan struct{}),
		seen:    map[string]model.Seen{},
		evWake:  make(chan struct{}, 1),

		events:   fanout[model.Event]{missed: "events (they are in the store)"},
		verdicts: fanout[model.SystemVerdict]{missed: "some changes of verdict"},
	}
}

// Run loads the stored servers, watches each one it can reach, and takes
// sightings until ctx is done. It returns after every watcher has stopped.
func (m *Monitor) Run(ctx context.Context) error {
	known, err := m.store.Servers(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.ctx = ctx
	m.det = NewDetector(m.Detect)
	for _, v := range known {
		// What the store remembers is the last known picture; until an agent
		// speaks, its health is not known.
		v.Health, v.Detail = model.HealthUnknown, "not heard from since the console started"
		v.Expired = m.expiredLocked(v, time.Now())
		m.servers[v.ID] = &tracked{view: v, kick: make(chan struct{}, 1)}
		m.det.View(v, time.Now())
		m.startWatchLocked(v.ID)
	}
	m.publishVerdictsLocked()
	m.mu.Unlock()
	close(m.started)

	defer func() {
		m.wg.Wait()
		// Every watcher has stopped: what they saw last is stored now.
		m.writeQueued(context.WithoutCancel(ctx))
		m.writeSeen(context.WithoutCancel(ctx))
	}()
	m.wg.Add(4)
	go func() { defer m.wg.Done(); m.lag.run(ctx) }()
	go func() { defer m.wg.Done(); m.storeEvents(ctx) }()
	go func() { defer m.wg.Done(); m.storeWrites(ctx) }()
	go func() { defer m.wg.Done(); m.tick(ctx) }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case s := <-m.pending:
			m.sighted(ctx, s)
		}
	}
}

// Sighted hands the monitor an mDNS sighting. It may be called from any
// goroutine; it blocks only if the monitor is far behind.
func (m *Monitor) Sighted(s discovery.Sighting) {
	select {
	case m.pending <- s:
	case <-m.started:
		m.mu.Lock()
		ctx := m.ctx
		m.mu.Unlock()
		select {
		case m.pending <- s:
		case <-ctx.Done():
		}
	}
}

func (m *Monitor) sighted(ctx context.Context, s discovery.Sighting) {
	obs := model.Observation{
		AgentID: s.Advert.ID, Name: s.Instance, System: s.Advert.System, Profile: s.Advert.Profile,
		Address: s.Address(), Time: s.Time,
	}
	m.mu.Lock()
	t := m.servers[obs.AgentID]
	paired := t != nil && t.view.Paired
	var pinned, known string
	if t != nil {
		pinned, known = t.view.Fingerprint, t.view.Address
	}
	m.mu.Unlock()
	if !paired {
		// Until the console pairs, mDNS is all it knows: the announced key
		// and role, shown as a hint.
		obs.Fingerprint, obs.Role = s.Advert.Fingerprint, s.Advert.Role
		m.apply(ctx, obs, note{})
		return
	}
	// A paired server's name, system and role come from its own stream,
	// and its address changes only once its pinned key answers there: an
	// advert is a hint, and anyone can send one.
	switch {
	case s.Advert.Fingerprint != "" && actions.MatchFingerprint(s.Advert.Fingerprint, pinned) != nil:
		m.conflict(obs.AgentID, obs.Address, fmt.Sprintf("%s announces this server's id with key %s…, not the pinned one", orUnknown(obs.Address), s.Advert.Fingerprint))
	case obs.Address != "" && obs.Address != known:
		m.verifyAddress(obs.AgentID, obs.Address)
	default:
		m.apply(ctx, model.Observation{AgentID: obs.AgentID, Time: obs.Time}, note{})
		m.mu.Lock()
		if t := m.servers[obs.AgentID]; t != nil {
			select {
			case t.kick <- struct{}{}:
			default:
			}
			m.startWatchLocked(obs.AgentID)
		}
		m.mu.Unlock()
	}
}

func orUnknown(address string) string {
	if address == "" {
		return "a host without an address"
	}
	return address
}

// Bounds of verifyAddress.
const (
	verifyTimeout = 5 * time.Second
	// verifyAgain is how long an address that did not prove itself is left
	// alone: an impostor keeps advertising, and each advert would
	// otherwise cost a handshake.
	verifyAgain = 30 * time.Second
)

// verifyAddress asks the address an advert gives for a paired server to
// prove the pinned key, in the background. Only then does the server move
// there; an address that answers with another key (or for another id) is a
// conflict, and one that does not answer leaves the server where it is.
// One check runs at a time per server.
func (m *Monitor) verifyAddress(id, address string) {
	m.mu.Lock()
	t := m.servers[id]
	if t == nil || t.verifying || m.ctx == nil || m.ctx.Err() != nil ||
		t.unproven == address && time.Since(t.unprovenAt) < verifyAgain {
		m.mu.Unlock()
		return
	}
	t.verifying = true
	ctx, pin := m.ctx, t.view.Fingerprint
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		vctx, cancel := context.WithTimeout(ctx, verifyTimeout)
		c := actions.NewClient(address, pin, m.cert)
		st, err := c.Status(vctx)
		c.Close()
		cancel()
		proven := err == nil && st.AgentID == id && actions.MatchFingerprint(pin, st.Fingerprint) == nil
		m.mu.Lock()
		t.verifying = false
		if !proven {
			t.unproven, t.unprovenAt = address, time.Now()
		}
		m.mu.Unlock()
		switch {
		case proven:
			m.log.Info("paired server answers with its pinned key at a new address", "server", st.Name, "agent_id", id, "address", address)
			m.apply(ctx, model.Observation{AgentID: id, Address: address, Time: time.Now()}, note{})
			m.mu.Lock()
			select {
			case t.kick <- struct{}{}:
			default:
			}
			m.startWatchLocked(id)
			m.mu.Unlock()
		case errors.Is(err, actions.ErrIdentityChanged):
			m.conflict(id, address, fmt.Sprintf("%s announces this server's id but answers with another key than the pinned one", address))
		case err == nil:
			m.conflict(id, address, fmt.Sprintf("%s announces this server's id but answers as %s", address, st.AgentID))
		default:
			m.log.Info("a paired server's address from mDNS did not answer; the console keeps the known one",
				"agent_id", id, "address", address, "err", err)
		}
	}()
}

// conflict shows, on the paired server's view, that another host claims
// its id; it is cleared once no such claim has come for the expiry.
func (m *Monitor) conflict(id, address, why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.servers[id]
	if t == nil {
		return
	}
	t.conflictAt = time.Now()
	if t.view.Conflict == why {
		return
	}
	m.log.Warn("another host claims a paired server's id; the console keeps watching the paired one",
		"server", t.view.Name, "agent_id", id, "address", address, "why", why)
	v := t.view
	v.Conflict = why
	m.publishLocked(t, v)
}

// identityChanged marks a paired server whose key no longer matches, and
// says so once; the console stops talking to it until it is paired again.
func (m *Monitor) identityChanged(ctx context.Context, id, why string) {
	v, err := m.store.SetIdentityChanged(context.WithoutCancel(ctx), id)
	if err != nil {
		m.log.Error("store", "err", err)
		return
	}
	m.log.Warn("server identity changed; not talking to it until it is paired again",
		"server", v.Name, "agent_id", id, "why", why)
	m.publish(v, note{detail: why})
}

// Add records a server the console has just paired with (pin is the full
// fingerprint pairing pinned) and starts watching it.
func (m *Monitor) Add(ctx context.Context, address, pin string) (model.ServerView, error) {
	c := actions.NewClient(address, pin, m.cert)
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return model.ServerView{}, fmt.Errorf("add server at %s: %w", address, err)
	}
	if err := actions.MatchFingerprint(pin, st.Fingerprint); err != nil {
		return model.ServerView{}, fmt.Errorf("add server at %s: %w", address, err)
	}
	// Pairing is an operator's act: it is stored before it is done, and a
	// store that cannot take it fails it.
	if _, _, err := m.store.Observe(context.WithoutCancel(ctx), statusObservation(st, address)); err != nil {
		return model.ServerView{}, fmt.Errorf("add server at %s: %w", address, err)
	}
	v, err := m.store.SetPaired(context.WithoutCancel(ctx), st.AgentID, pin)
	if err != nil {
		return model.ServerView{}, err
	}
	m.publish(v, note{})
	select {
	case <-m.started:
	case <-ctx.Done():
		return v, ctx.Err()
	}
	m.mu.Lock()
	m.startWatchLocked(st.AgentID)
	m.mu.Unlock()
	return v, nil
}

// startWatchLocked starts the watcher of a server once it has an address
// and a key to check. m.mu must be held.
func (m *Monitor) startWatchLocked(id string) {
	t := m.servers[id]
	if t == nil || t.watching || m.ctx == nil || m.ctx.Err() != nil || t.view.Address == "" ||
		!t.view.Paired || t.view.IdentityChanged {
		// An unpaired agent would refuse the console anyway.
		return
	}
	t.watching = true
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.watch(m.ctx, id, t.kick)
		m.mu.Lock()
		t.watching = false
		m.mu.Unlock()
	}()
}

// watch follows one agent's stream for as long as ctx lasts, dialling again
// with capped, jittered backoff whenever the stream breaks.
func (m *Monitor) watch(ctx context.Context, id string, kick <-chan struct{}) {
	backoff := minBackoff
	for ctx.Err() == nil {
		m.mu.Lock()
		v := m.servers[id].view
		m.mu.Unlock()
		heard, err := m.follow(ctx, v)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, actions.ErrIdentityChanged) {
			m.identityChanged(ctx, id, err.Error())
			return
		}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errSilent) {
			// Out of the console's reach, which is not the same as gone:
			// its peers decide.
			m.lost(ctx, id, time.Now(), actions.Explain(err))
		} else {
			m.apply(ctx, model.Observation{AgentID: id, Health: model.HealthDown}, note{detail: actions.Explain(err), err: err.Error()})
		}
		if heard {
			backoff = minBackoff
		} else {
			backoff = min(backoff*2, maxBackoff)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		case <-kick:
		}
	}
}

var errSilent = errors.New("agent fell silent")

// allowance is how long a stream whose lines came to beat may stay silent
// from now: its rhythm's allowance grown by the console's own recent lag,
// within the monitor's bounds.
func (m *Monitor) allowance(beat *rhythm) time.Duration {
	a := beat.allowance(m.Silence, m.maxSilence()) + m.lag.recent()
	return min(max(a, m.MinSilence), m.maxSilence())
}

// maxSilence is MaxSilence, or Silence or MinSilence when longer.
func (m *Monitor) maxSilence() time.Duration { return max(m.MaxSilence, m.Silence, m.MinSilence) }

// A silence timer that fires more than starvedAfter after it was due says
// the console was not running: its lines may be waiting unread.
const (
	starvedAfter = 50 * time.Millisecond
	minRecheck   = 100 * time.Millisecond
)

// recheckAfter says whether a silence timer that fired late by late shows
// the console itself starved, and how long to give the stream's reader
// before looking again: as long as the console was late, at least
// minRecheck, at most one more allowance. A timer on time says nothing of
// the kind, and the server is lost at once.
func recheckAfter(late, allowance time.Duration) (time.Duration, bool) {
	if late <= starvedAfter {
		return 0, false
	}
	return min(max(late, minRecheck), allowance), true
}

// follow runs one watch stream. It reports whether any line arrived.
func (m *Monitor) follow(ctx context.Context, v model.ServerView) (heard bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c := actions.NewClient(v.Address, v.Fingerprint, m.cert)
	defer c.Close()

	// Silence first marks the server unreachable, then, if it goes on,
	// drops a stream that may be dead without a reset.
	var quiet *time.Timer
	var silentSince time.Time
	var silentMu sync.Mutex
	connected := false        // a line arrived; under silentMu
	var due time.Time         // when quiet is meant to fire; under silentMu
	rechecked := false        // quiet fired late once and was set again; under silentMu
	var beat rhythm           // the gaps between the stream's lines; under silentMu
	var allowed time.Duration // what quiet was last set to; under silentMu
	// reportMu keeps "lost" and "found" in the order silentSince changed:
	// taken under silentMu, held while either is reported.
	var reportMu sync.Mutex
	m.mu.Lock()
	self := m.servers[v.ID]
	m.mu.Unlock()
	onSilence := func() {
		silentMu.Lock()
		now := time.Now()
		if now.Before(due) {
			// A line set the timer again after it had fired: this firing
			// is stale (the reader and the timer ran at once, as after
			// the console was not scheduled for a while).
			silentMu.Unlock()
			return
		}
		if silentSince.IsZero() {
			if again, ok := recheckAfter(now.Sub(due), allowed); ok && !rechecked {
				// The console itself ran late: a loaded machine did not
				// schedule it, so the agent's lines may be waiting unread
				// behind this timer. The reader has its turn first.
				rechecked, due = true, now.Add(again)
				quiet.Reset(again)
				silentMu.Unlock()
				return
			}
			silentSince = now
			why := fmt.Sprintf("no heartbeat for %v (%v)", allowed.Round(time.Millisecond), &beat)
			if !connected {
				why = fmt.Sprintf("no answer to the watch request for %v", allowed.Round(time.Millisecond))
			}
			due = now.Add(9 * m.Silence)
			quiet.Reset(9 * m.Silence)
			reportMu.Lock()
			silentMu.Unlock()
			m.lost(ctx, v.ID, now, why)
			reportMu.Unlock()
			return
		}
		silentMu.Unlock()
		cancel(errSilent)
	}
	// Until the first line, the allowance is the connect one; each line
	// then sets it anew.
	silentMu.Lock()
	allowed = max(m.Silence, m.Connect)
	due = time.Now().Add(allowed)
	quiet = time.AfterFunc(allowed, onSilence)
	silentMu.Unlock()
	defer quiet.Stop()

	err = c.Watch(ctx, func(l actions.WatchLine) error {
		first := !heard
		heard = true
		silentMu.Lock()
		wasSilent := !silentSince.IsZero()
		silentSince = time.Time{}
		connected = true
		now := time.Now()
		beat.heard(now, m.maxSilence())
		allowed = m.allowance(&beat)
		if self != nil {
			self.allowed.Store(int64(allowed))
			self.settled.Store(beat.settled())
		}
		quiet.Reset(allowed)
		due, rechecked = now.Add(allowed), false
		if wasSilent || first {
			reportMu.Lock()
			silentMu.Unlock()
			m.found(v.ID)
			reportMu.Unlock()
		} else {
			silentMu.Unlock()
		}
		switch {
		case l.Status != nil:
			if err := actions.MatchFingerprint(v.Fingerprint, l.Status.Fingerprint); err != nil {
				return err
			}
			live := m.keepStatus(v.ID, *l.Status)
			m.mirrorAudit(v, l.Status.AuditSeq)
			obs := statusObservation(*l.Status, "")
			obs.Health = live.health
			if !m.writeBehind(obs, live.note) {
				m.apply(ctx, obs, live.note)
			}
			m.peersSpoke(ctx, v.ID, l.Status.Peers)
		default:
			// A heartbeat: the server is alive, as its last status judged
			// it, and seen now.
			live := m.liveCondition(v.ID)
			obs := model.Observation{AgentID: v.ID, Health: live.health, Time: time.Now()}
			if wasSilent || !m.writeBehind(obs, live.note) {
				m.apply(ctx, obs, live.note)
			}
		}
		return nil
	})
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	return heard, err
}

// mirrorAudit copies the agent's new audit entries into the store, in the
// background: the watch stream must not wait for it. One round runs at a
// time per agent; a request during a round makes one more.
func (m *Monitor) mirrorAudit(v model.ServerView, newest uint64) {
	m.mu.Lock()
	t := m.servers[v.ID]
	if t == nil || m.ctx == nil || newest <= t.audited {
		m.mu.Unlock()
		return
	}
	if t.auditing {
		t.auditAgain = true
		m.mu.Unlock()
		return
	}
	t.auditing = true
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			done, err := m.mirrorAuditRound(m.ctx, v)
			if err != nil && m.ctx.Err() == nil {
				m.log.Warn("audit log not mirrored; will try again on the next change", "server", v.Name, "err", err)
			}
			m.mu.Lock()
			t.audited = max(t.audited, done)
			if !t.auditAgain || m.ctx.Err() != nil {
				t.auditing = false
				m.mu.Unlock()
				return
			}
			t.auditAgain = false
			m.mu.Unlock()
		}
	}()
}

// mirrorAuditRound mirrors every entry newer than the store's cursor and
// returns the newest mirrored.
func (m *Monitor) mirrorAuditRound(ctx context.Context, v model.ServerView) (uint64, error) {
	since, err := m.store.AuditCursor(ctx, v.ID)
	if err != nil {
		return 0, err
	}
	c := actions.NewClient(v.Address, v.Fingerprint, m.cert)
	defer c.Close()
	for {
		entries, err := c.Audit(ctx, since)
		if err != nil || len(entries) == 0 {
			return since, err
		}
		rows := make([]model.AuditEntry, len(entries))
		for i, e := range entries {
			rows[i] = model.AuditEntry{Seq: e.ID, Time: e.Time, Console: e.Console, Operator: e.Operator,
				RequestID: e.RequestID, Action: e.Action, Params: e.Params, Result: e.Result, Detail: e.Detail}
		}
		if err := m.store.MirrorAudit(ctx, v.ID, v.Name, rows); err != nil {
			return since, err
		}
		since = entries[len(entries)-1].ID
	}
}

// liveState is a live server's health and why.
type liveState struct {
	health model.Health
	note   note
}

// keepStatus remembers an agent's latest full status and returns what it
// makes of the server: up, or degraded with the limits its facts exceed.
func (m *Monitor) keepStatus(id string, st actions.Status) liveState {
	live := liveState{health: model.HealthUp}
	var words []string
	for _, l := range Over(Limits(st.Facts, m.Detect.Limits)) {
		words = append(words, l.Words())
	}
	if len(words) > 0 {
		live = liveState{health: model.HealthDegraded, note: note{detail: strings.Join(words, "; ")}}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.servers[id]; t != nil {
		t.status = &st
		if !st.Time.IsZero() {
			t.skew = st.Time.Sub(time.Now())
		}
		t.live, t.liveOver = live.note, live.health == model.HealthDegraded
		m.changed.wake(t.view.System)
		if m.det != nil {
			m.emitLocked(m.det.Status(t.view, st, time.Now()))
		}
	}
	return live
}

// liveCondition is what a heartbeat confirms of a server: the health its
// last full status earned it.
func (m *Monitor) liveCondition(id string) liveState {
	m.mu.Lock()
	defer m.mu.Unlock()
	live := liveState{health: model.HealthUp}
	if t := m.servers[id]; t != nil {
		live.note = t.live
		if t.liveOver {
			live.health = model.HealthDegraded
		}
	}
	return live
}

// Status is the last full status a paired agent sent on its watch stream:
// services, facts and what it may be asked to do. ok is false until one
// has arrived.
func (m *Monitor) Status(id string) (st actions.Status, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.servers[id]; t != nil && t.status != nil {
		return *t.status, true
	}
	return actions.Status{}, false
}

// Allowance is the silence a server's stream is allowed now before the
// server is suspected, and whether the stream's own rhythm alone sets it
// (it has a minute of lines); ok is false until a line has come.
func (m *Monitor) Allowance(id string) (allowed time.Duration, settled, ok bool) {
	m.mu.Lock()
	t := m.servers[id]
	m.mu.Unlock()
	if t == nil || t.allowed.Load() == 0 {
		return 0, false, false
	}
	return time.Duration(t.allowed.Load()), t.settled.Load(), true
}

func statusObservation(st actions.Status, address string) model.Observation {
	role, _ := model.ParseRole(st.Role)
	return model.Observation{
		AgentID: st.AgentID, Name: st.Name, Site: st.Site, System: st.System, Profile: st.Profile,
		Address: address, Fingerprint: st.Fingerprint, Role: role, VendorRole: st.VendorRole,
		Health: model.HealthUp, Time: time.Now(),
	}
}

// writeBehind shows what o says of a server that is up and stays up when
// it changes nothing the store keeps but when the server was seen and the
// vendor's word for its role: it is published now, and reaches the store
// with the next batch of sightings instead of in a write of its own (a
// fleet sends thousands of such lines a second, a heartbeat or a status
// whose facts moved). It reports false for anything else, which apply
// must write at once: a change of role or health, a server not yet up.
func (m *Monitor) writeBehind(o model.Observation, n note) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.servers[o.AgentID]
	if t == nil || o.Health != model.HealthUp && o.Health != model.HealthDegraded {
		return false
	}
	v := t.view
	same := func(stored, seen string) bool { return seen == "" || seen == stored }
	if v.Health != o.Health || v.Detail != n.detail || v.Error != n.err || len(v.SeenBy) > 0 || len(v.AwaitingWord) > 0 || o.Role != "" && o.Role != v.Role ||
		!same(v.Name, o.Name) || !same(v.Site, o.Site) || !same(v.System, o.System) ||
		!same(v.Profile, o.Profile) || !same(v.Address, o.Address) ||
		// The store keeps the key a paired server was pinned with, not
		// what it presents.
		!v.Paired && !same(v.Fingerprint, o.Fingerprint) {
		return false
	}
	s := m.seen[o.AgentID]
	if o.Time.After(s.At) {
		s.At = o.Time
	}
	if o.VendorRole != "" {
		s.VendorRole, v.VendorRole = o.VendorRole, o.VendorRole
	}
	m.seen[o.AgentID] = s
	if s.At.After(v.LastSeen) {
		v.LastSeen = s.At
	}
	m.publishLocked(t, v)
	return true
}

// writeSeen stores the sightings gathered since it last ran, in one
// transaction; if that fails they wait for the next round.
func (m *Monitor) writeSeen(ctx context.Context) {
	m.mu.Lock()
	batch := m.seen
	if len(batch) == 0 {
		m.mu.Unlock()
		return
	}
	m.seen, m.seenWriting = map[string]model.Seen{}, batch
	m.mu.Unlock()
	err := m.store.MarkSeen(ctx, batch)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seenWriting = nil
	if err == nil {
		return
	}
	if ctx.Err() == nil {
		m.log.Warn("last-seen times not stored; will try again", "servers", len(batch), "err", err)
	}
	for id, s := range batch {
		if later, ok := m.seen[id]; ok {
			s.At = later.At
			setIf(&s.VendorRole, later.VendorRole)
		}
		m.seen[id] = s
	}
}

// unstoredLocked lays over v the sighting of its server that is not yet
// in the store, if it is later than what the store returned. m.mu must be
// held.
func (m *Monitor) unstoredLocked(v model.ServerView) model.ServerView {
	for _, pending := range []map[string]model.Seen{m.seenWriting, m.seen} {
		if s, ok := pending[v.ID]; ok && s.At.After(v.LastSeen) {
			v.LastSeen = s.At
			setIf(&v.VendorRole, s.VendorRole)
		}
	}
	return v
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// apply records an observation and tells subscribers if what an operator
// sees of the server changed.
func (m *Monitor) apply(ctx context.Context, o model.Observation, n note) model.ServerView {
	if o.Time.IsZero() {
		o.Time = time.Now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	base := model.NewServerView(o.AgentID)
	if t := m.servers[o.AgentID]; t != nil && t.view.ID != "" {
		base = t.view
	}
	v, _ := base.Observe(o)
	m.queueLocked(o)
	return m.publishNoteLocked(v, n)
}

// publish replaces the in-memory view of a server with v and what the
// monitor notes of it.
func (m *Monitor) publish(v model.ServerView, n note) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.publishNoteLocked(v, n)
}

// publishNoteLocked is publish with m.mu held; it returns the view as
// published.
func (m *Monitor) publishNoteLocked(v model.ServerView, n note) model.ServerView {
	v.Detail, v.Error, v.SeenBy, v.AwaitingWord = n.detail, n.err, n.seenBy, n.awaiting
	v = m.unstoredLocked(v)
	v.Expired = m.expiredLocked(v, time.Now())
	t := m.servers[v.ID]
	if t == nil {
		t = &tracked{kick: make(chan struct{}, 1)}
		m.servers[v.ID] = t
	}
	v.Conflict = t.view.Conflict
	m.publishLocked(t, v)
	return v
}

// publishLocked tells subscribers if what an operator sees of the server
// changed. m.mu must be held.
func (m *Monitor) publishLocked(t *tracked, v model.ServerView) {
	old := t.view
	t.view = v
	if sameToOperator(old, v) {
		return
	}
	if m.det != nil {
		m.emitLocked(m.det.View(v, time.Now()))
	}
	if old.Role != v.Role || old.Health != v.Health {
		m.log.Info("server", "name", v.Name, "system", v.System, "role", v.Role, "health", v.Health, "detail", v.Detail)
	}
	m.views.send(v, m.log)
	m.changed.wake(v.System)
	if old.System != v.System {
		m.changed.wake(old.System)
	}
}

// expiredLocked says whether v is a server known only from mDNS that has
// not been announced for longer than the expiry. m.mu must be held.
func (m *Monitor) expiredLocked(v model.ServerView, now time.Time) bool {
	expiry := cmp.Or(m.Expiry, DefaultExpiry)
	return !v.Paired && !v.LastSeen.IsZero() && now.Sub(v.LastSeen) > expiry
}

// expireLocked takes the servers known only from mDNS that were not
// announced for longer than the expiry out of the views, with a last
// update that says so. m.mu must be held.
func (m *Monitor) expireLocked(now time.Time) {
	expiry := cmp.Or(m.Expiry, DefaultExpiry)
	for _, t := range m.servers {
		if t.view.ID != "" && !t.view.Expired && m.expiredLocked(t.view, now) {
			v := t.view
			v.Expired = true
			m.publishLocked(t, v)
		}
		if t.view.Conflict != "" && now.Sub(t.conflictAt) > expiry {
			v := t.view
			v.Conflict = ""
			m.publishLocked(t, v)
		}
	}
}

// sameToOperator reports whether an operator sees no difference between
// two views of a server: only a change is published. When it was last
// seen is not such a difference; the view shows it, but as time goes by.
func sameToOperator(a, b model.ServerView) bool {
	a.LastSeen = b.LastSeen
	return a.Equal(b)
}

// Snapshot returns every known server, ordered by system then name.
func (m *Monitor) Snapshot() []model.ServerView {
	m.mu.Lock()
	out := make([]model.ServerView, 0, len(m.servers))
	for _, t := range m.servers {
		if t.view.ID != "" && !t.view.Expired {
			out = append(out, t.view)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b model.ServerView) int {
		return cmp.Or(cmp.Compare(a.System, b.System), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Subscribe delivers every later change of a server until cancel is called;
// the channel is closed then.
func (m *Monitor) Subscribe() (<-chan model.ServerView, func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.views.subscribe(&m.mu)
}
