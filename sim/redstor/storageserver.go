package redstor

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigilops/vigil/sim"
)

// storageServer is the simulated StorageServer service, which runs on the
// StorageServer and on the MirrorServer alike: which one it is comes from
// the Master AccountServer's BackupServer table.
type storageServer struct {
	env  *sim.Env
	name string
	net  *peer
	log  vendorLog
	diag diagnostics

	settingsPath, cfgPath, acctPath, storePath string
	started                                    time.Time // wall clock

	mu          sync.Mutex
	set         serverSettings
	setMod      time.Time
	setErr      string
	cfg         spConfig
	heard       bool // a Master answered since the service started
	cfgNote     string
	accounts    map[int]accountSetting
	store       map[int]*storedAccount
	dirty       bool
	targets     map[string]*mirrorTarget
	lastTick    time.Time // simulated; mirroring's budget runs from it
	received    int
	refused     int
	lastRefusal string
	mirroredOut int64
	mirroredIn  int64
}

// mirrorTarget is what a StorageServer knows of one MirrorServer's copy.
type mirrorTarget struct {
	accounts map[int]storedAccount
	heard    bool
	lastOK   time.Time // wall clock
	err      string
}

func runStorageServer(ctx context.Context, env *sim.Env) error {
	var name, hostList string
	if err := env.Flags(svcSS, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "this server's host `NAME`")
		fs.StringVar(&hostList, "hosts", "", "the host table, `NAME=ADDR,...`")
	}); err != nil {
		return err
	}
	if name == "" {
		return errors.New("vigil sim " + svcSS + ": --name is required")
	}
	hosts, err := parseHosts(hostList)
	if err != nil {
		return err
	}
	svc := env.Host(ssServiceDir...)
	ss := &storageServer{env: env, name: name, started: time.Now(),
		settingsPath: filepath.Join(svc, settingsFile), cfgPath: filepath.Join(svc, serverConfig),
		acctPath: filepath.Join(svc, accountSettings), storePath: filepath.Join(env.Host(storageDir...), accountsFile),
		diag:     diagnostics{path: filepath.Join(svc, diagnosticsFile)},
		accounts: map[int]accountSetting{}, store: map[int]*storedAccount{}, targets: map[string]*mirrorTarget{},
		lastTick: env.Clock.Now()}
	if ss.log.VendorLog, err = sim.OpenVendorLog(filepath.Join(svc, "Logs", "StorageServer.log"), env.Clock); err != nil {
		return err
	}
	defer ss.log.Close()
	if err := ss.load(); err != nil {
		ss.log.Printf("ERROR StorageServer service cannot start: %v", err)
		return err
	}
	if ss.net, err = listen(name, hosts, ss.serve); err != nil {
		return err
	}
	ss.log.Printf("INFO StorageServer service started (ServerGuid %s, last known role %s, %d accounts stored)", ss.set.GUID, ss.cfg.role(), len(ss.store))
	env.Log.Info("simulated StorageServer started", "guid", ss.set.GUID, "role", ss.cfg.role())
	if err := ss.writeDiagnostics(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ss.net.run(ctx) }()
	every(ctx, &wg, ss.pollEvery(), ss.askAccountServer)
	every(ctx, &wg, env.Clock.Wall(5*time.Second, 250*time.Millisecond), ss.mirrorTick)
	every(ctx, &wg, env.Clock.Wall(time.Second, 250*time.Millisecond), ss.housekeeping)
	<-ctx.Done()
	wg.Wait()
	ss.mu.Lock()
	err = ss.saveLocked()
	ss.mu.Unlock()
	ss.log.Printf("INFO StorageServer service stopped")
	return err
}

func (ss *storageServer) pollEvery() time.Duration {
	return ss.env.Clock.Wall(2*time.Second, 250*time.Millisecond)
}

// load reads Settings.xml, the cached Storage Platform configuration, the
// synced account settings and the data store.
func (ss *storageServer) load() error {
	s, _, err := readSettings(ss.settingsPath)
	if err != nil {
		return err
	}
	ss.set, ss.setMod = s, modTime(ss.settingsPath)
	if err := readXMLFile(ss.cfgPath, &ss.cfg); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cached Storage Platform configuration: %w (delete the file and the server asks its AccountServer again)", err)
	}
	var acc accountSettingsXML
	if err := readXMLFile(ss.acctPath, &acc); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("account settings: %w (drop %s on the Master AccountServer to sync them again)", err, taskUpdateSS)
	}
	for _, a := range acc.Accounts {
		ss.accounts[a.ID] = a
	}
	var st storedAccountsXML
	if err := readXMLFile(ss.storePath, &st); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup data index: %w", err)
	}
	for _, a := range st.Accounts {
		if a.Seq < 0 || a.Bytes < 0 {
			return fmt.Errorf("backup data index %s: account %d has a negative backup number or size", ss.storePath, a.ID)
		}
		ss.store[a.ID] = &a
	}
	return nil
}

func (ss *storageServer) saveLocked() error {
	if !ss.dirty {
		return nil
	}
	var st storedAccountsXML
	for _, id := range ss.ids() {
		st.Accounts = append(st.Accounts, *ss.store[id])
	}
	if err := writeXMLFile(ss.storePath, "SIMULATED Redstor StorageServer data index (vigil sim)", st); err != nil {
		return fmt.Errorf("write backup data index: %w", err)
	}
	ss.dirty = false
	return nil
}

func (ss *storageServer) ids() []int {
	ids := make([]int, 0, len(ss.store))
	for id := range ss.store {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// askAccountServer asks the AccountServers in Settings.xml for this
// server's place in the Storage Platform; a Master answers.
func (ss *storageServer) askAccountServer(ctx context.Context) {
	ss.mu.Lock()
	ask := append([]string(nil), ss.set.AccountServers...)
	req := helloReply{Name: ss.name, GUID: ss.set.GUID, Service: winSS}
	ss.mu.Unlock()
	type answer struct {
		spConfig
		Rejected []string `json:"rejected,omitempty"`
	}
	answers := make([]*answer, len(ask))
	var wg sync.WaitGroup
	for i, h := range ask {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a answer
			if ss.net.call(ctx, h, "whoami", req, &a, callTimeout) == nil {
				answers[i] = &a
			}
		}()
	}
	wg.Wait()
	var best *answer
	masters := 0
	for _, a := range answers {
		if a == nil {
			continue
		}
		masters++
		if best == nil || a.Revision > best.Revision {
			best = a
		}
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if best == nil {
		ss.cfgNote = "no Master AccountServer answers; using the last configuration it gave"
		return
	}
	ss.cfgNote = strings.Join(best.Rejected, "; ")
	if masters > 1 {
		ss.cfgNote = strings.TrimPrefix(ss.cfgNote+"; ", "; ") + fmt.Sprintf("%d AccountServers answer as Master", masters)
	}
	ss.heard = true
	if best.same(ss.cfg) {
		return
	}
	was := ss.cfg.role()
	ss.cfg = best.spConfig
	if err := writeXMLFile(ss.cfgPath, "SIMULATED Redstor StorageServer: its place in the Storage Platform, as the Master AccountServer last said (vigil sim)", ss.cfg); err != nil {
		ss.env.Log.Error("cache configuration", "err", err)
	}
	var mirrors []string
	for _, m := range ss.cfg.Mirrors {
		mirrors = append(mirrors, fmt.Sprintf("%s at %s (%s)", m.Name, m.Host, map[bool]string{true: "enabled", false: "disabled"}[m.Enabled]))
	}
	ss.log.Printf("INFO Storage Platform configuration from %s: role %s (was %s), mirrors: %s", ss.cfg.AccountServer, ss.cfg.role(), was, strings.Join(mirrors, ", "))
}

// housekeeping notices an edited Settings.xml (the Mirroring switch),
// saves the data index and writes the diagnostics.
func (ss *storageServer) housekeeping(context.Context) {
	ss.mu.Lock()
	if mt := modTime(ss.settingsPath); !mt.Equal(ss.setMod) {
		ss.setMod = mt
		s, _, err := readSettings(ss.settingsPath)
		switch {
		case err != nil:
			ss.setErr = err.Error()
			ss.log.Printf("ERROR %v; keeping the settings as they were", err)
		case s.GUID != ss.set.GUID:
			ss.setErr = fmt.Sprintf("%s: ServerGuid changed to %s; it takes effect when the service restarts", ss.settingsPath, s.GUID)
		default:
			if s.Mirroring != ss.set.Mirroring {
				ss.log.Printf("INFO Mirroring from this server %s", map[bool]string{true: "enabled", false: "disabled"}[s.Mirroring])
			}
			ss.set.Mirroring, ss.set.AccountServers, ss.setErr = s.Mirroring, s.AccountServers, ""
		}
	}
	if err := ss.saveLocked(); err != nil {
		ss.env.Log.Error("save", "err", err)
	}
	ss.mu.Unlock()
	if err := ss.writeDiagnostics(); err != nil {
		ss.env.Log.Error("diagnostics", "err", err)
	}
}

// mirrorRequest carries a StorageServer's data to a MirrorServer: the
// account's backup number, how many of its bytes the MirrorServer now holds,
// and when that data was complete.
type mirrorRequest struct {
	Source   string          `json:"source"`
	Accounts []storedAccount `json:"accounts"`
}

// mirrorTick sends each enabled MirrorServer what it lacks, up to the
// link's rate for the simulated time since the last round.
func (ss *storageServer) mirrorTick(ctx context.Context) {
	now := ss.env.Clock.Now()
	ss.mu.Lock()
	dt := min(now.Sub(ss.lastTick), time.Minute)
	ss.lastTick = now
	waiting := !ss.heard && time.Since(ss.started) < 3*ss.pollEvery()
	if ss.cfg.role() != roleStorage || !ss.set.Mirroring || waiting {
		ss.mu.Unlock()
		return
	}
	type job struct {
		host string
		req  mirrorRequest
		sent int64
	}
	var jobs []job
	for _, m := range ss.cfg.Mirrors {
		if !m.Enabled || m.Host == ss.name {
			continue
		}
		t := ss.targets[m.Host]
		if t == nil {
			t = &mirrorTarget{accounts: map[int]storedAccount{}}
			ss.targets[m.Host] = t
		}
		j := job{host: m.Host, req: mirrorRequest{Source: ss.name}}
		budget := int64(dt.Seconds() * mirrorRate)
		for _, id := range ss.ids() {
			if !t.heard {
				break // learn what it has first
			}
			s := *ss.store[id]
			have := t.accounts[id]
			if have.Seq == s.Seq && have.Bytes == s.Bytes {
				continue
			}
			u := storedAccount{ID: id, Seq: s.Seq, At: have.At}
			switch {
			case have.Seq > s.Seq || have.Bytes >= s.Bytes:
				u.Bytes = s.Bytes // the MirrorServer holds more: mirroring makes its copy this server's
			case budget <= 0:
				continue
			default:
				u.Bytes = min(s.Bytes, have.Bytes+budget)
				budget -= u.Bytes - have.Bytes
				j.sent += u.Bytes - have.Bytes
			}
			if u.Bytes == s.Bytes {
				u.At = s.At
			}
			j.req.Accounts = append(j.req.Accounts, u)
		}
		jobs = append(jobs, j)
	}
	ss.mu.Unlock()
	for _, j := range jobs {
		var rep []storedAccount
		err := ss.net.call(ctx, j.host, "mirror", j.req, &rep, callTimeout)
		ss.mu.Lock()
		t := ss.targets[j.host]
		if err != nil {
			if t.err == "" {
				ss.log.Printf("WARN mirroring to %s: %v", j.host, err)
			}
			t.err = err.Error()
		} else {
			if t.err != "" || !t.heard {
				ss.log.Printf("INFO mirroring to %s", j.host)
			}
			t.err, t.heard, t.lastOK = "", true, time.Now()
			clear(t.accounts)
			for _, a := range rep {
				t.accounts[a.ID] = a
			}
			ss.mirroredOut += j.sent
		}
		ss.mu.Unlock()
	}
}

// serve answers the AccountServers, the Agents, other StorageServers and
// the integrity check.
func (ss *storageServer) serve(ctx context.Context, op, from string, body json.RawMessage) (any, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch op {
	case "hello":
		return helloReply{Name: ss.name, GUID: ss.set.GUID, Service: winSS, Role: ss.cfg.role()}, nil
	case "backup":
		var req backupRequest
		if err := decode(op, body, &req); err != nil {
			return nil, err
		}
		rep, err := ss.backupLocked(req)
		if err != nil {
			ss.refused++
			ss.lastRefusal = ss.env.Clock.Now().UTC().Format(time.RFC3339) + " " + err.Error()
			ss.log.Printf("WARN backup of %s refused: %v", req.Name, err)
		}
		return rep, err
	case "mirror":
		var req mirrorRequest
		if err := decode(op, body, &req); err != nil {
			return nil, err
		}
		return ss.mirrorLocked(req)
	case "account-settings":
		var list []accountSetting
		if err := decode(op, body, &list); err != nil {
			return nil, err
		}
		for _, a := range list {
			ss.accounts[a.ID] = a
		}
		var x accountSettingsXML
		for _, a := range ss.accounts {
			x.Accounts = append(x.Accounts, a)
		}
		sort.Slice(x.Accounts, func(i, j int) bool { return x.Accounts[i].ID < x.Accounts[j].ID })
		if err := writeXMLFile(ss.acctPath, "SIMULATED Redstor StorageServer: account settings synced by the AccountServer (vigil sim)", x); err != nil {
			return nil, err
		}
		ss.log.Printf("INFO settings of %d accounts synced from %s", len(list), from)
		return nil, nil
	case "integrity-check":
		return ss.integrityLocked(), nil
	}
	return nil, fmt.Errorf("unknown operation %q", op)
}

// backupLocked takes an Agent's backup, if this server is the account's
// StorageServer by the account's synced settings. Whatever of the account's
// earlier backups is missing here (mirroring had not finished when this
// server was promoted) is requested again, and comes with this backup.
func (ss *storageServer) backupLocked(req backupRequest) (backupReply, error) {
	if role := ss.cfg.role(); role != roleStorage {
		return backupReply{}, fmt.Errorf("%s is %s, not a StorageServer: it takes no backups", ss.name, map[string]string{roleMirror: "a MirrorServer", roleUnassigned: "not in the Storage Platform"}[role])
	}
	a, ok := ss.accounts[req.Account]
	if !ok {
		return backupReply{}, fmt.Errorf("account %d (%s) is not known on %s: its settings were never synced here (drop %s on the Master AccountServer)", req.Account, req.Name, ss.name, taskUpdateSS)
	}
	for _, g := range []string{a.HomeServerGUID, req.HomeServerGUID} {
		if !strings.EqualFold(g, ss.set.GUID) {
			return backupReply{}, fmt.Errorf("account %d (%s) has HomeServerGUID %s, not this server's ServerGuid %s (drop %s on the Master AccountServer)", req.Account, req.Name, g, ss.set.GUID, taskUpdateSS)
		}
	}
	now := ss.env.Clock.Now()
	s := ss.store[req.Account]
	if s == nil {
		s = &storedAccount{ID: req.Account}
		ss.store[req.Account] = s
	}
	if req.Seq < s.Seq || (req.Seq == s.Seq && s.Bytes >= req.Total) {
		return backupReply{UpToDate: true}, nil
	}
	rep := backupReply{Transferred: max(0, req.Total-s.Bytes), Resent: max(0, agentTotal(req.Account, s.Seq)-s.Bytes)}
	if rep.Resent > 0 {
		ss.log.Printf("INFO account %d (%s): %s of backup #%d was missing here (mirroring had not finished); the Agent resent it with backup #%d",
			req.Account, req.Name, gib(rep.Resent), s.Seq, req.Seq)
	}
	*s = storedAccount{ID: req.Account, Seq: req.Seq, Bytes: req.Total, At: now}
	ss.received++
	ss.dirty = true
	return rep, nil
}

// mirrorLocked takes a StorageServer's data as its MirrorServer.
func (ss *storageServer) mirrorLocked(req mirrorRequest) ([]storedAccount, error) {
	switch ss.cfg.role() {
	case roleStorage:
		return nil, fmt.Errorf("%s is a StorageServer now; it takes no mirror data from %s (configure %s not to mirror to it)", ss.name, req.Source, req.Source)
	case roleUnassigned:
		return nil, fmt.Errorf("%s is not in the Storage Platform; it takes no mirror data from %s", ss.name, req.Source)
	}
	for _, u := range req.Accounts {
		if u.Seq < 0 || u.Bytes < 0 {
			return nil, fmt.Errorf("mirror data from %s: account %d has a negative backup number or size", req.Source, u.ID)
		}
		old := ss.store[u.ID]
		if old == nil {
			old = &storedAccount{ID: u.ID}
			ss.store[u.ID] = old
		}
		if u.Seq < old.Seq {
			ss.log.Printf("WARN account %d: backup #%d here replaced by older backup #%d mirrored from %s", u.ID, old.Seq, u.Seq, req.Source)
		}
		ss.mirroredIn += max(0, u.Bytes-old.Bytes)
		*old = u
		ss.dirty = true
	}
	out := make([]storedAccount, 0, len(ss.store))
	for _, id := range ss.ids() {
		out = append(out, *ss.store[id])
	}
	return out, nil
}

// integrityReport is the result of an integrity check.
type integrityReport struct {
	Report     string `json:"report"`
	Accounts   int    `json:"accounts"`
	Incomplete int    `json:"incomplete"`
}

// integrityLocked checks each backup account's data: a backup whose files
// are not all here (a mirror that had not finished) is incomplete, and the
// Agent resends what is missing with its next backup.
func (ss *storageServer) integrityLocked() integrityReport {
	var b strings.Builder
	r := integrityReport{Accounts: len(ss.store)}
	fmt.Fprintf(&b, "Integrity check of %s (%s, ServerGuid %s), %d backup accounts:\n", ss.name, ss.cfg.role(), ss.set.GUID, len(ss.store))
	for _, id := range ss.ids() {
		s := ss.store[id]
		name := ss.accounts[id].Name
		if name == "" {
			name = "-"
		}
		want := agentTotal(id, s.Seq)
		if s.Bytes < want {
			r.Incomplete++
			fmt.Fprintf(&b, "  account %d (%s): INCOMPLETE: backup #%d has %s of %s; the missing files are requested from the Agent with its next backup\n",
				id, name, s.Seq, gib(s.Bytes), gib(want))
			continue
		}
		fmt.Fprintf(&b, "  account %d (%s): OK: backup #%d complete, %s\n", id, name, s.Seq, gib(s.Bytes))
	}
	fmt.Fprintf(&b, "%d of %d accounts complete.\n", r.Accounts-r.Incomplete, r.Accounts)
	r.Report = b.String()
	ss.log.Printf("INFO integrity check: %d of %d accounts complete", r.Accounts-r.Incomplete, r.Accounts)
	return r
}

func (ss *storageServer) writeDiagnostics() error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.env.Clock.Now()
	role := ss.cfg.role()
	homed, incomplete := 0, 0
	for _, a := range ss.accounts {
		if strings.EqualFold(a.HomeServerGUID, ss.set.GUID) {
			homed++
		}
	}
	var stored int64
	for _, id := range ss.ids() {
		s := ss.store[id]
		stored += s.Bytes
		if s.Bytes < agentTotal(id, s.Seq) {
			incomplete++
		}
	}
	target, state, progress, lagBytes, lagSecs := "", "", "", "", ""
	var enabled []spMirror
	for _, m := range ss.cfg.Mirrors {
		if m.Enabled && m.Host != ss.name {
			enabled = append(enabled, m)
		}
	}
	switch {
	case role != roleStorage:
		state = "not mirroring: this server is " + map[string]string{roleMirror: "a MirrorServer", roleUnassigned: "not in the Storage Platform"}[role]
	case !ss.set.Mirroring:
		state = "disabled on this server (Settings.xml Mirroring False)"
	case len(enabled) == 0 && len(ss.cfg.Mirrors) > 0:
		state = "disabled in the Storage Platform"
	case len(enabled) == 0:
		state = "no MirrorServer"
	default:
		m := enabled[0]
		target = m.Host
		t := ss.targets[m.Host]
		switch {
		case t == nil || !t.heard:
			state = "connecting to " + m.Host
			if t != nil && t.err != "" {
				state = "MirrorServer unreachable: " + t.err
			}
		default:
			var mirrored int64
			var lag time.Duration
			for _, id := range ss.ids() {
				s := ss.store[id]
				h := t.accounts[id]
				mirrored += min(h.Bytes, s.Bytes)
				if h.Seq != s.Seq || h.Bytes != s.Bytes {
					// Behind since the first backup it lacks reached this
					// server: the one after the mirror's copy, or the
					// newest when the mirror has none.
					since := s.At
					if !h.At.IsZero() && h.Seq < s.Seq {
						if next := h.At.Add(backupInterval); next.Before(since) {
							since = next
						}
					}
					lag = max(lag, now.Sub(since))
				}
			}
			state = "up to date"
			if mirrored < stored || lag > 0 {
				state = "mirroring"
			}
			if t.err != "" {
				state = "MirrorServer unreachable: " + t.err
			}
			pct := 100.0
			if stored > 0 {
				pct = float64(mirrored) * 100 / float64(stored)
			}
			if pct > 99.95 && mirrored < stored {
				pct = 99.9 // never round an unfinished mirror up to done
			}
			progress = fmt.Sprintf("%.1f", pct)
			lagBytes = fmt.Sprint(stored - mirrored)
			lagSecs = fmt.Sprint(int64(lag.Seconds()))
		}
	}
	return ss.diag.write([][2]string{
		{"ServerGuid", ss.set.GUID},
		{"Role", role},
		{"AccountServer", ss.cfg.AccountServer},
		{"ConfigurationNote", ss.cfgNote},
		{"SettingsError", ss.setErr},
		{"AccountsHomed", fmt.Sprint(homed)},
		{"StoredBytes", fmt.Sprint(stored)},
		{"IncompleteAccounts", fmt.Sprint(incomplete)},
		{"BackupsReceived", fmt.Sprint(ss.received)},
		{"BackupsRefused", fmt.Sprint(ss.refused)},
		{"LastRefusal", ss.lastRefusal},
		{"MirrorTarget", target},
		{"MirrorState", state},
		{"MirrorProgress", progress},
		{"MirrorLagBytes", lagBytes},
		{"MirrorLagSeconds", lagSecs},
		{"MirroredBytes", fmt.Sprint(ss.mirroredOut)},
		{"MirrorDataReceived", fmt.Sprint(ss.mirroredIn)},
	})
}
