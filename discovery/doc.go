// Package discovery finds Vigil agents on the local network and lets an agent
// be found.
//
// It owns three things: advertising an agent as a DNS-SD service of type
// [Service] in [Domain] (the instance name is the server name), browsing for
// such services, and the codec of the TXT record an advert carries (see
// [Advert] and [DecodeTXT]).
//
// What discovery reports is a hint for display and for finding an address to
// connect to, nothing more. It must not decide identity: a server is who its
// pinned public key says it is, and the fingerprint in the TXT record only
// helps an operator recognise it. It must not decide liveness either:
// zeroconf drops goodbye packets and answers each instance only once per
// browse, so a sighting that stops arriving says nothing about the server;
// liveness comes from the agent's watch stream, which the monitor package
// owns.
package discovery
