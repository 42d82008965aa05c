package alert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Stage is the step of an SMTP conversation that failed.
type Stage string

// Stages, in the order they happen.
const (
	StageDNS       Stage = "dns"       // the mail server's name did not resolve
	StageConnect   Stage = "connect"   // no TCP connection, or it broke
	StageTLS       Stage = "tls"       // STARTTLS or the TLS handshake failed
	StageGreeting  Stage = "greeting"  // the server refused the session (greeting, EHLO)
	StageAuth      Stage = "auth"      // the login failed
	StageSender    Stage = "sender"    // MAIL FROM refused
	StageRecipient Stage = "recipient" // every recipient refused, or one temporarily
	StageData      Stage = "data"      // the message itself refused
)

// SendError is a failed send, classified for the operator and for retry.
type SendError struct {
	Stage  Stage
	Server string // host:port
	// Code is the server's reply code; 0 when it never answered (network,
	// TLS, timeout).
	Code  int
	Reply string // the server's reply, "550 5.1.1 no such user"
	// Detail names what was refused (a recipient, the user) or says more.
	Detail string
	Err    error
}

// Permanent says whether the server refused for good (a 5xx reply):
// retrying the same message cannot help.
func (e *SendError) Permanent() bool { return e.Code >= 500 && e.Code < 600 }

func (e *SendError) Unwrap() error { return e.Err }

func (e *SendError) Error() string {
	cause := e.Reply
	if cause == "" && e.Err != nil {
		cause = e.Err.Error()
		var ne net.Error
		if errors.As(e.Err, &ne) && ne.Timeout() {
			cause = "no answer in time (" + cause + ")"
		}
	}
	switch e.Stage {
	case StageDNS:
		return fmt.Sprintf("cannot find mail server %s: %s; check --smtp-host", e.Server, cause)
	case StageConnect:
		return fmt.Sprintf("cannot talk to mail server %s: %s; is it running, and are --smtp-host and --smtp-port right?", e.Server, cause)
	case StageTLS:
		return fmt.Sprintf("TLS with mail server %s failed: %s; check --tls (starttls is usual on port 587, tls on 465) and its certificate (--ca-file for a private CA)", e.Server, cause)
	case StageGreeting:
		return fmt.Sprintf("mail server %s refused the session: %s", e.Server, cause)
	case StageAuth:
		return fmt.Sprintf("mail server %s refused the login%s: %s; check --user and the password file", e.Server, e.Detail, cause)
	case StageSender:
		return fmt.Sprintf("mail server %s refused the sender %s: %s; check --from", e.Server, e.Detail, cause)
	case StageRecipient:
		return fmt.Sprintf("mail server %s rejected recipient %s: %s", e.Server, e.Detail, cause)
	case StageData:
		return fmt.Sprintf("mail server %s refused the message: %s", e.Server, cause)
	}
	return fmt.Sprintf("mail server %s: %s", e.Server, cause)
}

// timeouts bound the steps of one delivery.
type timeouts struct {
	Dial    time.Duration // TCP connect
	Command time.Duration // each command's reply, the greeting and the TLS handshake
	// Submission is the wait for the reply to the message itself: long,
	// because giving up then may mean a duplicate.
	Submission time.Duration
	// Attempt bounds the whole conversation.
	Attempt time.Duration
}

// defaultTimeouts are short for a console (go-smtp's own are RFC 5321's 5
// and 12 minutes) but long enough for a slow relay.
var defaultTimeouts = timeouts{Dial: 15 * time.Second, Command: 30 * time.Second, Submission: 90 * time.Second, Attempt: 3 * time.Minute}

// envelope is one message to deliver.
type envelope struct {
	from string   // bare address
	to   []string // bare addresses
	data []byte   // RFC 5322, CRLF
}

// rejection is a recipient the server refused for good.
type rejection struct{ addr, reply string }

// delivery is what the server said to a message it accepted.
type delivery struct {
	reply    string      // "250 2.0.0 OK: queued as ..."
	rejected []rejection // recipients refused while the others were accepted
}

func (d delivery) rejectedText() string {
	parts := make([]string, len(d.rejected))
	for i, r := range d.rejected {
		parts[i] = r.addr + ": " + r.reply
	}
	return strings.Join(parts, "; ")
}

// client delivers messages over SMTP.
type client struct {
	timeouts  timeouts
	localName string        // what EHLO says
	resolver  *net.Resolver // nil: the system's
}

func newClient() client {
	return client{timeouts: defaultTimeouts, localName: helloName()}
}

// helloName is this machine's name for EHLO, or "localhost".
func helloName() string {
	h, err := os.Hostname()
	if err != nil || hostProblem(h) != "" || net.ParseIP(h) != nil {
		return "localhost"
	}
	return h
}

// send delivers env with settings s (with the password filled in). When the
// server has accepted the message, accepted runs before anything else (the
// QUIT), so that the caller records it at once. Errors are *SendError.
//
// Every step is bounded: the attempt as a whole by timeouts.Attempt, each
// reply by timeouts.Command. Cancelling ctx aborts the conversation until
// the message is being handed over; from then on it runs to the server's
// answer (bounded), because abandoning it then may mean a duplicate.
func (cl client) send(ctx context.Context, s Settings, env envelope, accepted func(delivery)) (delivery, error) {
	addr := s.Addr()
	fail := func(stage Stage, err error) (delivery, error) {
		se := &SendError{Stage: stage, Server: addr, Err: err}
		var smtpErr *smtp.SMTPError
		if errors.As(err, &smtpErr) {
			se.Code, se.Reply = smtpErr.Code, replyText(smtpErr)
		}
		if stage == StageAuth && s.User != "" {
			se.Detail = " of user " + s.User
		}
		if se.Err != nil && s.Password != "" {
			// Nothing we call should put the password in an error; make sure.
			if msg := se.Err.Error(); strings.Contains(msg, s.Password.Reveal()) {
				se.Err = errors.New(scrub(msg, s.Password))
			}
		}
		return delivery{}, se
	}

	attemptCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cl.timeouts.Attempt)
	defer cancel()
	deadline, _ := attemptCtx.Deadline()

	nd := &net.Dialer{Timeout: cl.timeouts.Dial, Resolver: cl.resolver}
	if s.TLS == TLSNone {
		nd.Control = requireLoopback
	}
	dialCtx, cancelDial := context.WithCancel(attemptCtx)
	stopDial := context.AfterFunc(ctx, cancelDial)
	raw, err := nd.DialContext(dialCtx, "tcp", addr)
	stopDial()
	cancelDial()
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			return fail(StageDNS, err)
		}
		return fail(StageConnect, err)
	}
	conn := &boundedConn{Conn: raw, deadline: deadline}
	conn.limit.Store(int64(cl.timeouts.Command))
	conn.SetDeadline(time.Time{})
	// Abort on the attempt's deadline, and on the caller's cancellation
	// until the message is being handed over.
	var handingOver atomic.Bool
	stop1 := context.AfterFunc(attemptCtx, func() { raw.Close() })
	stop2 := context.AfterFunc(ctx, func() {
		if !handingOver.Load() {
			raw.Close()
		}
	})
	defer stop1()
	defer stop2()
	defer raw.Close()

	tlsConf := &tls.Config{ServerName: s.Host, RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}
	var c *smtp.Client
	switch s.TLS {
	case TLSImplicit:
		tc := tls.Client(conn, tlsConf)
		hctx, hcancel := context.WithTimeout(attemptCtx, cl.timeouts.Command)
		err := tc.HandshakeContext(hctx)
		hcancel()
		if err != nil {
			return fail(StageTLS, err)
		}
		c = smtp.NewClient(tc)
	case TLSStartTLS:
		// Greeting, EHLO and STARTTLS; the handshake itself happens with
		// the EHLO that follows.
		c, err = smtp.NewClientStartTLS(conn, tlsConf)
		if err != nil {
			var smtpErr *smtp.SMTPError
			switch {
			case errors.As(err, &smtpErr):
				return fail(StageGreeting, err)
			case strings.Contains(err.Error(), "STARTTLS"):
				return fail(StageTLS, fmt.Errorf("the server does not offer STARTTLS (use --tls tls for implicit TLS, usually port 465): %w", err))
			}
			return fail(StageConnect, err)
		}
	default:
		c = smtp.NewClient(conn)
	}
	// From here go-smtp sets a deadline per command itself.
	conn.limit.Store(0)
	c.CommandTimeout = cl.timeouts.Command
	c.SubmissionTimeout = cl.timeouts.Submission
	defer c.Close()

	if err := c.Hello(cl.localName); err != nil {
		var smtpErr *smtp.SMTPError
		switch {
		case errors.As(err, &smtpErr):
			return fail(StageGreeting, err)
		case s.TLS == TLSStartTLS || isTLSError(err):
			return fail(StageTLS, err)
		}
		return fail(StageConnect, err)
	}
	if s.User != "" {
		a, err := saslClient(c, s)
		if err != nil {
			return fail(StageAuth, err)
		}
		if err := c.Auth(a); err != nil {
			return fail(StageAuth, stageErr(err))
		}
	}
	var opts *smtp.MailOptions
	if !isASCII(env.from) || !isASCII(strings.Join(env.to, "")) {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(env.from, opts); err != nil {
		d, e := fail(StageSender, err)
		e.(*SendError).Detail = env.from
		return d, e
	}
	var (
		rcpts []string
		res   delivery
	)
	for _, to := range env.to {
		err := c.Rcpt(to, nil)
		var smtpErr *smtp.SMTPError
		switch {
		case err == nil:
			rcpts = append(rcpts, to)
		case errors.As(err, &smtpErr) && smtpErr.Code/100 == 5:
			res.rejected = append(res.rejected, rejection{to, replyText(smtpErr)})
		default:
			// A temporary refusal of one recipient retries the whole
			// message: nothing has been accepted yet, so nothing doubles.
			d, e := fail(StageRecipient, err)
			e.(*SendError).Detail = to
			return d, e
		}
	}
	if len(rcpts) == 0 {
		first := res.rejected[0]
		_ = c.Reset() // polite; the reply does not matter
		se := &SendError{Stage: StageRecipient, Server: addr, Detail: first.addr, Reply: first.reply,
			Code: replyCode(first.reply), Err: errors.New(res.rejectedText())}
		if len(res.rejected) > 1 {
			se.Detail = fmt.Sprintf("%s (and every other recipient: %s)", first.addr, res.rejectedText())
		}
		return delivery{}, se
	}
	handingOver.Store(true)
	if ctx.Err() != nil {
		return fail(StageConnect, ctx.Err())
	}
	w, err := c.Data()
	if err != nil {
		return fail(StageData, err)
	}
	if _, err := w.Write(env.data); err != nil {
		return fail(StageData, err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		// A timeout or a broken connection here leaves it open whether the
		// server took the message: it is retried, with the same Message-ID.
		return fail(StageData, err)
	}
	res.reply = "250 " + resp.StatusText
	if accepted != nil {
		accepted(res)
	}
	c.Quit() // the message is accepted; what QUIT says does not matter
	return res, nil
}

// saslClient picks PLAIN, else LOGIN, from what the server offers.
func saslClient(c *smtp.Client, s Settings) (sasl.Client, error) {
	ok, mechs := c.Extension("AUTH")
	switch {
	case !ok:
		return nil, errors.New("the server offers no login (AUTH); remove --user, or check --tls")
	case c.SupportsAuth(sasl.Plain):
		return sasl.NewPlainClient("", s.User, s.Password.Reveal()), nil
	case c.SupportsAuth(sasl.Login):
		return sasl.NewLoginClient(s.User, s.Password.Reveal()), nil
	}
	return nil, fmt.Errorf("the server offers neither PLAIN nor LOGIN login (it offers %s)", mechs)
}

// stageErr keeps SMTP errors and drops others' text down to its own, in
// case a SASL library ever echoed what it sent.
func stageErr(err error) error {
	var smtpErr *smtp.SMTPError
	if errors.As(err, &smtpErr) {
		return smtpErr
	}
	return err
}

// replyText formats a server reply: "550 5.1.1 no such user".
func replyText(e *smtp.SMTPError) string {
	s := fmt.Sprintf("%d", e.Code)
	if ec := e.EnhancedCode; ec != smtp.EnhancedCodeNotSet && ec != smtp.NoEnhancedCode {
		s += fmt.Sprintf(" %d.%d.%d", ec[0], ec[1], ec[2])
	}
	if e.Message != "" {
		s += " " + strings.ReplaceAll(e.Message, "\n", " ")
	}
	return s
}

func replyCode(reply string) int {
	var code int
	fmt.Sscanf(reply, "%d", &code)
	return code
}

func isTLSError(err error) bool {
	var (
		rh    tls.RecordHeaderError
		alert tls.AlertError
		cv    *tls.CertificateVerificationError
		ua    x509.UnknownAuthorityError
		he    x509.HostnameError
		ci    x509.CertificateInvalidError
	)
	return errors.As(err, &rh) || errors.As(err, &alert) || errors.As(err, &cv) || errors.As(err, &ua) ||
		errors.As(err, &he) || errors.As(err, &ci) || strings.HasPrefix(err.Error(), "tls: ")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// requireLoopback refuses, after name resolution, to talk plain text to
// anything but this machine.
func requireLoopback(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing plain-text SMTP to %s: tls none is only for a mail server on this machine", address)
	}
	return nil
}

// boundedConn keeps every deadline go-smtp sets within the attempt's
// deadline, and, while limit is set, within limit from now: go-smtp clears
// deadlines after each command and uses long defaults before we can set its
// timeouts.
type boundedConn struct {
	net.Conn
	deadline time.Time
	limit    atomic.Int64 // time.Duration; 0: none
}

func (b *boundedConn) clamp(t time.Time) time.Time {
	d := b.deadline
	if l := time.Duration(b.limit.Load()); l > 0 {
		if n := time.Now().Add(l); n.Before(d) {
			d = n
		}
	}
	if !t.IsZero() && t.Before(d) {
		d = t
	}
	return d
}

func (b *boundedConn) SetDeadline(t time.Time) error      { return b.Conn.SetDeadline(b.clamp(t)) }
func (b *boundedConn) SetReadDeadline(t time.Time) error  { return b.Conn.SetReadDeadline(b.clamp(t)) }
func (b *boundedConn) SetWriteDeadline(t time.Time) error { return b.Conn.SetWriteDeadline(b.clamp(t)) }
