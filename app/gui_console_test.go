package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/vigilops/vigil/alert"
	"github.com/vigilops/vigil/alert/alerttest"
	"github.com/vigilops/vigil/model"
)

// The GUI's timeline reads what the monitor stores. Against real agent
// processes and the console's real store: a split brain and a killed agent
// arrive on the timeline's subscription as stored events (with their ids),
// and the timeline's queries find the same events in the store, its
// filters and its paging bound (Until, exclusive, at an event's own time)
// selecting as the timeline expects.
func TestTimelineSourceHasWhatTheMonitorStores(t *testing.T) {
	data := t.TempDir()
	agents := startRoleAgents(t, data, []string{"K2server1", "K2server2"}, []string{"primary", "standby"})
	c, updates, _ := testConsole(t, data)
	src := newGUIEvents(c)
	live, cancel := src.SubscribeEvents()
	defer cancel()
	waitFor(t, updates, 15*time.Second, "both agents heard", func() bool {
		n := 0
		for _, v := range c.mon.Snapshot() {
			if v.Health == model.HealthUp {
				n++
			}
		}
		return n == 2
	})
	next := func(what, kind, server string) model.Event {
		t.Helper()
		timeout := time.After(15 * time.Second)
		for {
			select {
			case e := <-live:
				if e.Kind == kind && e.Server == server {
					return e
				}
				t.Logf("event on the way to %s: %+v", what, e)
			case <-timeout:
				t.Fatalf("no %s event within 15 s", what)
			}
		}
	}

	agents[1].setRole(t, "primary")
	split := next("split brain", model.EventSplitBrain, "")
	agents[1].cmd.Process.Kill()
	down := next("a killed agent", model.EventDown, "K2server2")
	if split.ID == 0 || down.ID == 0 {
		t.Fatalf("live events without store ids: split %d, down %d", split.ID, down.ID)
	}

	ctx := context.Background()
	got, err := src.Events(ctx, model.EventFilter{System: "watched", MinSeverity: model.SeverityCritical, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	if !slices.Contains(ids, split.ID) || !slices.Contains(ids, down.ID) {
		t.Fatalf("the store's critical events of the system are %+v; want the split brain (%d) and the down (%d)", got, split.ID, down.ID)
	}
	if i, j := slices.Index(ids, down.ID), slices.Index(ids, split.ID); i > j {
		t.Errorf("events not newest first: %v", ids)
	}
	for _, e := range got {
		if e.ID == down.ID && (e.Server != "K2server2" || e.From != "up" || e.To != "down" || !e.Time.Equal(down.Time)) {
			t.Errorf("stored down event %+v differs from the live one %+v", e, down)
		}
	}

	// The timeline pages with Until one nanosecond after the oldest event
	// shown: the store must then include it, and exclude it at its time.
	only := func(f model.EventFilter) []uint {
		t.Helper()
		f.Kinds, f.Server = []string{model.EventDown}, "K2server2"
		evs, err := src.Events(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []uint
		for _, e := range evs {
			out = append(out, e.ID)
		}
		return out
	}
	if got := only(model.EventFilter{Until: down.Time.Add(time.Nanosecond)}); !slices.Equal(got, []uint{down.ID}) {
		t.Errorf("until just after the down event: %v, want [%d]", got, down.ID)
	}
	if got := only(model.EventFilter{Until: down.Time}); len(got) != 0 {
		t.Errorf("until the down event's own time: %v, want none", got)
	}
	if got := only(model.EventFilter{Since: down.Time}); !slices.Equal(got, []uint{down.ID}) {
		t.Errorf("since the down event's own time: %v, want [%d]", got, down.ID)
	}
}

// The GUI's alert settings go through the same checks and the same keeping
// of the password as `vigil alert set`, and its test email through a real
// SMTP server: settings at fault are refused naming the fields and not
// saved; good ones are saved with the password in a 0600 file (no keyring
// here) and not in the store; saving again without a password keeps it;
// the test email arrives with the form's settings, or says why it did not.
func TestAlertGUISettingsSaveAndTest(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "") // no Secret Service: the file fallback
	const pw = "Gui-Secret-4417"
	srv := alerttest.Start(t, alerttest.Options{Mode: alerttest.StartTLS, User: "ops", Password: pw,
		Refuse: map[string]*smtp.SMTPError{"gone@example.com": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}})
	data := t.TempDir()
	c, _, _ := testConsole(t, data)
	g := newGUIAlerts(c, data, c.log)
	ctx := context.Background()

	if _, ok, err := g.AlertSettings(ctx); ok || err != nil {
		t.Fatalf("settings before any save: ok %v, %v", ok, err)
	}
	s := alert.Settings{Host: "127.0.0.1", Port: 99999, TLS: alert.TLSStartTLS, From: "not an address",
		To: []string{"ops@example.com"}, User: "ops", CAFile: srv.CAFile}
	err := g.SaveAlertSettings(ctx, s, pw)
	var ve alert.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("bad settings saved: %v", err)
	}
	var fields []string
	for _, fe := range ve {
		fields = append(fields, fe.Field)
	}
	if !slices.Equal(fields, []string{"smtp-port", "from"}) {
		t.Errorf("fields at fault %q, want smtp-port and from", fields)
	}
	if _, ok, _ := g.AlertSettings(ctx); ok {
		t.Error("settings at fault were saved")
	}
	if _, err := os.Stat(filepath.Join(data, alert.PasswordFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the password was kept for settings that were not saved: %v", err)
	}

	s.Port, s.From = srv.Port, "vigil@example.com"
	if err := g.SaveAlertSettings(ctx, s, pw); err != nil {
		t.Fatal(err)
	}
	saved, ok, err := g.AlertSettings(ctx)
	if !ok || err != nil || saved.Host != "127.0.0.1" || saved.Port != srv.Port || saved.PasswordRef != "file:"+alert.PasswordFile {
		t.Fatalf("saved %+v, %v, %v", saved, ok, err)
	}
	if fi, err := os.Stat(filepath.Join(data, alert.PasswordFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("password file: %v, %v; want mode 0600", fi, err)
	}
	js, _ := c.store.AlertSettingsJSON(ctx)
	if strings.Contains(js, pw) {
		t.Error("the password is in the store")
	}

	// The form sends back what it loaded, password ref and all, with no
	// password typed: the password is kept, and the test email logs in.
	saved.To = []string{"ops@example.com", "oncall@example.com"}
	if err := g.SaveAlertSettings(ctx, saved, ""); err != nil {
		t.Fatal(err)
	}
	reply, err := g.TestAlert(ctx, saved, "")
	if err != nil || !strings.HasPrefix(reply, "250 ") {
		t.Fatalf("test email: %q, %v", reply, err)
	}
	m := srv.Wait(1, 10*time.Second)[0]
	if m.User != "ops" || strings.Join(m.To, ",") != "oncall@example.com,ops@example.com" {
		t.Errorf("test message from user %q to %v", m.User, m.To)
	}

	// Unsaved settings are tested as they are: a refused recipient, and a
	// wrong password typed in the form, each say so.
	unsaved := saved
	unsaved.To = []string{"gone@example.com"}
	if _, err := g.TestAlert(ctx, unsaved, ""); err == nil || !strings.Contains(err.Error(), "rejected recipient gone@example.com: 550 5.1.1") {
		t.Errorf("refused recipient: %v", err)
	}
	if _, err := g.TestAlert(ctx, saved, "wrong"); err == nil || !strings.Contains(err.Error(), "refused the login") {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := g.TestAlert(ctx, alert.Settings{Host: "127.0.0.1", Port: 1, TLS: alert.TLSStartTLS}, ""); !errors.As(err, &ve) {
		t.Errorf("testing settings at fault: %v, want a ValidationError", err)
	}

	st, err := g.AlertOutbox(ctx)
	if err != nil || st.Pending != 0 || st.Failed != 0 {
		t.Errorf("outbox %+v, %v", st, err)
	}
}
