// Package redstor simulates the Redstor (Attix5 Pro) backup platform of
// redstor-accountserver-storageserver-failover.txt, for `vigil demo`,
// `vigil fleet` and tests. It is a SIMULATION, not Redstor's software: every
// log line it writes says so.
//
// The platform has four servers on two sites:
//
//   - AccountServer-Master (primary site) and AccountServer-Slave (secondary
//     site) run the AccountServer service (`vigil sim redstor-accountserver`).
//     Settings.xml in the AS_Service folder holds ServerGuid and IsSlave; the
//     service reads it when it starts, and the agent's role probe reads
//     IsSlave (False: Master). The Master owns the StoragePlatform database
//     (BackupServer, Groups and Accounts tables), copies it to its Slaves by
//     database backups, consumes Failover.UpdateSettingsOnSS from its task
//     queue, and is where the backup Agents log in: the simulated Agents run
//     inside the Master's process and back up to the StorageServer the
//     database names for each account, unless the account's Group is
//     disabled.
//   - StorageServer (primary site) and MirrorServer (secondary site) run the
//     StorageServer service (`vigil sim redstor-storageserver`). Which one is
//     the StorageServer and which the MirrorServer is what the Master
//     AccountServer's BackupServer table says (they ask it), so "Change
//     StorageServer address" promotes the MirrorServer. A StorageServer
//     accepts an Agent's backup only for accounts whose settings were synced
//     to it and whose HomeServerGUID is its own ServerGuid, and mirrors its
//     data to its MirrorServers at a bounded rate, so that progress and lag
//     are visible.
//
// The SP Console's operations, the manual database backup and the
// integrity check are one-shot tools (`vigil sim redstor-console`,
// `vigil sim redstor-integrity-check`) that agents declare as commands.
// Services talk over UDP on 127.0.0.1, one JSON datagram a request, with host
// names resolved through the --hosts table the fleet's layout writes on every
// start.
//
// How the document's steps map onto the agents' API (the console sees
// nothing else):
//
//   - stop/restart the AccountServer or StorageServer service: service.stop,
//     service.start (services AccountServer, StorageServer);
//   - IsSlave and ServerGuid: settings.get/set, dir AS_Service (or
//     SS_Service), path Settings.xml, key Settings/IsSlave,
//     Settings/ServerGuid; the role follows IsSlave, and restart_pending says
//     when the running service has not read it yet;
//   - Failover.UpdateSettingsOnSS: taskfile.drop, queue TaskQueue; last_task
//     and accounts_home_guids ("GUID:count") show its effect;
//   - the BackupServer table: settings.get/set on dir StoragePlatform, path
//     StoragePlatform.json (e.g. BackupServer.1.IP; booleans with type=raw),
//     command storage-platform to list it, and command register-as-slave on
//     the demoted Master for the document's branch (edit the matching Slave
//     entry, or add the demoted Master anew with its one-time password);
//   - the SP Console: commands ss-address-to-mirror, ss-address-to-original,
//     add-storageserver-as-mirror, delete-secondary-mirror,
//     enable-/disable-mirroring-to-storageserver, delete-storageserver-mirror,
//     add-mirrorserver, enable-mirroring-to-mirrorserver, disable-groups,
//     enable-groups; a StorageServer's own mirroring switch is Settings/Mirroring;
//   - the manual database backup: command db-backup (db_backup_result,
//     db_revision on both AccountServers);
//   - the integrity check: command integrity-check on a StorageServer (exit
//     status 1 when an account is incomplete);
//   - mirroring: facts mirror_state, mirror_progress, mirror_lag_bytes,
//     mirror_lag_seconds, mirror_target on the StorageServer.
//
// Nothing here talks to the console: it sees the platform only through the
// agents' API.
package redstor
