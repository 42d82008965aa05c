package infocast

import "net/netip"

// DecodeMessage exposes the decoder of the group's datagrams to the tests.
func DecodeMessage(b []byte) (state string, from netip.AddrPort, since int64, err error) {
	m, err := decodeMessage(b)
	return m.state.String(), m.from, m.since, err
}

// EncodeMessage exposes the encoder, for round trips.
func EncodeMessage(state string, from netip.AddrPort, since int64) []byte {
	for i, n := range stateNames {
		if n == state {
			return message{state: memberState(i), from: from, since: since}.encode()
		}
	}
	return nil
}
