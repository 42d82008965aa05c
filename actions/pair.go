package actions

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/schollz/pake/v3"
)

// Pairing, POST /v1/pair, in two steps over the agent's HTTPS port:
//
//	console → agent  {"step":"start","pake":A,"console_cert":DER,"name":N}
//	agent → console  {"pair_id":ID,"pake":B,"confirm":Ca}
//	console → agent  {"step":"finish","pair_id":ID,"confirm":Cc}
//	agent → console  {"permissions":[...]}
//
// A and B are the two messages of SPAKE2 (github.com/schollz/pake/v3, curve
// P-256) over the pairing code, the console in role 0 and the agent in role 1.
// The console cannot check the agent's certificate yet, so the PAKE is what
// authenticates both ends: Ca and Cc are HMACs, under keys derived from the
// session key, of both public-key fingerprints, each taken as its side saw
// it. A man in the middle must show the console a key other than the agent's,
// so the fingerprints differ and Ca fails; without the code he cannot make a
// Ca of his own. Each exchange tests one guess of the code online (the agent
// counts them and locks pairing), and a captured exchange allows no offline
// guessing (SPAKE2's property).

// Pairing steps.
const (
	PairStart  = "start"
	PairFinish = "finish"
)

// MaxPairRequest bounds a pairing request: a PAKE message and a certificate.
const MaxPairRequest = 16 << 10

// PairRequest is the body of POST /v1/pair. Byte fields travel as standard
// base64, as encoding/json does.
type PairRequest struct {
	Step        string `json:"step"`
	PAKE        []byte `json:"pake,omitempty"`         // start: the console's PAKE message
	ConsoleCert []byte `json:"console_cert,omitempty"` // start: the console's certificate, DER
	Name        string `json:"name,omitempty"`         // start: the console's name, shown to operators
	PairID      string `json:"pair_id,omitempty"`      // finish
	Confirm     []byte `json:"confirm,omitempty"`      // finish: HMAC proving the console knows the session key
}

// PairResponse is the answer to POST /v1/pair, and also its error body.
type PairResponse struct {
	PairID      string     `json:"pair_id,omitempty"`      // start
	PAKE        []byte     `json:"pake,omitempty"`         // start: the agent's PAKE message
	Confirm     []byte     `json:"confirm,omitempty"`      // start: HMAC proving the agent knows the session key
	Permissions []string   `json:"permissions,omitempty"`  // finish: what the console may now do
	Error       string     `json:"error,omitempty"`        // any refusal, for operators
	LockedUntil *time.Time `json:"locked_until,omitempty"` // 429: when pairing opens again
}

// DecodePairRequest parses and checks a pairing request from outside. It
// returns an error, never panics, for anything a console would not send.
func DecodePairRequest(r io.Reader) (PairRequest, error) {
	var req PairRequest
	dec := json.NewDecoder(io.LimitReader(r, MaxPairRequest+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return PairRequest{}, fmt.Errorf("pairing request is not valid JSON: %w", err)
	}
	if dec.More() {
		return PairRequest{}, errors.New("pairing request has data after the JSON object")
	}
	if dec.InputOffset() > MaxPairRequest {
		return PairRequest{}, fmt.Errorf("pairing request is longer than %d bytes", MaxPairRequest)
	}
	switch req.Step {
	case PairStart:
		if req.PairID != "" || req.Confirm != nil {
			return PairRequest{}, errors.New("start step carries finish fields")
		}
		if err := checkPAKEMessage(req.PAKE, 0); err != nil {
			return PairRequest{}, err
		}
		if len(req.ConsoleCert) == 0 {
			return PairRequest{}, errors.New("start step has no console_cert")
		}
		if err := CheckConsoleName(req.Name); err != nil {
			return PairRequest{}, err
		}
	case PairFinish:
		if req.PAKE != nil || req.ConsoleCert != nil || req.Name != "" {
			return PairRequest{}, errors.New("finish step carries start fields")
		}
		if len(req.PairID) != 32 || strings.Trim(req.PairID, "0123456789abcdef") != "" {
			return PairRequest{}, errors.New("finish step has no valid pair_id")
		}
		if len(req.Confirm) != sha256.Size {
			return PairRequest{}, fmt.Errorf("finish step: confirm must be %d bytes", sha256.Size)
		}
	default:
		return PairRequest{}, fmt.Errorf("step %q is not %q or %q", req.Step, PairStart, PairFinish)
	}
	return req, nil
}

// CheckConsoleName checks the name a console gives itself when pairing; it is
// shown in the agent's list of consoles and in its audit log.
func CheckConsoleName(name string) error {
	if name == "" || len(name) > 64 || !utf8.ValidString(name) {
		return errors.New("console name must be 1 to 64 bytes of UTF-8")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("console name %q has a control or invisible character", name)
		}
	}
	return nil
}

// Pairing codes are 10 symbols of Crockford's base32: 50 bits, which the
// agent's limit of 5 tries per 15 minutes leaves far out of reach. Reading
// is forgiving (case, dashes, spaces, O for 0, I and L for 1) because
// operators copy codes by hand from a host console.
const (
	PairCodeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	PairCodeLen      = 10
)

// ErrBadPairCode is a code that cannot be a pairing code at all; it was
// never sent to the agent, so it cost no try.
var ErrBadPairCode = errors.New("not a pairing code")

// NormalizePairCode turns what an operator typed into the code's canonical
// form: 10 symbols of PairCodeAlphabet, no separators.
func NormalizePairCode(s string) (string, error) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch r {
		case '-', ' ', '\t':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if !strings.ContainsRune(PairCodeAlphabet, r) {
			return "", fmt.Errorf("%w: %q has %q, which `vigil-agent pair-code` never prints", ErrBadPairCode, s, r)
		}
		b.WriteRune(r)
	}
	if b.Len() != PairCodeLen {
		return "", fmt.Errorf("%w: %q has %d symbols, want %d (like 7KQ4-M9X2-TP)", ErrBadPairCode, s, b.Len(), PairCodeLen)
	}
	return b.String(), nil
}

// FormatPairCode groups a canonical code for reading aloud: 7KQ4-M9X2-TP.
func FormatPairCode(code string) string {
	if len(code) != PairCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:8] + "-" + code[8:]
}

const pakeCurve = "p256"

// pakeMessage is the public part of a pake.Pake as it marshals itself. The
// library dereferences these points without checking they are present, so
// they are checked here first.
type pakeMessage struct {
	Role int
	X1   *big.Int `json:"Xᵤ"`
	X2   *big.Int `json:"Xᵥ"`
	Y1   *big.Int `json:"Yᵤ"`
	Y2   *big.Int `json:"Yᵥ"`
}

func checkPAKEMessage(b []byte, role int) error {
	var m *pakeMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return errors.New("pake is not a PAKE message")
	}
	if m.Role != role {
		return fmt.Errorf("pake message is for role %d, want %d", m.Role, role)
	}
	x, y := m.X1, m.X2
	if role == 1 {
		x, y = m.Y1, m.Y2
	}
	if x == nil || y == nil || x.Sign() <= 0 || y.Sign() <= 0 {
		return errors.New("pake message has no curve point")
	}
	return nil
}

// updatePAKE feeds the peer's message to p. The library panics on some
// malformed input; a peer's bytes must only ever produce an error.
func updatePAKE(p *pake.Pake, msg []byte, peerRole int) (err error) {
	if err := checkPAKEMessage(msg, peerRole); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pake message rejected: %v", r)
		}
	}()
	if err := p.Update(msg); err != nil {
		return fmt.Errorf("pake message rejected: %w", err)
	}
	return nil
}

// PairSecret is what one side knows after the PAKE: two confirmation keys
// derived from the session key by HKDF. The session key itself is dropped.
type PairSecret struct {
	agentKey, consoleKey []byte
}

func newPairSecret(p *pake.Pake) (*PairSecret, error) {
	k, err := p.SessionKey()
	if err != nil {
		return nil, err
	}
	s := new(PairSecret)
	if s.agentKey, err = hkdf.Key(sha256.New, k, nil, "vigil pair v1 agent confirm", 32); err != nil {
		return nil, err
	}
	if s.consoleKey, err = hkdf.Key(sha256.New, k, nil, "vigil pair v1 console confirm", 32); err != nil {
		return nil, err
	}
	return s, nil
}

// AgentConfirm is the agent's proof: HMAC-SHA256 under the agent key of
// "vigil-pair agent", agentFP, consoleFP and the console's name, each
// prefixed by its length as a 4-byte big-endian integer.
func (s *PairSecret) AgentConfirm(agentFP, consoleFP, name string) []byte {
	return transcriptMAC(s.agentKey, "vigil-pair agent", agentFP, consoleFP, name)
}

// ConsoleConfirm is the console's proof, built like AgentConfirm with the
// console key and the label "vigil-pair console".
func (s *PairSecret) ConsoleConfirm(agentFP, consoleFP, name string) []byte {
	return transcriptMAC(s.consoleKey, "vigil-pair console", agentFP, consoleFP, name)
}

func transcriptMAC(key []byte, fields ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, f := range fields {
		binary.Write(m, binary.BigEndian, uint32(len(f)))
		io.WriteString(m, f)
	}
	return m.Sum(nil)
}

// AnswerPair runs the agent's side of the PAKE (role 1) on the console's
// message: it returns the agent's message and the confirmation keys.
func AnswerPair(code string, consoleMsg []byte) (agentMsg []byte, s *PairSecret, err error) {
	p, err := pake.InitCurve([]byte(code), 1, pakeCurve)
	if err != nil {
		return nil, nil, err
	}
	if err := updatePAKE(p, consoleMsg, 0); err != nil {
		return nil, nil, err
	}
	if s, err = newPairSecret(p); err != nil {
		return nil, nil, err
	}
	return p.Bytes(), s, nil
}

// Pairing failures a console reports differently.
var (
	// ErrWrongPairCode: the agent's proof did not match. Either side may have
	// the wrong code, or the connection does not end at the agent.
	ErrWrongPairCode = errors.New("wrong pairing code or someone is intercepting the connection")
	// ErrPairingLocked: too many failed tries; the agent refuses every code
	// until the lock ends.
	ErrPairingLocked = errors.New("pairing is locked after too many failed tries")
)

// Pair pairs this console with the agent at address using the code an
// operator got from `vigil-agent pair-code` on the host. On success the
// agent has pinned cert's public key, and the returned agent fingerprint is
// the key the console must pin in turn.
func Pair(ctx context.Context, address, code, consoleName string, cert tls.Certificate) (agentFingerprint string, err error) {
	code, err = NormalizePairCode(code)
	if err != nil {
		return "", err
	}
	if consoleName == "" {
		consoleName, _ = os.Hostname()
	}
	if err := CheckConsoleName(consoleName); err != nil {
		return "", err
	}
	if len(cert.Certificate) == 0 {
		return "", errors.New("pair: console certificate is empty")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return "", fmt.Errorf("console certificate: %w", err)
	}
	consoleFP := Fingerprint(leaf)

	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		TLSHandshakeTimeout: 5 * time.Second,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS13,
			// Nothing can vouch for the agent's self-signed key before
			// pairing; the PAKE confirmation, which covers the key this
			// connection actually presents, is what authenticates it.
			InsecureSkipVerify: true,
			// Presenting the key here proves the console holds it.
			Certificates: []tls.Certificate{cert},
		},
		MaxConnsPerHost: 1, // both steps on one connection, one agent key
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	url := "https://" + address + "/v1/pair"

	console, err := pake.InitCurve([]byte(code), 0, pakeCurve)
	if err != nil {
		return "", err
	}
	start, agentFP, err := postPair(ctx, hc, url, PairRequest{Step: PairStart, PAKE: console.Bytes(),
		ConsoleCert: leaf.Raw, Name: consoleName})
	if err != nil {
		return "", err
	}
	if err := updatePAKE(console, start.PAKE, 1); err != nil {
		return "", fmt.Errorf("pair with %s: %w", address, err)
	}
	secret, err := newPairSecret(console)
	if err != nil {
		return "", err
	}
	if !hmac.Equal(start.Confirm, secret.AgentConfirm(agentFP, consoleFP, consoleName)) {
		return "", fmt.Errorf("pair with %s: %w; the agent counted this try: check the code, or run `vigil-agent pair-code` on the host for a new one",
			address, ErrWrongPairCode)
	}
	// From here the agent's key is known to be genuine; the finish step
	// must reach that same key.
	_, finishFP, err := postPair(ctx, hc, url, PairRequest{Step: PairFinish, PairID: start.PairID,
		Confirm: secret.ConsoleConfirm(agentFP, consoleFP, consoleName)})
	if err != nil {
		return "", err
	}
	if finishFP != agentFP {
		return "", fmt.Errorf("pair with %s: the agent's key changed between the two pairing steps; pair again", address)
	}
	return agentFP, nil
}

// postPair sends one pairing step and returns the answer and the fingerprint
// of the key the TLS connection presented.
func postPair(ctx context.Context, hc *http.Client, url string, req PairRequest) (PairResponse, string, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return PairResponse{}, "", err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return PairResponse{}, "", err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(hreq)
	if err != nil {
		return PairResponse{}, "", fmt.Errorf("pair: %w", err)
	}
	defer resp.Body.Close()
	var pr PairResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxPairRequest)).Decode(&pr); err != nil {
		return PairResponse{}, "", fmt.Errorf("pair: %s answered %s with no pairing response: %w", url, resp.Status, err)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		until := "later"
		if pr.LockedUntil != nil {
			until = "at " + pr.LockedUntil.Local().Format("15:04:05")
		}
		return PairResponse{}, "", fmt.Errorf("pair: %w; it opens again %s, then get a new code with `vigil-agent pair-code`",
			ErrPairingLocked, until)
	case resp.StatusCode != http.StatusOK:
		return PairResponse{}, "", fmt.Errorf("pair: agent refused (%s): %s", resp.Status, pr.Error)
	}
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		return PairResponse{}, "", errors.New("pair: agent presented no certificate")
	}
	fp := Fingerprint(resp.TLS.PeerCertificates[0])
	if req.Step == PairStart && (len(pr.PairID) != 32 || pr.PAKE == nil || len(pr.Confirm) != sha256.Size) {
		return PairResponse{}, "", errors.New("pair: agent's answer to the start step is incomplete")
	}
	return pr, fp, nil
}
