package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schollz/pake/v3"

	"github.com/vigilops/vigil/actions"
)

// pairClock is the injected clock: tests cross the 10-minute code life and
// the 15-minute lock by moving it.
type pairClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *pairClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *pairClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// pairAgent is the agent's API as the agent serves it: a real TLS 1.3
// listener on loopback with Pairing's TLS config, POST /v1/pair open and
// every other endpoint behind Require.
type pairAgent struct {
	addr    string
	fp      string
	dir     string
	clock   *pairClock
	pairing *Pairing
}

// pairRoutes are the agent API's protected endpoints and the permission
// each needs (DESIGN.md).
var pairRoutes = []struct{ method, path, perm string }{
	{"GET", "/v1/status", PermRead},
	{"GET", "/v1/watch", PermRead},
	{"GET", "/v1/audit", PermRead},
	{"GET", "/v1/actions/0123456789abcdef", PermRead},
	{"POST", "/v1/actions", PermAct},
}

func startPairAgent(t *testing.T, grant []string) *pairAgent {
	t.Helper()
	dir := t.TempDir()
	return startPairAgentIn(t, dir, &pairClock{t: time.Now()}, grant)
}

// startPairAgentIn serves from an existing state directory: a second call on
// the same directory is a restarted agent.
func startPairAgentIn(t *testing.T, dir string, clock *pairClock, grant []string) *pairAgent {
	t.Helper()
	id, err := LoadIdentity(dir, "pair-test")
	if err != nil {
		t.Fatal(err)
	}
	p := NewPairing(dir, clock.Now)
	mux := http.NewServeMux()
	mux.Handle("POST /v1/pair", p.Handler(id.Fingerprint, grant))
	for _, r := range pairRoutes {
		mux.Handle(r.method+" "+strings.Replace(r.path, "0123456789abcdef", "{id}", 1),
			p.Require(r.perm, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Write([]byte(`{"ok":true}`))
			})))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: waitLimit, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(tls.NewListener(ln, p.TLSConfig(id.Cert)))
	t.Cleanup(func() { srv.Close() })
	return &pairAgent{addr: ln.Addr().String(), fp: id.Fingerprint, dir: dir, clock: clock, pairing: p}
}

func (a *pairAgent) newCode(t *testing.T) string {
	t.Helper()
	code, _, err := a.pairing.NewCode()
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func newConsole(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	cert, fp, err := actions.LoadConsoleIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cert, fp
}

func pair(a *pairAgent, code, name string, cert tls.Certificate) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	return actions.Pair(ctx, a.addr, code, name, cert)
}

// call makes one request on a fresh connection, as a console would, trusting
// the agent by its pinned key. It returns the status or the transport error
// (a handshake refusal).
func call(a *pairAgent, method, path string, cert *tls.Certificate) (int, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return actions.MatchFingerprint(a.fp, actions.Fingerprint(cs.PeerCertificates[0]))
		},
	}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	hc := &http.Client{Timeout: waitLimit, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	req, err := http.NewRequest(method, "https://"+a.addr+path, strings.NewReader(`{}`))
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func wantPinned(t *testing.T, a *pairAgent, fps ...string) {
	t.Helper()
	list, err := a.pairing.Consoles()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range list {
		got = append(got, c.Fingerprint)
	}
	if strings.Join(got, ",") != strings.Join(fps, ",") {
		t.Fatalf("pinned consoles = %q, want %q", got, fps)
	}
}

func TestPairThenAccess(t *testing.T) {
	a := startPairAgent(t, []string{PermRead, PermAct})
	cert, fp := newConsole(t)
	code := a.newCode(t)
	if !regexpPairCode.MatchString(code) {
		t.Fatalf("NewCode = %q, want the form 7KQ4-M9X2-TP", code)
	}

	// Lower case and without dashes, as an operator may type it.
	agentFP, err := pair(a, strings.ToLower(strings.ReplaceAll(code, "-", "")), "desk-1", cert)
	if err != nil {
		t.Fatalf("Pair with the right code: %v", err)
	}
	if agentFP != a.fp {
		t.Fatalf("Pair returned agent key %s, want %s", agentFP, a.fp)
	}
	for _, r := range pairRoutes {
		if code, err := call(a, r.method, r.path, &cert); err != nil || code != http.StatusOK {
			t.Errorf("paired console: %s %s = %d, %v; want 200", r.method, r.path, code, err)
		}
	}
	list, err := a.pairing.Consoles()
	if err != nil || len(list) != 1 {
		t.Fatalf("Consoles() = %+v, %v; want one", list, err)
	}
	if c := list[0]; c.Fingerprint != fp || c.Name != "desk-1" || strings.Join(c.Permissions, ",") != "read,act" || c.PairedAt.IsZero() {
		t.Errorf("pinned console = %+v", c)
	}

	// A second console, never paired, is refused everywhere.
	other, _ := newConsole(t)
	for _, r := range pairRoutes {
		if code, err := call(a, r.method, r.path, &other); err != nil || code != http.StatusUnauthorized {
			t.Errorf("unpaired second console: %s %s = %d, %v; want 401", r.method, r.path, code, err)
		}
	}

	// The code was single-use: the second console cannot pair with it.
	if _, err := pair(a, code, "desk-2", other); err == nil || !strings.Contains(err.Error(), "no pairing code is active") {
		t.Errorf("second Pair with a used code: err = %v, want no active code", err)
	}
	wantPinned(t, a, fp)

	// The pin survives a restart of the agent.
	b := startPairAgentIn(t, a.dir, a.clock, nil)
	if code, err := call(b, "GET", "/v1/status", &cert); err != nil || code != http.StatusOK {
		t.Errorf("after restart: GET /v1/status = %d, %v; want 200", code, err)
	}

	// An operator unpins a console by editing consoles.json; the running
	// agent notices without a restart.
	if err := os.WriteFile(filepath.Join(a.dir, ConsolesFile), []byte("[]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, err := call(a, "GET", "/v1/status", &cert); err != nil || code != http.StatusUnauthorized {
		t.Errorf("after unpinning: GET /v1/status = %d, %v; want 401", code, err)
	}
}

func TestPairStateFilesArePrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix file modes")
	}
	a := startPairAgent(t, nil)
	cert, _ := newConsole(t)
	if _, err := pair(a, a.newCode(t), "desk", cert); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{PairCodeFile, PairLockFile, ConsolesFile} {
		fi, err := os.Stat(filepath.Join(a.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
}

func TestReadOnlyGrant(t *testing.T) {
	a := startPairAgent(t, nil) // nil grant: read only
	cert, _ := newConsole(t)
	if _, err := pair(a, a.newCode(t), "viewer", cert); err != nil {
		t.Fatal(err)
	}
	for _, r := range pairRoutes {
		want := http.StatusOK
		if r.perm == PermAct {
			want = http.StatusForbidden
		}
		if code, err := call(a, r.method, r.path, &cert); err != nil || code != want {
			t.Errorf("read-only console: %s %s = %d, %v; want %d", r.method, r.path, code, err, want)
		}
	}
}

func TestWrongCodesLockPairing(t *testing.T) {
	a := startPairAgent(t, []string{PermRead})
	cert, fp := newConsole(t)
	code := a.newCode(t)
	wrong := "ZZZZ-ZZZZ-ZZ"
	if code == wrong {
		wrong = "YYYY-YYYY-YY"
	}
	for i := range PairMaxTries {
		_, err := pair(a, wrong, "desk", cert)
		if !errors.Is(err, actions.ErrWrongPairCode) {
			t.Fatalf("wrong code, try %d: err = %v, want ErrWrongPairCode", i+1, err)
		}
	}
	// Locked: even the right code, and a fresh one, are refused.
	if _, err := pair(a, code, "desk", cert); !errors.Is(err, actions.ErrPairingLocked) {
		t.Fatalf("right code after %d wrong ones: err = %v, want ErrPairingLocked", PairMaxTries, err)
	}
	if _, err := pair(a, a.newCode(t), "desk", cert); !errors.Is(err, actions.ErrPairingLocked) {
		t.Fatalf("fresh code while locked: err = %v, want ErrPairingLocked", err)
	}
	// The answer is 429 with when the lock ends.
	resp := postPairRaw(t, a, startBody(t, a.newCode(t), cert))
	if resp.code != http.StatusTooManyRequests || resp.body.LockedUntil == nil || resp.retryAfter == "" {
		t.Fatalf("start while locked = %d %+v (Retry-After %q), want 429 with locked_until", resp.code, resp.body, resp.retryAfter)
	}
	if want := a.clock.Now().Add(PairLockTime); resp.body.LockedUntil.After(want) || resp.body.LockedUntil.Before(want.Add(-time.Minute)) {
		t.Errorf("locked_until = %v, want about %v", resp.body.LockedUntil, want)
	}
	until, err := a.pairing.LockedUntil()
	if err != nil || until.IsZero() {
		t.Errorf("LockedUntil() = %v, %v; want the lock's end", until, err)
	}

	// A restart does not end the lock.
	b := startPairAgentIn(t, a.dir, a.clock, []string{PermRead})
	a.clock.Advance(PairLockTime - time.Second)
	if _, err := pair(b, b.newCode(t), "desk", cert); !errors.Is(err, actions.ErrPairingLocked) {
		t.Fatalf("restarted agent, 1s before the lock ends: err = %v, want ErrPairingLocked", err)
	}
	wantPinned(t, b)

	a.clock.Advance(time.Second)
	if _, err := pair(b, b.newCode(t), "desk", cert); err != nil {
		t.Fatalf("right code after the lock ended: %v", err)
	}
	wantPinned(t, b, fp)
	if code, err := call(b, "GET", "/v1/status", &cert); err != nil || code != http.StatusOK {
		t.Errorf("paired after the lock: GET /v1/status = %d, %v", code, err)
	}
}

func TestSuccessResetsTries(t *testing.T) {
	a := startPairAgent(t, nil)
	cert, _ := newConsole(t)
	code := a.newCode(t)
	for range PairMaxTries - 1 {
		if _, err := pair(a, "ZZZZ-ZZZZ-Z0", "desk", cert); !errors.Is(err, actions.ErrWrongPairCode) {
			t.Fatalf("wrong code: %v", err)
		}
	}
	if _, err := pair(a, code, "desk", cert); err != nil {
		t.Fatalf("right code on the last try: %v", err)
	}
	// The count started again: wrong codes up to the limit do not lock.
	code = a.newCode(t)
	for range PairMaxTries - 1 {
		if _, err := pair(a, "ZZZZ-ZZZZ-Z0", "desk", cert); !errors.Is(err, actions.ErrWrongPairCode) {
			t.Fatalf("wrong code after a success: %v", err)
		}
	}
	if _, err := pair(a, code, "desk", cert); err != nil {
		t.Fatalf("right code after %d wrong ones: %v", PairMaxTries-1, err)
	}
}

func TestExpiredCodeRefused(t *testing.T) {
	a := startPairAgent(t, nil)
	cert, _ := newConsole(t)
	code := a.newCode(t)
	a.clock.Advance(11 * time.Minute)
	_, err := pair(a, code, "desk", cert)
	if err == nil || !strings.Contains(err.Error(), "no pairing code is active") {
		t.Fatalf("Pair with a code 11 minutes old: err = %v, want no active code", err)
	}
	wantPinned(t, a)
	// Nothing to guess against, so it cost no try.
	var l lockState
	if err := a.pairing.readState(PairLockFile, &l); err != nil || l.Failed != 0 {
		t.Errorf("tries after an expired code = %d, %v; want 0", l.Failed, err)
	}
}

func TestNoCodeRefused(t *testing.T) {
	a := startPairAgent(t, nil)
	cert, _ := newConsole(t)
	resp := postPairRaw(t, a, startBody(t, "0000-0000-00", cert))
	if resp.code != http.StatusForbidden || !strings.Contains(resp.body.Error, "vigil-agent pair-code") {
		t.Fatalf("start with no code = %d %q, want 403 telling to run vigil-agent pair-code", resp.code, resp.body.Error)
	}
}

func TestNewCodeReplacesOld(t *testing.T) {
	a := startPairAgent(t, nil)
	cert, _ := newConsole(t)
	old := a.newCode(t)
	if _, err := pair(a, old, "desk", cert); err != nil {
		t.Fatal(err)
	}
	old = a.newCode(t)
	newer := a.newCode(t)
	if old == newer {
		t.Fatal("two codes in a row are equal")
	}
	if _, err := pair(a, old, "desk", cert); !errors.Is(err, actions.ErrWrongPairCode) {
		t.Errorf("replaced code: err = %v, want ErrWrongPairCode", err)
	}
	if _, err := pair(a, newer, "desk", cert); err != nil {
		t.Errorf("newest code: %v", err)
	}
}

// TestPairThroughInterceptor puts a proxy between console and agent that
// terminates TLS with its own key and relays the requests, as an attacker
// on the network would. The console must notice, and the agent must pin
// nothing, although the code is right.
func TestPairThroughInterceptor(t *testing.T) {
	a := startPairAgent(t, nil)
	cert, _ := newConsole(t)
	code := a.newCode(t)

	target, _ := url.Parse("https://" + a.addr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	mitm := httptest.NewUnstartedServer(proxy)
	mitm.Config.ErrorLog = log.New(io.Discard, "", 0)
	mitm.StartTLS()
	defer mitm.Close()

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, err := actions.Pair(ctx, mitm.Listener.Addr().String(), code, "desk", cert)
	if !errors.Is(err, actions.ErrWrongPairCode) {
		t.Fatalf("Pair through an interceptor: err = %v, want ErrWrongPairCode", err)
	}
	wantPinned(t, a)

	// The code was not consumed: it still pairs the real console.
	if _, err := pair(a, code, "desk", cert); err != nil {
		t.Fatalf("Pair directly afterwards: %v", err)
	}
}

func TestFinishIsOneShot(t *testing.T) {
	a := startPairAgent(t, nil)
	cert, _ := newConsole(t)
	a.newCode(t)
	start := postPairRaw(t, a, startBody(t, "0000-0000-00", cert))
	if start.code != http.StatusOK {
		t.Fatalf("start = %d %q", start.code, start.body.Error)
	}
	finish, _ := json.Marshal(actions.PairRequest{Step: actions.PairFinish, PairID: start.body.PairID, Confirm: make([]byte, 32)})
	if r := postPairRaw(t, a, finish); r.code != http.StatusForbidden {
		t.Errorf("finish with a forged confirm = %d %q, want 403", r.code, r.body.Error)
	}
	if r := postPairRaw(t, a, finish); r.code != http.StatusBadRequest {
		t.Errorf("second finish of one exchange = %d %q, want 400", r.code, r.body.Error)
	}
	// A pending exchange lasts 60 s.
	start = postPairRaw(t, a, startBody(t, "0000-0000-00", cert))
	a.clock.Advance(61 * time.Second)
	finish, _ = json.Marshal(actions.PairRequest{Step: actions.PairFinish, PairID: start.body.PairID, Confirm: make([]byte, 32)})
	if r := postPairRaw(t, a, finish); r.code != http.StatusBadRequest || !strings.Contains(r.body.Error, "start again") {
		t.Errorf("finish after 61 s = %d %q, want 400", r.code, r.body.Error)
	}
	wantPinned(t, a)
}

var regexpPairCode = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{2}$`)

type rawPair struct {
	code       int
	body       actions.PairResponse
	retryAfter string
}

// startBody is a well-formed start step with a PAKE message made from code.
func startBody(t testing.TB, code string, cert tls.Certificate) []byte {
	t.Helper()
	code, err := actions.NormalizePairCode(code)
	if err != nil {
		t.Fatal(err)
	}
	console, err := pake.InitCurve([]byte(code), 0, "p256")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(actions.PairRequest{Step: actions.PairStart, PAKE: console.Bytes(), ConsoleCert: cert.Certificate[0], Name: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func postPairRaw(t *testing.T, a *pairAgent, body []byte) rawPair {
	t.Helper()
	hc := &http.Client{Timeout: waitLimit, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}}}
	resp, err := hc.Post("https://"+a.addr+"/v1/pair", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r rawPair
	r.code, r.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	if err := json.NewDecoder(resp.Body).Decode(&r.body); err != nil {
		t.Fatalf("pairing answer %s is not JSON: %v", resp.Status, err)
	}
	return r
}

// FuzzPairRequest feeds arbitrary bodies to POST /v1/pair: it must never
// panic, must answer 400 to anything DecodePairRequest rejects, and must
// never pin a console.
func FuzzPairRequest(f *testing.F) {
	cert, _, err := actions.LoadConsoleIdentity(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(startBody(f, "0000-0000-00", cert))
	f.Add([]byte(`{"step":"finish","pair_id":"0123456789abcdef0123456789abcdef","confirm":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`))
	f.Add([]byte(`{"step":"start","pake":"bnVsbA==","console_cert":"AA==","name":"x"}`)) // pake: null
	f.Add([]byte(`{"step":"start","pake":"eyJSb2xlIjowfQ==","console_cert":"AA==","name":"x"}`))
	f.Add([]byte(`{"step":"start","pake":"eyJSb2xlIjowLCJY4bWkIjoxLCJY4bWlIjoxfQ==","console_cert":"AA==","name":"x"}`))
	f.Add([]byte(`{"step":"nope"}`))
	f.Add([]byte(`{"step":"start"}{"step":"start"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Add([]byte(`{"step":"start","extra":1}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body []byte) {
		// A fresh agent each time, with a code and no lock, so that every
		// body reaches the PAKE if it decodes.
		os.Remove(filepath.Join(dir, PairLockFile))
		p := NewPairing(dir, nil)
		if _, _, err := p.NewCode(); err != nil {
			t.Fatal(err)
		}
		h := p.Handler(strings.Repeat("ab", 32), nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/v1/pair", bytes.NewReader(body)))
		if _, err := actions.DecodePairRequest(bytes.NewReader(body)); err != nil && w.Code != http.StatusBadRequest {
			t.Fatalf("undecodable body %q answered %d, want 400", body, w.Code)
		}
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusForbidden:
		default:
			t.Fatalf("body %q answered %d %s", body, w.Code, w.Body)
		}
		var resp actions.PairResponse
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("answer %q is not a pairing response: %v", w.Body, err)
		}
		if list, _ := p.Consoles(); len(list) != 0 {
			t.Fatalf("body %q pinned %+v", body, list)
		}
	})
}

// reissued is a certificate for the same key as cert, valid only between
// from and to: it shows the agent checks the certificate's dates even for a
// pinned key.
func reissued(t *testing.T, cert tls.Certificate, from, to time.Time) tls.Certificate {
	t.Helper()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	tmpl := *leaf
	tmpl.NotBefore, tmpl.NotAfter = from, to
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, leaf.PublicKey, cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: cert.PrivateKey}
}
