// Package nintex simulates the system of nintex-k2-disaster-recovery.txt:
// a production K2 server (K2-PROD) and a disaster recovery K2 server
// (K2-DR) at another site, fed by SQL Server transaction log shipping with
// a point-in-time recovery. It is a simulation, clearly labelled as such;
// none of it is Nintex's or Microsoft's software.
//
// Each server runs two simulated services under its agent's process
// driver: SQL Server with its Agent (`vigil sim nintex-sqlserver`), which
// holds the K2 product and solution databases as SQLite files and runs
// the log backup, log shipping and log restore jobs on the simulated
// clock; and the K2 Server service (`vigil sim nintex-k2server`), which
// processes the clients' workflow transactions into those databases and
// refuses to start on databases that are restoring or licensed to another
// server. The DR site's K2 service is off until the cutover. The steps of
// the procedure (tail-log backup, point-in-time recovery, reapplying the
// DR licensing, full backups and restores for the initial setup and a
// failback) are the DBA scripts of `vigil sim nintex-dr --step STEP`, run
// as agent commands; stopping log shipping, choosing the point in time
// and repointing the clients are settings files.
//
// The two sites share only a directory, the log shipping share at the DR
// site, beside the servers' directories in the fleet: log backups go to
// LogShipping/<server>, full backups to FullBackups/<server>, and the
// clients' connection file (the DNS alias) is Clients/K2Connection.config.
// The services talk over loopback TCP: the K2 service and the scripts are
// clients of their own site's SQL Server.
//
// Nothing here talks to the console: it sees these servers only through
// their agents' status (role from the log shipping monitor, facts) and
// actions.
package nintex

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/sim"
)

func init() { sim.Register(System()) }

// The members, as the issue names them.
const (
	prodServer = "K2-PROD"
	drServer   = "K2-DR"
)

// System is the simulated system.
func System() *sim.System {
	return &sim.System{Profile: "nintex", Name: "nintex-k2", Doc: "nintex-k2-disaster-recovery.txt",
		Members: []sim.Member{
			{Name: prodServer, Site: "production site", Role: model.RolePrimary},
			{Name: drServer, Site: "DR site", Role: model.RoleStandby},
		},
		Services: []sim.Service{
			{Name: svcSQL, Summary: "simulated SQL Server and SQL Server Agent holding the K2 databases and running log shipping", Run: runSQLServer},
			{Name: svcK2, Summary: "simulated K2 Server service", Run: runK2Server},
			{Name: svcTool, Summary: "simulated DBA scripts of the K2 disaster recovery procedure (one --step per run)", Run: runTool},
		},
		Layout: layout,
	}
}

// shareDir is the log shipping share, beside the servers' directories.
func shareDir(l *sim.Layout) string {
	return filepath.Join(filepath.Dir(l.Dirs[prodServer]), "nintex-k2-share")
}

func layout(l *sim.Layout) (map[string]string, error) {
	share := shareDir(l)
	if err := install(l, share); err != nil {
		return nil, err
	}
	if err := sim.WriteOnce(clientsFile(share), clientsConfig(prodServer)); err != nil {
		return nil, err
	}
	configs := map[string]string{}
	for _, m := range []struct {
		name, partner string
		primary       bool
	}{{prodServer, drServer, true}, {drServer, prodServer, false}} {
		p := pathsOf(func(parts ...string) string { return l.Host(m.name, parts...) })
		if err := sim.WriteOnce(p.jobsFile(), jobsINI(m.name, m.primary)); err != nil {
			return nil, err
		}
		if err := sim.WriteOnce(p.drFile(), drINI(m.name, m.partner)); err != nil {
			return nil, err
		}
		port, err := sim.FreeTCPPort()
		if err != nil {
			return nil, err
		}
		configs[m.name] = agentConfig(l, m.name, m.partner, m.primary, port, share, p)
	}
	return configs, nil
}

// install lays the system out the first time as the document's
// Prerequisite and Initial Setup sections leave it: K2 installed at both
// sites, each site's licensing recorded in a script, the production
// databases backed up in full to the DR share and restored there WITH
// NORECOVERY, ready for log shipping.
func install(l *sim.Layout, share string) error {
	names := splitList(defaultDatabases)
	prod := pathsOf(func(parts ...string) string { return l.Host(prodServer, parts...) })
	dr := pathsOf(func(parts ...string) string { return l.Host(drServer, parts...) })
	for _, m := range []struct {
		name    string
		p       hostPaths
		primary bool
	}{{prodServer, prod, true}, {drServer, dr, false}} {
		script := licenseScript(m.name, "when K2 was installed", licenseStatements(m.name, environment(m.primary)))
		if err := sim.WriteOnce(m.p.licenseFile(), script); err != nil {
			return err
		}
	}
	if !exists(filepath.Join(prod.data, "K2.db")) {
		for _, n := range names {
			if err := removeDBFiles(filepath.Join(prod.data, n+".db")); err != nil {
				return err
			}
		}
		e := newEngine(l.Clock, prodServer, prod.data, names, []string{l.Host(prodServer), share}, nil)
		defer e.closeAll()
		for _, n := range names {
			var seed []string
			if n == "K2" {
				seed = licenseStatements(prodServer, environment(true))
			}
			if err := e.createDatabase(n, seed); err != nil {
				return fmt.Errorf("install K2 on %s: %w", prodServer, err)
			}
			path := filepath.Join(fullDir(share, prodServer), n+"_FULL_"+stamp(l.Clock.Now())+".bak")
			r := e.execute(nil, "master", []string{fmt.Sprintf("BACKUP DATABASE [%s] TO DISK = N'%s'", n, quotePath(path))})
			if r.Error != "" {
				return fmt.Errorf("initial full backup on %s: %s", prodServer, r.Error)
			}
		}
		e.closeAll()
	}
	var missing []string
	for _, n := range names {
		if !exists(filepath.Join(dr.data, n+".db")) {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	e := newEngine(l.Clock, drServer, dr.data, names, []string{l.Host(drServer), share}, nil)
	defer e.closeAll()
	for _, n := range missing {
		m := fullBackups(fullDir(share, prodServer), n)
		if len(m) == 0 {
			return fmt.Errorf("initial restore on %s: no full backup of %s in %s", drServer, n, fullDir(share, prodServer))
		}
		r := e.execute(nil, "master", []string{fmt.Sprintf("RESTORE DATABASE [%s] FROM DISK = N'%s' WITH NORECOVERY, REPLACE", n, quotePath(m[len(m)-1]))})
		if r.Error != "" {
			return fmt.Errorf("initial restore on %s: %s", drServer, r.Error)
		}
	}
	return nil
}

// flow writes a list as a YAML flow sequence of quoted strings.
func flow(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// agentConfig is the agent configuration of one K2 server: what the
// console may see and do there.
func agentConfig(l *sim.Layout, name, partner string, primary bool, port int, share string, p hostPaths) string {
	sqlAddr := "127.0.0.1:" + strconv.Itoa(port)
	tool := func(step string) []string {
		return l.Sim(name, svcTool, "--", "--step", step, "--sql", sqlAddr, "--server", name, "--partner", partner, "--share", share)
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# The SQL Server instance holding the K2 databases (with its Agent's log")
	w("# shipping jobs) and the K2 Server service. The DR site keeps K2 off until")
	w("# a cutover, so that it never processes transactions on its copy.")
	w("services:")
	w("  - name: sql-server")
	w("    driver: process")
	w("    command: %s", flow(l.Sim(name, svcSQL, "--", "--port", strconv.Itoa(port), "--server", name, "--partner", partner, "--share", share)))
	w("    stop_timeout: 15s")
	w("  - name: k2-server")
	w("    driver: process")
	w("    command: %s", flow(l.Sim(name, svcK2, "--", "--sql", sqlAddr, "--server", name, "--share", share)))
	w("    stop_timeout: 10s")
	w("    autostart: %t", primary)
	w("settings:")
	w("  # Jobs.ini: enable or disable log backup, shipping and restore (stop log shipping).")
	w("  - name: sql-agent")
	w("    dir: %q", p.agentDir)
	w("  # Monitor.ini: the log shipping monitor, written by SQL Server (read it only).")
	w("  - name: log-shipping")
	w("    dir: %q", p.monitorDir)
	w("  # DisasterRecovery.ini: StopAt, the point in time of the recovery.")
	w("  - name: k2-dr")
	w("    dir: %q", p.drDir)
	w("  # Status.ini of the K2 Server service.")
	w("  - name: k2-host-server")
	w("    dir: %q", p.k2Dir)
	w("  # K2Connection.config on the share: the K2 server the clients connect to (DNS alias).")
	w("  - name: k2-clients")
	w("    dir: %q", filepath.Dir(clientsFile(share)))
	w("commands:")
	for _, c := range []struct {
		name, step, unless string
	}{
		{"show-license", "show-license", ""},
		{"record-license", "record-license", ""},
		{"apply-license", "apply-license", "license-ok"},
		{"full-backup", "full-backup", ""},
		{"restore-full", "restore-full", ""},
		{"tail-log-backup", "tail-log-backup", "check-restoring"},
		{"recover-to-point-in-time", "recover", "check-online"},
		{"test-k2", "test-k2", ""},
	} {
		w("  - name: %s", c.name)
		w("    argv: %s", flow(tool(c.step)))
		w("    timeout: 2m")
		if c.unless != "" {
			w("    unless: %s", flow(tool(c.unless)))
		}
	}
	w("# SQL Server's own view: K2 databases ONLINE here make the production")
	w("# server; RESTORING (a log shipping secondary) the standby.")
	w("role_probe:")
	w("  kind: setting")
	w("  dir: log-shipping")
	w("  path: Monitor.ini")
	w("  key: LogShipping.DatabaseState")
	w(`  map: {ONLINE: primary, RESTORING: standby, "*": unknown}`)
	w("  service: sql-server")
	w("facts:")
	fact := func(name, dir, path, key, service string) {
		w("  - name: %s", name)
		w("    kind: setting")
		w("    dir: %s", dir)
		w("    path: %s", path)
		w("    key: %s", key)
		if service != "" {
			w("    service: %s", service)
		}
	}
	for _, f := range [][2]string{
		{"database_state", "DatabaseState"},
		{"last_log_backup", "LastLogBackup"},
		{"restored_to", "RestoredTo"},
		{"recovery_point_age_seconds", "RecoveryPointAgeSeconds"},
		{"accepted_data_loss_seconds", "AcceptedDataLossSeconds"},
		// The same, named so the console's lag check pairs it with the age.
		{"recovery_point_age_seconds_limit", "AcceptedDataLossSeconds"},
		{"within_accepted_data_loss", "WithinAcceptedDataLoss"},
		{"recoverable_to", "RecoverableTo"},
		{"last_restore_job", "LastRestoreJob"},
		{"k2_sessions", "K2Sessions"},
	} {
		fact(f[0], "log-shipping", "Monitor.ini", "LogShipping."+f[1], "sql-server")
	}
	fact("licensed_server", "log-shipping", "Monitor.ini", "License.LicensedTo", "sql-server")
	fact("license_valid", "log-shipping", "Monitor.ini", "License.ValidForThisServer", "sql-server")
	fact("log_backup_job_enabled", "sql-agent", "Jobs.ini", jobBackup+".Enabled", "")
	fact("log_shipping_job_enabled", "sql-agent", "Jobs.ini", jobShip+".Enabled", "")
	fact("log_restore_job_enabled", "sql-agent", "Jobs.ini", jobRestore+".Enabled", "")
	fact("stop_at", "k2-dr", "DisasterRecovery.ini", "Recovery.StopAt", "")
	fact("clients_connect_to", "k2-clients", "K2Connection.config", "K2Connection/Host", "")
	fact("k2_server_status", "k2-host-server", "Status.ini", "K2Server.Status", "k2-server")
	return b.String()
}
