package ui

import (
	"fmt"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"

	"github.com/vigilops/vigil/model"
)

// demoFleetViews is the demo's fleet as the board shows it after an
// incident: 13 servers in six systems, one failed over and one degraded.
func demoFleetViews(now time.Time) ([]model.ServerView, []model.SystemVerdict) {
	type srv struct {
		system, profile, name, vendor string
		role                          model.Role
		health                        model.Health
	}
	fleet := []srv{
		{"infocast", "infocast", "infocast-a", "Primary/coordinator", model.RolePrimary, model.HealthUp},
		{"infocast", "infocast", "infocast-b", "Secondary", model.RoleStandby, model.HealthDown},
		{"k2-san", "k2san", "K2server1", "primary K2 Media Server", model.RolePrimary, model.HealthDown},
		{"k2-san", "k2san", "K2server2", "primary K2 Media Server", model.RolePrimary, model.HealthUp},
		{"nintex-k2", "nintex", "K2-PROD", "production K2 server", model.RolePrimary, model.HealthUp},
		{"nintex-k2", "nintex", "K2-DR", "disaster recovery K2 server", model.RoleStandby, model.HealthUp},
		{"redstor", "redstor", "AccountServer-Master", "Master AccountServer", model.RolePrimary, model.HealthUp},
		{"redstor", "redstor", "AccountServer-Slave", "Slave AccountServer", model.RoleStandby, model.HealthUp},
		{"redstor-storage", "redstor", "StorageServer", "StorageServer", model.RolePrimary, model.HealthUp},
		{"redstor-storage", "redstor", "MirrorServer", "MirrorServer", model.RoleStandby, model.HealthUp},
		{"wavestore", "wavestore", "ws-physical-1", "physical server hosting a logical server", model.RolePrimary, model.HealthUp},
		{"wavestore", "wavestore", "ws-physical-2", "physical server hosting a logical server", model.RolePrimary, model.HealthUp},
		{"wavestore", "wavestore", "ws-standby", "standby server", model.RoleStandby, model.HealthUp},
	}
	var views []model.ServerView
	for i, s := range fleet {
		views = append(views, model.ServerView{ID: fmt.Sprintf("ag-%02d", i), Name: s.name, System: s.system, Profile: s.profile,
			Site: "simulated", Role: s.role, VendorRole: s.vendor, Health: s.health, Paired: true,
			Address: fmt.Sprintf("127.0.0.1:%d", 40000+i), LastSeen: now.Add(-14 * time.Second), LastChange: now.Add(-time.Minute)})
	}
	healthy := func(system, profile, summary string) model.SystemVerdict {
		return model.SystemVerdict{System: system, Profile: profile, Verdict: model.VerdictHealthy, Severity: model.SeverityInfo,
			Since: now, Summary: summary, Reasons: []model.Reason{}}
	}
	verdicts := []model.SystemVerdict{
		{System: "infocast", Profile: "infocast", Verdict: model.VerdictDegraded, Severity: model.SeverityWarning, Since: now,
			Summary: "infocast-b is down (it was standby): nothing can take over from the primary now",
			Reasons: []model.Reason{{Severity: model.SeverityWarning, Text: "infocast-b is down (it was standby): nothing can take over from the primary now", Servers: []string{"infocast-b"}}}},
		{System: "k2-san", Profile: "k2san", Verdict: model.VerdictFailedOver, Severity: model.SeverityWarning, Since: now,
			Summary: "K2server2 took over from K2server1", Next: "k2san-recover-from-failover",
			Reasons: []model.Reason{{Severity: model.SeverityWarning, Text: "K2server1 is down (it was primary)", Servers: []string{"K2server1"}}}},
		healthy("nintex-k2", "nintex", "K2-PROD primary"),
		healthy("redstor", "redstor", "AccountServer-Master primary"),
		healthy("redstor-storage", "redstor", "StorageServer primary"),
		healthy("wavestore", "wavestore", "ws-physical-1 and ws-physical-2 primary"),
	}
	return views, verdicts
}

// The demo's 13 servers, with a failed-over system and a degraded one,
// fit a 1280x800 window without scrolling: an operator sees the whole
// fleet at once.
func TestDemoFleetFitsWithoutScrolling(t *testing.T) {
	test.NewTempApp(t)
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	views, verdicts := demoFleetViews(now)
	b := NewBoard(views, verdicts, func() time.Time { return now })
	b.ProcedureTitle = func(string) string { return "Recover from a failover" }
	b.ApplyVerdicts(verdicts)
	// The board sits under the window's tabs.
	tabs := container.NewAppTabs(container.NewTabItem("Status board", b), container.NewTabItem("Events", container.NewStack()))
	w := test.NewTempWindow(t, tabs)
	w.Resize(fyne.NewSize(1280, 800))
	var scroll *container.Scroll
	eachVisible(b, func(o fyne.CanvasObject) bool {
		scroll, _ = o.(*container.Scroll)
		return scroll == nil
	})
	if scroll == nil {
		t.Fatal("the board has no scrolling part")
	}
	need, have := scroll.Content.MinSize().Height, scroll.Size().Height
	t.Logf("the cards need %.0f px of the %.0f the board shows", need, have)
	if need > have {
		t.Errorf("the demo's fleet needs %.0f px of cards and the board shows %.0f: the operator must scroll", need, have)
	}
}
