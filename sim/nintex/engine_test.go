package nintex

// Unit tests of the simulated database engine and of the decoders of what
// the simulation reads from disk. The behaviour an operator sees is tested
// through the agents' API in nintex_test.go.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/agent"
	"github.com/vigilops/vigil/sim"
)

// fakeClock is simulated time the test sets.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func (c *fakeClock) at(sec int) { c.t = time.Date(2024, 5, 1, 10, 0, sec, 0, time.UTC) }

func must(t *testing.T, r response) response {
	t.Helper()
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	return r
}

func mustFail(t *testing.T, r response, msg string) {
	t.Helper()
	if !strings.Contains(r.Error, msg) {
		t.Fatalf("want an error with %q, got %+v", msg, r)
	}
}

func rows(t *testing.T, e *engine, db, q string) string {
	t.Helper()
	r := must(t, e.execute(nil, db, []string{q}))
	var b strings.Builder
	for _, row := range r.Rows {
		b.WriteString(strings.Join(row, ","))
		b.WriteString(";")
	}
	return b.String()
}

func stmt(format string, args ...any) []string { return []string{fmt.Sprintf(format, args...)} }

// TestPointInTimeRecovery ships logs from one engine to another, recovers
// to a point inside the last log, and checks what SQL Server refuses.
func TestPointInTimeRecovery(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{}
	clk.at(0)
	names := []string{"K2"}
	prod := newEngine(clk, "P", filepath.Join(dir, "P"), names, []string{dir}, nil)
	defer prod.closeAll()
	if err := prod.createDatabase("K2", licenseStatements("P", "Production")); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(dir, "K2_FULL.bak")
	clk.at(1)
	must(t, prod.execute(nil, "master", stmt("BACKUP DATABASE [K2] TO DISK = N'%s'", full)))

	dr := newEngine(clk, "D", filepath.Join(dir, "D"), names, []string{dir}, nil)
	defer dr.closeAll()
	dr.openAll()
	if st := dr.status()[0].state; st != stateRecoveryPending {
		t.Fatalf("a missing data file: state %s", st)
	}
	must(t, dr.execute(nil, "master", stmt("RESTORE DATABASE [K2] FROM DISK = N'%s' WITH NORECOVERY", full)))
	mustFail(t, dr.execute(nil, "K2", stmt("SELECT Name FROM [Server].[Server]")), "Msg 927")

	insert := func(sec int, folio string) {
		clk.at(sec)
		must(t, prod.execute(nil, "K2", stmt("INSERT INTO [Server].[ProcInst] (Folio, Status, Server, StartDate) VALUES ('%s', 'Active', 'P', 'x')", folio)))
	}
	insert(2, "A")
	clk.at(3)
	l1 := filepath.Join(dir, "l1.trn")
	must(t, prod.execute(nil, "master", stmt("BACKUP LOG [K2] TO DISK = N'%s'", l1)))
	insert(4, "B")
	insert(6, "C")
	clk.at(7)
	l2 := filepath.Join(dir, "l2.trn")
	must(t, prod.execute(nil, "master", stmt("BACKUP LOG [K2] TO DISK = N'%s' WITH NORECOVERY", l2)))
	if st := prod.status()[0].state; st != stateRestoring {
		t.Fatalf("after a tail-log backup the source is %s", st)
	}

	mustFail(t, dr.execute(nil, "master", stmt("RESTORE LOG [K2] FROM DISK = N'%s' WITH NORECOVERY", l2)), "Msg 4305")
	must(t, dr.execute(nil, "master", stmt("RESTORE LOG [K2] FROM DISK = N'%s' WITH NORECOVERY", l1)))
	mustFail(t, dr.execute(nil, "master", stmt("RESTORE LOG [K2] FROM DISK = N'%s' WITH NORECOVERY", l1)), "Msg 4326")
	mustFail(t, dr.execute(nil, "master", stmt("RESTORE LOG [K2] FROM DISK = N'%s' WITH RECOVERY, STOPAT = '2024-05-01T10:00:02Z'", l2)), "Msg 4335")
	r := must(t, dr.execute(nil, "master", stmt("RESTORE LOG [K2] FROM DISK = N'%s' WITH RECOVERY, STOPAT = '2024-05-01T10:00:05Z'", l2)))
	t.Log(r.Messages)
	if got := rows(t, dr, "K2", "SELECT Folio FROM [Server].[ProcInst] ORDER BY ID"); got != "A;B;" {
		t.Fatalf("recovered to 10:00:05: rows %q, want A and B", got)
	}
	if got := dr.status()[0].info.RestoredTo; got != clk.t.Add(-2*time.Second).UnixMilli() {
		t.Fatalf("restored to %s", fmtTime(got))
	}
	if got := rows(t, dr, "K2", "SELECT Name FROM [Server].[Server]"); got != "P;" {
		t.Fatalf("the production licensing travels with the data: %q", got)
	}
	mustFail(t, dr.execute(nil, "K2", stmt("SELECT * FROM sys_database")), "Msg 229")
	mustFail(t, dr.execute(nil, "K2", stmt("DROP TABLE [Server].[Server]")), "Msg 156")

	// The recovered copy forked before C: its logs cannot continue the old
	// production copy, which holds C.
	clk.at(8)
	must(t, dr.execute(nil, "K2", licenseStatements("D", "Disaster Recovery")))
	clk.at(9)
	l3 := filepath.Join(dir, "l3.trn")
	must(t, dr.execute(nil, "master", stmt("BACKUP LOG [K2] TO DISK = N'%s' WITH NORECOVERY", l3)))
	mustFail(t, prod.execute(nil, "master", stmt("RESTORE LOG [K2] FROM DISK = N'%s' WITH RECOVERY", l3)), "Msg 3116")
}

// TestReverseLogShipping recovers a copy to the end of the tail and ships
// the new fork's logs back to the source, which stands exactly at the fork.
func TestReverseLogShipping(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{}
	clk.at(0)
	a := newEngine(clk, "A", filepath.Join(dir, "A"), []string{"K2"}, []string{dir}, nil)
	defer a.closeAll()
	b := newEngine(clk, "B", filepath.Join(dir, "B"), []string{"K2"}, []string{dir}, nil)
	defer b.closeAll()
	if err := a.createDatabase("K2", nil); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(dir, "full.bak")
	must(t, a.execute(nil, "master", stmt("BACKUP DATABASE [K2] TO DISK = N'%s'", full)))
	b.openAll()
	must(t, b.execute(nil, "master", stmt("RESTORE DATABASE [K2] FROM DISK = N'%s' WITH NORECOVERY", full)))
	clk.at(2)
	must(t, a.execute(nil, "K2", stmt("INSERT INTO [Server].[Server] (Name) VALUES ('x')")))
	clk.at(3)
	tail := filepath.Join(dir, "tail.trn")
	must(t, a.execute(nil, "master", stmt("BACKUP LOG [K2] TO DISK = N'%s' WITH NORECOVERY", tail)))
	must(t, b.execute(nil, "master", stmt("RESTORE LOG [K2] FROM DISK = N'%s' WITH RECOVERY", tail)))
	clk.at(4)
	must(t, b.execute(nil, "K2", stmt("INSERT INTO [Server].[Server] (Name) VALUES ('y')")))
	clk.at(5)
	back := filepath.Join(dir, "back.trn")
	must(t, b.execute(nil, "master", stmt("BACKUP LOG [K2] TO DISK = N'%s'", back)))
	must(t, a.execute(nil, "master", stmt("RESTORE LOG [K2] FROM DISK = N'%s' WITH RECOVERY", back)))
	if got := rows(t, a, "K2", "SELECT Name FROM [Server].[Server] ORDER BY ID"); got != "x;y;" {
		t.Fatalf("after reverse log shipping: %q", got)
	}
}

// TestRestoreRefusals covers a database in use and damaged backups.
func TestRestoreRefusals(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{}
	clk.at(0)
	e := newEngine(clk, "A", filepath.Join(dir, "A"), []string{"K2"}, []string{dir}, nil)
	defer e.closeAll()
	if err := e.createDatabase("K2", nil); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(dir, "full.bak")
	must(t, e.execute(nil, "master", stmt("BACKUP DATABASE [K2] TO DISK = N'%s'", full)))
	k2 := &session{app: k2App, host: "A", used: map[string]bool{}}
	e.addSession(k2)
	must(t, e.execute(k2, "K2", stmt("SELECT COUNT(*) FROM [Server].[Server]")))
	mustFail(t, e.execute(nil, "master", stmt("RESTORE DATABASE [K2] FROM DISK = N'%s' WITH NORECOVERY, REPLACE", full)), "Msg 3101")
	e.removeSession(k2)
	mustFail(t, e.execute(nil, "master", stmt("RESTORE DATABASE [K2] FROM DISK = N'%s' WITH NORECOVERY", full)), "Msg 3159")
	bad := filepath.Join(dir, "bad.bak")
	os.WriteFile(bad, []byte("not a database"), 0o644)
	mustFail(t, e.execute(nil, "master", stmt("RESTORE DATABASE [K2] FROM DISK = N'%s' WITH NORECOVERY, REPLACE", bad)), "Msg 3241")
	mustFail(t, e.execute(nil, "master", stmt("BACKUP LOG [K2] TO DISK = N'/elsewhere/x.trn'")), "Msg 3201")
	mustFail(t, e.execute(nil, "master", stmt("BACKUP LOG [K2] TO DISK = N'%s' WITH MOVE", filepath.Join(dir, "x.trn"))), "Msg 155")
	if rows(t, e, "K2", "SELECT COUNT(*) FROM [Server].[Server]") != "0;" {
		t.Fatal("a refused restore changed the database")
	}

	// A damaged data file makes the database SUSPECT, with the file named.
	e.closeAll()
	os.WriteFile(filepath.Join(dir, "A", "K2.db"), []byte("garbage"), 0o644)
	os.Remove(filepath.Join(dir, "A", "K2.db-wal"))
	os.Remove(filepath.Join(dir, "A", "K2.db-shm"))
	e.openAll()
	st := e.status()[0]
	if st.state != stateSuspect || !strings.Contains(st.err.Error(), "K2.db") {
		t.Fatalf("damaged data file: %s, %v", st.state, st.err)
	}
}

// validTrn is a log backup file as backupLog writes it.
func validTrn() []byte {
	return []byte(`{"format":"vigil-sim-trn/1","database":"K2","server":"P","fork":"f","parent_fork":"","fork_lsn":0,"first_lsn":3,"last_lsn":4,"start":1,"end":2,"tail":false}
{"lsn":3,"t":1,"sql":"DELETE FROM \"Server.Server\""}
{"lsn":4,"t":2,"sql":"DELETE FROM \"Server.Server\""}
`)
}

func TestDecodeTrn(t *testing.T) {
	if _, recs, err := decodeTrn("x.trn", bytes.NewReader(validTrn())); err != nil || len(recs) != 2 {
		t.Fatalf("valid log backup: %v, %d records", err, len(recs))
	}
	for name, doc := range map[string]string{
		"empty":     "",
		"not json":  "hello\n",
		"format":    `{"format":"other","database":"K2","fork":"f","first_lsn":1,"last_lsn":0}` + "\n",
		"gap":       strings.Replace(string(validTrn()), `"lsn":4`, `"lsn":5`, 1),
		"truncated": strings.SplitAfter(string(validTrn()), "\n")[0],
		"range":     strings.Replace(string(validTrn()), `"last_lsn":4`, `"last_lsn":1`, 1),
	} {
		if _, _, err := decodeTrn("x.trn", strings.NewReader(doc)); err == nil || !strings.Contains(err.Error(), "x.trn") {
			t.Errorf("%s: want an error naming the file, got %v", name, err)
		}
	}
}

func FuzzDecodeTrn(f *testing.F) {
	f.Add(validTrn())
	f.Add([]byte("{}\n{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, recs, err := decodeTrn("f.trn", bytes.NewReader(b))
		if err == nil && int64(len(recs)) != h.LastLSN-h.FirstLSN+1 {
			t.Fatalf("accepted %d records for LSNs %d-%d", len(recs), h.FirstLSN, h.LastLSN)
		}
	})
}

func TestParseJobs(t *testing.T) {
	j, err := parseJobs("Jobs.ini", []byte(jobsINI("K2-DR", false)))
	if err != nil {
		t.Fatal(err)
	}
	if j.backup.enabled || !j.restore.enabled || j.restoreDelay != 3*time.Hour || j.acceptedLoss != 4*time.Hour || j.restore.interval != time.Hour {
		t.Fatalf("the DR site's jobs: %+v", j)
	}
	for _, bad := range []struct{ from, to, want string }{
		{"Enabled = 1", "Enabled = maybe", "[K2_LogRestore] Enabled"},
		{"IntervalMinutes = 60\nRestoreDelayMinutes", "IntervalMinutes = 0\nRestoreDelayMinutes", "[K2_LogRestore] IntervalMinutes"},
		{"AcceptedDataLossMinutes = 240", "", "AcceptedDataLossMinutes is missing"},
		{"[LogShipping]", "[LogShipping", "no closing ]"},
	} {
		doc := strings.Replace(jobsINI("K2-DR", false), bad.from, bad.to, 1)
		if _, err := parseJobs("Jobs.ini", []byte(doc)); err == nil || !strings.Contains(err.Error(), bad.want) || !strings.HasPrefix(err.Error(), "Jobs.ini") {
			t.Errorf("%q -> %q: want an error naming Jobs.ini and %q, got %v", bad.from, bad.to, bad.want, err)
		}
	}
}

func FuzzParseJobs(f *testing.F) {
	f.Add([]byte(jobsINI("K2-PROD", true)))
	f.Add([]byte("[a]\nb=c\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if j, err := parseJobs("Jobs.ini", b); err == nil && (j.backup.interval <= 0 || j.restore.interval <= 0) {
			t.Fatalf("accepted a job without an interval: %+v", j)
		}
	})
}

func TestParseLicenseScript(t *testing.T) {
	stmts, err := parseLicenseScript("s.sql", []byte(licenseScript("K2-DR", "now", licenseStatements("K2-DR", "Disaster Recovery"))))
	if err != nil || len(stmts) != 4 {
		t.Fatalf("the recorded script: %v, %d statements", err, len(stmts))
	}
	if _, err := parseLicenseScript("s.sql", []byte("DROP TABLE [Server].[Server];\n")); err == nil || !strings.Contains(err.Error(), "s.sql") {
		t.Fatalf("a script that does more than licensing: %v", err)
	}
	if _, err := parseLicenseScript("s.sql", []byte("-- nothing\n")); err == nil {
		t.Fatal("an empty script was accepted")
	}
}

func FuzzParseLicenseScript(f *testing.F) {
	f.Add([]byte(licenseScript("K2-DR", "now", licenseStatements("K2-DR", "Disaster Recovery"))))
	f.Fuzz(func(t *testing.T, b []byte) {
		stmts, err := parseLicenseScript("s.sql", b)
		for _, s := range stmts {
			if err == nil && !licenseStmtRE.MatchString(s) {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}

func FuzzParseWith(f *testing.F) {
	for _, s := range []string{"NORECOVERY", "RECOVERY, STOPAT = '2024-05-01T13:35:00Z'", "RECOVERY, NORECOVERY", "REPLACE, STATS = 10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if o, err := parseWith(s); err == nil && o.recovery && o.norecovery {
			t.Fatalf("%q: RECOVERY and NORECOVERY together", s)
		}
	})
}

// TestLayout lays the system out twice on one directory: the second time
// keeps the databases, and each member's configuration is one the agent
// accepts.
func TestLayout(t *testing.T) {
	dir := t.TempDir()
	l := &sim.Layout{Dirs: map[string]string{prodServer: filepath.Join(dir, prodServer), drServer: filepath.Join(dir, drServer)},
		Exe: "/usr/bin/vigil", Clock: sim.NewClock(time.Now(), 1)}
	configs, err := layout(l)
	if err != nil {
		t.Fatal(err)
	}
	k2 := filepath.Join(l.Dirs[drServer], "host", "Program Files", "Microsoft SQL Server", "MSSQL", "DATA", "K2.db")
	before, err := os.Stat(k2)
	if err != nil {
		t.Fatal(err)
	}
	if configs, err = layout(l); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(k2)
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("a second layout rewrote the DR database")
	}
	for name, body := range configs {
		header := fmt.Sprintf("name: %s\nsystem: nintex-k2\nprofile: nintex\nlisten: 127.0.0.1:0\nstate_dir: .\n", name)
		cfg, err := agent.ParseConfig(filepath.Join(l.Dirs[name], "agent.yaml"), []byte(header+body))
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, body)
		}
		if len(cfg.Facts) == 0 || len(cfg.Commands) != 8 || cfg.RoleProbe.Service != "sql-server" {
			t.Errorf("%s: %d facts, %d commands, role probe %+v", name, len(cfg.Facts), len(cfg.Commands), cfg.RoleProbe)
		}
	}
}
