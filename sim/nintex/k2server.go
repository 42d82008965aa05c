package nintex

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vigilops/vigil/sim"
)

// dateLayout is how K2 writes dates into its tables: fixed width, so
// that they sort as text.
const dateLayout = "2006-01-02T15:04:05.000Z"

// k2Every is how much simulated time one round of K2 work covers; each
// round starts at most k2MaxBatch process instances.
const (
	k2Every    = 20 * time.Second
	k2MaxBatch = 10
)

// k2Server is the simulated K2 Server service: it serves the clients that
// connect to it by processing workflow transactions into its databases.
type k2Server struct {
	env    *sim.Env
	p      hostPaths
	server string
	share  string
	sqlAdr string
	dbs    []string
	log    *sim.VendorLog

	c          *sqlClient
	status     string
	lastErr    string
	processed  int
	lastTx     int64
	lastPurge  time.Time
	lastStatus string
	seq        int64
}

func runK2Server(ctx context.Context, env *sim.Env) error {
	k := &k2Server{env: env}
	var dbs string
	if err := env.Flags(svcK2, func(fs *flag.FlagSet) {
		fs.StringVar(&k.sqlAdr, "sql", "", "the SQL Server instance holding the K2 databases, `HOST:PORT`")
		fs.StringVar(&k.server, "server", "", "this K2 server's `name`, which its license must name")
		fs.StringVar(&k.share, "share", "", "the share `DIR` where the clients' connection file lives")
		fs.StringVar(&dbs, "databases", defaultDatabases, "the K2 product and solution `databases`")
	}); err != nil {
		return err
	}
	var err error
	if k.dbs, err = checkDatabases(dbs); err != nil {
		return fmt.Errorf("vigil sim %s: %w", svcK2, err)
	}
	if k.sqlAdr == "" || k.server == "" || k.share == "" {
		return fmt.Errorf("vigil sim %s: --sql, --server and --share are required", svcK2)
	}
	k.p = pathsOf(env.Host)
	recycleLog(k.p.k2Log)
	if k.log, err = sim.OpenVendorLog(k.p.k2Log, env.Clock); err != nil {
		return err
	}
	defer k.log.Close()
	k.log.Printf("INFO K2 Server on %s (a simulation by Vigil, not the vendor's product) is starting.", k.server)
	k.setStatus("Starting")
	if err := k.start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		k.log.Printf("ERROR K2 Server failed to start: %v", err)
		k.lastErr = err.Error()
		k.setStatus("Stopped: failed to start")
		return err
	}
	k.log.Printf("INFO K2 Server started on %s; licensed for this server.", k.server)
	err = k.serve(ctx)
	if k.c != nil {
		k.c.Close()
	}
	k.log.Printf("INFO K2 Server stopped.")
	k.setStatus("Stopped")
	return err
}

// start connects to the databases and checks that they are usable and
// licensed to this server, as the K2 service does when it starts.
func (k *k2Server) start(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := dialSQL(ctx, k.sqlAdr, k2App, k.server)
		if err == nil {
			k.c = c
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cannot reach the K2 database server: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	rows, err := k.c.databases()
	if err != nil {
		return err
	}
	for _, want := range k.dbs {
		found := false
		for _, r := range rows {
			if r["name"] != want {
				continue
			}
			found = true
			switch r["state_desc"] {
			case stateOnline:
			case stateRestoring:
				return fmt.Errorf("Cannot open database \"%s\" requested by the login: it is in the middle of a restore (RESTORING). "+
					"Recover the databases before starting K2 at this site", want)
			default:
				return fmt.Errorf("Cannot open database \"%s\" requested by the login: it is %s", want, r["state_desc"])
			}
		}
		if !found {
			return fmt.Errorf("Cannot open database \"%s\" requested by the login: it does not exist", want)
		}
	}
	l, err := readLicense(func(stmt string) (response, error) { return k.c.exec("K2", stmt) })
	if err != nil {
		return fmt.Errorf("reading the license tables: %w", err)
	}
	if !l.validFor(k.server) {
		return fmt.Errorf("License key is not valid for K2 server %s: Server.Server lists %s and HostServer.LicenseKey licenses %s. "+
			"Reapply this environment's licensing (Server.Server and HostServer.LicenseKey)",
			k.server, orNone(strings.Join(l.servers, ",")), orNone(strings.Join(l.licensedTo, ",")))
	}
	return nil
}

// serve processes the clients' work until ctx ends.
func (k *k2Server) serve(ctx context.Context) error {
	clock := k.env.Clock
	last := clock.Now()
	k.lastPurge = last
	k.round(last, 1)
	t := time.NewTicker(clock.Wall(k2Every, 250*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := clock.Now()
		n := int(now.Sub(last) / k2Every)
		if n < 1 {
			continue
		}
		last = now
		k.round(now, min(n, k2MaxBatch))
	}
}

// round serves one round of client work, if the clients connect here.
func (k *k2Server) round(now time.Time, n int) {
	host, err := readClientsHost(clientsFile(k.share))
	if err != nil {
		k.fail("Idle: the clients' connection file cannot be read", err)
		return
	}
	if !strings.EqualFold(host, k.server) {
		k.setStatus("Idle: clients connect to " + host)
		return
	}
	if k.c == nil {
		c, err := dialSQL(context.Background(), k.sqlAdr, k2App, k.server)
		if err != nil {
			k.fail("Database unavailable", err)
			return
		}
		k.c = c
	}
	k2, sol := make([]string, 0, 2*n), make([]string, 0, n)
	stamp := now.UTC().Format(dateLayout)
	for i := 0; i < n; i++ {
		k.seq++
		folio := fmt.Sprintf("EXP-%s-%d-%d", k.server, now.Unix(), k.seq)
		k2 = append(k2,
			fmt.Sprintf(`INSERT INTO [Server].[ProcInst] (Folio, Status, Server, StartDate) VALUES ('%s', 'Active', '%s', '%s')`, folio, k.server, stamp),
			fmt.Sprintf(`UPDATE [Server].[ProcInst] SET Status = 'Completed', FinishDate = '%s' WHERE ID = (SELECT MIN(ID) FROM [Server].[ProcInst] WHERE Status = 'Active' AND StartDate < '%s')`,
				stamp, now.Add(-10*time.Minute).UTC().Format(dateLayout)))
		sol = append(sol, fmt.Sprintf(`INSERT INTO [dbo].[Request] (Folio, Amount, Created) VALUES ('%s', %d, '%s')`, folio, 100+(k.seq*37)%900, stamp))
	}
	if now.Sub(k.lastPurge) >= time.Hour {
		// Completed work is archived after a week, as a K2 purge job would.
		old := now.Add(-7 * 24 * time.Hour).UTC().Format(dateLayout)
		k2 = append(k2, fmt.Sprintf(`DELETE FROM [Server].[ProcInst] WHERE Status = 'Completed' AND FinishDate < '%s'`, old))
		sol = append(sol, fmt.Sprintf(`DELETE FROM [dbo].[Request] WHERE Created < '%s'`, old))
		k.lastPurge = now
	}
	if _, err := k.c.exec("K2", k2...); err != nil {
		k.dbError(err)
		return
	}
	if len(k.dbs) > 1 {
		if _, err := k.c.exec(k.dbs[1], sol...); err != nil {
			k.dbError(err)
			return
		}
	}
	k.processed += n
	k.lastTx = now.UnixMilli()
	if k.lastErr != "" {
		k.log.Printf("INFO The K2 databases are available again.")
	}
	k.lastErr = ""
	k.setStatus("Processing")
}

func (k *k2Server) dbError(err error) {
	var se *errSQL
	if !errors.As(err, &se) {
		k.c.Close()
		k.c = nil
	}
	k.fail("Database unavailable", err)
}

// fail records an error once, as the Host Server log would.
func (k *k2Server) fail(status string, err error) {
	if msg := err.Error(); msg != k.lastErr {
		k.log.Printf("ERROR %s: %s", status, msg)
		k.lastErr = msg
	}
	k.setStatus(status)
}

// setStatus writes Status.ini when it has changed.
func (k *k2Server) setStatus(status string) {
	k.status = status
	out := fmt.Sprintf(`; Status of the simulated K2 Server service on %s (Vigil), as the K2 Management
; site shows it. Written by the service.
[K2Server]
Server = %s
Status = %s
Processed = %d
LastTransaction = %s
LastError = %s
`, k.server, k.server, status, k.processed, fmtTime(k.lastTx), orNone(k.lastErr))
	if out == k.lastStatus {
		return
	}
	if err := writeFileAtomic(k.p.k2Status(), func(w io.Writer) error { _, err := io.WriteString(w, out); return err }); err != nil {
		k.env.Log.Warn("cannot write the K2 status", "file", k.p.k2Status(), "err", err)
		return
	}
	k.lastStatus = out
}
