package alert

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilops/vigil/model"
)

// TLSMode says how the connection to the mail server is protected.
type TLSMode string

// TLS modes.
const (
	TLSNone     TLSMode = "none"     // plain text: accepted only for a mail server on this machine
	TLSStartTLS TLSMode = "starttls" // plain connection upgraded with STARTTLS (usually port 587)
	TLSImplicit TLSMode = "tls"      // TLS from the first byte (usually port 465)
)

// DefaultCoalesce is how long a message waits for more events to the same
// recipients when Settings.Coalesce is zero.
const DefaultCoalesce = 10 * time.Second

// maxCoalesce bounds the coalescing window: alerts must not wait long.
const maxCoalesce = 10 * time.Minute

// Settings are the email alert settings, saved in the console store.
type Settings struct {
	Host string   `json:"smtp_host"`
	Port int      `json:"smtp_port"`
	TLS  TLSMode  `json:"tls"`
	From string   `json:"from"`
	To   []string `json:"to"` // default recipients
	User string   `json:"user,omitempty"`
	// PasswordRef says where the password is kept (see Secrets); the
	// password itself never enters the store.
	PasswordRef string `json:"password_ref,omitempty"`
	// CAFile is a PEM file of certificates to trust for the mail server in
	// addition to the system's (a private CA).
	CAFile string `json:"ca_file,omitempty"`
	// Rules say which events go to whom; none means DefaultRule.
	Rules []Rule `json:"rules,omitempty"`
	// Quiet hours are off unless both ends are set.
	Quiet QuietHours `json:"quiet_hours,omitzero"`
	// Coalesce is how long a message waits for more events to the same
	// recipients; zero means DefaultCoalesce.
	Coalesce Duration `json:"coalesce,omitempty"`

	// Password is filled in only to send (Source.Password); it prints as
	// [redacted].
	Password Secret `json:"-"`
	// RootCAs, when set, replaces the system's roots (tests).
	RootCAs *x509.CertPool `json:"-"`
}

// Rule sends events of the given severities and kinds to the given
// recipients. An event goes to the union of the recipients of every rule
// it matches.
type Rule struct {
	Severities []model.Severity `json:"severities,omitempty"` // empty: every severity
	Kinds      []string         `json:"kinds,omitempty"`      // empty: every kind
	To         []string         `json:"to,omitempty"`         // empty: Settings.To
}

// DefaultRule applies when Settings.Rules is empty: warnings and critical
// events go to Settings.To.
var DefaultRule = Rule{Severities: []model.Severity{model.SeverityWarning, model.SeverityCritical}}

// QuietHours is a daily period, in the console's local time, during which
// only critical alerts go out; the others are held until it ends. Start after
// End spans midnight. Both empty: off.
type QuietHours struct {
	Start string `json:"start,omitempty"` // "22:00"
	End   string `json:"end,omitempty"`   // "07:00"
}

// On says whether quiet hours are set.
func (q QuietHours) On() bool { return q.Start != "" || q.End != "" }

// String is "22:00-07:00", or "off".
func (q QuietHours) String() string {
	if !q.On() {
		return "off"
	}
	return q.Start + "-" + q.End
}

// Duration is a time.Duration written as "10s" in JSON.
type Duration time.Duration

// MarshalText writes d as a Go duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration such as "10s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Secret is a password: it prints and logs as [redacted].
type Secret string

const redacted = "[redacted]"

// String hides the secret from fmt.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString hides the secret from %#v.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// LogValue hides the secret from log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON hides the secret from encoding/json.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Reveal returns the password itself, to hand to the SMTP client.
func (s Secret) Reveal() string { return string(s) }

// Window returns the coalescing window in force.
func (s Settings) Window() time.Duration {
	if s.Coalesce == 0 {
		return DefaultCoalesce
	}
	return time.Duration(s.Coalesce)
}

// Addr is host:port.
func (s Settings) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// FieldError is one problem with one setting. Field is the `vigil alert set`
// flag without dashes ("smtp-port", "rule 2").
type FieldError struct {
	Field, Problem string
}

// ValidationError lists every problem found in settings.
type ValidationError []FieldError

func (v ValidationError) Error() string {
	parts := make([]string, len(v))
	for i, f := range v {
		parts[i] = f.Field + ": " + f.Problem
	}
	return "alert settings: " + strings.Join(parts, "; ")
}

// Validate checks every setting and returns a ValidationError naming each
// field at fault, or nil.
func (s Settings) Validate() error {
	var errs ValidationError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	if p := hostProblem(s.Host); p != "" {
		add("smtp-host", "%s", p)
	}
	if s.Port < 1 || s.Port > 65535 {
		add("smtp-port", "%d is not a port (1-65535)", s.Port)
	}
	switch s.TLS {
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		if s.Host != "" && !IsLoopback(s.Host) {
			add("tls", "none (plain text) is allowed only for a mail server on this machine (localhost, 127.0.0.1, ::1), not %s; use starttls or tls", s.Host)
		}
	case "":
		add("tls", "required: none, starttls or tls")
	default:
		add("tls", "%q is not none, starttls or tls", string(s.TLS))
	}
	if s.From == "" {
		add("from", "required")
	} else if _, err := mail.ParseAddress(s.From); err != nil {
		add("from", "%q is not an email address: %v", s.From, err)
	}
	if len(s.To) == 0 {
		add("to", "at least one address is required")
	}
	for _, a := range s.To {
		if _, err := mail.ParseAddress(a); err != nil {
			add("to", "%q is not an email address: %v", a, err)
		}
	}
	if strings.ContainsAny(s.User, "\r\n\x00") {
		add("user", "must be a single line")
	}
	switch {
	case s.User != "" && s.PasswordRef == "" && s.Password == "":
		add("password", "required with a user: give --password-file")
	case s.User == "" && (s.PasswordRef != "" || s.Password != ""):
		add("user", "required with a password")
	}
	for i, r := range s.Rules {
		field := fmt.Sprintf("rule %d", i+1)
		for _, sev := range r.Severities {
			if sev.Rank() < 0 {
				add(field, "unknown severity %q (info, warning, critical)", string(sev))
			}
		}
		for _, k := range r.Kinds {
			if !slices.Contains(Kinds, k) {
				add(field, "unknown event kind %q (%s)", k, strings.Join(Kinds, ", "))
			}
		}
		for _, a := range r.To {
			if _, err := mail.ParseAddress(a); err != nil {
				add(field, "%q is not an email address: %v", a, err)
			}
		}
	}
	if s.Quiet.On() {
		_, err1 := parseClock(s.Quiet.Start)
		_, err2 := parseClock(s.Quiet.End)
		switch {
		case err1 != nil:
			add("quiet", "start: %v", err1)
		case err2 != nil:
			add("quiet", "end: %v", err2)
		case s.Quiet.Start == s.Quiet.End:
			add("quiet", "start and end are both %s", s.Quiet.Start)
		}
	}
	if s.Coalesce < 0 || time.Duration(s.Coalesce) > maxCoalesce {
		add("coalesce", "%v is not between 0 and %v", time.Duration(s.Coalesce), maxCoalesce)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// Kinds are the event kinds a rule may name.
var Kinds = []string{model.EventUp, model.EventDown, model.EventUnreachable, model.EventSilent, model.EventRole,
	model.EventSplitBrain, model.EventNoPrimary, model.EventLag, model.EventService, model.EventFlapping,
	model.EventIdentityChanged, model.EventConflict, model.EventConsoleStore, model.EventAction, model.EventProcedure}

func hostProblem(h string) string {
	switch {
	case h == "":
		return "required"
	case strings.HasPrefix(h, "["):
		return "give an IPv6 address without brackets"
	case net.ParseIP(h) != nil:
		return ""
	case strings.Contains(h, ":"):
		return fmt.Sprintf("%q: give the port with --smtp-port, not in the host", h)
	case len(h) > 253:
		return "longer than 253 characters"
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Sprintf("%q is not a host name", h)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Sprintf("%q is not a host name or IP address", h)
			}
		}
	}
	return ""
}

// IsLoopback says whether host names this machine: "localhost" or a
// loopback address. A name that merely resolves to one does not count.
func IsLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseClock reads "HH:MM" and returns minutes after midnight.
func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("%q is not a time of day such as 07:30", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// active says whether t (in the zone quiet hours are kept in) falls in
// them. Invalid quiet hours are never active.
func (q QuietHours) active(t time.Time) bool {
	start, err1 := parseClock(q.Start)
	end, err2 := parseClock(q.End)
	if !q.On() || err1 != nil || err2 != nil || start == end {
		return false
	}
	m := t.Hour()*60 + t.Minute()
	if start < end {
		return m >= start && m < end
	}
	return m >= start || m < end
}

// endAfter returns the first end of quiet hours after t, in t's zone.
func (q QuietHours) endAfter(t time.Time) time.Time {
	end, err := parseClock(q.End)
	if err != nil {
		return t
	}
	e := time.Date(t.Year(), t.Month(), t.Day(), end/60, end%60, 0, 0, t.Location())
	if !e.After(t) {
		e = time.Date(t.Year(), t.Month(), t.Day()+1, end/60, end%60, 0, 0, t.Location())
	}
	return e
}

// recipients returns the envelope addresses e goes to under s: sorted,
// without duplicates.
func (s Settings) recipients(e model.Event) []string {
	rules := s.Rules
	if len(rules) == 0 {
		rules = []Rule{DefaultRule}
	}
	var out []string
	for _, r := range rules {
		if len(r.Severities) > 0 && !slices.Contains(r.Severities, e.Severity) {
			continue
		}
		if len(r.Kinds) > 0 && !slices.Contains(r.Kinds, e.Kind) {
			continue
		}
		to := r.To
		if len(to) == 0 {
			to = s.To
		}
		out = append(out, to...)
	}
	return envelopeAddrs(out)
}

// AllRecipients is every address the settings name, bare, sorted and
// unique: where a test message goes.
func (s Settings) AllRecipients() []string {
	all := slices.Clone(s.To)
	for _, r := range s.Rules {
		all = append(all, r.To...)
	}
	return envelopeAddrs(all)
}

// envelopeAddrs turns header addresses ("Ops <ops@example.com>") into bare
// ones, sorted and unique; unparsable ones are dropped (Validate reports them).
func envelopeAddrs(list []string) []string {
	var out []string
	for _, a := range list {
		p, err := mail.ParseAddress(a)
		if err != nil {
			continue
		}
		if !slices.ContainsFunc(out, func(b string) bool { return strings.EqualFold(b, p.Address) }) {
			out = append(out, p.Address)
		}
	}
	slices.Sort(out)
	return out
}

// ErrNotConfigured means no alert settings were saved.
var ErrNotConfigured = errors.New("email alerts are not set up: run vigil alert set")

// Load reads the settings saved in db; ErrNotConfigured when there are
// none. The password is not filled in.
func Load(ctx context.Context, db SettingsStore) (Settings, error) {
	js, err := db.AlertSettingsJSON(ctx)
	if err != nil {
		return Settings{}, err
	}
	if js == "" {
		return Settings{}, ErrNotConfigured
	}
	return decodeSettings([]byte(js))
}

func decodeSettings(b []byte) (Settings, error) {
	var s Settings
	if err := json.Unmarshal(b, &s); err != nil {
		return Settings{}, fmt.Errorf("read alert settings: %w", err)
	}
	return s, nil
}

// Save validates s and replaces the saved settings with it. The password
// must already be kept by Secrets (s.PasswordRef); s.Password is not saved.
func Save(ctx context.Context, db SettingsStore, s Settings) error {
	s.Password = ""
	if err := s.Validate(); err != nil {
		return err
	}
	if s.User != "" && s.PasswordRef == "" {
		return ValidationError{{"password", "not kept anywhere: give --password-file"}}
	}
	if s.CAFile != "" {
		if _, err := loadCAFile(s.CAFile); err != nil {
			return ValidationError{{"ca-file", err.Error()}}
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return db.SaveAlertSettingsJSON(ctx, string(b))
}

func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// Source is where the outbox reads its settings. It asks before every
// message, so that saved changes apply at once.
type Source interface {
	// Settings returns the settings without the password, or
	// ErrNotConfigured.
	Settings(ctx context.Context) (Settings, error)
	// ForSending returns s with what sending needs besides: the password
	// and the certificates to trust.
	ForSending(ctx context.Context, s Settings) (Settings, error)
}

// StoreSource reads the settings saved in the console store, and the
// password from Secrets.
type StoreSource struct {
	Store   SettingsStore
	Secrets *Secrets
}

var _ Source = (*StoreSource)(nil)

// Settings loads the saved settings.
func (src *StoreSource) Settings(ctx context.Context) (Settings, error) {
	return Load(ctx, src.Store)
}

// ForSending looks the password up where s.PasswordRef points and loads
// the certificates of s.CAFile.
func (src *StoreSource) ForSending(ctx context.Context, s Settings) (Settings, error) {
	if s.User != "" && s.Password == "" && s.PasswordRef != "" {
		pw, err := src.Secrets.Get(ctx, s.PasswordRef)
		if err != nil {
			return s, err
		}
		s.Password = pw
	}
	if s.CAFile != "" && s.RootCAs == nil {
		pool, err := loadCAFile(s.CAFile)
		if err != nil {
			return s, fmt.Errorf("alert settings: ca-file: %w", err)
		}
		s.RootCAs = pool
	}
	return s, nil
}

// ParseRule reads a rule as `vigil alert set --rule` takes it:
// SEVERITIES[:KINDS][=ADDRESSES], where SEVERITIES is "all" or a comma list
// (info, warning, critical), KINDS a comma list of event kinds, and
// ADDRESSES a comma list of recipients (default: --to). Examples:
// "critical", "warning,critical:lag,split-brain=dba@example.com",
// "all=log@example.com".
func ParseRule(spec string) (Rule, error) {
	var r Rule
	left, addrs, hasAddrs := strings.Cut(strings.TrimSpace(spec), "=")
	sevs, kinds, hasKinds := strings.Cut(left, ":")
	sevs = strings.TrimSpace(sevs)
	switch sevs {
	case "":
		return r, fmt.Errorf("rule %q: give severities first (all, or some of info,warning,critical)", spec)
	case "all", "*":
	default:
		for _, s := range strings.Split(sevs, ",") {
			sev := model.Severity(strings.ToLower(strings.TrimSpace(s)))
			if sev.Rank() < 0 {
				return r, fmt.Errorf("rule %q: unknown severity %q (info, warning, critical)", spec, s)
			}
			if !slices.Contains(r.Severities, sev) {
				r.Severities = append(r.Severities, sev)
			}
		}
	}
	if hasKinds {
		for _, k := range strings.Split(kinds, ",") {
			k = strings.ToLower(strings.TrimSpace(k))
			if !slices.Contains(Kinds, k) {
				return r, fmt.Errorf("rule %q: unknown event kind %q (%s)", spec, k, strings.Join(Kinds, ", "))
			}
			if !slices.Contains(r.Kinds, k) {
				r.Kinds = append(r.Kinds, k)
			}
		}
	}
	if hasAddrs {
		list, err := ParseAddresses(addrs)
		if err != nil {
			return r, fmt.Errorf("rule %q: %w", spec, err)
		}
		r.To = list
	}
	return r, nil
}

// ParseAddresses reads a comma-separated list of email addresses.
func ParseAddresses(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, errors.New("no address given")
	}
	addrs, err := mail.ParseAddressList(list)
	if err != nil {
		return nil, fmt.Errorf("%q is not a list of email addresses: %v", list, err)
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
		if a.Name == "" {
			out[i] = a.Address
		}
	}
	return out, nil
}

// ParseQuiet reads quiet hours as "22:00-07:00"; "" and "off" turn them off.
func ParseQuiet(spec string) (QuietHours, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "off" {
		return QuietHours{}, nil
	}
	start, end, ok := strings.Cut(spec, "-")
	q := QuietHours{Start: strings.TrimSpace(start), End: strings.TrimSpace(end)}
	if !ok {
		return q, fmt.Errorf("quiet hours %q: expected START-END such as 22:00-07:00", spec)
	}
	if _, err := parseClock(q.Start); err != nil {
		return q, fmt.Errorf("quiet hours start: %v", err)
	}
	if _, err := parseClock(q.End); err != nil {
		return q, fmt.Errorf("quiet hours end: %v", err)
	}
	if q.Start == q.End {
		return q, fmt.Errorf("quiet hours %q: start and end are the same", spec)
	}
	return q, nil
}

// String writes r as `vigil alert set --rule` reads it.
func (r Rule) String() string {
	s := "all"
	if len(r.Severities) > 0 {
		parts := make([]string, len(r.Severities))
		for i, sev := range r.Severities {
			parts[i] = string(sev)
		}
		s = strings.Join(parts, ",")
	}
	if len(r.Kinds) > 0 {
		s += ":" + strings.Join(r.Kinds, ",")
	}
	if len(r.To) > 0 {
		s += "=" + strings.Join(r.To, ", ")
	}
	return s
}
