package console

import (
	"fmt"
	"strings"

	"github.com/vigilops/vigil/alert"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/procedure"
)

// Now is what the console knows at the moment an alert is written: the
// judge's verdicts and every server's view. The monitor is one.
type Now interface {
	Verdicts() []model.SystemVerdict
	Snapshot() []model.ServerView
}

// AlertContext is what an alert about e says beside the event: the
// judge's verdict on its system and each paired server's role and health
// now, and the procedure the verdict calls for, by its title in lib and
// the command that runs it. It draws the same verdict as the board and
// `vigil status`.
func AlertContext(e model.Event, now Now, lib *procedure.Library) alert.Context {
	if e.System == "" {
		return alert.Context{}
	}
	var out alert.Context
	var lines []string
	for _, v := range now.Verdicts() {
		if v.System != e.System {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s is %s: %s", v.System, v.Verdict.Label(), v.Summary))
		if v.Next != "" {
			out.Procedure = ProcedureTitle(lib, v.Next) + fmt.Sprintf(" (vigil procedure run %s --system %s)", v.Next, v.System)
		}
	}
	for _, v := range now.Snapshot() {
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

// ProcedureTitle is a procedure's title with its document, or its id when
// lib (which may be nil) does not have it.
func ProcedureTitle(lib *procedure.Library, id string) string {
	if lib != nil {
		if p, ok := lib.Get(id); ok {
			return fmt.Sprintf("%s (%s)", p.Title, p.Document.File)
		}
	}
	return id
}
