// Package standin serves many stand-ins for vigil agents from one process,
// for load tests and benchmarks of the console: enough of the agent API
// (GET /v1/status and GET /v1/watch) for a console to pin, watch and judge
// them, at the cost of a socket and a few goroutines each.
//
// A stand-in is not an agent. It has no pairing, no actions, no audit log
// and no role file; it answers any client that completes the TLS handshake.
// Each watch stream behaves as the agent's does: the full status at once,
// the status again on every change, a heartbeat in between, and the stream
// ends when a write takes longer than the agent's write timeout.
package standin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// Defaults of Options.
const (
	DefaultAgents    = 1000
	DefaultPerSystem = 2
	DefaultHeartbeat = 250 * time.Millisecond
	DefaultChange    = 500 * time.Millisecond
	// writeTimeout is the agent's: a console that does not take a line
	// within it loses its stream.
	writeTimeout = 2 * time.Second
)

// Options shape a fleet of stand-ins. Zero fields take the defaults.
type Options struct {
	Agents    int           // how many stand-ins
	PerSystem int           // servers per system; the first of each is primary, the others standby
	Heartbeat time.Duration // between heartbeats on a watch stream
	Change    time.Duration // between changes of each stand-in's status
	Host      string        // the loopback address to listen on; 127.0.0.1 by default
	// FactsOnly makes each change touch only a fact (a lag under its
	// limit), which a console weighs but does not show on its board; by
	// default the vendor's word for the role alternates as well, so that
	// every change is one an operator sees.
	FactsOnly bool
	// FirstLineDelay holds back each watch stream's first line, as an
	// agent slow to answer a console's first request does (a host busy
	// with a thousand handshakes at once).
	FirstLineDelay time.Duration
}

// Agent is what a console needs to know of one stand-in to watch it.
type Agent struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	System      string `json:"system"`
	Profile     string `json:"profile"`
	Role        string `json:"role"`
	Address     string `json:"address"`
	Fingerprint string `json:"fingerprint"`
}

// Stats counts what the stand-ins sent, since Start.
type Stats struct {
	Streams     int64 `json:"streams"`      // watch streams opened
	StatusLines int64 `json:"status_lines"` // status lines written
	Heartbeats  int64 `json:"heartbeats"`   // heartbeat lines written
	Broken      int64 `json:"broken"`       // streams that ended on a failed or late write
}

// Fleet is a running set of stand-ins. Create it with Start, end it with
// Close.
type Fleet struct {
	opts    Options
	fp      string
	ctx     context.Context
	cancel  context.CancelFunc
	agents  []*agent
	servers []*http.Server
	wg      sync.WaitGroup

	streams, statusLines, heartbeats, broken atomic.Int64
}

// agent is one stand-in. Its status changes only while a console watches
// it: every watch stream drives the changes of its agent, which is what a
// benchmark with one console wants and keeps the stand-in cheap.
type agent struct {
	f       *Fleet
	info    Agent
	vendor  [2]string // the vendor's word, alternating on every change
	started time.Time

	mu   sync.Mutex
	seq  uint64
	flip bool
	lag  int
}

// Start listens for every stand-in, one listener each on its own loopback
// port, and serves them until Close. Every stand-in shares one key: the
// console pins a key per server and checks it on every handshake, and a
// handshake costs the same whichever key it proves.
func Start(opts Options) (*Fleet, error) {
	if opts.Agents <= 0 {
		opts.Agents = DefaultAgents
	}
	if opts.PerSystem <= 0 {
		opts.PerSystem = DefaultPerSystem
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.Change <= 0 {
		opts.Change = DefaultChange
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	cert, fp, err := newCert()
	if err != nil {
		return nil, fmt.Errorf("stand-in key: %w", err)
	}
	tlsConfig := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// As the agent does: ask for the console's certificate, which the
		// console presents, without checking it.
		ClientAuth: tls.RequestClientCert,
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fleet{opts: opts, fp: fp, ctx: ctx, cancel: cancel}
	now := time.Now().UTC()
	quiet := log.New(io.Discard, "", 0)
	for i := range opts.Agents {
		ln, err := net.Listen("tcp", net.JoinHostPort(opts.Host, "0"))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("stand-in %d of %d: listen on %s: %w", i+1, opts.Agents, opts.Host, err)
		}
		sys := i / opts.PerSystem
		a := &agent{
			f: f, started: now, seq: 1,
			info: Agent{
				ID:      fmt.Sprintf("standin-%05d", i),
				Name:    fmt.Sprintf("server-%04d", i),
				System:  fmt.Sprintf("system-%04d", sys),
				Profile: "redstor",
				Role:    string(model.RoleStandby),
				Address: ln.Addr().String(), Fingerprint: fp,
			},
			vendor: [2]string{"Slave AccountServer", "Slave AccountServer, replicating"},
		}
		if i%opts.PerSystem == 0 {
			a.info.Role = string(model.RolePrimary)
			a.vendor = [2]string{"Master AccountServer", "Master AccountServer, replicating"}
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /v1/status", a.handleStatus)
		mux.HandleFunc("GET /v1/watch", a.handleWatch)
		srv := &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return ctx },
			ErrorLog:          quiet,
		}
		f.agents = append(f.agents, a)
		f.servers = append(f.servers, srv)
		tlsLn := tls.NewListener(ln, tlsConfig)
		f.wg.Go(func() { srv.Serve(tlsLn) })
	}
	return f, nil
}

// Agents lists the stand-ins, in the order they were made.
func (f *Fleet) Agents() []Agent {
	out := make([]Agent, len(f.agents))
	for i, a := range f.agents {
		out[i] = a.info
	}
	return out
}

// Stats returns the counts so far.
func (f *Fleet) Stats() Stats {
	return Stats{
		Streams: f.streams.Load(), StatusLines: f.statusLines.Load(),
		Heartbeats: f.heartbeats.Load(), Broken: f.broken.Load(),
	}
}

// Close ends every stream and listener and waits for them.
func (f *Fleet) Close() error {
	f.cancel()
	var errs []error
	for _, srv := range f.servers {
		if err := srv.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	f.wg.Wait()
	return errors.Join(errs...)
}

// status is the stand-in's full status now.
func (a *agent) status() actions.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.statusLocked()
}

func (a *agent) statusLocked() actions.Status {
	vendor := a.vendor[0]
	if a.flip && !a.f.opts.FactsOnly {
		vendor = a.vendor[1]
	}
	return actions.Status{
		AgentID: a.info.ID, Name: a.info.Name, System: a.info.System, Profile: a.info.Profile,
		Site: "bench", Role: a.info.Role, VendorRole: vendor, Fingerprint: a.info.Fingerprint,
		Version: actions.Version, Started: a.started, Time: time.Now().UTC(), Seq: a.seq,
		Facts: map[string]string{"lag_seconds": strconv.Itoa(a.lag), "lag_seconds_limit": "3600"},
	}
}

// change makes the change an operator sees (the vendor's word for the
// role, unless FactsOnly) and one a detector weighs (a lag under its
// limit), and returns the new status.
func (a *agent) change() actions.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	a.flip = !a.flip
	a.lag = (a.lag + 1) % 60
	return a.statusLocked()
}

func (a *agent) handleStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(a.status())
}

// handleWatch streams NDJSON as the agent does.
func (a *agent) handleWatch(w http.ResponseWriter, r *http.Request) {
	f := a.f
	f.streams.Add(1)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	send := func(l actions.WatchLine) bool {
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := enc.Encode(l); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if d := f.opts.FirstLineDelay; d > 0 {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(d):
		}
	}
	st := a.status()
	if !send(actions.WatchLine{Type: actions.LineStatus, Time: st.Time, Seq: st.Seq, Status: &st}) {
		f.broken.Add(1)
		return
	}
	f.statusLines.Add(1)
	heartbeat := time.NewTicker(f.opts.Heartbeat)
	defer heartbeat.Stop()
	// A random first change spreads the fleet's changes over the period
	// rather than sending them all at once.
	change := time.NewTimer(mrand.N(f.opts.Change) + 1)
	defer change.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-change.C:
			change.Reset(f.opts.Change)
			st := a.change()
			if !send(actions.WatchLine{Type: actions.LineStatus, Time: st.Time, Seq: st.Seq, Status: &st}) {
				f.broken.Add(1)
				return
			}
			f.statusLines.Add(1)
		case now := <-heartbeat.C:
			a.mu.Lock()
			seq := a.seq
			a.mu.Unlock()
			if !send(actions.WatchLine{Type: actions.LineHeartbeat, Time: now.UTC(), Seq: seq}) {
				f.broken.Add(1)
				return
			}
			f.heartbeats.Add(1)
		}
	}
}

// newCert makes a P-256 key and a self-signed certificate, as an agent does
// on its first start, and returns the key's fingerprint.
func newCert() (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "vigil stand-in"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, actions.Fingerprint(leaf), nil
}
