package nintex

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// hostPaths are where the simulated products keep their files under a
// server's root, laid out as on the Windows servers of a K2 farm.
type hostPaths struct {
	data       string // SQL Server data files (one per database)
	errorLog   string // SQL Server's ERRORLOG
	backup     string // where the log backup job writes
	agentDir   string // SQL Server Agent job definitions (Jobs.ini)
	monitorDir string // the log shipping monitor (Monitor.ini)
	drDir      string // the DR procedure's files: DisasterRecovery.ini, ReapplyK2License.sql
	k2Dir      string // K2 Server's status (Status.ini)
	k2Log      string // the K2 Host Server log
}

func pathsOf(host func(parts ...string) string) hostPaths {
	return hostPaths{
		data:       host("Program Files", "Microsoft SQL Server", "MSSQL", "DATA"),
		errorLog:   host("Program Files", "Microsoft SQL Server", "MSSQL", "Log", "ERRORLOG"),
		backup:     host("SQLBackups", "LogShipping"),
		agentDir:   host("ProgramData", "Microsoft SQL Server", "Agent"),
		monitorDir: host("ProgramData", "Microsoft SQL Server", "LogShipping"),
		drDir:      host("ProgramData", "K2", "DisasterRecovery"),
		k2Dir:      host("ProgramData", "K2", "Host Server"),
		k2Log:      host("Program Files", "K2", "Host Server", "Bin", "HostServer.log"),
	}
}

func (p hostPaths) jobsFile() string    { return filepath.Join(p.agentDir, "Jobs.ini") }
func (p hostPaths) monitorFile() string { return filepath.Join(p.monitorDir, "Monitor.ini") }
func (p hostPaths) drFile() string      { return filepath.Join(p.drDir, "DisasterRecovery.ini") }
func (p hostPaths) licenseFile() string { return filepath.Join(p.drDir, "ReapplyK2License.sql") }
func (p hostPaths) k2Status() string    { return filepath.Join(p.k2Dir, "Status.ini") }

// The log shipping share: at the DR site, reachable from both sites.
func shipDir(share, source string) string    { return filepath.Join(share, "LogShipping", source) }
func fullDir(share, source string) string    { return filepath.Join(share, "FullBackups", source) }
func clientsFile(share string) string        { return filepath.Join(share, "Clients", "K2Connection.config") }
func archiveDir(share, source string) string { return filepath.Join(shipDir(share, source), "Archive") }

// iniFile is a parsed INI file: section -> key -> value, names lowercased.
type iniFile map[string]map[string]string

func (f iniFile) get(section, key string) (string, bool) {
	v, ok := f[strings.ToLower(section)][strings.ToLower(key)]
	return v, ok
}

// parseINI reads the INI files this simulation keeps, the way
// GetPrivateProfileString does: "key = value" lines under [sections],
// ";" and "#" comment lines, one pair of quotes around a value dropped.
func parseINI(path string, data []byte) (iniFile, error) {
	f := iniFile{}
	section := ""
	f[section] = map[string]string{}
	for n, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(strings.TrimPrefix(line, "\ufeff"))
		if t == "" || t[0] == ';' || t[0] == '#' {
			continue
		}
		if t[0] == '[' {
			if !strings.HasSuffix(t, "]") {
				return nil, fmt.Errorf("%s:%d: section header %q has no closing ]", path, n+1, t)
			}
			section = strings.ToLower(strings.TrimSpace(t[1 : len(t)-1]))
			if _, dup := f[section]; !dup {
				f[section] = map[string]string{}
			}
			continue
		}
		i := strings.IndexAny(t, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("%s:%d: expected key = value, got %q", path, n+1, t)
		}
		k := strings.ToLower(strings.TrimSpace(t[:i]))
		v := strings.TrimSpace(t[i+1:])
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		f[section][k] = v
	}
	return f, nil
}

func readINI(path string) (iniFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("%s is %d bytes; a settings file is a few hundred", path, len(b))
	}
	return parseINI(path, b)
}

// jobs are the SQL Server Agent jobs of log shipping, from Jobs.ini.
type jobs struct {
	acceptedLoss time.Duration
	retention    time.Duration
	backup       job
	ship         job
	restore      job
	restoreDelay time.Duration
}

type job struct {
	name     string
	enabled  bool
	interval time.Duration
}

// Job names, as SQL Server Agent shows them.
const (
	jobBackup  = "K2_LogBackup"
	jobShip    = "K2_LogShipping"
	jobRestore = "K2_LogRestore"
)

// parseJobs reads Jobs.ini; every problem names the file, the key and
// what is expected.
func parseJobs(path string, data []byte) (jobs, error) {
	f, err := parseINI(path, data)
	if err != nil {
		return jobs{}, err
	}
	num := func(section, key string, lo, hi int) (int, error) {
		v, ok := f.get(section, key)
		if !ok {
			return 0, fmt.Errorf("%s: [%s] %s is missing; expected a whole number from %d to %d", path, section, key, lo, hi)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("%s: [%s] %s = %q; expected a whole number from %d to %d", path, section, key, v, lo, hi)
		}
		return n, nil
	}
	var j jobs
	m, err := num("LogShipping", "AcceptedDataLossMinutes", 1, 100000)
	if err != nil {
		return j, err
	}
	j.acceptedLoss = time.Duration(m) * time.Minute
	h, err := num("LogShipping", "RetentionHours", 1, 8760)
	if err != nil {
		return j, err
	}
	j.retention = time.Duration(h) * time.Hour
	for _, x := range []*job{{name: jobBackup}, {name: jobShip}, {name: jobRestore}} {
		v, ok := f.get(x.name, "Enabled")
		switch strings.ToLower(v) {
		case "1", "true", "yes":
			x.enabled = true
		case "0", "false", "no":
		default:
			if !ok {
				return j, fmt.Errorf("%s: [%s] Enabled is missing; expected 1 or 0", path, x.name)
			}
			return j, fmt.Errorf("%s: [%s] Enabled = %q; expected 1 or 0", path, x.name, v)
		}
		m, err := num(x.name, "IntervalMinutes", 1, 1440)
		if err != nil {
			return j, err
		}
		x.interval = time.Duration(m) * time.Minute
		switch x.name {
		case jobBackup:
			j.backup = *x
		case jobShip:
			j.ship = *x
		case jobRestore:
			j.restore = *x
		}
	}
	d, err := num(jobRestore, "RestoreDelayMinutes", 0, 100000)
	if err != nil {
		return j, err
	}
	j.restoreDelay = time.Duration(d) * time.Minute
	return j, nil
}

func loadJobs(path string) (jobs, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return jobs{}, fmt.Errorf("SQL Server Agent jobs: %w", err)
	}
	return parseJobs(path, b)
}

// jobsINI is the first content of a server's Jobs.ini: production backs
// up and ships, the DR site restores.
func jobsINI(server string, primary bool) string {
	b := map[bool]string{true: "1", false: "0"}
	return fmt.Sprintf(`; SQL Server Agent jobs of the simulated SQL Server instance on %s, for the
; K2 disaster recovery procedure: initial full backups, then transaction log
; shipping with a point-in-time recovery. These are simulations (Vigil).
; Should the accepted data loss change, recalculate these schedules.
[LogShipping]
; The accepted data loss the schedules below are laid out for.
AcceptedDataLossMinutes = 240
; Log backups and their shipped copies are deleted after this long.
RetentionHours = 72

; Backs up the transaction logs of all K2 product and solution databases
; (recommended hourly).
[%s]
Enabled = %s
IntervalMinutes = 60

; Transmits the log backups to the DR site's share.
[%s]
Enabled = %s
IntervalMinutes = 60

; Applies, WITH NORECOVERY, the shipped log backups that are older than the
; restore delay (recommended hourly, 3 hours hold), then archives them.
[%s]
Enabled = %s
IntervalMinutes = 60
RestoreDelayMinutes = 180
`, server, jobBackup, b[primary], jobShip, b[primary], jobRestore, b[!primary])
}

// drINI is the first content of DisasterRecovery.ini.
func drINI(server, partner string) string {
	return fmt.Sprintf(`; K2 disaster recovery cutover on %s (simulated by Vigil).
[Recovery]
; The point in time every K2 database is recovered to (RESTORE LOG ... WITH
; STOPAT) from the log backups %s shipped: the time of the disaster at the
; production site minus 2 hours, in UTC, e.g. 2024-05-01T13:35:00Z. LATEST
; recovers to the end of the last shipped log backup (a planned failback
; after a tail-log backup).
StopAt =
`, server, partner)
}

// clientsConfig is the first content of the clients' connection file.
func clientsConfig(host string) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?>
<!-- Where K2 clients (Workspace, SmartForms, ASPX pages, SharePoint web parts)
     connect, through the DNS alias k2.corp.example (simulated by Vigil).
     After a cutover, point Host at the K2 server that now serves them. -->
<K2Connection>
  <Alias>k2.corp.example</Alias>
  <Host>%s</Host>
  <Port>5252</Port>
</K2Connection>
`, host)
}

var hostRE = regexp.MustCompile(`(?s)<Host>\s*([^<]*?)\s*</Host>`)

// readClientsHost reads the K2 server clients connect to.
func readClientsHost(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	m := hostRE.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("%s has no <Host> element naming the K2 server clients connect to", path)
	}
	return string(m[1]), nil
}

// licenseKey is the simulated license key of a K2 server: bound to the
// machine, as K2's is.
func licenseKey(server string) string {
	sum := sha256.Sum256([]byte("simulated K2 license|" + strings.ToUpper(server)))
	h := strings.ToUpper(hex.EncodeToString(sum[:8]))
	return "K2SIM-" + h[:4] + "-" + h[4:8] + "-" + h[8:12] + "-" + h[12:16]
}

// environment is how the license tables name a server's environment.
func environment(primary bool) string {
	if primary {
		return "Production"
	}
	return "Disaster Recovery"
}

// licenseStatements are the statements that give a K2 database the
// licensing of server.
func licenseStatements(server, env string) []string {
	return []string{
		`DELETE FROM [Server].[Server]`,
		fmt.Sprintf(`INSERT INTO [Server].[Server] (ID, Name, Description) VALUES (1, '%s', 'K2 server, %s')`, server, env),
		`DELETE FROM [HostServer].[LicenseKey]`,
		fmt.Sprintf(`INSERT INTO [HostServer].[LicenseKey] (ID, ServerName, LicenseKey, Environment) VALUES (1, '%s', '%s', '%s')`,
			server, licenseKey(server), env),
	}
}

// licenseScript is the SQL script that reapplies recorded licensing.
func licenseScript(server, recorded string, stmts []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "-- Reapplies the K2 licensing of %s (Server.Server and HostServer.LicenseKey),\n", server)
	fmt.Fprintf(&b, "-- recorded %s. Restoring databases across environments replaces this\n", recorded)
	b.WriteString("-- environment's license with the other's; run this after the restore.\n")
	b.WriteString("-- Simulated by Vigil.\nUSE [K2];\n")
	for _, s := range stmts {
		b.WriteString(s)
		b.WriteString(";\n")
	}
	return b.String()
}

var licenseStmtRE = regexp.MustCompile(`(?is)^(DELETE\s+FROM|INSERT\s+INTO|UPDATE)\s+\[(Server\]\.\[Server|HostServer\]\.\[LicenseKey)\]`)

// parseLicenseScript reads the statements of a license script, refusing
// anything but changes to the two license tables.
func parseLicenseScript(path string, data []byte) ([]string, error) {
	var out []string
	for _, st := range splitStatements(string(data)) {
		if regexp.MustCompile(`(?i)^USE\s+\[?K2\]?$`).MatchString(st) {
			continue
		}
		if !licenseStmtRE.MatchString(st) {
			return nil, fmt.Errorf("%s: %q: only DELETE, INSERT and UPDATE of [Server].[Server] and [HostServer].[LicenseKey] belong in the license script",
				path, truncate(st, 60))
		}
		out = append(out, st)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no statements; record the licensing first (the record-license command)", path)
	}
	return out, nil
}

// licenseOf says whom a K2 database is licensed to, from its two license
// tables, and whether that is valid for server.
type licenseState struct {
	servers    []string // Server.Server
	licensedTo []string // HostServer.LicenseKey rows whose key is right for their server
}

func (l licenseState) validFor(server string) bool {
	in := func(list []string) bool {
		for _, s := range list {
			if strings.EqualFold(s, server) {
				return true
			}
		}
		return false
	}
	return in(l.servers) && in(l.licensedTo)
}
