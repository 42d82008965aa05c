package monitor

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilops/vigil/internal/standin"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/store"
)

// countedStore is a real store that counts the monitor's writes of servers.
type countedStore struct {
	*store.Store
	observes, markSeen atomic.Int64
}

func (s *countedStore) Observe(ctx context.Context, o model.Observation) (model.ServerView, bool, error) {
	s.observes.Add(1)
	return s.Store.Observe(ctx, o)
}

func (s *countedStore) MarkSeen(ctx context.Context, seen map[string]model.Seen) error {
	s.markSeen.Add(1)
	return s.Store.MarkSeen(ctx, seen)
}

func newCountedStore(t *testing.T) *countedStore {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &countedStore{Store: st}
}

// pairedWith is a store that knows every stand-in of f as paired.
func pairedWith(t *testing.T, f *standin.Fleet) *countedStore {
	t.Helper()
	st := newCountedStore(t)
	pairInto(t, st, f)
	return st
}

// pairInto records every stand-in of f in st as paired.
func pairInto(t *testing.T, st Store, f *standin.Fleet) {
	t.Helper()
	ctx := context.Background()
	for _, a := range f.Agents() {
		role, _ := model.ParseRole(a.Role)
		if _, _, err := st.Observe(ctx, model.Observation{AgentID: a.ID, Name: a.Name, System: a.System, Profile: a.Profile,
			Address: a.Address, Fingerprint: a.Fingerprint, Role: role}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetPaired(ctx, a.ID, a.Fingerprint); err != nil {
			t.Fatal(err)
		}
	}
}

func stored(t *testing.T, st *countedStore, id string) model.ServerView {
	t.Helper()
	v, err := st.Server(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// asStatus is what a status line of an up Redstor master says.
func asStatus(at time.Time, vendor string) model.Observation {
	return model.Observation{AgentID: "as1", Name: "AS-1", Site: "north", System: "redstor", Profile: "redstor",
		Role: model.RolePrimary, VendorRole: vendor, Health: model.HealthUp, Time: at}
}

// A status line that moves only the vendor's word, and a heartbeat, are
// shown at once and stored together later, in one write; what changes a
// role, or a server that is not up, is not written behind.
func TestSightingsAreWrittenBehind(t *testing.T) {
	ctx := context.Background()
	st := newCountedStore(t)
	m := New(st, tls.Certificate{}, slog.New(slog.DiscardHandler))
	m.Expiry = 1000 * time.Hour // the test's clock is in the past; its server is only announced, not paired
	m.apply(ctx, asStatus(t0, "Master AccountServer"), note{})
	m.writeQueued(ctx) // what the writer does, without Run
	updates, cancel := m.Subscribe()
	defer cancel()
	written := st.observes.Load()

	for i, word := range []string{"Master AccountServer, replicating", "Master AccountServer, resyncing"} {
		o := asStatus(t0.Add(time.Duration(i+1)*time.Second), word)
		if !m.writeBehind(o, note{}) {
			t.Fatalf("a status line moving the vendor role to %q is written at once", word)
		}
		select {
		case v := <-updates:
			if v.VendorRole != word || !v.LastSeen.Equal(o.Time) || v.Health != model.HealthUp {
				t.Errorf("published %q seen %v (%s), want %q seen %v, up", v.VendorRole, v.LastSeen, v.Health, word, o.Time)
			}
		default:
			t.Fatalf("the vendor role %q was not published", word)
		}
	}
	beat := t0.Add(3 * time.Second)
	if !m.writeBehind(model.Observation{AgentID: "as1", Health: model.HealthUp, Time: beat}, note{}) {
		t.Fatal("a heartbeat of an up server is written at once")
	}
	select {
	case v := <-updates:
		t.Errorf("a heartbeat published %+v; the time alone is not news", v)
	default:
	}
	if got := m.Snapshot()[0].LastSeen; !got.Equal(beat) {
		t.Errorf("after a heartbeat the monitor shows last seen %v, want %v", got, beat)
	}
	if n := st.observes.Load() - written; n != 0 {
		t.Errorf("%d writes for sightings; want them written behind", n)
	}
	if v := stored(t, st, "as1"); v.VendorRole != "Master AccountServer" || !v.LastSeen.Equal(t0) {
		t.Errorf("before the batch the store holds %q seen %v; want what was written, %q seen %v",
			v.VendorRole, v.LastSeen, "Master AccountServer", t0)
	}

	standby := asStatus(t0.Add(4*time.Second), "Slave AccountServer")
	standby.Role = model.RoleStandby
	if m.writeBehind(standby, note{}) {
		t.Error("a change of role was written behind")
	}
	if m.writeBehind(model.Observation{AgentID: "nobody", Health: model.HealthUp, Time: beat}, note{}) {
		t.Error("a server the monitor does not know was written behind")
	}

	m.writeSeen(ctx)
	if v := stored(t, st, "as1"); v.VendorRole != "Master AccountServer, resyncing" || !v.LastSeen.Equal(beat) {
		t.Errorf("after the batch the store holds %q seen %v, want %q seen %v", v.VendorRole, v.LastSeen, "Master AccountServer, resyncing", beat)
	}
	m.writeSeen(ctx)
	if n := st.markSeen.Load(); n != 1 {
		t.Errorf("%d batches written, want 1: the second round had nothing to write", n)
	}

	// Lost, the server is not up: a heartbeat's news is then a change of
	// health, which apply writes at once.
	m.apply(ctx, model.Observation{AgentID: "as1", Health: model.HealthUnreachable, Time: t0.Add(5 * time.Second)}, note{detail: "no heartbeat"})
	if m.writeBehind(model.Observation{AgentID: "as1", Health: model.HealthUp, Time: t0.Add(6 * time.Second)}, note{}) {
		t.Error("a heartbeat of an unreachable server was written behind")
	}
}

// A change written at once does not lose what the monitor has seen but not
// yet stored: the view it publishes keeps the later sighting and word, and
// the batch stores them beside the change.
func TestAChangeKeepsTheSightingNotYetStored(t *testing.T) {
	ctx := context.Background()
	st := newCountedStore(t)
	m := New(st, tls.Certificate{}, slog.New(slog.DiscardHandler))
	m.Expiry = 1000 * time.Hour // the test\'s clock is in the past; its server is only announced, not paired
	m.apply(ctx, asStatus(t0, "Master AccountServer"), note{})
	seen := t0.Add(time.Second)
	if !m.writeBehind(asStatus(seen, "Master AccountServer, replicating"), note{}) {
		t.Fatal("not written behind")
	}
	m.apply(ctx, model.Observation{AgentID: "as1", Health: model.HealthDown, Time: t0.Add(2 * time.Second)}, note{detail: "stream reset"})

	check := func(when string, v model.ServerView) {
		t.Helper()
		if v.Health != model.HealthDown || v.VendorRole != "Master AccountServer, replicating" || !v.LastSeen.Equal(seen) {
			t.Errorf("%s: %s, %q, last seen %v; want down, the last word and the last sighting %v", when, v.Health, v.VendorRole, v.LastSeen, seen)
		}
	}
	check("shown", m.Snapshot()[0])
	m.writeQueued(ctx) // what the writer does, without Run: the change, then the sightings
	m.writeSeen(ctx)
	check("stored", stored(t, st, "as1"))
}

// Followed over real watch streams, a fleet whose vendor roles move is
// shown move by move without a write per line, and once the monitor stops
// the store holds what it showed last.
func TestMonitorStoresWhatItShowedLast(t *testing.T) {
	f, err := standin.Start(standin.Options{Agents: 2, Heartbeat: 20 * time.Millisecond, Change: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	st := pairedWith(t, f)
	m := New(st, tls.Certificate{}, slog.New(slog.DiscardHandler))
	// A slow test machine must not make a stream look lost: this test is
	// about what is written, not about silence.
	m.Silence, m.MinSilence, m.MaxSilence = time.Minute, time.Minute, time.Minute
	updates, cancelUpdates := m.Subscribe()
	defer cancelUpdates()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()

	// Count the writes from the moment both are up while each server's
	// vendor role moves a few more times.
	deadline := time.After(time.Minute)
	var (
		up       = map[string]bool{}
		moves    = map[string]int{}
		written  int64
		notUp    bool
		counting bool
	)
	for !counting || moves[f.Agents()[0].ID] < 4 || moves[f.Agents()[1].ID] < 4 {
		select {
		case v := <-updates:
			if v.Health != model.HealthUp {
				notUp = true
			}
			up[v.ID] = v.Health == model.HealthUp
			if counting {
				moves[v.ID]++
			} else if len(up) == 2 && up[f.Agents()[0].ID] && up[f.Agents()[1].ID] && m.writesDone() {
				counting, written = true, st.observes.Load()
			}
		case <-deadline:
			t.Fatalf("after a minute: up %v, vendor role moves %v", up, moves)
		}
	}
	// Lines that change a health are written at once, as they must be;
	// only then may a write fall in the window.
	if n := st.observes.Load() - written; n != 0 && !notUp {
		t.Errorf("%d writes while the vendor roles of two up servers moved %v times; want none", n, moves)
	}

	stop()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run = %v", err)
	}
	for _, v := range m.Snapshot() {
		s := stored(t, st, v.ID)
		if s.VendorRole != v.VendorRole || !s.LastSeen.Equal(v.LastSeen) {
			t.Errorf("%s: the store holds %q seen %v; the monitor showed %q seen %v last",
				v.Name, s.VendorRole, s.LastSeen, v.VendorRole, v.LastSeen)
		}
	}
}

// A stream whose first line comes later than a heartbeat's allowance, but
// within the connect allowance, is a slow start, not a lost server: no
// unreachable event. Once the connect allowance is shorter than the delay,
// the same stream is reported unreachable, and then up when it speaks.
func TestSlowFirstLineIsNotALostServer(t *testing.T) {
	for _, tc := range []struct {
		connect         time.Duration
		wantUnreachable bool
	}{
		{connect: 3 * time.Second, wantUnreachable: false},
		{connect: 100 * time.Millisecond, wantUnreachable: true},
	} {
		t.Run(fmt.Sprintf("connect-%v", tc.connect), func(t *testing.T) {
			f, err := standin.Start(standin.Options{Agents: 1, Heartbeat: 50 * time.Millisecond, Change: time.Hour,
				FirstLineDelay: 600 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ctx := context.Background()
			st := pairedWith(t, f)
			m := New(st, tls.Certificate{}, slog.New(slog.DiscardHandler))
			m.Silence = 200 * time.Millisecond
			m.Connect = tc.connect
			updates, cancelUpdates := m.Subscribe()
			defer cancelUpdates()
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- m.Run(runCtx) }()
			defer func() { stop(); <-done }()

			var seen []model.Health
			deadline := time.After(30 * time.Second)
			for len(seen) == 0 || seen[len(seen)-1] != model.HealthUp {
				select {
				case v := <-updates:
					if len(seen) == 0 || seen[len(seen)-1] != v.Health {
						seen = append(seen, v.Health)
					}
				case <-deadline:
					t.Fatalf("not up after 30 s; health went %v", seen)
				}
			}
			unreachable := slices.Contains(seen, model.HealthUnreachable)
			if unreachable != tc.wantUnreachable {
				t.Errorf("Silence %v, Connect %v, first line after 600ms: health went %v; unreachable on the way = %v, want %v",
					m.Silence, m.Connect, seen, unreachable, tc.wantUnreachable)
			}
		})
	}
}

// A server known only from mDNS that is not announced for longer than the
// expiry leaves the views (the store keeps it); announced again, it comes
// back. A paired server never expires: its silence is for its watcher to
// judge.
func TestServersOnlyAnnouncedExpire(t *testing.T) {
	ctx := context.Background()
	st := newCountedStore(t)
	m := New(st, tls.Certificate{}, slog.New(slog.DiscardHandler))
	m.Expiry = time.Minute
	now := time.Now()
	m.apply(ctx, model.Observation{AgentID: "x", Name: "stranger", System: "k2-san", Role: model.RolePrimary, Time: now.Add(-30 * time.Second)}, note{})
	m.apply(ctx, model.Observation{AgentID: "p", Name: "ours", System: "k2-san", Role: model.RolePrimary, Time: now.Add(-time.Hour)}, note{})
	m.writeQueued(ctx) // what the writer does, without Run
	if _, err := st.SetPaired(ctx, "p", "fp"); err != nil {
		t.Fatal(err)
	}
	v, _ := st.Server(ctx, "p")
	m.publish(v, note{})
	updates, cancel := m.Subscribe()
	defer cancel()
	names := func() []string {
		var out []string
		for _, v := range m.Snapshot() {
			out = append(out, v.Name)
		}
		return out
	}
	m.mu.Lock()
	m.expireLocked(now)
	m.mu.Unlock()
	if got := names(); !slices.Equal(got, []string{"ours", "stranger"}) {
		t.Fatalf("within the expiry the views hold %q", got)
	}
	m.mu.Lock()
	m.expireLocked(now.Add(31 * time.Second))
	m.mu.Unlock()
	if got := names(); !slices.Equal(got, []string{"ours"}) {
		t.Fatalf("past the expiry the views hold %q", got)
	}
	if u := <-updates; u.ID != "x" || !u.Expired {
		t.Errorf("subscribers were told %+v, want the stranger expired", u)
	}
	if _, err := st.Server(ctx, "x"); err != nil {
		t.Errorf("the store lost the expired server: %v", err)
	}
	m.apply(ctx, model.Observation{AgentID: "x", Name: "stranger", Time: time.Now()}, note{})
	if got := names(); !slices.Equal(got, []string{"ours", "stranger"}) {
		t.Errorf("announced again, the views hold %q", got)
	}
}
