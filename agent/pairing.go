package agent

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilops/vigil/actions"
)

// Files of pairing in the state directory, all mode 0600 and written
// atomically. Each has one writer: pair-code.json is written by
// `vigil-agent pair-code` (another process than the running agent), the other
// two only by the running agent. So using a code is recorded in
// pair-lock.json rather than by removing pair-code.json, which could race
// with an operator making a new code.
const (
	PairCodeFile = "pair-code.json" // the current code and its expiry
	PairLockFile = "pair-lock.json" // failed tries, lock end, the last code used
	ConsolesFile = "consoles.json"  // pinned consoles
)

// Pairing limits (the numbers).
const (
	PairCodeLife   = 10 * time.Minute
	PairMaxTries   = 5
	PairLockTime   = 15 * time.Minute
	pairExchange   = 60 * time.Second // a console answers within seconds
	maxPendingPair = 8
)

// PinnedConsole is one console the agent trusts, by its key.
type PinnedConsole struct {
	Fingerprint string    `json:"fingerprint"` // full hex SHA-256 of the console's public key
	Name        string    `json:"name"`
	PairedAt    time.Time `json:"paired_at"`
	Permissions []string  `json:"permissions"`
}

type codeState struct {
	Code    string    `json:"code"` // canonical form; the agent needs it itself to run the PAKE
	Expires time.Time `json:"expires"`
}

type lockState struct {
	Failed      int       `json:"failed"`                // tries since the last success or lock end
	LockedUntil time.Time `json:"locked_until,omitzero"` // no pairing before this
	UsedCode    string    `json:"used_code,omitempty"`   // hex SHA-256 of the last code that paired
}

type pendingPair struct {
	secret      *actions.PairSecret
	consoleFP   string
	consoleName string
	codeHash    string
	expires     time.Time
}

// Pairing is the agent's side of pairing and the store of pinned consoles.
// It reads its files on every use, so `vigil-agent pair-code` works while the
// agent runs, and an operator can unpin a console by editing consoles.json.
type Pairing struct {
	dir string
	now func() time.Time

	// Log receives pairing events; set it before serving. Nil discards.
	Log *slog.Logger

	mu      sync.Mutex
	pending map[string]*pendingPair

	pinMu    sync.Mutex
	pinStamp fileStamp
	pins     map[string]PinnedConsole
	pinErr   error
}

// NewPairing keeps pairing state in stateDir. now is the clock (nil means
// time.Now); tests pass their own to cross the lock without sleeping.
func NewPairing(stateDir string, now func() time.Time) *Pairing {
	if now == nil {
		now = time.Now
	}
	return &Pairing{dir: stateDir, now: now, pending: make(map[string]*pendingPair)}
}

func (p *Pairing) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

// NewCode makes a fresh one-time code, valid for PairCodeLife, replacing any
// earlier one. It does not touch the count of failed tries or a lock: making
// codes must not be a way around the lock. The code is returned formatted
// for reading (7KQ4-M9X2-TP).
func (p *Pairing) NewCode() (code string, expires time.Time, err error) {
	code, err = actions.NewPairCode()
	if err != nil {
		return "", time.Time{}, err
	}
	expires, err = p.SetCode(code, PairCodeLife)
	if err != nil {
		return "", time.Time{}, err
	}
	return code, expires, nil
}

// SetCode installs a code chosen elsewhere, valid for life: `vigil fleet
// --pair-code` gives every simulated agent the same one. Like NewCode it
// leaves the count of tries and any lock alone.
func (p *Pairing) SetCode(code string, life time.Duration) (expires time.Time, err error) {
	code, err = actions.NormalizePairCode(code)
	if err != nil {
		return time.Time{}, err
	}
	c := codeState{Code: code, Expires: p.now().UTC().Add(life).Truncate(time.Second)}
	if err := p.writeState(PairCodeFile, c); err != nil {
		return time.Time{}, fmt.Errorf("save pairing code: %w", err)
	}
	return c.Expires, nil
}

// LockedUntil reports when a pairing lock ends, or the zero time when
// pairing is open, so `pair-code` can warn that a new code is useless yet.
func (p *Pairing) LockedUntil() (time.Time, error) {
	var l lockState
	if err := p.readState(PairLockFile, &l); err != nil {
		return time.Time{}, err
	}
	if p.now().Before(l.LockedUntil) {
		return l.LockedUntil, nil
	}
	return time.Time{}, nil
}

// Handler serves POST /v1/pair. agentFingerprint is the agent's own key, as
// consoles see it in the TLS handshake; grant is what a newly paired console
// may do (nil means DefaultGrant). It needs no client certificate.
func (p *Pairing) Handler(agentFingerprint string, grant []string) http.Handler {
	if grant == nil {
		grant = []string{PermRead}
	}
	grant = slices.Clone(grant)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, actions.PairResponse{Error: "pairing takes POST"})
			return
		}
		req, err := actions.DecodePairRequest(r.Body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, actions.PairResponse{Error: err.Error()})
			return
		}
		var code int
		var resp actions.PairResponse
		if req.Step == actions.PairStart {
			code, resp = p.start(r, agentFingerprint, req)
		} else {
			code, resp = p.finish(r, agentFingerprint, grant, req)
		}
		if code == http.StatusTooManyRequests && resp.LockedUntil != nil {
			secs := int(resp.LockedUntil.Sub(p.now()).Seconds()) + 1
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		}
		writeJSON(w, code, resp)
	})
}

func refuse(code int, format string, args ...any) (int, actions.PairResponse) {
	return code, actions.PairResponse{Error: fmt.Sprintf(format, args...)}
}

const noCodeMsg = "no pairing code is active; run `vigil-agent pair-code --config FILE` on the host for one (a code lasts 10 minutes and pairs one console)"

func (p *Pairing) start(r *http.Request, agentFP string, req actions.PairRequest) (int, actions.PairResponse) {
	cert, err := x509.ParseCertificate(req.ConsoleCert)
	if err != nil {
		return refuse(http.StatusBadRequest, "console_cert is not a DER certificate: %v", err)
	}
	now := p.now()
	if err := checkValidity(cert, now); err != nil {
		return refuse(http.StatusBadRequest, "console_cert: %v", err)
	}
	consoleFP := actions.Fingerprint(cert)
	if tlsFP := ClientFingerprint(r); tlsFP != "" && tlsFP != consoleFP {
		return refuse(http.StatusBadRequest, "console_cert is not the certificate of this TLS connection")
	}
	log := p.log().With("console", req.Name, "console_fp", consoleFP[:actions.ShortFingerprintLen], "remote", r.RemoteAddr)

	p.mu.Lock()
	defer p.mu.Unlock()
	var lock lockState
	if err := p.readState(PairLockFile, &lock); err != nil {
		log.Error("pairing refused", "err", err)
		return refuse(http.StatusInternalServerError, "%v", err)
	}
	if now.Before(lock.LockedUntil) {
		until := lock.LockedUntil.UTC()
		return http.StatusTooManyRequests, actions.PairResponse{LockedUntil: &until,
			Error: fmt.Sprintf("pairing is locked after %d failed tries until %s; then run `vigil-agent pair-code` for a new code",
				PairMaxTries, until.Format(time.RFC3339))}
	}
	var c codeState
	if err := p.readState(PairCodeFile, &c); err != nil {
		log.Error("pairing refused", "err", err)
		return refuse(http.StatusInternalServerError, "%v", err)
	}
	if c.Code == "" || !now.Before(c.Expires) || codeHash(c.Code) == lock.UsedCode {
		return refuse(http.StatusForbidden, noCodeMsg)
	}
	// Exchanges begun with an earlier code can never finish; dropping them
	// keeps the bound below for real attempts.
	for id, pp := range p.pending {
		if !now.Before(pp.expires) || pp.codeHash != codeHash(c.Code) {
			delete(p.pending, id)
		}
	}
	if len(p.pending) >= maxPendingPair {
		return refuse(http.StatusServiceUnavailable, "too many pairings in progress; try again in a minute")
	}

	// The try counts now, before the agent answers: a console holding the
	// wrong code learns that from the answer and never sends a finish, so
	// only a successful finish can take a try back.
	if lock.Failed >= PairMaxTries { // an ended lock starts a fresh count
		lock.Failed = 0
	}
	lock.Failed++
	if lock.Failed >= PairMaxTries {
		lock.LockedUntil = now.UTC().Add(PairLockTime)
	}
	if err := p.writeState(PairLockFile, lock); err != nil {
		log.Error("pairing refused", "err", err)
		return refuse(http.StatusInternalServerError, "record pairing try: %v", err)
	}

	agentMsg, secret, err := actions.AnswerPair(c.Code, req.PAKE)
	if err != nil {
		return refuse(http.StatusBadRequest, "%v", err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	pairID := hex.EncodeToString(id)
	p.pending[pairID] = &pendingPair{secret: secret, consoleFP: consoleFP, consoleName: req.Name,
		codeHash: codeHash(c.Code), expires: now.Add(pairExchange)}
	log.Info("pairing started", "try", lock.Failed, "of", PairMaxTries)
	if !lock.LockedUntil.IsZero() {
		log.Warn("pairing locked: too many tries without success", "until", lock.LockedUntil)
	}
	return http.StatusOK, actions.PairResponse{PairID: pairID, PAKE: agentMsg,
		Confirm: secret.AgentConfirm(agentFP, consoleFP, req.Name)}
}

func (p *Pairing) finish(r *http.Request, agentFP string, grant []string, req actions.PairRequest) (int, actions.PairResponse) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	// One finish per exchange, right or wrong: a second guess at the
	// confirmation must cost a new start, and so a new try.
	pp := p.pending[req.PairID]
	delete(p.pending, req.PairID)
	if pp == nil || !now.Before(pp.expires) {
		return refuse(http.StatusBadRequest, "no pairing exchange %s is in progress (they last %s); start again", req.PairID, pairExchange)
	}
	log := p.log().With("console", pp.consoleName, "console_fp", pp.consoleFP[:actions.ShortFingerprintLen], "remote", r.RemoteAddr)
	if tlsFP := ClientFingerprint(r); tlsFP != "" && tlsFP != pp.consoleFP {
		return refuse(http.StatusBadRequest, "the finish step comes from another console than the start")
	}
	if !hmac.Equal(req.Confirm, pp.secret.ConsoleConfirm(agentFP, pp.consoleFP, pp.consoleName)) {
		log.Warn("pairing failed: wrong code or intercepted connection")
		return refuse(http.StatusForbidden, "pairing failed: %v", actions.ErrWrongPairCode)
	}

	var lock lockState
	var c codeState
	if err := p.readState(PairLockFile, &lock); err != nil {
		return refuse(http.StatusInternalServerError, "%v", err)
	}
	if err := p.readState(PairCodeFile, &c); err != nil {
		return refuse(http.StatusInternalServerError, "%v", err)
	}
	// Single use: two consoles may both have started with the right code;
	// only the first to finish pairs. A code replaced meanwhile is void too.
	if lock.UsedCode == pp.codeHash || codeHash(c.Code) != pp.codeHash {
		return refuse(http.StatusForbidden, "this pairing code was used or replaced meanwhile; run `vigil-agent pair-code` for a new one")
	}
	// Consume the code before pinning: a crash in between costs the
	// operator a new code, never a code that pairs twice.
	if err := p.writeState(PairLockFile, lockState{UsedCode: pp.codeHash}); err != nil {
		return refuse(http.StatusInternalServerError, "record used pairing code: %v", err)
	}
	clear(p.pending) // all begun with the code just used
	if err := p.Pin(PinnedConsole{Fingerprint: pp.consoleFP, Name: pp.consoleName, PairedAt: now.UTC(),
		Permissions: slices.Clone(grant)}); err != nil {
		log.Error("pairing failed", "err", err)
		return refuse(http.StatusInternalServerError, "pin console: %v", err)
	}
	log.Info("console paired", "permissions", grant)
	return http.StatusOK, actions.PairResponse{Permissions: slices.Clone(grant)}
}

// Pin adds or replaces a console in consoles.json without a pairing
// exchange, for a console and agents set up together (`vigil demo`).
// Re-pairing a console updates its name and permissions.
func (p *Pairing) Pin(c PinnedConsole) error {
	if len(c.Fingerprint) != 64 || strings.Trim(c.Fingerprint, "0123456789abcdef") != "" {
		return fmt.Errorf("pin console: %q is not a full lowercase hex key fingerprint", c.Fingerprint)
	}
	p.pinMu.Lock()
	defer p.pinMu.Unlock()
	var list []PinnedConsole
	if err := p.readState(ConsolesFile, &list); err != nil {
		return err
	}
	list = slices.DeleteFunc(list, func(o PinnedConsole) bool { return o.Fingerprint == c.Fingerprint })
	list = append(list, c)
	if err := p.writeState(ConsolesFile, list); err != nil {
		return err
	}
	p.pinStamp = fileStamp{} // reload on the next Authorize
	return nil
}

// Consoles lists the pinned consoles.
func (p *Pairing) Consoles() ([]PinnedConsole, error) {
	var list []PinnedConsole
	err := p.readState(ConsolesFile, &list)
	return list, err
}

// Authorize reports the permissions of the console whose key has
// fingerprint fp, and whether it is pinned at all.
func (p *Pairing) Authorize(fp string) (permissions []string, ok bool) {
	perms, ok, _ := p.authorize(fp)
	return perms, ok
}

// authorize looks fp up in consoles.json, re-reading the file only when it
// changed: it runs on every request.
func (p *Pairing) authorize(fp string) ([]string, bool, error) {
	p.pinMu.Lock()
	defer p.pinMu.Unlock()
	st := stampOf(filepath.Join(p.dir, ConsolesFile))
	if st != p.pinStamp || p.pins == nil && p.pinErr == nil {
		var list []PinnedConsole
		p.pins, p.pinErr = nil, p.readState(ConsolesFile, &list)
		if p.pinErr == nil {
			p.pins = make(map[string]PinnedConsole, len(list))
			for _, c := range list {
				p.pins[c.Fingerprint] = c
			}
		} else {
			p.log().Error("no console can be authorized", "err", p.pinErr)
		}
		p.pinStamp = st
	}
	if p.pinErr != nil {
		return nil, false, p.pinErr
	}
	c, ok := p.pins[fp]
	return slices.Clone(c.Permissions), ok, nil
}

type fileStamp struct {
	mod  time.Time
	size int64
	ok   bool
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size(), ok: true}
}

func codeHash(code string) string {
	sum := sha256.Sum256([]byte("vigil pair code\x00" + code))
	return hex.EncodeToString(sum[:])
}

// maxStateFile bounds what readState reads: consoles.json holds a few
// hundred consoles at most.
const maxStateFile = 1 << 20

// readState decodes a state file into v; a missing file leaves v as it is.
// A damaged file is an error naming it: pairing state must never be guessed.
func (p *Pairing) readState(name string, v any) error {
	path := filepath.Join(p.dir, name)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pairing state: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return fmt.Errorf("pairing state %s: %w", path, err)
	}
	if len(b) > maxStateFile {
		return fmt.Errorf("pairing state %s is longer than %d bytes", path, maxStateFile)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("pairing state %s is damaged (%v); fix or remove it (removing %s unpins every console, removing %s ends a pairing lock)",
			path, err, ConsolesFile, PairLockFile)
	}
	return nil
}

func (p *Pairing) writeState(name string, v any) error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return fmt.Errorf("state directory %s: %w", p.dir, err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return actions.WriteFileAtomic(filepath.Join(p.dir, name), append(b, '\n'), 0o600)
}
