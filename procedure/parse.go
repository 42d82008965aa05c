package procedure

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// Error is a problem in a procedure file, with where it is.
type Error struct {
	File  string
	Line  int // 0 when the problem has no single line (a missing field)
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": %s", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Limits on what a procedure file may hold.
const (
	maxFileSize = 1 << 20
	maxSteps    = 500
)

var (
	idRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	nameRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	profileRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	healths   = []model.Health{model.HealthUp, model.HealthDegraded, model.HealthUnreachable, model.HealthDown, model.HealthUnknown}
	actionSet = []string{actions.ServiceStart, actions.ServiceStop, actions.ServiceRestart, actions.ServiceStatus,
		actions.SettingsGet, actions.SettingsSet, actions.TaskfileDrop, actions.CommandRun}
	serviceStates = []string{"running", "stopped", "failed", "starting", "stopping", "unknown", "not reported"}
)

// parser reads one file's node tree.
type parser struct {
	file string
	p    *Procedure
	vars map[string]bool // parameters and choose variables
}

func (ps *parser) fail(n *yaml.Node, field, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{File: ps.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Parse reads one procedure file. file names it in errors; every error is
// an *Error with the file, line and field.
func Parse(file string, data []byte) (*Procedure, error) {
	ps := &parser{file: file, p: &Procedure{File: file, Source: data}, vars: map[string]bool{}}
	if len(data) > maxFileSize {
		return nil, ps.fail(nil, "", "file is %d bytes; a procedure is at most %d", len(data), maxFileSize)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{File: file, Line: yamlLine(err), Msg: "not valid YAML: " + yamlMsg(err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, ps.fail(nil, "", "file is empty")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, ps.fail(root, "", "expected a mapping of keys to values at the top level")
	}
	top, err := ps.mapping(root, "", []string{"id", "title", "profile", "kind", "document", "warnings", "parameters",
		"target_recovery", "recovered_at", "recovery_point", "supervised", "way_back", "bindings", "steps"})
	if err != nil {
		return nil, err
	}
	p := ps.p
	for _, k := range []string{"id", "title", "profile", "kind", "document", "steps"} {
		if top[k] == nil {
			return nil, ps.fail(nil, k, "missing; every procedure needs id, title, profile, kind, document and steps")
		}
	}
	if p.ID, err = ps.scalar(top["id"], "id"); err != nil {
		return nil, err
	}
	if !idRE.MatchString(p.ID) {
		return nil, ps.fail(top["id"], "id", "%q is not a valid id: expected lower-case letters, digits and '-'", p.ID)
	}
	if p.Title, err = ps.text(top["title"], "title"); err != nil {
		return nil, err
	}
	if p.Profile, err = ps.scalar(top["profile"], "profile"); err != nil {
		return nil, err
	}
	if !profileRE.MatchString(p.Profile) {
		return nil, ps.fail(top["profile"], "profile", "%q is not a valid profile (k2san, redstor, nintex, infocast, wavestore, ...)", p.Profile)
	}
	kind, err := ps.scalar(top["kind"], "kind")
	if err != nil {
		return nil, err
	}
	if p.Kind = Kind(kind); !slices.Contains(Kinds, p.Kind) {
		return nil, ps.fail(top["kind"], "kind", "%q is not one of %s", kind, orList(Kinds))
	}
	if err := ps.document(top["document"]); err != nil {
		return nil, err
	}
	if n := top["warnings"]; n != nil {
		if p.Warnings, err = ps.texts(n, "warnings"); err != nil {
			return nil, err
		}
	}
	if n := top["target_recovery"]; n != nil {
		if p.TargetRecovery, err = ps.duration(n, "target_recovery"); err != nil {
			return nil, err
		}
	}
	if n := top["supervised"]; n != nil {
		if p.Supervised, err = ps.boolean(n, "supervised"); err != nil {
			return nil, err
		}
	}
	if n := top["way_back"]; n != nil {
		if p.WayBack, err = ps.text(n, "way_back"); err != nil {
			return nil, err
		}
	}
	if n := top["parameters"]; n != nil {
		if err := ps.parameters(n); err != nil {
			return nil, err
		}
	}
	if n := top["bindings"]; n != nil {
		if err := ps.bindings(n); err != nil {
			return nil, err
		}
	}
	if err := ps.steps(top["steps"]); err != nil {
		return nil, err
	}
	if n := top["recovery_point"]; n != nil {
		ref, err := ps.factRef(n, "recovery_point")
		if err != nil {
			return nil, err
		}
		p.RecoveryPoint = ref
	}
	if n := top["recovered_at"]; n != nil {
		if p.RecoveredAt, err = ps.scalar(n, "recovered_at"); err != nil {
			return nil, err
		}
		if p.StepByID(p.RecoveredAt) < 0 {
			return nil, ps.fail(n, "recovered_at", "no step has id %q", p.RecoveredAt)
		}
	}
	if err := ps.crossCheck(top); err != nil {
		return nil, err
	}
	return p, nil
}

// mapping checks that n is a mapping with only the allowed keys, each once,
// and returns the value nodes by key.
func (ps *parser) mapping(n *yaml.Node, field string, allowed []string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, ps.fail(n, field, "expected a mapping (key: value)")
	}
	out := map[string]*yaml.Node{}
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f := join(field, k.Value)
		if prev, dup := lines[k.Value]; dup {
			return nil, ps.fail(k, f, "given twice (first on line %d)", prev)
		}
		if !slices.Contains(allowed, k.Value) {
			return nil, ps.fail(k, f, "unknown key; expected one of %s", strings.Join(allowed, ", "))
		}
		lines[k.Value] = k.Line
		out[k.Value] = v
	}
	return out, nil
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func (ps *parser) scalar(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", ps.fail(n, field, "expected a single value")
	}
	return n.Value, nil
}

// text is a non-empty scalar with its white space folded: documents are
// quoted across lines.
func (ps *parser) text(n *yaml.Node, field string) (string, error) {
	s, err := ps.scalar(n, field)
	if err != nil {
		return "", err
	}
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "", ps.fail(n, field, "is empty")
	}
	return s, nil
}

func (ps *parser) texts(n *yaml.Node, field string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, ps.fail(n, field, "expected a list")
	}
	var out []string
	for i, c := range n.Content {
		s, err := ps.text(c, fmt.Sprintf("%s[%d]", field, i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// list reads a single value or a list of them.
func (ps *parser) list(n *yaml.Node, field string) ([]string, error) {
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			return nil, ps.fail(n, field, "is an empty list")
		}
		var out []string
		for i, c := range n.Content {
			s, err := ps.scalar(c, fmt.Sprintf("%s[%d]", field, i))
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := ps.scalar(n, field)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func (ps *parser) boolean(n *yaml.Node, field string) (bool, error) {
	s, err := ps.scalar(n, field)
	if err != nil {
		return false, err
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, ps.fail(n, field, "expected true or false, got %q", s)
	}
	return b, nil
}

func (ps *parser) duration(n *yaml.Node, field string) (time.Duration, error) {
	s, err := ps.scalar(n, field)
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > 7*24*time.Hour {
		return 0, ps.fail(n, field, "%q is not a duration such as 90s, 5m or 2h (at most a week)", s)
	}
	return d, nil
}

func (ps *parser) document(n *yaml.Node) error {
	m, err := ps.mapping(n, "document", []string{"file", "section"})
	if err != nil {
		return err
	}
	if m["file"] == nil {
		return ps.fail(n, "document.file", "missing: the vendor document's file name")
	}
	if ps.p.Document.File, err = ps.text(m["file"], "document.file"); err != nil {
		return err
	}
	if m["section"] != nil {
		if ps.p.Document.Section, err = ps.text(m["section"], "document.section"); err != nil {
			return err
		}
	}
	return nil
}

func (ps *parser) parameters(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return ps.fail(n, "parameters", "expected a list of parameters")
	}
	for i, c := range n.Content {
		field := fmt.Sprintf("parameters[%d]", i)
		m, err := ps.mapping(c, field, []string{"name", "prompt", "default", "choices"})
		if err != nil {
			return err
		}
		if m["name"] == nil || m["prompt"] == nil {
			return ps.fail(c, field, "a parameter needs a name and a prompt")
		}
		var prm Parameter
		if prm.Name, err = ps.scalar(m["name"], field+".name"); err != nil {
			return err
		}
		if !nameRE.MatchString(prm.Name) {
			return ps.fail(m["name"], field+".name", "%q is not a valid name: letters, digits and '_'", prm.Name)
		}
		if ps.vars[prm.Name] {
			return ps.fail(m["name"], field+".name", "%q is given twice", prm.Name)
		}
		if prm.Prompt, err = ps.text(m["prompt"], field+".prompt"); err != nil {
			return err
		}
		if d := m["default"]; d != nil {
			if prm.Default, err = ps.scalar(d, field+".default"); err != nil {
				return err
			}
		}
		if ch := m["choices"]; ch != nil {
			if prm.Choices, err = ps.list(ch, field+".choices"); err != nil {
				return err
			}
			if prm.Default != "" && !slices.Contains(prm.Choices, prm.Default) {
				return ps.fail(m["default"], field+".default", "%q is not one of the choices", prm.Default)
			}
		}
		ps.vars[prm.Name] = true
		ps.p.Parameters = append(ps.p.Parameters, prm)
	}
	return nil
}

func (ps *parser) bindings(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return ps.fail(n, "bindings", "expected a mapping of names to what the server is (role, name or site)")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := "bindings." + k.Value
		if !nameRE.MatchString(k.Value) {
			return ps.fail(k, field, "%q is not a valid name: letters, digits and '_'", k.Value)
		}
		if seen[k.Value] {
			return ps.fail(k, field, "given twice")
		}
		seen[k.Value] = true
		m, err := ps.mapping(v, field, []string{"role", "name", "site", "document_name", "many"})
		if err != nil {
			return err
		}
		b := Binding{Name: k.Value, Line: k.Line}
		if r := m["role"]; r != nil {
			roles, err := ps.list(r, field+".role")
			if err != nil {
				return err
			}
			for _, s := range roles {
				role, err := model.ParseRole(s)
				if err != nil {
					return ps.fail(r, field+".role", "%v", err)
				}
				b.Roles = append(b.Roles, role)
			}
		}
		if s := m["name"]; s != nil {
			if b.Server, err = ps.scalar(s, field+".name"); err != nil {
				return err
			}
			if strings.Contains(b.Server, "${") {
				for _, m := range refRE.FindAllStringSubmatch(b.Server, -1) {
					if !ps.vars[m[1]] {
						return ps.fail(s, field+".name", "${%s} is not a parameter", m[1])
					}
				}
			}
		}
		if s := m["site"]; s != nil {
			if b.Site, err = ps.scalar(s, field+".site"); err != nil {
				return err
			}
		}
		if s := m["document_name"]; s != nil {
			if b.DocumentName, err = ps.text(s, field+".document_name"); err != nil {
				return err
			}
		}
		if s := m["many"]; s != nil {
			if b.Many, err = ps.boolean(s, field+".many"); err != nil {
				return err
			}
		}
		if len(b.Roles) == 0 && b.Server == "" && b.Site == "" {
			return ps.fail(v, field, "say which server: give its role, name or site")
		}
		ps.p.Bindings = append(ps.p.Bindings, b)
	}
	return nil
}

func (ps *parser) factRef(n *yaml.Node, field string) (*FactRef, error) {
	m, err := ps.mapping(n, field, []string{"server", "fact", "label"})
	if err != nil {
		return nil, err
	}
	if m["server"] == nil || m["fact"] == nil {
		return nil, ps.fail(n, field, "needs server (a binding) and fact")
	}
	var r FactRef
	if r.Server, err = ps.binding(m["server"], field+".server"); err != nil {
		return nil, err
	}
	if r.Fact, err = ps.scalar(m["fact"], field+".fact"); err != nil {
		return nil, err
	}
	if l := m["label"]; l != nil {
		if r.Label, err = ps.text(l, field+".label"); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

// binding reads the name of a declared binding.
func (ps *parser) binding(n *yaml.Node, field string) (string, error) {
	s, err := ps.scalar(n, field)
	if err != nil {
		return "", err
	}
	if _, ok := ps.p.Binding(s); !ok {
		names := make([]string, len(ps.p.Bindings))
		for i, b := range ps.p.Bindings {
			names[i] = b.Name
		}
		if len(names) == 0 {
			return "", ps.fail(n, field, "%q is not a binding; the procedure declares none under bindings", s)
		}
		return "", ps.fail(n, field, "%q is not a binding; expected one of %s", s, strings.Join(names, ", "))
	}
	return s, nil
}

// stepKeys are the keys each step type takes, beyond the common ones.
var stepKeys = map[StepType][]string{
	StepCheck:     {"condition"},
	StepAction:    {"server", "action", "params", "destructive", "timeout"},
	StepVerify:    {"condition", "timeout", "hold"},
	StepWait:      {"condition", "timeout", "hold", "progress"},
	StepConfirm:   {"prompt", "by_hand"},
	StepSupervise: {"prompt"},
	StepChoose:    {"var", "prompt", "choices", "default"},
	StepBranch:    {"condition", "goto"},
}

var commonStepKeys = []string{"id", "type", "text", "doc_step", "how", "way_back"}

func (ps *parser) steps(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return ps.fail(n, "steps", "expected a list of steps")
	}
	if len(n.Content) > maxSteps {
		return ps.fail(n, "steps", "%d steps; at most %d", len(n.Content), maxSteps)
	}
	// Choose variables are known before the steps that read them are
	// checked, wherever they are.
	for _, c := range n.Content {
		if c.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(c.Content); i += 2 {
			if c.Content[i].Value == "var" && c.Content[i+1].Kind == yaml.ScalarNode {
				ps.vars[c.Content[i+1].Value] = true
			}
		}
	}
	ids := map[string]int{}
	for i, c := range n.Content {
		field := fmt.Sprintf("steps[%d]", i)
		if c.Kind != yaml.MappingNode {
			return ps.fail(c, field, "expected a mapping with type, text and the step's fields")
		}
		var typeNode *yaml.Node
		for j := 0; j+1 < len(c.Content); j += 2 {
			if c.Content[j].Value == "type" {
				typeNode = c.Content[j+1]
			}
		}
		if typeNode == nil {
			return ps.fail(c, field+".type", "missing; expected one of %s", orList(StepTypes))
		}
		st := Step{Index: i, Type: StepType(typeNode.Value), Line: c.Line}
		keys, ok := stepKeys[st.Type]
		if !ok {
			return ps.fail(typeNode, field+".type", "%q is not one of %s", typeNode.Value, orList(StepTypes))
		}
		m, err := ps.mapping(c, field, append(slices.Clone(commonStepKeys), keys...))
		if err != nil {
			return err
		}
		if err := ps.step(&st, m, c, field); err != nil {
			return err
		}
		if st.ID == "" {
			st.ID = fmt.Sprintf("step-%d", i+1)
		}
		if prev, dup := ids[st.ID]; dup {
			return ps.fail(m["id"], field+".id", "%q is also the id of steps[%d]", st.ID, prev)
		}
		ids[st.ID] = i
		ps.p.Steps = append(ps.p.Steps, st)
	}
	return nil
}

func (ps *parser) step(st *Step, m map[string]*yaml.Node, n *yaml.Node, field string) error {
	var err error
	if v := m["id"]; v != nil {
		if st.ID, err = ps.scalar(v, field+".id"); err != nil {
			return err
		}
		if !idRE.MatchString(st.ID) {
			return ps.fail(v, field+".id", "%q is not a valid id: lower-case letters, digits and '-'", st.ID)
		}
	}
	if m["text"] == nil {
		return ps.fail(n, field+".text", "missing: the document's own wording of the step")
	}
	if st.Text, err = ps.text(m["text"], field+".text"); err != nil {
		return err
	}
	if v := m["doc_step"]; v != nil {
		if st.DocStep, err = ps.scalar(v, field+".doc_step"); err != nil {
			return err
		}
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"how", &st.How}, {"way_back", &st.WayBack}, {"prompt", &st.Prompt}} {
		if v := m[k.key]; v != nil {
			if *k.dst, err = ps.text(v, field+"."+k.key); err != nil {
				return err
			}
		}
	}
	if v := m["timeout"]; v != nil {
		if st.Timeout, err = ps.duration(v, field+".timeout"); err != nil {
			return err
		}
	}
	if v := m["hold"]; v != nil {
		if st.Hold, err = ps.duration(v, field+".hold"); err != nil {
			return err
		}
	}
	if v := m["condition"]; v != nil {
		if st.Condition, err = ps.condition(v, field+".condition"); err != nil {
			return err
		}
	} else if slices.Contains(stepKeys[st.Type], "condition") {
		return ps.fail(n, field+".condition", "missing: a %s step needs a condition", st.Type)
	}
	switch st.Type {
	case StepAction:
		return ps.action(st, m, n, field)
	case StepConfirm:
		if v := m["by_hand"]; v != nil {
			if st.ByHand, err = ps.boolean(v, field+".by_hand"); err != nil {
				return err
			}
		}
	case StepWait:
		if v := m["progress"]; v != nil {
			if st.Progress, err = ps.factRef(v, field+".progress"); err != nil {
				return err
			}
		}
	case StepChoose:
		return ps.choose(st, m, n, field)
	case StepBranch:
		if m["goto"] == nil {
			return ps.fail(n, field+".goto", "missing: the id of the step to go on at when the condition holds")
		}
		if st.Goto, err = ps.scalar(m["goto"], field+".goto"); err != nil {
			return err
		}
	}
	return nil
}

func (ps *parser) action(st *Step, m map[string]*yaml.Node, n *yaml.Node, field string) error {
	var err error
	if m["server"] == nil || m["action"] == nil {
		return ps.fail(n, field, "an action step needs server (a binding) and action")
	}
	if st.Server, err = ps.binding(m["server"], field+".server"); err != nil {
		return err
	}
	if st.Action, err = ps.scalar(m["action"], field+".action"); err != nil {
		return err
	}
	if !slices.Contains(actionSet, st.Action) {
		return ps.fail(m["action"], field+".action", "%q is not one of %s", st.Action, strings.Join(actionSet, ", "))
	}
	st.Params = map[string]string{}
	if v := m["params"]; v != nil {
		if v.Kind != yaml.MappingNode {
			return ps.fail(v, field+".params", "expected a mapping of parameter names to values")
		}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, val := v.Content[i], v.Content[i+1]
			f := field + ".params." + k.Value
			if _, dup := st.Params[k.Value]; dup {
				return ps.fail(k, f, "given twice")
			}
			s, err := ps.scalar(val, f)
			if err != nil {
				return err
			}
			if err := ps.refs(val, f, s); err != nil {
				return err
			}
			st.Params[k.Value] = s
			st.ParamOrder = append(st.ParamOrder, k.Value)
		}
	}
	need := map[string][]string{
		actions.ServiceStart: {"service"}, actions.ServiceStop: {"service"}, actions.ServiceRestart: {"service"},
		actions.ServiceStatus: {"service"}, actions.SettingsGet: {"dir", "path", "key"},
		actions.SettingsSet: {"dir", "path", "key", "value"}, actions.TaskfileDrop: {"queue", "name"},
		actions.CommandRun: {"command"},
	}
	for _, k := range need[st.Action] {
		if _, ok := st.Params[k]; !ok {
			return ps.fail(n, field+".params."+k, "missing: %s needs %s", st.Action, strings.Join(need[st.Action], ", "))
		}
	}
	if v := m["destructive"]; v != nil {
		if st.Destructive, err = ps.boolean(v, field+".destructive"); err != nil {
			return err
		}
	}
	return nil
}

func (ps *parser) choose(st *Step, m map[string]*yaml.Node, n *yaml.Node, field string) error {
	var err error
	if m["var"] == nil || m["choices"] == nil {
		return ps.fail(n, field, "a choose step needs var (where the answer goes) and choices")
	}
	if st.Var, err = ps.scalar(m["var"], field+".var"); err != nil {
		return err
	}
	if !nameRE.MatchString(st.Var) {
		return ps.fail(m["var"], field+".var", "%q is not a valid name: letters, digits and '_'", st.Var)
	}
	ch := m["choices"]
	if ch.Kind != yaml.SequenceNode || len(ch.Content) < 2 {
		return ps.fail(ch, field+".choices", "expected a list of at least two choices")
	}
	for i, c := range ch.Content {
		f := fmt.Sprintf("%s.choices[%d]", field, i)
		cm, err := ps.mapping(c, f, []string{"value", "label", "goto"})
		if err != nil {
			return err
		}
		if cm["value"] == nil || cm["label"] == nil {
			return ps.fail(c, f, "a choice needs value and label")
		}
		var choice Choice
		if choice.Value, err = ps.scalar(cm["value"], f+".value"); err != nil {
			return err
		}
		if choice.Label, err = ps.text(cm["label"], f+".label"); err != nil {
			return err
		}
		if g := cm["goto"]; g != nil {
			if choice.Goto, err = ps.scalar(g, f+".goto"); err != nil {
				return err
			}
		}
		for _, prev := range st.Choices {
			if prev.Value == choice.Value {
				return ps.fail(cm["value"], f+".value", "%q is given twice", choice.Value)
			}
		}
		st.Choices = append(st.Choices, choice)
	}
	if d := m["default"]; d != nil {
		if st.Default, err = ps.scalar(d, field+".default"); err != nil {
			return err
		}
		if !slices.ContainsFunc(st.Choices, func(c Choice) bool { return c.Value == st.Default }) {
			return ps.fail(d, field+".default", "%q is not the value of one of the choices", st.Default)
		}
	}
	return nil
}

var conditionKeys = []string{"all", "any", "not", "server", "role", "health", "fact", "service", "state", "param",
	OpEquals, OpNotEquals, OpAtLeast, OpAtMost, OpMatches, OpPresent, "says"}

func (ps *parser) condition(n *yaml.Node, field string) (*Condition, error) {
	m, err := ps.mapping(n, field, conditionKeys)
	if err != nil {
		return nil, err
	}
	c := &Condition{Line: n.Line}
	var subjects []string
	for _, k := range []string{"all", "any", "not", "role", "health", "fact", "service", "param"} {
		if m[k] != nil {
			subjects = append(subjects, k)
		}
	}
	if len(subjects) != 1 {
		return nil, ps.fail(n, field, "expected exactly one of all, any, not, role, health, fact, service or param; found %s",
			orNone(subjects))
	}
	subject := subjects[0]
	allowed := map[string][]string{
		"all": {"all"}, "any": {"any"}, "not": {"not"},
		"role": {"server", "role"}, "health": {"server", "health"},
		"service": {"server", "service", "state"},
		"fact":    append([]string{"server", "fact", "says"}, ops...),
		"param":   append([]string{"param"}, ops...),
	}[subject]
	for k, v := range m {
		if !slices.Contains(allowed, k) {
			return nil, ps.fail(v, join(field, k), "does not go with %s; a %s condition takes %s", subject, subject, strings.Join(allowed, ", "))
		}
	}
	if subject != "all" && subject != "any" && subject != "not" && subject != "param" {
		if m["server"] == nil {
			return nil, ps.fail(n, field+".server", "missing: whose %s (a binding)", subject)
		}
		if c.Server, err = ps.binding(m["server"], field+".server"); err != nil {
			return nil, err
		}
	}
	switch subject {
	case "all", "any":
		list := m[subject]
		if list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
			return nil, ps.fail(list, field+"."+subject, "expected a list of conditions")
		}
		for i, sub := range list.Content {
			sc, err := ps.condition(sub, fmt.Sprintf("%s.%s[%d]", field, subject, i))
			if err != nil {
				return nil, err
			}
			if subject == "all" {
				c.All = append(c.All, sc)
			} else {
				c.Any = append(c.Any, sc)
			}
		}
	case "not":
		if c.Not, err = ps.condition(m["not"], field+".not"); err != nil {
			return nil, err
		}
	case "role":
		roles, err := ps.list(m["role"], field+".role")
		if err != nil {
			return nil, err
		}
		for _, s := range roles {
			r, err := model.ParseRole(s)
			if err != nil {
				return nil, ps.fail(m["role"], field+".role", "%v", err)
			}
			c.Role = append(c.Role, r)
		}
	case "health":
		hs, err := ps.list(m["health"], field+".health")
		if err != nil {
			return nil, err
		}
		for _, s := range hs {
			if !slices.Contains(healths, model.Health(s)) {
				return nil, ps.fail(m["health"], field+".health", "%q is not one of %s", s, orList(healths))
			}
			c.Health = append(c.Health, model.Health(s))
		}
	case "service":
		if c.Service, err = ps.scalar(m["service"], field+".service"); err != nil {
			return nil, err
		}
		if m["state"] == nil {
			return nil, ps.fail(n, field+".state", "missing: the state the service must be in (%s)", orList(serviceStates))
		}
		if c.State, err = ps.list(m["state"], field+".state"); err != nil {
			return nil, err
		}
		for _, s := range c.State {
			if !slices.Contains(serviceStates, s) {
				return nil, ps.fail(m["state"], field+".state", "%q is not one of %s", s, orList(serviceStates))
			}
		}
	case "fact", "param":
		if c.Fact, err = ps.scalar(m[subject], field+"."+subject); err != nil {
			return nil, err
		}
		if subject == "param" {
			c.Param, c.Fact = c.Fact, ""
			if !ps.vars[c.Param] {
				return nil, ps.fail(m["param"], field+".param", "%q is neither a parameter nor the var of a choose step", c.Param)
			}
		}
		var found []string
		for _, op := range ops {
			if m[op] != nil {
				found = append(found, op)
			}
		}
		if len(found) != 1 {
			return nil, ps.fail(n, field, "expected exactly one comparison (%s); found %s", strings.Join(ops, ", "), orNone(found))
		}
		c.Op = found[0]
		v := m[c.Op]
		if c.Value, err = ps.scalar(v, field+"."+c.Op); err != nil {
			return nil, err
		}
		if err := ps.refs(v, field+"."+c.Op, c.Value); err != nil {
			return nil, err
		}
		switch c.Op {
		case OpPresent:
			b, err := strconv.ParseBool(c.Value)
			if err != nil {
				return nil, ps.fail(v, field+".present", "expected true or false")
			}
			c.Value = strconv.FormatBool(b)
		case OpMatches:
			if !refRE.MatchString(c.Value) {
				if c.re, err = regexp.Compile(c.Value); err != nil {
					return nil, ps.fail(v, field+".matches", "not a valid regular expression: %v", err)
				}
			}
		}
		if s := m["says"]; s != nil {
			if c.Says, err = ps.text(s, field+".says"); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, " and ")
}

// refs checks the ${...} references in s: a parameter or choose variable,
// or a binding's name, role, vendor_role, site or fact.NAME.
func (ps *parser) refs(n *yaml.Node, field, s string) error {
	for _, m := range refRE.FindAllStringSubmatch(s, -1) {
		ref := m[1]
		b, rest, dotted := strings.Cut(ref, ".")
		if !dotted {
			if !ps.vars[ref] {
				return ps.fail(n, field, "${%s} is neither a parameter nor the var of a choose step", ref)
			}
			continue
		}
		if _, ok := ps.p.Binding(b); !ok {
			return ps.fail(n, field, "${%s}: %q is not a binding", ref, b)
		}
		switch {
		case rest == "name", rest == "role", rest == "vendor_role", rest == "site":
		case strings.HasPrefix(rest, "fact.") && len(rest) > len("fact."):
		default:
			return ps.fail(n, field, "${%s}: expected name, role, vendor_role, site or fact.NAME after %s.", ref, b)
		}
	}
	return nil
}

// crossCheck checks what spans steps: goto targets lie ahead, and a
// supervised procedure signs off before its first destructive step.
func (ps *parser) crossCheck(top map[string]*yaml.Node) error {
	p := ps.p
	forward := func(from int, id, field string, line int) error {
		to := p.StepByID(id)
		switch {
		case to < 0:
			return &Error{File: ps.file, Line: line, Field: field, Msg: fmt.Sprintf("no step has id %q", id)}
		case to <= from:
			return &Error{File: ps.file, Line: line, Field: field,
				Msg: fmt.Sprintf("goes back to %q; a procedure only goes forward (steps are recorded once each)", id)}
		}
		return nil
	}
	signed := false
	for i, st := range p.Steps {
		field := fmt.Sprintf("steps[%d]", i)
		if st.Goto != "" {
			if err := forward(i, st.Goto, field+".goto", st.Line); err != nil {
				return err
			}
		}
		for j, c := range st.Choices {
			if c.Goto != "" {
				if err := forward(i, c.Goto, fmt.Sprintf("%s.choices[%d].goto", field, j), st.Line); err != nil {
					return err
				}
			}
		}
		if st.Type == StepSupervise {
			signed = true
		}
		if p.Supervised && st.Destructive && !signed {
			return &Error{File: ps.file, Line: st.Line, Field: field + ".destructive",
				Msg: "a supervised procedure needs a supervise step before its first destructive step"}
		}
	}
	if p.Supervised && !signed {
		return ps.fail(top["supervised"], "supervised", "a supervised procedure needs a supervise step")
	}
	return nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func yamlLine(err error) int {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

var yamlPrefixRE = regexp.MustCompile(`^(yaml: )?(line \d+: )?`)

func yamlMsg(err error) string {
	return yamlPrefixRE.ReplaceAllString(err.Error(), "")
}

// Dir is a folder of procedure files: the embedded assets or an operator's
// own folder. Name is how errors name the folder.
type Dir struct {
	FS   fs.FS
	Name string
}

// Library is the procedures that loaded, by id.
type Library struct {
	byID map[string]*Procedure
	list []*Procedure
}

// Load reads every *.yaml and *.yml file of each folder, in order. A file
// that does not parse is refused with an *Error naming it, and the others
// still load; an id already loaded from an earlier file is refused too. A
// folder that does not exist is not an error.
func Load(dirs ...Dir) (*Library, []error) {
	lib := &Library{byID: map[string]*Procedure{}}
	var errs []error
	for _, d := range dirs {
		if d.FS == nil {
			continue
		}
		entries, err := fs.ReadDir(d.FS, ".")
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("read procedures in %s: %w", d.Name, err))
			}
			continue
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			ext := path.Ext(e.Name())
			if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
				continue
			}
			name := path.Join(d.Name, e.Name())
			data, err := fs.ReadFile(d.FS, e.Name())
			if err != nil {
				errs = append(errs, &Error{File: name, Msg: "cannot be read: " + err.Error()})
				continue
			}
			p, err := Parse(name, data)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if prev, dup := lib.byID[p.ID]; dup {
				errs = append(errs, &Error{File: name, Field: "id", Msg: fmt.Sprintf("%q is already the id of %s; this file is not loaded", p.ID, prev.File)})
				continue
			}
			lib.byID[p.ID] = p
			lib.list = append(lib.list, p)
		}
	}
	sort.SliceStable(lib.list, func(i, j int) bool {
		if lib.list[i].Profile != lib.list[j].Profile {
			return lib.list[i].Profile < lib.list[j].Profile
		}
		return lib.list[i].ID < lib.list[j].ID
	})
	return lib, errs
}

// Get returns the procedure with id.
func (l *Library) Get(id string) (*Procedure, bool) {
	p, ok := l.byID[id]
	return p, ok
}

// All lists the procedures by profile and id.
func (l *Library) All() []*Procedure { return slices.Clone(l.list) }
