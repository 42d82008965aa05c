package alert

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/vigilops/vigil/alert/alerttest"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/store"
)

// TestAlertSTARTTLSWithAuthPlainDelivers sends one alert through a real
// SMTP server with STARTTLS and AUTH PLAIN, and checks the message: headers,
// CRLF line endings, what happened, where, when, what the console knows,
// the procedure, and a body line that needs dot-stuffing.
func TestAlertSTARTTLSWithAuthPlainDelivers(t *testing.T) {
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS, User: "ops", Password: "pw-Secret-4711"})
	st := openStore(t, t.TempDir())
	s := settingsFor(srv, TLSStartTLS, "Ops Team <ops@example.com>", "oncall@example.com")
	s.User, s.Password, s.Coalesce = "ops", "pw-Secret-4711", Duration(10*time.Millisecond)
	o, logBuf := testOutbox(t, st, staticSource(s))
	runOutbox(t, o)

	e := event("K2server1", "k2-san", model.EventDown, model.SeverityCritical)
	e.From, e.To, e.Detail = "up", "down", "watch stream reset by peer"
	dots := strings.Repeat(".", 200) // quoted-printable breaks it into lines that start with a dot
	if err := o.Enqueue(context.Background(), e, Context{Summary: "K2server2 is primary; 1 of 2 up " + dots, Procedure: "k2san-failover"}); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Wait(1, mailWait)
	m := msgs[0]
	if !m.TLS || m.User != "ops" {
		t.Errorf("TLS=%v user=%q, want a TLS session logged in as ops", m.TLS, m.User)
	}
	if m.From != "vigil@example.com" || strings.Join(m.To, ",") != "oncall@example.com,ops@example.com" {
		t.Errorf("envelope from %q to %q", m.From, m.To)
	}
	raw := string(m.Data)
	if strings.Contains(strings.ReplaceAll(raw, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(raw, "\r\n", ""), "\r") {
		t.Errorf("message has bare line endings:\n%q", raw)
	}
	h, body := decoded(t, m.Data)
	if got := h.Get("Subject"); got != "[CRITICAL] K2server1 down (k2-san)" {
		t.Errorf("Subject = %q", got)
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<vigil.") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID = %q", id)
	}
	if from, err := mail.ParseAddress(h.Get("From")); err != nil || from.Address != "vigil@example.com" {
		t.Errorf("From = %q (%v)", h.Get("From"), err)
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 2 {
		t.Errorf("To = %q (%v)", h.Get("To"), err)
	}
	for _, want := range []string{
		"What happened  K2server1 is down, from up to down: watch stream reset by peer",
		"Where          server K2server1, system k2-san",
		"When           Sun 1 Mar 2026 13:02:11 UTC",
		"Now            K2server2 is primary; 1 of 2 up " + dots,
		"Procedure      k2san-failover",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	waitFor(t, "the message to be recorded as sent", func() bool { return status(t, o).Sent == 1 })
	if st := status(t, o); st.Pending != 0 || st.Failed != 0 {
		t.Errorf("status %+v", st)
	}
	if strings.Contains(logBuf.String(), "pw-Secret-4711") {
		t.Error("the password is in the log")
	}
}

// TestAlertImplicitTLSAndAuthLogin sends the test message over implicit
// TLS to a server that offers only AUTH LOGIN, and reports its reply.
func TestAlertImplicitTLSAndAuthLogin(t *testing.T) {
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.Implicit, User: "ops", Password: "pw", Mechanisms: []string{"LOGIN"}})
	s := settingsFor(srv, TLSImplicit)
	s.User, s.Password = "ops", "pw"
	reply, err := Test(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(reply, "250 ") {
		t.Errorf("reply %q", reply)
	}
	m := srv.Wait(1, mailWait)[0]
	if !m.TLS || m.User != "ops" {
		t.Errorf("TLS=%v user=%q", m.TLS, m.User)
	}
	if h, _ := decoded(t, m.Data); !strings.HasPrefix(h.Get("Subject"), "[TEST] ") {
		t.Errorf("subject %q", h.Get("Subject"))
	}
}

// TestAlertServerDownThenBackDeliversOnce queues an alert while the mail
// server is down; the outbox keeps retrying, and once the server is back on
// the same port the alert arrives exactly once.
func TestAlertServerDownThenBackDeliversOnce(t *testing.T) {
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS})
	srv.Stop()
	st := openStore(t, t.TempDir())
	s := settingsFor(srv, TLSStartTLS)
	s.Coalesce = Duration(time.Millisecond)
	src := &countingSource{staticSource: staticSource(s)}
	o, _ := testOutbox(t, st, src)
	runOutbox(t, o)
	if err := o.Enqueue(context.Background(), event("AS-1", "redstor", model.EventDown, model.SeverityCritical), Context{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three failed attempts", func() bool {
		q := status(t, o).Queue
		return len(q) == 1 && q[0].Attempts >= 3
	})
	if q := status(t, o).Queue[0]; !strings.Contains(q.LastError, "cannot talk to mail server") {
		t.Errorf("last error %q", q.LastError)
	}
	srv.Restart()
	srv.Wait(1, mailWait)
	waitFor(t, "the alert to be recorded as sent", func() bool { return status(t, o).Sent == 1 })
	// Let the sender go round a few more times: nothing is sent again.
	sessions := srv.Sessions()
	waitRounds(t, src, 3)
	if n := len(srv.Messages()); n != 1 || srv.Sessions() != sessions {
		t.Errorf("%d messages and %d more sessions after delivery, want 1 and none", n, srv.Sessions()-sessions)
	}
}

// TestAlertOutboxSurvivesRestart queues an alert while the server is down,
// closes the outbox and the store, opens them again, and the pending alert
// goes out once.
func TestAlertOutboxSurvivesRestart(t *testing.T) {
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS})
	srv.Stop()
	dir := t.TempDir()
	s := settingsFor(srv, TLSStartTLS)
	s.Coalesce = Duration(time.Millisecond)

	st1, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	o1, _ := testOutbox(t, st1, staticSource(s))
	stop := runOutbox(t, o1)
	e := event("AS-1", "redstor", model.EventSplitBrain, model.SeverityCritical)
	if err := o1.Enqueue(context.Background(), e, Context{Summary: "two masters"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a failed attempt", func() bool {
		q := status(t, o1).Queue
		return len(q) == 1 && q[0].Attempts >= 1
	})
	stop()
	if err := st1.Close(); err != nil {
		t.Fatal(err)
	}

	srv.Restart()
	st2 := openStore(t, dir)
	src2 := &countingSource{staticSource: staticSource(s)}
	o2, _ := testOutbox(t, st2, src2)
	if got := status(t, o2); got.Pending != 1 {
		t.Fatalf("after reopening, %d pending, want 1", got.Pending)
	}
	runOutbox(t, o2)
	m := srv.Wait(1, mailWait)[0]
	if _, body := decoded(t, m.Data); !strings.Contains(body, "two masters") {
		t.Errorf("body:\n%s", body)
	}
	waitFor(t, "sent", func() bool { return status(t, o2).Sent == 1 })
	waitRounds(t, src2, 3)
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

// TestAlertFirstGoesAtOnceTheRestCoalesce: the first email of an incident
// leaves at once, with the events of the same moment (a server down and
// its system failing over); what follows within the window after it waits
// for the window's end and goes as one message that says what changed
// since. An event after a quiet window is a new incident, sent at once.
func TestAlertFirstGoesAtOnceTheRestCoalesce(t *testing.T) {
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS})
	st := openStore(t, t.TempDir())
	o, _ := testOutbox(t, st, staticSource(settingsFor(srv, TLSStartTLS))) // default window: 10 s
	o.loc = time.UTC
	start := time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	o.now = clk.Now
	ctx := context.Background()
	enqueue := func(at time.Duration, e model.Event, summary string) {
		t.Helper()
		clk.Set(start.Add(at))
		e.Time = clk.Now()
		if err := o.Enqueue(ctx, e, Context{Summary: summary}); err != nil {
			t.Fatal(err)
		}
	}
	sendAt := func(at time.Duration) {
		clk.Set(start.Add(at))
		o.sendDue(ctx)
	}
	enqueue(0, event("K2server1", "k2-san", model.EventDown, model.SeverityCritical), "state 0")
	enqueue(200*time.Millisecond, event("", "k2-san", string(model.VerdictFailingOver), model.SeverityWarning), "state 1")
	sendAt(500 * time.Millisecond)
	if srv.Sessions() != 0 {
		t.Fatal("the first email went before the events of the same moment could join it")
	}
	sendAt(FirstAlertSettle)
	first := srv.Wait(1, mailWait)[0]
	h, body := decoded(t, first.Data)
	if got := h.Get("Subject"); !strings.HasPrefix(got, "[CRITICAL] 2 events: K2server1 down (k2-san), k2-san FAILING OVER") {
		t.Errorf("first Subject = %q", got)
	}
	if strings.Contains(body, "since the alert") {
		t.Errorf("the first email of an incident says it follows another:\n%s", body)
	}

	// What follows within the window is gathered into the next message.
	burst := []model.Event{
		event("K2server2", "k2-san", model.EventRole, model.SeverityWarning),
		event("", "k2-san", string(model.VerdictFailedOver), model.SeverityWarning),
		event("AS-2", "redstor", model.EventUnreachable, model.SeverityWarning),
	}
	for i, e := range burst {
		enqueue(time.Duration(2+i)*time.Second, e, fmt.Sprintf("state %d", i+2))
	}
	sendAt(6 * time.Second)
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages before the window after the first closed, want 1", n)
	}
	sendAt(FirstAlertSettle + 10*time.Second)
	msgs := srv.Wait(2, mailWait)
	h, body = decoded(t, msgs[1].Data)
	if got := h.Get("Subject"); !strings.HasPrefix(got, "[WARNING] 3 events: k2-san FAILED OVER, K2server2 role (k2-san)") {
		t.Errorf("second Subject = %q", got)
	}
	if !strings.Contains(body, "What changed since the alert of 14:00:01 UTC") {
		t.Errorf("the second email does not say what it follows:\n%s", body)
	}
	for i, e := range burst {
		if want := fmt.Sprintf("%d. [%s] %s", i+1, strings.ToUpper(string(e.Severity)), headline(model.OutboxEvent{Server: e.Server, System: e.System, Kind: e.Kind})); !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
		if !strings.Contains(body, fmt.Sprintf("state %d", i+2)) {
			t.Errorf("body lacks the summary of event %d", i+2)
		}
	}

	// A quiet window later, a new incident: at once again.
	enqueue(40*time.Second, event("AS-1", "redstor", model.EventDown, model.SeverityCritical), "")
	sendAt(40*time.Second + FirstAlertSettle)
	srv.Wait(3, mailWait)
	if st := status(t, o); st.Sent != 3 || st.Pending != 0 {
		t.Errorf("status %+v, want 3 sent", st)
	}
}

// TestAlertRulesRouteBySeverityAndKind sends critical events to on-call and
// everything from warning up to ops, and drops info; messages coalesce per
// recipient list.
func TestAlertRulesRouteBySeverityAndKind(t *testing.T) {
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS})
	st := openStore(t, t.TempDir())
	s := settingsFor(srv, TLSStartTLS)
	s.Rules = []Rule{
		{Severities: []model.Severity{model.SeverityCritical}, To: []string{"oncall@example.com"}},
		{Severities: []model.Severity{model.SeverityWarning, model.SeverityCritical}},
		{Kinds: []string{model.EventLag}, To: []string{"dba@example.com"}},
	}
	o, _ := testOutbox(t, st, staticSource(s))
	clk := &clock{t: time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)}
	o.now = clk.Now
	ctx := context.Background()
	for _, e := range []model.Event{
		event("K2server1", "k2-san", model.EventDown, model.SeverityCritical), // oncall + ops
		event("K2server1", "k2-san", model.EventRole, model.SeverityWarning),  // ops
		event("K2server1", "k2-san", model.EventUp, model.SeverityInfo),       // nobody
		event("AS-1", "redstor", model.EventLag, model.SeverityInfo),          // dba
	} {
		if err := o.Enqueue(ctx, e, Context{}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Set(clk.Now().Add(time.Minute))
	o.sendDue(ctx)
	got := map[string]string{}
	for _, m := range srv.Wait(3, mailWait) {
		h, _ := decoded(t, m.Data)
		got[strings.Join(m.To, ",")] = h.Get("Subject")
	}
	want := map[string]string{
		"oncall@example.com,ops@example.com": "[CRITICAL] K2server1 down (k2-san)",
		"ops@example.com":                    "[WARNING] K2server1 role (k2-san)",
		"dba@example.com":                    "[INFO] AS-1 lag (redstor)",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sent %v\nwant %v", got, want)
	}
	if n := len(srv.Messages()); n != 3 {
		t.Errorf("%d messages, want 3", n)
	}
}

// TestAlertQuietHoldsNonCriticalUntilEnd: during quiet hours a critical
// alert goes out at once; warnings wait, gather, and go out as one message
// when quiet hours end.
func TestAlertQuietHoldsNonCriticalUntilEnd(t *testing.T) {
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS})
	st := openStore(t, t.TempDir())
	s := settingsFor(srv, TLSStartTLS)
	s.Quiet = QuietHours{Start: "22:00", End: "07:00"}
	o, _ := testOutbox(t, st, staticSource(s))
	o.idle = 24 * time.Hour
	clk := &clock{t: time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)}
	o.now = clk.Now
	ctx := context.Background()
	enqueue := func(at time.Time, e model.Event) {
		t.Helper()
		clk.Set(at)
		e.Time = at
		if err := o.Enqueue(ctx, e, Context{}); err != nil {
			t.Fatal(err)
		}
	}
	night := func(h, m int) time.Time {
		d := 1
		if h < 12 {
			d = 2
		}
		return time.Date(2026, 3, d, h, m, 0, 0, time.UTC)
	}
	enqueue(night(23, 0), event("AS-1", "redstor", model.EventLag, model.SeverityWarning))
	clk.Set(night(23, 30))
	o.sendDue(ctx)
	enqueue(night(23, 31), event("AS-2", "redstor", model.EventDown, model.SeverityCritical))
	clk.Set(night(23, 45))
	o.sendDue(ctx)
	m := srv.Wait(1, mailWait)[0]
	if h, _ := decoded(t, m.Data); h.Get("Subject") != "[CRITICAL] AS-2 down (redstor)" {
		t.Errorf("during quiet hours sent %q, want only the critical alert", h.Get("Subject"))
	}
	enqueue(night(2, 0), event("AS-1", "redstor", model.EventFlapping, model.SeverityWarning))
	clk.Set(night(6, 59))
	if next := o.sendDue(ctx); !next.Equal(night(7, 0)) {
		t.Errorf("next send at %v, want the end of quiet hours", next)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages before quiet hours end, want 1", n)
	}
	clk.Set(night(7, 0))
	o.sendDue(ctx)
	msgs := srv.Wait(2, mailWait)
	if h, _ := decoded(t, msgs[1].Data); !strings.HasPrefix(h.Get("Subject"), "[WARNING] 2 events: AS-1 lag (redstor), AS-1 flapping") {
		t.Errorf("after quiet hours sent %q, want both held warnings in one message", h.Get("Subject"))
	}
	if st := status(t, o); st.Sent != 2 || st.Pending != 0 {
		t.Errorf("status %+v", st)
	}
}

// TestAlertRecipientRejectedFailsWithoutRetry: a 550 for the only
// recipient records the message as failed with the server's reply, visible
// in Status, and it is never tried again; a 550 for one of two recipients
// still delivers to the other and shows the refusal.
func TestAlertRecipientRejectedFailsWithoutRetry(t *testing.T) {
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS, Refuse: map[string]*smtp.SMTPError{
		"gone@example.com": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"},
	}})
	st := openStore(t, t.TempDir())
	s := settingsFor(srv, TLSStartTLS, "gone@example.com")
	s.Rules = []Rule{{Severities: []model.Severity{model.SeverityCritical}}, {Kinds: []string{model.EventLag}, To: []string{"gone@example.com", "dba@example.com"}}}
	o, logBuf := testOutbox(t, st, staticSource(s))
	clk := &clock{t: time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)}
	o.now = clk.Now
	ctx := context.Background()
	if err := o.Enqueue(ctx, event("AS-1", "redstor", model.EventDown, model.SeverityCritical), Context{}); err != nil {
		t.Fatal(err)
	}
	clk.Set(clk.Now().Add(time.Minute))
	o.sendDue(ctx)
	stat := status(t, o)
	if stat.Failed != 1 || stat.Pending != 0 || len(stat.Failures) != 1 {
		t.Fatalf("status %+v, want one failure", stat)
	}
	f := stat.Failures[0]
	for _, want := range []string{"550 5.1.1 mailbox unavailable", "gone@example.com"} {
		if !strings.Contains(f.Reply, want) {
			t.Errorf("failure reason %q lacks %q", f.Reply, want)
		}
	}
	if f.Subject != "[CRITICAL] AS-1 down (redstor)" || f.State != model.OutboxFailed {
		t.Errorf("failure %+v", f)
	}
	if !strings.Contains(logBuf.String(), "not retrying") {
		t.Error("the refusal is not in the log")
	}
	sessions := srv.Sessions()
	for i := 0; i < 5; i++ {
		clk.Set(clk.Now().Add(time.Hour))
		o.sendDue(ctx)
	}
	if srv.Sessions() != sessions {
		t.Errorf("a refused message was tried again")
	}

	if err := o.Enqueue(ctx, event("AS-1", "redstor", model.EventLag, model.SeverityWarning), Context{}); err != nil {
		t.Fatal(err)
	}
	clk.Set(clk.Now().Add(time.Minute))
	o.sendDue(ctx)
	m := srv.Wait(1, mailWait)[0]
	if strings.Join(m.To, ",") != "dba@example.com" {
		t.Errorf("delivered to %v", m.To)
	}
	stat = status(t, o)
	if stat.Sent != 1 || len(stat.Failures) != 2 || !strings.Contains(stat.Failures[0].Rejected, "gone@example.com: 550 5.1.1") {
		t.Errorf("status %+v, want the partial refusal listed", stat)
	}
}

// TestAlertTestReportsClearErrors checks what Test says for each way a
// send fails: unknown host, nothing listening, TLS mismatch or untrusted
// certificate, wrong password, refused recipient, and plain text to a
// machine that is not this one.
func TestAlertTestReportsClearErrors(t *testing.T) {
	ctx := context.Background()
	starttls := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS, User: "ops", Password: "right-pw",
		Refuse: map[string]*smtp.SMTPError{"gone@example.com": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never greets
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	impatient := newClient()
	impatient.timeouts = timeouts{Dial: time.Second, Command: 200 * time.Millisecond, Submission: time.Second, Attempt: 5 * time.Second}

	noDNS := newClient()
	noDNS.resolver = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS in tests")
	}}
	for _, tc := range []struct {
		name   string
		cl     client
		s      func() Settings
		stage  Stage
		want   string
		perm   bool
		hidden string
	}{
		{"dns", noDNS, func() Settings {
			s := settingsFor(starttls, TLSStartTLS)
			s.Host = "mail.example.com"
			return s
		}, StageDNS, "cannot find mail server mail.example.com", false, ""},
		{"refused", newClient(), func() Settings {
			s := settingsFor(starttls, TLSStartTLS)
			s.Port = closedPort
			return s
		}, StageConnect, "connection refused", false, ""},
		{"implicit TLS to a STARTTLS port", newClient(), func() Settings {
			s := settingsFor(starttls, TLSImplicit)
			s.User, s.Password = "ops", "right-pw"
			return s
		}, StageTLS, "TLS with mail server", false, ""},
		{"untrusted certificate", newClient(), func() Settings {
			s := settingsFor(starttls, TLSStartTLS)
			s.RootCAs = nil
			return s
		}, StageTLS, "certificate", false, ""},
		{"wrong password", newClient(), func() Settings {
			s := settingsFor(starttls, TLSStartTLS)
			s.User, s.Password = "ops", "wrong-pw-1234"
			return s
		}, StageAuth, "refused the login of user ops: 535 5.7.8", true, "wrong-pw-1234"},
		{"recipient rejected", newClient(), func() Settings {
			s := settingsFor(starttls, TLSStartTLS, "gone@example.com")
			s.User, s.Password = "ops", "right-pw"
			return s
		}, StageRecipient, "rejected recipient gone@example.com: 550 5.1.1 no such user", true, "right-pw"},
		{"server never greets", impatient, func() Settings {
			s := settingsFor(starttls, TLSStartTLS)
			s.Port = silent.Addr().(*net.TCPAddr).Port
			return s
		}, StageConnect, "no answer in time", false, ""},
		{"plain text to another machine", newClient(), func() Settings {
			// 192.0.2.1 is TEST-NET-1; the dialer refuses before connecting.
			s := settingsFor(starttls, TLSNone)
			s.Host = "192.0.2.1"
			return s
		}, StageConnect, "refusing plain-text SMTP", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cl.timeouts == defaultTimeouts {
				tc.cl.timeouts = timeouts{Dial: 30 * time.Second, Command: 30 * time.Second, Submission: 30 * time.Second, Attempt: 60 * time.Second}
			}
			s := tc.s()
			var err error
			if tc.name == "plain text to another machine" {
				_, err = tc.cl.send(ctx, s, envelope{from: s.From, to: s.To, data: []byte("x\r\n")}, nil) // Validate would refuse first
			} else {
				_, err = tc.cl.test(ctx, s)
			}
			var se *SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a SendError", err)
			}
			if se.Stage != tc.stage || se.Permanent() != tc.perm || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("stage %s permanent %v: %v\nwant stage %s permanent %v containing %q", se.Stage, se.Permanent(), err, tc.stage, tc.perm, tc.want)
			}
			if tc.hidden != "" && strings.Contains(err.Error(), tc.hidden) {
				t.Errorf("the password is in the error: %v", err)
			}
		})
	}
}

// TestAlertPasswordFile0600AndNeverLogged keeps the password in a file
// (no keyring here), checks its mode, sends through the store-backed source
// with a failing and then a working login, and finds the password in no log
// line, status or printed settings.
func TestAlertPasswordFile0600AndNeverLogged(t *testing.T) {
	const pw = "Hunter2-Very-Secret"
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS, User: "ops", Password: pw})
	dir := t.TempDir()
	st := openStore(t, dir)
	secrets := NewSecrets(dir, nil)
	secrets.NoKeyring = true
	ctx := context.Background()
	ref, err := secrets.Put(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, PasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v, want 0600", fi.Mode().Perm())
	}
	if got, err := secrets.Get(ctx, ref); err != nil || got.Reveal() != pw {
		t.Errorf("Get(%q) = %v, %v", ref, got, err)
	}

	s := settingsFor(srv, TLSStartTLS)
	s.RootCAs = nil
	s.CAFile = srv.CAFile
	s.User, s.PasswordRef = "ops", ref
	s.Coalesce = Duration(time.Millisecond)
	if err := Save(ctx, st, s); err != nil {
		t.Fatal(err)
	}
	js, _ := st.AlertSettingsJSON(ctx)
	if strings.Contains(js, pw) {
		t.Error("the password is in the store")
	}
	o, logBuf := testOutbox(t, st, &StoreSource{Store: st, Secrets: secrets})
	runOutbox(t, o)
	if err := o.Enqueue(ctx, event("AS-1", "redstor", model.EventDown, model.SeverityCritical), Context{}); err != nil {
		t.Fatal(err)
	}
	srv.Wait(1, mailWait)
	waitFor(t, "sent", func() bool { return status(t, o).Sent == 1 })

	// A wrong password: refused for good, and the reason names the login.
	if _, err := secrets.Put(ctx, "Wrong-"+pw); err != nil {
		t.Fatal(err)
	}
	if err := o.Enqueue(ctx, event("AS-2", "redstor", model.EventDown, model.SeverityCritical), Context{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refused login", func() bool { return status(t, o).Failed == 1 })
	stat := status(t, o)
	if !strings.Contains(stat.Failures[0].Reply, "refused the login of user ops") {
		t.Errorf("failure %q", stat.Failures[0].Reply)
	}
	full, err := (&StoreSource{Store: st, Secrets: secrets}).ForSending(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	printed := fmt.Sprintf("%v %+v %#v %s", full, full, full, full.Password)
	logBuf.Write([]byte(printed))
	for _, where := range []string{logBuf.String(), fmt.Sprint(stat)} {
		if strings.Contains(where, pw) {
			t.Errorf("the password appears in:\n%s", where)
		}
	}
}
