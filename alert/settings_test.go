package alert

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/model"
)

func goodSettings() Settings {
	return Settings{Host: "smtp.example.com", Port: 587, TLS: TLSStartTLS, From: "Vigil <vigil@example.com>",
		To: []string{"ops@example.com", "On Call <oncall@example.com>"}}
}

// TestAlertSettingsValidation rejects each bad setting with an error that
// names the field, and accepts good ones; plain text is accepted only for a
// mail server on this machine.
func TestAlertSettingsValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Settings)
		field  string // "" for valid
		want   string
	}{
		{"good", func(*Settings) {}, "", ""},
		{"none on localhost", func(s *Settings) { s.Host, s.TLS = "localhost", TLSNone }, "", ""},
		{"none on 127.0.0.1", func(s *Settings) { s.Host, s.TLS = "127.0.0.1", TLSNone }, "", ""},
		{"none on ::1", func(s *Settings) { s.Host, s.TLS = "::1", TLSNone }, "", ""},
		{"none elsewhere", func(s *Settings) { s.TLS = TLSNone }, "tls", "only for a mail server on this machine"},
		{"none on a LAN address", func(s *Settings) { s.Host, s.TLS = "10.1.2.3", TLSNone }, "tls", "not 10.1.2.3"},
		{"no host", func(s *Settings) { s.Host = "" }, "smtp-host", "required"},
		{"host with port", func(s *Settings) { s.Host = "smtp.example.com:587" }, "smtp-host", "--smtp-port"},
		{"host with space", func(s *Settings) { s.Host = "smtp example" }, "smtp-host", "not a host name"},
		{"port 0", func(s *Settings) { s.Port = 0 }, "smtp-port", "1-65535"},
		{"port 65536", func(s *Settings) { s.Port = 65536 }, "smtp-port", "1-65535"},
		{"no tls mode", func(s *Settings) { s.TLS = "" }, "tls", "required"},
		{"bad tls mode", func(s *Settings) { s.TLS = "ssl" }, "tls", `"ssl" is not none, starttls or tls`},
		{"no from", func(s *Settings) { s.From = "" }, "from", "required"},
		{"bad from", func(s *Settings) { s.From = "vigil at example" }, "from", "not an email address"},
		{"no to", func(s *Settings) { s.To = nil }, "to", "at least one"},
		{"bad to", func(s *Settings) { s.To = []string{"ops@example.com", "nobody"} }, "to", `"nobody"`},
		{"user without password", func(s *Settings) { s.User = "ops" }, "password", "--password-file"},
		{"password without user", func(s *Settings) { s.PasswordRef = "file:x" }, "user", "required with a password"},
		{"user with newline", func(s *Settings) { s.User, s.PasswordRef = "ops\r\nRCPT", "file:x" }, "user", "single line"},
		{"bad rule severity", func(s *Settings) { s.Rules = []Rule{{Severities: []model.Severity{"urgent"}}} }, "rule 1", `"urgent"`},
		{"bad rule kind", func(s *Settings) { s.Rules = []Rule{{}, {Kinds: []string{"donw"}}} }, "rule 2", `"donw"`},
		{"bad rule address", func(s *Settings) { s.Rules = []Rule{{To: []string{"x"}}} }, "rule 1", "not an email address"},
		{"quiet without end", func(s *Settings) { s.Quiet = QuietHours{Start: "22:00"} }, "quiet", "end"},
		{"quiet bad time", func(s *Settings) { s.Quiet = QuietHours{Start: "25:00", End: "07:00"} }, "quiet", "start"},
		{"quiet empty span", func(s *Settings) { s.Quiet = QuietHours{Start: "07:00", End: "07:00"} }, "quiet", "both"},
		{"coalesce too long", func(s *Settings) { s.Coalesce = Duration(time.Hour) }, "coalesce", "between 0 and"},
	} {
		s := goodSettings()
		tc.change(&s)
		err := s.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var ve ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: err = %v, want a ValidationError", tc.name, err)
			continue
		}
		if !slices.ContainsFunc(ve, func(f FieldError) bool { return f.Field == tc.field && strings.Contains(f.Problem, tc.want) }) {
			t.Errorf("%s: %v\nwant field %s with %q", tc.name, err, tc.field, tc.want)
		}
	}
	// Every problem at once, each named.
	err := Settings{Port: -1, TLS: "x"}.Validate()
	for _, f := range []string{"smtp-host:", "smtp-port:", "tls:", "from:", "to:"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("%v lacks %s", err, f)
		}
	}
}

// TestAlertSaveAndLoadSettings keeps settings in the store, without the
// password, and refuses to save invalid ones.
func TestAlertSaveAndLoadSettings(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	if _, err := Load(ctx, st); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("Load before Save: %v, want ErrNotConfigured", err)
	}
	s := goodSettings()
	s.User, s.PasswordRef, s.Password = "ops", "file:"+PasswordFile, "not-to-be-saved"
	s.Rules = []Rule{{Severities: []model.Severity{model.SeverityCritical}, To: []string{"boss@example.com"}}}
	s.Quiet = QuietHours{Start: "22:00", End: "07:00"}
	s.Coalesce = Duration(30 * time.Second)
	if err := Save(ctx, st, s); err != nil {
		t.Fatal(err)
	}
	got, err := Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	s.Password = ""
	a, _ := json.Marshal(s)
	b, _ := json.Marshal(got)
	if string(a) != string(b) {
		t.Errorf("loaded %s\nsaved  %s", b, a)
	}
	if js, _ := st.AlertSettingsJSON(ctx); strings.Contains(js, "not-to-be-saved") || !strings.Contains(js, `"coalesce":"30s"`) {
		t.Errorf("stored %s", js)
	}
	bad := goodSettings()
	bad.Port = 0
	if err := Save(ctx, st, bad); err == nil || !strings.Contains(err.Error(), "smtp-port") {
		t.Errorf("Save(bad) = %v", err)
	}
}

var ruleCases = []struct {
	spec string
	want Rule
	err  string
}{
	{spec: "critical", want: Rule{Severities: []model.Severity{"critical"}}},
	{spec: "warning,critical:lag,split-brain=dba@example.com", want: Rule{Severities: []model.Severity{"warning", "critical"},
		Kinds: []string{"lag", "split-brain"}, To: []string{"dba@example.com"}}},
	{spec: "all=log@example.com, Ops <ops@example.com>", want: Rule{To: []string{"log@example.com", `"Ops" <ops@example.com>`}}},
	{spec: "all:down", want: Rule{Kinds: []string{"down"}}},
	{spec: "", err: "give severities first"},
	{spec: "urgent", err: `unknown severity "urgent"`},
	{spec: "all:dwn", err: `unknown event kind "dwn"`},
	{spec: "all=", err: "no address"},
	{spec: "all=nobody", err: "not a list of email addresses"},
}

// TestAlertParseRule reads --rule specs.
func TestAlertParseRule(t *testing.T) {
	for _, tc := range ruleCases {
		got, err := ParseRule(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(tc.want)
		if string(a) != string(b) {
			t.Errorf("%q: got %s, want %s", tc.spec, a, b)
		}
	}
}

// FuzzAlertParseRule: any spec either fails or gives a rule that passes
// validation.
func FuzzAlertParseRule(f *testing.F) {
	for _, tc := range ruleCases {
		f.Add(tc.spec)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		r, err := ParseRule(spec)
		if err != nil {
			return
		}
		s := goodSettings()
		s.Rules = []Rule{r}
		if err := s.Validate(); err != nil {
			t.Errorf("ParseRule(%q) = %+v, which Validate refuses: %v", spec, r, err)
		}
	})
}

var quietCases = []struct {
	spec string
	want QuietHours
	err  string
}{
	{spec: "22:00-07:00", want: QuietHours{"22:00", "07:00"}},
	{spec: " 01:30 - 05:00 ", want: QuietHours{"01:30", "05:00"}},
	{spec: "off"},
	{spec: ""},
	{spec: "22:00", err: "START-END"},
	{spec: "22-07", err: "start"},
	{spec: "07:00-07:00", err: "the same"},
}

// TestAlertParseQuiet reads --quiet specs, and quiet hours spanning
// midnight hold and release at the right minutes.
func TestAlertParseQuiet(t *testing.T) {
	for _, tc := range quietCases {
		got, err := ParseQuiet(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
	q := QuietHours{"22:00", "07:00"}
	at := func(h, m int) time.Time { return time.Date(2026, 3, 1, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		t      time.Time
		active bool
	}{{at(21, 59), false}, {at(22, 0), true}, {at(0, 0), true}, {at(6, 59), true}, {at(7, 0), false}, {at(12, 0), false}} {
		if got := q.active(tc.t); got != tc.active {
			t.Errorf("active(%s) = %v", tc.t.Format("15:04"), got)
		}
	}
	if got := q.endAfter(at(23, 0)); !got.Equal(time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)) {
		t.Errorf("endAfter(23:00) = %v", got)
	}
	if got := q.endAfter(at(3, 0)); !got.Equal(at(7, 0)) {
		t.Errorf("endAfter(03:00) = %v", got)
	}
	if (QuietHours{}).active(at(23, 0)) {
		t.Error("quiet hours are on by default")
	}
}

// FuzzAlertDecodeSettings: settings read back from the store never panic
// decoding or validating.
func FuzzAlertDecodeSettings(f *testing.F) {
	s := goodSettings()
	s.Rules = []Rule{{Severities: []model.Severity{"critical"}, Kinds: []string{"down"}, To: []string{"a@example.com"}}}
	s.Quiet = QuietHours{"22:00", "07:00"}
	b, _ := json.Marshal(s)
	f.Add(string(b))
	f.Add(`{"smtp_host":"localhost","smtp_port":25,"tls":"none","from":"a@b","to":["c@d"],"coalesce":"-1s"}`)
	f.Add(`{"quiet_hours":{"start":"99:99"}}`)
	f.Fuzz(func(t *testing.T, js string) {
		s, err := decodeSettings([]byte(js))
		if err != nil {
			return
		}
		if s.Validate() == nil {
			s.recipients(model.Event{Severity: model.SeverityCritical, Kind: "down"})
			s.Quiet.active(time.Now())
		}
	})
}

// TestAlertBackoffDoublesWithJitterAndCap checks the retry schedule.
func TestAlertBackoffDoublesWithJitterAndCap(t *testing.T) {
	o := New(nil, nil, nil)
	for _, j := range []float64{0, 0.5, 0.999} {
		o.jitter = func() float64 { return j }
		prev := time.Duration(0)
		for n := 1; n <= 12; n++ {
			d := o.backoff(n)
			base := min(5*time.Second<<(n-1), 5*time.Minute)
			if d < base*3/4-time.Millisecond || d > min(base*5/4, 5*time.Minute) {
				t.Errorf("jitter %v attempt %d: %v, want within 25%% of %v and at most 5m", j, n, d, base)
			}
			if d < prev {
				t.Errorf("jitter %v attempt %d: %v shorter than before (%v)", j, n, d, prev)
			}
			prev = d
		}
	}
}
