package monitor

import (
	"strings"

	"github.com/vigilops/vigil/model"
)

// nextStep is the vendor procedure that fits a verdict of a profile's
// system. Where one profile has systems of several kinds (Redstor's
// AccountServers and its StorageServer with its mirror), the vendor's
// word for a member's role tells them apart.
type nextStep struct {
	profile    string
	verdict    model.Verdict
	vendorRole string // a member's vendor role contains it; empty for any
	procedure  string // an id in assets/procedures
}

// nextSteps are the documents' own answers to "what now": after an
// automatic failover, the recovery; where failover is the operator's to
// make (Redstor, Nintex), the failover itself once the system has had no
// primary past the grace. A failover still under way, a split brain and a
// console that cannot tell have no procedure: the reasons say what to
// look at.
var nextSteps = []nextStep{
	{"k2san", model.VerdictFailedOver, "", "k2san-recover-from-failover"},
	{"infocast", model.VerdictFailedOver, "", "infocast-verify-takeover"},
	{"wavestore", model.VerdictFailedOver, "", "wavestore-failback-after-repair"},
	{"redstor", model.VerdictNoPrimary, "", "redstor-failover"},
	{"redstor", model.VerdictFailedOver, "AccountServer", "redstor-prepare-failback-accountserver"},
	{"redstor", model.VerdictFailedOver, "StorageServer", "redstor-prepare-failback-storageserver"},
	{"redstor", model.VerdictFailedOver, "MirrorServer", "redstor-prepare-failback-storageserver"},
	{"nintex", model.VerdictNoPrimary, "", "nintex-dr-cutover"},
}

// nextProcedure is the id of the procedure that fits verdict in the
// system, or empty.
func nextProcedure(in judgeInput, verdict model.Verdict) string {
	for _, s := range nextSteps {
		if s.profile != in.profile || s.verdict != verdict {
			continue
		}
		if s.vendorRole == "" {
			return s.procedure
		}
		for _, m := range in.members {
			if strings.Contains(m.view.VendorRole, s.vendorRole) {
				return s.procedure
			}
		}
	}
	return ""
}
