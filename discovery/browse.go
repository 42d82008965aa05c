package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/grandcat/zeroconf"
)

// Sighting is one agent seen answering on the network. It says where the
// agent was and what it claimed; it is no proof of identity and its absence
// is no proof of failure.
type Sighting struct {
	Instance string // server name
	Host     string // host name the agent advertised, without the final dot
	Port     int
	IPv4     []net.IP
	IPv6     []net.IP
	Advert   Advert
	Time     time.Time
}

// Address returns host:port for reaching the agent, or "" when the sighting
// has no address. A loopback IPv4 wins, since an agent listening on loopback
// advertises 127.0.0.1 next to nothing else reachable; then the first IPv4;
// then the first IPv6 that is not link-local (it would need a zone the record
// does not carry), then any IPv6.
func (s Sighting) Address() string {
	port := strconv.Itoa(s.Port)
	for _, ip := range s.IPv4 {
		if ip.IsLoopback() {
			return net.JoinHostPort(ip.String(), port)
		}
	}
	if len(s.IPv4) > 0 {
		return net.JoinHostPort(s.IPv4[0].String(), port)
	}
	for _, ip := range s.IPv6 {
		if !ip.IsLinkLocalUnicast() {
			return net.JoinHostPort(ip.String(), port)
		}
	}
	if len(s.IPv6) > 0 {
		return net.JoinHostPort(s.IPv6[0].String(), port)
	}
	return ""
}

// Defaults of Browser.
const (
	DefaultRound    = 15 * time.Second
	DefaultMinRetry = time.Second
	DefaultMaxRetry = time.Minute
)

// Browser keeps looking for agents until its context ends. The zero value is
// ready to use.
type Browser struct {
	// Round is how long one browse lasts before a fresh one starts, once
	// the first few shorter ones are over (firstRounds). zeroconf reports
	// each instance once per browse, so Round is also how often an agent
	// that stays up is reported again, carrying its current TXT.
	Round time.Duration
	// MinRetry and MaxRetry bound the wait after the mDNS resolver fails; the
	// wait doubles with every failure in a row.
	MinRetry, MaxRetry time.Duration
	Logger             *slog.Logger
	Now                func() time.Time

	// browse starts one browse; tests replace it to inject failures.
	browse browseFunc
}

// browseFunc starts a browse that sends entries until ctx ends. Whether it
// fails or not, it closes entries eventually: at the latest once ctx is done.
type browseFunc func(ctx context.Context, entries chan *zeroconf.ServiceEntry) error

// Run browses in rounds until ctx is done, calling found for every agent
// seen, once per agent per round and again whenever an agent re-announces
// itself, always from Run's own goroutine: found must not block for long, or
// it holds up the browse. Records that cannot be decoded
// are logged and skipped. Run returns ctx.Err(); by then the browses it
// started have ended (zeroconf's socket readers exit moments later, when
// their sockets close).
func (b *Browser) Run(ctx context.Context, found func(Sighting)) error {
	if found == nil {
		return errors.New("discovery: Browser.Run needs a found callback")
	}
	r := runner{
		round:    orDefault(b.Round, DefaultRound),
		minRetry: orDefault(b.MinRetry, DefaultMinRetry),
		maxRetry: orDefault(b.MaxRetry, DefaultMaxRetry),
		log:      b.Logger,
		now:      b.Now,
		browse:   b.browse,
		found:    found,
		reported: make(map[string]string),
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.browse == nil {
		z := &zeroconfBrowser{log: r.log}
		r.browse = z.browse
	}
	r.maxRetry = max(r.maxRetry, r.minRetry)
	return r.run(ctx)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// runner holds the state of one Run.
type runner struct {
	round, minRetry, maxRetry time.Duration
	log                       *slog.Logger
	now                       func() time.Time
	browse                    browseFunc
	found                     func(Sighting)

	// reported remembers the last complaint logged per instance, so a broken
	// agent is logged as a warning once, not every round.
	reported map[string]string
}

// maxReported bounds the complaint memory against a flood of bogus names.
const maxReported = 1024

// firstRounds are the lengths of a browser's first rounds. Every round
// starts with a query, so these ask again 1, 2, 4, 8 and 16 s after the
// start, as RFC 6762 section 5.2 has a querier do; zeroconf alone would ask
// again only after 2 to 6 s. When many agents answer at once, some answers
// are lost (the socket's receive buffer overflows on a host with hundreds
// of agents), and the early queries find them within seconds.
var firstRounds = []time.Duration{time.Second, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}

// roundLength is how long round i (from 0) lasts when rounds last round
// once the first ones are over.
func roundLength(i int, round time.Duration) time.Duration {
	if i < len(firstRounds) {
		return min(round, firstRounds[i])
	}
	return round
}

func (r *runner) run(ctx context.Context) error {
	wait := r.minRetry
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := r.browseRound(ctx, roundLength(i, r.round))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			wait = r.minRetry
			continue
		}
		r.log.Warn("mDNS browse failed; retrying", "service", Service, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, r.maxRetry)
	}
}

// browseRound runs one fresh browse for one round. zeroconf's Browse stops
// quietly after a failed query and reports each instance only once, so a new
// one each round is what keeps sightings coming.
func (r *runner) browseRound(ctx context.Context, round time.Duration) error {
	rctx, cancel := context.WithTimeout(ctx, round)
	defer cancel()
	entries := make(chan *zeroconf.ServiceEntry)
	err := r.browse(rctx, entries)
	if err != nil {
		cancel()
	}
	// Drain until zeroconf closes the channel: its main loop blocks on every
	// send, so leaving early would leak it.
	for e := range entries {
		if err == nil {
			r.handle(e)
		}
	}
	if err != nil {
		return err
	}
	if rctx.Err() == nil {
		return errors.New("browse stopped before the round ended")
	}
	return nil
}

// handle turns one entry into a sighting, or logs why it cannot.
func (r *runner) handle(e *zeroconf.ServiceEntry) {
	instance := unescape(e.Instance)
	if !printable(instance) {
		r.complain(instance, "ignoring mDNS advert", "err", "instance name is not printable UTF-8")
		return
	}
	txt := make([]string, len(e.Text))
	for i, s := range e.Text {
		txt[i] = unescape(s)
	}
	a, problems, err := DecodeTXT(txt)
	if err != nil {
		r.complain(instance, "ignoring mDNS advert", "err", err)
		return
	}
	if len(problems) > 0 {
		ps := make([]string, len(problems))
		for i, p := range problems {
			ps[i] = p.String()
		}
		r.complain(instance, "mDNS advert has problems", "problems", ps)
	} else {
		delete(r.reported, instance)
	}
	r.found(Sighting{
		Instance: instance,
		Host:     strings.TrimSuffix(unescape(e.HostName), "."),
		Port:     e.Port,
		IPv4:     append([]net.IP(nil), e.AddrIPv4...),
		IPv6:     append([]net.IP(nil), e.AddrIPv6...),
		Advert:   a,
		Time:     r.now(),
	})
}

// complain logs a warning the first time an instance shows a given fault and
// a debug line while it persists.
func (r *runner) complain(instance, msg string, args ...any) {
	key := msg + fmt.Sprint(args...)
	level := slog.LevelWarn
	if r.reported[instance] == key {
		level = slog.LevelDebug
	} else {
		if len(r.reported) >= maxReported {
			clear(r.reported)
		}
		r.reported[instance] = key
	}
	r.log.Log(context.Background(), level, msg, append([]any{"instance", instance}, args...)...)
}

func printable(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}

// zeroconfBrowser starts each browse on a fresh resolver: a resolver's
// sockets close when its browse ends, so it cannot be reused.
type zeroconfBrowser struct {
	log *slog.Logger
	// ipv4Only is set once a resolver for both IPv4 and IPv6 failed to start
	// while one for IPv4 alone did, as on hosts without IPv6. It sticks
	// because zeroconf leaks the IPv4 socket of such a failed start.
	ipv4Only bool
}

func (z *zeroconfBrowser) browse(ctx context.Context, entries chan *zeroconf.ServiceEntry) error {
	res, err := z.newResolver()
	if err != nil {
		close(entries)
		return err
	}
	// On failure zeroconf cancels the browse itself, which closes entries.
	if err := res.Browse(ctx, Service, Domain, entries); err != nil {
		return fmt.Errorf("browse %s: %w", Service, err)
	}
	return nil
}

func (z *zeroconfBrowser) newResolver() (*zeroconf.Resolver, error) {
	if !z.ipv4Only {
		res, err := zeroconf.NewResolver(zeroconf.SelectIPTraffic(zeroconf.IPv4AndIPv6))
		if err == nil {
			return res, nil
		}
		res, err4 := zeroconf.NewResolver(zeroconf.SelectIPTraffic(zeroconf.IPv4))
		if err4 != nil {
			return nil, fmt.Errorf("start mDNS resolver: %w", err)
		}
		z.log.Warn("mDNS resolver falls back to IPv4 only", "err", err)
		z.ipv4Only = true
		return res, nil
	}
	res, err := zeroconf.NewResolver(zeroconf.SelectIPTraffic(zeroconf.IPv4))
	if err != nil {
		return nil, fmt.Errorf("start mDNS resolver (IPv4): %w", err)
	}
	return res, nil
}
