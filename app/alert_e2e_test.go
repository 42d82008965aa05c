package app

import (
	"context"
	"io"
	"mime/quotedprintable"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilops/vigil/alert/alerttest"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/monitor"
)

// setAlerts runs `vigil alert set` on data for the test's SMTP server,
// with STARTTLS, to oncall@example.com, coalescing what follows the first
// email of an incident for coalesce.
func setAlerts(t *testing.T, data string, srv *alerttest.Server, coalesce string) {
	t.Helper()
	if code, out, errOut := runVigil("alert", "set", "--smtp-host", "127.0.0.1", "--smtp-port", strconv.Itoa(srv.Port),
		"--tls", "starttls", "--ca-file", srv.CAFile, "--from", "vigil@example.com", "--to", "oncall@example.com",
		"--coalesce", coalesce, "--data", data); code != 0 {
		t.Fatalf("vigil alert set: exit %d\n%s%s", code, out, errOut)
	}
}

// mailBody is a message's body, decoded.
func mailBody(t *testing.T, raw []byte) string {
	t.Helper()
	if i := strings.Index(string(raw), "\r\n\r\n"); i >= 0 {
		raw = raw[i+4:]
	}
	decoded, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(string(raw))))
	if err != nil {
		t.Fatal(err)
	}
	return string(decoded)
}

// outboxSettled waits until the console's outbox has nothing pending and
// returns how many messages it sent: after that, nothing more goes out
// until a new event is recorded.
func outboxSettled(t *testing.T, c *core) int {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		st, err := c.alerts.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Pending == 0 {
			return int(st.Sent)
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts still pending after a minute: %+v", st)
		}
	}
}

// nextEvent waits for the event of kind about server ("" for the system).
func nextEvent(t *testing.T, events <-chan model.Event, kind, server string) model.Event {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case e := <-events:
			if e.Kind == kind && e.Server == server {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event for %q within a minute", kind, server)
		}
	}
}

// TestKilledPrimaryAlertsAtOnceThenSaysWhatChanged: with alerts set up
// (`vigil alert set`, a real SMTP server with STARTTLS in the test), killing
// a paired primary's agent process sends the first email at once (not
// after the coalescing window): the server down and its system failing
// over, with what the console knows now. When the standby takes over, the
// next email says the system failed over and names the procedure to run.
// Each transition is in one email, and nothing is sent twice.
func TestKilledPrimaryAlertsAtOnceThenSaysWhatChanged(t *testing.T) {
	t.Parallel()
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS})
	data := t.TempDir()
	setAlerts(t, data, srv, "2s")
	agents := startRoleAgents(t, data, []string{"K2server1", "K2server2"}, []string{"primary", "standby"})

	c, updates, _ := testConsole(t, data)
	events, cancel := c.mon.SubscribeEvents()
	defer cancel()
	waitFor(t, updates, 30*time.Second, "both agents up", func() bool {
		up := 0
		for _, v := range c.mon.Snapshot() {
			if v.System == "watched" && v.Health == model.HealthUp {
				up++
			}
		}
		return up == 2
	})
	agents[0].cmd.Process.Signal(syscall.SIGKILL)
	nextEvent(t, events, model.EventDown, "K2server1")
	nextEvent(t, events, string(model.VerdictFailingOver), "")
	first := srv.Wait(1, time.Minute)[0]
	subject, body := alerttest.Header(first.Data, "Subject"), mailBody(t, first.Data)
	t.Logf("first email:\n%s\n%s", subject, body)
	if want := "[CRITICAL] 2 events: K2server1 down (watched), watched FAILING OVER"; subject != want {
		t.Errorf("first subject %q, want %q", subject, want)
	}
	for _, want := range []string{"watched is FAILING OVER: no server of watched is primary", "K2server1: down (it was primary when last heard)",
		"K2server2: standby, up", "the agent closed the connection"} {
		if !strings.Contains(body, want) {
			t.Errorf("the first email does not say %q", want)
		}
	}

	// The standby takes over.
	agents[1].setRole(t, "primary")
	nextEvent(t, events, string(model.VerdictFailedOver), "")
	second := srv.Wait(2, time.Minute)[1]
	subject, body = alerttest.Header(second.Data, "Subject"), mailBody(t, second.Data)
	t.Logf("second email:\n%s\n%s", subject, body)
	if !strings.HasPrefix(subject, "[WARNING] 2 events: watched FAILED OVER") {
		t.Errorf("second subject %q", subject)
	}
	for _, want := range []string{"What changed since the alert of", "watched is now FAILED OVER (it was FAILING OVER): K2server2 took over from K2server1",
		"Recover from a failover (k2-san-redundant-media-servers.txt) (vigil procedure run k2san-recover-from-failover --system watched)"} {
		if !strings.Contains(body, want) {
			t.Errorf("the second email does not say %q", want)
		}
	}
	// Nothing more: the outbox has nothing pending, and the server has
	// what it sent.
	if sent := outboxSettled(t, c); sent != 2 || len(srv.Messages()) != 2 {
		t.Errorf("%d emails recorded sent and %d received, want 2", sent, len(srv.Messages()))
	}
}

// TestFlappingServerSendsOneFlappingAlert: a server whose role flips again
// and again within the flapping window makes one flapping event and one
// alert about it, not a storm; its later flips are not mailed one by one.
func TestFlappingServerSendsOneFlappingAlert(t *testing.T) {
	t.Parallel()
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS})
	data := t.TempDir()
	setAlerts(t, data, srv, "5s")
	agents := startRoleAgents(t, data, []string{"K2server1", "K2server2"}, []string{"primary", "standby"})
	c, updates, byID := testConsole(t, data)
	events, cancel := c.mon.SubscribeEvents()
	defer cancel()
	var id2 string
	waitFor(t, updates, 30*time.Second, "both agents up", func() bool {
		up := 0
		for _, v := range c.mon.Snapshot() {
			if v.System == "watched" && v.Health == model.HealthUp {
				up++
				if v.Name == "K2server2" {
					id2 = v.ID
				}
			}
		}
		return up == 2
	})
	// K2server2 flips between standby and out of service 12 times, each
	// flip seen by the console before the next: the agent polls its role
	// file, and two writes within one poll would be one change.
	roles := []model.Role{model.RoleOutOfService, model.RoleStandby}
	for i := 0; i < 12; i++ {
		agents[1].setRole(t, string(roles[i%2]))
		waitFor(t, updates, 30*time.Second, "K2server2 "+string(roles[i%2]), func() bool { return byID(id2).Role == roles[i%2] })
	}
	// Flapping began with the sixth flip: its event came then, before the
	// later flips.
	flapping := nextEvent(t, events, model.EventFlapping, "K2server2")
	if flapping.To != "flapping" {
		t.Fatalf("flapping event %+v", flapping)
	}
	evs, err := c.store.Events(context.Background(), model.EventFilter{Server: "K2server2"})
	if err != nil {
		t.Fatal(err)
	}
	var flaps, roleEvents int
	for _, e := range evs {
		switch e.Kind {
		case model.EventFlapping:
			flaps++
		case model.EventRole:
			roleEvents++
		}
	}
	if flaps != 1 || roleEvents > monitor.DefaultFlapCount {
		t.Errorf("12 flips: %d flapping events and %d role events, want 1 and at most %d", flaps, roleEvents, monitor.DefaultFlapCount)
	}
	// Every message together lists the flapping once; the flips before it
	// are coalesced, not a storm.
	sent := outboxSettled(t, c)
	msgs := srv.Wait(sent, time.Minute)
	mentions := 0
	for _, m := range msgs {
		mentions += strings.Count(mailBody(t, m.Data), "K2server2 keeps going up and down")
	}
	if mentions != 1 {
		t.Errorf("%d emails mention the flapping %d times, want exactly once", len(msgs), mentions)
	}
	if len(msgs) > 3 {
		t.Errorf("%d emails for one flapping server; want the flips coalesced, not a storm", len(msgs))
	}
}
