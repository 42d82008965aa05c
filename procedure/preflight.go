package procedure

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// The preflight: every check that can be made before step 1, each with
// what to do about it, and the binding of the procedure's servers.

// Check is one result of a preflight.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	// Warning marks a passed check the operator should read: a server
	// that announces itself in the system but is not paired.
	Warning bool `json:"warning,omitempty"`
	// Input marks a check of what the operator gives when starting (a
	// parameter, an answer, the supervisor's name) rather than of the
	// fleet: it does not say whether the fleet is ready.
	Input bool `json:"input,omitempty"`
}

// Preflight is every check that can be made before step 1.
type Preflight struct {
	Checks []Check
	// Bound is the server(s) each binding resolved to.
	Bound map[string][]Server
	Vars  map[string]string
}

// OK reports whether every check passed.
func (pf Preflight) OK() bool {
	for _, c := range pf.Checks {
		if !c.OK {
			return false
		}
	}
	return len(pf.Checks) > 0
}

// Blocker is the first failed check of the fleet, not of the operator's
// inputs: what must change on the servers before the procedure can start.
// ok is false when nothing on the fleet's side blocks it.
func (pf Preflight) Blocker() (c Check, ok bool) {
	for _, c := range pf.Checks {
		if !c.OK && !c.Input {
			return c, true
		}
	}
	return Check{}, false
}

// PreflightError refuses a run whose preflight failed; it lists every
// failed check.
type PreflightError struct{ Preflight Preflight }

func (e *PreflightError) Error() string {
	var bad []string
	for _, c := range e.Preflight.Checks {
		if !c.OK {
			bad = append(bad, c.Name+": "+c.Detail)
		}
	}
	return "preflight refused the run: " + strings.Join(bad, "; ")
}

// Preflight runs every check that can be made before step 1: the
// parameters, the system's servers (paired and reachable), the bindings
// (each resolves to the server it must), no other run in progress on the
// system, a supervisor named when the procedure is supervised, every action
// declared by its server's agent, and the check steps before the first
// action. It reports them all at once; an error is returned only when the
// checks could not be made.
func (e *Engine) Preflight(ctx context.Context, p *Procedure, o Options) (Preflight, error) {
	pf := Preflight{Bound: map[string][]Server{}, Vars: map[string]string{}}
	add := func(name string, ok bool, format string, args ...any) {
		pf.Checks = append(pf.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	input := func(name string, ok bool, format string, args ...any) {
		pf.Checks = append(pf.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...), Input: true})
	}

	// Parameters.
	for name := range o.Params {
		known := slices.ContainsFunc(p.Parameters, func(x Parameter) bool { return x.Name == name }) ||
			slices.ContainsFunc(p.Steps, func(s Step) bool { return s.Type == StepChoose && s.Var == name })
		if !known {
			input("parameter "+name, false, "%s takes no parameter %q", p.ID, name)
		}
	}
	for _, prm := range p.Parameters {
		v, given := o.Params[prm.Name]
		if !given {
			v = prm.Default
		}
		switch {
		case !given && prm.Default == "":
			input("parameter "+prm.Name, false, "no value: %s; give it with --param %s=VALUE", prm.Prompt, prm.Name)
		case len(prm.Choices) > 0 && !slices.Contains(prm.Choices, v):
			input("parameter "+prm.Name, false, "%q is not one of %s", v, strings.Join(prm.Choices, ", "))
		default:
			pf.Vars[prm.Name] = v
		}
	}
	for _, st := range p.Steps {
		if st.Type != StepChoose {
			continue
		}
		if v, ok := o.Params[st.Var]; ok {
			if !slices.ContainsFunc(st.Choices, func(c Choice) bool { return c.Value == v }) {
				input("answer "+st.Var, false, "%q does not answer %s: expected one of %s", v, st.Label(), choiceValues(st.Choices))
				continue
			}
			pf.Vars[st.Var] = v
		}
	}

	// The system's servers.
	servers, err := e.Fleet.Servers(ctx, o.System)
	if err != nil {
		return pf, err
	}
	if len(servers) == 0 {
		add("system "+o.System, false, "no server of a system named %q is known to this console; `vigil status` lists them", o.System)
		return pf, nil
	}
	for _, s := range servers {
		if s.Profile != "" && s.Profile != p.Profile {
			add("system "+o.System, false, "%s is a %s server; %s is a procedure for %s systems", s.Name, s.Profile, p.ID, p.Profile)
			return pf, nil
		}
	}
	expectDown := map[string]bool{}
	var members []Server // the paired servers: only they are the system
	for _, s := range servers {
		if s.Paired {
			members = append(members, s)
		}
		switch {
		case s.IdentityChanged:
			add("server "+s.Name, false, "presents another key than the one pinned when it was paired; Vigil will not act on it until it is paired again")
		case !s.Paired:
			// Only mDNS says it belongs to the system, and mDNS is a hint:
			// the procedure neither uses nor waits for it.
			pf.Checks = append(pf.Checks, Check{Name: "server " + s.Name + " (" + s.ID + ")", OK: true, Warning: true,
				Detail: "announces itself as a server of " + o.System + " but is not paired with this console, so the procedure " +
					"neither uses nor waits for it; if it belongs to the system, run `vigil-agent pair-code` on it and `vigil pair ADDRESS --code CODE` here"})
		case s.Health != model.HealthUp:
			expectDown[s.ID] = true // judged with the bindings below
		case s.Declared != nil && !s.Declared.CanAct:
			add("server "+s.Name, false, "is paired with read permission only; pair it again from an agent that grants act")
		default:
			add("server "+s.Name, true, "paired and reachable: %s (%s)", s.Role, orDash(s.VendorRole))
		}
	}

	// No other run in progress.
	if !o.Rehearsal {
		open, err := e.Store.OpenProcedureRuns(ctx, o.System)
		if err != nil {
			return pf, err
		}
		busy := false
		for _, r := range open {
			if !r.Rehearsal {
				busy = true
				add("no other run", false, "%v", &model.ActiveRunError{Run: r})
			}
		}
		if !busy {
			add("no other run", true, "no other procedure is in progress on %s", o.System)
		}
	}

	// Bindings.
	if len(members) == 0 {
		add("system "+o.System, false, "no server of %s is paired with this console", o.System)
		return pf, nil
	}
	sc := &scope{servers: map[string]Server{}, bound: map[string][]string{}, vars: pf.Vars}
	for _, s := range members {
		sc.servers[s.ID] = s
	}
	owner := map[string]string{}
	tolerated := map[string]bool{} // servers not up that a binding expects failed or of unknown role
	type boundLine struct {
		name    string
		matched []Server
	}
	var lines []boundLine
	for _, b := range p.Bindings {
		matched, detail := resolve(b, members, sc)
		name := "binding " + b.Name
		if b.DocumentName != "" {
			name += " (" + b.DocumentName + " in the document)"
		}
		if detail != "" {
			add(name, false, "%s", detail)
			continue
		}
		var ids []string
		clash := ""
		for _, s := range matched {
			ids = append(ids, s.ID)
			if prev, dup := owner[s.ID]; dup {
				clash = fmt.Sprintf("%s is also bound to %s; two bindings must not name one server", s.Name, prev)
			}
			owner[s.ID] = b.Name
			if expectDown[s.ID] && (slices.Contains(b.Roles, model.RoleFailed) || slices.Contains(b.Roles, model.RoleUnknown)) {
				tolerated[s.ID] = true
			}
		}
		if clash != "" {
			add(name, false, "%s", clash)
			continue
		}
		pf.Bound[b.Name] = matched
		sc.bound[b.Name] = ids
		lines = append(lines, boundLine{name, matched})
	}
	// A binding is ready only if its servers answer, or are expected not
	// to (a failed server the procedure brings back): a server that must
	// answer and does not fails its binding's line, once, saying what to do.
	for _, l := range lines {
		var names, down []string
		for _, s := range l.matched {
			names = append(names, s.Name+" ("+describeRole(s)+")")
			if expectDown[s.ID] && !tolerated[s.ID] {
				down = append(down, mustAnswer(s))
			}
		}
		if len(down) > 0 {
			add(l.name, false, "%s", strings.Join(down, "; "))
			continue
		}
		add(l.name, true, "%s", strings.Join(names, ", "))
	}
	// The other servers that are not reachable: refused unless a binding
	// expects them failed.
	for _, s := range servers {
		switch {
		case !expectDown[s.ID] || slices.ContainsFunc(lines, func(l boundLine) bool {
			return slices.ContainsFunc(l.matched, func(m Server) bool { return m.ID == s.ID })
		}) && !tolerated[s.ID]:
			// Up, or said on its binding's line.
		case tolerated[s.ID]:
			add("server "+s.Name, true, "is %s, as the procedure expects of a failed server", s.healthText())
		default:
			add("server "+s.Name, false, "%s", mustAnswer(s))
		}
	}

	// A supervisor for a supervised procedure.
	if p.Supervised && !o.Rehearsal {
		if o.Supervisor == "" {
			input("supervisor", false, "%s must be supervised (%s); name the supervisor with --supervisor NAME",
				p.ID, strings.Join(p.Warnings, " "))
		} else {
			input("supervisor", true, "%s will sign off", o.Supervisor)
		}
	}

	// Every action is declared by its server's agent.
	for _, st := range p.Steps {
		if st.Type != StepAction {
			continue
		}
		for _, id := range sc.bound[st.Server] {
			if why := undeclared(st, sc.servers[id]); why != "" {
				add(st.Label(), false, "%s", why)
			}
		}
	}

	// The checks before the first step that can change anything: an
	// action, and a step the operator does by hand (a confirm marked
	// by_hand: "Start up K2server1"), after which a check reads another
	// world.
	for _, st := range p.Steps {
		if st.Type == StepAction || st.Type == StepBranch || st.Type == StepVerify || st.Type == StepWait || st.ByHand ||
			(st.Type == StepChoose && slices.ContainsFunc(st.Choices, func(c Choice) bool { return c.Goto != "" })) {
			break
		}
		if st.Type != StepCheck {
			continue
		}
		if missing := unbound(st.Condition, sc); len(missing) > 0 {
			// Its binding failed above, which says why.
			continue
		}
		v := st.Condition.eval(sc)
		add(st.Label(), v.OK, "%s", v.Text)
	}
	return pf, nil
}

// mustAnswer says, in an operator's words, that a server every step may
// need does not answer, and what to do first.
func mustAnswer(s Server) string {
	return fmt.Sprintf("%s is %s: start it (its host and its agent) first; every server the procedure uses must answer before it starts", s.Name, s.healthText())
}

// unbound lists the bindings a condition reads that have no server.
func unbound(c *Condition, sc *scope) []string {
	var out []string
	var walk func(c *Condition)
	walk = func(c *Condition) {
		if c == nil {
			return
		}
		if c.Server != "" && len(sc.bound[c.Server]) == 0 && !slices.Contains(out, c.Server) {
			out = append(out, c.Server)
		}
		for _, m := range refRE.FindAllStringSubmatch(c.Value, -1) {
			if b, _, dotted := strings.Cut(m[1], "."); dotted && len(sc.bound[b]) == 0 && !slices.Contains(out, b) {
				out = append(out, b)
			}
		}
		for _, sub := range append(slices.Clone(c.All), c.Any...) {
			walk(sub)
		}
		walk(c.Not)
	}
	walk(c)
	return out
}

// resolve finds the servers a binding names; detail says why none or too
// many match.
func resolve(b Binding, servers []Server, sc *scope) ([]Server, string) {
	name := ""
	if b.Server != "" {
		var err error
		if name, err = sc.expand(b.Server); err != nil {
			return nil, err.Error()
		}
	}
	var matched []Server
	var others []string
	for _, s := range servers {
		role := s.Role
		if role == "" {
			role = model.RoleUnknown
		}
		ok := (len(b.Roles) == 0 || slices.Contains(b.Roles, role)) && (name == "" || s.Name == name) && (b.Site == "" || s.Site == b.Site)
		if ok {
			matched = append(matched, s)
		} else {
			others = append(others, s.Name+" is "+describeRole(s))
		}
	}
	var want []string
	if len(b.Roles) > 0 {
		want = append(want, orList(b.Roles))
	}
	if name != "" {
		want = append(want, "named "+name)
	}
	if b.Site != "" {
		want = append(want, "at site "+b.Site)
	}
	switch {
	case len(matched) == 0:
		return nil, fmt.Sprintf("no server is %s: %s", strings.Join(want, ", "), strings.Join(others, "; "))
	case len(matched) > 1 && !b.Many:
		var names []string
		for _, s := range matched {
			names = append(names, s.Name)
		}
		return nil, fmt.Sprintf("%d servers are %s (%s); the procedure needs exactly one", len(matched), strings.Join(want, ", "),
			strings.Join(names, ", "))
	}
	return matched, ""
}

func describeRole(s Server) string {
	r := string(s.Role)
	if r == "" {
		r = string(model.RoleUnknown)
	}
	if s.VendorRole != "" && s.VendorRole != r {
		r += " (" + s.VendorRole + ")"
	}
	if s.Health != model.HealthUp {
		r += ", " + s.healthText()
	}
	return r
}

// undeclared says why a server's agent would refuse an action step, or "".
func undeclared(st Step, s Server) string {
	d := s.Declared
	if d == nil {
		return "" // not known now; the agent will say
	}
	check := func(what, name string, list []string) string {
		if strings.Contains(name, "${") || slices.Contains(list, name) {
			return ""
		}
		return fmt.Sprintf("%s on %s: its agent declares no %s %q (it declares %s)", st.Action, s.Name, what, name, orDash(strings.Join(list, ", ")))
	}
	switch st.Action {
	case actions.ServiceStart, actions.ServiceStop, actions.ServiceRestart, actions.ServiceStatus:
		return check("service", st.Params["service"], d.Services)
	case actions.SettingsGet, actions.SettingsSet:
		return check("settings directory", st.Params["dir"], d.Settings)
	case actions.TaskfileDrop:
		return check("queue", st.Params["queue"], d.Queues)
	case actions.CommandRun:
		return check("command", st.Params["command"], d.Commands)
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

func choiceValues(cs []Choice) string {
	v := make([]string, len(cs))
	for i, c := range cs {
		v[i] = c.Value
	}
	return strings.Join(v, ", ")
}

// boundServer is how the run record keeps a binding.
type boundServer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}
