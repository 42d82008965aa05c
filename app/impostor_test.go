package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilops/vigil/discovery"
	"github.com/vigilops/vigil/model"
)

// A second agent whose state holds a copy of a paired agent's id (as a
// cloned virtual machine's would), with a key of its own, advertises that
// id and name by mDNS; then an advert lies, announcing the pinned key at
// the second agent's address. The console shows each as a conflict and
// goes on watching the server it paired, at its address, trusted. Then the
// paired agent moves to another port, and the console follows it there,
// once its pinned key has answered.
func TestImpostorIsAConflictAndThePairedServerStaysWatched(t *testing.T) {
	if testing.Short() {
		t.Skip("advertises by mDNS on this machine's interface")
	}
	t.Parallel()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := "impostor-test-" + hex.EncodeToString(suffix)
	config := func(dir string) string {
		os.MkdirAll(dir, 0o700)
		cfg := filepath.Join(dir, "agent.yaml")
		os.WriteFile(cfg, []byte("name: "+name+"\nsystem: "+name+"\nprofile: infocast\nlisten: 127.0.0.1:0\nstate_dir: state\nrole_file: role\npermissions: [read]\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "role"), []byte("primary\n"), 0o644)
		return cfg
	}
	realDir := filepath.Join(t.TempDir(), "real")
	realCfg := config(realDir)
	data := t.TempDir()
	c, _, view := testConsole(t, data)
	events, stopEvents := c.mon.SubscribeEvents()
	defer stopEvents()
	addr, realCmd := startPairedAgent(t, c, realCfg)
	srv, err := c.store.FindServer(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	id := srv.ID
	await := func(what string, ok func(model.ServerView) bool) model.ServerView {
		t.Helper()
		pollUntil(t, time.Minute, what, func() bool { return ok(view(id)) }, func() string { return fmt.Sprintf("the server is %+v", view(id)) })
		return view(id)
	}
	await("the paired server up", func(v model.ServerView) bool { return v.Health == model.HealthUp })

	// The clone: the paired agent's id, a key of its own.
	cloneDir := filepath.Join(t.TempDir(), "clone")
	cloneCfg := config(cloneDir)
	os.MkdirAll(filepath.Join(cloneDir, "state"), 0o700)
	idFile, err := os.ReadFile(filepath.Join(realDir, "state", "agent.id"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(cloneDir, "state", "agent.id"), idFile, 0o600)
	cloneAddr, clone := runAgent(t, cloneCfg, nil, "clone")
	v := await("the clone shown as a conflict", func(v model.ServerView) bool { return v.Conflict != "" })
	if !strings.Contains(v.Conflict, cloneAddr) || !strings.Contains(v.Conflict, "not the pinned one") {
		t.Errorf("conflict %q, want it to name %s and the key", v.Conflict, cloneAddr)
	}
	seenAt := v.LastSeen
	v = await("the paired server still heard", func(v model.ServerView) bool { return v.LastSeen.After(seenAt) })
	if v.Address != addr || v.IdentityChanged || !v.Watched() || v.Health != model.HealthUp {
		t.Errorf("with the clone advertising, the paired server is %+v; want it up, trusted, at %s", v, addr)
	}

	// An advert that lies: the pinned key's fingerprint, the clone's address.
	host, port, _ := net.SplitHostPort(cloneAddr)
	portNum, _ := strconv.Atoi(port)
	liar, err := discovery.Advertise(name+"-liar", portNum, []string{host},
		discovery.Advert{ID: id, System: name, Profile: "infocast", Role: model.RolePrimary, Fingerprint: srv.Fingerprint[:16]})
	if err != nil {
		t.Fatal(err)
	}
	defer liar.Close()
	v = await("the lying advert shown as a conflict", func(v model.ServerView) bool {
		return strings.Contains(v.Conflict, "answers with another key")
	})
	if v.Address != addr || v.IdentityChanged || v.Health != model.HealthUp {
		t.Errorf("with a lying advert, the paired server is %+v; want it up, trusted, at %s", v, addr)
	}
	liar.Close()
	clone.Process.Kill()
	clone.Wait()

	// The paired agent itself moves: same state, another port.
	realCmd.Process.Signal(syscall.SIGTERM)
	realCmd.Wait()
	newAddr, _ := runAgent(t, realCfg, nil, "moved")
	if newAddr == addr {
		t.Fatalf("the paired agent started again on its old address %s; the test needs another", addr)
	}
	await("the paired server followed to its new address", func(v model.ServerView) bool {
		return v.Address == newAddr && v.Health == model.HealthUp && !v.IdentityChanged
	})

	stopEvents()
	var conflicts int
	for e := range events {
		switch e.Kind {
		case model.EventIdentityChanged:
			t.Errorf("event %+v: an advert is no proof of a changed key", e)
		case model.EventConflict:
			conflicts++
		}
	}
	if conflicts < 2 {
		t.Errorf("%d conflict events, want one for the clone and one for the lying advert", conflicts)
	}
}
