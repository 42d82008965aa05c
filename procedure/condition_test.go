package procedure

import (
	"strings"
	"testing"

	"github.com/vigilops/vigil/model"
)

// TestConditionsExplainThemselves: each condition holds or not as it
// should, and says so in words an operator can act on.
func TestConditionsExplainThemselves(t *testing.T) {
	sc := &scope{
		servers: map[string]Server{
			"a": {ID: "a", Name: "K2server1", Role: model.RolePrimary, VendorRole: "primary K2 Media Server", Health: model.HealthUp,
				Services: map[string]string{"k2-media-server": "running"},
				Facts:    map[string]string{"qualified": "true", "lag": "12", "since": "2026-01-01T10:00:00Z", "db": "synchronising 40%"}},
			"b": {ID: "b", Name: "K2server2", Role: model.RoleStandby, VendorRole: "backup K2 Media Server", Health: model.HealthUp,
				Facts:      map[string]string{"qualified": "false", "since": "2026-01-01T09:00:00Z"},
				FactErrors: map[string]string{"lag": "no such key"}},
			"c": {ID: "c", Name: "K2server3", Role: model.RoleUnknown, Health: model.HealthDown, Detail: "connection refused"},
		},
		bound: map[string][]string{"p": {"a"}, "s": {"b"}, "gone": {"c"}, "both": {"a", "b"}},
		vars:  map[string]string{"side": "none"},
	}
	for _, tc := range []struct {
		name string
		c    *Condition
		ok   bool
		text string
	}{
		{"role", &Condition{Server: "p", Role: []model.Role{model.RolePrimary}}, true, "K2server1 is primary (primary K2 Media Server)"},
		{"wrong role", &Condition{Server: "s", Role: []model.Role{model.RolePrimary, model.RoleOutOfService}}, false,
			"K2server2 is standby (backup K2 Media Server), not primary or out-of-service"},
		{"role of a server that is down", &Condition{Server: "gone", Role: []model.Role{model.RoleStandby}}, false,
			"K2server3 is unknown, not standby [down: connection refused]"},
		{"health", &Condition{Server: "gone", Health: []model.Health{model.HealthUp}}, false, "K2server3 is down: connection refused, not up"},
		{"backup and qualified", &Condition{All: []*Condition{
			{Server: "s", Role: []model.Role{model.RoleStandby}},
			{Server: "s", Fact: "qualified", Op: OpEquals, Value: "true", Says: "qualified"}}}, false,
			"K2server2 is standby (backup K2 Media Server) but not qualified (qualified=false)"},
		{"every server of a binding", &Condition{Server: "both", Fact: "qualified", Op: OpEquals, Value: "true", Says: "qualified"}, false,
			"K2server1 is qualified; K2server2 is not qualified (qualified=false)"},
		{"fact without words", &Condition{Server: "p", Fact: "lag", Op: OpAtMost, Value: "10"}, false, "K2server1 has lag=12, expected at most 10"},
		{"numbers compare as numbers", &Condition{Server: "p", Fact: "lag", Op: OpAtLeast, Value: "9"}, true, "K2server1 has lag=12"},
		{"times compare as times", &Condition{Server: "p", Fact: "since", Op: OpAtLeast, Value: "${s.fact.since}"}, true,
			"K2server1 has since=2026-01-01T10:00:00Z"},
		{"a fact that cannot be read", &Condition{Server: "s", Fact: "lag", Op: OpAtMost, Value: "10"}, false,
			"K2server2 has no lag: no such key, expected a value"},
		{"matches", &Condition{Server: "p", Fact: "db", Op: OpMatches, Value: "^synchronis"}, true, "K2server1 has db=synchronising 40%"},
		{"present", &Condition{Server: "s", Fact: "db", Op: OpPresent, Value: "false", Says: "silent"}, true, "K2server2 is silent"},
		{"not", &Condition{Not: &Condition{Server: "p", Role: []model.Role{model.RolePrimary}}}, false,
			"K2server1 is primary (primary K2 Media Server), which it must not be"},
		{"any", &Condition{Any: []*Condition{{Server: "s", Role: []model.Role{model.RolePrimary}}, {Server: "gone", Health: []model.Health{model.HealthUp}}}}, false,
			"none of these holds: K2server2 is standby (backup K2 Media Server), not primary; or K2server3 is down: connection refused, not up"},
		{"any that holds", &Condition{Any: []*Condition{{Server: "s", Role: []model.Role{model.RolePrimary}}, {Server: "p", Role: []model.Role{model.RolePrimary}}}}, true,
			"K2server1 is primary (primary K2 Media Server)"},
		{"service", &Condition{Server: "s", Service: "k2-media-server", State: []string{"running"}}, false, "K2server2 has k2-media-server not reported, not running"},
		{"param", &Condition{Param: "side", Op: OpEquals, Value: "restart"}, false, "side is none, expected restart"},
		{"a reference that cannot be read", &Condition{Server: "p", Fact: "lag", Op: OpEquals, Value: "${gone.fact.lag}"}, false,
			"K2server1 has lag=12, cannot compare: ${gone.fact.lag}: K2server3 has no lag (down: connection refused)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.c.eval(sc)
			if v.OK != tc.ok || v.Text != tc.text {
				t.Errorf("got  %v %q\nwant %v %q", v.OK, v.Text, tc.ok, tc.text)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	sc := &scope{servers: map[string]Server{"a": {ID: "a", Name: "infocast-a", Site: "north", Role: model.RolePrimary,
		Facts: map[string]string{"failover_address": "239.255.1.2"}}},
		bound: map[string][]string{"primary": {"a"}}, vars: map[string]string{"port": "45588"}}
	got, err := sc.expand("${primary.name}@${primary.site} ${primary.fact.failover_address}:${port} (${primary.role})")
	if err != nil || got != "infocast-a@north 239.255.1.2:45588 (primary)" {
		t.Errorf("%q, %v", got, err)
	}
	if _, err := sc.expand("${primary.fact.nothing}"); err == nil || !strings.Contains(err.Error(), "infocast-a has no nothing") {
		t.Errorf("missing fact: %v", err)
	}
	if n, ok := firstNumber("synchronising 40%"); !ok || n != 40 {
		t.Errorf("progress of 'synchronising 40%%': %v %v", n, ok)
	}
}
