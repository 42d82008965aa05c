package alert

import (
	"bytes"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/model"
)

// TestAlertMessageFormat checks the written message: CRLF only, short
// folded header lines, a Q-encoded non-ASCII subject, and names from
// outside that cannot inject headers.
func TestAlertMessageFormat(t *testing.T) {
	evs := []model.OutboxEvent{
		{EventID: 7, Time: time.Date(2026, 3, 1, 13, 2, 11, 0, time.UTC), Server: "Sérveur-1\r\nBcc: evil@example.com",
			System: "k2-san", Kind: "down", Severity: model.SeverityCritical, Summary: "line one\nline two"},
	}
	for i := 0; i < 8; i++ {
		evs = append(evs, model.OutboxEvent{EventID: uint(10 + i), Time: evs[0].Time.Add(time.Duration(i) * time.Second),
			Server: fmt.Sprintf("AS-%d", i), System: "redstor", Kind: "role", Severity: model.SeverityWarning, From: "standby", To: "primary"})
	}
	m := &model.OutboxMessage{Recipients: "a@example.com,b@example.com", MessageID: "<vigil.1.2@example.com>",
		OpenUntil: evs[0].Time.Add(10 * time.Second), Events: evs}
	l, err := alertLetter(m, "vigil@example.com", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	raw := l.bytes()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("bare LF in\n%s", raw)
	}
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head), "\r\n") {
		if len(line) > 78 {
			t.Errorf("header line of %d characters: %q", len(line), line)
		}
		if strings.HasPrefix(strings.ToLower(line), "bcc:") {
			t.Errorf("injected header %q", line)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(subj, "[CRITICAL] 9 events: Sérveur-1  Bcc: evil@example.com down (k2-san), AS-0 role (redstor)") ||
		!strings.HasSuffix(subj, " more") {
		t.Errorf("subject %q", subj)
	}
	if got := msg.Header.Get("From"); got != `"Vigil" <vigil@example.com>` {
		t.Errorf("From %q", got)
	}
	if got := msg.Header.Get("X-Vigil-Events"); got != "7, 10, 11, 12, 13, 14, 15, 16, 17" {
		t.Errorf("X-Vigil-Events %q", got)
	}
	if d, err := msg.Header.Date(); err != nil || !d.Equal(m.OpenUntil) {
		t.Errorf("Date %v, %v", d, err)
	}
	_, body := decoded(t, raw)
	for _, want := range []string{
		"9 events between 13:02:11 and 13:02:18 UTC:",
		"1. [CRITICAL] Sérveur-1  Bcc: evil@example.com down (k2-san)",
		"   Now            line one line two",
		"9. [WARNING] AS-7 role (redstor)",
		"   What happened  AS-7 changed role, from standby to primary",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

// TestAlertSubjectForSystemEvent: an event of a whole system names the
// system.
func TestAlertSubjectForSystemEvent(t *testing.T) {
	got := subject([]model.OutboxEvent{{System: "k2-san", Kind: model.EventSplitBrain, Severity: model.SeverityCritical}})
	if got != "[CRITICAL] k2-san SPLIT BRAIN" {
		t.Errorf("subject %q", got)
	}
}
