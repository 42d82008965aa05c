package app

import (
	"io"
	"mime/quotedprintable"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilops/vigil/alert/alerttest"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/monitor"
)

// TestKilledAgentSendsOneEmail: with alerts set up (`vigil alert set`, a
// real SMTP server with STARTTLS in the test), killing a paired agent
// process makes `vigil watch` print a down event and the console send
// exactly one email about it, saying what happened, where and what the
// console knows now.
func TestKilledAgentSendsOneEmail(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS})
	data := t.TempDir()
	if code, out, errOut := runVigil("alert", "set", "--smtp-host", "127.0.0.1", "--smtp-port", strconv.Itoa(srv.Port),
		"--tls", "starttls", "--ca-file", srv.CAFile, "--from", "vigil@example.com", "--to", "oncall@example.com",
		"--coalesce", "1s", "--data", data); code != 0 {
		t.Fatalf("vigil alert set: exit %d\n%s%s", code, out, errOut)
	}
	agents := startRoleAgents(t, data, []string{"K2server1", "K2server2"}, []string{"primary", "standby"})

	c, updates, _ := testConsole(t, data)
	events, cancel := c.mon.SubscribeEvents()
	defer cancel()
	waitFor(t, updates, 10*time.Second, "both agents up", func() bool {
		up := 0
		for _, v := range c.mon.Snapshot() {
			if v.System == "watched" && v.Health == model.HealthUp {
				up++
			}
		}
		return up == 2
	})
	agents[0].cmd.Process.Signal(syscall.SIGKILL)
	deadline := time.After(10 * time.Second)
	for got := false; !got; {
		select {
		case e := <-events:
			got = e.Kind == model.EventDown && e.Server == "K2server1"
		case <-deadline:
			t.Fatal("no down event within 10 s")
		}
	}
	msgs := srv.Wait(1, 30*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d emails, want 1", len(msgs))
	}
	raw := msgs[0].Data
	if i := strings.Index(string(raw), "\r\n\r\n"); i >= 0 {
		raw = raw[i+4:]
	}
	decoded, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(string(raw))))
	if err != nil {
		t.Fatal(err)
	}
	body := string(decoded)
	subject := alerttest.Header(msgs[0].Data, "Subject")
	for _, want := range []string{"K2server1", "down", "watched"} {
		if !strings.Contains(subject+body, want) {
			t.Errorf("email lacks %q:\n%s", want, body)
		}
	}
	if !strings.Contains(body, "K2server2: standby, up") || !strings.Contains(body, "recover from a failover") {
		t.Errorf("email does not say what the console knows now:\n%s", body)
	}
	// Nothing more comes for the same event.
	time.Sleep(3 * time.Second)
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d emails after waiting, want still 1", n)
	}
}

// TestFlappingServerSendsOneFlappingAlert: a server whose role flips again
// and again within the flapping window makes one flapping event and one
// alert about it, not a storm; its later flips are not mailed one by one.
func TestFlappingServerSendsOneFlappingAlert(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS})
	data := t.TempDir()
	if code, out, errOut := runVigil("alert", "set", "--smtp-host", "127.0.0.1", "--smtp-port", strconv.Itoa(srv.Port),
		"--tls", "starttls", "--ca-file", srv.CAFile, "--from", "vigil@example.com", "--to", "oncall@example.com",
		"--coalesce", "1s", "--data", data); code != 0 {
		t.Fatalf("vigil alert set: exit %d\n%s%s", code, out, errOut)
	}
	agents := startRoleAgents(t, data, []string{"K2server1", "K2server2"}, []string{"primary", "standby"})
	c, updates, _ := testConsole(t, data)
	events, cancel := c.mon.SubscribeEvents()
	defer cancel()
	waitFor(t, updates, 10*time.Second, "both agents up", func() bool {
		up := 0
		for _, v := range c.mon.Snapshot() {
			if v.System == "watched" && v.Health == model.HealthUp {
				up++
			}
		}
		return up == 2
	})
	// K2server2 flips between standby and out of service 12 times.
	roles := []string{"out-of-service", "standby"}
	for i := 0; i < 12; i++ {
		os.WriteFile(agents[1].roleFile, []byte(roles[i%2]), 0o644)
		time.Sleep(300 * time.Millisecond)
	}
	var flapping, single int
	deadline := time.After(5 * time.Second)
collect:
	for {
		select {
		case e := <-events:
			switch {
			case e.Kind == model.EventFlapping && e.Server == "K2server2":
				flapping++
			case e.Kind == model.EventRole && e.Server == "K2server2":
				single++
			}
		case <-deadline:
			break collect
		}
	}
	if flapping != 1 || single > monitor.DefaultFlapCount {
		t.Errorf("12 flips: %d flapping events and %d role events, want 1 and at most %d", flapping, single, monitor.DefaultFlapCount)
	}
	// Every message together mentions flapping once.
	time.Sleep(2 * time.Second)
	msgs := srv.Messages()
	mentions := 0
	for _, m := range msgs {
		mentions += strings.Count(strings.ToLower(alerttest.Header(m.Data, "Subject")), "flapping")
	}
	if mentions != 1 {
		t.Errorf("%d emails, %d subjects mention flapping, want exactly 1", len(msgs), mentions)
	}
	if len(msgs) > 3 {
		t.Errorf("%d emails for one flapping server; want the flips coalesced, not a storm", len(msgs))
	}
}
