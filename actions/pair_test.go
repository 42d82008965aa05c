package actions

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/schollz/pake/v3"
)

func TestNormalizePairCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"7KQ4-M9X2-TP", "7KQ4M9X2TP", true},
		{"7kq4 m9x2 tp", "7KQ4M9X2TP", true},
		{"7KQ4M9X2TP", "7KQ4M9X2TP", true},
		{"OIL0-0000-00", "0110000000", true}, // O, I, L read as 0, 1, 1
		{"7KQ4-M9X2-T", "", false},           // too short
		{"7KQ4-M9X2-TPX", "", false},         // too long
		{"7KQ4-M9X2-TU", "", false},          // U is not in the alphabet
		{"7KQ4-M9X2-T!", "", false},
		{"", "", false},
		{"７KQ4-M9X2-TP", "", false}, // full-width digit
	}
	for _, tt := range tests {
		got, err := NormalizePairCode(tt.in)
		if tt.ok && (err != nil || got != tt.want) {
			t.Errorf("NormalizePairCode(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if !tt.ok && !errors.Is(err, ErrBadPairCode) {
			t.Errorf("NormalizePairCode(%q) = %q, %v; want ErrBadPairCode", tt.in, got, err)
		}
	}
}

func FuzzNormalizePairCode(f *testing.F) {
	for _, s := range []string{"7KQ4-M9X2-TP", "oil0-0000-00", "", "----------", "ZZZZZZZZZZZ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := NormalizePairCode(s)
		if err != nil {
			return
		}
		if len(c) != PairCodeLen || strings.Trim(c, PairCodeAlphabet) != "" {
			t.Fatalf("NormalizePairCode(%q) = %q, not canonical", s, c)
		}
		if again, err := NormalizePairCode(FormatPairCode(c)); err != nil || again != c {
			t.Fatalf("round trip of %q: %q, %v", c, again, err)
		}
	})
}

// exchange runs both sides of the PAKE in memory and returns what each
// side derived.
func exchange(t *testing.T, consoleCode, agentCode string) (console, agent *PairSecret) {
	t.Helper()
	p, err := pake.InitCurve([]byte(consoleCode), 0, pakeCurve)
	if err != nil {
		t.Fatal(err)
	}
	reply, agent, err := AnswerPair(agentCode, p.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := updatePAKE(p, reply, 1); err != nil {
		t.Fatal(err)
	}
	console, err = newPairSecret(p)
	if err != nil {
		t.Fatal(err)
	}
	return console, agent
}

func TestPairConfirmBindsKeysAndCode(t *testing.T) {
	const a, c, name = "aaaa", "cccc", "desk"
	console, agent := exchange(t, "7KQ4M9X2TP", "7KQ4M9X2TP")
	if !bytes.Equal(console.AgentConfirm(a, c, name), agent.AgentConfirm(a, c, name)) ||
		!bytes.Equal(console.ConsoleConfirm(a, c, name), agent.ConsoleConfirm(a, c, name)) {
		t.Fatal("same code: confirmations differ")
	}
	if bytes.Equal(agent.AgentConfirm(a, c, name), agent.ConsoleConfirm(a, c, name)) {
		t.Error("the agent's and the console's confirmations are equal: one could be reflected as the other")
	}
	// Any difference in what each side saw breaks the confirmation.
	for _, alt := range [][3]string{{"aaab", c, name}, {a, "cccd", name}, {a, c, "desk2"}, {c, a, name}} {
		if bytes.Equal(agent.AgentConfirm(a, c, name), console.AgentConfirm(alt[0], alt[1], alt[2])) {
			t.Errorf("confirmation does not cover %q", alt)
		}
	}
	console, agent = exchange(t, "7KQ4M9X2TP", "7KQ4M9X2TQ")
	if bytes.Equal(console.AgentConfirm(a, c, name), agent.AgentConfirm(a, c, name)) {
		t.Fatal("different codes: confirmations match")
	}
}

func TestDecodePairRequest(t *testing.T) {
	p, _ := pake.InitCurve([]byte("0000000000"), 0, pakeCurve)
	agentSide, _ := pake.InitCurve([]byte("0000000000"), 1, pakeCurve)
	start := func(mod func(*PairRequest)) string {
		r := PairRequest{Step: PairStart, PAKE: p.Bytes(), ConsoleCert: []byte{1}, Name: "desk"}
		mod(&r)
		b, _ := json.Marshal(r)
		return string(b)
	}
	okFinish := `{"step":"finish","pair_id":"0123456789abcdef0123456789abcdef","confirm":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"start", start(func(*PairRequest) {}), true},
		{"finish", okFinish, true},
		{"unknown step", `{"step":"begin"}`, false},
		{"unknown field", strings.Replace(okFinish, `{`, `{"x":1,`, 1), false},
		{"two objects", okFinish + okFinish, false},
		{"null", `null`, false},
		{"empty", ``, false},
		{"start without cert", start(func(r *PairRequest) { r.ConsoleCert = nil }), false},
		{"start without name", start(func(r *PairRequest) { r.Name = "" }), false},
		{"start with control name", start(func(r *PairRequest) { r.Name = "a\x1b[2Jb" }), false},
		{"start with agent's message", start(func(r *PairRequest) { r.PAKE = agentSide.Bytes() }), false},
		{"start with null pake", start(func(r *PairRequest) { r.PAKE = []byte("null") }), false},
		{"start with pointless pake", start(func(r *PairRequest) { r.PAKE = []byte(`{"Role":0}`) }), false},
		{"start with finish fields", start(func(r *PairRequest) { r.PairID = "x" }), false},
		{"finish short confirm", strings.Replace(okFinish, "AAAA=", "A=", 1), false},
		{"finish bad id", strings.Replace(okFinish, "0123", "XYZW", 1), false},
		{"too long", `{"step":"start","name":"` + strings.Repeat("a", MaxPairRequest) + `"}`, false},
	}
	for _, tt := range tests {
		_, err := DecodePairRequest(strings.NewReader(tt.body))
		if (err == nil) != tt.ok {
			t.Errorf("%s: DecodePairRequest err = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// FuzzDecodePairRequest: outside input must produce an error, not a panic,
// and whatever decodes must not panic the PAKE either.
func FuzzDecodePairRequest(f *testing.F) {
	p, _ := pake.InitCurve([]byte("0000000000"), 0, pakeCurve)
	b, _ := json.Marshal(PairRequest{Step: PairStart, PAKE: p.Bytes(), ConsoleCert: []byte{1}, Name: "desk"})
	f.Add(b)
	f.Add([]byte(`{"step":"start","pake":"eyJSb2xlIjowLCJY4bWkIjoxLCJY4bWlIjoxfQ==","console_cert":"AA==","name":"x"}`))
	f.Add([]byte(`{"step":"finish","pair_id":"0123456789abcdef0123456789abcdef","confirm":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodePairRequest(bytes.NewReader(body))
		if err != nil || req.Step != PairStart {
			return
		}
		AnswerPair("0000000000", req.PAKE) // errors are fine; panics are not
	})
}

func TestLoadConsoleIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cert, fp, err := LoadConsoleIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf == nil || Fingerprint(cert.Leaf) != fp || len(fp) != 64 {
		t.Fatalf("LoadConsoleIdentity: leaf %v, fingerprint %q", cert.Leaf != nil, fp)
	}
	if _, ok := cert.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("console key is %T, want ECDSA", cert.PrivateKey)
	}
	leaf := cert.Leaf
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("ExtKeyUsage = %v, want client auth", leaf.ExtKeyUsage)
	}
	if life := leaf.NotAfter.Sub(time.Now()); life < 19*365*24*time.Hour {
		t.Errorf("certificate lasts %v, want about 20 years", life)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Join(dir, ConsoleKeyFile))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("console.key: %v, %v; want mode 0600", fi.Mode(), err)
		}
	}

	// Later starts reuse the key.
	if _, again, err := LoadConsoleIdentity(dir); err != nil || again != fp {
		t.Fatalf("second LoadConsoleIdentity = %q, %v; want %q", again, err, fp)
	}

	// A certificate near its end is renewed for the same key, so agents'
	// pins stay good.
	tmpl := *leaf
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, leaf.PublicKey, cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConsoleCertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	renewed, again, err := LoadConsoleIdentity(dir)
	if err != nil || again != fp {
		t.Fatalf("LoadConsoleIdentity with an expiring certificate = %q, %v; want %q", again, err, fp)
	}
	if time.Until(renewed.Leaf.NotAfter) < 19*365*24*time.Hour {
		t.Errorf("expiring certificate not renewed: ends %v", renewed.Leaf.NotAfter)
	}

	// A damaged certificate is reported, never silently replaced: that
	// would unpair the console from every agent.
	os.WriteFile(filepath.Join(dir, ConsoleCertFile), []byte("junk"), 0o644)
	if _, _, err := LoadConsoleIdentity(dir); err == nil || !strings.Contains(err.Error(), "pair") {
		t.Errorf("damaged certificate: err = %v, want an error saying what replacing costs", err)
	}
}

func TestPairRejectsBadCodeWithoutContact(t *testing.T) {
	cert, _, err := LoadConsoleIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Nothing listens on this address; a bad code must fail before dialing.
	_, err = Pair(context.Background(), "127.0.0.1:1", "7KQ4-M9X2", "desk", cert)
	if !errors.Is(err, ErrBadPairCode) {
		t.Fatalf("Pair with a short code: %v, want ErrBadPairCode", err)
	}
}

// TestPairAgainstHostileAgent: whatever an agent answers, Pair returns an
// error, never panics, and never claims success.
func TestPairAgainstHostileAgent(t *testing.T) {
	cert, _, err := LoadConsoleIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	agentSide, _ := pake.InitCurve([]byte("0000000000"), 1, pakeCurve)
	answers := map[string]string{
		"not json":      `<html>`,
		"null pake":     `{"pair_id":"0123456789abcdef0123456789abcdef","pake":"bnVsbA==","confirm":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`,
		"console's own": `{"pair_id":"0123456789abcdef0123456789abcdef","pake":"PAKE","confirm":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`,
		"no confirm":    `{"pair_id":"0123456789abcdef0123456789abcdef","pake":"eyJSb2xlIjoxfQ=="}`,
		"unchecked key": `{"pair_id":"0123456789abcdef0123456789abcdef","pake":"AGENT","confirm":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`,
	}
	for name, answer := range answers {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var req PairRequest
				json.NewDecoder(r.Body).Decode(&req)
				a := strings.Replace(answer, "PAKE", b64(req.PAKE), 1)
				a = strings.Replace(a, "AGENT", b64(agentSide.Bytes()), 1)
				w.Write([]byte(a))
			}))
			defer srv.Close()
			fp, err := Pair(context.Background(), srv.Listener.Addr().String(), "0000-0000-00", "desk", cert)
			if err == nil {
				t.Fatalf("Pair succeeded with agent key %s", fp)
			}
		})
	}
}

func b64(b []byte) string {
	s, _ := json.Marshal(b)
	return strings.Trim(string(s), `"`)
}
