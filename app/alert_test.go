package app

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/vigilops/vigil/alert"
	"github.com/vigilops/vigil/alert/alerttest"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/store"
)

func runVigil(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestAlertCLISetTestShow runs `vigil alert set`, `test` and `show`
// in-process against a real SMTP server with STARTTLS and a login: the
// password lands in a 0600 file (no keyring here) and in no output; the test
// email arrives; a refused recipient and an unreachable server exit 1 with
// a clear reason; bad flags and bad settings exit 2 naming the flag.
func TestAlertCLISetTestShow(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "") // no Secret Service: the file fallback
	const pw = "Cli-Secret-9931"
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS, User: "ops", Password: pw,
		Refuse: map[string]*smtp.SMTPError{"gone@example.com": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}})
	dir := t.TempDir()
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte(pw+"\n"), 0o600)
	port := strconv.Itoa(srv.Port)
	set := func(extra ...string) (int, string, string) {
		args := []string{"alert", "set", "--smtp-host", "127.0.0.1", "--smtp-port", port, "--tls", "starttls",
			"--from", "vigil@example.com", "--ca-file", srv.CAFile, "--data", dir}
		return runVigil(append(args, extra...)...)
	}
	var outputs []string
	check := func(wantCode int, code int, stdout, stderr string, want ...string) {
		t.Helper()
		outputs = append(outputs, stdout, stderr)
		if code != wantCode {
			t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, wantCode, stdout, stderr)
		}
		for _, w := range want {
			if !strings.Contains(stdout+stderr, w) {
				t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", w, stdout, stderr)
			}
		}
	}

	code, stdout, stderr := set("--to", "ops@example.com, oncall@example.com", "--user", "ops", "--password-file", pwFile,
		"--rule", "critical", "--rule", "all:lag=dba@example.com", "--quiet", "22:00-07:00", "--coalesce", "1ms")
	check(0, code, stdout, stderr, "settings saved", "kept in "+alert.PasswordFile)
	fi, err := os.Stat(filepath.Join(dir, alert.PasswordFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v, %v; want mode 0600", fi, err)
	}

	code, stdout, stderr = runVigil("alert", "test", "--data", dir)
	check(0, code, stdout, stderr, "accepted it: 250 ")
	m := srv.Wait(1, 10*time.Second)[0]
	if !m.TLS || m.User != "ops" || strings.Join(m.To, ",") != "dba@example.com,oncall@example.com,ops@example.com" ||
		!strings.HasPrefix(alerttest.Header(m.Data, "Subject"), "[TEST]") {
		t.Errorf("test message: TLS %v user %q to %v subject %q", m.TLS, m.User, m.To, alerttest.Header(m.Data, "Subject"))
	}

	code, stdout, stderr = runVigil("alert", "show", "--data", dir)
	check(0, code, stdout, stderr, "127.0.0.1:"+port+" (starttls), login ops", "critical", "all:lag=dba@example.com",
		"22:00-07:00", "Outbox: 0 pending, 0 sent, 0 failed")

	// Setting again without --password-file keeps the password of the same user.
	code, stdout, stderr = set("--to", "gone@example.com", "--user", "ops", "--coalesce", "1ms")
	check(0, code, stdout, stderr)
	code, stdout, stderr = runVigil("alert", "test", "--data", dir)
	check(1, code, stdout, stderr, "rejected recipient gone@example.com: 550 5.1.1 no such user")

	// A refused alert is in the outbox with the server's reply.
	db, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	o := alert.New(db, newAlertSource(db, dir, nil), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	if err := o.Enqueue(ctx, model.Event{Server: "K2server1", System: "k2-san", Kind: model.EventDown, Severity: model.SeverityCritical}, alert.Context{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, err := o.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Failed == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the refused alert was not recorded: %+v", st)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v", err)
	}
	db.Close()
	code, stdout, stderr = runVigil("alert", "show", "--data", dir)
	check(0, code, stdout, stderr, "Outbox: 0 pending, 0 sent, 1 failed", "[CRITICAL] K2server1 down (k2-san)", "550 5.1.1 no such user")

	// The mail server is not there.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	code, stdout, stderr = runVigil("alert", "set", "--smtp-host", "127.0.0.1", "--smtp-port", closed, "--tls", "starttls",
		"--from", "vigil@example.com", "--to", "ops@example.com", "--data", dir)
	check(0, code, stdout, stderr)
	code, stdout, stderr = runVigil("alert", "test", "--data", dir)
	check(1, code, stdout, stderr, "cannot talk to mail server 127.0.0.1:"+closed, "connection refused")

	// Bad flags and settings: exit 2, naming the flag.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"alert", "set", "--smtp-host", "smtp.example.com", "--tls", "none", "--from", "a@example.com", "--to", "b@example.com", "--data", dir},
			[]string{"--tls: none (plain text) is allowed only for a mail server on this machine"}},
		{[]string{"alert", "set", "--smtp-host", "smtp.example.com", "--smtp-port", "70000", "--tls", "tls", "--from", "nobody", "--to", "b@example.com", "--data", dir},
			[]string{"--smtp-port: 70000 is not a port", "--from: \"nobody\" is not an email address"}},
		{[]string{"alert", "set", "--tls", "starttls", "--data", dir}, []string{"--smtp-host: required", "--from: required", "--to: at least one"}},
		{[]string{"alert", "set", "--smtp-host", "h", "--tls", "tls", "--from", "a@example.com", "--to", "b@example.com", "--user", "u", "--data", t.TempDir()},
			[]string{"--password: required with a user"}},
		{[]string{"alert", "set", "--rule", "urgent", "--data", dir}, []string{`unknown severity "urgent"`}},
		{[]string{"alert", "set", "--bogus", "--data", dir}, []string{"flag provided but not defined: -bogus"}},
		{[]string{"alert", "frobnicate"}, []string{`unknown command "frobnicate"`}},
		{[]string{"alert", "test", "--data", t.TempDir()}, []string{"email alerts are not set up"}},
	} {
		code, stdout, stderr := runVigil(tc.args...)
		check(2, code, stdout, stderr, tc.want...)
	}
	for _, out := range outputs {
		if strings.Contains(out, pw) {
			t.Errorf("the password is in the output:\n%s", out)
		}
	}
}
