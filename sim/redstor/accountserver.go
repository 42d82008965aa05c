package redstor

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigilops/vigil/sim"
)

// accountServer is the simulated AccountServer service. It reads
// Settings.xml once, when it starts, as the real one does: an edited
// IsSlave takes effect on the next start (RestartPending says so until
// then).
type accountServer struct {
	env  *sim.Env
	name string
	net  *peer
	log  vendorLog
	diag diagnostics

	settingsPath, dbPath, queueDir, backupDir string

	guid    string
	isSlave bool

	mu             sync.Mutex
	settingsMod    time.Time // Settings.xml as this service last saw it
	restartPending bool
	db             *database
	dbMod          time.Time
	dbSize         int64
	dbErr          string
	// Master: when each Slave row (by GUID@IP) and each StorageServer host
	// last answered, and what went wrong otherwise.
	slaveSeen                  map[string]time.Time
	slaveErr                   map[string]string
	ssSeen                     map[string]time.Time
	otpDone                    map[string]bool // rows (GUID@IP) whose one-time password was accepted
	lastDBBackup, nextDBBackup time.Time
	dbBackupResult             string
	// Slave: the Master it last heard from.
	master     string
	masterSeen time.Time
	restored   string
	// The Agents that log in to a Master.
	lastSeq                  map[int]int
	nextTry                  map[int]time.Time
	backupsOK, backupsFailed int
	backupsBlocked           int
	lastBackup, lastTask     string
	pending                  int
}

func runAccountServer(ctx context.Context, env *sim.Env) error {
	var name, hostList string
	if err := env.Flags(svcAS, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "this server's host `NAME`")
		fs.StringVar(&hostList, "hosts", "", "the host table, `NAME=ADDR,...`")
	}); err != nil {
		return err
	}
	if name == "" {
		return errors.New("vigil sim " + svcAS + ": --name is required")
	}
	hosts, err := parseHosts(hostList)
	if err != nil {
		return err
	}
	svc := env.Host(asServiceDir...)
	as := &accountServer{env: env, name: name,
		settingsPath: filepath.Join(svc, settingsFile), queueDir: filepath.Join(svc, taskQueue),
		backupDir: filepath.Join(svc, "DatabaseBackups"), dbPath: filepath.Join(env.Host(databaseDir...), databaseFile),
		diag:      diagnostics{path: filepath.Join(svc, diagnosticsFile)},
		slaveSeen: map[string]time.Time{}, slaveErr: map[string]string{}, ssSeen: map[string]time.Time{}, otpDone: map[string]bool{},
		lastSeq: map[int]int{}, nextTry: map[int]time.Time{}}
	if as.log.VendorLog, err = sim.OpenVendorLog(filepath.Join(svc, "Logs", "AccountServer.log"), env.Clock); err != nil {
		return err
	}
	defer as.log.Close()
	if err := as.start(); err != nil {
		as.log.Printf("ERROR AccountServer service cannot start: %v", err)
		return err
	}
	if as.net, err = listen(name, hosts, as.serve); err != nil {
		return err
	}
	role := "Master"
	if as.isSlave {
		role = "Slave"
	}
	as.log.Printf("INFO AccountServer service started as %s AccountServer (ServerGuid %s, database revision %d)", role, as.guid, as.db.Revision)
	env.Log.Info("simulated AccountServer started", "role", role, "guid", as.guid)
	as.nextDBBackup = env.Clock.Now().Add(dbBackupInterval)
	if err := as.writeDiagnostics(); err != nil {
		as.net.conn.Close()
		return err
	}
	if err := as.rewriteSettings(); err != nil {
		as.net.conn.Close()
		as.log.Printf("ERROR AccountServer service cannot start: %v", err)
		return err
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); as.net.run(ctx) }()
	every(ctx, &wg, env.Clock.Wall(time.Second, 250*time.Millisecond), as.housekeeping)
	if !as.isSlave {
		every(ctx, &wg, env.Clock.Wall(2*time.Second, 250*time.Millisecond), as.masterTick)
		every(ctx, &wg, env.Clock.Wall(30*time.Second, 250*time.Millisecond), as.agentsTick)
	}
	<-ctx.Done()
	wg.Wait()
	as.log.Printf("INFO AccountServer service stopped")
	return nil
}

// start reads Settings.xml and the database.
func (as *accountServer) start() error {
	s, _, err := readSettings(as.settingsPath)
	if err != nil {
		return err
	}
	as.guid, as.isSlave = s.GUID, s.IsSlave
	db, fi, err := loadDatabase(as.dbPath)
	switch {
	case err == nil:
		as.db, as.dbMod, as.dbSize = db, fi.ModTime(), fi.Size()
	case errors.Is(err, os.ErrNotExist) && as.isSlave:
		as.db = &database{} // a new Slave waits for its Master's first database backup
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("no StoragePlatform database at %s: a Master AccountServer needs one (restore a database backup from AS_Service\\DatabaseBackups)", as.dbPath)
	default:
		return err
	}
	return os.MkdirAll(as.queueDir, 0o755)
}

// rewriteSettings writes Settings.xml back once the service is up, adding
// IsSlave when it is missing (the document's "add the following line"
// expects the service to cope with a file without it), so that the file is
// current for the agent's role probe. It comes after the diagnostics: the
// role shows once the facts beside it are there.
func (as *accountServer) rewriteSettings() error {
	s, doc, err := readSettings(as.settingsPath)
	if err != nil {
		return err
	}
	if s.GUID != as.guid || s.IsSlave != as.isSlave {
		return fmt.Errorf("%s changed while the AccountServer service was starting; start it again", as.settingsPath)
	}
	if !s.hasIsSlave {
		text := string(doc)
		i := strings.LastIndex(text, "</Settings>")
		if i < 0 {
			return fmt.Errorf("%s: no </Settings> to add <IsSlave> before", as.settingsPath)
		}
		doc = []byte(text[:i] + "  " + isSlaveLine(false) + "\n" + text[i:])
	}
	if err := sim.Write(as.settingsPath, string(doc)); err != nil {
		return fmt.Errorf("rewrite %s: %w", as.settingsPath, err)
	}
	as.mu.Lock()
	as.settingsMod = modTime(as.settingsPath)
	as.mu.Unlock()
	return nil
}

// reloadLocked picks up a direct edit of the database file.
func (as *accountServer) reloadLocked() {
	fi, err := os.Stat(as.dbPath)
	if err != nil || (fi.ModTime().Equal(as.dbMod) && fi.Size() == as.dbSize) {
		return
	}
	db, fi, err := loadDatabase(as.dbPath)
	if err != nil {
		if msg := err.Error(); msg != as.dbErr {
			as.dbErr = msg
			as.log.Printf("ERROR %v; the service keeps working with the database as it was before the edit", err)
		}
		return
	}
	as.db, as.dbMod, as.dbSize, as.dbErr = db, fi.ModTime(), fi.Size(), ""
	as.log.Printf("INFO StoragePlatform database changed on disk; re-read (revision %d)", db.Revision)
}

// saveLocked writes db as the new database, one revision on.
func (as *accountServer) saveLocked(db *database) error {
	db.Revision++
	b, err := db.encode()
	if err != nil {
		return err
	}
	if err := sim.Write(as.dbPath, string(b)); err != nil {
		return fmt.Errorf("write StoragePlatform database %s: %w", as.dbPath, err)
	}
	as.db, as.dbMod, as.dbSize = db, modTime(as.dbPath), int64(len(b))
	return nil
}

// mutate applies f to a copy of the database and saves the copy when f
// reports a change.
func (as *accountServer) mutate(f func(db *database) (bool, error)) error {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.reloadLocked()
	db := as.db.clone()
	changed, err := f(db)
	if err != nil || !changed {
		return err
	}
	return as.saveLocked(db)
}

func (as *accountServer) snapshot() *database {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.reloadLocked()
	return as.db.clone()
}

func (as *accountServer) isMe(r backupServer) bool {
	return strings.EqualFold(r.ServerGUID, as.guid) || r.IP == as.name
}

func rowKey(r backupServer) string { return strings.ToLower(r.ServerGUID) + "@" + r.IP }

// housekeeping notices edits of Settings.xml and the database, works the
// task queue and writes the diagnostics.
func (as *accountServer) housekeeping(ctx context.Context) {
	if mt := modTime(as.settingsPath); !mt.Equal(as.settingsMod) {
		as.mu.Lock()
		as.settingsMod = mt
		s, _, err := readSettings(as.settingsPath)
		was := as.restartPending
		as.restartPending = err != nil || s.GUID != as.guid || s.IsSlave != as.isSlave
		if as.restartPending && !was {
			as.log.Printf("WARN Settings.xml changed; the AccountServer service reads it when it starts: restart the service for the change to take effect")
		}
		as.mu.Unlock()
	}
	as.mu.Lock()
	as.reloadLocked()
	as.mu.Unlock()
	as.workQueue(ctx)
	if err := as.writeDiagnostics(); err != nil {
		as.env.Log.Error("diagnostics", "err", err)
	}
}

// workQueue acts on the task files in the queue.
func (as *accountServer) workQueue(ctx context.Context) {
	names, err := queued(as.queueDir)
	if err != nil {
		as.env.Log.Error("task queue", "dir", as.queueDir, "err", err)
		return
	}
	defer func() {
		left, _ := queued(as.queueDir)
		as.mu.Lock()
		as.pending = len(left)
		as.mu.Unlock()
	}()
	for _, n := range names {
		path := filepath.Join(as.queueDir, n)
		if n != taskUpdateSS {
			as.rejectTask(n, fmt.Sprintf("task file %s is not a task this AccountServer knows (it knows %s); moved to %s", path, taskUpdateSS, filepath.Join(as.queueDir, "Failed")))
			continue
		}
		b, err := readBounded(path)
		if err != nil {
			continue // still being written, or gone
		}
		if len(strings.TrimSpace(string(b))) > 0 {
			as.rejectTask(n, fmt.Sprintf("task file %s must be empty, but holds %d bytes; moved to %s", path, len(b), filepath.Join(as.queueDir, "Failed")))
			continue
		}
		if as.isSlave {
			as.mu.Lock()
			as.lastTask = fmt.Sprintf("%s waiting: this AccountServer runs as a Slave; tasks are worked by the Master", n)
			as.mu.Unlock()
			continue
		}
		result := as.updateSettingsOnSS(ctx)
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			as.env.Log.Error("remove task file", "path", path, "err", err)
		}
		as.mu.Lock()
		as.lastTask = as.env.Clock.Now().UTC().Format(time.RFC3339) + " " + n + ": " + result
		as.mu.Unlock()
		as.log.Printf("INFO task %s done: %s", n, result)
	}
}

func (as *accountServer) rejectTask(name, why string) {
	if err := setAside(as.queueDir, name); err != nil {
		why += fmt.Sprintf(" (could not move it: %v)", err)
	}
	as.log.Printf("ERROR %s", why)
	as.mu.Lock()
	as.lastTask = as.env.Clock.Now().UTC().Format(time.RFC3339) + " rejected: " + why
	as.mu.Unlock()
}

// helloReply is what any simulated Redstor service says about itself.
type helloReply struct {
	Name     string `json:"name"`
	GUID     string `json:"guid"`
	Service  string `json:"service"` // AccountServer or StorageServer
	Role     string `json:"role"`    // Master, Slave; StorageServer, MirrorServer, Unassigned
	Revision int64  `json:"revision,omitempty"`
}

// updateSettingsOnSS is Failover.UpdateSettingsOnSS: every account's
// HomeServerGUID becomes the ServerGuid of the server that now answers at
// its StorageServer's address, and the account settings are synced to it.
func (as *accountServer) updateSettingsOnSS(ctx context.Context) string {
	db := as.snapshot()
	rows := map[string][]int{}
	for i, a := range db.Accounts {
		rows[a.StorageServer] = append(rows[a.StorageServer], i)
	}
	names := make([]string, 0, len(rows))
	for n := range rows {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	home := map[string]string{}
	for _, n := range names {
		i := db.row(n, typeSS)
		if i < 0 {
			continue // check() makes every account's StorageServer a row
		}
		r := db.BackupServer[i]
		var h helloReply
		err := as.net.callRetry(ctx, r.IP, "hello", nil, &h, callTimeout)
		if err == nil && h.Service != winSS {
			err = fmt.Errorf("%s is an %s, not a StorageServer", r.IP, h.Service)
		}
		if err != nil {
			parts = append(parts, fmt.Sprintf("StorageServer %s at %s:%d: %v; HomeServerGUID of its %d accounts unchanged", n, r.IP, r.Port, err, len(rows[n])))
			continue
		}
		home[n] = h.GUID
	}
	updated := map[string]int{}
	err := as.mutate(func(db *database) (bool, error) {
		changed := false
		for i := range db.Accounts {
			a := &db.Accounts[i]
			if g, ok := home[a.StorageServer]; ok && !strings.EqualFold(a.HomeServerGUID, g) {
				a.HomeServerGUID = g
				updated[a.StorageServer]++
				changed = true
			}
		}
		return changed, nil
	})
	if err != nil {
		return fmt.Sprintf("failed: %v", err)
	}
	db = as.snapshot()
	for _, n := range names {
		g, ok := home[n]
		i := db.row(n, typeSS)
		if !ok || i < 0 {
			continue
		}
		r := db.BackupServer[i]
		var list []accountSetting
		for _, a := range db.Accounts {
			if a.StorageServer == n {
				list = append(list, accountSetting{ID: a.AccountID, Name: a.Name, Group: a.Group, HomeServerGUID: a.HomeServerGUID})
			}
		}
		sync := "account settings synced"
		if err := as.net.callRetry(ctx, r.IP, "account-settings", list, nil, callTimeout); err != nil {
			sync = fmt.Sprintf("account settings NOT synced (%v)", err)
		}
		parts = append(parts, fmt.Sprintf("StorageServer %s at %s:%d is ServerGuid %s: HomeServerGUID of %d of %d accounts updated; %s",
			n, r.IP, r.Port, g, updated[n], len(rows[n]), sync))
	}
	return strings.Join(parts, "; ")
}

// masterTick is a Master's round: it calls its Slaves, keeps the OnLine
// column current and takes the scheduled database backup.
func (as *accountServer) masterTick(ctx context.Context) {
	db := as.snapshot()
	var wg sync.WaitGroup
	for _, r := range db.BackupServer {
		if r.Type != typeSlave || as.isMe(r) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rep heartbeatReply
			err := as.net.call(ctx, r.IP, "slave-heartbeat", heartbeat{RowGUID: r.ServerGUID, OneTimePassword: r.OneTimePassword,
				MasterGUID: as.guid, Revision: db.Revision}, &rep, callTimeout)
			as.mu.Lock()
			defer as.mu.Unlock()
			k := rowKey(r)
			if err != nil {
				if as.slaveErr[k] != err.Error() {
					as.log.Printf("WARN Slave AccountServer %s at %s: %v", r.Name, r.IP, err)
				}
				as.slaveErr[k] = err.Error()
				return
			}
			if as.slaveErr[k] != "" || as.slaveSeen[k].IsZero() {
				as.log.Printf("INFO Slave AccountServer %s at %s is online (its database is revision %d)", r.Name, r.IP, rep.Revision)
			}
			delete(as.slaveErr, k)
			as.slaveSeen[k] = time.Now()
			if r.OneTimePassword != "" {
				as.otpDone[k] = true
			}
		}()
	}
	wg.Wait()
	window := 3*as.env.Clock.Wall(2*time.Second, 250*time.Millisecond) + time.Second
	as.mutate(func(db *database) (bool, error) {
		changed := false
		for i := range db.BackupServer {
			r := &db.BackupServer[i]
			var on bool
			switch {
			case as.isMe(*r):
				on = true
			case r.Type == typeSlave:
				on = time.Since(as.slaveSeen[rowKey(*r)]) < window
				if as.otpDone[rowKey(*r)] && r.OneTimePassword != "" {
					r.OneTimePassword, changed = "", true
				}
			case r.Type == typeSS || r.Type == typeMirror:
				on = time.Since(as.ssSeen[r.IP]) < window
			}
			if r.OnLine != on {
				r.OnLine, changed = on, true
				as.log.Printf("INFO BackupServer %s (%s at %s) is now %s", r.Name, r.Type, r.IP, map[bool]string{true: "online", false: "offline"}[on])
			}
		}
		return changed, nil
	})
	as.mu.Lock()
	due := !as.env.Clock.Now().Before(as.nextDBBackup)
	as.mu.Unlock()
	if due {
		as.databaseBackup(ctx, "scheduled")
	}
}

// heartbeat is a Master's call on a Slave.
type heartbeat struct {
	RowGUID         string    `json:"row_guid"` // the ServerGUID the Master's BackupServer table has for this Slave
	OneTimePassword string    `json:"otp,omitempty"`
	MasterGUID      string    `json:"master_guid"`
	Revision        int64     `json:"revision"`
	Database        *database `json:"database,omitempty"` // a database backup to restore
}

type heartbeatReply struct {
	GUID     string `json:"guid"`
	Revision int64  `json:"revision"`
}

// checkSlaveCall is a Slave's check that a Master's call is meant for it.
func (as *accountServer) checkSlaveCall(from string, h heartbeat) error {
	switch {
	case !as.isSlave:
		return fmt.Errorf("%s is a Master AccountServer (IsSlave False), not a Slave of %s: two Masters", as.name, from)
	case !strings.EqualFold(h.RowGUID, as.guid):
		return fmt.Errorf("%s's ServerGuid is %s, but %s's BackupServer table names %s for it: add this server as a Slave AccountServer anew", as.name, as.guid, from, h.RowGUID)
	case h.OneTimePassword != "" && !strings.EqualFold(h.OneTimePassword, as.guid[:8]):
		return fmt.Errorf("one-time password %q does not match the first eight characters of %s's ServerGuid", h.OneTimePassword, as.name)
	}
	return nil
}

// databaseBackup backs the database up to a file and copies it to every
// Slave, as the document's manual (and the scheduled) database backup does.
func (as *accountServer) databaseBackup(ctx context.Context, why string) (string, error) {
	db := as.snapshot()
	now := as.env.Clock.Now()
	as.mu.Lock()
	as.nextDBBackup = now.Add(dbBackupInterval)
	as.mu.Unlock()
	var out []string
	var failed []string
	b, err := db.encode()
	file := filepath.Join(as.backupDir, "StoragePlatform_"+now.UTC().Format("20060102_150405")+".bak")
	if err == nil {
		err = sim.Write(file, string(b))
	}
	if err != nil {
		failed = append(failed, fmt.Sprintf("backup file %s: %v", file, err))
	} else {
		out = append(out, fmt.Sprintf("StoragePlatform database (revision %d) backed up to %s", db.Revision, file))
		pruneBackups(as.backupDir, 5)
	}
	for _, r := range db.BackupServer {
		if r.Type != typeSlave || as.isMe(r) {
			continue
		}
		var rep heartbeatReply
		err := as.net.callRetry(ctx, r.IP, "db-restore", heartbeat{RowGUID: r.ServerGUID, OneTimePassword: r.OneTimePassword,
			MasterGUID: as.guid, Revision: db.Revision, Database: db}, &rep, 2*callTimeout)
		if err != nil {
			failed = append(failed, fmt.Sprintf("not copied to Slave AccountServer %s at %s: %v", r.Name, r.IP, err))
			continue
		}
		out = append(out, fmt.Sprintf("copied to Slave AccountServer %s at %s (now at revision %d)", r.Name, r.IP, rep.Revision))
	}
	result := "Succeeded"
	if len(failed) > 0 {
		result = "Failed: " + strings.Join(failed, "; ")
	}
	text := fmt.Sprintf("%s database backup %s: %s", why, now.UTC().Format(time.RFC3339), strings.Join(append(out, failed...), "; "))
	as.mu.Lock()
	as.lastDBBackup, as.dbBackupResult = now, result
	as.mu.Unlock()
	level := "INFO"
	if len(failed) > 0 {
		level = "ERROR"
	}
	as.log.Printf("%s %s", level, text)
	if len(failed) > 0 {
		return text, errors.New(result)
	}
	return text, nil
}

func pruneBackups(dir string, keep int) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".bak") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for len(names) > keep {
		os.Remove(filepath.Join(dir, names[0]))
		names = names[1:]
	}
}

// backupRequest is an Agent's backup, as it reaches a StorageServer.
type backupRequest struct {
	Account        int    `json:"account"`
	Name           string `json:"name"`
	HomeServerGUID string `json:"home_server_guid"`
	Seq            int    `json:"seq"`
	Total          int64  `json:"total"`
}

type backupReply struct {
	Transferred int64 `json:"transferred"`
	Resent      int64 `json:"resent"`
	UpToDate    bool  `json:"up_to_date,omitempty"`
}

// agentsTick lets each Agent whose backup is due back up to the
// StorageServer the database names for its account, unless its Group is
// disabled.
func (as *accountServer) agentsTick(ctx context.Context) {
	db := as.snapshot()
	now := as.env.Clock.Now()
	disabled := map[string]bool{}
	for _, g := range db.Groups {
		disabled[g.Name] = g.Disabled
	}
	for _, a := range db.Accounts {
		if ctx.Err() != nil {
			return
		}
		n := dueSeq(a.Created, now)
		as.mu.Lock()
		last, seen := as.lastSeq[a.AccountID]
		wait := now.Before(as.nextTry[a.AccountID])
		if !seen {
			as.lastSeq[a.AccountID] = n // the next one due is the first this Master sees
		}
		as.mu.Unlock()
		if !seen || n <= last || wait {
			continue
		}
		if disabled[a.Group] {
			as.mu.Lock()
			as.lastSeq[a.AccountID] = n
			as.backupsBlocked++
			as.lastBackup = fmt.Sprintf("%s %s: backup #%d not taken: Group %s is disabled", now.UTC().Format(time.RFC3339), a.Name, n, a.Group)
			as.mu.Unlock()
			continue
		}
		i := db.row(a.StorageServer, typeSS)
		if i < 0 {
			continue
		}
		r := db.BackupServer[i]
		var rep backupReply
		err := as.net.call(ctx, r.IP, "backup", backupRequest{Account: a.AccountID, Name: a.Name, HomeServerGUID: a.HomeServerGUID,
			Seq: n, Total: agentTotal(a.AccountID, n)}, &rep, callTimeout)
		as.mu.Lock()
		if err != nil {
			as.backupsFailed++
			as.nextTry[a.AccountID] = now.Add(retryInterval)
			as.lastBackup = fmt.Sprintf("%s %s: backup #%d to %s at %s:%d FAILED: %v", now.UTC().Format(time.RFC3339), a.Name, n, r.Name, r.IP, r.Port, err)
			as.log.Printf("WARN Agent %s: backup #%d to StorageServer at %s:%d failed: %v", a.Name, n, r.IP, r.Port, err)
		} else {
			as.backupsOK++
			as.lastSeq[a.AccountID] = n
			delete(as.nextTry, a.AccountID)
			as.lastBackup = fmt.Sprintf("%s %s: backup #%d stored on %s at %s:%d (%s sent", now.UTC().Format(time.RFC3339), a.Name, n, r.Name, r.IP, r.Port, gib(rep.Transferred))
			if rep.Resent > 0 {
				as.lastBackup += fmt.Sprintf(", of which %s resent at the StorageServer's request", gib(rep.Resent))
			}
			as.lastBackup += ")"
		}
		as.mu.Unlock()
	}
}

// serve answers the other services and the SP Console.
func (as *accountServer) serve(ctx context.Context, op, from string, body json.RawMessage) (any, error) {
	switch op {
	case "hello":
		as.mu.Lock()
		defer as.mu.Unlock()
		return helloReply{Name: as.name, GUID: as.guid, Service: winAS, Role: as.role(), Revision: as.db.Revision}, nil
	case "whoami":
		var req helloReply
		if err := decode(op, body, &req); err != nil {
			return nil, err
		}
		return as.whoami(req)
	case "slave-heartbeat", "db-restore":
		var h heartbeat
		if err := decode(op, body, &h); err != nil {
			return nil, err
		}
		return as.slaveCall(op, from, h)
	case "console":
		var req consoleRequest
		if err := decode(op, body, &req); err != nil {
			return nil, err
		}
		return as.console(ctx, req)
	}
	return nil, fmt.Errorf("unknown operation %q", op)
}

func (as *accountServer) role() string {
	if as.isSlave {
		return "Slave"
	}
	return "Master"
}

// whoami tells a StorageServer which BackupServer rows have its address,
// and which MirrorServers to mirror to.
func (as *accountServer) whoami(req helloReply) (any, error) {
	if as.isSlave {
		return nil, fmt.Errorf("%s is a Slave AccountServer; ask the Master", as.name)
	}
	var cfg spConfig
	var rejected []string
	err := as.mutate(func(db *database) (bool, error) {
		changed := false
		as.ssSeen[req.Name] = time.Now()
		cfg = spConfig{AccountServer: as.name, Revision: db.Revision}
		for i := range db.BackupServer {
			r := &db.BackupServer[i]
			if r.IP != req.Name || (r.Type != typeSS && r.Type != typeMirror) {
				continue
			}
			if r.OneTimePassword != "" {
				if !strings.HasPrefix(strings.ToLower(req.GUID), strings.ToLower(r.OneTimePassword)) {
					rejected = append(rejected, fmt.Sprintf("%s: one-time password %s does not match this server's ServerGuid", r.Name, r.OneTimePassword))
					continue
				}
				r.OneTimePassword, changed = "", true
				as.log.Printf("INFO %s at %s accepted as %s (one-time password matched)", r.Name, r.IP, r.Type)
			}
			cfg.Entries = append(cfg.Entries, spEntry{Name: r.Name, Type: r.Type})
			if r.Type != typeSS {
				continue
			}
			for _, m := range db.BackupServer {
				if m.Type == typeMirror && m.MirrorOf == r.Name && m.IP != req.Name && m.OneTimePassword == "" {
					cfg.Mirrors = append(cfg.Mirrors, spMirror{Name: m.Name, Host: m.IP, Enabled: m.MirroringEnabled})
				}
			}
		}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	return struct {
		spConfig
		Rejected []string `json:"rejected,omitempty"`
	}{cfg, rejected}, nil
}

func (as *accountServer) slaveCall(op, from string, h heartbeat) (any, error) {
	as.mu.Lock()
	defer as.mu.Unlock()
	if err := as.checkSlaveCall(from, h); err != nil {
		return nil, err
	}
	if as.master != from {
		as.log.Printf("INFO Master AccountServer is %s", from)
	}
	as.master, as.masterSeen = from, time.Now()
	if op == "db-restore" {
		if h.Database == nil {
			return nil, errors.New("db-restore: no database in the request")
		}
		if err := h.Database.check(); err != nil {
			return nil, fmt.Errorf("db-restore: the database from %s is not valid: %w", from, err)
		}
		b, err := h.Database.encode()
		if err != nil {
			return nil, err
		}
		if err := sim.Write(as.dbPath, string(b)); err != nil {
			return nil, fmt.Errorf("restore StoragePlatform database %s: %w", as.dbPath, err)
		}
		as.db, as.dbMod, as.dbSize, as.dbErr = h.Database, modTime(as.dbPath), int64(len(b)), ""
		as.restored = fmt.Sprintf("%s revision %d from %s", as.env.Clock.Now().UTC().Format(time.RFC3339), h.Database.Revision, from)
		as.log.Printf("INFO StoragePlatform database restored from %s's backup (revision %d)", from, h.Database.Revision)
	}
	return heartbeatReply{GUID: as.guid, Revision: as.db.Revision}, nil
}

func (as *accountServer) writeDiagnostics() error {
	as.mu.Lock()
	defer as.mu.Unlock()
	db := as.db
	groupsOff := 0
	for _, g := range db.Groups {
		if g.Disabled {
			groupsOff++
		}
	}
	var ssAddr, mirrors, slaves []string
	for _, r := range db.BackupServer {
		state := map[bool]string{true: "online", false: "offline"}[r.OnLine]
		if r.OneTimePassword != "" {
			state += ", one-time password pending"
		}
		switch r.Type {
		case typeSS:
			ssAddr = append(ssAddr, fmt.Sprintf("%s=%s:%d", r.Name, r.IP, r.Port))
		case typeMirror:
			mirrors = append(mirrors, fmt.Sprintf("%s at %s mirrors %s: %s, %s", r.Name, r.IP, r.MirrorOf,
				map[bool]string{true: "enabled", false: "disabled"}[r.MirroringEnabled], state))
		case typeSlave:
			if !as.isMe(r) {
				slaves = append(slaves, fmt.Sprintf("%s at %s: %s", r.Name, r.IP, state))
			}
		}
	}
	master := as.name
	if as.isSlave {
		master = ""
		if time.Since(as.masterSeen) < 3*as.env.Clock.Wall(2*time.Second, 250*time.Millisecond)+time.Second {
			master = as.master
		}
		slaves = nil
	}
	lastBackup := ""
	if !as.lastDBBackup.IsZero() {
		lastBackup = as.lastDBBackup.UTC().Format(time.RFC3339)
	}
	return as.diag.write([][2]string{
		{"ServerGuid", as.guid},
		{"RunningAs", as.role()},
		{"RestartPending", pyBool(as.restartPending)},
		{"MasterAccountServer", master},
		{"SlaveAccountServers", strings.Join(slaves, "; ")},
		{"DatabaseRevision", fmt.Sprint(db.Revision)},
		{"DatabaseError", as.dbErr},
		{"DatabaseRestored", as.restored},
		{"LastDatabaseBackup", lastBackup},
		{"LastDatabaseBackupResult", as.dbBackupResult},
		{"StorageServerAddress", strings.Join(ssAddr, ",")},
		{"MirrorServers", strings.Join(mirrors, "; ")},
		{"AccountsHomeServerGuids", db.homeGUIDs()},
		{"GroupsDisabled", fmt.Sprintf("%d/%d", groupsOff, len(db.Groups))},
		{"BackupsSucceeded", fmt.Sprint(as.backupsOK)},
		{"BackupsFailed", fmt.Sprint(as.backupsFailed)},
		{"BackupsBlocked", fmt.Sprint(as.backupsBlocked)},
		{"LastBackupResult", as.lastBackup},
		{"LastTask", as.lastTask},
		{"TasksPending", fmt.Sprint(as.pending)},
	})
}

// consoleRequest is an SP Console operation.
type consoleRequest struct {
	Op       string `json:"op"`
	Entry    string `json:"entry,omitempty"`
	To       string `json:"to,omitempty"`
	Of       string `json:"of,omitempty"`
	Host     string `json:"host,omitempty"`
	Type     string `json:"type,omitempty"`
	Name     string `json:"name,omitempty"`
	Enabled  bool   `json:"enabled,omitempty"`  // set-mirroring
	Disabled bool   `json:"disabled,omitempty"` // groups
	GUID     string `json:"guid,omitempty"`
}

type consoleReply struct {
	Output string `json:"output"`
}

// console carries out an SP Console operation on this AccountServer.
func (as *accountServer) console(ctx context.Context, req consoleRequest) (any, error) {
	if req.Op == "show" {
		return consoleReply{Output: as.show()}, nil
	}
	if as.isSlave {
		return nil, fmt.Errorf("%s runs as a Slave AccountServer; connect the SP Console to the Master AccountServer for %s", as.name, req.Op)
	}
	var out string
	var err error
	switch req.Op {
	case "change-address":
		err = as.mutate(func(db *database) (bool, error) {
			i := db.row(req.Entry, typeSS)
			if i < 0 {
				return false, fmt.Errorf("no StorageServer named %q in the BackupServer table", req.Entry)
			}
			r := &db.BackupServer[i]
			if r.IP == req.To {
				out = fmt.Sprintf("StorageServer %s already has the address %s:%d; nothing changed.", r.Name, r.IP, r.Port)
				return false, nil
			}
			out = fmt.Sprintf("Changed the address of StorageServer %s from %s:%d to %s:%d. Drop %s in the AccountServer's task queue so that the accounts' HomeServerGUID follow it.",
				r.Name, r.IP, r.Port, req.To, portSS, taskUpdateSS)
			r.IP, r.Port = req.To, portSS
			return true, nil
		})
	case "add-mirror":
		out, err = as.addMirror(ctx, req)
	case "delete-entry":
		err = as.mutate(func(db *database) (bool, error) {
			var gone []string
			db.BackupServer = slices.DeleteFunc(db.BackupServer, func(r backupServer) bool {
				if r.Type == req.Type && r.IP == req.Host && r.Type != typeSS && !as.isMe(r) {
					gone = append(gone, fmt.Sprintf("%s (%s at %s:%d)", r.Name, r.Type, r.IP, r.Port))
					return true
				}
				return false
			})
			if len(gone) == 0 {
				out = fmt.Sprintf("No %s entry at %s; nothing deleted.", req.Type, req.Host)
				return false, nil
			}
			out = "Deleted " + strings.Join(gone, ", ") + ". No backup account was deleted."
			return true, nil
		})
	case "set-mirroring":
		err = as.mutate(func(db *database) (bool, error) {
			n := 0
			for i := range db.BackupServer {
				r := &db.BackupServer[i]
				if r.Type == typeMirror && r.IP == req.Host {
					n++
					if r.MirroringEnabled != req.Enabled {
						r.MirroringEnabled = req.Enabled
						out += fmt.Sprintf("Mirroring from %s to %s at %s is now %s. ", r.MirrorOf, r.Name, r.IP, map[bool]string{true: "enabled", false: "disabled"}[req.Enabled])
					}
				}
			}
			if n == 0 {
				return false, fmt.Errorf("no MirrorServer entry at %s in the BackupServer table", req.Host)
			}
			if out == "" {
				out = fmt.Sprintf("Mirroring to %s was already %s; nothing changed.", req.Host, map[bool]string{true: "enabled", false: "disabled"}[req.Enabled])
				return false, nil
			}
			return true, nil
		})
	case "groups":
		err = as.mutate(func(db *database) (bool, error) {
			var names []string
			for i := range db.Groups {
				if db.Groups[i].Disabled != req.Disabled {
					db.Groups[i].Disabled = req.Disabled
					names = append(names, db.Groups[i].Name)
				}
			}
			verb := map[bool]string{true: "disabled (backups blocked)", false: "re-enabled"}[req.Disabled]
			if len(names) == 0 {
				out = fmt.Sprintf("Every Group was already %s; nothing changed.", verb)
				return false, nil
			}
			out = fmt.Sprintf("Group Is Disabled %s for %s: %s.", pyBool(req.Disabled), strings.Join(names, ", "), verb)
			return true, nil
		})
	case "db-backup":
		out, err = as.databaseBackup(ctx, "manual")
		if err != nil {
			return nil, fmt.Errorf("%s", out)
		}
	case "register-slave":
		out, err = as.registerSlave(req)
	default:
		return nil, fmt.Errorf("unknown SP Console operation %q", req.Op)
	}
	if err != nil {
		return nil, err
	}
	as.log.Printf("INFO SP Console %s: %s", req.Op, out)
	as.writeDiagnostics()
	return consoleReply{Output: out}, nil
}

// addMirror adds a server as a MirrorServer of a StorageServer, with the
// first eight characters of its ServerGUID as one-time password. Mirroring
// to it starts disabled: the document enables it as a later step.
func (as *accountServer) addMirror(ctx context.Context, req consoleRequest) (string, error) {
	var h helloReply
	if err := as.net.callRetry(ctx, req.Host, "hello", nil, &h, callTimeout); err != nil {
		return "", fmt.Errorf("cannot read the ServerGUID of %s for its one-time password (is its StorageServer service running?): %w", req.Host, err)
	}
	if h.Service != winSS {
		return "", fmt.Errorf("%s runs an %s, not a StorageServer", req.Host, h.Service)
	}
	var out string
	err := as.mutate(func(db *database) (bool, error) {
		if db.row(req.Of, typeSS) < 0 {
			return false, fmt.Errorf("no StorageServer named %q in the BackupServer table", req.Of)
		}
		for _, r := range db.BackupServer {
			if r.Type == typeMirror && r.IP == req.Host && r.MirrorOf == req.Of {
				out = fmt.Sprintf("%s at %s is already a MirrorServer of %s; nothing changed.", r.Name, r.IP, req.Of)
				return false, nil
			}
		}
		name := req.Name
		for n := 2; slices.ContainsFunc(db.BackupServer, func(r backupServer) bool { return r.Name == name }); n++ {
			name = fmt.Sprintf("%s (%d)", req.Name, n)
		}
		db.BackupServer = append(db.BackupServer, backupServer{ServerGUID: h.GUID, Name: name, Type: typeMirror, IP: req.Host, Port: portSS,
			MirrorOf: req.Of, OneTimePassword: h.GUID[:8]})
		out = fmt.Sprintf("Added %s at %s:%d as a MirrorServer of %s (one-time password %s); mirroring to it is disabled until enabled.",
			name, req.Host, portSS, req.Of, h.GUID[:8])
		return true, nil
	})
	return out, err
}

// registerSlave is the document's step for the demoted Master: if the
// Slave AccountServer entry's ServerGUID is the demoted Master's, the entry
// is edited (its IP, and OnLine True); otherwise the demoted Master is
// added anew as a Slave AccountServer, with the first eight characters of
// its ServerGUID as one-time password.
func (as *accountServer) registerSlave(req consoleRequest) (string, error) {
	guid := strings.ToLower(req.GUID)
	if len(guid) < 8 || req.Host == "" {
		return "", errors.New("register-slave needs the demoted Master's ServerGUID and host name")
	}
	if strings.EqualFold(guid, as.guid) || req.Host == as.name {
		return "", fmt.Errorf("%s cannot be a Slave of itself", req.Host)
	}
	var out string
	err := as.mutate(func(db *database) (bool, error) {
		var seen []string
		for i := range db.BackupServer {
			r := &db.BackupServer[i]
			if r.Type != typeSlave {
				continue
			}
			if !strings.EqualFold(r.ServerGUID, guid) {
				seen = append(seen, fmt.Sprintf("%s (ServerGUID %s)", r.Name, r.ServerGUID))
				continue
			}
			out = fmt.Sprintf("The Slave AccountServer entry %s has ServerGUID %s, which matches the demoted Master's: edited the entry: IP %s -> %s, OnLine True.",
				r.Name, r.ServerGUID, r.IP, req.Host)
			r.IP, r.Port, r.OnLine = req.Host, portAS, true
			return true, nil
		}
		name := req.Host
		for n := 2; slices.ContainsFunc(db.BackupServer, func(r backupServer) bool { return r.Name == name }); n++ {
			name = fmt.Sprintf("%s (%d)", req.Host, n)
		}
		db.BackupServer = append(db.BackupServer, backupServer{ServerGUID: guid, Name: name, Type: typeSlave, IP: req.Host, Port: portAS, OneTimePassword: guid[:8]})
		what := "There is no Slave AccountServer entry"
		if len(seen) > 0 {
			what = "The Slave AccountServer entry " + strings.Join(seen, ", ") + " does not match"
		}
		out = fmt.Sprintf("%s the demoted Master's ServerGUID %s: added %s at %s:%d anew as a Slave AccountServer (one-time password %s).",
			what, guid, name, req.Host, portAS, guid[:8])
		return true, nil
	})
	return out, err
}

// show lists the StoragePlatform database's tables, as an operator would
// read them in SQL Management Studio.
func (as *accountServer) show() string {
	db := as.snapshot()
	var b strings.Builder
	fmt.Fprintf(&b, "StoragePlatform database on %s (%s AccountServer), revision %d\n", as.name, as.role(), db.Revision)
	fmt.Fprintf(&b, "BackupServer:\n  %-28s %-20s %-22s %-5s %-6s %s\n", "ServerGUID", "Type", "IP", "Port", "OnLine", "Name")
	for _, r := range db.BackupServer {
		extra := ""
		if r.Type == typeMirror {
			extra = fmt.Sprintf(" (mirror of %s, mirroring %s)", r.MirrorOf, map[bool]string{true: "enabled", false: "disabled"}[r.MirroringEnabled])
		}
		if r.OneTimePassword != "" {
			extra += " (one-time password " + r.OneTimePassword + " pending)"
		}
		fmt.Fprintf(&b, "  %-28s %-20s %-22s %-5d %-6s %s%s\n", r.ServerGUID, r.Type, r.IP, r.Port, pyBool(r.OnLine), r.Name, extra)
	}
	b.WriteString("Groups:\n")
	for _, g := range db.Groups {
		fmt.Fprintf(&b, "  %-20s Disabled %s\n", g.Name, pyBool(g.Disabled))
	}
	b.WriteString("Accounts:\n")
	for _, a := range db.Accounts {
		fmt.Fprintf(&b, "  %3d %-18s %-10s StorageServer %-14s HomeServerGUID %s\n", a.AccountID, a.Name, a.Group, a.StorageServer, a.HomeServerGUID)
	}
	return b.String()
}
