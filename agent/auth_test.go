package agent

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
)

// TestUnpairedClientsRefused: every endpoint but pairing refuses a client
// without a pinned, currently valid certificate, at the handshake or with
// 401, and never answers 200.
func TestUnpairedClientsRefused(t *testing.T) {
	a := startPairAgent(t, []string{PermRead, PermAct})
	paired, _ := newConsole(t)
	if _, err := pair(a, a.newCode(t), "desk", paired); err != nil {
		t.Fatal(err)
	}
	unpinned, _ := newConsole(t)
	now := a.clock.Now()
	expiredOther := reissued(t, unpinned, now.Add(-48*time.Hour), now.Add(-24*time.Hour))

	tests := []struct {
		name string
		cert *tls.Certificate
	}{
		{"no certificate", nil},
		{"unpinned certificate", &unpinned},
		{"expired unpinned certificate", &expiredOther},
		{"expired certificate of a pinned key", ptr(reissued(t, paired, now.Add(-48*time.Hour), now.Add(-time.Minute)))},
		{"future certificate of a pinned key", ptr(reissued(t, paired, now.Add(time.Hour), now.Add(48*time.Hour)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range pairRoutes {
				code, err := call(a, r.method, r.path, tt.cert)
				if err == nil && code != http.StatusUnauthorized {
					t.Errorf("%s %s = %d, want 401 or a refused handshake", r.method, r.path, code)
				}
			}
		})
	}

	// Expired certificates are refused at the handshake itself.
	for _, c := range []*tls.Certificate{tests[2].cert, tests[3].cert} {
		if code, err := call(a, "GET", "/v1/status", c); err == nil {
			t.Errorf("expired certificate: handshake succeeded and /v1/status = %d", code)
		}
	}

	// The same certificate, valid again by the agent's clock, is served:
	// the refusal above was the dates, not the key.
	a.clock.Advance(-2 * time.Minute)
	if code, err := call(a, "GET", "/v1/status", tests[3].cert); err != nil || code != http.StatusOK {
		t.Errorf("pinned key, certificate valid by the agent's clock: %d, %v; want 200", code, err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestRefusalTellsHowToPair checks the 401 body an operator sees.
func TestRefusalTellsHowToPair(t *testing.T) {
	a := startPairAgent(t, nil)
	hc := &http.Client{Timeout: waitLimit, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}}}
	resp, err := hc.Get("https://" + a.addr + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body actions.PairResponse
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body.Error, "vigil pair ADDRESS --code CODE") {
		t.Errorf("GET /v1/status without a certificate = %s %q, want 401 naming `vigil pair`", resp.Status, body.Error)
	}
	if resp.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
}

// TestRefusedBeforeBody sends only the headers of a large request: the
// agent must answer 401 without waiting for a body that never comes.
func TestRefusedBeforeBody(t *testing.T) {
	a := startPairAgent(t, nil)
	unpinned, _ := newConsole(t)
	for _, cert := range []*tls.Certificate{nil, &unpinned} {
		cfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		conn, err := tls.Dial("tcp", a.addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(waitLimit))
		_, err = conn.Write([]byte("POST /v1/actions HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("client cert %v: no answer before the body: %v", cert != nil, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("client cert %v: %s, want 401", cert != nil, resp.Status)
		}
		if !resp.Close {
			t.Errorf("client cert %v: connection kept open after 401", cert != nil)
		}
	}
}

func TestOnlyTLS13(t *testing.T) {
	a := startPairAgent(t, nil)
	conn, err := tls.Dial("tcp", a.addr, &tls.Config{MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true})
	if err == nil {
		conn.Close()
		t.Fatal("TLS 1.2 handshake succeeded")
	}
}

// TestPairingNeedsNoCertificate: a console that has no certificate in the
// handshake still reaches POST /v1/pair (here refused only for want of a
// code), so a console can pair before anything trusts it.
func TestPairingNeedsNoCertificate(t *testing.T) {
	a := startPairAgent(t, nil)
	cert, _ := newConsole(t)
	r := postPairRaw(t, a, startBody(t, "0000-0000-00", cert))
	if r.code != http.StatusForbidden {
		t.Fatalf("start without a client certificate = %d %q, want 403 (no code)", r.code, r.body.Error)
	}
}
