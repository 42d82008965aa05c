package store

import (
	"github.com/vigilops/vigil/model"

	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

func openTemp(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestReopenKeepsEveryServer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTemp(t, dir)
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	for i := 0; i < 20; i++ {
		o := model.Observation{
			AgentID: fmt.Sprintf("agent-%02d", i), Name: fmt.Sprintf("srv%02d", i),
			System: fmt.Sprintf("sys%d", i%3), Site: "north", Profile: "k2san",
			Address: fmt.Sprintf("127.0.0.1:%d", 7000+i), Role: model.RoleStandby, Health: model.HealthUp, Time: now,
		}
		if _, _, err := s.Observe(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// A later report that a server went down keeps it, with its last sighting.
	if _, changed, err := s.Observe(ctx, model.Observation{AgentID: "agent-05", Health: model.HealthDown, Time: now.Add(time.Minute)}); err != nil || !changed {
		t.Fatalf("marking down: changed=%v err=%v", changed, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openTemp(t, dir)
	got, err := s2.Servers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 20 {
		t.Fatalf("after reopen: %d servers, want 20", len(got))
	}
	srv, err := s2.Server(ctx, "agent-05")
	if err != nil {
		t.Fatal(err)
	}
	want := model.ServerView{ID: "agent-05", Name: "srv05", Site: "north", System: "sys2", Profile: "k2san",
		Role: model.RoleStandby, Health: model.HealthDown, Address: "127.0.0.1:7005"}
	if srv.ID != want.ID || srv.Name != want.Name || srv.Site != want.Site || srv.System != want.System ||
		srv.Role != want.Role || srv.Health != want.Health || srv.Address != want.Address {
		t.Errorf("server after reopen = %+v, want %+v", srv, want)
	}
	if !srv.LastSeen.Equal(now) {
		t.Errorf("last seen = %v, want the last sighting %v, not the down report", srv.LastSeen, now)
	}
	if !srv.LastChange.Equal(now.Add(time.Minute)) {
		t.Errorf("last change = %v, want %v", srv.LastChange, now.Add(time.Minute))
	}
}

func TestObserveKeepsFieldsASourceDoesNotKnow(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, t.TempDir())
	if _, _, err := s.Observe(ctx, model.Observation{AgentID: "a1", Name: "k2server1", System: "newsroom", Profile: "k2san", Role: model.RolePrimary, VendorRole: "primary K2 Media Server"}); err != nil {
		t.Fatal(err)
	}
	// mDNS knows the address but not the vendor role.
	v, changed, err := s.Observe(ctx, model.Observation{AgentID: "a1", Address: "127.0.0.1:9000", Role: model.RolePrimary})
	if err != nil {
		t.Fatal(err)
	}
	if changed {
		t.Error("same role reported as a change")
	}
	if v.VendorRole != "primary K2 Media Server" || v.System != "newsroom" || v.Address != "127.0.0.1:9000" {
		t.Errorf("got %+v", v)
	}
	if _, _, err := s.Observe(ctx, model.Observation{Name: "no id"}); err == nil {
		t.Error("observation without agent id accepted")
	}
}

func TestUnwritableDataDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes through permission bits; a file in the way still fails.
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir)
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Fatalf("Open over a file: err = %v, want an error naming %s", err, dir)
		}
		return
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), "not writable") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open(read-only dir) err = %v, want 'not writable' naming %s", err, dir)
	}
}

// TestSecondProcessWaits has another process write into the same database
// while this one writes too: both finish, nothing is lost, the file is sound.
func TestSecondProcessWaits(t *testing.T) {
	if dir := os.Getenv("VIGIL_STORE_WRITER_DIR"); dir != "" {
		writer(dir, os.Getenv("VIGIL_STORE_WRITER_PREFIX"))
		return
	}
	const n = 150
	dir := t.TempDir()
	s := openTemp(t, dir)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondProcessWaits$")
	cmd.Env = append(os.Environ(), "VIGIL_STORE_WRITER_DIR="+dir, "VIGIL_STORE_WRITER_PREFIX=child", "VIGIL_STORE_WRITER_N="+strconv.Itoa(n))
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < n; i++ {
		if _, _, err := s.Observe(ctx, model.Observation{AgentID: fmt.Sprintf("parent-%d", i), System: "shared", Role: model.RoleStandby}); err != nil {
			t.Fatalf("parent write %d: %v", i, err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("second process: %v\n%s", err, out)
	}
	got, err := s.Servers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2*n {
		t.Fatalf("%d servers after concurrent writers, want %d", len(got), 2*n)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func writer(dir, prefix string) {
	n, _ := strconv.Atoi(os.Getenv("VIGIL_STORE_WRITER_N"))
	s, err := Open(dir)
	if err != nil {
		fmt.Println(err)
		os.Exit(3)
	}
	defer s.Close()
	for i := 0; i < n; i++ {
		if _, _, err := s.Observe(context.Background(), model.Observation{AgentID: fmt.Sprintf("%s-%d", prefix, i), System: "shared", Role: model.RolePrimary}); err != nil {
			fmt.Println(err)
			os.Exit(4)
		}
	}
}

func TestEventsStoredFilteredAndPruned(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	base := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	for i, e := range []model.Event{
		{Kind: model.EventDown, Severity: model.SeverityCritical, System: "k2-san", Server: "K2server1", From: "up", To: "down"},
		{Kind: model.EventRole, Severity: model.SeverityWarning, System: "k2-san", Server: "K2server2", From: "standby", To: "primary"},
		{Kind: model.EventUp, Severity: model.SeverityInfo, System: "redstor", Server: "AS-1"},
	} {
		e.Time = base.Add(time.Duration(i) * time.Hour)
		if _, err := s.AddEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	check := func(f model.EventFilter, want ...string) {
		t.Helper()
		got, err := s.Events(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, e := range got {
			kinds = append(kinds, e.Kind)
		}
		if fmt.Sprint(kinds) != fmt.Sprint(want) {
			t.Errorf("events %+v = %v, want %v (newest first)", f, kinds, want)
		}
	}
	check(model.EventFilter{}, model.EventUp, model.EventRole, model.EventDown)
	check(model.EventFilter{System: "k2-san"}, model.EventRole, model.EventDown)
	check(model.EventFilter{MinSeverity: model.SeverityWarning}, model.EventRole, model.EventDown)
	check(model.EventFilter{Kinds: []string{model.EventDown, model.EventUp}}, model.EventUp, model.EventDown)
	check(model.EventFilter{Since: base.Add(30 * time.Minute), Until: base.Add(90 * time.Minute)}, model.EventRole)
	n, err := s.PruneEvents(ctx, base.Add(90*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want 2", n, err)
	}
	check(model.EventFilter{}, model.EventUp)
}

func TestIdentityChangedIsKept(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := s.Observe(ctx, model.Observation{AgentID: "ag1", Name: "K2server1", System: "k2-san", Profile: "k2san", Health: model.HealthUp, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetPaired(ctx, "ag1", "abcd"); err != nil {
		t.Fatal(err)
	}
	v, err := s.SetIdentityChanged(ctx, "ag1")
	if err != nil || !v.IdentityChanged {
		t.Fatalf("SetIdentityChanged = %+v, %v", v, err)
	}
	s.Close()
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, err := s.Servers(ctx)
	if err != nil || len(all) != 1 || !all[0].IdentityChanged {
		t.Errorf("after reopening: %+v, %v; want the server still marked identity-changed", all, err)
	}
}

// Every write of a process goes through one connection, so writers queue
// instead of failing on the busy timeout, and reads go on beside a write in
// progress.
func TestWritersQueueAndReadersRunBesideThem(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, t.TempDir())
	w, err := s.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	if n := w.Stats().MaxOpenConnections; n != 1 {
		t.Fatalf("the writer may open %d connections, want 1", n)
	}

	const writers = 200
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			_, _, err := s.Observe(ctx, model.Observation{AgentID: fmt.Sprintf("agent-%03d", i), System: fmt.Sprintf("sys-%d", i%7),
				Site: "north", Role: model.RoleStandby, Health: model.HealthUp, Time: time.Now()})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a concurrent write failed: %v", err)
		}
	}
	if got, err := s.Servers(ctx); err != nil || len(got) != writers {
		t.Fatalf("after %d concurrent writes: %d servers, %v", writers, len(got), err)
	}

	// A transaction holds the writer; a read still answers, with what was
	// committed before it.
	inTx, release := make(chan struct{}), make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- s.db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Model(&Server{}).Where("agent_id = ?", "agent-000").Update("name", "renamed").Error; err != nil {
				return err
			}
			close(inTx)
			<-release
			return nil
		})
	}()
	<-inTx
	read := make(chan model.ServerView, 1)
	go func() {
		v, err := s.Server(ctx, "agent-000")
		if err != nil {
			t.Error(err)
		}
		read <- v
	}()
	select {
	case v := <-read:
		if v.Name != "agent-000" {
			t.Errorf("a read during a write transaction saw %q, uncommitted", v.Name)
		}
	case <-time.After(time.Minute): // the transaction never ends: a read that waits for it waits for ever
		t.Fatal("a read waited for a write transaction to end")
	}
	close(release)
	if err := <-txDone; err != nil {
		t.Fatal(err)
	}
	if v, err := s.Server(ctx, "agent-000"); err != nil || v.Name != "renamed" {
		t.Errorf("after the commit a read sees %q (%v), want renamed", v.Name, err)
	}

	// The readers refuse writes: one sent there by mistake fails loudly.
	if err := s.read.Exec("DELETE FROM servers").Error; err == nil {
		t.Error("a reader connection accepted a write")
	}
}

func TestMarkSeenKeepsTheLatestTime(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, t.TempDir())
	base := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	// More servers than one statement takes.
	const n = markSeenChunk + 17
	for i := range n {
		if _, _, err := s.Observe(ctx, model.Observation{AgentID: fmt.Sprintf("agent-%04d", i), System: "big", VendorRole: "stored word", Health: model.HealthUp, Time: base}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]model.Seen{"not-stored": {At: base.Add(time.Hour)}}
	for i := range n {
		// Odd servers are reported in another zone: the same instants,
		// stored as different text.
		at := base.Add(time.Duration(i) * time.Millisecond * 10)
		if i%2 == 1 {
			at = at.In(time.FixedZone("UTC-5", -5*3600))
		}
		seen[fmt.Sprintf("agent-%04d", i)] = model.Seen{At: at, VendorRole: fmt.Sprintf("word %d", i%3)}
	}
	// Agent 0 was seen earlier than stored (a stale sighting) and must keep
	// its time and word; so must agent 1, stored later in a zone behind
	// UTC. Agent 2's sighting has no word: it keeps the stored one.
	seen["agent-0000"] = model.Seen{At: base.Add(-time.Minute), VendorRole: "stale"}
	seen["agent-0001"] = model.Seen{At: seen["agent-0001"].At, VendorRole: "stale"}
	seen["agent-0002"] = model.Seen{At: seen["agent-0002"].At}
	if _, _, err := s.Observe(ctx, model.Observation{AgentID: "agent-0001", Health: model.HealthUp, Time: base.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSeen(ctx, seen); err != nil {
		t.Fatal(err)
	}
	all, err := s.Servers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("%d servers, want %d", len(all), n)
	}
	for _, v := range all {
		want := seen[v.ID]
		switch v.ID {
		case "agent-0000":
			want = model.Seen{At: base, VendorRole: "stored word"}
		case "agent-0001":
			want = model.Seen{At: base.Add(time.Hour), VendorRole: "stored word"}
		case "agent-0002":
			want.VendorRole = "stored word"
		}
		if !v.LastSeen.Equal(want.At) || v.VendorRole != want.VendorRole {
			t.Errorf("%s last seen %v as %q, want %v as %q", v.ID, v.LastSeen, v.VendorRole, want.At, want.VendorRole)
		}
	}
	if _, err := s.Server(ctx, "not-stored"); err == nil {
		t.Error("MarkSeen made a server out of an unknown id")
	}
	if err := s.MarkSeen(ctx, nil); err != nil {
		t.Errorf("MarkSeen of nothing: %v", err)
	}
}

// A server first seen without a system or site gets them from a later
// source, and keeps them through observations that do not name them.
func TestObserveGivesASystemLater(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, t.TempDir())
	steps := []struct {
		o            model.Observation
		system, site string
	}{
		{model.Observation{AgentID: "a1", Name: "lab box"}, "", ""},
		{model.Observation{AgentID: "a1", System: "k2-san", Profile: "k2san", Site: "north"}, "k2-san", "north"},
		{model.Observation{AgentID: "a1", Health: model.HealthUp}, "k2-san", "north"},
		{model.Observation{AgentID: "a1", System: "k2-dr", Site: "south"}, "k2-dr", "south"},
		// Old news that changes nothing: not written.
		{model.Observation{AgentID: "a1", System: "k2-dr", Time: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}, "k2-dr", "south"},
	}
	for i, st := range steps {
		v, _, err := s.Observe(ctx, st.o)
		if err != nil {
			t.Fatal(err)
		}
		if v.System != st.system || v.Site != st.site {
			t.Errorf("step %d: system %q, site %q; want %q, %q", i, v.System, v.Site, st.system, st.site)
		}
		if again, err := s.Server(ctx, "a1"); err != nil || !again.Equal(v) {
			t.Errorf("step %d: Observe returned %+v, a read gives %+v (%v)", i, v, again, err)
		}
	}
}

// TestFindServerPrefersOurs: other consoles' agents on the LAN may have
// the same names as ours; a name means the one server this console has
// paired, and is ambiguous only among servers it has paired, or among
// strangers when none is ours.
func TestFindServerPrefersOurs(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, t.TempDir())
	for _, id := range []string{"ours", "stranger-1", "stranger-2"} {
		if _, _, err := s.Observe(ctx, model.Observation{AgentID: id, Name: "K2server1", System: "k2-san"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.FindServer(ctx, "K2server1"); err == nil || !strings.Contains(err.Error(), `3 servers are named "K2server1"`) {
		t.Errorf("none paired: %v, want it ambiguous", err)
	}
	if _, err := s.SetPaired(ctx, "ours", "abcd"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.FindServer(ctx, "K2server1"); err != nil || v.ID != "ours" {
		t.Errorf("one paired: %s, %v; want ours", v.ID, err)
	}
	if v, err := s.FindServer(ctx, "stranger-2"); err != nil || v.ID != "stranger-2" {
		t.Errorf("by agent id: %s, %v", v.ID, err)
	}
	if _, err := s.SetPaired(ctx, "stranger-1", "ef01"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindServer(ctx, "K2server1"); err == nil || !strings.Contains(err.Error(), `2 servers are named "K2server1"`) {
		t.Errorf("two paired: %v, want it ambiguous between them", err)
	}
}
