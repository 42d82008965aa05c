package ui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/alert"
	"github.com/vigilops/vigil/model"
)

// fakeAlerts stands in for the console's alert settings: it keeps what is
// saved (checking it as alert.Save does), records every save and test, and
// answers tests with the test's function, optionally held at a gate.
type fakeAlerts struct {
	mu        sync.Mutex
	saved     alert.Settings
	have      bool
	saves     []alert.Settings
	passwords []alert.Secret
	tests     []alert.Settings
	answer    func(alert.Settings) (string, error)
	gate      chan struct{}
	outbox    alert.Status
}

var _ AlertConsole = (*fakeAlerts)(nil)

func (f *fakeAlerts) AlertSettings(context.Context) (alert.Settings, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.saved, f.have, nil
}

func (f *fakeAlerts) SaveAlertSettings(_ context.Context, s alert.Settings, pw alert.Secret) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saves = append(f.saves, s)
	f.passwords = append(f.passwords, pw)
	check := s
	check.Password = pw
	if err := check.Validate(); err != nil {
		return err
	}
	if pw != "" {
		s.PasswordRef = "keyring:smtp-password /data"
	}
	f.saved, f.have = s, true
	return nil
}

func (f *fakeAlerts) TestAlert(ctx context.Context, s alert.Settings, _ alert.Secret) (string, error) {
	f.mu.Lock()
	f.tests = append(f.tests, s)
	answer, gate := f.answer, f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return answer(s)
}

func (f *fakeAlerts) AlertOutbox(context.Context) (alert.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.outbox, nil
}

func (f *fakeAlerts) savedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.saves)
}

// startAlertView starts the whole view with alert settings over fa, and
// waits for the saved settings to be read.
func startAlertView(t *testing.T, fa *fakeAlerts) (*View, *AlertView, uiQueue) {
	t.Helper()
	test.NewTempApp(t)
	q := make(uiQueue, 64)
	ctx, cancel := context.WithCancel(context.Background())
	feed := newFakeFeed(0, pairedRedstor()...)
	w := test.NewTempWindow(t, widget.NewLabel("starting"))
	v := startConsole(ctx, w, Console{Feed: feed, Operator: newFakeOperator(), Alerts: fa},
		loop{now: func() time.Time { return t0 }, ticks: make(chan time.Time), stop: func() {}, do: q.do})
	w.SetContent(v)
	w.Resize(fyne.NewSize(1100, 720))
	t.Cleanup(func() {
		cancel()
		waitClosed(t, feed.cancelled, "the feed's cancel")
	})
	a := v.alerts
	q.waitFor(t, "the saved settings", func() bool { return a.saveStatus.Visible() || a.host.Text != "" })
	return v, a, q
}

// fillGood fills the form with settings that pass.
func fillGood(a *AlertView) {
	a.host.SetText("smtp.example.com")
	a.port.SetText("")
	a.mode.SetSelected(tlsLabel(alert.TLSStartTLS))
	a.from.SetText("vigil@example.com")
	a.to.SetText("ops@example.com, oncall@example.com")
	a.user.SetText("vigil")
	a.password.SetText("s3cret-Night")
	a.rules.SetText("critical=oncall@example.com\nwarning,critical:lag")
	a.quiet.SetText("22:00-07:00")
	a.coalesce.SetText("30s")
}

func TestAlertSettingsBadPortAndAddressShowErrorsAndSaveNothing(t *testing.T) {
	fa := &fakeAlerts{}
	_, a, _ := startAlertView(t, fa)
	if !strings.Contains(a.saveStatus.Text, "not set up yet") {
		t.Errorf("no settings saved yet, but the form says %q", a.saveStatus.Text)
	}
	fillGood(a)
	a.port.SetText("99999")
	a.from.SetText("vigil at example")
	test.Tap(a.save)

	errs := a.FieldErrors()
	if !strings.Contains(errs[fieldPort], "99999 is not a port") || !strings.Contains(errs[fieldFrom], `"vigil at example" is not an email address`) {
		t.Errorf("field errors %q; want the port and the sender named", errs)
	}
	if len(errs) != 2 {
		t.Errorf("errors shown beside %d fields, want 2: %q", len(errs), errs)
	}
	if !strings.Contains(a.saveStatus.Text, "Not saved: fix the 2 settings marked in red") {
		t.Errorf("status %q", a.saveStatus.Text)
	}
	if n := fa.savedCount(); n != 0 {
		t.Errorf("%d saves of settings at fault", n)
	}

	// What the form cannot read is named too: a port that is no number,
	// a bad rule (by its number), bad quiet hours, a password without a
	// login.
	a.port.SetText("smtp")
	a.from.SetText("vigil@example.com")
	a.rules.SetText("critical\nsevere=dba@example.com")
	a.quiet.SetText("22-7")
	a.user.SetText("")
	test.Tap(a.save)
	errs = a.FieldErrors()
	for field, want := range map[string]string{
		fieldPort:  `"smtp" is not a port number`,
		fieldRules: `rule 2: rule "severe=dba@example.com": unknown severity`,
		fieldQuiet: "quiet hours",
		fieldUser:  "required with a password",
	} {
		if !strings.Contains(errs[field], want) {
			t.Errorf("%s shows %q, want %q", field, errs[field], want)
		}
	}
	if n := fa.savedCount(); n != 0 {
		t.Errorf("%d saves of settings at fault", n)
	}
}

func TestAlertSettingsGoodFormSaves(t *testing.T) {
	fa := &fakeAlerts{}
	_, a, q := startAlertView(t, fa)
	fillGood(a)
	if !strings.HasPrefix(a.passwordState.Text, "not set") {
		t.Errorf("password state %q before any was saved", a.passwordState.Text)
	}
	if got := a.rulesSummary.Text; got != "Critical events go to oncall@example.com\nWarning and critical lag events go to ops@example.com, oncall@example.com" {
		t.Errorf("rules summary %q", got)
	}
	test.Tap(a.save)
	q.waitFor(t, "the save", func() bool { return strings.HasPrefix(a.saveStatus.Text, "Saved") })
	if len(a.FieldErrors()) != 0 {
		t.Errorf("errors after a good save: %q", a.FieldErrors())
	}
	if n := fa.savedCount(); n != 1 {
		t.Fatalf("%d saves, want 1", n)
	}
	s, pw := fa.saves[0], fa.passwords[0]
	want := alert.Settings{Host: "smtp.example.com", Port: 587, TLS: alert.TLSStartTLS, From: "vigil@example.com",
		To: []string{"ops@example.com", "oncall@example.com"}, User: "vigil",
		Rules: []alert.Rule{{Severities: []model.Severity{model.SeverityCritical}, To: []string{"oncall@example.com"}},
			{Severities: []model.Severity{model.SeverityWarning, model.SeverityCritical}, Kinds: []string{model.EventLag}}},
		Quiet: alert.QuietHours{Start: "22:00", End: "07:00"}, Coalesce: alert.Duration(30 * time.Second)}
	if s.Host != want.Host || s.Port != want.Port || s.TLS != want.TLS || s.From != want.From || !slices.Equal(s.To, want.To) ||
		s.User != want.User || len(s.Rules) != 2 || s.Rules[0].String() != want.Rules[0].String() ||
		s.Rules[1].String() != want.Rules[1].String() || s.Quiet != want.Quiet || s.Coalesce != want.Coalesce {
		t.Errorf("saved %+v\nwant  %+v", s, want)
	}
	if pw != "s3cret-Night" || s.Password != "" {
		t.Errorf("password handed over as %q, in the settings %q; want it apart from them", pw.Reveal(), s.Password.Reveal())
	}

	// The password is write-only: after the save the form says it is set,
	// and where, and never holds it.
	if a.password.Text != "" || a.passwordState.Text != "set (kept in the OS keyring); type to replace it" {
		t.Errorf("after the save the password entry holds %d characters and says %q", len(a.password.Text), a.passwordState.Text)
	}
	// Saving again without typing it keeps it.
	test.Tap(a.save)
	q.waitFor(t, "the second save", func() bool { return fa.savedCount() == 2 && !a.saving })
	if fa.passwords[1] != "" || fa.saves[1].PasswordRef != "keyring:smtp-password /data" {
		t.Errorf("second save: password %q, ref %q; want the kept one's ref", fa.passwords[1].Reveal(), fa.saves[1].PasswordRef)
	}
	// Another login needs its own password.
	a.user.SetText("other")
	if a.passwordState.Text != "not set: type the login's password" {
		t.Errorf("for a new login the password reads %q", a.passwordState.Text)
	}
	test.Tap(a.save)
	if !strings.Contains(a.FieldErrors()[fieldPassword], "type it under Password") {
		t.Errorf("password error %q", a.FieldErrors()[fieldPassword])
	}
}

func TestAlertSettingsLoadsSavedWithoutThePassword(t *testing.T) {
	fa := &fakeAlerts{have: true, saved: alert.Settings{Host: "mail.example.com", Port: 465, TLS: alert.TLSImplicit,
		From: "vigil@example.com", To: []string{"ops@example.com"}, User: "vigil", PasswordRef: "file:" + alert.PasswordFile,
		Quiet: alert.QuietHours{Start: "23:00", End: "06:00"}}}
	_, a, _ := startAlertView(t, fa)
	if a.host.Text != "mail.example.com" || a.port.Text != "465" || a.mode.Selected != tlsLabel(alert.TLSImplicit) ||
		a.to.Text != "ops@example.com" || a.quiet.Text != "23:00-06:00" || a.coalesce.Text != "" {
		t.Errorf("form: host %q port %q mode %q to %q quiet %q coalesce %q", a.host.Text, a.port.Text, a.mode.Selected, a.to.Text, a.quiet.Text, a.coalesce.Text)
	}
	if a.password.Text != "" || !strings.HasPrefix(a.passwordState.Text, "set (kept in "+alert.PasswordFile) {
		t.Errorf("password entry %q, state %q", a.password.Text, a.passwordState.Text)
	}
	if a.rulesSummary.Text != "Warning and critical events go to ops@example.com" {
		t.Errorf("default rule summary %q", a.rulesSummary.Text)
	}
}

func TestAlertTestEmailShowsReplyOrError(t *testing.T) {
	fa := &fakeAlerts{gate: make(chan struct{})}
	fa.answer = func(alert.Settings) (string, error) { return "250 2.0.0 Ok: queued as 4F2A1", nil }
	_, a, q := startAlertView(t, fa)
	fillGood(a)

	test.Tap(a.test)
	if !a.testRow.Visible() || !strings.Contains(a.testWait.Text, "Sending a test email through smtp.example.com:587 (starttls)") ||
		!a.test.Disabled() {
		t.Errorf("while it sends: progress shown %v %q, button disabled %v", a.testRow.Visible(), a.testWait.Text, a.test.Disabled())
	}
	fa.gate <- struct{}{}
	q.waitFor(t, "the reply", func() bool { return a.testResult.Visible() })
	if a.testResult.Text != "The mail server accepted it: 250 2.0.0 Ok: queued as 4F2A1" || a.testResult.Importance != widget.SuccessImportance {
		t.Errorf("result %q (%v)", a.testResult.Text, a.testResult.Importance)
	}
	if a.testRow.Visible() || a.test.Disabled() {
		t.Error("the progress is still shown after the reply")
	}

	fa.mu.Lock()
	fa.answer = func(alert.Settings) (string, error) {
		return "", &alert.SendError{Stage: alert.StageRecipient, Server: "smtp.example.com:587", Code: 550,
			Reply: "550 5.1.1 no such user", Detail: "oncall@example.com", Err: errors.New("refused")}
	}
	fa.mu.Unlock()
	test.Tap(a.test)
	fa.gate <- struct{}{}
	q.waitFor(t, "the error", func() bool { return !a.testing })
	if a.testResult.Text != "Not sent: mail server smtp.example.com:587 rejected recipient oncall@example.com: 550 5.1.1 no such user" ||
		a.testResult.Importance != widget.DangerImportance {
		t.Errorf("result %q (%v)", a.testResult.Text, a.testResult.Importance)
	}

	// Settings at fault are not sent at all.
	a.host.SetText("")
	test.Tap(a.test)
	if !strings.Contains(a.FieldErrors()[fieldHost], "required") || !strings.HasPrefix(a.testResult.Text, "Not sent: fix the 1 setting") {
		t.Errorf("a test without a host: errors %q, result %q", a.FieldErrors(), a.testResult.Text)
	}
	fa.mu.Lock()
	n := len(fa.tests)
	fa.mu.Unlock()
	if n != 2 {
		t.Errorf("%d tests reached the console, want 2", n)
	}
}

func TestAlertOutboxShowsPendingAndFailed(t *testing.T) {
	fa := &fakeAlerts{outbox: alert.Status{Pending: 1, Sent: 12, Failed: 1,
		Queue: []alert.Item{{ID: 7, State: model.OutboxPending, Subject: "[CRITICAL] k2-san: K2server1 down", Recipients: []string{"ops@example.com"},
			Attempts: 3, NextAttempt: t0.Add(40 * time.Second), LastError: "cannot talk to mail server smtp.example.com:587: connection refused"}},
		Failures: []alert.Item{{ID: 5, State: model.OutboxFailed, Subject: "[WARNING] redstor: lag", Recipients: []string{"gone@example.com"},
			Reply: "550 5.1.1 no such user", Done: t0.Add(-time.Hour)}}}}
	v, a, q := startAlertView(t, fa)
	v.ShowTab(TabAlerts)
	q.waitFor(t, "the outbox", func() bool { return a.outboxCounts.Text != "" })
	if a.outboxCounts.Text != "1 pending · 12 sent · 1 failed" || a.outboxCounts.Importance != widget.DangerImportance {
		t.Errorf("counts %q (%v)", a.outboxCounts.Text, a.outboxCounts.Importance)
	}
	got := strings.Join(texts(a.outboxItems), "\n")
	for _, want := range []string{"3 attempts, next in 40s; last error: cannot talk to mail server smtp.example.com:587: connection refused",
		"FAILED", "[WARNING] redstor: lag, to gone@example.com: 550 5.1.1 no such user"} {
		if !strings.Contains(got, want) {
			t.Errorf("outbox shows %q, lacking %q", got, want)
		}
	}
}
