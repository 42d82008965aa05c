package infocast

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vigilops/vigil/sim"
)

// Config is what the simulated server reads from its configuration file:
// the document's <failover> element (multicast address, TTL and timeout,
// plus the port JGroups needs beside the address) and the bootcast images
// it processes while it is the Primary.
type Config struct {
	Group    netip.AddrPort // <failover><address> and <port>
	TTL      int            // <failover><ttl>
	Timeout  time.Duration  // <failover><timeout>, in milliseconds in the file
	Bootcast Bootcast
}

// Bootcast is the Infocast data channel the Primary transmits on. The
// simulation only logs what it would process; it sends nothing there.
type Bootcast struct {
	Channel netip.AddrPort
	Images  []string
}

// maxConfigSize bounds what LoadConfig reads: the file is a few hundred bytes.
const maxConfigSize = 1 << 20

// maxTimeout bounds <failover><timeout>: an hour without the Primary is not a
// failure detector any more.
const maxTimeout = time.Hour

// LoadConfig reads the configuration file at path.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("infocast configuration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("infocast configuration %s: %w", path, err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("infocast configuration %s: larger than %d bytes; this is not the server's configuration", path, maxConfigSize)
	}
	return ParseConfig(path, data)
}

type xmlFailover struct {
	Address *string `xml:"address"`
	Port    *string `xml:"port"`
	TTL     *string `xml:"ttl"`
	Timeout *string `xml:"timeout"`
}

type xmlBootcast struct {
	Address *string  `xml:"address"`
	Port    *string  `xml:"port"`
	Images  []string `xml:"image"`
}

type xmlConfig struct {
	XMLName  xml.Name
	Failover *xmlFailover `xml:"failover"`
	Bootcast *xmlBootcast `xml:"bootcast"`
}

// ParseConfig checks configuration text; path names the file in errors.
func ParseConfig(path string, data []byte) (*Config, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("infocast configuration %s: %s", path, fmt.Sprintf(format, args...))
	}
	var doc xmlConfig
	dec := xml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fail("the file is empty; expected <infocast><failover>...</failover></infocast>")
		}
		return nil, fail("not valid XML: %v", err)
	}
	if doc.XMLName.Local != "infocast" {
		return nil, fail("the root element is <%s>; expected <infocast>", doc.XMLName.Local)
	}
	fo := doc.Failover
	if fo == nil {
		return nil, fail("no <failover> element; both servers need the same <failover><address>, <port>, <ttl> and <timeout>")
	}
	need := func(v *string, name string) (string, error) {
		if v == nil || strings.TrimSpace(*v) == "" {
			return "", fail("<failover><%s> is missing or empty", name)
		}
		return strings.TrimSpace(*v), nil
	}
	cfg := &Config{}
	s, err := need(fo.Address, "address")
	if err != nil {
		return nil, err
	}
	addr, err := netip.ParseAddr(s)
	if err != nil || !addr.Is4() || !addr.IsMulticast() {
		return nil, fail("<failover><address> %q is not an IPv4 multicast address (224.0.0.0 to 239.255.255.255)", s)
	}
	if s, err = need(fo.Port, "port"); err != nil {
		return nil, err
	}
	port, err := parsePort(s)
	if err != nil {
		return nil, fail("<failover><port> %v", err)
	}
	cfg.Group = netip.AddrPortFrom(addr, port)
	if s, err = need(fo.TTL, "ttl"); err != nil {
		return nil, err
	}
	if cfg.TTL, err = strconv.Atoi(s); err != nil || cfg.TTL < 0 || cfg.TTL > 255 {
		return nil, fail("<failover><ttl> %q is not a whole number from 0 to 255", s)
	}
	if s, err = need(fo.Timeout, "timeout"); err != nil {
		return nil, err
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 || time.Duration(ms)*time.Millisecond > maxTimeout {
		return nil, fail("<failover><timeout> %q is not a whole number of milliseconds from 1 to %d", s, maxTimeout.Milliseconds())
	}
	cfg.Timeout = time.Duration(ms) * time.Millisecond

	cfg.Bootcast = Bootcast{Channel: netip.MustParseAddrPort("224.2.2.2:22222"), Images: []string{"bootcast_1900", "bootcast_1500"}}
	if bc := doc.Bootcast; bc != nil {
		if bc.Address != nil {
			a, err := netip.ParseAddr(strings.TrimSpace(*bc.Address))
			if err != nil || !a.Is4() {
				return nil, fail("<bootcast><address> %q is not an IPv4 address", *bc.Address)
			}
			cfg.Bootcast.Channel = netip.AddrPortFrom(a, cfg.Bootcast.Channel.Port())
		}
		if bc.Port != nil {
			p, err := parsePort(strings.TrimSpace(*bc.Port))
			if err != nil {
				return nil, fail("<bootcast><port> %v", err)
			}
			cfg.Bootcast.Channel = netip.AddrPortFrom(cfg.Bootcast.Channel.Addr(), p)
		}
		if len(bc.Images) > 0 {
			cfg.Bootcast.Images = nil
			for _, im := range bc.Images {
				im = strings.TrimSpace(im)
				if !imageRE.MatchString(im) {
					return nil, fail("<bootcast><image> %q is not an image name (letters, digits, '_', '-' or '.', at most 64)", im)
				}
				cfg.Bootcast.Images = append(cfg.Bootcast.Images, im)
			}
		}
	}
	return cfg, nil
}

var imageRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func parsePort(s string) (uint16, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port from 1 to 65535", s)
	}
	return uint16(n), nil
}

// configTemplate is the file a simulated server starts with: the document's
// <failover> element, on a group and port of this fleet's own so that fleets
// running side by side do not hear each other.
const configTemplate = `<?xml version="1.0" encoding="UTF-8"?>
<!-- Infocast Server configuration, SIMULATED by Vigil (vigil sim infocastserverd);
     not the vendor's product. Both servers must use the same <failover> address
     and port. The server reads this file when it starts. -->
<infocast>
  <failover>
    <address>%s</address>
    <port>%d</port>
    <ttl>%d</ttl>
    <timeout>%d</timeout>
  </failover>
  <bootcast>
    <address>224.2.2.2</address>
    <port>22222</port>
    <image>bootcast_1900</image>
    <image>bootcast_1500</image>
  </bootcast>
</infocast>
`

var failoverPortRE = regexp.MustCompile(`(?s)(<failover\b.*?<port>)[^<]*(</port>)`)

// rewirePort sets <failover><port> in a configuration file to port, leaving
// every other byte as it was. A file without one is left alone: the server
// then refuses to start, naming the file and the missing element.
func rewirePort(path string, port int) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("infocast configuration: %w", err)
	}
	loc := failoverPortRE.FindSubmatchIndex(data)
	if loc == nil {
		return nil
	}
	var out bytes.Buffer
	out.Write(data[:loc[3]])
	out.WriteString(strconv.Itoa(port))
	out.Write(data[loc[4]:])
	if bytes.Equal(out.Bytes(), data) {
		return nil
	}
	return sim.Write(path, out.String())
}
