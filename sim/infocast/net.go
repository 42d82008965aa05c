package infocast

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
)

// binding is the interface the redundancy multicast uses and this server's
// address on it, as JGroups picks them ("Binding to interface ...").
type binding struct {
	ifi  *net.Interface
	addr netip.Addr
}

// chooseBinding picks the interface for the failover multicast. An address
// given explicitly names the interface that holds it. Otherwise, as JGroups
// takes the first interface found, it takes loopback when multicast looped
// back there reaches group (loopback often lacks the MULTICAST flag but
// carries it all the same), and else the first interface that is up, has the
// MULTICAST flag and an IPv4 address.
func chooseBinding(want netip.Addr, group netip.AddrPort) (binding, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return binding{}, fmt.Errorf("list network interfaces: %w", err)
	}
	if want.IsValid() {
		for i := range ifs {
			if a, ok := ipv4Of(&ifs[i], want); ok {
				return binding{ifi: &ifs[i], addr: a}, nil
			}
		}
		return binding{}, fmt.Errorf("no network interface has the address %s to bind the failover multicast to", want)
	}
	for i := range ifs {
		ifi := &ifs[i]
		if ifi.Flags&net.FlagLoopback == 0 || ifi.Flags&net.FlagUp == 0 {
			continue
		}
		if a, ok := ipv4Of(ifi, netip.Addr{}); ok && loopbackCarries(ifi, a, group) == nil {
			return binding{ifi: ifi, addr: a}, nil
		}
	}
	for i := range ifs {
		ifi := &ifs[i]
		if ifi.Flags&(net.FlagUp|net.FlagMulticast) != net.FlagUp|net.FlagMulticast || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		if a, ok := ipv4Of(ifi, netip.Addr{}); ok {
			return binding{ifi: ifi, addr: a}, nil
		}
	}
	return binding{}, errors.New("no network interface carries multicast: loopback does not loop it back and no other interface is up with the MULTICAST flag and an IPv4 address")
}

// ipv4Of returns ifi's IPv4 address: want if ifi has it, else its first.
func ipv4Of(ifi *net.Interface, want netip.Addr) (netip.Addr, bool) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, false
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !ip.Is4() {
			continue
		}
		if !want.IsValid() || ip == want {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// loopbackCarries checks that a datagram sent to group on ifi comes back to a
// member of group on ifi, on a port of its own so nobody else hears it.
func loopbackCarries(ifi *net.Interface, addr netip.Addr, group netip.AddrPort) error {
	probe, err := net.ListenPacket("udp4", net.JoinHostPort(addr.String(), "0"))
	if err != nil {
		return err
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	test := netip.AddrPortFrom(group.Addr(), uint16(port))
	recv, err := listenGroup(ifi, test)
	if err != nil {
		return err
	}
	defer recv.Close()
	send, err := dialGroup(ifi, addr, 0, 0)
	if err != nil {
		return err
	}
	defer send.Close()
	msg := []byte("infocast-sim loopback check")
	if _, err := send.WriteTo(msg, nil, net.UDPAddrFromAddrPort(test)); err != nil {
		return err
	}
	buf := make([]byte, 64)
	recv.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		n, _, err := recv.ReadFrom(buf)
		if err != nil {
			return err
		}
		if string(buf[:n]) == string(msg) {
			return nil
		}
	}
}

// listenGroup joins group on ifi and receives what is sent to it.
func listenGroup(ifi *net.Interface, group netip.AddrPort) (*net.UDPConn, error) {
	c, err := net.ListenMulticastUDP("udp4", ifi, net.UDPAddrFromAddrPort(group))
	if err != nil {
		return nil, fmt.Errorf("join multicast group %s on %s: %w", group, ifi.Name, err)
	}
	return c, nil
}

// dialGroup opens the socket a server sends to the group from: bound to its
// own address and port (port 0 picks one), sending on ifi with ttl, and
// looping its datagrams back so servers on this host hear each other.
func dialGroup(ifi *net.Interface, addr netip.Addr, port uint16, ttl int) (*ipv4.PacketConn, error) {
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, port)))
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", netip.AddrPortFrom(addr, port), err)
	}
	p := ipv4.NewPacketConn(c)
	for _, set := range []struct {
		what string
		do   func() error
	}{
		{"outgoing interface " + ifi.Name, func() error { return p.SetMulticastInterface(ifi) }},
		{fmt.Sprintf("TTL %d", ttl), func() error { return p.SetMulticastTTL(ttl) }},
		{"loopback", func() error { return p.SetMulticastLoopback(true) }},
	} {
		if err := set.do(); err != nil {
			c.Close()
			return nil, fmt.Errorf("multicast %s: %w", set.what, err)
		}
	}
	return p, nil
}
