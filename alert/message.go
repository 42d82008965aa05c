package alert

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigilops/vigil/model"
)

// letter is an email before it is written out.
type letter struct {
	from      string   // header form, "Vigil <vigil@example.com>"
	to        []string // bare addresses
	messageID string   // with angle brackets
	date      time.Time
	subject   string
	body      string // plain text, lines ending in \n
	extra     [][2]string
}

// bytes writes l as an RFC 5322 message: CRLF line endings, folded headers,
// a quoted-printable UTF-8 body. Dot-stuffing is go-smtp's.
func (l letter) bytes() []byte {
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(fold(name + ": " + value))
		b.WriteString("\r\n")
	}
	to := make([]string, len(l.to))
	for i, a := range l.to {
		to[i] = (&mail.Address{Address: a}).String()
	}
	header("Date", l.date.Format(time.RFC1123Z))
	header("From", l.from)
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", l.subject))
	header("Message-ID", l.messageID)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated") // RFC 3834: no vacation replies, please
	for _, h := range l.extra {
		header(h[0], h[1])
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(l.body)) // text mode: line breaks come out as CRLF
	qp.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// fold breaks a header line at spaces so that lines stay short (RFC 5322
// 2.2.3); encoded words contain no spaces, so they are never split.
func fold(line string) string {
	const limit = 76
	if len(line) <= limit {
		return line
	}
	var out strings.Builder
	n := 0
	for i, w := range strings.Split(line, " ") {
		if i > 0 {
			if n+1+len(w) > limit {
				out.WriteString("\r\n ")
				n = 1
			} else {
				out.WriteString(" ")
				n++
			}
		}
		out.WriteString(w)
		n += len(w)
	}
	return out.String()
}

// fromHeader is the From header for address a: "Vigil <a>" when a has no
// name of its own.
func fromHeader(a string) (string, string, error) {
	p, err := mail.ParseAddress(a)
	if err != nil {
		return "", "", fmt.Errorf("from address %q: %w", a, err)
	}
	if p.Name == "" {
		p.Name = "Vigil"
	}
	return p.String(), p.Address, nil
}

// newMessageID makes a Message-ID unique to this message, on the From
// address's domain.
func newMessageID(from string) string {
	domain := "vigil.invalid"
	if p, err := mail.ParseAddress(from); err == nil {
		if _, d, ok := strings.Cut(p.Address, "@"); ok && d != "" {
			domain = d
		}
	}
	var r [8]byte
	rand.Read(r[:])
	return fmt.Sprintf("<vigil.%s.%s@%s>", strconv.FormatInt(time.Now().UnixNano(), 36), hex.EncodeToString(r[:]), domain)
}

// clean makes text from outside (server names, details) safe for a header
// or a line: no control characters, bounded length.
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max-1]) + "…"
	}
	return s
}

// headline is "K2server1 down (k2-san)", or "k2-san FAILED OVER" for a
// verdict on a whole system.
func headline(e model.OutboxEvent) string {
	server, system := clean(e.Server, 64), clean(e.System, 64)
	kind := clean(e.Kind, 32)
	if v, err := model.ParseVerdict(e.Kind); err == nil && server == "" {
		kind = v.Label()
	}
	switch {
	case server != "" && system != "":
		return server + " " + kind + " (" + system + ")"
	case server != "":
		return server + " " + kind
	case system != "":
		return system + " " + kind
	}
	return kind
}

func sevLabel(s model.Severity) string {
	if s == "" {
		return "ALERT"
	}
	return strings.ToUpper(clean(string(s), 16))
}

// highest returns the highest severity among evs.
func highest(evs []model.OutboxEvent) model.Severity {
	var top model.Severity
	for _, e := range evs {
		if top == "" || e.Severity.Rank() > top.Rank() {
			top = e.Severity
		}
	}
	return top
}

// subject is "[CRITICAL] K2server1 down (k2-san)", or for several events
// "[CRITICAL] 3 events: K2server1 down (k2-san), K2server2 role (k2-san) and 1 more",
// the most severe first.
func subject(evs []model.OutboxEvent) string {
	if len(evs) == 0 {
		return "[ALERT] no events"
	}
	tag := "[" + sevLabel(highest(evs)) + "] "
	if len(evs) == 1 {
		return tag + headline(evs[0])
	}
	sorted := slices.Clone(evs)
	// The most severe first; of equal severity, a system's verdict before
	// the servers' events behind it.
	slices.SortStableFunc(sorted, func(a, b model.OutboxEvent) int {
		if d := b.Severity.Rank() - a.Severity.Rank(); d != 0 {
			return d
		}
		return isVerdict(b) - isVerdict(a)
	})
	s := tag + strconv.Itoa(len(evs)) + " events: "
	for i, e := range sorted {
		h := headline(e)
		if i > 0 && len(s)+len(h) > 110 {
			return s + " and " + strconv.Itoa(len(sorted)-i) + " more"
		}
		if i > 0 {
			s += ", "
		}
		s += h
	}
	return s
}

func isVerdict(e model.OutboxEvent) int {
	if _, err := model.ParseVerdict(e.Kind); err == nil && e.Server == "" {
		return 1
	}
	return 0
}

// happened says in words what an event means.
func happened(e model.OutboxEvent) string {
	if v, err := model.ParseVerdict(e.Kind); err == nil && e.Server == "" {
		s := clean(e.System, 64) + " is now " + v.Label()
		if from, err := model.ParseVerdict(e.From); err == nil && e.From != "" {
			s += " (it was " + from.Label() + ")"
		}
		if d := clean(e.Detail, 800); d != "" {
			s += ": " + d
		}
		return s
	}
	who := clean(e.Server, 64)
	if who == "" {
		who = clean(e.System, 64)
	}
	if who == "" {
		who = "a server"
	}
	var s string
	switch e.Kind {
	case model.EventUp:
		s = who + " is up"
	case model.EventDown:
		s = who + " is down"
	case model.EventUnreachable:
		s = who + " cannot be reached from this console"
	case model.EventSilent:
		s = who + " went silent: its heartbeats stopped"
	case model.EventRole:
		s = who + " changed role"
	case model.EventSplitBrain:
		s = who + " has more than one primary (split brain)"
	case model.EventNoPrimary:
		s = who + " has no primary"
	case model.EventLag:
		s = "replication on " + who + " is falling behind"
	case model.EventService:
		s = "a service on " + who + " changed state"
	case model.EventFlapping:
		s = who + " keeps going up and down"
	case model.EventIdentityChanged:
		s = who + " presented another key than the one pinned when it was paired"
	case model.EventConflict:
		s = "another host claims to be " + who
	case model.EventConsoleStore:
		s = "the console's own store is failing"
		if e.To == "ok" {
			s = "the console's own store works again"
		}
	case model.EventAction:
		s = "an action ran on " + who
	case model.EventProcedure:
		s = "a procedure step ran on " + who
	default:
		s = who + ": " + clean(e.Kind, 32)
	}
	from, to := clean(e.From, 64), clean(e.To, 64)
	switch {
	case from != "" && to != "":
		s += ", from " + from + " to " + to
	case to != "":
		s += ", now " + to
	}
	if d := clean(e.Detail, 500); d != "" {
		s += ": " + d
	}
	return s
}

// when is "Sun 1 Mar 2026 14:02:11 CET (13:02:11 UTC)".
func when(t time.Time, loc *time.Location) string {
	l := t.In(loc)
	s := l.Format("Mon 2 Jan 2006 15:04:05 MST")
	if _, off := l.Zone(); off != 0 {
		s += " (" + t.UTC().Format("15:04:05 UTC") + ")"
	}
	return s
}

// body is the plain-text body of an alert about evs (oldest first). A
// message that follows another within the window (follows is when that
// one closed) says so first.
func body(evs []model.OutboxEvent, follows time.Time, loc *time.Location, host string) string {
	var b strings.Builder
	if !follows.IsZero() {
		fmt.Fprintf(&b, "What changed since the alert of %s:\n\n", follows.In(loc).Format("15:04:05 MST"))
	}
	if len(evs) == 1 {
		fmt.Fprintf(&b, "%s\n\n", subject(evs))
	} else {
		fmt.Fprintf(&b, "%d events between %s and %s:\n\n", len(evs),
			evs[0].Time.In(loc).Format("15:04:05"), evs[len(evs)-1].Time.In(loc).Format("15:04:05 MST"))
	}
	for i, e := range evs {
		indent := ""
		if len(evs) > 1 {
			fmt.Fprintf(&b, "%d. [%s] %s\n", i+1, sevLabel(e.Severity), headline(e))
			indent = "   "
		}
		line := func(label, value string) {
			if value != "" {
				fmt.Fprintf(&b, "%s%-15s%s\n", indent, label, value)
			}
		}
		line("What happened", happened(e))
		where := []string{}
		if s := clean(e.Server, 64); s != "" {
			where = append(where, "server "+s)
		}
		if s := clean(e.System, 64); s != "" {
			where = append(where, "system "+s)
		}
		line("Where", strings.Join(where, ", "))
		line("When", when(e.Time, loc))
		line("Severity", clean(string(e.Severity), 16))
		line("Now", clean(e.Summary, 1000))
		line("Procedure", clean(e.Procedure, 500))
		b.WriteString("\n")
	}
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = strconv.FormatUint(uint64(e.EventID), 10)
	}
	label := "Event"
	if len(ids) > 1 {
		label = "Events"
	}
	fmt.Fprintf(&b, "-- \nSent by Vigil on %s. %s %s. This is an automatic message.\n", host, label, strings.Join(ids, ", "))
	return b.String()
}

// alertLetter is the email for an outbox message.
func alertLetter(m *model.OutboxMessage, from string, loc *time.Location) (letter, error) {
	fromH, _, err := fromHeader(from)
	if err != nil {
		return letter{}, err
	}
	date := m.OpenUntil
	ids := make([]string, len(m.Events))
	for i, e := range m.Events {
		if e.Time.After(date) {
			date = e.Time
		}
		ids[i] = strconv.FormatUint(uint64(e.EventID), 10)
	}
	return letter{
		from: fromH, to: strings.Split(m.Recipients, ","), messageID: m.MessageID, date: date.In(loc),
		subject: subject(m.Events), body: body(m.Events, m.Follows, loc, hostName()),
		extra: [][2]string{{"X-Vigil-Severity", clean(string(highest(m.Events)), 16)}, {"X-Vigil-Events", strings.Join(ids, ", ")}},
	}, nil
}

// testLetter is the message `vigil alert test` sends.
func testLetter(s Settings, to []string, now time.Time) (letter, error) {
	fromH, _, err := fromHeader(s.From)
	if err != nil {
		return letter{}, err
	}
	host := hostName()
	body := fmt.Sprintf("This is a test message from the Vigil console on %s, sent %s.\n\n"+
		"If you can read it, email alerts from Vigil reach you through %s (%s).\n\n"+
		"-- \nSent by Vigil on %s. This is an automatic message.\n",
		host, when(now, time.Local), s.Addr(), s.TLS, host)
	return letter{from: fromH, to: to, messageID: newMessageID(s.From), date: now,
		subject: "[TEST] Vigil email alerts from " + host, body: body}, nil
}

func hostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "this console"
	}
	return clean(h, 64)
}
