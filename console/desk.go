package console

import (
	"context"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/procedure"
	"github.com/vigilops/vigil/store"
)

// Desk is the console as the procedure wizard runs through it: the
// procedures of a system's profile with their history, the runs a killed
// console left stopped, and engines over the console's fleet, so that a
// run from the window reads the servers and sends its requests as a run
// from the command line does.
type Desk struct {
	Store    *store.Store
	Fleet    *Fleet
	Library  *procedure.Library
	Owner    string // this process, on the runs it runs (RunOwner)
	Operator string // who runs procedures here unless they type another name
}

// ProcedureTitle is the title of the procedure with id, or id.
func (d *Desk) ProcedureTitle(id string) string {
	if p, ok := d.Library.Get(id); ok {
		return p.Title
	}
	return id
}

// OperatorName is who runs procedures from this console.
func (d *Desk) OperatorName() string { return d.Operator }

// Procedures lists the procedures of the system's profile, which its
// servers in the store give, with when each was last run and rehearsed
// there.
func (d *Desk) Procedures(ctx context.Context, system string) ([]procedure.Entry, error) {
	views, err := d.Store.Servers(ctx)
	if err != nil {
		return nil, err
	}
	profile := ""
	for _, v := range views {
		if v.System == system && v.Profile != "" {
			profile = v.Profile
			break
		}
	}
	if profile == "" {
		return nil, nil
	}
	hist, err := d.Store.ProcedureHistory(ctx)
	if err != nil {
		return nil, err
	}
	var out []procedure.Entry
	for _, p := range d.Library.All() {
		if p.Profile != profile {
			continue
		}
		e := procedure.Entry{Procedure: p}
		for _, h := range hist {
			if h.System == system && h.ProcedureID == p.ID {
				e.Last = h
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// StoppedRuns lists the open runs of system ("" for every system) that no
// live process runs. A run this console runs now is not one of them; one
// whose console was killed is, as `vigil procedure resume` would take it
// over.
func (d *Desk) StoppedRuns(ctx context.Context, system string) ([]model.ProcedureRun, error) {
	runs, err := d.Store.OpenProcedureRuns(ctx, system)
	if err != nil {
		return nil, err
	}
	var out []model.ProcedureRun
	for _, r := range runs {
		if r.State == model.RunInterrupted || r.Owner == "" || (r.Owner != d.Owner && !OwnerAlive(r.Owner)) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Engine returns an engine over the console's fleet and store that asks
// prompt and tells observe.
func (d *Desk) Engine(prompt procedure.Prompter, observe func(procedure.Update)) *procedure.Engine {
	return &procedure.Engine{Fleet: d.Fleet, Store: d.Store, Prompt: prompt, Observe: observe, Owner: d.Owner, OwnerAlive: OwnerAlive}
}
