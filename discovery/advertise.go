package discovery

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/grandcat/zeroconf"
)

// The DNS-SD service every agent advertises, and the only domain mDNS uses.
const (
	Service = "_vigil._tcp"
	Domain  = "local."
)

// maxLabelLen is the DNS limit on one label (RFC 1035 §2.3.4); the instance
// name is a single label.
const maxLabelLen = 63

// Advertisement is a running mDNS responder for one agent. Close it when the
// agent stops.
type Advertisement struct {
	instance string
	port     int
	ips      []string

	mu     sync.Mutex // serialises Update and Close
	advert Advert
	server *zeroconf.Server // nil after Close, or after a failed Update
	closed bool
}

// Advertise announces an agent as instance (the server name) on port and
// keeps answering queries for it until Close.
//
// With no ips, zeroconf publishes the addresses of every multicast-capable
// interface under the host's own name. With ips (an agent listening on
// loopback advertises "127.0.0.1"), those addresses are published under a host
// name made from the instance, so that several agents on one machine do not
// claim each other's addresses.
func Advertise(instance string, port int, ips []string, a Advert) (*Advertisement, error) {
	if err := checkInstance(instance); err != nil {
		return nil, fmt.Errorf("advertise %q on port %d: %w", instance, port, err)
	}
	if port <= 0 || port > 65535 {
		return nil, fmt.Errorf("advertise %s on port %d: port out of range", instance, port)
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("advertise %s on port %d: advert: %w", instance, port, err)
	}
	for _, ip := range ips {
		if net.ParseIP(ip) == nil {
			return nil, fmt.Errorf("advertise %s on port %d: %q is not an IP address", instance, port, ip)
		}
	}
	ad := &Advertisement{instance: instance, port: port, ips: slices.Clone(ips), advert: a}
	if err := ad.register(); err != nil {
		return nil, err
	}
	return ad, nil
}

func (ad *Advertisement) register() error {
	var (
		server *zeroconf.Server
		err    error
	)
	label, txt := escapeLabel(ad.instance), escapeTXT(ad.advert.TXT())
	if len(ad.ips) == 0 {
		server, err = zeroconf.Register(label, Service, Domain, ad.port, txt, nil)
	} else {
		server, err = zeroconf.RegisterProxy(label, Service, Domain, ad.port, hostLabel(ad.instance), ad.ips, txt, nil)
	}
	if err != nil {
		return fmt.Errorf("advertise %s on port %d: %w", ad.instance, ad.port, err)
	}
	ad.server = server
	return nil
}

// Update replaces the advert and announces it at once, so that consoles
// browsing right now learn of a role change without waiting for a query. An
// unchanged advert is left alone.
//
// zeroconf's Server.SetText writes the TXT record while the responder's own
// goroutines read it, unsynchronised (the race detector catches it), so Update
// restarts the responder instead. The goodbye this sends costs nothing, since
// browsers must not read liveness into mDNS, and zeroconf browsers report the
// instance again as soon as the new responder announces itself. If the
// restart fails the agent is not advertised until a later Update succeeds.
func (ad *Advertisement) Update(a Advert) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("update advert of %s on port %d: %w", ad.instance, ad.port, err)
	}
	ad.mu.Lock()
	defer ad.mu.Unlock()
	if ad.closed {
		return fmt.Errorf("update advert of %s on port %d: %w", ad.instance, ad.port, errClosed)
	}
	if ad.server != nil && slices.Equal(a.TXT(), ad.advert.TXT()) {
		return nil
	}
	if ad.server != nil {
		ad.server.Shutdown()
		ad.server = nil
	}
	ad.advert = a
	return ad.register()
}

var errClosed = errors.New("advertisement is closed")

// Close sends a goodbye and stops answering. It is safe to call more than
// once. Browsers must not read anything into the goodbye: zeroconf drops
// them, and liveness comes from the watch stream.
func (ad *Advertisement) Close() {
	ad.mu.Lock()
	defer ad.mu.Unlock()
	ad.closed = true
	if ad.server != nil {
		ad.server.Shutdown()
		ad.server = nil
	}
}

// checkInstance rejects names that cannot travel as one DNS label through
// zeroconf, which trims leading and trailing dots before escaping matters.
func checkInstance(instance string) error {
	switch {
	case instance == "":
		return errors.New("instance name is empty")
	case len(instance) > maxLabelLen:
		return fmt.Errorf("instance name of %d bytes exceeds %d", len(instance), maxLabelLen)
	case !utf8.ValidString(instance):
		return errors.New("instance name is not valid UTF-8")
	case strings.HasPrefix(instance, ".") || strings.HasSuffix(instance, "."):
		return errors.New("instance name starts or ends with a dot")
	case strings.TrimSpace(instance) != instance:
		return errors.New("instance name starts or ends with white space")
	}
	for _, r := range instance {
		if !unicode.IsPrint(r) {
			return errors.New("instance name has non-printable characters")
		}
	}
	return nil
}

// hostLabel makes a DNS host label from an instance name. The "-vigil"
// suffix keeps the loopback addresses a local agent publishes from landing
// on the name of a real machine on the LAN.
func hostLabel(instance string) string {
	const suffix = "-vigil"
	var b strings.Builder
	dash := true // no leading dash
	for _, r := range strings.ToLower(instance) {
		switch {
		case 'a' <= r && r <= 'z' || '0' <= r && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	label := strings.TrimRight(b.String(), "-")
	if len(label) > maxLabelLen-len(suffix) {
		label = strings.TrimRight(label[:maxLabelLen-len(suffix)], "-")
	}
	if label == "" {
		label = "agent"
	}
	return label + suffix
}

// zeroconf hands names and TXT strings to github.com/miekg/dns in
// presentation format, where a backslash starts an escape and a dot ends a
// label; received ones come back escaped the same way, with every byte
// outside printable ASCII as \DDD. These helpers translate at that boundary
// so that the rest of Vigil sees the bytes that travel on the wire.

// escapeLabel escapes a single label so that dots and backslashes in it stay
// literal.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `.`, `\.`).Replace(s)
}

// escapeTXT escapes TXT strings so that backslashes in values stay literal.
func escapeTXT(txt []string) []string {
	out := make([]string, len(txt))
	for i, s := range txt {
		out[i] = strings.ReplaceAll(s, `\`, `\\`)
	}
	return out
}

// unescape turns a name or TXT string in presentation format back into its
// bytes: \DDD is a decimal byte, \X is X. A dangling backslash is dropped, as
// miekg/dns does.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b = append(b, s[i])
			continue
		}
		i++
		switch {
		case i == len(s):
		case i+2 < len(s) && isDigit(s[i]) && isDigit(s[i+1]) && isDigit(s[i+2]):
			b = append(b, byte(int(s[i]-'0')*100+int(s[i+1]-'0')*10+int(s[i+2]-'0')))
			i += 2
		default:
			b = append(b, s[i])
		}
	}
	return string(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
