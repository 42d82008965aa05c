package wavestore

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/vigilops/vigil/sim"
)

// Copy-back: when the original server is back and hosts its logical server
// again, the standby copies the footage it recorded meanwhile onto it, so
// that it is all in the same place. It runs over TCP, paced by the nominal
// size of the footage at Failover.CopyBackMBps (simulated time), reports
// progress on both sides, and resumes after an interruption or a restart:
// footage leaves the standby only once the physical server has it.

const (
	copyChunk   = 8 << 20 // nominal bytes between progress reports
	copyTimeout = 10 * time.Second
)

// copyBacks starts the copy-back of a logical server's footage once its
// physical server hosts it again.
func (s *server) copyBacks(now time.Time) {
	if s.copying || len(s.pending) == 0 || time.Now().Before(s.copyRetryAt) {
		return
	}
	ls := make([]int, 0, len(s.pending))
	for l := range s.pending {
		ls = append(ls, l)
	}
	sort.Ints(ls)
	for _, l := range ls {
		p := s.homeOf(l)
		if l == s.hosts || p == nil || !p.wired || !p.everHeard || p.beat.Hosts != l || now.Sub(p.heard) > 3*s.hbEff() {
			continue
		}
		files, err := footageOf(s.p, s.cfg.disks, l)
		if err != nil {
			s.issue("Copy back: cannot read the footage of logical server %d: %v", l, err)
			s.copyRetryAt = time.Now().Add(5 * time.Second)
			return
		}
		if len(files) == 0 {
			delete(s.pending, l)
			continue
		}
		var total int64
		for _, f := range files {
			total += f.nominal
		}
		s.copying = true
		s.copyState, s.copyProgress = "copying", 0
		s.copyDetail = fmt.Sprintf("copying %s of logical server %d footage to %s", mb(total), l, p.name)
		s.logf("INFO", "Copy back: %s (%d segments)", s.copyDetail, len(files))
		s.writeStatus(true)
		s.wg.Add(1)
		go s.sendFootage(p.name, p.ep.tcp, l, files, total, s.cfg.fo.copyMBps)
		return
	}
}

func mb(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }

func (s *server) report(ev copyEvent) {
	select {
	case s.copyc <- ev:
	case <-s.ctx.Done():
	}
}

// sendFootage copies files to the physical server at addr.
func (s *server) sendFootage(to, addr string, l int, files []footageFile, total int64, mbps float64) {
	defer s.wg.Done()
	ev := copyEvent{send: true, l: l, peer: to, total: total, count: len(files)}
	fail := func(err error) {
		ev.state, ev.err = "failed", err
		s.report(ev)
	}
	conn, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(s.ctx, "tcp", addr)
	if err != nil {
		fail(err)
		return
	}
	defer conn.Close()
	stop := context.AfterFunc(s.ctx, func() { conn.Close() })
	defer stop()
	w := bufio.NewWriter(conn)
	enc := json.NewEncoder(w)
	send := func(line copyLine) error {
		conn.SetWriteDeadline(time.Now().Add(copyTimeout))
		if err := enc.Encode(line); err != nil {
			return err
		}
		return w.Flush()
	}
	if err := send(copyLine{Op: "begin", From: s.cfg.name, Logical: l, Total: total, Count: len(files)}); err != nil {
		fail(err)
		return
	}
	for _, f := range files {
		for left := f.nominal; left > 0; {
			c := min(int64(copyChunk), left)
			if err := s.clock.Sleep(s.ctx, time.Duration(float64(c)/(mbps*1e6)*float64(time.Second))); err != nil {
				fail(err)
				return
			}
			left -= c
			ev.done += c
			if err := send(copyLine{Op: "progress", Done: ev.done}); err != nil {
				fail(err)
				return
			}
			ev.state = "progress"
			s.report(ev)
		}
		if err := send(copyLine{Op: "segment", Disk: f.disk, Name: f.name, Nominal: f.nominal, Data: string(f.data)}); err != nil {
			fail(err)
			return
		}
	}
	if err := send(copyLine{Op: "end"}); err != nil {
		fail(err)
		return
	}
	conn.SetReadDeadline(time.Now().Add(copyTimeout))
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 1024), maxCopyLine)
	if !sc.Scan() {
		fail(fmt.Errorf("%s did not confirm the copy: %v", to, sc.Err()))
		return
	}
	reply, err := decodeCopyLine(sc.Bytes())
	if err != nil || reply.Op != "ok" {
		fail(fmt.Errorf("%s refused the copy: %s%v", to, reply.Error, err))
		return
	}
	// Only now, with the footage on the physical server, does it leave here.
	for _, f := range files {
		if os.Remove(f.path) == nil {
			ev.removed++
		}
	}
	ev.state = "done"
	s.report(ev)
}

// accept takes copy-back connections. home and disks are this server's
// logical server and disk letters as it started.
func (s *server) accept(ln net.Listener, home int, disks []string) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.env.Log.Warn("copy-back listener", "err", err)
			}
			return
		}
		s.connMu.Lock()
		if s.ctx.Err() != nil {
			s.connMu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.connMu.Unlock()
		go s.receive(c, home, disks)
	}
}

// receive takes one copy-back onto this server's disks.
func (s *server) receive(c net.Conn, home int, disks []string) {
	defer s.wg.Done()
	defer func() {
		s.connMu.Lock()
		delete(s.conns, c)
		s.connMu.Unlock()
		c.Close()
	}()
	ev := copyEvent{}
	refuse := func(err error) {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		b, _ := json.Marshal(copyLine{Op: "error", Error: err.Error()})
		c.Write(append(b, '\n'))
		if ev.state != "" {
			ev.state, ev.err = "failed", err
			s.report(ev)
		}
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), maxCopyLine)
	next := func() (copyLine, error) {
		c.SetReadDeadline(time.Now().Add(copyTimeout))
		if !sc.Scan() {
			if sc.Err() != nil {
				return copyLine{}, sc.Err()
			}
			return copyLine{}, errors.New("the sender closed the connection before the end")
		}
		return decodeCopyLine(sc.Bytes())
	}
	first, err := next()
	if err != nil {
		refuse(err)
		return
	}
	if first.Op != "begin" {
		refuse(fmt.Errorf("copy-back stream starts with %q, not begin", first.Op))
		return
	}
	if home == 0 || first.Logical != home {
		refuse(fmt.Errorf("this server hosts logical server %d, not %d", home, first.Logical))
		return
	}
	ev = copyEvent{l: first.Logical, peer: first.From, total: first.Total, count: first.Count, state: "begin"}
	s.report(ev)
	for {
		line, err := next()
		if err != nil {
			refuse(err)
			return
		}
		switch line.Op {
		case "progress":
			ev.done, ev.state = min(line.Done, ev.total), "progress"
			s.report(ev)
		case "segment":
			if !slices.Contains(disks, line.Disk) {
				refuse(fmt.Errorf("disk letter %s is not configured on this server (Disks.Letters); the servers must have the same disk letters", line.Disk))
				return
			}
			seg, err := parseSegment(line.Name, []byte(line.Data))
			if err != nil || seg.l != home {
				refuse(fmt.Errorf("segment %s is not footage of logical server %d: %v", line.Name, home, err))
				return
			}
			if err := sim.Write(filepath.Join(logicalDir(s.p, line.Disk, home), line.Name), line.Data); err != nil {
				refuse(err)
				return
			}
		case "end":
			c.SetWriteDeadline(time.Now().Add(copyTimeout))
			b, _ := json.Marshal(copyLine{Op: "ok"})
			if _, err := c.Write(append(b, '\n')); err != nil {
				refuse(err)
				return
			}
			ev.done, ev.state = ev.total, "done"
			s.report(ev)
			return
		default:
			refuse(fmt.Errorf("unexpected %q in a copy-back stream", line.Op))
			return
		}
	}
}

// onCopy shows a copy-back's progress in the status and the system log.
func (s *server) onCopy(ev copyEvent) {
	pct := 100
	if ev.total > 0 {
		pct = int(ev.done * 100 / ev.total)
	}
	dir := map[bool]string{true: "to", false: "from"}[ev.send]
	switch ev.state {
	case "begin":
		s.copyState, s.copyProgress = "receiving", 0
		s.copyDetail = fmt.Sprintf("receiving %s of logical server %d footage from %s", mb(ev.total), ev.l, ev.peer)
		s.logf("INFO", "Copy back: %s (%d segments)", s.copyDetail, ev.count)
		s.writeStatus(true)
	case "progress":
		s.copyProgress = min(pct, 99)
		s.dirty = true
	case "done":
		s.copying = s.copying && !ev.send
		s.copyState, s.copyProgress = "done", 100
		s.copyDetail = fmt.Sprintf("%s of logical server %d footage copied %s %s at %s", mb(ev.total), ev.l, dir, ev.peer,
			s.clock.Now().UTC().Format(time.RFC3339))
		s.logf("INFO", "Copy back: %s (100%%)", s.copyDetail)
		s.writeStatus(true)
	case "failed":
		if ev.send {
			s.copying = false
			s.copyRetryAt = time.Now().Add(2 * time.Second)
		}
		if s.ctx.Err() != nil {
			return
		}
		s.copyState = "interrupted"
		s.copyDetail = fmt.Sprintf("copy of logical server %d footage %s %s interrupted at %d%%: %v; it resumes when both servers are up", ev.l, dir, ev.peer, s.copyProgress, ev.err)
		s.issue("Copy back: %s", s.copyDetail)
		s.writeStatus(true)
	}
}
