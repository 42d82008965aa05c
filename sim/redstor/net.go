package redstor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"
)

// message is one datagram of the simulation's protocol between Redstor
// services: a request names an operation, its reply carries the same ID.
type message struct {
	ID    uint64          `json:"id"`
	Op    string          `json:"op,omitempty"`
	Reply bool            `json:"reply,omitempty"`
	Error string          `json:"error,omitempty"`
	From  string          `json:"from,omitempty"` // the sender's host name
	Body  json.RawMessage `json:"body,omitempty"`
}

// maxDatagram bounds a message; the largest, a database backup, is a few
// kilobytes.
const maxDatagram = 60 << 10

// callTimeout is how long a request waits for its reply on loopback.
const callTimeout = 400 * time.Millisecond

// handler serves one request from host from; its result is the reply body.
type handler func(ctx context.Context, op, from string, body json.RawMessage) (any, error)

// peer is one UDP endpoint of a simulated service or tool.
type peer struct {
	name  string // own host name, sent as From
	conn  *net.UDPConn
	hosts map[string]*net.UDPAddr
	serve handler // nil for a tool, which only calls

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan message
	wg      sync.WaitGroup
}

// parseHosts reads the --hosts table, "NAME=127.0.0.1:PORT,...": the
// simulation's name service, rewritten by the fleet's layout on every start.
func parseHosts(s string) (map[string]*net.UDPAddr, error) {
	hosts := map[string]*net.UDPAddr{}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		name, addr, ok := strings.Cut(item, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--hosts: %q is not NAME=HOST:PORT", item)
		}
		ua, err := net.ResolveUDPAddr("udp4", addr)
		if err != nil || ua.Port == 0 {
			return nil, fmt.Errorf("--hosts: %s: %q is not HOST:PORT", name, addr)
		}
		hosts[name] = ua
	}
	if len(hosts) == 0 {
		return nil, errors.New("--hosts: empty; expected NAME=HOST:PORT,...")
	}
	return hosts, nil
}

// listen opens the endpoint: on the host's own address when serve is
// given, on a free port otherwise.
func listen(name string, hosts map[string]*net.UDPAddr, serve handler) (*peer, error) {
	addr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	if serve != nil {
		a, ok := hosts[name]
		if !ok {
			return nil, fmt.Errorf("--hosts has no address for this server, %s", name)
		}
		addr = a
	}
	conn, err := net.ListenUDP("udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return &peer{name: name, conn: conn, hosts: hosts, serve: serve, pending: map[uint64]chan message{}}, nil
}

// run reads datagrams until ctx ends, then closes the endpoint and waits
// for the requests being served.
func (p *peer) run(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { p.conn.Close() })
	defer stop()
	buf := make([]byte, maxDatagram+1)
	for {
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			continue
		}
		var m message
		if n > maxDatagram || json.Unmarshal(buf[:n], &m) != nil {
			continue // not ours; a real service ignores garbage too
		}
		if m.Reply {
			p.mu.Lock()
			ch := p.pending[m.ID]
			delete(p.pending, m.ID)
			p.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		if p.serve == nil {
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			out := message{ID: m.ID, Reply: true, From: p.name}
			body, err := p.serve(ctx, m.Op, m.From, m.Body)
			if err == nil && body != nil {
				out.Body, err = json.Marshal(body)
			}
			if err != nil {
				out.Error, out.Body = err.Error(), nil
			}
			b, _ := json.Marshal(out)
			if len(b) > maxDatagram {
				b, _ = json.Marshal(message{ID: m.ID, Reply: true, From: p.name, Error: "reply too large"})
			}
			p.conn.WriteToUDP(b, from)
		}()
	}
	p.conn.Close()
	p.wg.Wait()
}

// remoteError is an error the other service answered with.
type remoteError struct{ host, msg string }

func (e *remoteError) Error() string { return e.host + ": " + e.msg }

// call sends a request to host and decodes the reply's body into out (which
// may be nil). timeout bounds the wait on the wall clock.
func (p *peer) call(ctx context.Context, host, op string, body, out any, timeout time.Duration) error {
	addr, ok := p.hosts[host]
	if !ok {
		return fmt.Errorf("host name %q does not resolve (known: %s)", host, p.known())
	}
	m := message{Op: op, From: p.name}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		m.Body = b
	}
	ch := make(chan message, 1)
	p.mu.Lock()
	p.next++
	m.ID = p.next
	p.pending[m.ID] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.pending, m.ID)
		p.mu.Unlock()
	}()
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > maxDatagram {
		return fmt.Errorf("%s to %s: request of %d bytes is too large", op, host, len(b))
	}
	if _, err := p.conn.WriteToUDP(b, addr); err != nil {
		return fmt.Errorf("%s to %s: %w", op, host, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("%s did not answer (%s) within %v", host, op, timeout)
	case r := <-ch:
		if r.Error != "" {
			return &remoteError{host, r.Error}
		}
		if out != nil && len(r.Body) > 0 {
			if err := json.Unmarshal(r.Body, out); err != nil {
				return fmt.Errorf("%s from %s: bad reply: %w", op, host, err)
			}
		}
		return nil
	}
}

// callRetry is call for one-shot work (a task, an SP Console operation),
// which tries again before it concludes that host is not there: a busy
// machine may answer late. Errors the host answers with are not retried.
func (p *peer) callRetry(ctx context.Context, host, op string, body, out any, timeout time.Duration) error {
	var err error
	for range 3 {
		err = p.call(ctx, host, op, body, out, timeout)
		var re *remoteError
		if err == nil || errors.As(err, &re) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (p *peer) known() string {
	names := make([]string, 0, len(p.hosts))
	for n := range p.hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// decode reads a request body, saying what is wrong with it.
func decode(op string, body json.RawMessage, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: bad request: %w", op, err)
	}
	return nil
}

// every runs f at once and then every d until ctx ends, in a goroutine wg
// waits for.
func every(ctx context.Context, wg *sync.WaitGroup, d time.Duration, f func(context.Context)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			f(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}
