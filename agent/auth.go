package agent

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vigilops/vigil/actions"
)

// TLSConfig is the agent API's TLS configuration: TLS 1.3 only, serving
// cert, and asking every client for a certificate without requiring one,
// because a console that is not yet paired must still reach POST /v1/pair.
// Whether a key is pinned is decided per request by Require; the handshake
// already refuses a client certificate that is expired or not yet valid.
func (p *Pairing) TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// Self-signed console certificates have no CA to chain to; trust
		// comes from the pinned key, so the chain is not verified.
		ClientAuth: tls.RequestClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			return checkValidity(cs.PeerCertificates[0], p.now())
		},
	}
}

func checkValidity(c *x509.Certificate, now time.Time) error {
	switch {
	case now.After(c.NotAfter):
		return fmt.Errorf("client certificate expired at %s; the console renews it when it starts", c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return fmt.Errorf("client certificate is not valid before %s; check the clocks of this host and the console",
			c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// ClientFingerprint is the fingerprint of the key of the request's client
// certificate, or "" when there is none. After Require it names the console.
func ClientFingerprint(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	return actions.Fingerprint(r.TLS.PeerCertificates[0])
}

const pairHint = "pair this console with `vigil pair ADDRESS --code CODE`, using a code from `vigil-agent pair-code --config FILE` on the host"

// Require lets a request through only from a pinned console holding perm.
// It answers 401 when the client certificate is missing or its key is not
// pinned, closing the connection so an unpaired client cannot keep it, and
// 403 when the console lacks perm; always before anything reads the body.
func (p *Pairing) Require(perm string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deny := func(code int, msg string) {
			if code == http.StatusUnauthorized {
				w.Header().Set("Connection", "close")
				w.Header().Set("WWW-Authenticate", `Vigil-Pair realm="vigil-agent"`)
			}
			writeJSON(w, code, actions.PairResponse{Error: msg})
		}
		fp := ClientFingerprint(r)
		if fp == "" {
			deny(http.StatusUnauthorized, "this agent answers only paired consoles and the connection has no client certificate; "+pairHint)
			return
		}
		// The handshake checked this already; checking again keeps the
		// rule when the server was built with another tls.Config.
		if err := checkValidity(r.TLS.PeerCertificates[0], p.now()); err != nil {
			deny(http.StatusUnauthorized, err.Error())
			return
		}
		perms, ok, err := p.authorize(fp)
		switch {
		case err != nil:
			deny(http.StatusInternalServerError, "this agent cannot check consoles: "+err.Error())
		case !ok:
			deny(http.StatusUnauthorized, fmt.Sprintf("console key %s… is not paired with this agent; %s",
				fp[:actions.ShortFingerprintLen], pairHint))
		case !slices.Contains(perms, perm):
			deny(http.StatusForbidden, fmt.Sprintf("this console may %s here, not %s; the agent's config grants what newly paired consoles may do",
				orNothing(perms), perm))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func orNothing(perms []string) string {
	if len(perms) == 0 {
		return "nothing"
	}
	return strings.Join(perms, " and ")
}
