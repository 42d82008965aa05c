package app

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
)

// The Redstor platform of the simulation, as the document names its servers.
const (
	rsMaster = "AccountServer-Master"
	rsSlave  = "AccountServer-Slave"
	rsSS     = "StorageServer"
	rsMirror = "MirrorServer"
)

// redstorRig is one simulated Redstor platform paired with a console.
type redstorRig struct {
	t    *testing.T
	data string
	ag   *agents
	ids  map[string]string // member name -> agent id
}

func newRedstorRig(t *testing.T, speed int) *redstorRig {
	t.Helper()
	members, data := procedureFleet(t, "redstor", speed)
	r := &redstorRig{t: t, data: data, ag: newAgents(t, data, members), ids: map[string]string{}}
	for _, m := range members {
		r.ids[m.Name] = m.AgentID
	}
	return r
}

// act does by hand, through `vigil action`, what the document has the
// operator do on a server (by agent id: other tests' fleets announce
// servers of the same names).
func (r *redstorRig) act(member, action string, params ...string) string {
	r.t.Helper()
	out, errOut, code := vigilRun(r.t, append(append([]string{"action", r.ids[member], action}, params...), "--operator", "e2e-hand", "--data", r.data)...)
	if code != 0 {
		r.t.Fatalf("%s on %s %v: exit %d\n%s\n%s", action, member, params, code, out, errOut)
	}
	return out
}

// await waits until the member's status, read through its agent, satisfies ok.
// redstorWaitLimit is when a wait for a state of the simulated servers
// gives up: far beyond what any state takes on a quiet machine (seconds),
// so that a machine shared with other work only makes the test slower.
// The mirror's catching up after a failback is the longest: its progress
// is simulated copying, slowed by a busy machine like real copying.
const redstorWaitLimit = 5 * time.Minute

func (r *redstorRig) await(member, what string, ok func(actions.Status) bool) actions.Status {
	r.t.Helper()
	timeout := redstorWaitLimit
	deadline := time.Now().Add(timeout)
	for {
		st := r.ag.status(member)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: not %s within %v: role %s, facts %v", member, what, timeout, st.Role, st.Facts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *redstorRig) fact(member, fact string) string { return r.ag.status(member).Facts[fact] }

// run runs a procedure headless with --yes and returns its output.
func (r *redstorRig) run(args ...string) string {
	r.t.Helper()
	start := time.Now()
	out, errOut, code := vigilRun(r.t, append(append([]string{"procedure", "run"}, args...), "--yes", "--operator", "e2e", "--data", r.data)...)
	r.t.Logf("vigil procedure run %v: exit %d in %v", args, code, time.Since(start).Round(time.Millisecond))
	if code != 0 {
		r.t.Fatalf("vigil procedure run %v: exit %d\n%s\n%s", args, code, out, errOut)
	}
	return out
}

// runByHand runs a procedure on the terminal without --yes, as an operator
// would: it approves every action and confirmation, and before confirming
// a step whose question contains one of hands' keys it does that step by
// hand (hands[key]), as the document has the operator do it on a server
// the run cannot act on.
func (r *redstorRig) runByHand(hands map[string]func(), args ...string) string {
	r.t.Helper()
	start := time.Now()
	cmd := exec.Command(vigilBin, append(append([]string{"procedure", "run"}, args...), "--operator", "e2e", "--data", r.data)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	var out strings.Builder
	done := map[string]bool{}
	rd := bufio.NewReader(stdout)
	var line strings.Builder
	for {
		b, err := rd.ReadByte()
		if err == io.EOF {
			break
		} else if err != nil {
			r.t.Fatal(err)
		}
		out.WriteByte(b)
		if b == '\n' {
			line.Reset()
			continue
		}
		line.WriteByte(b)
		q := line.String()
		switch {
		case strings.HasSuffix(q, "[y/N/abort] "):
			for key, hand := range hands {
				if strings.Contains(q, key) && !done[key] {
					done[key] = true
					hand()
				}
			}
			io.WriteString(stdin, "y\n")
			line.Reset()
		case strings.HasSuffix(q, "Note (Enter for none): "):
			io.WriteString(stdin, "done by hand through vigil action\n")
			line.Reset()
		}
	}
	err = cmd.Wait()
	r.t.Logf("vigil procedure run %v (on the terminal): %v in %v", args, err, time.Since(start).Round(time.Millisecond))
	if err != nil {
		r.t.Fatalf("vigil procedure run %v: %v\n%s\n%s", args, err, out.String(), errOut.String())
	}
	for key := range hands {
		if !done[key] {
			r.t.Errorf("no question with %q was asked:\n%s", key, out.String())
		}
	}
	return out.String()
}

// allStepsPassed checks that every step of the output passed or was skipped.
func allStepsPassed(t *testing.T, out string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^step \d+/(\d+) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no steps in\n%s", out)
	}
	var n int
	fmt.Sscan(m[1], &n)
	for i := 1; i <= n; i++ {
		if !regexp.MustCompile(fmt.Sprintf(`step %d/%d (passed|skipped)`, i, n)).MatchString(out) {
			t.Errorf("step %d/%d neither passed nor was skipped:\n%s", i, n, out)
			return
		}
	}
}

// TestProcedureRedstor runs the Redstor procedures of the document in
// turn, headless, against one simulated platform whose primary site fails:
// failover, prepare to fail back the AccountServer and the StorageServer,
// fail back, and the post-failback integrity check. After each it checks
// the end state through the agents of both systems (redstor and
// redstor-storage).
func TestProcedureRedstor(t *testing.T) {
	t.Parallel()
	r := newRedstorRig(t, 120)
	r.await(rsMaster, "primary", func(st actions.Status) bool { return st.Role == "primary" })
	r.await(rsSlave, "standby", func(st actions.Status) bool { return st.Role == "standby" })
	r.await(rsSS, "primary", func(st actions.Status) bool { return st.Role == "primary" })
	r.await(rsMirror, "standby", func(st actions.Status) bool { return st.Role == "standby" })
	r.await(rsMaster, "backing up", func(st actions.Status) bool { return st.Facts["backups_succeeded"] != "0" })
	ssGUID, msGUID, masterGUID := r.fact(rsSS, "server_guid"), r.fact(rsMirror, "server_guid"), r.fact(rsMaster, "server_guid")
	if len(ssGUID) != 36 || len(msGUID) != 36 || len(masterGUID) != 36 {
		t.Fatalf("server GUIDs %q %q %q", ssGUID, msGUID, masterGUID)
	}
	if ag := r.ag.status(rsSS); ag.System != "redstor-storage" {
		t.Fatalf("StorageServer is in system %q", ag.System)
	}

	// The primary site fails: the Master AccountServer and the
	// StorageServer stop.
	r.act(rsMaster, "service.stop", "service=AccountServer")
	r.act(rsSS, "service.stop", "service=StorageServer")
	r.await(rsMaster, "out of service", func(st actions.Status) bool { return st.Role == "out-of-service" })

	if !t.Run("failover", func(t *testing.T) {
		r.t = t
		out := r.run("redstor-failover", "--system", "redstor")
		allStepsPassed(t, out)
		// The old Slave's Settings.xml says IsSlave False; it is the Master.
		if v := r.act(rsSlave, "settings.get", "dir=AS_Service", "path=Settings.xml", "key=Settings/IsSlave"); !strings.Contains(v, "False") {
			t.Errorf("old Slave's IsSlave after failover:\n%s", v)
		}
		st := r.ag.status(rsSlave)
		if st.Role != "primary" || st.Facts["running_as"] != "Master" {
			t.Errorf("old Slave: role %s, running as %s", st.Role, st.Facts["running_as"])
		}
		// The StorageServer address points at the MirrorServer, and every
		// account's HomeServerGUID is the MirrorServer's.
		if v := st.Facts["storageserver_address"]; v != "StorageServer=MirrorServer:5000" {
			t.Errorf("StorageServer address %q", v)
		}
		if v := st.Facts["accounts_home_guids"]; v != msGUID+":6" {
			t.Errorf("accounts' HomeServerGUIDs %q, want all six on the MirrorServer's %s", v, msGUID)
		}
		for i := range 6 {
			if v := r.act(rsSlave, "settings.get", "dir=StoragePlatform", "path=StoragePlatform.json", fmt.Sprintf("key=Accounts.%d.HomeServerGUID", i)); !strings.Contains(v, msGUID) {
				t.Errorf("account %d HomeServerGUID:\n%s", i, v)
			}
		}
		// The MirrorServer is the StorageServer now and takes backups.
		r.await(rsMirror, "the StorageServer taking backups", func(st actions.Status) bool {
			return st.Role == "primary" && st.Facts["storage_role"] == "StorageServer" && st.Facts["accounts_homed"] == "6" &&
				st.Facts["backups_received"] != "0" && st.Facts["backups_received"] != ""
		})
	}) {
		return
	}

	if !t.Run("prepare-failback-accountserver", func(t *testing.T) {
		r.t = t
		out := r.run("redstor-prepare-failback-accountserver", "--system", "redstor")
		allStepsPassed(t, out)
		// The document's branch: the Slave entry's ServerGUID is not the
		// demoted Master's, so it was added anew and the edit was skipped.
		if !regexp.MustCompile(`(?m)^step 9/14 skipped: .*going on at step 11 `).MatchString(out) || !strings.Contains(out, "step 11/14 passed: command.run on "+rsMaster+": done") {
			t.Errorf("the demoted Master was not added anew:\n%s", out)
		}
		if v := r.act(rsMaster, "settings.get", "dir=AS_Service", "path=Settings.xml", "key=Settings/IsSlave"); !strings.Contains(v, "True") {
			t.Errorf("demoted Master's IsSlave:\n%s", v)
		}
		if st := r.ag.status(rsMaster); st.Role != "standby" || st.Facts["running_as"] != "Slave" || st.Facts["master_account_server"] != rsSlave {
			t.Errorf("demoted Master: role %s, running as %s, Master %s", st.Role, st.Facts["running_as"], st.Facts["master_account_server"])
		}
		if v := r.fact(rsSlave, "slave_account_servers"); !strings.Contains(v, " at "+rsMaster+": online") {
			t.Errorf("promoted Slave's Slaves: %q", v)
		}
	}) {
		return
	}

	if !t.Run("prepare-failback-storageserver", func(t *testing.T) {
		r.t = t
		// The steps on the storage pair (system redstor-storage) are done by
		// hand when the run asks for them.
		out := r.runByHand(map[string]func(){
			"restart the StorageServer service)": func() {
				r.act(rsSS, "service.start", "service=StorageServer")
				r.await(rsSS, "running, in no BackupServer entry", func(st actions.Status) bool { return st.Role == "out-of-service" })
			},
			"Settings/Mirroring False": func() {
				r.act(rsSS, "settings.set", "dir=SS_Service", "path=Settings.xml", "key=Settings/Mirroring", "value=False")
			},
			"mirror_state is up to date": func() {
				r.await(rsMirror, "mirroring to the demoted StorageServer, up to date", func(st actions.Status) bool {
					return st.Facts["mirror_target"] == rsSS && st.Facts["mirror_state"] == "up to date"
				})
			},
		}, "redstor-prepare-failback-storageserver", "--system", "redstor")
		allStepsPassed(t, out)
		// Full redundancy with the sites reversed, through the agents of
		// both systems. The run's own step saw the mirror up to date;
		// since then a new backup may have reached the MirrorServer,
		// which is then mirroring it: either says the pair mirrors.
		if st := r.ag.status(rsMirror); st.Role != "primary" || st.Facts["mirror_target"] != rsSS ||
			(st.Facts["mirror_state"] != "up to date" && st.Facts["mirror_state"] != "mirroring") {
			t.Errorf("promoted MirrorServer: role %s, mirrors to %q, %s", st.Role, st.Facts["mirror_target"], st.Facts["mirror_state"])
		}
		if st := r.ag.status(rsSS); st.Role != "standby" || st.Facts["mirroring_setting"] != "False" {
			t.Errorf("demoted StorageServer: role %s, Mirroring %s", st.Role, st.Facts["mirroring_setting"])
		}
		if v := r.fact(rsSlave, "mirror_servers"); strings.Contains(v, "MirrorServer at MirrorServer") {
			t.Errorf("the secondary mirror is still there: %q", v)
		}
	}) {
		return
	}

	if !t.Run("failback", func(t *testing.T) {
		r.t = t
		out := r.runByHand(map[string]func(){
			"mirror_state is up to date": func() {
				r.await(rsMirror, "mirroring to the demoted StorageServer, up to date", func(st actions.Status) bool {
					return st.Facts["mirror_target"] == rsSS && st.Facts["mirror_state"] == "up to date"
				})
			},
			"StorageServer service on the promoted MirrorServer stopped": func() {
				r.act(rsMirror, "service.stop", "service=StorageServer")
				if v := r.act(rsMirror, "settings.get", "dir=SS_Service", "path=Settings.xml", "key=Settings/ServerGuid"); !strings.Contains(v, msGUID) {
					t.Errorf("MirrorServer's ServerGuid:\n%s", v)
				}
			},
			"original StorageServer's StorageServer service restarted": func() {
				r.act(rsSS, "service.restart", "service=StorageServer")
			},
			"on the MirrorServer started again": func() {
				r.act(rsMirror, "service.start", "service=StorageServer")
				r.await(rsSS, "the StorageServer again", func(st actions.Status) bool { return st.Role == "primary" })
			},
			"Settings/Mirroring True": func() {
				r.act(rsSS, "settings.set", "dir=SS_Service", "path=Settings.xml", "key=Settings/Mirroring", "value=True")
			},
		}, "redstor-failback", "--system", "redstor")
		allStepsPassed(t, out)
		// Through the agents: the Master AccountServer is on the original
		// site again, the Slave on the secondary, each by its Settings.xml.
		if v := r.act(rsMaster, "settings.get", "dir=AS_Service", "path=Settings.xml", "key=Settings/IsSlave"); !strings.Contains(v, "False") {
			t.Errorf("original Master's IsSlave:\n%s", v)
		}
		if v := r.act(rsSlave, "settings.get", "dir=AS_Service", "path=Settings.xml", "key=Settings/IsSlave"); !strings.Contains(v, "True") {
			t.Errorf("original Slave's IsSlave:\n%s", v)
		}
		m := r.ag.status(rsMaster)
		if m.Role != "primary" || m.Facts["running_as"] != "Master" || r.ag.status(rsSlave).Role != "standby" {
			t.Errorf("AccountServers: Master %s (%s), Slave %s", m.Role, m.Facts["running_as"], r.ag.status(rsSlave).Role)
		}
		// The StorageServer is the original one, mirrored to the MirrorServer;
		// every account is homed on it again, and backups are not blocked.
		if v := m.Facts["storageserver_address"]; v != "StorageServer=StorageServer:5000" {
			t.Errorf("StorageServer address %q", v)
		}
		if v := m.Facts["accounts_home_guids"]; v != ssGUID+":6" {
			t.Errorf("accounts' HomeServerGUIDs %q, want all six on the StorageServer's %s", v, ssGUID)
		}
		if v := m.Facts["groups_disabled"]; v != "0/2" {
			t.Errorf("groups disabled %q after the failback", v)
		}
		r.await(rsSS, "the StorageServer mirroring to the MirrorServer", func(st actions.Status) bool {
			return st.Role == "primary" && st.Facts["mirror_target"] == rsMirror && st.Facts["mirroring_setting"] == "True" && st.Facts["accounts_homed"] == "6"
		})
		r.await(rsMirror, "the MirrorServer", func(st actions.Status) bool { return st.Role == "standby" })
	}) {
		return
	}

	t.Run("post-failback-integrity-check", func(t *testing.T) {
		r.t = t
		out := r.run("redstor-post-failback-integrity-check", "--system", "redstor-storage")
		allStepsPassed(t, out)
		if st := r.ag.status(rsSS); st.Facts["incomplete_accounts"] != "0" || st.Role != "primary" {
			t.Errorf("StorageServer after the integrity check: %s, %s incomplete accounts", st.Role, st.Facts["incomplete_accounts"])
		}
		if v := r.act(rsSS, "command.run", "command=integrity-check"); !strings.Contains(v, "6 of 6 accounts complete") {
			t.Errorf("integrity check:\n%s", v)
		}
	})
}
