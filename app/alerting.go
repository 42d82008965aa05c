package app

import (
	"fmt"
	"strings"

	"github.com/vigilops/vigil/alert"
	"github.com/vigilops/vigil/model"
)

// alertContext is what an alert about e says beside the event: the
// judge's verdict on its system and each server's role and health now,
// and the procedure the verdict calls for. It draws the same verdict as
// the board and `vigil status`.
func (c *console) alertContext(e model.Event) alert.Context {
	if e.System == "" {
		return alert.Context{}
	}
	var out alert.Context
	var lines []string
	for _, v := range c.mon.Verdicts() {
		if v.System != e.System {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s is %s: %s", v.System, v.Verdict.Label(), v.Summary))
		if v.Next != "" {
			out.Procedure = c.procedureTitle(v.Next) + fmt.Sprintf(" (vigil procedure run %s --system %s)", v.Next, v.System)
		}
	}
	for _, v := range c.mon.Snapshot() {
		// Servers not paired are not the console's to speak of: another
		// console's fleet may announce the same system's name.
		if v.System != e.System || !v.Paired {
			continue
		}
		line := fmt.Sprintf("%s: %s, %s", v.Name, v.Role, v.Health)
		if !v.Live() && v.Health != model.HealthUnknown {
			line = fmt.Sprintf("%s: %s (it was %s when last heard)", v.Name, v.Health, v.Role)
		}
		if v.VendorRole != "" && v.Live() {
			line += fmt.Sprintf(" (%s)", v.VendorRole)
		}
		lines = append(lines, line)
	}
	out.Summary = strings.Join(lines, "; ")
	return out
}

// procedureTitle is a procedure's title with its document, or its id when
// the console does not have it.
func (c *console) procedureTitle(id string) string {
	if c.procedures != nil {
		if p, ok := c.procedures.Get(id); ok {
			return fmt.Sprintf("%s (%s)", p.Title, p.Document.File)
		}
	}
	return id
}
