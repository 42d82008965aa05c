// Package agent is the host daemon that runs on every managed server: it
// reads its configuration, keeps its key pair, reports the server's role,
// advertises itself by mDNS and serves the agent API over HTTPS.
//
// It must stay pure Go (it is built with CGO_ENABLED=0 for Linux and
// Windows) and must never import the GUI.
package agent
