package monitor

import (
	"bufio"
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // the driver under the store, for a second process's lock

	"github.com/vigilops/vigil/internal/standin"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/store"
)

// holdLockEnv makes the test binary a second process that holds the write
// lock of the SQLite file it names until its stdin ends
// (TestHoldStoreLockProcess).
const holdLockEnv = "VIGIL_TEST_HOLD_STORE_LOCK"

// TestHoldStoreLockProcess is not a test: holdStoreLock runs the test
// binary as this function.
func TestHoldStoreLockProcess(t *testing.T) {
	path := os.Getenv(holdLockEnv)
	if path == "" {
		t.Skip("the lock holder of TestALockedStoreHidesNothing; runs only when it starts it")
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	conn.ExecContext(ctx, "ROLLBACK")
}

// holdStoreLock starts a second process that takes the write lock of the
// store at path and holds it until release is called.
func holdStoreLock(t *testing.T, path string) (release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldStoreLockProcess$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), holdLockEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	released := false
	release = func() {
		if !released {
			released = true
			stdin.Close()
			cmd.Wait()
		}
	}
	t.Cleanup(release)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if sc.Text() == "locked" {
			go io.Copy(io.Discard, out)
			return release
		}
	}
	t.Fatalf("the lock holder ended before it took the lock: %v", sc.Err())
	return nil
}

// storeRig is a running monitor over two stand-ins paired in a store,
// both up and everything written.
type storeRig struct {
	m       *Monitor
	f       *standin.Fleet
	updates <-chan model.ServerView
	events  <-chan model.Event
	health  map[string]model.Health
	t       *testing.T
}

func startStoreRig(t *testing.T, st *store.Store) *storeRig {
	t.Helper()
	f, err := standin.Start(standin.Options{Agents: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	pairInto(t, st, f)
	r := &storeRig{m: New(st, tls.Certificate{}, slog.New(slog.DiscardHandler)), f: f, health: map[string]model.Health{}, t: t}
	var stopUpdates, stopEvents func()
	r.updates, stopUpdates = r.m.Subscribe()
	r.events, stopEvents = r.m.SubscribeEvents()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.m.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done; stopUpdates(); stopEvents() })
	r.awaitHealth(model.HealthUp)
	pollUntil(t, time.Minute, "the writer idle", r.m.writesDone)
	return r
}

// awaitHealth waits until both stand-ins are published with health want.
func (r *storeRig) awaitHealth(want model.Health) {
	r.t.Helper()
	deadline := time.After(time.Minute)
	for r.health[r.f.Agents()[0].ID] != want || r.health[r.f.Agents()[1].ID] != want {
		select {
		case v := <-r.updates:
			r.health[v.ID] = v.Health
		case <-deadline:
			r.t.Fatalf("servers %v, want both %s", r.health, want)
		}
	}
}

// A second process holds the console store's write lock for longer than
// its busy timeout, and meanwhile both servers of a system go down. The
// monitor shows them down before the lock is released, raises the
// console-store alarm and shows the events; once the lock is gone it
// stores the health and the events it kept, and says the store is back.
func TestALockedStoreHidesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the store's busy timeout")
	}
	st := newCountedStore(t)
	r := startStoreRig(t, st.Store)
	m, f, events := r.m, r.f, r.events
	release := holdStoreLock(t, st.Path())
	f.Close()
	r.awaitHealth(model.HealthDown)

	// The events come once the store has refused them (after its busy
	// timeout), and still with the lock held.
	kinds := map[string]int{}
	deadline := time.After(time.Minute)
	for kinds[model.EventDown] < 2 || kinds[model.EventConsoleStore] < 1 {
		select {
		case e := <-events:
			kinds[e.Kind]++
			if e.Kind == model.EventConsoleStore && (e.Severity != model.SeverityCritical || !strings.Contains(e.Detail, "console store failing")) {
				t.Errorf("console-store event %+v, want the critical alarm", e)
			}
		case <-deadline:
			t.Fatalf("with the store locked the monitor showed events %v; want both downs and the console-store alarm", kinds)
		}
	}
	if err, _ := m.StoreFailing(); err == nil {
		t.Error("StoreFailing says the store works while it is locked")
	}

	release()
	for back := false; !back; {
		select {
		case e := <-events:
			back = e.Kind == model.EventConsoleStore && e.To == "ok"
		case <-time.After(time.Minute):
			t.Fatal("the store was released, and the monitor did not say it is back")
		}
	}
	for _, a := range f.Agents() {
		v, err := st.Server(context.Background(), a.ID)
		if err != nil || v.Health != model.HealthDown {
			t.Errorf("stored %s: %+v, %v; want it down", a.Name, v, err)
		}
	}
	stored, err := st.Events(context.Background(), model.EventFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range stored {
		count[e.Kind]++
	}
	if count[model.EventDown] < 2 || count[model.EventConsoleStore] < 2 {
		t.Errorf("stored events %v; want both downs and the console-store alarm and its end", count)
	}
}

// pollUntil asks ok every 20 ms until it holds, and fails t after timeout.
func pollUntil(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-deadline:
			t.Fatalf("not within %v: %s", timeout, what)
		case <-tick.C:
		}
	}
}

// mountTmpfs mounts a tmpfs of size bytes at a new directory and returns
// it; it is unmounted when the test ends. It needs root.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small file system")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// The store's disk fills (a tmpfs of 4 MB) and then both servers go down:
// the monitor shows them down, raises the console-store alarm, and stores
// what it kept once the disk has room again.
func TestAFullDiskHidesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a file system")
	}
	fsDir := mountTmpfs(t, 4<<20)
	st, err := store.Open(fsDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := startStoreRig(t, st)
	m, f, events := r.m, r.f, r.events
	awaitStore := func(to string) {
		t.Helper()
		deadline := time.After(time.Minute)
		for {
			select {
			case e := <-events:
				if e.Kind == model.EventConsoleStore && e.To == to {
					return
				}
			case <-deadline:
				t.Fatalf("no console-store event to %q within a minute", to)
			}
		}
	}
	// Fill the disk.
	filler := filepath.Join(fsDir, "filler")
	fill, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := fill.Write(chunk); err != nil {
			break
		}
	}
	fill.Close()
	f.Close()
	r.awaitHealth(model.HealthDown)
	awaitStore("failing")
	if err, _ := m.StoreFailing(); err == nil || !strings.Contains(err.Error(), "full") {
		t.Errorf("StoreFailing = %v, want the disk full", err)
	}
	os.Remove(filler)
	awaitStore("ok")
	for _, a := range f.Agents() {
		if v, err := st.Server(context.Background(), a.ID); err != nil || v.Health != model.HealthDown {
			t.Errorf("stored %s after the disk had room again: %+v, %v", a.Name, v, err)
		}
	}
}

// A server's observations wait for the store in order: one that changes
// neither role nor health joins the one before, any other follows it, so
// that the store, once it takes them, holds when the server was last seen
// and when it last changed as if it had never failed.
func TestQueuedObservations(t *testing.T) {
	up := model.Observation{AgentID: "a", Role: model.RolePrimary, Health: model.HealthUp, VendorRole: "Master", Time: t0}
	word := model.Observation{AgentID: "a", Health: model.HealthUp, VendorRole: "Master, replicating", Time: t0.Add(time.Second)}
	down := model.Observation{AgentID: "a", Health: model.HealthDown, Time: t0.Add(2 * time.Second)}
	q := queued(queued(queued(nil, up), word), down)
	if len(q) != 2 || q[0].VendorRole != "Master, replicating" || !q[0].Time.Equal(word.Time) || q[1].Health != model.HealthDown {
		t.Errorf("queue %+v; want up with the later word, then down", q)
	}
	for i := range 2 * maxQueuedPerServer {
		h := model.HealthUp
		if i%2 == 1 {
			h = model.HealthDown
		}
		q = queued(q, model.Observation{AgentID: "a", Health: h, Time: t0.Add(time.Duration(3+i) * time.Second)})
	}
	if len(q) != maxQueuedPerServer || q[len(q)-1].Health != model.HealthDown {
		t.Errorf("a flapping server's queue holds %d, the last %s; want %d, the last down", len(q), q[len(q)-1].Health, maxQueuedPerServer)
	}
}
