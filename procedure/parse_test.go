package procedure

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

const goodProcedure = `id: demo
title: Demo
profile: k2san
kind: check
document: {file: demo.txt, section: Demo}
bindings:
  p: {role: primary}
steps:
  - type: check
    text: The primary is up.
    condition: {server: p, health: up}
`

// parseErrors: each malformed procedure is refused with its line, field
// and reason.
var parseErrors = []struct {
	name, yaml string
	want       string // file:line: field: reason (a prefix of the reason)
}{
	{"not yaml", "id: [x\n", "p.yaml:1: not valid YAML: did not find expected ',' or ']'"},
	{"empty", "", "p.yaml: file is empty"},
	{"list at top", "- a\n", "p.yaml:1: expected a mapping"},
	{"unknown key", goodProcedure + "colour: red\n", "p.yaml:12: colour: unknown key"},
	{"duplicate key", "id: a\nid: b\n", "p.yaml:2: id: given twice (first on line 1)"},
	{"missing steps", "id: a\ntitle: A\nprofile: k2san\nkind: check\ndocument: {file: d}\n", "p.yaml: steps: missing"},
	{"bad id", strings.Replace(goodProcedure, "id: demo", "id: Demo Two", 1), `p.yaml:1: id: "Demo Two" is not a valid id`},
	{"bad kind", strings.Replace(goodProcedure, "kind: check", "kind: repair", 1), `p.yaml:4: kind: "repair" is not one of failover, failback, standby-config, dr or check`},
	{"bad role", strings.Replace(goodProcedure, "{role: primary}", "{role: master}", 1), `p.yaml:7: bindings.p.role: role "master" is not one of`},
	{"binding says nothing", strings.Replace(goodProcedure, "{role: primary}", "{document_name: P}", 1), "p.yaml:7: bindings.p: say which server"},
	{"unknown binding", strings.Replace(goodProcedure, "{server: p, health: up}", "{server: q, health: up}", 1),
		`p.yaml:11: steps[0].condition.server: "q" is not a binding; expected one of p`},
	{"bad health", strings.Replace(goodProcedure, "health: up", "health: fine", 1), `p.yaml:11: steps[0].condition.health: "fine" is not one of`},
	{"two subjects", strings.Replace(goodProcedure, "{server: p, health: up}", "{server: p, health: up, role: primary}", 1),
		"p.yaml:11: steps[0].condition: expected exactly one of all, any, not, role, health, fact, service or param; found role and health"},
	{"fact without comparison", strings.Replace(goodProcedure, "{server: p, health: up}", "{server: p, fact: qualified}", 1),
		"p.yaml:11: steps[0].condition: expected exactly one comparison"},
	{"bad regexp", strings.Replace(goodProcedure, "{server: p, health: up}", "{server: p, fact: x, matches: '('}", 1),
		"p.yaml:11: steps[0].condition.matches: not a valid regular expression"},
	{"says on a role", strings.Replace(goodProcedure, "{server: p, health: up}", "{server: p, role: primary, says: boss}", 1),
		"p.yaml:11: steps[0].condition.says: does not go with role"},
	{"unknown step type", strings.Replace(goodProcedure, "type: check", "type: pray", 1), `p.yaml:9: steps[0].type: "pray" is not one of check, action`},
	{"step without text", strings.Replace(goodProcedure, "    text: The primary is up.\n", "", 1), "p.yaml:9: steps[0].text: missing"},
	{"key of another step type", strings.Replace(goodProcedure, "    text: The primary is up.\n", "    text: x\n    goto: y\n", 1),
		"p.yaml:11: steps[0].goto: unknown key"},
	{"action without params", goodProcedure + "  - type: action\n    text: Stop.\n    server: p\n    action: service.stop\n",
		"p.yaml:12: steps[1].params.service: missing: service.stop needs service"},
	{"unknown action", goodProcedure + "  - type: action\n    text: Stop.\n    server: p\n    action: reboot\n",
		`p.yaml:15: steps[1].action: "reboot" is not one of`},
	{"unknown reference", goodProcedure + "  - type: action\n    text: Stop.\n    server: p\n    action: service.stop\n    params: {service: \"${svc}\"}\n",
		"p.yaml:16: steps[1].params.service: ${svc} is neither a parameter nor the var of a choose step"},
	{"bad reference", goodProcedure + "  - type: action\n    text: Stop.\n    server: p\n    action: service.stop\n    params: {service: \"${p.colour}\"}\n",
		"p.yaml:16: steps[1].params.service: ${p.colour}: expected name, role, vendor_role, site or fact.NAME after p."},
	{"goto backwards", goodProcedure + "  - type: branch\n    text: Again.\n    condition: {server: p, health: down}\n    goto: step-1\n",
		`p.yaml:12: steps[1].goto: goes back to "step-1"`},
	{"goto nowhere", goodProcedure + "  - type: branch\n    text: On.\n    condition: {server: p, health: down}\n    goto: end\n",
		`p.yaml:12: steps[1].goto: no step has id "end"`},
	{"duplicate step id", goodProcedure + "  - type: check\n    id: step-1\n    text: Again.\n    condition: {server: p, health: up}\n",
		`p.yaml:13: steps[1].id: "step-1" is also the id of steps[0]`},
	{"choose with one choice", goodProcedure + "  - type: choose\n    text: Which?\n    var: v\n    choices: [{value: a, label: A}]\n",
		"p.yaml:15: steps[1].choices: expected a list of at least two choices"},
	{"bad default", goodProcedure + "  - type: choose\n    text: Which?\n    var: v\n    default: c\n    choices: [{value: a, label: A}, {value: b, label: B}]\n",
		`p.yaml:15: steps[1].default: "c" is not the value of one of the choices`},
	{"bad duration", strings.Replace(goodProcedure, "kind: check\n", "kind: check\ntarget_recovery: soon\n", 1),
		`p.yaml:5: target_recovery: "soon" is not a duration`},
	{"destructive before sign-off", strings.Replace(goodProcedure, "kind: check\n", "kind: check\nsupervised: true\n", 1) +
		"  - type: action\n    text: Stop.\n    server: p\n    action: service.stop\n    params: {service: s}\n    destructive: true\n" +
		"  - type: supervise\n    text: Sign.\n",
		"p.yaml:13: steps[1].destructive: a supervised procedure needs a supervise step before its first destructive step"},
	{"supervised without sign-off", strings.Replace(goodProcedure, "kind: check\n", "kind: check\nsupervised: true\n", 1),
		"p.yaml:5: supervised: a supervised procedure needs a supervise step"},
}

func TestParseRefusesWithFileLineAndReason(t *testing.T) {
	if _, err := Parse("p.yaml", []byte(goodProcedure)); err != nil {
		t.Fatalf("the good procedure: %v", err)
	}
	for _, tc := range parseErrors {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tc.yaml))
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *procedure.Error", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got  %s\nwant %s…", err, tc.want)
			}
		})
	}
}

// TestLoadRefusesAMalformedFileAndLoadsTheOthers: a bad file is refused
// with its name, line and reason, a duplicate id is refused naming both
// files, and every other procedure loads.
func TestLoadRefusesAMalformedFileAndLoadsTheOthers(t *testing.T) {
	builtinFS := os.DirFS(filepath.Join("..", "assets", "procedures"))
	own := fstest.MapFS{
		"broken.yaml": {Data: []byte(strings.Replace(goodProcedure, "health: up", "health: fine", 1))},
		"mine.yaml":   {Data: []byte(goodProcedure)},
		"again.yml":   {Data: []byte(strings.Replace(goodProcedure, "title: Demo", "title: Demo again", 1))},
		"notes.txt":   {Data: []byte("not a procedure")},
	}
	lib, errs := Load(Dir{FS: builtinFS, Name: "assets/procedures"}, Dir{FS: own, Name: "/data/procedures"},
		Dir{FS: os.DirFS(filepath.Join(t.TempDir(), "missing")), Name: "missing"})
	if len(errs) != 2 {
		t.Fatalf("errors: %v", errs)
	}
	// Files load in name order: again.yml, broken.yaml, mine.yaml.
	if got := errs[0].Error(); !strings.HasPrefix(got, `/data/procedures/broken.yaml:11: steps[0].condition.health: "fine" is not one of up, degraded`) {
		t.Errorf("broken: %s", got)
	}
	if got := errs[1].Error(); got != `/data/procedures/mine.yaml: id: "demo" is already the id of /data/procedures/again.yml; this file is not loaded` {
		t.Errorf("duplicate: %s", got)
	}
	for _, id := range []string{"demo", "k2san-take-primary-out-of-service", "k2san-recover-from-failover",
		"infocast-configure-redundant-server", "infocast-verify-takeover"} {
		if _, ok := lib.Get(id); !ok {
			t.Errorf("%s did not load", id)
		}
	}
	if p, _ := lib.Get("demo"); p.Title != "Demo again" {
		t.Errorf("the first file with an id wins: %q", p.Title)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(goodProcedure))
	for _, tc := range parseErrors {
		f.Add([]byte(tc.yaml))
	}
	files, _ := filepath.Glob(filepath.Join("..", "assets", "procedures", "*.yaml"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.yaml", data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *procedure.Error", err)
			}
			return
		}
		// What parses can be evaluated without panicking.
		sc := &scope{servers: map[string]Server{}, bound: map[string][]string{}, vars: map[string]string{}}
		for _, st := range p.Steps {
			if st.Condition != nil {
				st.Condition.eval(sc)
			}
		}
	})
}
