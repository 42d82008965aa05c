// Package wavestore simulates the system of wavestore-v6-failover.txt
// ("Failover for Wavestore version 6", WST-0073-01): a 2+1 system of two
// physical servers, ws-physical-1 and ws-physical-2, hosting logical
// servers 1 and 2, and one standby, ws-standby. It is a simulation, labelled
// as such in every file and log line it writes, not Wavestore.
//
// Each server runs `vigil sim wavestore` under its agent's process driver.
// The servers talk among themselves as the product does, over the network
// only (UDP heartbeats and arbitration, TCP copy-back, on loopback ports the
// fleet writes to sim-peers.ini at every start):
//
//   - Every server sends a heartbeat each Failover.HeartbeatSeconds: what it
//     hosts, its status code, whether it contends for its logical server,
//     the last second it recorded, and its configuration summary.
//   - The standby takes over a logical server it has not heard hosted for
//     Failover.TakeoverSeconds (default 10), or at once when its physical
//     server announces 99 FAILED. It records there, brings up the logical
//     address, counts the seconds missed and sends the e-mail notification.
//   - A physical server that starts contends for its logical server; it wins
//     arbitration against the standby, which hands the logical server back
//     and copies the footage it recorded onto it, paced by
//     Failover.CopyBackMBps, with progress on both sides; footage leaves the
//     standby only once the physical server has it, and an interrupted copy
//     resumes.
//   - Event rules (eventrules.ini) run Script 99 for a cause dropped into the
//     events queue: status 99 FAILED, capture stopped, secondary interfaces
//     dropped, no arbitration until the service restarts. Clearing the cause
//     ("state = cleared") clears FAILED; a cause other than Manual stays
//     active across restarts until cleared, as a hardware fault would.
//   - `vigil sim wavestore-failover-delete` (the agent's failover-delete
//     command) removes the failover configuration, and the running service
//     leaves the failover group at once.
//
// Files, under each server's host/ root as on a Wavestore appliance:
// settings in etc/wavestore (failover.ini, server.ini, network.ini,
// users.ini, eventrules.ini: the agent's "config" settings directory, read
// at start, as the document's "restart all the servers" says); the status
// the service writes in var/lib/wavestore/status/status.ini (the "status"
// settings directory); footage indexes in var/lib/wavestore/disks/LETTER;
// event causes in var/spool/wavestore/events (the "events" queue); the
// system log in var/log/wavestore/system.log.
//
// Roles: role_probe reads Failover.State in status.ini, believed only while
// the wavestore service runs: hosting → primary (a physical server hosting
// its logical server, or the standby hosting a failed one; several
// primaries are normal), standby → standby, waiting (a physical server
// arbitrating, recording nothing yet) and standalone (after
// failover-delete) → out-of-service, failed (99 FAILED, or stopped after it
// until restarted) → failed.
//
// The document's steps, and how a wizard checks (facts), performs (agent
// actions) or guides them:
//
//	How does failover work
//	  1 standby monitors, takes over      failover_peers, hosted_logical_server, missed_seconds,
//	                                      last_takeover, takeover_seconds(_in_effect), role
//	  2 logical server transferred,       recording, recorded_until, secondary_interfaces
//	    recording continues
//	  3 e-mail notification               last_notification
//	  4 failed server sent for repair     guide; service.stop / service.start
//	  back up: takes over again, copy     hosted_logical_server, copy_back, copy_back_progress
//	Licensing                             licence, licensed_channels, cameras; failover_check
//	Configuring Failover
//	  1 connect to the network            failover_peers (every server heard)
//	  2 physical addresses, no group      physical_address, server_group; settings.set
//	  3 user failoverserver, user level   failoverserver_user; settings.set users.ini
//	  4-5 log in, View → Setup → Failover guide
//	  6 list of physical servers          failover_physical_servers, failover_mode; settings.set
//	  7-8 logical addresses (Add Secondary) logical_address, secondary_interfaces; settings.set
//	  9 optional                          guide
//	  10-11 NTP (or logical server 1)     ntp_server; settings.set
//	Setting up cameras, physical 1        cameras, tracks, disk_letters
//	Setting up cameras on the standby
//	  1 log in                            guide
//	  2 dummy cameras (backup capture)    capture_device
//	  3 same tracks, disks, length        tracks, disk_letters, cameras; failover_check compares
//	  4-5 server group, log in            server_group; guide
//	  6 nothing records on the standby    event_recording, recording
//	Final Checks
//	  1 restart all servers               service.restart; takeover_seconds vs _in_effect
//	  2 log says PRIMARY STANDBY          system_log_failover (log probe)
//	  3 no issues in the system logs      log_issues, last_issue, failover_check
//	Stopping Failover 1 failover-delete   command.run failover-delete; failover_enabled,
//	                                      failover_mode, role out-of-service
//	Failover on Event
//	  1 Script 99, parameter 0, Failover  failover_rules; settings.set eventrules.ini
//	  2 status 99 FAILED                  status, recording, secondary_interfaces; trigger by
//	                                      taskfile.drop events "cause = DiskFault" or "Manual"
//	  3 clearing the fault clears FAILED  taskfile.drop "cause = DiskFault / state = cleared";
//	                                      status, restart_required
//	  4 restart; no arbitration while     service.restart; arbitration, restart_required
//	    FAILED
//	WaveView Security                     guide (a client setting; no client is simulated)
//
// What it does not simulate: video (footage is an index with a nominal
// size), the WaveView client (greyed-out box, following the logical address,
// its security preference), analogue cameras, licences beyond their
// settings, real network interfaces (logical addresses are recorded, not
// configured), more than one standby.
package wavestore
