package procedure

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilops/vigil/model"
)

// Condition is a structured test over the live status of the servers a
// procedure has bound, and over its variables. There is no expression
// language: a condition is one of
//
//   - all / any: a list of conditions; not: one condition;
//   - role (one or a list) of a binding's server;
//   - health (one or a list) of a binding's server;
//   - fact of a binding's server compared with a value;
//   - service of a binding's server in a state (one or a list);
//   - param (a parameter or a choose step's answer) compared with a value.
//
// A condition on a binding that holds several servers holds when it holds
// for each of them.
type Condition struct {
	All []*Condition
	Any []*Condition
	Not *Condition

	Server  string // binding
	Role    []model.Role
	Health  []model.Health
	Fact    string
	Service string
	State   []string // service states
	Param   string

	// Op compares a fact or param with Value (which may use ${...}):
	// equals, not_equals, at_least, at_most, matches, present.
	Op    string
	Value string
	re    *regexp.Regexp // Value compiled, when it has no ${...}

	// Says is what a fact's condition means in words when it holds
	// ("qualified"), so that a failure reads "is not qualified
	// (qualified=false)".
	Says string
	Line int
}

// Comparison operators of a fact or param condition.
const (
	OpEquals    = "equals"
	OpNotEquals = "not_equals"
	OpAtLeast   = "at_least"
	OpAtMost    = "at_most"
	OpMatches   = "matches"
	OpPresent   = "present"
)

var ops = []string{OpEquals, OpNotEquals, OpAtLeast, OpAtMost, OpMatches, OpPresent}

// Verdict is a condition's outcome, in words, with the values it read.
type Verdict struct {
	OK   bool
	Text string
	// Values are what was read, for the run's evidence: "K2server2
	// qualified=false", "K2server1 role=primary".
	Values []string
}

// part is one server's (or one variable's) share of a verdict.
type part struct {
	subject string
	ok      bool
	text    string
}

// scope is what conditions and substitutions read: the servers now, the
// bindings and the variables.
type scope struct {
	servers map[string]Server   // by agent id
	bound   map[string][]string // binding -> agent ids
	vars    map[string]string
	values  *[]string
}

func (sc *scope) note(format string, args ...any) {
	if sc.values != nil {
		v := fmt.Sprintf(format, args...)
		if !slices.Contains(*sc.values, v) {
			*sc.values = append(*sc.values, v)
		}
	}
}

// Eval tests the condition against sc.
func (c *Condition) eval(sc *scope) Verdict {
	var values []string
	sc.values = &values
	ok, parts := c.evalNeg(sc, false)
	sc.values = nil
	return Verdict{OK: ok, Text: render(parts), Values: values}
}

func (c *Condition) evalNeg(sc *scope, neg bool) (bool, []part) {
	switch {
	case c.Not != nil:
		return c.Not.evalNeg(sc, !neg)
	case len(c.All) > 0 && !neg, len(c.Any) > 0 && neg:
		// Every one must hold.
		list := c.All
		if neg {
			list = c.Any
		}
		ok, parts := true, []part(nil)
		for _, sub := range list {
			o, p := sub.evalNeg(sc, neg)
			ok = ok && o
			parts = append(parts, p...)
		}
		return ok, parts
	case len(c.Any) > 0, len(c.All) > 0:
		// One is enough.
		list := c.Any
		if neg {
			list = c.All
		}
		var okParts []part
		var texts []string
		for _, sub := range list {
			o, p := sub.evalNeg(sc, neg)
			if o {
				okParts = append(okParts, p...)
			}
			texts = append(texts, render(p))
		}
		if len(okParts) > 0 {
			return true, okParts
		}
		return false, []part{{text: "none of these holds: " + strings.Join(texts, "; or ")}}
	}
	return c.leaf(sc, neg)
}

func (c *Condition) leaf(sc *scope, neg bool) (bool, []part) {
	if c.Param != "" {
		v, set := sc.vars[c.Param]
		holds, detail := c.compare(sc, v, set)
		ok := holds != neg
		text := "is " + quoteEmpty(v)
		if !set {
			text = "has no value"
		}
		if !ok {
			text += detail
		}
		sc.note("%s=%s", c.Param, v)
		return ok, []part{{subject: c.Param, ok: ok, text: text}}
	}
	ids := sc.bound[c.Server]
	if len(ids) == 0 {
		return false, []part{{subject: c.Server, text: "is not bound to a server"}}
	}
	all, parts := true, make([]part, 0, len(ids))
	for _, id := range ids {
		srv, known := sc.servers[id]
		if !known {
			all = false
			parts = append(parts, part{subject: c.Server, text: "is no longer among the system's servers"})
			continue
		}
		ok, text := c.serverLeaf(sc, srv, neg)
		all = all && ok
		parts = append(parts, part{subject: srv.Name, ok: ok, text: text})
	}
	return all, parts
}

func (c *Condition) serverLeaf(sc *scope, srv Server, neg bool) (bool, string) {
	must := func(ok bool, want string) string {
		switch {
		case ok:
			return ""
		case neg:
			return ", which it must not be"
		default:
			return ", not " + want
		}
	}
	switch {
	case len(c.Role) > 0:
		role := srv.Role
		if role == "" {
			role = model.RoleUnknown
		}
		ok := slices.Contains(c.Role, role) != neg
		sc.note("%s role=%s", srv.Name, role)
		text := "is " + string(role)
		if srv.VendorRole != "" && srv.VendorRole != string(role) {
			text += " (" + srv.VendorRole + ")"
		}
		text += must(ok, orList(c.Role))
		if !ok && srv.Health != model.HealthUp {
			text += " [" + srv.healthText() + "]"
		}
		return ok, text
	case len(c.Health) > 0:
		h := srv.Health
		if h == "" {
			h = model.HealthUnknown
		}
		ok := slices.Contains(c.Health, h) != neg
		sc.note("%s health=%s", srv.Name, h)
		text := "is " + srv.healthText()
		return ok, text + must(ok, orList(c.Health))
	case c.Service != "":
		st, known := srv.Services[c.Service]
		if !known {
			st = "not reported"
		}
		ok := slices.Contains(c.State, st) != neg
		sc.note("%s service %s=%s", srv.Name, c.Service, st)
		return ok, "has " + c.Service + " " + st + must(ok, orList(c.State))
	}
	v, present := srv.Facts[c.Fact]
	if present {
		sc.note("%s %s=%s", srv.Name, c.Fact, v)
	} else {
		sc.note("%s %s unknown", srv.Name, c.Fact)
	}
	holds, detail := c.compare(sc, v, present)
	ok := holds != neg
	shown := c.Fact + "=" + quoteEmpty(v)
	if !present {
		shown = "no " + c.Fact
		if e := srv.FactErrors[c.Fact]; e != "" {
			shown += ": " + e
		} else if srv.Health != model.HealthUp {
			shown += ": " + srv.healthText()
		}
	}
	if c.Says != "" {
		text := "is " + c.Says
		if !holds {
			text = "is not " + c.Says
		}
		if !ok {
			text += " (" + shown + ")"
		}
		return ok, text
	}
	text := "has " + shown
	if !present && c.Op != OpPresent {
		text = "has " + shown
	}
	if !ok {
		if neg {
			text += ", which it must not (" + detail[2:] + ")"
		} else {
			text += detail
		}
	}
	return ok, text
}

// compare applies the condition's operator to v; detail says what was
// expected, starting with ", ".
func (c *Condition) compare(sc *scope, v string, set bool) (bool, string) {
	want, err := sc.expand(c.Value)
	if err != nil {
		return false, ", cannot compare: " + err.Error()
	}
	v = strings.TrimSpace(v)
	switch c.Op {
	case OpPresent:
		wantPresent := want == "true"
		if wantPresent {
			return set && v != "", ", expected a value"
		}
		return !set || v == "", ", expected none"
	case OpEquals:
		return set && v == want, ", expected " + quoteEmpty(want)
	case OpNotEquals:
		return set && v != want, ", expected anything but " + quoteEmpty(want)
	case OpAtLeast, OpAtMost:
		if !set {
			return false, ", expected a value"
		}
		d, ok := order(v, want)
		if !ok {
			return false, fmt.Sprintf(", cannot compare %q with %q", v, want)
		}
		if c.Op == OpAtLeast {
			return d >= 0, ", expected at least " + want
		}
		return d <= 0, ", expected at most " + want
	case OpMatches:
		re := c.re
		if re == nil {
			if re, err = regexp.Compile(want); err != nil {
				return false, ", pattern " + want + " is not valid: " + err.Error()
			}
		}
		return set && re.MatchString(v), ", expected to match " + want
	}
	return false, ", unknown comparison " + c.Op
}

// order compares a and b as numbers, else as times, else not at all: -1, 0
// or 1, and whether they could be compared.
func order(a, b string) (int, bool) {
	num := func(s string) (float64, bool) {
		f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
		return f, err == nil
	}
	if x, ok := num(a); ok {
		if y, ok := num(b); ok {
			switch {
			case x < y:
				return -1, true
			case x > y:
				return 1, true
			}
			return 0, true
		}
	}
	tm := func(s string) (time.Time, bool) {
		for _, layout := range []string{time.RFC3339Nano, time.DateTime} {
			if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	if x, ok := tm(a); ok {
		if y, ok := tm(b); ok {
			return x.Compare(y), true
		}
	}
	return 0, false
}

var numberRE = regexp.MustCompile(`-?[0-9]+(\.[0-9]+)?`)

// firstNumber is the first number in a fact's value ("synchronising 40%"
// is 40), for a wait step's progress.
func firstNumber(s string) (float64, bool) {
	m := numberRE.FindString(s)
	if m == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(m, 64)
	return f, err == nil
}

// render puts parts into words: parts about the same server are one
// sentence ("K2server2 is standby but not qualified (qualified=false)"),
// sentences are joined with "; ".
func render(parts []part) string {
	var out []string
	for i := 0; i < len(parts); {
		j := i
		for j < len(parts) && parts[j].subject == parts[i].subject {
			j++
		}
		var good, bad []string
		for _, p := range parts[i:j] {
			if p.ok {
				good = append(good, p.text)
			} else {
				bad = append(bad, p.text)
			}
		}
		var s string
		switch {
		case len(bad) == 0:
			s = joinPhrases("", good)
		case len(good) == 0:
			s = joinPhrases("", bad)
		default:
			s = joinPhrases("", good) + " but " + joinPhrases(good[len(good)-1], bad)
		}
		if parts[i].subject != "" {
			s = parts[i].subject + " " + s
		}
		out = append(out, s)
		i = j
	}
	return strings.Join(out, "; ")
}

// joinPhrases joins with "and", dropping a repeated leading "is ": "is
// standby and qualified".
func joinPhrases(prev string, list []string) string {
	var b strings.Builder
	for i, p := range list {
		if i > 0 {
			b.WriteString(" and ")
		}
		if strings.HasPrefix(p, "is ") && strings.HasPrefix(prev, "is ") {
			p = strings.TrimPrefix(p, "is ")
		}
		b.WriteString(p)
		prev = list[i]
	}
	return b.String()
}

func orList[T ~string](list []T) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = string(v)
	}
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// refRE finds ${...} references in procedure strings.
var refRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// expand replaces ${param}, ${binding.name}, ${binding.role},
// ${binding.vendor_role}, ${binding.site} and ${binding.fact.NAME} in s.
func (sc *scope) expand(s string) (string, error) {
	var firstErr error
	out := refRE.ReplaceAllStringFunc(s, func(m string) string {
		v, err := sc.lookup(m[2 : len(m)-1])
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return v
	})
	return out, firstErr
}

func (sc *scope) lookup(ref string) (string, error) {
	b, rest, dotted := strings.Cut(ref, ".")
	if !dotted {
		v, ok := sc.vars[ref]
		if !ok {
			return "", fmt.Errorf("${%s} has no value", ref)
		}
		return v, nil
	}
	ids := sc.bound[b]
	if len(ids) == 0 {
		return "", fmt.Errorf("${%s}: %s is not bound to a server", ref, b)
	}
	var vals []string
	for _, id := range ids {
		srv, ok := sc.servers[id]
		if !ok {
			return "", fmt.Errorf("${%s}: the server bound to %s is no longer among the system's servers", ref, b)
		}
		switch {
		case rest == "name":
			vals = append(vals, srv.Name)
		case rest == "role":
			vals = append(vals, string(srv.Role))
		case rest == "vendor_role":
			vals = append(vals, srv.VendorRole)
		case rest == "site":
			vals = append(vals, srv.Site)
		case strings.HasPrefix(rest, "fact."):
			f := strings.TrimPrefix(rest, "fact.")
			v, ok := srv.Facts[f]
			if !ok {
				why := srv.FactErrors[f]
				if why == "" {
					why = srv.healthText()
				}
				return "", fmt.Errorf("${%s}: %s has no %s (%s)", ref, srv.Name, f, why)
			}
			vals = append(vals, v)
		default:
			return "", fmt.Errorf("${%s}: expected name, role, vendor_role, site or fact.NAME after %s", ref, b)
		}
	}
	return strings.Join(vals, ", "), nil
}
