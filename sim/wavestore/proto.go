package wavestore

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Message kinds between simulated Wavestore servers (UDP on loopback, one
// JSON object a datagram).
const (
	msgBeat    = "hb"      // every heartbeat: who I am, what I host, whether I contend
	msgRelease = "release" // a standby hands a logical server back to its physical server
	msgDelete  = "failover-delete"
	msgAck     = "ack" // answer to failover-delete
)

// maxDatagram bounds a message; a heartbeat is a few hundred bytes.
const maxDatagram = 4096

// message is one datagram.
type message struct {
	Kind string `json:"t"`
	From string `json:"from,omitempty"`
	// Heartbeat.
	Mode     string   `json:"mode,omitempty"`
	Home     int      `json:"home,omitempty"`  // the logical server a physical server hosts normally
	Hosts    int      `json:"hosts,omitempty"` // the logical server it hosts now
	Status   int      `json:"status,omitempty"`
	Contend  bool     `json:"contend,omitempty"`   // it wants its logical server (not while FAILED)
	RecUntil int64    `json:"rec_until,omitempty"` // Unix ms (simulated) of the last second recorded
	Cfg      *summary `json:"cfg,omitempty"`
	// Release.
	Logical int `json:"logical,omitempty"`
	// failover-delete and its answer.
	ID     string `json:"id,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// summary is the configuration a server shows its peers, so the standby
// can check it is configured like the servers it protects.
type summary struct {
	Disks    string `json:"disks"`
	Tracks   string `json:"tracks"`
	Cameras  int    `json:"cameras"`
	User     bool   `json:"user"` // the failoverserver user exists at user level
	Licence  string `json:"licence"`
	Channels int    `json:"channels"`
	Logical  string `json:"logical,omitempty"` // the logical address (secondary interface)
}

// decodeMessage reads one datagram and checks it is one of ours.
func decodeMessage(b []byte) (message, error) {
	var m message
	if len(b) > maxDatagram {
		return m, fmt.Errorf("datagram of %d bytes is longer than %d", len(b), maxDatagram)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("not a Wavestore failover message: %w", err)
	}
	switch m.Kind {
	case msgBeat, msgRelease:
		if !nameRE.MatchString(m.From) {
			return m, fmt.Errorf("%s message without a valid sender", m.Kind)
		}
		if m.Home < 0 || m.Home > 99 || m.Hosts < 0 || m.Hosts > 99 || m.Logical < 0 || m.Logical > 99 {
			return m, errors.New("logical server number out of range")
		}
		if m.Kind == msgRelease && m.Logical == 0 {
			return m, errors.New("release without a logical server")
		}
	case msgDelete, msgAck:
		if m.ID == "" || len(m.ID) > 64 {
			return m, fmt.Errorf("%s message without a valid id", m.Kind)
		}
	default:
		return m, fmt.Errorf("unknown message kind %q", m.Kind)
	}
	return m, nil
}

// Copy-back runs over TCP, from the standby to the physical server, as
// newline-delimited JSON: begin, progress and segment lines, then end; the
// receiver answers "ok" when every segment is on its disks.
type copyLine struct {
	Op      string `json:"op"` // begin, progress, segment, end, ok, error
	From    string `json:"from,omitempty"`
	Logical int    `json:"logical,omitempty"`
	Total   int64  `json:"total,omitempty"` // nominal bytes
	Done    int64  `json:"done,omitempty"`
	Count   int    `json:"count,omitempty"`
	Disk    string `json:"disk,omitempty"`
	Name    string `json:"name,omitempty"`
	Nominal int64  `json:"nominal,omitempty"`
	Data    string `json:"data,omitempty"`
	Error   string `json:"error,omitempty"`
}

// maxCopyLine bounds one line of the copy-back stream: a segment index is
// a few hundred bytes.
const maxCopyLine = 64 << 10

func decodeCopyLine(b []byte) (copyLine, error) {
	var l copyLine
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("copy-back stream: %w", err)
	}
	switch l.Op {
	case "begin":
		if l.Logical < 1 || l.Logical > 99 || l.Total < 0 || l.Count < 0 || !nameRE.MatchString(l.From) {
			return l, errors.New("copy-back stream: begin without a valid sender, logical server or size")
		}
	case "progress":
		if l.Done < 0 {
			return l, errors.New("copy-back stream: negative progress")
		}
	case "segment":
		if !letterRE.MatchString(l.Disk) || !segmentRE.MatchString(l.Name) || l.Nominal < 0 || len(l.Data) > maxCopyLine/2 {
			return l, fmt.Errorf("copy-back stream: segment %q on disk %q is not a valid footage segment", l.Name, l.Disk)
		}
	case "end", "ok", "error":
	default:
		return l, fmt.Errorf("copy-back stream: unknown op %q", l.Op)
	}
	return l, nil
}
