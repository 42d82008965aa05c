package actions

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
)

// Explain says in an operator's words what went wrong talking to an agent
// and what to try: "no answer from the host" rather than "dial tcp
// 10.0.0.5:7443: i/o timeout". The error itself stays for the details and
// the logs; Explain is what the console shows first. An error it does not
// recognise is returned as it is.
func Explain(err error) string {
	if err == nil {
		return ""
	}
	var (
		status  *StatusError
		agent   *AgentError
		dns     *net.DNSError
		alert   tls.AlertError
		unknown x509.UnknownAuthorityError
		timeout interface{ Timeout() bool }
	)
	switch {
	case errors.Is(err, ErrIdentityChanged):
		return "the agent presents another key than the one pinned when it was paired: a changed or replaced agent, or something in between; pair it again only if you know why"
	case errors.As(err, &agent):
		return "the agent refused the request: " + agent.Result.Error
	case errors.As(err, &status) && (status.Status == http.StatusUnauthorized || status.Status == http.StatusForbidden):
		return "the agent does not accept this console (it is not paired, or its pairing was removed): pair it again"
	case errors.As(err, &status):
		return "the agent answered " + http.StatusText(status.Status) + ": " + status.Body
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the host answers, but no agent listens on its port (connection refused): the agent is stopped, or the address is wrong"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "the host cannot be reached (no route to it): check the network between this console and the host"
	case errors.As(err, &dns):
		return "the host's name does not resolve (" + dns.Name + "): check the name, or give an address"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &timeout) && timeout.Timeout():
		return "no answer from the host in time: the host, or the network to it, is down or overloaded"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "the agent closed the connection: it stopped, restarted or crashed"
	case errors.As(err, &alert), errors.As(err, &unknown):
		return "the secure connection was refused (TLS): the agent does not accept this console's key, or something in between is not the agent"
	}
	return err.Error()
}
