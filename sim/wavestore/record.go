package wavestore

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigilops/vigil/sim"
)

// Footage is simulated by segment files: small indexes that say what was
// recorded (logical server, cameras, tracks, span) and how many bytes real
// video of that span would take (nominal bytes). Copy-back moves them and
// paces itself by the nominal bytes, so progress takes as long as copying
// the video would at Failover.CopyBackMBps.
const (
	segmentLength = 5 * time.Minute  // a segment closes after this much simulated time
	flushEvery    = 10 * time.Second // the open segment is written this often, so a crash loses little
)

// segmentRE is the name of a segment file: start (Unix seconds) and the
// server that recorded it.
var segmentRE = regexp.MustCompile(`^seg-([0-9]{1,12})-([A-Za-z0-9._-]{1,63})\.wsv$`)

// logicalDir is where the footage of logical server l lies on a disk; l 0
// is a server's own cameras outside any failover group.
func logicalDir(p paths, disk string, l int) string {
	if l == 0 {
		return filepath.Join(p.disk(disk), "local")
	}
	return filepath.Join(p.disk(disk), "logical-"+strconv.Itoa(l))
}

// segment is one footage segment on one disk letter.
type segment struct {
	disk    string
	l       int
	by      string
	cameras int
	tracks  []string
	start   time.Time
	end     time.Time
	nominal int64
}

func (s *segment) name() string { return fmt.Sprintf("seg-%d-%s.wsv", s.start.Unix(), s.by) }

func (s *segment) content() string {
	return fmt.Sprintf("; Wavestore footage segment: an index of simulated footage, not video (Vigil simulation).\n"+
		"[Segment]\nLogicalServer = %d\nRecordedBy = %s\nDisk = %s\nTracks = %s\nCameras = %d\nStart = %s\nEnd = %s\nNominalBytes = %d\n",
		s.l, s.by, s.disk, strings.Join(s.tracks, ","), s.cameras, s.start.UTC().Format(time.RFC3339), s.end.UTC().Format(time.RFC3339), s.nominal)
}

// parseSegment reads a segment file's content.
func parseSegment(path string, data []byte) (*segment, error) {
	f, err := parseINI(path, data)
	if err != nil {
		return nil, err
	}
	s := &segment{}
	if s.l, err = f.integer("Segment.LogicalServer", 0, 99, -1); err != nil {
		return nil, err
	}
	if s.by, err = f.need("Segment.RecordedBy"); err != nil {
		return nil, err
	}
	if s.disk, err = f.need("Segment.Disk"); err != nil {
		return nil, err
	}
	if !letterRE.MatchString(s.disk) {
		return nil, fmt.Errorf("%s: Segment.Disk %q is not a disk letter", path, s.disk)
	}
	if s.cameras, err = f.integer("Segment.Cameras", 0, 1024, 0); err != nil {
		return nil, err
	}
	if t := f.str("Segment.Tracks", ""); t != "" {
		s.tracks = strings.Split(t, ",")
	}
	for _, k := range []struct {
		key string
		dst *time.Time
	}{{"Segment.Start", &s.start}, {"Segment.End", &s.end}} {
		v, err := f.need(k.key)
		if err != nil {
			return nil, err
		}
		if *k.dst, err = time.Parse(time.RFC3339, v); err != nil {
			return nil, fmt.Errorf("%s: %s %q is not a time such as 2026-01-02T15:04:05Z", path, k.key, v)
		}
	}
	n, err := f.need("Segment.NominalBytes")
	if err != nil {
		return nil, err
	}
	if s.nominal, err = strconv.ParseInt(n, 10, 64); err != nil || s.nominal < 0 {
		return nil, fmt.Errorf("%s: Segment.NominalBytes %q is not a byte count", path, n)
	}
	if s.l < 0 || s.end.Before(s.start) {
		return nil, fmt.Errorf("%s: LogicalServer missing or End before Start", path)
	}
	return s, nil
}

// recorder captures one logical server's cameras: an open segment per disk
// letter that has tracks.
type recorder struct {
	p         paths
	l         int
	by        string
	cameras   int
	bytesPerS int64 // nominal bytes a second of one track of all cameras takes
	tracks    map[string][]string
	keep      map[string]time.Duration // disk -> retention
	open      map[string]*segment
	started   time.Time
	until     time.Time
	lastFlush time.Time
}

func newRecorder(p paths, cfg *config, l int, cameras int, now time.Time) *recorder {
	r := &recorder{p: p, l: l, by: cfg.name, cameras: cameras, started: now, until: now, lastFlush: now,
		bytesPerS: int64(cameras) * int64(cfg.bitrateKbps) * 1000 / 8,
		tracks:    map[string][]string{}, keep: map[string]time.Duration{}, open: map[string]*segment{}}
	for _, t := range cfg.tracks {
		r.tracks[t.disk] = append(r.tracks[t.disk], t.name)
		r.keep[t.disk] = max(r.keep[t.disk], time.Duration(t.days)*24*time.Hour)
	}
	for disk := range r.tracks {
		r.open[disk] = r.newSegment(disk, now)
	}
	return r
}

func (r *recorder) newSegment(disk string, now time.Time) *segment {
	return &segment{disk: disk, l: r.l, by: r.by, cameras: r.cameras, tracks: r.tracks[disk], start: now, end: now}
}

// advance records up to now: segments grow, close when long enough, and
// are written every flushEvery. It returns an error only for a disk that
// cannot be written, which the service reports as an issue.
func (r *recorder) advance(now time.Time) error {
	if now.Before(r.until) {
		return nil
	}
	r.until = now
	flush := now.Sub(r.lastFlush) >= flushEvery
	var firstErr error
	for disk, s := range r.open {
		s.end = now
		s.nominal = r.bytesPerS * int64(len(s.tracks)) * int64(s.end.Sub(s.start)/time.Second)
		if now.Sub(s.start) >= segmentLength {
			if err := r.write(s); err != nil && firstErr == nil {
				firstErr = err
			}
			r.prune(disk, now)
			r.open[disk] = r.newSegment(disk, now)
		} else if flush {
			if err := r.write(s); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	if flush {
		r.lastFlush = now
	}
	return firstErr
}

// stop closes every open segment at now.
func (r *recorder) stop(now time.Time) error {
	r.lastFlush = time.Time{}
	err := r.advance(now)
	for _, s := range r.open {
		if s.end.After(s.start) {
			if werr := r.write(s); werr != nil && err == nil {
				err = werr
			}
		}
	}
	r.open = map[string]*segment{}
	return err
}

func (r *recorder) write(s *segment) error {
	return sim.Write(filepath.Join(logicalDir(r.p, s.disk, s.l), s.name()), s.content())
}

// prune removes the segments older than the disk's retention.
func (r *recorder) prune(disk string, now time.Time) {
	dir := logicalDir(r.p, disk, r.l)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	cut := now.Add(-r.keep[disk] - segmentLength).Unix()
	for _, e := range ents {
		m := segmentRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if start, _ := strconv.ParseInt(m[1], 10, 64); start < cut {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// footageFile is a segment file on disk, for copy-back.
type footageFile struct {
	path    string
	disk    string
	name    string
	nominal int64
	data    []byte
}

// footageOf lists the closed segments of logical server l this server holds
// on its disks, oldest first.
func footageOf(p paths, disks []string, l int) ([]footageFile, error) {
	var out []footageFile
	for _, d := range disks {
		dir := logicalDir(p, d, l)
		ents, err := os.ReadDir(dir)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !e.Type().IsRegular() || !segmentRE.MatchString(e.Name()) {
				continue
			}
			path := filepath.Join(dir, e.Name())
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			s, err := parseSegment(path, data)
			if err != nil {
				return nil, err
			}
			out = append(out, footageFile{path: path, disk: d, name: e.Name(), nominal: s.nominal, data: data})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// footageLogicals lists the logical servers whose footage lies on this
// server's disks.
func footageLogicals(p paths, disks []string) []int {
	seen := map[int]bool{}
	var out []int
	for _, d := range disks {
		ents, _ := os.ReadDir(p.disk(d))
		for _, e := range ents {
			n, ok := strings.CutPrefix(e.Name(), "logical-")
			l, err := strconv.Atoi(n)
			if !ok || err != nil || !e.IsDir() || seen[l] {
				continue
			}
			if segs, _ := os.ReadDir(filepath.Join(p.disk(d), e.Name())); len(segs) > 0 {
				seen[l] = true
				out = append(out, l)
			}
		}
	}
	sort.Ints(out)
	return out
}
