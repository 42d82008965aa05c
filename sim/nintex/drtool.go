package nintex

import (
	"context"
	"errors"
	"flag"
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

// The steps of the DR tool: each is one script a DBA would keep for the
// K2 disaster recovery procedure, run as an agent command.
var toolSteps = map[string]string{
	"show-license":    "show the K2 licensing (Server.Server, HostServer.LicenseKey) in this server's K2 database",
	"record-license":  "Prerequisite: record this environment's K2 licensing into ReapplyK2License.sql",
	"apply-license":   "reapply the recorded K2 licensing of this environment (ReapplyK2License.sql)",
	"license-ok":      "check: exit 0 when the K2 database is licensed to this server",
	"full-backup":     "Initial setup: full backups of all K2 databases to the DR share",
	"restore-full":    "Initial setup: restore the partner's newest full backups WITH NORECOVERY",
	"tail-log-backup": "Cutover step 1: back up the tail of the logs WITH NORECOVERY and transmit them",
	"check-restoring": "check: exit 0 when every K2 database is RESTORING",
	"recover":         "Cutover steps 2-3: recover every K2 database to StopAt (DisasterRecovery.ini) and bring it ONLINE",
	"check-online":    "check: exit 0 when every K2 database is ONLINE",
	"test-k2":         "Testing: check the K2 data, the licensing and that this K2 server processes work",
}

type drTool struct {
	env                    *sim.Env
	p                      hostPaths
	out                    io.Writer
	sqlAdr                 string
	server, partner, share string
	dbs                    []string
	c                      *sqlClient
}

func runTool(ctx context.Context, env *sim.Env) error {
	t := &drTool{env: env, out: os.Stdout}
	var step, dbs string
	if err := env.Flags(svcTool, func(fs *flag.FlagSet) {
		fs.StringVar(&step, "step", "", "the `step` to run")
		fs.StringVar(&t.sqlAdr, "sql", "", "this server's SQL Server instance, `HOST:PORT`")
		fs.StringVar(&t.server, "server", "", "this server's `name`")
		fs.StringVar(&t.partner, "partner", "", "the other site's server `name`")
		fs.StringVar(&t.share, "share", "", "the log shipping share `DIR`")
		fs.StringVar(&dbs, "databases", defaultDatabases, "the K2 product and solution `databases`")
	}); err != nil {
		return err
	}
	if _, ok := toolSteps[step]; !ok {
		names := make([]string, 0, len(toolSteps))
		for n := range toolSteps {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("vigil sim %s: --step %q is not a step; expected one of %s", svcTool, step, strings.Join(names, ", "))
	}
	var err error
	if t.dbs, err = checkDatabases(dbs); err != nil {
		return fmt.Errorf("vigil sim %s: %w", svcTool, err)
	}
	if t.sqlAdr == "" || t.server == "" || t.partner == "" || t.share == "" {
		return fmt.Errorf("vigil sim %s: --sql, --server, --partner and --share are required", svcTool)
	}
	t.p = pathsOf(env.Host)
	fmt.Fprintf(t.out, "K2 disaster recovery script on %s (simulated by Vigil): %s\n", t.server, toolSteps[step])
	if t.c, err = dialSQL(ctx, t.sqlAdr, "K2 DR script", t.server); err != nil {
		return err
	}
	defer t.c.Close()
	switch step {
	case "show-license":
		return t.showLicense()
	case "record-license":
		return t.recordLicense()
	case "apply-license":
		return t.applyLicense()
	case "license-ok":
		return t.licenseOK()
	case "full-backup":
		return t.fullBackup()
	case "restore-full":
		return t.restoreFull()
	case "tail-log-backup":
		return t.tailLogBackup()
	case "check-restoring":
		return t.checkAll(stateRestoring)
	case "recover":
		return t.recover()
	case "check-online":
		return t.checkAll(stateOnline)
	case "test-k2":
		return t.testK2()
	}
	return nil
}

func (t *drTool) printf(format string, args ...any) { fmt.Fprintf(t.out, format+"\n", args...) }

// run sends one statement and prints what SQL Server says.
func (t *drTool) run(db, stmt string) (response, error) {
	t.printf("> %s", stmt)
	r, err := t.c.exec(db, stmt)
	for _, m := range r.Messages {
		t.printf("  %s", m)
	}
	if err != nil {
		t.printf("  %v", err)
	}
	return r, err
}

func (t *drTool) states() (map[string]map[string]string, error) {
	rows, err := t.c.databases()
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, r := range rows {
		out[r["name"]] = r
	}
	for _, db := range t.dbs {
		if out[db] == nil {
			return nil, fmt.Errorf("database %s does not exist on this instance", db)
		}
	}
	return out, nil
}

func (t *drTool) printTable(r response) {
	t.printf("  %s", strings.Join(r.Columns, " | "))
	for _, row := range r.Rows {
		t.printf("  %s", strings.Join(row, " | "))
	}
	t.printf("  (%d rows)", len(r.Rows))
}

func (t *drTool) showLicense() error {
	for _, q := range []string{`SELECT ID, Name, Description FROM [Server].[Server] ORDER BY ID`,
		`SELECT ID, ServerName, LicenseKey, Environment FROM [HostServer].[LicenseKey] ORDER BY ID`} {
		r, err := t.run("K2", q)
		if err != nil {
			return err
		}
		t.printTable(r)
	}
	return t.licenseSummary()
}

// licenseSummary says whom the K2 database is licensed to; an error when
// that is not this server.
func (t *drTool) licenseSummary() error {
	l, err := readLicense(func(stmt string) (response, error) { return t.c.exec("K2", stmt) })
	if err != nil {
		return err
	}
	if !l.validFor(t.server) {
		return fmt.Errorf("the K2 database is licensed for %s (Server.Server: %s), not for this server %s",
			orNone(strings.Join(l.licensedTo, ",")), orNone(strings.Join(l.servers, ",")), t.server)
	}
	t.printf("The K2 database is licensed for this server, %s.", t.server)
	return nil
}

func (t *drTool) licenseOK() error {
	st, err := t.states()
	if err != nil {
		return err
	}
	if st["K2"]["state_desc"] != stateOnline {
		return fmt.Errorf("the K2 database is %s; its licensing cannot be read", st["K2"]["state_desc"])
	}
	return t.licenseSummary()
}

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// recordLicense writes the script that reapplies this environment's
// licensing during a disaster recovery (the Prerequisite section).
func (t *drTool) recordLicense() error {
	a, err := t.run("K2", `SELECT ID, Name, Description FROM [Server].[Server] ORDER BY ID`)
	if err != nil {
		if strings.Contains(err.Error(), "Msg 927") {
			return fmt.Errorf("the K2 database on %s is RESTORING, so it holds the other site's data; record this environment's licensing before restoring the production backups, or after recovering and reapplying it", t.server)
		}
		return err
	}
	b, err := t.run("K2", `SELECT ID, ServerName, LicenseKey, Environment FROM [HostServer].[LicenseKey] ORDER BY ID`)
	if err != nil {
		return err
	}
	l, err := readLicense(func(stmt string) (response, error) { return t.c.exec("K2", stmt) })
	if err != nil {
		return err
	}
	if !l.validFor(t.server) {
		// After a restore across environments the tables hold the other
		// site's license; recording that would lose this site's.
		return fmt.Errorf("the K2 database holds the licensing of %s, not of this server %s; %s was left unchanged",
			orNone(strings.Join(l.licensedTo, ",")), t.server, t.p.licenseFile())
	}
	stmts := []string{`DELETE FROM [Server].[Server]`}
	for _, r := range a.Rows {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO [Server].[Server] (ID, Name, Description) VALUES (%s, %s, %s)`, r[0], sqlQuote(r[1]), sqlQuote(r[2])))
	}
	stmts = append(stmts, `DELETE FROM [HostServer].[LicenseKey]`)
	for _, r := range b.Rows {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO [HostServer].[LicenseKey] (ID, ServerName, LicenseKey, Environment) VALUES (%s, %s, %s, %s)`,
			r[0], sqlQuote(r[1]), sqlQuote(r[2]), sqlQuote(r[3])))
	}
	script := licenseScript(t.server, fmtTime(t.env.Clock.Now().UnixMilli()), stmts)
	if err := writeFileAtomic(t.p.licenseFile(), func(w io.Writer) error { _, err := io.WriteString(w, script); return err }); err != nil {
		return fmt.Errorf("write %s: %w", t.p.licenseFile(), err)
	}
	t.printf("Recorded %d Server.Server and %d HostServer.LicenseKey rows into %s.", len(a.Rows), len(b.Rows), t.p.licenseFile())
	return nil
}

// applyLicense runs the recorded license script against the K2 database.
func (t *drTool) applyLicense() error {
	data, err := os.ReadFile(t.p.licenseFile())
	if err != nil {
		return fmt.Errorf("the license script: %w; record it first (record-license) while this site's K2 database holds its own licensing", err)
	}
	stmts, err := parseLicenseScript(t.p.licenseFile(), data)
	if err != nil {
		return err
	}
	t.printf("> %s (%d statements)", t.p.licenseFile(), len(stmts))
	r, err := t.c.exec("K2", stmts...)
	for _, m := range r.Messages {
		t.printf("  %s", m)
	}
	if err != nil {
		return err
	}
	return t.licenseSummary()
}

func (t *drTool) checkAll(want string) error {
	st, err := t.states()
	if err != nil {
		return err
	}
	var off []string
	for _, db := range t.dbs {
		if s := st[db]["state_desc"]; s != want {
			off = append(off, db+" is "+s)
		}
	}
	if len(off) > 0 {
		return fmt.Errorf("not every K2 database is %s: %s", want, strings.Join(off, ", "))
	}
	t.printf("Every K2 database (%s) is %s.", strings.Join(t.dbs, ", "), want)
	return nil
}

// fullBackup writes full backups of every database to this server's
// folder on the DR share (the Initial Setup section, and a failback).
func (t *drTool) fullBackup() error {
	now := t.env.Clock.Now()
	dir := fullDir(t.share, t.server)
	for _, db := range t.dbs {
		path := filepath.Join(dir, db+"_FULL_"+stamp(now)+".bak")
		if _, err := t.run("master", fmt.Sprintf("BACKUP DATABASE [%s] TO DISK = N'%s' WITH COMPRESSION, INIT", db, quotePath(path))); err != nil {
			return err
		}
		pruneFull(dir, db, 2)
	}
	t.printf("Full backups of %s are on the share at %s; restore them at the other site WITH NORECOVERY (restore-full).", strings.Join(t.dbs, ", "), dir)
	return nil
}

// fullBackups lists db's full backups in dir, newest last.
func fullBackups(dir, db string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, db+"_FULL_*.bak"))
	sort.Strings(m)
	return m
}

func pruneFull(dir, db string, keep int) {
	m := fullBackups(dir, db)
	for len(m) > keep {
		os.Remove(m[0])
		m = m[1:]
	}
}

// restoreFull restores the partner's newest full backups WITH NORECOVERY,
// making this server a log shipping secondary of the partner.
func (t *drTool) restoreFull() error {
	dir := fullDir(t.share, t.partner)
	paths := map[string]string{}
	for _, db := range t.dbs {
		m := fullBackups(dir, db)
		if len(m) == 0 {
			return fmt.Errorf("no full backup of %s from %s in %s; take one there first (full-backup)", db, t.partner, dir)
		}
		paths[db] = m[len(m)-1]
	}
	for _, db := range t.dbs {
		if _, err := t.run("master", fmt.Sprintf("RESTORE DATABASE [%s] FROM DISK = N'%s' WITH NORECOVERY, REPLACE", db, quotePath(paths[db]))); err != nil {
			return err
		}
	}
	t.printf("Every K2 database is RESTORING from %s's full backups; enable the log restore job to keep it current.", t.partner)
	return nil
}

// tailLogBackup backs up the tail of every database's log WITH NORECOVERY
// and copies it to the share (cutover step 1, "if possible").
func (t *drTool) tailLogBackup() error {
	st, err := t.states()
	if err != nil {
		return err
	}
	var failed []string
	for _, db := range t.dbs {
		if s := st[db]["state_desc"]; s != stateOnline {
			t.printf("%s is %s: its log cannot be backed up here; skipped.", db, s)
			if s != stateRestoring {
				failed = append(failed, db)
			}
			continue
		}
		name := trnName(db, t.env.Clock.Now(), true)
		local := filepath.Join(t.p.backup, name)
		if _, err := t.run("master", fmt.Sprintf("BACKUP LOG [%s] TO DISK = N'%s' WITH NORECOVERY, NO_TRUNCATE", db, quotePath(local))); err != nil {
			failed = append(failed, db)
			continue
		}
		dst := filepath.Join(shipDir(t.share, t.server), name)
		if err := copyFile(local, dst); err != nil {
			t.printf("  transmitting %s to the DR share failed: %v", name, err)
			failed = append(failed, db)
			continue
		}
		t.printf("  transmitted to %s", dst)
	}
	if len(failed) > 0 {
		return fmt.Errorf("the tail-log backup failed for %s", strings.Join(failed, ", "))
	}
	return nil
}

// recoveryStep is one statement of a recovery plan.
type recoveryStep struct {
	stmt string
	file *trnFile // the log backup it applies, archived once applied
}

// recover restores the queued log backups of every database up to the
// same point in time and recovers them (cutover steps 2 and 3). It plans
// every database first, and changes nothing unless all can reach it.
func (t *drTool) recover() error {
	ini, err := readINI(t.p.drFile())
	if err != nil {
		return fmt.Errorf("the cutover settings: %w", err)
	}
	raw, _ := ini.get("Recovery", "StopAt")
	raw = strings.TrimSpace(raw)
	latest := strings.EqualFold(raw, "LATEST")
	var stopAt int64
	switch {
	case raw == "":
		return fmt.Errorf("%s: [Recovery] StopAt is empty; set it to the time of the disaster minus 2 hours (e.g. 2024-05-01T13:35:00Z), or LATEST", t.p.drFile())
	case !latest:
		at, err := parseTime(raw)
		if err != nil {
			return fmt.Errorf("%s: [Recovery] StopAt: %v", t.p.drFile(), err)
		}
		stopAt = at.UnixMilli()
	}
	st, err := t.states()
	if err != nil {
		return err
	}
	files, problems := listTrn(shipDir(t.share, t.partner), nil)
	for _, p := range problems {
		t.printf("warning: %s", p)
	}
	infos := map[string]dbInfo{}
	for _, db := range t.dbs {
		row := st[db]
		if row["state_desc"] != stateRestoring {
			return fmt.Errorf("%s is %s, not RESTORING: there is nothing to recover (is this the DR site?)", db, row["state_desc"])
		}
		infos[db] = infoOfRow(row)
	}
	if latest {
		t.printf("StopAt LATEST: every database is recovered to the end of its last log backup shipped from %s.", t.partner)
	}
	plans := map[string][]recoveryStep{}
	for _, db := range t.dbs {
		plan, err := planRecovery(infos[db], files, stopAt)
		if err != nil {
			return fmt.Errorf("%s: %w; nothing was changed", db, err)
		}
		plans[db] = plan
	}
	target := fmtTime(stopAt)
	if latest {
		target = "the end of their logs"
	}
	t.printf("Recovering %s to %s from the log backups shipped from %s.", strings.Join(t.dbs, ", "), target, t.partner)
	for _, db := range t.dbs {
		for _, f := range files {
			if f.h.Database == db && fitOf(infos[db], f.h) == fitApplied {
				archive(f)
			}
		}
		for _, s := range plans[db] {
			if _, err := t.run("master", s.stmt); err != nil {
				return fmt.Errorf("recovering %s: %w", db, err)
			}
			if s.file != nil {
				if err := archive(*s.file); err != nil {
					t.printf("  archiving %s failed: %v", filepath.Base(s.file.path), err)
				}
			}
		}
	}
	if err := t.checkAll(stateOnline); err != nil {
		return err
	}
	st, err = t.states()
	if err != nil {
		return err
	}
	for _, db := range t.dbs {
		t.printf("%s is recovered to %s.", db, fmtTime(infoOfRow(st[db]).RestoredTo))
	}
	t.printf("Next: reapply this environment's K2 licensing (apply-license), start the K2 service, repoint the clients.")
	return nil
}

// infoOfRow reads a sys.databases row.
func infoOfRow(r map[string]string) dbInfo {
	n := func(k string) int64 { v, _ := strconv.ParseInt(r[k], 10, 64); return v }
	return dbInfo{Name: r["name"], State: r["state_desc"], Fork: r["fork"], ParentFork: r["parent_fork"],
		ForkLSN: n("fork_lsn"), LastLSN: n("last_lsn"), RestoredTo: n("restored_to"), LastRestoredFile: r["last_restored_file"]}
}

// planRecovery is the RESTORE statements that take a RESTORING database to
// stopAt, or with stopAt 0 to the end of its log chain, and recover it.
func planRecovery(info dbInfo, files []trnFile, stopAt int64) ([]recoveryStep, error) {
	if stopAt != 0 && stopAt < info.RestoredTo {
		return nil, fmt.Errorf("StopAt %s is too early: the database is already restored to %s; restore its full backup again to go back further",
			fmtTime(stopAt), fmtTime(info.RestoredTo))
	}
	if stopAt != 0 && stopAt == info.RestoredTo {
		return []recoveryStep{{stmt: fmt.Sprintf("RESTORE DATABASE [%s] WITH RECOVERY", info.Name)}}, nil
	}
	var plan []recoveryStep
	for i := range files {
		f := files[i]
		if f.h.Database != info.Name {
			continue
		}
		fit := fitOf(info, f.h)
		if fit == fitApplied || fit == fitOtherPath {
			continue
		}
		if fit == fitTooRecent {
			if stopAt == 0 {
				break
			}
			return nil, fmt.Errorf("the log chain breaks before %s: it needs LSN %d next; StopAt must be at most %s",
				filepath.Base(f.path), info.LastLSN+1, fmtTime(info.RestoredTo))
		}
		quoted := quotePath(f.path)
		if stopAt != 0 && f.h.End >= stopAt {
			plan = append(plan, recoveryStep{file: &f, stmt: fmt.Sprintf("RESTORE LOG [%s] FROM DISK = N'%s' WITH RECOVERY, STOPAT = '%s'",
				info.Name, quoted, time.UnixMilli(stopAt).UTC().Format("2006-01-02T15:04:05.000"))})
			return plan, nil
		}
		plan = append(plan, recoveryStep{file: &f, stmt: fmt.Sprintf("RESTORE LOG [%s] FROM DISK = N'%s' WITH NORECOVERY", info.Name, quoted)})
		info.Fork, info.ParentFork, info.ForkLSN = f.h.Fork, f.h.ParentFork, f.h.ForkLSN
		info.LastLSN, info.RestoredTo = max(info.LastLSN, f.h.LastLSN), f.h.End
	}
	if stopAt == 0 {
		return append(plan, recoveryStep{stmt: fmt.Sprintf("RESTORE DATABASE [%s] WITH RECOVERY", info.Name)}), nil
	}
	return nil, fmt.Errorf("no shipped log backup reaches StopAt %s: they end at %s; transmit the tail-log backup, or choose an earlier StopAt",
		fmtTime(stopAt), fmtTime(info.RestoredTo))
}

// testK2 checks what the Testing section asks: the data is there, the
// licensing is this server's, and K2 processes work here.
func (t *drTool) testK2() error {
	if err := t.checkAll(stateOnline); err != nil {
		return err
	}
	if err := t.licenseSummary(); err != nil {
		return err
	}
	since := t.env.Clock.Now().Add(-time.Hour).UTC().Format(dateLayout)
	r, err := t.run("K2", fmt.Sprintf(`SELECT COUNT(*), SUM(CASE WHEN Server = %s AND StartDate >= '%s' THEN 1 ELSE 0 END) FROM [Server].[ProcInst]`,
		sqlQuote(t.server), since))
	if err != nil {
		return err
	}
	if len(r.Rows) != 1 || len(r.Rows[0]) != 2 {
		return errors.New("unexpected answer counting process instances")
	}
	total, recent := r.Rows[0][0], r.Rows[0][1]
	t.printf("Process instances: %s in all, %s started by %s in the last hour.", total, recent, t.server)
	if len(t.dbs) > 1 {
		if r, err := t.run(t.dbs[1], `SELECT COUNT(*) FROM [dbo].[Request]`); err == nil && len(r.Rows) == 1 {
			t.printf("Solution requests: %s.", r.Rows[0][0])
		}
	}
	if n, _ := strconv.Atoi(recent); n == 0 {
		return fmt.Errorf("%s has started no process instance in the last hour: is the K2 service running, and do the clients connect to it?", t.server)
	}
	t.printf("K2 processes and data test passed on %s.", t.server)
	return nil
}
