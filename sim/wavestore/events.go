package wavestore

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigilops/vigil/sim"
)

// Event causes arrive as files in the events queue (the agent's
// taskfile.drop): the simulation's way for a condition such as a disk fault
// to happen. Event rules (eventrules.ini) decide what each cause does; a
// rule running Script 99 is the failover action. A cause stays active until
// a file with "state = cleared" arrives and is kept across restarts, as a
// hardware fault would be, except Manual, which is momentary.

// maxEventFile bounds an event file; one is a few lines.
const maxEventFile = 4096

// event is one event file.
type event struct {
	cause  string
	state  string // raised or cleared
	detail string
}

// parseEvent reads an event file: "cause = DiskFault", and optionally
// "state = raised|cleared" and "detail = ...".
func parseEvent(path string, data []byte) (event, error) {
	ev := event{state: "raised"}
	if len(data) > maxEventFile {
		return ev, fmt.Errorf("%s: %d bytes; an event file is at most %d", path, len(data), maxEventFile)
	}
	f, err := parseINI(path, data)
	if err != nil {
		return ev, err
	}
	if len(f.sections()) > 0 {
		return ev, fmt.Errorf("%s: an event file has no [sections]; expected lines such as \"cause = DiskFault\"", path)
	}
	for k, v := range f.vals {
		switch k {
		case "cause":
			ev.cause = v.v
		case "state":
			ev.state = strings.ToLower(v.v)
		case "detail":
			ev.detail = v.v
		default:
			return ev, fmt.Errorf("%s:%d: unknown key %q; expected cause, state or detail", path, v.line, k)
		}
	}
	switch {
	case ev.cause == "":
		return ev, fmt.Errorf("%s: cause is missing; expected a line such as \"cause = DiskFault\"", path)
	case !wordRE.MatchString(ev.cause):
		return ev, fmt.Errorf("%s: cause %q is not a cause name such as DiskFault or Manual", path, ev.cause)
	case ev.state != "raised" && ev.state != "cleared":
		return ev, fmt.Errorf("%s: state %q: expected raised or cleared", path, ev.state)
	case len(ev.detail) > 200 || strings.ContainsFunc(ev.detail, func(r rune) bool { return r < ' ' }):
		return ev, fmt.Errorf("%s: detail must be one line of at most 200 characters", path)
	}
	return ev, nil
}

// pollEvents takes the files of the events queue, oldest name first.
// Names starting with "." are files still being written.
func (s *server) pollEvents() {
	dir := s.p.eventsDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := readSmall(path, maxEventFile)
		if err != nil {
			s.issue("Event: cannot read %s: %v", path, err)
			continue
		}
		ev, err := parseEvent(path, data)
		if err != nil {
			s.issue("Event: rejected: %v", err)
			rej := filepath.Join(dir, "rejected")
			os.MkdirAll(rej, 0o755)
			if os.Rename(path, filepath.Join(rej, e.Name())) != nil {
				os.Remove(path)
			}
			continue
		}
		os.Remove(path)
		s.onEvent(ev, true)
	}
}

func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}

// onEvent runs the rules for a cause. fresh is false for the faults still
// active when the service starts.
func (s *server) onEvent(ev event, fresh bool) {
	persist := !strings.EqualFold(ev.cause, "Manual")
	what := ev.cause
	if ev.detail != "" {
		what += " (" + ev.detail + ")"
	}
	if ev.state == "cleared" {
		_, was := s.faults[ev.cause]
		delete(s.faults, ev.cause)
		s.saveFaults()
		s.logf("INFO", "Event: cause %s cleared", what)
		if s.failed && strings.EqualFold(s.failCause, ev.cause) {
			s.failed = false
			s.logf("INFO", "Status: FAILED cleared with its cause; restart the server to get it working again")
			s.noteSelf()
			s.writeStatus(true)
		} else if !was {
			s.logf("INFO", "Event: cause %s was not active", ev.cause)
		}
		return
	}
	if persist && fresh {
		s.faults[ev.cause] = ev.detail
		s.saveFaults()
	}
	if fresh {
		s.logf("WARNING", "Event: cause %s", what)
	} else {
		s.logf("WARNING", "Event: cause %s is still active", what)
	}
	matched := false
	for _, r := range s.cfg.rules {
		if !r.enabled || !strings.EqualFold(r.cause, ev.cause) {
			continue
		}
		matched = true
		switch {
		case r.failover():
			s.logf("WARNING", "Event rule %q: Script %d, parameter %d, text %q: failover action", r.name, r.script, r.param, r.text)
			s.fail(ev.cause, ev.detail)
		case strings.EqualFold(r.action, "Script"):
			s.logf("INFO", "Event rule %q: Script %d, parameter %d, text %q run (simulated: only script 99 has an effect)", r.name, r.script, r.param, r.text)
		default:
			s.logf("INFO", "Event rule %q: action %q (not simulated)", r.name, r.action)
		}
	}
	if !matched {
		s.logf("INFO", "Event: no enabled event rule has cause %s", ev.cause)
	}
	s.dirty = true
}

// loadFaults reads the causes still active and runs their rules, so a
// restart with the fault still there fails again.
func (s *server) loadFaults() error {
	f, err := os.Open(s.p.faultsFile())
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
	var evs []event
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cause, detail, _ := strings.Cut(line, "\t")
		if !wordRE.MatchString(cause) {
			return fmt.Errorf("%s:%d: %q is not a cause name", s.p.faultsFile(), n, cause)
		}
		s.faults[cause] = detail
		evs = append(evs, event{cause: cause, state: "raised", detail: detail})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", s.p.faultsFile(), err)
	}
	for _, ev := range evs {
		s.onEvent(ev, false)
	}
	return nil
}

func (s *server) saveFaults() {
	causes := make([]string, 0, len(s.faults))
	for c := range s.faults {
		causes = append(causes, c)
	}
	sort.Strings(causes)
	var b strings.Builder
	b.WriteString("# Active fault causes (simulated hardware conditions), one a line: CAUSE<TAB>DETAIL\n")
	for _, c := range causes {
		b.WriteString(c + "\t" + s.faults[c] + "\n")
	}
	if err := sim.Write(s.p.faultsFile(), b.String()); err != nil {
		s.issue("Event: cannot record active faults: %v", err)
	}
}

// loadLastRecorded reads what this server recorded last, per logical
// server, so that a restart counts the seconds it missed.
func (s *server) loadLastRecorded() {
	f, err := readINI(s.p.lastRecorded())
	if err != nil {
		if !os.IsNotExist(err) {
			s.issue("Capture: %v; the seconds missed before this start are not known", err)
		}
		return
	}
	for k, v := range f.vals {
		n, err1 := strconv.Atoi(strings.TrimPrefix(k, "logical."))
		ms, err2 := strconv.ParseInt(v.v, 10, 64)
		if err1 != nil || err2 != nil || n < 0 {
			s.issue("Capture: %s:%d: %q is not \"N = UNIX_MS\"", s.p.lastRecorded(), v.line, k)
			continue
		}
		s.lastOwn[n] = time.UnixMilli(ms)
	}
}

func (s *server) saveLastRecorded(l int, until time.Time) {
	s.lastOwn[l] = until
	keys := make([]int, 0, len(s.lastOwn))
	for k := range s.lastOwn {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var b strings.Builder
	b.WriteString("; The last second each logical server was recorded here (Unix ms, simulated time).\n[Logical]\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%d = %d\n", k, s.lastOwn[k].UnixMilli())
	}
	if err := sim.Write(s.p.lastRecorded(), b.String()); err != nil {
		s.issue("Capture: cannot write %s: %v", s.p.lastRecorded(), err)
	}
}

// lastOwnAny is the latest second this server recorded of anything.
func (s *server) lastOwnAny() (time.Time, bool) {
	var t time.Time
	for _, v := range s.lastOwn {
		if v.After(t) {
			t = v
		}
	}
	return t, !t.IsZero()
}
