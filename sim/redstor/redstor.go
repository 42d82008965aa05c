package redstor

import (
	"time"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/sim"
)

func init() { sim.Register(System()) }

// Members of the simulated platform, named as the document names the roles.
const (
	memMaster = "AccountServer-Master"
	memSlave  = "AccountServer-Slave"
	memSS     = "StorageServer"
	memMirror = "MirrorServer"
)

// The simulated programs, as `vigil sim NAME`.
const (
	svcAS         = "redstor-accountserver"
	svcSS         = "redstor-storageserver"
	toolConsole   = "redstor-console"
	toolIntegrity = "redstor-integrity-check"
)

// The Windows service names agents declare.
const (
	winAS = "AccountServer"
	winSS = "StorageServer"
)

// Simulated times and rates (all on the simulated clock).
const (
	// backupInterval is how often each Agent backs up.
	backupInterval = 15 * time.Minute
	// retryInterval is how soon an Agent tries again after a failed backup.
	retryInterval = 2 * time.Minute
	// mirrorRate is how many bytes a StorageServer sends each MirrorServer
	// per simulated second: an 8 Mbit/s link between the sites.
	mirrorRate = 1 << 20
	// dbBackupInterval is how often a Master backs its database up to its
	// Slaves on its own; the document's manual backup does it at once.
	dbBackupInterval = time.Hour
	// history is how many backups each account has when the platform is
	// laid out; the MirrorServer starts a few behind.
	history = 40
)

// Nominal vendor ports, as the BackupServer table records them. The
// simulation reaches each host through --hosts, whatever the port says.
const (
	portAS = 5555
	portSS = 5000
)

// BackupServer table types.
const (
	typeMaster = "MasterAccountServer"
	typeSlave  = "SlaveAccountServer"
	typeSS     = "StorageServer"
	typeMirror = "MirrorServer"
)

// Storage roles a StorageServer reports.
const (
	roleStorage    = "StorageServer"
	roleMirror     = "MirrorServer"
	roleUnassigned = "Unassigned"
)

// StorageSystem is the redundant pair of StorageServer and MirrorServer:
// they fail over apart from the AccountServers, so they are a system of
// their own for the console (one primary each).
const StorageSystem = "redstor-storage"

// storageWords are the document's words for the storage servers' roles.
var storageWords = map[model.Role]string{model.RolePrimary: "StorageServer", model.RoleStandby: "MirrorServer",
	model.RoleOutOfService: "not in the Storage Platform"}

// System is the simulated Redstor platform.
func System() *sim.System {
	return &sim.System{Profile: "redstor", Name: "redstor", Doc: "redstor-accountserver-storageserver-failover.txt",
		Members: []sim.Member{
			{Name: memMaster, Site: "primary-site", Role: model.RolePrimary},
			{Name: memSlave, Site: "secondary-site", Role: model.RoleStandby},
			{Name: memSS, Site: "primary-site", Role: model.RolePrimary, System: StorageSystem, VendorRoles: storageWords},
			{Name: memMirror, Site: "secondary-site", Role: model.RoleStandby, System: StorageSystem, VendorRoles: storageWords},
		},
		Services: []sim.Service{
			{Name: svcAS, Summary: "simulated Redstor AccountServer service (Master or Slave, by IsSlave in Settings.xml)", Run: runAccountServer},
			{Name: svcSS, Summary: "simulated Redstor StorageServer service (StorageServer or MirrorServer, as the Master's BackupServer table says)", Run: runStorageServer},
			{Name: toolConsole, Summary: "simulated Redstor SP Console operation (one-shot): --op show|change-address|add-mirror|delete-entry|set-mirroring|groups|db-backup|register-slave", Run: runConsole},
			{Name: toolIntegrity, Summary: "simulated Redstor integrity check of a StorageServer's backup accounts (one-shot)", Run: runIntegrityCheck},
		},
		Layout: layout,
	}
}
