package procedure

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/sim"
	_ "github.com/vigilops/vigil/sim/systems"
)

// declared is what the agents of one simulated system declare, by kind.
type declared map[string][]string // services, settings, queues, commands, facts

// simDeclared lays out a simulated system in a temporary directory and
// reads what its agents' configurations declare.
func simDeclared(t *testing.T, profile string) declared {
	t.Helper()
	sys := sim.Systems()[profile]
	if sys == nil {
		t.Fatalf("no simulated system %s", profile)
	}
	l := &sim.Layout{Dirs: map[string]string{}, Exe: "vigil", Clock: sim.NewClock(time.Now(), 1)}
	for _, m := range sys.Members {
		l.Dirs[m.Name] = filepath.Join(t.TempDir(), m.Name)
	}
	configs, err := sys.Layout(l)
	if err != nil {
		t.Fatalf("lay out %s: %v", profile, err)
	}
	out := declared{}
	for name, cfg := range configs {
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(cfg), &doc); err != nil {
			t.Fatalf("config of %s: %v", name, err)
		}
		for _, kind := range []string{"services", "settings", "queues", "commands", "facts"} {
			list, _ := doc[kind].([]any)
			for _, item := range list {
				if m, ok := item.(map[string]any); ok {
					if n := fmt.Sprint(m["name"]); !slices.Contains(out[kind], n) {
						out[kind] = append(out[kind], n)
					}
				}
			}
		}
	}
	return out
}

// TestBuiltInProceduresUseTheNamesTheAgentsDeclare: every built-in
// procedure loads, names a vendor document that exists, and every service,
// settings directory, queue, command and fact it uses is one the
// simulated system's agents declare.
func TestBuiltInProceduresUseTheNamesTheAgentsDeclare(t *testing.T) {
	lib, errs := Load(Dir{FS: os.DirFS(filepath.Join("..", "assets", "procedures")), Name: "assets/procedures"})
	for _, err := range errs {
		t.Error(err)
	}
	docs := "/work/shared/vendor-docs"
	bySystem := map[string]declared{}
	for _, p := range lib.All() {
		t.Run(p.ID, func(t *testing.T) {
			if dirExists(docs) {
				if _, err := os.Stat(filepath.Join(docs, p.Document.File)); err != nil {
					t.Errorf("document %s: %v", p.Document.File, err)
				}
			}
			d := bySystem[p.Profile]
			if d == nil {
				d = simDeclared(t, p.Profile)
				bySystem[p.Profile] = d
			}
			need := func(kind, name, where string) {
				if !strings.Contains(name, "${") && !slices.Contains(d[kind], name) {
					t.Errorf("%s: %s %q is not declared by the %s agents (they declare %v)", where, strings.TrimSuffix(kind, "s"), name, p.Profile, d[kind])
				}
			}
			var facts func(c *Condition, where string)
			facts = func(c *Condition, where string) {
				if c == nil {
					return
				}
				if c.Fact != "" {
					need("facts", c.Fact, where)
				}
				if c.Service != "" {
					need("services", c.Service, where)
				}
				for _, m := range refRE.FindAllStringSubmatch(c.Value, -1) {
					if _, rest, _ := strings.Cut(m[1], "."); strings.HasPrefix(rest, "fact.") {
						need("facts", strings.TrimPrefix(rest, "fact."), where)
					}
				}
				for _, sub := range append(slices.Clone(c.All), c.Any...) {
					facts(sub, where)
				}
				facts(c.Not, where)
			}
			for _, st := range p.Steps {
				where := st.Label()
				facts(st.Condition, where)
				if st.Progress != nil {
					need("facts", st.Progress.Fact, where)
				}
				for _, v := range st.Params {
					for _, m := range refRE.FindAllStringSubmatch(v, -1) {
						if _, rest, _ := strings.Cut(m[1], "."); strings.HasPrefix(rest, "fact.") {
							need("facts", strings.TrimPrefix(rest, "fact."), where)
						}
					}
				}
				if v, ok := st.Params["service"]; ok {
					need("services", v, where)
				}
				if v, ok := st.Params["dir"]; ok {
					need("settings", v, where)
				}
				if v, ok := st.Params["queue"]; ok {
					need("queues", v, where)
				}
				if v, ok := st.Params["command"]; ok {
					need("commands", v, where)
				}
			}
			if p.RecoveryPoint != nil {
				need("facts", p.RecoveryPoint.Fact, "recovery_point")
			}
			// Every binding can match a role the profile's servers take.
			for _, b := range p.Bindings {
				for _, r := range b.Roles {
					if !slices.Contains(model.Roles, r) {
						t.Errorf("binding %s: role %s", b.Name, r)
					}
				}
			}
		})
	}
}

func dirExists(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}

// TestBuiltInProceduresKeepEveryNumberedStep: the K2 procedures have every
// numbered step of the document, in order.
func TestBuiltInProceduresKeepEveryNumberedStep(t *testing.T) {
	for id, n := range map[string]int{"k2san-take-primary-out-of-service": 10, "k2san-recover-from-failover": 6} {
		p := builtin(t, id)
		next := 1
		for _, st := range p.Steps {
			if st.DocStep == fmt.Sprint(next) {
				next++
			} else if st.DocStep != fmt.Sprint(next-1) && st.DocStep != "WARNING" {
				t.Errorf("%s: %s comes out of order", id, st.Label())
			}
		}
		if next-1 != n {
			t.Errorf("%s: document steps 1 to %d, want 1 to %d", id, next-1, n)
		}
	}
}
