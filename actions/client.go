package actions

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Client talks to one agent over HTTPS. It trusts the agent only if the
// agent's public key matches the pinned fingerprint.
type Client struct {
	base string
	http *http.Client
	pin  string

	// RetryMin and RetryMax bound the backoff between attempts of Do.
	RetryMin, RetryMax time.Duration
}

// NewClient returns a client for the agent at address (host:port) whose key
// fingerprint must match pin (see MatchFingerprint). The console presents
// cert, which the agent pinned when they paired; a zero cert presents none.
func NewClient(address, pin string, cert tls.Certificate) *Client {
	c := &Client{base: "https://" + address, pin: pin, RetryMin: 100 * time.Millisecond, RetryMax: 2 * time.Second}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
		TLSHandshakeTimeout: 3 * time.Second,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS13,
			// The chain is not checked against any CA: agents have
			// self-signed keys and are trusted by their pinned key alone,
			// which VerifyPeerCertificate checks on every handshake.
			InsecureSkipVerify:    true,
			VerifyPeerCertificate: c.verify,
		},
		ResponseHeaderTimeout: 5 * time.Second,
		MaxIdleConnsPerHost:   2,
	}
	if cert.Certificate != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	}
	c.http = &http.Client{Transport: tr}
	return c
}

func (c *Client) verify(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	if len(rawCerts) == 0 {
		return errors.New("agent sent no certificate")
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return fmt.Errorf("agent certificate: %w", err)
	}
	return MatchFingerprint(c.pin, Fingerprint(cert))
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Status fetches GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := c.get(ctx, "/v1/status")
	if err != nil {
		return Status{}, err
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxLine)).Decode(&st); err != nil {
		return Status{}, fmt.Errorf("status from %s: %w", c.base, err)
	}
	if st.AgentID == "" {
		return Status{}, fmt.Errorf("status from %s has no agent_id", c.base)
	}
	return st, nil
}

// Watch follows GET /v1/watch and calls fn with every line until the stream
// ends, ctx is done, or fn returns an error. It always returns a non-nil
// error saying why the stream ended.
func (c *Client) Watch(ctx context.Context, fn func(WatchLine) error) error {
	resp, err := c.get(ctx, "/v1/watch")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 4096), MaxLine)
	for sc.Scan() {
		line, err := DecodeWatchLine(sc.Bytes())
		if err != nil {
			return fmt.Errorf("watch %s: %w", c.base, err)
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("watch %s: %w", c.base, err)
	}
	return fmt.Errorf("watch %s: stream ended", c.base)
}

func (c *Client) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, &StatusError{URL: c.base + path, Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	return resp, nil
}

// StatusError is an answer from an agent that is not 200 OK.
type StatusError struct {
	URL    string
	Status int
	Body   string // the start of what the agent said
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: %d %s: %s", e.URL, e.Status, http.StatusText(e.Status), e.Body)
}

// Audit fetches up to a page of the agent's audit entries newer than since
// (GET /v1/audit), oldest first.
func (c *Client) Audit(ctx context.Context, since uint64) ([]AuditEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := c.get(ctx, "/v1/audit?since="+strconv.FormatUint(since, 10))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var doc struct {
		Entries []AuditEntry `json:"entries"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("audit from %s: %w", c.base, err)
	}
	for i, e := range doc.Entries {
		if e.ID <= since || (i > 0 && e.ID <= doc.Entries[i-1].ID) {
			return nil, fmt.Errorf("audit from %s: entry ids out of order (%d after %d, asked for those after %d)", c.base, e.ID, max(since, prevID(doc.Entries, i)), since)
		}
	}
	return doc.Entries, nil
}

func prevID(es []AuditEntry, i int) uint64 {
	if i == 0 {
		return 0
	}
	return es[i-1].ID
}
