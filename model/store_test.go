package model

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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
		o := Observation{
			AgentID: fmt.Sprintf("agent-%02d", i), Name: fmt.Sprintf("srv%02d", i),
			System: fmt.Sprintf("sys%d", i%3), Site: "north", Profile: "k2san",
			Address: fmt.Sprintf("127.0.0.1:%d", 7000+i), Role: RoleStandby, Health: HealthUp, Time: now,
		}
		if _, _, err := s.Observe(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// A later report that a server went down keeps it, with its last sighting.
	if _, changed, err := s.Observe(ctx, Observation{AgentID: "agent-05", Health: HealthDown, Time: now.Add(time.Minute)}); err != nil || !changed {
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
	want := ServerView{ID: "agent-05", Name: "srv05", Site: "north", System: "sys2", Profile: "k2san",
		Role: RoleStandby, Health: HealthDown, Address: "127.0.0.1:7005"}
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
	if _, _, err := s.Observe(ctx, Observation{AgentID: "a1", Name: "k2server1", System: "newsroom", Profile: "k2san", Role: RolePrimary, VendorRole: "primary K2 Media Server"}); err != nil {
		t.Fatal(err)
	}
	// mDNS knows the address but not the vendor role.
	v, changed, err := s.Observe(ctx, Observation{AgentID: "a1", Address: "127.0.0.1:9000", Role: RolePrimary})
	if err != nil {
		t.Fatal(err)
	}
	if changed {
		t.Error("same role reported as a change")
	}
	if v.VendorRole != "primary K2 Media Server" || v.System != "newsroom" || v.Address != "127.0.0.1:9000" {
		t.Errorf("got %+v", v)
	}
	if _, _, err := s.Observe(ctx, Observation{Name: "no id"}); err == nil {
		t.Error("observation without agent id accepted")
	}
}

func TestParseRole(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Role
		ok   bool
	}{
		{"primary", RolePrimary, true},
		{" Standby\n", RoleStandby, true},
		{"OUT-OF-SERVICE", RoleOutOfService, true},
		{"failed", RoleFailed, true},
		{"unknown", RoleUnknown, true},
		{"master", RoleUnknown, false},
		{"", RoleUnknown, false},
	} {
		got, err := ParseRole(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseRole(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
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
		if _, _, err := s.Observe(ctx, Observation{AgentID: fmt.Sprintf("parent-%d", i), System: "shared", Role: RoleStandby}); err != nil {
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
		if _, _, err := s.Observe(context.Background(), Observation{AgentID: fmt.Sprintf("%s-%d", prefix, i), System: "shared", Role: RolePrimary}); err != nil {
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
	for i, e := range []Event{
		{Kind: EventDown, Severity: SeverityCritical, System: "k2-san", Server: "K2server1", From: "up", To: "down"},
		{Kind: EventRole, Severity: SeverityWarning, System: "k2-san", Server: "K2server2", From: "standby", To: "primary"},
		{Kind: EventUp, Severity: SeverityInfo, System: "redstor", Server: "AS-1"},
	} {
		e.Time = base.Add(time.Duration(i) * time.Hour)
		if _, err := s.AddEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	check := func(f EventFilter, want ...string) {
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
	check(EventFilter{}, EventUp, EventRole, EventDown)
	check(EventFilter{System: "k2-san"}, EventRole, EventDown)
	check(EventFilter{MinSeverity: SeverityWarning}, EventRole, EventDown)
	check(EventFilter{Kinds: []string{EventDown, EventUp}}, EventUp, EventDown)
	check(EventFilter{Since: base.Add(30 * time.Minute), Until: base.Add(90 * time.Minute)}, EventRole)
	n, err := s.PruneEvents(ctx, base.Add(90*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want 2", n, err)
	}
	check(EventFilter{}, EventUp)
}

func TestIdentityChangedIsKept(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := s.Observe(ctx, Observation{AgentID: "ag1", Name: "K2server1", System: "k2-san", Profile: "k2san", Health: HealthUp, Time: time.Now()}); err != nil {
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
