package nintex

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilops/vigil/sim"
)

// The simulated programs, as `vigil sim NAME` runs them.
const (
	svcSQL  = "nintex-sqlserver" // SQL Server and its Agent: the K2 databases and the log shipping jobs
	svcK2   = "nintex-k2server"  // the K2 Server service (K2 Host Server)
	svcTool = "nintex-dr"        // the DBA's scripts of the DR procedure, one step per run
	k2App   = "K2 Server"        // the application name K2 connects to SQL Server with
)

// defaultDatabases are the K2 product database and a solution database.
const defaultDatabases = "K2,K2Solution"

// jobTolerance lets a restore job apply a log backup taken a moment after
// its schedule: both jobs run "on the hour", one a little later than the other.
const jobTolerance = 6 * time.Minute

// monitorEvery is how often the monitor file is refreshed (wall time).
const monitorEvery = 250 * time.Millisecond

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

var dbNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

func checkDatabases(list string) ([]string, error) {
	names := splitList(list)
	if len(names) == 0 {
		return nil, fmt.Errorf("--databases %q names no database", list)
	}
	for _, n := range names {
		if !dbNameRE.MatchString(n) {
			return nil, fmt.Errorf("--databases: %q is not a database name", n)
		}
	}
	if names[0] != "K2" {
		return nil, fmt.Errorf("--databases %q: the first database must be K2, which holds the licensing", list)
	}
	return names, nil
}

// recycleLog starts a new log when the old one has grown, as SQL Server
// recycles ERRORLOG on start, keeping one previous log.
func recycleLog(path string) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > 1<<20 {
		os.Rename(path, path+".1")
	}
}

// sqlServer is one simulated SQL Server instance with its Agent.
type sqlServer struct {
	env                    *sim.Env
	e                      *engine
	p                      hostPaths
	server, partner, share string
	errlog                 *sim.VendorLog

	jobs    jobs
	jobsMod time.Time
	jobsErr string
	next    map[string]time.Time // job -> next scheduled run (simulated)

	headers map[string]trnFile // log backups seen on the share, by path

	lastBackup, lastShipped, lastReceived   int64
	lastBackupJob, lastShipJob, lastRestJob string
	lastMonitor                             string
}

func runSQLServer(ctx context.Context, env *sim.Env) error {
	var port int
	var server, partner, share, dbs string
	if err := env.Flags(svcSQL, func(fs *flag.FlagSet) {
		fs.IntVar(&port, "port", 0, "TCP `port` on 127.0.0.1 the instance listens on (1433 on a real server)")
		fs.StringVar(&server, "server", "", "this server's `name`")
		fs.StringVar(&partner, "partner", "", "the other site's server `name`, whose log backups this one restores")
		fs.StringVar(&share, "share", "", "the log shipping share `DIR`")
		fs.StringVar(&dbs, "databases", defaultDatabases, "the K2 product and solution `databases`")
	}); err != nil {
		return err
	}
	names, err := checkDatabases(dbs)
	if err != nil {
		return fmt.Errorf("vigil sim %s: %w", svcSQL, err)
	}
	// A small, steady heap: the databases are small and a fleet runs many
	// simulated services side by side.
	debug.SetGCPercent(25)
	if port <= 0 || port > 65535 || server == "" || partner == "" || share == "" {
		return fmt.Errorf("vigil sim %s: --port, --server, --partner and --share are required", svcSQL)
	}
	p := pathsOf(env.Host)
	recycleLog(p.errorLog)
	errlog, err := sim.OpenVendorLog(p.errorLog, env.Clock)
	if err != nil {
		return err
	}
	defer errlog.Close()
	errlog.Printf("Microsoft SQL Server on %s (a simulation by Vigil, not the vendor's product) is starting.", server)
	j, err := loadJobs(p.jobsFile())
	if err != nil {
		errlog.Printf("Error: SQL Server Agent cannot start: %v", err)
		return err
	}
	s := &sqlServer{env: env, p: p, server: server, partner: partner, share: share, errlog: errlog, jobs: j,
		next: map[string]time.Time{}, headers: map[string]trnFile{}}
	if fi, err := os.Stat(p.jobsFile()); err == nil {
		s.jobsMod = fi.ModTime()
	}
	s.e = newEngine(env.Clock, server, p.data, names, []string{env.Host(), share}, errlog)
	s.e.openAll()
	defer s.e.closeAll()
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		errlog.Printf("Error: Server failed to listen on 127.0.0.1 <ipv4> %d: %v", port, err)
		return fmt.Errorf("listen on 127.0.0.1:%d: %w", port, err)
	}
	errlog.Printf("Server is listening on [ 127.0.0.1 <ipv4> %d ].", port)
	env.Log.Info("simulated SQL Server listening", "port", port, "server", server)
	s.recall()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.serve(ctx, ln)
	}()
	err = s.run(ctx)
	ln.Close()
	wg.Wait()
	errlog.Printf("SQL Server is terminating in response to a stop request from Service Control Manager.")
	return err
}

// serve answers client connections until ctx ends or ln is closed.
func (s *sqlServer) serve(ctx context.Context, ln net.Listener) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	closeAll := func() {
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}
	stop := context.AfterFunc(ctx, func() { ln.Close(); closeAll() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handle(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
	closeAll()
	wg.Wait()
}

// request is one batch a client sends, a JSON object a line.
type request struct {
	App      string   `json:"app"`
	Host     string   `json:"host,omitempty"`
	Database string   `json:"database"`
	Batch    []string `json:"batch"`
}

const maxRequest = 4 << 20

func (s *sqlServer) handle(c net.Conn) {
	defer c.Close()
	sess := &session{used: map[string]bool{}}
	s.e.addSession(sess)
	defer s.e.removeSession(sess)
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	enc := json.NewEncoder(w)
	for {
		line, err := readLine(r, maxRequest)
		if err != nil {
			return
		}
		var req request
		var resp response
		if err := json.Unmarshal(line, &req); err != nil {
			resp.Error = fmt.Sprintf("Msg 102, Level 15: the request is not a valid batch: %v", err)
		} else {
			sess.app, sess.host = req.App, req.Host
			resp = s.e.execute(sess, req.Database, req.Batch)
		}
		if enc.Encode(resp) != nil || w.Flush() != nil {
			return
		}
	}
}

// recall reads what the jobs did before this start from the files they
// left, as msdb's history would tell.
func (s *sqlServer) recall() {
	s.e.lastLogBackup = newestNamed(s.p.backup)
	s.lastShipped = max(newestNamed(shipDir(s.share, s.server)), newestNamed(archiveDir(s.share, s.server)))
	s.lastReceived = max(newestNamed(shipDir(s.share, s.partner)), newestNamed(archiveDir(s.share, s.partner)))
}

var trnNameRE = regexp.MustCompile(`_(\d{14})(\d{3})(?:_tail)?\.trn$`)

// trnName names a log backup as log shipping does: database and UTC time.
func trnName(db string, t time.Time, tail bool) string {
	suffix := ""
	if tail {
		suffix = "_tail"
	}
	return db + "_" + stamp(t) + suffix + ".trn"
}

// stamp is a UTC time to the millisecond, as backup file names carry it.
func stamp(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%s%03d", t.Format("20060102150405"), t.Nanosecond()/1e6)
}

// nameTime is the simulated time in a log backup's name, in ms.
func nameTime(base string) (int64, bool) {
	m := trnNameRE.FindStringSubmatch(base)
	if m == nil {
		return 0, false
	}
	t, err := time.Parse("20060102150405", m[1])
	if err != nil {
		return 0, false
	}
	ms, _ := strconv.Atoi(m[2])
	return t.UnixMilli() + int64(ms), true
}

// newestNamed is the newest log backup time named in dir.
func newestNamed(dir string) int64 {
	ents, _ := os.ReadDir(dir)
	var newest int64
	for _, e := range ents {
		if t, ok := nameTime(e.Name()); ok && t > newest {
			newest = t
		}
	}
	return newest
}

// run runs the Agent's jobs on their schedules and keeps the monitor
// file current, until ctx ends.
func (s *sqlServer) run(ctx context.Context) error {
	clock := s.env.Clock
	now := clock.Now()
	for _, j := range []job{s.jobs.backup, s.jobs.ship, s.jobs.restore} {
		s.next[j.name] = nextSlot(now, j.interval)
	}
	s.writeMonitor()
	lastHouse := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		// Jobs.ini is read before any job runs, not after: a job disabled
		// before it was due must not run once more on the old settings, which
		// at a high simulated speed is an hour of log restored after the
		// operator stopped it.
		s.reloadJobs()
		now := clock.Now()
		ran := false
		for _, j := range []job{s.jobs.backup, s.jobs.ship, s.jobs.restore} {
			due := s.next[j.name]
			if now.Before(due) {
				continue
			}
			s.next[j.name] = nextSlot(now, j.interval)
			if j.enabled {
				s.runJob(j.name, due)
				ran = true
			}
		}
		if ran || time.Since(lastHouse) >= monitorEvery {
			s.writeMonitor()
			lastHouse = time.Now()
		}
		earliest := s.next[jobBackup]
		for _, t := range s.next {
			if t.Before(earliest) {
				earliest = t
			}
		}
		wait := min(monitorEvery-time.Since(lastHouse), clock.Wall(earliest.Sub(clock.Now()), time.Millisecond))
		timer.Reset(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
	}
}

// nextSlot is the next run of a job every interval, on the clock's marks
// (on the hour for hourly jobs).
func nextSlot(now time.Time, interval time.Duration) time.Time {
	return now.Truncate(interval).Add(interval)
}

// reloadJobs picks up an edited Jobs.ini. A bad edit keeps the jobs as
// they were and says why in the monitor and ERRORLOG.
func (s *sqlServer) reloadJobs() {
	fi, err := os.Stat(s.p.jobsFile())
	if err != nil {
		s.setJobsErr(fmt.Sprintf("SQL Server Agent jobs: %v", err))
		return
	}
	if fi.ModTime().Equal(s.jobsMod) {
		return
	}
	j, err := loadJobs(s.p.jobsFile())
	if err != nil {
		s.setJobsErr(err.Error() + " (the jobs keep their previous settings)")
		return
	}
	s.jobsMod = fi.ModTime()
	s.setJobsErr("")
	now := s.env.Clock.Now()
	for _, pair := range [][2]job{{s.jobs.backup, j.backup}, {s.jobs.ship, j.ship}, {s.jobs.restore, j.restore}} {
		old, cur := pair[0], pair[1]
		if old.interval != cur.interval {
			s.next[cur.name] = nextSlot(now, cur.interval)
		}
		if old.enabled != cur.enabled {
			s.errlog.Printf("SQL Server Agent job '%s' is %s.", cur.name, map[bool]string{true: "enabled", false: "disabled"}[cur.enabled])
		}
	}
	s.jobs = j
}

func (s *sqlServer) setJobsErr(e string) {
	if e != s.jobsErr && e != "" {
		s.errlog.Printf("Error: %s", e)
	}
	s.jobsErr = e
}

func (s *sqlServer) runJob(name string, scheduled time.Time) {
	var result string
	switch name {
	case jobBackup:
		result = s.backupJob()
		s.lastBackupJob = result
	case jobShip:
		result = s.shipJob()
		s.lastShipJob = result
	case jobRestore:
		result = s.restoreJob(scheduled)
		s.lastRestJob = result
	}
	s.errlog.Printf("SQL Server Agent job '%s' (scheduled %s): %s", name, fmtTime(scheduled.UnixMilli()), result)
}

func quotePath(p string) string { return strings.ReplaceAll(p, "'", "''") }

// backupJob backs up the log of every ONLINE database.
func (s *sqlServer) backupJob() string {
	now := s.env.Clock.Now()
	var done, notes []string
	for _, st := range s.e.status() {
		if st.state != stateOnline {
			notes = append(notes, fmt.Sprintf("%s skipped (%s)", st.name, st.state))
			continue
		}
		path := filepath.Join(s.p.backup, trnName(st.name, now, false))
		r := s.e.execute(nil, "master", []string{fmt.Sprintf("BACKUP LOG [%s] TO DISK = N'%s' WITH COMPRESSION", st.name, quotePath(path))})
		if r.Error != "" {
			notes = append(notes, fmt.Sprintf("%s failed: %s", st.name, r.Error))
			continue
		}
		done = append(done, st.name)
	}
	s.prune(s.p.backup)
	return jobResult("backed up the log of", "no database is ONLINE", done, notes)
}

func jobResult(verb, idle string, done, notes []string) string {
	var b strings.Builder
	switch {
	case len(done) > 0 && len(notes) == 0:
		b.WriteString("succeeded: ")
	case len(done) > 0:
		b.WriteString("partly succeeded: ")
	case len(notes) > 0 && strings.Contains(strings.Join(notes, " "), "failed"):
		b.WriteString("failed: ")
	default:
		b.WriteString("nothing to do: ")
	}
	if len(done) > 0 {
		fmt.Fprintf(&b, "%s %s", verb, strings.Join(done, ", "))
		if len(notes) > 0 {
			b.WriteString("; ")
		}
	}
	b.WriteString(strings.Join(notes, "; "))
	if len(done) == 0 && len(notes) == 0 {
		b.WriteString(idle)
	}
	return b.String()
}

// prune deletes log backups older than the retention from dir.
func (s *sqlServer) prune(dir string) {
	cutoff := s.env.Clock.Now().Add(-s.jobs.retention).UnixMilli()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if t, ok := nameTime(e.Name()); ok && t < cutoff {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// shipJob copies new log backups to this server's folder on the share.
func (s *sqlServer) shipJob() string {
	dst, arch := shipDir(s.share, s.server), archiveDir(s.share, s.server)
	ents, err := os.ReadDir(s.p.backup)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "failed: " + err.Error()
	}
	var done, notes []string
	for _, e := range ents {
		name := e.Name()
		t, ok := nameTime(name)
		if !ok {
			continue
		}
		if exists(filepath.Join(dst, name)) || exists(filepath.Join(arch, name)) {
			continue
		}
		if err := copyFile(filepath.Join(s.p.backup, name), filepath.Join(dst, name)); err != nil {
			notes = append(notes, fmt.Sprintf("%s failed: %v", name, err))
			continue
		}
		done = append(done, name)
		s.lastShipped = max(s.lastShipped, t)
	}
	return jobResult("copied to the DR share", "no new log backup", done, notes)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// partnerFiles lists the partner's log backups waiting on the share, with
// their headers (cached: a shipped file does not change).
func (s *sqlServer) partnerFiles() ([]trnFile, []string) {
	return listTrn(shipDir(s.share, s.partner), s.headers)
}

// listTrn reads the headers of the log backups in dir, sorted for
// restoring; cache, if given, keeps headers between calls.
func listTrn(dir string, cache map[string]trnFile) ([]trnFile, []string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, []string{err.Error()}
	}
	var files []trnFile
	var problems []string
	seen := map[string]bool{}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".trn") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		seen[path] = true
		if f, ok := cache[path]; ok {
			files = append(files, f)
			continue
		}
		h, err := readTrnHeader(path)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		f := trnFile{path: path, h: h}
		if cache != nil {
			cache[path] = f
		}
		files = append(files, f)
	}
	for p := range cache {
		if filepath.Dir(p) == dir && !seen[p] {
			delete(cache, p)
		}
	}
	sortTrn(files)
	return files, problems
}

// archive moves an applied log backup to the Archive folder.
func archive(f trnFile) error {
	dir := filepath.Join(filepath.Dir(f.path), "Archive")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.Rename(f.path, filepath.Join(dir, filepath.Base(f.path)))
}

func (s *sqlServer) dbInfo(name string) (dbStatus, bool) {
	for _, st := range s.e.status() {
		if st.name == name {
			return st, true
		}
	}
	return dbStatus{}, false
}

// restoreJob applies, WITH NORECOVERY, the shipped log backups older than
// the restore delay, in order, and archives them.
func (s *sqlServer) restoreJob(scheduled time.Time) string {
	cutoff := scheduled.Add(-s.jobs.restoreDelay + jobTolerance).UnixMilli()
	files, problems := s.partnerFiles()
	var done, notes []string
	notes = append(notes, problems...)
	for _, st := range s.e.status() {
		if st.state != stateRestoring {
			notes = append(notes, fmt.Sprintf("%s is %s, not a log shipping secondary", st.name, st.state))
			continue
		}
		n := 0
	files:
		for _, f := range files {
			if f.h.Database != st.name {
				continue
			}
			cur, _ := s.dbInfo(st.name)
			if f.h.End > s.lastReceived {
				s.lastReceived = f.h.End
			}
			switch fitOf(cur.info, f.h) {
			case fitApplied:
				archive(f)
				continue
			case fitTooRecent:
				notes = append(notes, fmt.Sprintf("%s failed: %s begins at LSN %d but the database needs LSN %d next; a log backup is missing",
					st.name, filepath.Base(f.path), f.h.FirstLSN, cur.info.LastLSN+1))
				break files
			case fitOtherPath:
				notes = append(notes, fmt.Sprintf("%s failed: %s is on another recovery path; restore a full backup of %s first",
					st.name, filepath.Base(f.path), s.partner))
				continue
			}
			if f.h.End > cutoff {
				break // not yet held long enough
			}
			r := s.e.execute(nil, "master", []string{fmt.Sprintf("RESTORE LOG [%s] FROM DISK = N'%s' WITH NORECOVERY", st.name, quotePath(f.path))})
			if r.Error != "" {
				notes = append(notes, fmt.Sprintf("%s failed: %s", st.name, r.Error))
				break
			}
			if err := archive(f); err != nil {
				notes = append(notes, fmt.Sprintf("%s: archiving %s failed: %v", st.name, filepath.Base(f.path), err))
			}
			n++
		}
		if n > 0 {
			cur, _ := s.dbInfo(st.name)
			done = append(done, fmt.Sprintf("%s (%d log backups, now restored to %s)", st.name, n, fmtTime(cur.info.RestoredTo)))
		}
	}
	s.prune(archiveDir(s.share, s.partner))
	return jobResult("restored", fmt.Sprintf("no shipped log backup of %s has been held %s yet", s.partner, s.jobs.restoreDelay), done, notes)
}

// recoverableTo is how far the log backups waiting on the share could take
// a RESTORING database: the end of its unbroken log chain.
func recoverableTo(info dbInfo, files []trnFile) int64 {
	point := info.RestoredTo
	for _, f := range files {
		if f.h.Database != info.Name {
			continue
		}
		switch fitOf(info, f.h) {
		case fitNext:
			info.Fork, info.ParentFork, info.ForkLSN = f.h.Fork, f.h.ParentFork, f.h.ForkLSN
			info.LastLSN = max(info.LastLSN, f.h.LastLSN)
			info.RestoredTo = f.h.End
			point = f.h.End
		case fitTooRecent:
			return point
		}
	}
	return point
}

// writeMonitor refreshes Monitor.ini, what msdb's log shipping monitor
// tables say, with the recovery point against the accepted data loss.
func (s *sqlServer) writeMonitor() {
	now := s.env.Clock.Now()
	nowMS := now.UnixMilli()
	sts := s.e.status()
	files, problems := s.partnerFiles()
	for _, f := range files {
		s.lastReceived = max(s.lastReceived, f.h.End)
	}
	states := map[string]bool{}
	var stateList []string
	restoredTo, recoverable := int64(0), int64(0)
	restoring, allRestored := false, true
	for i, st := range sts {
		states[st.state] = true
		stateList = append(stateList, st.name+" "+st.state)
		if st.info.RestoredTo == 0 || st.err != nil {
			allRestored = false
		}
		if i == 0 || st.info.RestoredTo < restoredTo {
			restoredTo = st.info.RestoredTo
		}
		var rec int64
		switch st.state {
		case stateRestoring:
			restoring = true
			rec = recoverableTo(st.info, files)
		case stateOnline:
			rec = nowMS
		}
		if i == 0 || rec < recoverable {
			recoverable = rec
		}
	}
	state := "MIXED (" + strings.Join(stateList, ", ") + ")"
	if len(states) == 1 {
		state = sts[0].state
	}
	if !allRestored {
		restoredTo = 0
	}
	var age int64
	if restoring {
		var oldest int64
		for _, st := range sts {
			if st.state == stateRestoring && (oldest == 0 || st.info.RestoredTo < oldest) {
				oldest = st.info.RestoredTo
			}
		}
		age = max(0, (nowMS-oldest)/1000)
	}
	accepted := int64(s.jobs.acceptedLoss / time.Second)
	within := age <= accepted+60 // a job's run time of grace

	lic := s.license(sts)
	taken := s.e.lastBackup()
	lastBackup := max(taken, s.lastReceived)
	var b strings.Builder
	fmt.Fprintf(&b, "; Log shipping monitor of the simulated SQL Server instance on %s, as msdb's\n", s.server)
	b.WriteString("; log_shipping_monitor_primary and _secondary report it, with the recovery\n")
	b.WriteString("; point against the accepted data loss. Written by the service (simulated by\n")
	b.WriteString("; Vigil); times are UTC, simulated.\n[LogShipping]\n")
	kv := func(k, v string) { fmt.Fprintf(&b, "%s = %s\n", k, v) }
	kv("Server", s.server)
	kv("Partner", s.partner)
	kv("Time", fmtTime(nowMS))
	kv("DatabaseState", state)
	kv("Databases", strings.Join(namesOf(sts), ","))
	kv("AcceptedDataLossSeconds", strconv.FormatInt(accepted, 10))
	kv("RestoreDelaySeconds", strconv.FormatInt(int64(s.jobs.restoreDelay/time.Second), 10))
	kv("LastLogBackup", fmtTime(lastBackup))
	kv("LastLogBackupTaken", fmtTime(taken))
	kv("LastLogShipped", fmtTime(s.lastShipped))
	kv("LastLogReceived", fmtTime(s.lastReceived))
	kv("RestoredTo", fmtTime(restoredTo))
	kv("RecoveryPointAgeSeconds", strconv.FormatInt(age, 10))
	kv("WithinAcceptedDataLoss", strconv.FormatBool(within))
	kv("RecoverableTo", fmtTime(recoverable))
	kv("LastBackupJob", orNone(s.lastBackupJob))
	kv("LastShippingJob", orNone(s.lastShipJob))
	kv("LastRestoreJob", orNone(s.lastRestJob))
	kv("K2Sessions", strconv.Itoa(s.e.k2Sessions()))
	kv("JobsConfig", orOK(s.jobsErr))
	kv("ShareProblems", orNone(strings.Join(problems, "; ")))
	b.WriteString("\n[License]\n")
	kv("Servers", lic.servers)
	kv("LicensedTo", lic.licensedTo)
	kv("ValidForThisServer", lic.valid)
	for _, st := range sts {
		fmt.Fprintf(&b, "\n[%s]\n", st.name)
		kv("State", st.state)
		kv("LastLSN", strconv.FormatInt(st.info.LastLSN, 10))
		kv("RestoredTo", fmtTime(st.info.RestoredTo))
		kv("LastRestoredFile", orNone(st.info.LastRestoredFile))
		kv("RecoveryFork", orNone(st.info.Fork))
		if st.err != nil {
			kv("Error", oneLine(st.err.Error()))
		}
	}
	out := b.String()
	if out == s.lastMonitor {
		return
	}
	if err := writeFileAtomic(s.p.monitorFile(), func(w io.Writer) error { _, err := io.WriteString(w, out); return err }); err != nil {
		s.env.Log.Warn("cannot write the log shipping monitor", "file", s.p.monitorFile(), "err", err)
		return
	}
	s.lastMonitor = out
}

func namesOf(sts []dbStatus) []string {
	out := make([]string, len(sts))
	for i, st := range sts {
		out[i] = st.name
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return oneLine(s)
}

func orOK(s string) string {
	if s == "" {
		return "ok"
	}
	return oneLine(s)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

type licenseFacts struct{ servers, licensedTo, valid string }

// license reads the licensing of the K2 database, when it can be read.
func (s *sqlServer) license(sts []dbStatus) licenseFacts {
	if len(sts) == 0 || sts[0].state != stateOnline {
		st := "unknown"
		if len(sts) > 0 {
			st = sts[0].state
		}
		why := fmt.Sprintf("unreadable (K2 is %s)", st)
		return licenseFacts{why, why, "unknown"}
	}
	l, err := readLicense(func(stmt string) (response, error) {
		r := s.e.execute(nil, "K2", []string{stmt})
		if r.Error != "" {
			return r, errors.New(r.Error)
		}
		return r, nil
	})
	if err != nil {
		why := "unreadable: " + oneLine(err.Error())
		return licenseFacts{why, why, "unknown"}
	}
	return licenseFacts{orNone(strings.Join(l.servers, ",")), orNone(strings.Join(l.licensedTo, ",")),
		strconv.FormatBool(l.validFor(s.server))}
}

// readLicense reads the two license tables through query.
func readLicense(query func(stmt string) (response, error)) (licenseState, error) {
	var l licenseState
	r, err := query(`SELECT Name FROM [Server].[Server] ORDER BY ID`)
	if err != nil {
		return l, err
	}
	for _, row := range r.Rows {
		l.servers = append(l.servers, row[0])
	}
	r, err = query(`SELECT ServerName, LicenseKey FROM [HostServer].[LicenseKey] ORDER BY ID`)
	if err != nil {
		return l, err
	}
	for _, row := range r.Rows {
		if len(row) == 2 && row[1] == licenseKey(row[0]) {
			l.licensedTo = append(l.licensedTo, row[0])
		}
	}
	sort.Strings(l.licensedTo)
	return l, nil
}
