package nintex

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/vigilops/vigil/sim"
)

// Database states, as sys.databases.state_desc gives them.
const (
	stateOnline          = "ONLINE"
	stateRestoring       = "RESTORING"
	stateRecoveryPending = "RECOVERY_PENDING" // the data file is missing
	stateSuspect         = "SUSPECT"          // the data file cannot be read
)

// dbInfo is what SQL Server keeps about a database in its boot page and in
// msdb: its state, its recovery fork and where its log chain stands. The
// simulation keeps it in the one row of sys_database inside the file.
type dbInfo struct {
	Name             string `gorm:"column:name"`
	State            string `gorm:"column:state"`
	Fork             string `gorm:"column:fork"`        // recovery fork GUID
	ParentFork       string `gorm:"column:parent_fork"` // the fork this one branched from
	ForkLSN          int64  `gorm:"column:fork_lsn"`    // the last LSN before this fork began
	LastLSN          int64  `gorm:"column:last_lsn"`
	LastBackupLSN    int64  `gorm:"column:last_backup_lsn"` // the log is backed up to here
	LastBackupEnd    int64  `gorm:"column:last_backup_end"` // simulated ms: where the next log backup starts
	RestoredTo       int64  `gorm:"column:restored_to"`     // simulated ms: the point the data reflects after restores
	LastRestoredFile string `gorm:"column:last_restored_file"`
	FullBackupTime   int64  `gorm:"column:full_backup_time"`
	Created          int64  `gorm:"column:created"`
}

func (dbInfo) TableName() string { return "sys_database" }

const sysSchema = `CREATE TABLE IF NOT EXISTS sys_database (
	id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL, state TEXT NOT NULL,
	fork TEXT NOT NULL, parent_fork TEXT NOT NULL DEFAULT '', fork_lsn INTEGER NOT NULL DEFAULT 0,
	last_lsn INTEGER NOT NULL DEFAULT 0, last_backup_lsn INTEGER NOT NULL DEFAULT 0,
	last_backup_end INTEGER NOT NULL DEFAULT 0, restored_to INTEGER NOT NULL DEFAULT 0,
	last_restored_file TEXT NOT NULL DEFAULT '', full_backup_time INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sys_transaction_log (
	lsn INTEGER PRIMARY KEY, commit_time INTEGER NOT NULL, statement TEXT NOT NULL)`

// productSchemas are the tables of the K2 product database and of the
// solution database, named as in SQL Server (schema.table) inside quotes.
var productSchemas = map[string]string{
	"K2": `CREATE TABLE "Server.Server" (ID INTEGER PRIMARY KEY, Name TEXT NOT NULL, Description TEXT NOT NULL DEFAULT '');
CREATE TABLE "HostServer.LicenseKey" (ID INTEGER PRIMARY KEY, ServerName TEXT NOT NULL, LicenseKey TEXT NOT NULL, Environment TEXT NOT NULL DEFAULT '');
CREATE TABLE "Server.ProcInst" (ID INTEGER PRIMARY KEY, Folio TEXT NOT NULL, Status TEXT NOT NULL, Server TEXT NOT NULL, StartDate TEXT NOT NULL, FinishDate TEXT)`,
	"K2Solution": `CREATE TABLE "dbo.Request" (ID INTEGER PRIMARY KEY, Folio TEXT NOT NULL, Amount INTEGER NOT NULL, Created TEXT NOT NULL)`,
}

// database is one user database of the instance: a SQLite file in DATA.
type database struct {
	name string
	path string
	gdb  *gorm.DB
	db   *sql.DB
	info dbInfo
	err  error // why it is not open
}

func (d *database) state() string {
	switch {
	case d.db != nil:
		return d.info.State
	case errors.Is(d.err, os.ErrNotExist):
		return stateRecoveryPending
	}
	return stateSuspect
}

// openSQLite opens a database file with one connection, WAL and a busy
// timeout. Unless create is set, a missing file is an error.
func openSQLite(path string, create bool) (*gorm.DB, *sql.DB, error) {
	if !create {
		if _, err := os.Stat(path); err != nil {
			return nil, nil, err
		}
	}
	dsn := path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=cache_size(-256)&_txlock=immediate"
	g, err := gorm.Open(sqlite.Open(dsn), &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true})
	if err != nil {
		return nil, nil, err
	}
	db, err := g.DB()
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, nil, err
	}
	return g, db, nil
}

// readInfo reads the sys_database row of an open file.
func readInfo(g *gorm.DB, path string) (dbInfo, error) {
	var info dbInfo
	if err := g.Take(&info).Error; err != nil {
		return info, fmt.Errorf("%s is not a database of this simulated SQL Server (no readable sys_database row): %w", path, err)
	}
	switch info.State {
	case stateOnline, stateRestoring:
	default:
		return info, fmt.Errorf("%s: sys_database.state is %q; expected ONLINE or RESTORING", path, info.State)
	}
	return info, nil
}

func (d *database) open() {
	d.close()
	g, db, err := openSQLite(d.path, false)
	if err != nil {
		d.err = fmt.Errorf("open data file %s: %w", d.path, err)
		return
	}
	info, err := readInfo(g, d.path)
	if err != nil {
		db.Close()
		d.err = err
		return
	}
	if info.Name != d.name {
		db.Close()
		d.err = fmt.Errorf("%s holds database %q, not %q", d.path, info.Name, d.name)
		return
	}
	d.gdb, d.db, d.info, d.err = g, db, info, nil
}

func (d *database) close() {
	if d.db != nil {
		d.db.Close()
	}
	d.gdb, d.db = nil, nil
}

// saveInfo writes d.info inside tx.
func saveInfo(ctx context.Context, tx *sql.Tx, i dbInfo) error {
	_, err := tx.ExecContext(ctx, `UPDATE sys_database SET name=?, state=?, fork=?, parent_fork=?, fork_lsn=?, last_lsn=?,
		last_backup_lsn=?, last_backup_end=?, restored_to=?, last_restored_file=?, full_backup_time=?, created=?`,
		i.Name, i.State, i.Fork, i.ParentFork, i.ForkLSN, i.LastLSN, i.LastBackupLSN, i.LastBackupEnd, i.RestoredTo,
		i.LastRestoredFile, i.FullBackupTime, i.Created)
	return err
}

// update runs fn in a transaction and keeps info only if it commits.
func (d *database) update(fn func(tx *sql.Tx, info *dbInfo) error) error {
	ctx := context.Background()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	info := d.info
	if err := fn(tx, &info); err != nil {
		tx.Rollback()
		return err
	}
	if err := saveInfo(ctx, tx, info); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	d.info = info
	return nil
}

// session is one client connection, e.g. the K2 Server's.
type session struct {
	app  string
	host string
	used map[string]bool // databases it has worked in
}

// engine is the simulated database engine of one SQL Server instance. All
// statements run one at a time: each database has a single connection.
type engine struct {
	mu       sync.Mutex
	clock    clock
	server   string
	dbs      []*database
	roots    []string // where BACKUP and RESTORE may read and write
	errlog   *sim.VendorLog
	sessions map[*session]bool
	// lastLogBackup is when the newest log backup here was taken
	// (simulated ms), by the job or by a tail-log backup.
	lastLogBackup int64
}

// clock is the simulated time the engine stamps transactions and backups
// with: a *sim.Clock, or a test's.
type clock interface{ Now() time.Time }

func newEngine(clock clock, server, dataDir string, names, roots []string, errlog *sim.VendorLog) *engine {
	e := &engine{clock: clock, server: server, roots: roots, errlog: errlog, sessions: map[*session]bool{}}
	for _, n := range names {
		e.dbs = append(e.dbs, &database{name: n, path: filepath.Join(dataDir, n+".db")})
	}
	return e
}

// openAll opens every database and reports each one's state.
func (e *engine) openAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range e.dbs {
		d.open()
		if d.err != nil {
			e.logf("Error: database '%s' is %s: %v", d.name, d.state(), d.err)
			continue
		}
		e.logf("Starting up database '%s': %s.", d.name, d.info.State)
	}
}

func (e *engine) closeAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range e.dbs {
		d.close()
	}
}

func (e *engine) logf(format string, args ...any) {
	if e.errlog != nil {
		e.errlog.Printf(format, args...)
	}
}

func (e *engine) now() int64 { return e.clock.Now().UnixMilli() }

func (e *engine) find(name string) (*database, error) {
	for _, d := range e.dbs {
		if strings.EqualFold(d.name, name) {
			return d, nil
		}
	}
	return nil, fmt.Errorf("Msg 911, Level 16: Database '%s' does not exist. Make sure that the name is entered correctly.", name)
}

// online returns the named database if it is ONLINE.
func (e *engine) online(name string) (*database, error) {
	d, err := e.find(name)
	if err != nil {
		return nil, err
	}
	switch d.state() {
	case stateOnline:
		return d, nil
	case stateRestoring:
		return nil, fmt.Errorf("Msg 927, Level 14: Database '%s' cannot be opened. It is in the middle of a restore.", d.name)
	}
	return nil, fmt.Errorf("Msg 945, Level 14: Database '%s' cannot be opened (%s): %v", d.name, d.state(), d.err)
}

// createDatabase creates a new, empty database file, as installing K2
// does; seed statements (the licensing) run as its first transaction.
func (e *engine) createDatabase(name string, seed []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, err := e.find(name)
	if err != nil {
		return err
	}
	if _, err := os.Stat(d.path); err == nil {
		return fmt.Errorf("database file %s exists already", d.path)
	}
	if err := os.MkdirAll(filepath.Dir(d.path), 0o755); err != nil {
		return err
	}
	g, db, err := openSQLite(d.path, true)
	if err != nil {
		return fmt.Errorf("create %s: %w", d.path, err)
	}
	now := e.now()
	for _, s := range splitStatements(sysSchema + ";\n" + productSchemas[name]) {
		if _, err := db.Exec(s); err != nil {
			db.Close()
			return fmt.Errorf("create %s: %w", d.path, err)
		}
	}
	if _, err := db.Exec(`INSERT INTO sys_database (id, name, state, fork, last_backup_end, created) VALUES (1, ?, ?, ?, ?, ?)`,
		name, stateOnline, uuid.NewString(), now, now); err != nil {
		db.Close()
		return fmt.Errorf("create %s: %w", d.path, err)
	}
	d.gdb, d.db, d.err = g, db, nil
	if d.info, err = readInfo(g, d.path); err != nil {
		return err
	}
	if len(seed) > 0 {
		stmts := make([]string, len(seed))
		for i, st := range seed {
			stmts[i] = translate(st)
		}
		_, err = e.dml(d, stmts)
	}
	return err
}

// response is what a statement gives back, as sqlcmd shows it.
type response struct {
	Messages []string   `json:"messages,omitempty"`
	Columns  []string   `json:"columns,omitempty"`
	Rows     [][]string `json:"rows,omitempty"`
	Error    string     `json:"error,omitempty"`
}

var (
	backupRE    = regexp.MustCompile(`(?is)^\s*BACKUP\s+(LOG|DATABASE)\s+\[?(\w+)\]?\s+TO\s+DISK\s*=\s*N?'((?:[^']|'')*)'(?:\s+WITH\s+(.+?))?\s*;?\s*$`)
	restoreRE   = regexp.MustCompile(`(?is)^\s*RESTORE\s+(LOG|DATABASE)\s+\[?(\w+)\]?\s+FROM\s+DISK\s*=\s*N?'((?:[^']|'')*)'(?:\s+WITH\s+(.+?))?\s*;?\s*$`)
	recoverRE   = regexp.MustCompile(`(?is)^\s*RESTORE\s+DATABASE\s+\[?(\w+)\]?\s+WITH\s+RECOVERY\s*;?\s*$`)
	sysDBsRE    = regexp.MustCompile(`(?is)^\s*SELECT\b.*\bFROM\s+sys\.databases\b`)
	selectRE    = regexp.MustCompile(`(?is)^\s*SELECT\b`)
	dmlRE       = regexp.MustCompile(`(?is)^\s*(INSERT|UPDATE|DELETE)\b`)
	qualifiedRE = regexp.MustCompile(`\[([^\]\[]+)\]\.\[([^\]\[]+)\]`)
	bracketRE   = regexp.MustCompile(`\[([^\]\[]+)\]`)
	sysTableRE  = regexp.MustCompile(`(?i)\bsys_|sqlite_`)
)

// translate turns T-SQL names ([Server].[Server]) into the quoted names
// the SQLite files use ("Server.Server").
func translate(stmt string) string {
	stmt = qualifiedRE.ReplaceAllString(stmt, `"$1.$2"`)
	return bracketRE.ReplaceAllString(stmt, `"$1"`)
}

// execute runs one batch for a session and never fails: errors are part of
// the response, as SQL Server returns them.
func (e *engine) execute(s *session, dbName string, batch []string) response {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out response
	msgs, err := e.executeLocked(s, dbName, batch, &out)
	out.Messages = append(out.Messages, msgs...)
	if err != nil {
		out.Error = err.Error()
	}
	return out
}

func (e *engine) executeLocked(s *session, dbName string, batch []string, out *response) ([]string, error) {
	if len(batch) == 0 {
		return nil, errors.New("Msg 102, Level 15: empty batch")
	}
	first := batch[0]
	special := backupRE.MatchString(first) || restoreRE.MatchString(first) || recoverRE.MatchString(first) ||
		selectRE.MatchString(first)
	if special && len(batch) > 1 {
		return nil, errors.New("Msg 3021, Level 16: BACKUP, RESTORE and SELECT statements must be sent one to a batch in this simulation")
	}
	switch {
	case backupRE.MatchString(first):
		m := backupRE.FindStringSubmatch(first)
		opts, err := parseWith(m[4])
		if err != nil {
			return nil, err
		}
		path := strings.ReplaceAll(m[3], "''", "'")
		if err := e.confined(path); err != nil {
			return nil, err
		}
		if strings.EqualFold(m[1], "LOG") {
			return e.backupLog(m[2], path, opts)
		}
		return e.backupDatabase(m[2], path, opts)
	case recoverRE.MatchString(first):
		return e.recoverDatabase(recoverRE.FindStringSubmatch(first)[1])
	case restoreRE.MatchString(first):
		m := restoreRE.FindStringSubmatch(first)
		opts, err := parseWith(m[4])
		if err != nil {
			return nil, err
		}
		path := strings.ReplaceAll(m[3], "''", "'")
		if err := e.confined(path); err != nil {
			return nil, err
		}
		if strings.EqualFold(m[1], "LOG") {
			return e.restoreLog(m[2], path, opts)
		}
		return e.restoreDatabase(s, m[2], path, opts)
	case sysDBsRE.MatchString(first):
		e.sysDatabases(out)
		return nil, nil
	}
	d, err := e.online(dbName)
	if err != nil {
		return nil, err
	}
	if s != nil {
		s.used[d.name] = true
	}
	stmts := make([]string, len(batch))
	for i, b := range batch {
		if sysTableRE.MatchString(b) {
			return nil, errors.New("Msg 229, Level 14: The permission was denied on the system tables of this simulated instance.")
		}
		stmts[i] = translate(b)
	}
	if selectRE.MatchString(first) {
		return nil, e.query(d, stmts[0], out)
	}
	for _, st := range stmts {
		if !dmlRE.MatchString(st) {
			return nil, fmt.Errorf("Msg 156, Level 15: this simulated SQL Server runs only SELECT, INSERT, UPDATE, DELETE, BACKUP and RESTORE; not %q", truncate(st, 60))
		}
	}
	n, err := e.dml(d, stmts)
	if err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("(%d rows affected)", n)}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// confined refuses backup paths outside the instance's folders and the share.
func (e *engine) confined(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("Msg 3201, Level 16: Cannot open backup device '%s': give a full path", path)
	}
	for _, r := range e.roots {
		if rel, err := filepath.Rel(r, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil
		}
	}
	return fmt.Errorf("Msg 3201, Level 16: Cannot open backup device '%s'. Operating system error 5 (Access is denied): only this server's folders and the log shipping share are reachable", path)
}

// withOptions are the options of a BACKUP or RESTORE.
type withOptions struct {
	recovery, norecovery, replace bool
	stopAt                        int64 // simulated ms; 0 when not given
}

var optRE = regexp.MustCompile(`(?i)^\s*(\w+)\s*(?:=\s*(?:N?'([^']*)'|(\S+)))?\s*$`)

func parseWith(s string) (withOptions, error) {
	var o withOptions
	if strings.TrimSpace(s) == "" {
		return o, nil
	}
	for _, part := range strings.Split(s, ",") {
		m := optRE.FindStringSubmatch(part)
		if m == nil {
			return o, fmt.Errorf("Msg 102, Level 15: Incorrect syntax near '%s'.", strings.TrimSpace(part))
		}
		switch strings.ToUpper(m[1]) {
		case "RECOVERY":
			o.recovery = true
		case "NORECOVERY":
			o.norecovery = true
		case "REPLACE":
			o.replace = true
		case "COMPRESSION", "INIT", "NO_TRUNCATE", "CHECKSUM", "STATS", "FORMAT":
		case "STOPAT":
			t, err := parseTime(m[2] + m[3])
			if err != nil {
				return o, fmt.Errorf("Msg 4335, Level 16: STOPAT %q: %v", m[2]+m[3], err)
			}
			o.stopAt = t.UnixMilli()
		default:
			return o, fmt.Errorf("Msg 155, Level 15: '%s' is not a recognized BACKUP or RESTORE option.", m[1])
		}
	}
	if o.recovery && o.norecovery {
		return o, errors.New("Msg 3032, Level 16: One or more of the options (recovery, norecovery) are not supported for this statement.")
	}
	return o, nil
}

// timeLayouts are the ways a point in time may be written: RFC 3339, or as
// SQL Server writes it, taken as UTC.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05.000", "2006-01-02 15:04:05",
	"2006-01-02T15:04:05.000", "2006-01-02 15:04"}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a point in time: write it as 2024-05-01T13:35:00Z (UTC)", s)
}

// fmtTime formats simulated ms as the facts show them.
func fmtTime(ms int64) string {
	if ms == 0 {
		return "none"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

func (e *engine) query(d *database, stmt string, out *response) error {
	rows, err := d.db.Query(stmt)
	if err != nil {
		return fmt.Errorf("Msg 207, Level 16: %v", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	out.Columns = cols
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if len(out.Rows) >= 1000 {
			out.Messages = append(out.Messages, "(only the first 1000 rows are returned)")
			break
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				row[i] = "NULL"
			case []byte:
				row[i] = string(v)
			default:
				row[i] = fmt.Sprint(v)
			}
		}
		out.Rows = append(out.Rows, row)
	}
	return rows.Err()
}

// dml runs statements as one transaction and writes each to the
// transaction log, which log backups carry to the DR site.
func (e *engine) dml(d *database, stmts []string) (int64, error) {
	now := e.now()
	var affected int64
	err := d.update(func(tx *sql.Tx, info *dbInfo) error {
		for _, st := range stmts {
			r, err := tx.Exec(st)
			if err != nil {
				return fmt.Errorf("Msg 8152, Level 16: %v (in %q)", err, truncate(st, 80))
			}
			n, _ := r.RowsAffected()
			affected += n
			info.LastLSN++
			if _, err := tx.Exec(`INSERT INTO sys_transaction_log (lsn, commit_time, statement) VALUES (?, ?, ?)`, info.LastLSN, now, st); err != nil {
				return err
			}
		}
		return nil
	})
	return affected, err
}

func (e *engine) sysDatabases(out *response) {
	out.Columns = []string{"name", "state_desc", "fork", "parent_fork", "fork_lsn", "last_lsn", "restored_to", "last_restored_file", "error"}
	for _, d := range e.dbs {
		i := d.info
		errText := ""
		if d.err != nil {
			errText = d.err.Error()
			i = dbInfo{}
		}
		out.Rows = append(out.Rows, []string{d.name, d.state(), i.Fork, i.ParentFork, strconv.FormatInt(i.ForkLSN, 10),
			strconv.FormatInt(i.LastLSN, 10), strconv.FormatInt(i.RestoredTo, 10), i.LastRestoredFile, errText})
	}
}

// trnHeader is the first line of a log backup file.
type trnHeader struct {
	Format     string `json:"format"`
	Database   string `json:"database"`
	Server     string `json:"server"`
	Fork       string `json:"fork"`
	ParentFork string `json:"parent_fork"`
	ForkLSN    int64  `json:"fork_lsn"`
	FirstLSN   int64  `json:"first_lsn"`
	LastLSN    int64  `json:"last_lsn"`
	Start      int64  `json:"start"` // simulated ms: the end of the previous log backup
	End        int64  `json:"end"`   // simulated ms: when this one was taken
	Tail       bool   `json:"tail"`  // taken WITH NORECOVERY
}

// trnRecord is one logged statement.
type trnRecord struct {
	LSN  int64  `json:"lsn"`
	Time int64  `json:"t"`
	SQL  string `json:"sql"`
}

const trnFormat = "vigil-sim-trn/1"

func (h trnHeader) check(path string) error {
	switch {
	case h.Format != trnFormat:
		return fmt.Errorf("%s is not a log backup of this simulation (format %q, want %q)", path, h.Format, trnFormat)
	case h.Database == "" || h.Fork == "":
		return fmt.Errorf("%s: log backup header lacks the database or its recovery fork", path)
	case h.FirstLSN < 1 || h.LastLSN < h.FirstLSN-1:
		return fmt.Errorf("%s: log backup header has LSNs %d to %d, which is no range", path, h.FirstLSN, h.LastLSN)
	case h.End < h.Start:
		return fmt.Errorf("%s: log backup ends (%s) before it starts (%s)", path, fmtTime(h.End), fmtTime(h.Start))
	}
	return nil
}

const maxTrnLine = 1 << 20

// readTrnHeader reads and checks the header of a log backup file.
func readTrnHeader(path string) (trnHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return trnHeader{}, err
	}
	defer f.Close()
	line, err := readLine(bufio.NewReader(f), maxTrnLine)
	if err != nil {
		return trnHeader{}, fmt.Errorf("%s: reading the log backup header: %w", path, err)
	}
	return decodeTrnHeader(path, line)
}

func decodeTrnHeader(path string, line []byte) (trnHeader, error) {
	var h trnHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return h, fmt.Errorf("%s: the log backup header is not valid: %v", path, err)
	}
	return h, h.check(path)
}

// readTrn reads a whole log backup file.
func readTrn(path string) (trnHeader, []trnRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return trnHeader{}, nil, err
	}
	defer f.Close()
	return decodeTrn(path, f)
}

func decodeTrn(path string, r io.Reader) (trnHeader, []trnRecord, error) {
	br := bufio.NewReader(r)
	line, err := readLine(br, maxTrnLine)
	if err != nil {
		return trnHeader{}, nil, fmt.Errorf("%s: reading the log backup header: %w", path, err)
	}
	h, err := decodeTrnHeader(path, line)
	if err != nil {
		return h, nil, err
	}
	var recs []trnRecord
	prev := h.FirstLSN - 1
	for n := 2; ; n++ {
		line, err := readLine(br, maxTrnLine)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return h, nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		var rec trnRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			return h, nil, fmt.Errorf("%s:%d: log record is not valid: %v", path, n, err)
		}
		if rec.LSN != prev+1 || rec.LSN > h.LastLSN || rec.SQL == "" {
			return h, nil, fmt.Errorf("%s:%d: log record LSN %d does not follow LSN %d within %d-%d, or is empty; the backup is damaged",
				path, n, rec.LSN, prev, h.FirstLSN, h.LastLSN)
		}
		prev = rec.LSN
		recs = append(recs, rec)
	}
	if prev != h.LastLSN {
		return h, nil, fmt.Errorf("%s: log backup ends at LSN %d but its header says %d; the backup is truncated", path, prev, h.LastLSN)
	}
	return h, recs, nil
}

// readLine reads one line without its newline, refusing lines over max.
// It returns io.EOF only when nothing is left.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max {
			return nil, fmt.Errorf("line longer than %d bytes", max)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
			return nil, err
		}
		return []byte(strings.TrimRight(string(line), "\r\n")), nil
	}
}

// writeFileAtomic writes via a temporary file in the same directory.
func writeFileAtomic(path string, write func(w io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriter(tmp)
	if err := write(bw); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// backupLog writes the log records not yet backed up to path and truncates
// the log. WITH NORECOVERY (the tail-log backup) leaves the database
// RESTORING, so nothing changes it after its last log backup.
func (e *engine) backupLog(name, path string, o withOptions) ([]string, error) {
	d, err := e.find(name)
	if err != nil {
		return nil, err
	}
	if d.state() != stateOnline {
		return nil, fmt.Errorf("Msg 4208, Level 16: BACKUP LOG is not possible for database '%s': it is %s. Msg 3013: BACKUP LOG is terminating abnormally.", d.name, d.state())
	}
	if o.recovery || o.replace || o.stopAt != 0 {
		return nil, errors.New("Msg 3032, Level 16: BACKUP LOG takes NORECOVERY, COMPRESSION, INIT or NO_TRUNCATE only")
	}
	now := e.now()
	h := trnHeader{Format: trnFormat, Database: d.name, Server: e.server, Fork: d.info.Fork, ParentFork: d.info.ParentFork,
		ForkLSN: d.info.ForkLSN, FirstLSN: d.info.LastBackupLSN + 1, LastLSN: d.info.LastLSN, Start: d.info.LastBackupEnd,
		End: now, Tail: o.norecovery}
	if h.Start > h.End {
		h.Start = h.End // the simulated clock restarted behind the last backup
	}
	n := 0
	err = writeFileAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		if err := enc.Encode(h); err != nil {
			return err
		}
		rows, err := d.db.Query(`SELECT lsn, commit_time, statement FROM sys_transaction_log WHERE lsn > ? ORDER BY lsn`, d.info.LastBackupLSN)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r trnRecord
			if err := rows.Scan(&r.LSN, &r.Time, &r.SQL); err != nil {
				return err
			}
			if err := enc.Encode(r); err != nil {
				return err
			}
			n++
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("Msg 3201, Level 16: Cannot write backup device '%s': %v", path, err)
	}
	err = d.update(func(tx *sql.Tx, info *dbInfo) error {
		if _, err := tx.Exec(`DELETE FROM sys_transaction_log WHERE lsn <= ?`, info.LastLSN); err != nil {
			return err
		}
		info.LastBackupLSN, info.LastBackupEnd = info.LastLSN, now
		if o.norecovery {
			info.State, info.RestoredTo, info.LastRestoredFile = stateRestoring, now, filepath.Base(path)
		}
		return nil
	})
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("Msg 3013, Level 16: BACKUP LOG is terminating abnormally: %v", err)
	}
	e.lastLogBackup = max(e.lastLogBackup, now)
	msg := fmt.Sprintf("BACKUP LOG successfully processed %d log records (LSN %d to %d) of database '%s' to '%s'.",
		n, h.FirstLSN, h.LastLSN, d.name, path)
	e.logf("Log was backed up. Database: %s, first LSN: %d, last LSN: %d, device information: (FILE=1, TYPE=DISK: {'%s'}).",
		d.name, h.FirstLSN, h.LastLSN, path)
	if o.norecovery {
		msg += fmt.Sprintf(" The tail of the log was backed up WITH NORECOVERY: database '%s' is now RESTORING.", d.name)
		e.logf("Database '%s' is RESTORING after a tail-log backup WITH NORECOVERY.", d.name)
	}
	return []string{msg}, nil
}

// backupDatabase writes a full backup: a copy of the data file.
func (e *engine) backupDatabase(name, path string, o withOptions) ([]string, error) {
	d, err := e.online(name)
	if err != nil {
		return nil, err
	}
	if o.recovery || o.norecovery || o.replace || o.stopAt != 0 {
		return nil, errors.New("Msg 3032, Level 16: BACKUP DATABASE takes COMPRESSION, INIT or CHECKSUM only")
	}
	now := e.now()
	if err := d.update(func(_ *sql.Tx, info *dbInfo) error { info.FullBackupTime = now; return nil }); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("Msg 3201, Level 16: Cannot open backup device '%s': %v", path, err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	os.Remove(tmp)
	if _, err := d.db.Exec(`VACUUM INTO ?`, tmp); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("Msg 3013, Level 16: BACKUP DATABASE is terminating abnormally: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	e.logf("Database backed up. Database: %s, last LSN: %d, device information: (FILE=1, TYPE=DISK: {'%s'}).", d.name, d.info.LastLSN, path)
	return []string{fmt.Sprintf("BACKUP DATABASE successfully processed database '%s' (LSN %d) to '%s'.", d.name, d.info.LastLSN, path)}, nil
}

// restoreDatabase replaces a database with a full backup.
func (e *engine) restoreDatabase(s *session, name, path string, o withOptions) ([]string, error) {
	d, err := e.find(name)
	if err != nil {
		return nil, err
	}
	if o.stopAt != 0 {
		return nil, errors.New("Msg 3032, Level 16: STOPAT belongs to RESTORE LOG in this simulation")
	}
	for other := range e.sessions {
		if other != s && other.used[d.name] {
			return nil, fmt.Errorf("Msg 3101, Level 16: Exclusive access could not be obtained because the database '%s' is in use (by %s from %s). Stop that client first.",
				d.name, other.app, other.host)
		}
	}
	if d.state() == stateOnline && !o.replace {
		return nil, fmt.Errorf("Msg 3159, Level 16: The tail of the log for the database \"%s\" has not been backed up. Use BACKUP LOG WITH NORECOVERY to back up the log, or WITH REPLACE to overwrite it.", d.name)
	}
	// Check a copy, so that the backup on the share is only read.
	tmp := d.path + ".restoring"
	removeDBFiles(tmp)
	defer removeDBFiles(tmp)
	if err := copyFile(path, tmp); err != nil {
		return nil, fmt.Errorf("Msg 3201, Level 16: Cannot open backup device '%s': %v", path, err)
	}
	g, bdb, err := openSQLite(tmp, false)
	if err != nil {
		return nil, fmt.Errorf("Msg 3241, Level 16: The media family on device '%s' is incorrectly formed: %v", path, err)
	}
	binfo, err := readInfo(g, path)
	bdb.Close()
	if err != nil {
		return nil, fmt.Errorf("Msg 3241, Level 16: The media family on device '%s' is incorrectly formed: %v", path, err)
	}
	if binfo.Name != d.name {
		return nil, fmt.Errorf("Msg 3154, Level 16: The backup set holds a backup of database '%s', not '%s'.", binfo.Name, d.name)
	}
	d.close()
	if err := removeDBFiles(d.path); err != nil {
		d.open()
		return nil, fmt.Errorf("Msg 3156, Level 16: File '%s' cannot be restored: %v", d.path, err)
	}
	if err := os.Rename(tmp, d.path); err != nil {
		d.err = err
		return nil, fmt.Errorf("Msg 3156, Level 16: File '%s' cannot be restored from '%s': %v", d.path, path, err)
	}
	d.open()
	if d.err != nil {
		return nil, fmt.Errorf("Msg 3013, Level 16: RESTORE DATABASE is terminating abnormally: %v", d.err)
	}
	now := e.now()
	err = d.update(func(tx *sql.Tx, info *dbInfo) error {
		if _, err := tx.Exec(`DELETE FROM sys_transaction_log`); err != nil {
			return err
		}
		info.State, info.RestoredTo, info.LastRestoredFile = stateRestoring, info.FullBackupTime, filepath.Base(path)
		if o.recovery || !o.norecovery {
			recoverInfo(info, now)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("Msg 3013, Level 16: RESTORE DATABASE is terminating abnormally: %v", err)
	}
	e.logf("Database was restored: Database: %s, backup time: %s, device information: (FILE=1, TYPE=DISK: {'%s'}). State: %s.",
		d.name, fmtTime(d.info.RestoredTo), path, d.info.State)
	return []string{fmt.Sprintf("RESTORE DATABASE successfully processed database '%s' from '%s' (backup of %s, LSN %d); it is %s.",
		d.name, path, fmtTime(d.info.RestoredTo), d.info.LastLSN, d.info.State)}, nil
}

// recoverInfo brings a restored database online: a new recovery fork
// begins, and its log chain starts here.
func recoverInfo(info *dbInfo, now int64) {
	info.State = stateOnline
	info.ParentFork, info.Fork, info.ForkLSN = info.Fork, uuid.NewString(), info.LastLSN
	info.LastBackupLSN, info.LastBackupEnd = info.LastLSN, now
}

// removeDBFiles removes a database file and its WAL and shared-memory files.
func removeDBFiles(path string) error {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	return writeFileAtomic(to, func(w io.Writer) error {
		_, err := io.Copy(w, src)
		return err
	})
}

// recoverDatabase is RESTORE DATABASE ... WITH RECOVERY.
func (e *engine) recoverDatabase(name string) ([]string, error) {
	d, err := e.find(name)
	if err != nil {
		return nil, err
	}
	switch d.state() {
	case stateOnline:
		return []string{fmt.Sprintf("Database '%s' is already ONLINE; nothing to recover.", d.name)}, nil
	case stateRestoring:
	default:
		return nil, fmt.Errorf("Msg 3117, Level 16: database '%s' is %s and cannot be recovered: %v", d.name, d.state(), d.err)
	}
	if err := d.update(func(_ *sql.Tx, info *dbInfo) error { recoverInfo(info, e.now()); return nil }); err != nil {
		return nil, err
	}
	e.logf("Recovery completed for database %s: it is ONLINE, recovered to %s (LSN %d).", d.name, fmtTime(d.info.RestoredTo), d.info.LastLSN)
	return []string{fmt.Sprintf("RESTORE DATABASE successfully recovered database '%s' to %s; it is ONLINE.", d.name, fmtTime(d.info.RestoredTo))}, nil
}

// logFit says how a log backup relates to a RESTORING database.
type logFit int

const (
	fitNext      logFit = iota // it continues the database's log chain
	fitApplied                 // the database is already past it
	fitTooRecent               // a log backup before it is missing
	fitOtherPath               // it is on another recovery path
)

func fitOf(info dbInfo, h trnHeader) logFit {
	switch {
	case h.Fork == info.Fork:
		switch {
		case h.End <= info.RestoredTo && h.LastLSN <= info.LastLSN:
			return fitApplied
		case h.FirstLSN > info.LastLSN+1:
			return fitTooRecent
		case h.LastLSN < info.LastLSN:
			return fitApplied
		}
		return fitNext
	case h.ParentFork == info.Fork && h.ForkLSN == info.LastLSN && h.FirstLSN == info.LastLSN+1:
		// The first log of a fork that began exactly where this copy stands:
		// reverse log shipping after a planned failback needs no new full backup.
		return fitNext
	case h.End <= info.RestoredTo:
		return fitApplied // older than the database, from a path it has left behind
	}
	return fitOtherPath
}

// restoreLog applies a log backup, up to STOPAT if given.
func (e *engine) restoreLog(name, path string, o withOptions) ([]string, error) {
	d, err := e.find(name)
	if err != nil {
		return nil, err
	}
	if o.replace {
		return nil, errors.New("Msg 3032, Level 16: REPLACE belongs to RESTORE DATABASE")
	}
	if d.state() != stateRestoring {
		return nil, fmt.Errorf("Msg 3117, Level 16: The log or differential backup cannot be restored because no files are ready to rollforward: database '%s' is %s.", d.name, d.state())
	}
	h, recs, err := readTrn(path)
	if err != nil {
		return nil, fmt.Errorf("Msg 3241, Level 16: The media family on device '%s' is incorrectly formed: %v", path, err)
	}
	if h.Database != d.name {
		return nil, fmt.Errorf("Msg 3154, Level 16: The backup set holds a backup of database '%s', not '%s'.", h.Database, d.name)
	}
	info := d.info
	switch fitOf(info, h) {
	case fitApplied:
		return nil, fmt.Errorf("Msg 4326, Level 16: The log in this backup set terminates at LSN %d (%s), which is too early to apply to the database '%s' (restored to LSN %d, %s).",
			h.LastLSN, fmtTime(h.End), d.name, info.LastLSN, fmtTime(info.RestoredTo))
	case fitTooRecent:
		return nil, fmt.Errorf("Msg 4305, Level 16: The log in this backup set begins at LSN %d, which is too recent to apply to the database '%s'. An earlier log backup that includes LSN %d can be restored.",
			h.FirstLSN, d.name, info.LastLSN+1)
	case fitOtherPath:
		return nil, fmt.Errorf("Msg 3116, Level 16: The log backup '%s' cannot be applied to database '%s' because it is on a recovery path that is inconsistent with the database. Restore a full backup of its source first.",
			filepath.Base(path), d.name)
	}
	if o.stopAt != 0 && o.stopAt < info.RestoredTo {
		return nil, fmt.Errorf("Msg 4335, Level 16: The specified STOPAT time (%s) is too early. Database '%s' is already rolled forward to %s; restore its full backup again to go back further.",
			fmtTime(o.stopAt), d.name, fmtTime(info.RestoredTo))
	}
	within := o.stopAt != 0 && o.stopAt < h.End
	applied := 0
	now := e.now()
	err = d.update(func(tx *sql.Tx, info *dbInfo) error {
		for _, r := range recs {
			if r.LSN <= info.LastLSN {
				continue
			}
			if within && r.Time > o.stopAt {
				break
			}
			if _, err := tx.Exec(r.SQL); err != nil {
				return fmt.Errorf("Msg 3456, Level 16: Could not redo log record (LSN %d) of '%s': %v", r.LSN, path, err)
			}
			info.LastLSN = r.LSN
			applied++
		}
		if !within && h.LastLSN > info.LastLSN {
			info.LastLSN = h.LastLSN
		}
		info.Fork, info.ParentFork, info.ForkLSN = h.Fork, h.ParentFork, h.ForkLSN
		info.RestoredTo, info.LastRestoredFile = h.End, filepath.Base(path)
		if within {
			info.RestoredTo = o.stopAt
		}
		if o.recovery && (o.stopAt == 0 || within || o.stopAt == h.End) {
			recoverInfo(info, now)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	msgs := []string{fmt.Sprintf("RESTORE LOG successfully processed %d log records of '%s' for database '%s'; it is restored to %s (LSN %d).",
		applied, filepath.Base(path), d.name, fmtTime(d.info.RestoredTo), d.info.LastLSN)}
	e.logf("Log was restored. Database: %s, first LSN: %d, last LSN: %d, restored to %s, device information: (FILE=1, TYPE=DISK: {'%s'}).",
		d.name, h.FirstLSN, d.info.LastLSN, fmtTime(d.info.RestoredTo), path)
	if o.recovery && d.info.State != stateOnline {
		msgs = append(msgs, fmt.Sprintf("Msg 4319: This log backup ends at %s, before the designated point in time (%s). Database '%s' is left RESTORING so that another log backup can be applied.",
			fmtTime(h.End), fmtTime(o.stopAt), d.name))
	}
	if d.info.State == stateOnline {
		msgs = append(msgs, fmt.Sprintf("Database '%s' is recovered to %s and ONLINE.", d.name, fmtTime(d.info.RestoredTo)))
		e.logf("Recovery completed for database %s: it is ONLINE, recovered to %s (LSN %d).", d.name, fmtTime(d.info.RestoredTo), d.info.LastLSN)
	}
	return msgs, nil
}

// status is a snapshot of the databases for the monitor.
type dbStatus struct {
	name  string
	state string
	info  dbInfo
	err   error
}

func (e *engine) status() []dbStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]dbStatus, len(e.dbs))
	for i, d := range e.dbs {
		out[i] = dbStatus{name: d.name, state: d.state(), info: d.info, err: d.err}
	}
	return out
}

// k2Sessions counts the K2 Server connections.
func (e *engine) lastBackup() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastLogBackup
}

func (e *engine) k2Sessions() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for s := range e.sessions {
		if s.app == k2App {
			n++
		}
	}
	return n
}

func (e *engine) addSession(s *session) {
	e.mu.Lock()
	e.sessions[s] = true
	e.mu.Unlock()
}

func (e *engine) removeSession(s *session) {
	e.mu.Lock()
	delete(e.sessions, s)
	e.mu.Unlock()
}

// splitStatements splits a script at semicolons that end a line, and drops
// comment lines.
func splitStatements(script string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(script, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(t)
		cur.WriteByte(' ')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// sortTrn orders log backups the way they must be restored.
func sortTrn(files []trnFile) {
	sort.Slice(files, func(i, j int) bool {
		a, b := files[i].h, files[j].h
		if a.End != b.End {
			return a.End < b.End
		}
		return files[i].path < files[j].path
	})
}

// trnFile is a log backup on disk and its header.
type trnFile struct {
	path string
	h    trnHeader
}
