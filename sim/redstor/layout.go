package redstor

import (
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vigilops/vigil/sim"
)

// accountNames are the simulated backup accounts, by AccountID from 1, and
// their Groups.
var accountNames = [][2]string{
	{"Finance-PC01", "Finance"}, {"Finance-PC02", "Finance"}, {"Finance-FS01", "Finance"},
	{"Sales-PC01", "Sales"}, {"Sales-PC02", "Sales"}, {"Sales-Laptop03", "Sales"},
}

// layout lays out the four servers the first time (Settings.xml with new
// ServerGuids, the StoragePlatform database on both AccountServers, the
// StorageServers' data with the MirrorServer a few backups behind) and
// rewires the host table every start.
func layout(l *sim.Layout) (map[string]string, error) {
	members := []string{memMaster, memSlave, memSS, memMirror}
	var table []string
	for _, m := range members {
		port, err := sim.FreeUDPPort()
		if err != nil {
			return nil, fmt.Errorf("port for %s: %w", m, err)
		}
		table = append(table, fmt.Sprintf("%s=127.0.0.1:%d", m, port))
	}
	hosts := strings.Join(table, ",")

	guids := map[string]string{}
	settingsPath := map[string]string{}
	for _, m := range members {
		dir := ssServiceDir
		if m == memMaster || m == memSlave {
			dir = asServiceDir
		}
		settingsPath[m] = l.Host(m, under(dir, settingsFile)...)
		s, _, err := readSettings(settingsPath[m])
		switch {
		case err == nil:
			guids[m] = s.GUID
		case errors.Is(err, os.ErrNotExist):
			guids[m] = uuid.NewString()
		default:
			return nil, err
		}
	}
	now := l.Clock.Now().UTC().Truncate(time.Second)
	db := initialDatabase(guids, now)
	dbText, err := db.encode()
	if err != nil {
		return nil, err
	}
	files := map[string]string{
		settingsPath[memMaster]:                                asSettingsXML(guids[memMaster], memMaster, false),
		settingsPath[memSlave]:                                 asSettingsXML(guids[memSlave], memSlave, true),
		settingsPath[memSS]:                                    ssSettingsXML(guids[memSS], memSS, []string{memMaster, memSlave}),
		settingsPath[memMirror]:                                ssSettingsXML(guids[memMirror], memMirror, []string{memMaster, memSlave}),
		l.Host(memMaster, under(databaseDir, databaseFile)...): string(dbText),
		l.Host(memSlave, under(databaseDir, databaseFile)...):  string(dbText),
	}
	ssCfg := spConfig{AccountServer: memMaster, Revision: db.Revision, Entries: []spEntry{{Name: memSS, Type: typeSS}},
		Mirrors: []spMirror{{Name: memMirror, Host: memMirror, Enabled: true}}}
	msCfg := spConfig{AccountServer: memMaster, Revision: db.Revision, Entries: []spEntry{{Name: memMirror, Type: typeMirror}}}
	var settings accountSettingsXML
	var ssData, msData storedAccountsXML
	for _, a := range db.Accounts {
		settings.Accounts = append(settings.Accounts, accountSetting{ID: a.AccountID, Name: a.Name, Group: a.Group, HomeServerGUID: a.HomeServerGUID})
		ssData.Accounts = append(ssData.Accounts, storedAccount{ID: a.AccountID, Seq: history,
			Bytes: agentTotal(a.AccountID, history), At: a.Created.Add(history * backupInterval)})
		// A platform running normally: the MirrorServer holds what the
		// StorageServer holds. It falls behind as backups arrive and
		// catches up at the mirroring rate.
		msData.Accounts = append(msData.Accounts, ssData.Accounts[len(ssData.Accounts)-1])
	}
	for _, x := range []struct {
		member  string
		path    []string
		comment string
		v       any
	}{
		{memSS, under(ssServiceDir, serverConfig), "SIMULATED Redstor StorageServer: its place in the Storage Platform, as the Master AccountServer last said (vigil sim)", ssCfg},
		{memMirror, under(ssServiceDir, serverConfig), "SIMULATED Redstor StorageServer: its place in the Storage Platform, as the Master AccountServer last said (vigil sim)", msCfg},
		{memSS, under(ssServiceDir, accountSettings), "SIMULATED Redstor StorageServer: account settings synced by the AccountServer (vigil sim)", settings},
		{memSS, under(storageDir, accountsFile), "SIMULATED Redstor StorageServer data index (vigil sim)", ssData},
		{memMirror, under(storageDir, accountsFile), "SIMULATED Redstor StorageServer data index (vigil sim)", msData},
	} {
		b, err := xml.MarshalIndent(x.v, "", "  ")
		if err != nil {
			return nil, err
		}
		files[l.Host(x.member, x.path...)] = xml.Header + "<!-- " + x.comment + " -->\n" + string(b) + "\n"
	}
	for path, content := range files {
		if err := sim.WriteOnce(path, content); err != nil {
			return nil, fmt.Errorf("lay out %s: %w", path, err)
		}
	}
	for _, m := range []string{memMaster, memSlave} {
		if err := os.MkdirAll(l.Host(m, under(asServiceDir, taskQueue)...), 0o755); err != nil {
			return nil, err
		}
	}
	return map[string]string{
		memMaster: asConfig(l, memMaster, memSlave, hosts),
		memSlave:  asConfig(l, memSlave, memMaster, hosts),
		memSS:     ssConfig(l, memSS, hosts),
		memMirror: ssConfig(l, memMirror, hosts),
	}, nil
}

// initialDatabase is the StoragePlatform database of a platform running
// normally: a Master and a Slave AccountServer, a StorageServer mirrored to
// a MirrorServer, and six accounts homed on the StorageServer with a
// history of backups.
func initialDatabase(guids map[string]string, now time.Time) *database {
	db := &database{Revision: 1,
		BackupServer: []backupServer{
			{ServerGUID: guids[memMaster], Name: memMaster, Type: typeMaster, IP: memMaster, Port: portAS, OnLine: true},
			{ServerGUID: guids[memSlave], Name: memSlave, Type: typeSlave, IP: memSlave, Port: portAS, OnLine: true},
			{ServerGUID: guids[memSS], Name: memSS, Type: typeSS, IP: memSS, Port: portSS, OnLine: true},
			{ServerGUID: guids[memMirror], Name: memMirror, Type: typeMirror, IP: memMirror, Port: portSS, OnLine: true,
				MirrorOf: memSS, MirroringEnabled: true},
		},
		Groups: []group{{Name: "Finance"}, {Name: "Sales"}},
	}
	for i, a := range accountNames {
		id := i + 1
		// Staggered, so that the Agents do not all back up at once; the
		// first is due a simulated minute after the layout, the rest two minutes
		// apart.
		phase := backupInterval - time.Duration(id)*2*time.Minute
		db.Accounts = append(db.Accounts, account{AccountID: id, Name: a[0], Group: a[1], StorageServer: memSS,
			HomeServerGUID: guids[memSS], Created: now.Add(-history*backupInterval - phase)})
	}
	return db
}

// simArgv is the command line of a simulated program. Its own flags follow
// "--": sim.Main's flag set stops there and hands the rest to the program.
func simArgv(l *sim.Layout, member, program string, args ...string) []string {
	return l.Sim(member, program, append([]string{"--"}, args...)...)
}

func yq(s string) string { return strconv.Quote(s) }

func yflow(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = yq(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// fact is one entry of an agent's facts: a value of a settings file, read
// only while service runs when service is set.
type factSpec struct{ name, dir, file, key, service string }

func writeFacts(b *strings.Builder, facts []factSpec) {
	b.WriteString("facts:\n")
	for _, f := range facts {
		fmt.Fprintf(b, "  - name: %s\n    kind: setting\n    dir: %s\n    path: %s\n    key: %s\n", f.name, f.dir, f.file, f.key)
		if f.service != "" {
			fmt.Fprintf(b, "    service: %s\n", f.service)
		}
	}
}

// asConfig is an AccountServer host's agent configuration.
func asConfig(l *sim.Layout, m, peer, hosts string) string {
	var b strings.Builder
	svcDir := l.Host(m, asServiceDir...)
	fmt.Fprintf(&b, "services:\n  - name: %s\n    driver: process\n    command: %s\n    stop_timeout: 10s\n",
		winAS, yflow(simArgv(l, m, svcAS, "--name", m, "--hosts", hosts)))
	fmt.Fprintf(&b, "settings:\n  - name: AS_Service\n    dir: %s\n  - name: StoragePlatform\n    dir: %s\n",
		yq(svcDir), yq(l.Host(m, databaseDir...)))
	fmt.Fprintf(&b, "queues:\n  - name: TaskQueue\n    dir: %s\n", yq(l.Host(m, under(asServiceDir, taskQueue)...)))
	b.WriteString("commands:\n")
	console := func(args ...string) []string {
		return simArgv(l, m, toolConsole, append([]string{"--name", m, "--hosts", hosts}, args...)...)
	}
	for _, c := range []struct {
		name string
		argv []string
	}{
		{"storage-platform", console("--op", "show")},
		{"ss-address-to-mirror", console("--op", "change-address", "--entry", memSS, "--to", memMirror)},
		{"ss-address-to-original", console("--op", "change-address", "--entry", memSS, "--to", memSS)},
		{"add-storageserver-as-mirror", console("--op", "add-mirror", "--of", memSS, "--host", memSS, "--entry-name", memSS+" (demoted)")},
		{"delete-secondary-mirror", console("--op", "delete-entry", "--type", typeMirror, "--host", memMirror)},
		{"enable-mirroring-to-storageserver", console("--op", "set-mirroring", "--host", memSS, "--enabled=true")},
		{"disable-mirroring-to-storageserver", console("--op", "set-mirroring", "--host", memSS, "--enabled=false")},
		{"delete-storageserver-mirror", console("--op", "delete-entry", "--type", typeMirror, "--host", memSS)},
		{"add-mirrorserver", console("--op", "add-mirror", "--of", memSS, "--host", memMirror, "--entry-name", memMirror)},
		{"enable-mirroring-to-mirrorserver", console("--op", "set-mirroring", "--host", memMirror, "--enabled=true")},
		{"disable-groups", console("--op", "groups", "--disabled=true")},
		{"enable-groups", console("--op", "groups", "--disabled=false")},
		{"db-backup", console("--op", "db-backup")},
		{"register-as-slave", console("--op", "register-slave", "--peers", peer)},
	} {
		fmt.Fprintf(&b, "  - name: %s\n    argv: %s\n    timeout: 30s\n", c.name, yflow(c.argv))
	}
	fmt.Fprintf(&b, "role_probe:\n  kind: setting\n  dir: AS_Service\n  path: %s\n  key: Settings/IsSlave\n  service: %s\n"+
		"  map: {\"False\": primary, \"false\": primary, \"True\": standby, \"true\": standby}\n", settingsFile, winAS)
	d := func(name, key string) factSpec {
		return factSpec{name, "AS_Service", diagnosticsFile, "Diagnostics/" + key, winAS}
	}
	writeFacts(&b, []factSpec{
		{"server_guid", "AS_Service", settingsFile, "Settings/ServerGuid", ""},
		d("running_as", "RunningAs"),
		d("restart_pending", "RestartPending"),
		d("master_account_server", "MasterAccountServer"),
		d("slave_account_servers", "SlaveAccountServers"),
		d("db_revision", "DatabaseRevision"),
		d("db_error", "DatabaseError"),
		d("db_restored", "DatabaseRestored"),
		d("db_backup_last", "LastDatabaseBackup"),
		d("db_backup_result", "LastDatabaseBackupResult"),
		d("storageserver_address", "StorageServerAddress"),
		d("mirror_servers", "MirrorServers"),
		d("accounts_home_guids", "AccountsHomeServerGuids"),
		d("groups_disabled", "GroupsDisabled"),
		d("backups_succeeded", "BackupsSucceeded"),
		d("backups_failed", "BackupsFailed"),
		d("backups_blocked", "BackupsBlocked"),
		d("last_backup_result", "LastBackupResult"),
		d("last_task", "LastTask"),
		d("tasks_pending", "TasksPending"),
	})
	return b.String()
}

// ssConfig is a StorageServer or MirrorServer host's agent configuration.
func ssConfig(l *sim.Layout, m, hosts string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "services:\n  - name: %s\n    driver: process\n    command: %s\n    stop_timeout: 10s\n",
		winSS, yflow(simArgv(l, m, svcSS, "--name", m, "--hosts", hosts)))
	fmt.Fprintf(&b, "settings:\n  - name: SS_Service\n    dir: %s\n", yq(l.Host(m, ssServiceDir...)))
	fmt.Fprintf(&b, "commands:\n  - name: integrity-check\n    argv: %s\n    timeout: 30s\n",
		yflow(simArgv(l, m, toolIntegrity, "--name", m, "--hosts", hosts)))
	fmt.Fprintf(&b, "role_probe:\n  kind: setting\n  dir: SS_Service\n  path: %s\n  key: Diagnostics/Role\n  service: %s\n"+
		"  map: {%s: primary, %s: standby, %s: out-of-service}\n", diagnosticsFile, winSS, roleStorage, roleMirror, roleUnassigned)
	d := func(name, key string) factSpec {
		return factSpec{name, "SS_Service", diagnosticsFile, "Diagnostics/" + key, winSS}
	}
	writeFacts(&b, []factSpec{
		{"server_guid", "SS_Service", settingsFile, "Settings/ServerGuid", ""},
		{"mirroring_setting", "SS_Service", settingsFile, "Settings/Mirroring", ""},
		d("storage_role", "Role"),
		d("account_server", "AccountServer"),
		d("configuration_note", "ConfigurationNote"),
		d("accounts_homed", "AccountsHomed"),
		d("stored_bytes", "StoredBytes"),
		d("incomplete_accounts", "IncompleteAccounts"),
		d("backups_received", "BackupsReceived"),
		d("backups_refused", "BackupsRefused"),
		d("last_refusal", "LastRefusal"),
		d("mirror_target", "MirrorTarget"),
		d("mirror_state", "MirrorState"),
		d("mirror_progress", "MirrorProgress"),
		d("mirror_lag_bytes", "MirrorLagBytes"),
		d("mirror_lag_seconds", "MirrorLagSeconds"),
		d("mirrored_bytes", "MirroredBytes"),
		d("mirror_data_received", "MirrorDataReceived"),
	})
	return b.String()
}
