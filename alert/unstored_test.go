package alert

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // a second connection to the store, to hold its write lock

	"github.com/vigilops/vigil/alert/alerttest"
	"github.com/vigilops/vigil/model"
)

// With the store's write lock held by another connection past its busy
// timeout, an event cannot be queued: its alert goes out at once from
// memory. Once the store takes the event (the monitor records it again),
// it is stored without a second alert.
func TestAlertWhileTheStoreRefusesGoesOutOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the store's busy timeout")
	}
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS})
	dir := t.TempDir()
	st := openStore(t, dir)
	s := settingsFor(srv, TLSStartTLS)
	s.Coalesce = Duration(time.Millisecond)
	src := &countingSource{staticSource: staticSource(s)}
	o, _ := testOutbox(t, st, src)
	runOutbox(t, o)

	locker, err := sql.Open("sqlite", st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	conn, err := locker.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	e := event("AS-1", "redstor", model.EventDown, model.SeverityCritical)
	if _, err := o.Record(context.Background(), e, Context{Summary: "AS-2 is primary"}); err == nil {
		t.Fatal("Record with the store locked succeeded")
	}
	msgs := srv.Wait(1, mailWait)
	if h, _ := decoded(t, msgs[0].Data); !strings.Contains(h.Get("Subject"), "AS-1 down") {
		t.Errorf("subject %q", h.Get("Subject"))
	}

	conn.ExecContext(context.Background(), "ROLLBACK")
	conn.Close()
	stored, err := o.Record(context.Background(), e, Context{Summary: "AS-2 is primary"})
	if err != nil || stored.ID == 0 {
		t.Fatalf("Record once the store is free: %+v, %v", stored, err)
	}
	waitRounds(t, src, 3)
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d emails for one event, want 1", n)
	}
	if q := status(t, o); len(q.Queue) != 0 || q.Sent != 0 {
		t.Errorf("outbox %+v: the event, alerted already, was queued again", q)
	}
}
