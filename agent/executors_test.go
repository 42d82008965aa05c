package agent

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilops/vigil/actions"
)

// startConfigured runs an in-process agent whose config declares one of
// everything it can act on, and returns a paired client.
func startConfigured(t *testing.T) (*Agent, *actions.Client, string) {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "AS_Service", "Tasks"), 0o755)
	os.WriteFile(filepath.Join(dir, "AS_Service", "Settings.xml"), []byte("<?xml version=\"1.0\"?>\r\n<Settings>\r\n  <!-- keep -->\r\n  <IsSlave choices=\"True,False\">True</IsSlave>\r\n</Settings>\r\n"), 0o644)
	marker := filepath.Join(dir, "backup.done")
	cfgText := `name: AS-B
system: redstor
profile: redstor
listen: 127.0.0.1:0
state_dir: state
advertise: false
permissions: [read, act]
services:
  - name: AS_Service
    driver: process
    command: [sleep, "600"]
    autostart: false
    stop_timeout: 2s
settings:
  - name: as
    dir: AS_Service
queues:
  - name: as-tasks
    dir: AS_Service/Tasks
commands:
  - name: db-backup
    argv: [touch, ` + marker + `]
    unless: [test, -e, ` + marker + `]
role_probe:
  kind: setting
  dir: as
  path: Settings.xml
  key: Settings/IsSlave
  map: {"False": primary, "True": standby}
`
	cfg, err := ParseConfig(filepath.Join(dir, "agent.yaml"), []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	a, addr := runAgent(t, cfg)
	return a, pinnedClient(t, a, addr), dir
}

func TestEveryActionDryRunMatchesAndRepeatsAsNoChange(t *testing.T) {
	_, c, dir := startConfigured(t)
	ctx := context.Background()
	do := func(action string, params map[string]string, dry bool) actions.Result {
		t.Helper()
		res, err := c.Do(ctx, actions.Request{RequestID: actions.NewRequestID(), Epoch: 1, Action: action, Params: params, DryRun: dry, Operator: "test"})
		if err != nil {
			t.Fatalf("%s %v (dry %v): %v", action, params, dry, err)
		}
		if res.State != actions.StateDone {
			t.Fatalf("%s %v (dry %v): %s: %s", action, params, dry, res.State, res.Error)
		}
		return res
	}
	for _, tc := range []struct {
		action string
		params map[string]string
	}{
		{actions.ServiceStart, map[string]string{"service": "AS_Service"}},
		{actions.ServiceStop, map[string]string{"service": "AS_Service"}},
		{actions.SettingsSet, map[string]string{"dir": "as", "path": "Settings.xml", "key": "Settings/IsSlave", "value": "False"}},
		{actions.TaskfileDrop, map[string]string{"queue": "as-tasks", "name": "Failover.UpdateSettingsOnSS"}},
		{actions.CommandRun, map[string]string{"command": "db-backup"}},
	} {
		dry := do(tc.action, tc.params, true)
		real := do(tc.action, tc.params, false)
		if !dry.Outcome.Changed || dry.Outcome.Diff != real.Outcome.Diff || dry.Outcome.Changed != real.Outcome.Changed {
			t.Errorf("%s: dry run %+v, real run %+v: want the same change", tc.action, dry.Outcome, real.Outcome)
		}
		again := do(tc.action, tc.params, false)
		if again.Outcome.Changed {
			t.Errorf("%s: a second identical run changed something: %+v", tc.action, again.Outcome)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "AS_Service", "Settings.xml"))
	if string(b) != "<?xml version=\"1.0\"?>\r\n<Settings>\r\n  <!-- keep -->\r\n  <IsSlave choices=\"True,False\">False</IsSlave>\r\n</Settings>\r\n" {
		t.Errorf("Settings.xml after the set:\n%q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "AS_Service", "Tasks", "Failover.UpdateSettingsOnSS")); err != nil {
		t.Errorf("task file not dropped: %v", err)
	}
	// The role probe reads Settings.xml on its next poll.
	var st actions.Status
	eventually(t, "the role probe to read IsSlave=False", func() bool {
		var err error
		if st, err = c.Status(ctx); err != nil {
			t.Fatal(err)
		}
		return st.Role == "primary"
	})
	if st.Role != "primary" || st.Services["AS_Service"] != "stopped" {
		t.Errorf("status after IsSlave=False and a stop: role %s, services %v", st.Role, st.Services)
	}
}

func TestPathsOutOfDeclaredDirectoriesAreRefused(t *testing.T) {
	a, c, dir := startConfigured(t)
	os.Symlink("/etc", filepath.Join(dir, "AS_Service", "escape"))
	ctx := context.Background()
	for _, path := range []string{"../../etc/passwd", "/etc/passwd", "escape/passwd"} {
		_, err := c.Do(ctx, actions.Request{RequestID: actions.NewRequestID(), Epoch: 1, Action: actions.SettingsGet,
			Params: map[string]string{"dir": "as", "path": path, "key": "x", "format": "xml"}})
		var ae *actions.AgentError
		if !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
			t.Errorf("settings.get %s: err = %v, want 403", path, err)
		}
	}
	entries, err := a.oplog.AuditSince(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, e := range entries {
		if e.Result == actions.StateRefused && e.Console != "" {
			refused++
		}
	}
	if refused != 3 {
		t.Errorf("%d refusals audited with the console's key, want 3", refused)
	}
}
