package ui

import (
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/procedure"
)

var _ fyne.Widget = (*ProcedureTab)(nil)

// ProcedureTab is the main window's list of procedures: per system, each
// procedure that fits it with how long ago it was last run and last
// rehearsed, and the runs that stopped without ending. Opening one opens
// its wizard in a window of its own. Its methods must be called on the UI
// goroutine.
type ProcedureTab struct {
	widget.BaseWidget
	env     paneEnv
	procs   *Procedures
	systems []string
	gen     int                       // counts loads, so that an older answer is dropped
	opens   map[string]*widget.Button // "system/procedure id" -> its Open button

	status  *widget.Label
	box     *fyne.Container
	content fyne.CanvasObject
}

func newProcedureTab(env paneEnv, procs *Procedures) *ProcedureTab {
	t := &ProcedureTab{env: env, procs: procs, status: wrapping(widget.NewLabel("")), box: container.NewVBox()}
	head := widget.NewLabelWithStyle("Procedures", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	head.SizeName = theme.SizeNameSubHeadingText
	intro := wrapping(widget.NewLabel("The vendor's procedures for each system, with how long ago each was last run and last " +
		"rehearsed. Open one to read its warnings, run its preflight, rehearse it (every change as a dry run) or run it."))
	t.content = container.NewBorder(container.NewVBox(head, intro, widget.NewSeparator()), nil, nil, nil,
		container.NewVScroll(container.NewVBox(t.status, t.box)))
	t.ExtendBaseWidget(t)
	procs.OnRunEnded(t.reload)
	return t
}

// CreateRenderer is part of fyne.Widget.
func (t *ProcedureTab) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(t.content)
}

// Note adds a system to the list; the view calls it as the feed reports
// servers.
func (t *ProcedureTab) Note(system string) bool {
	if system == "" || slices.Contains(t.systems, system) {
		return false
	}
	t.systems = append(t.systems, system)
	slices.SortFunc(t.systems, compareSystems)
	return true
}

// procedureSection is one system's share of the list.
type procedureSection struct {
	system  string
	entries []procedure.Entry
	stopped []model.ProcedureRun
	err     error
}

// reload reads every system's procedures and history again.
func (t *ProcedureTab) reload() {
	t.gen++
	gen, env, desk, systems := t.gen, t.env, t.procs.desk, slices.Clone(t.systems)
	if len(systems) == 0 {
		t.status.SetText("No system is known yet: systems appear here as their servers are found.")
		t.status.Show()
		return
	}
	t.status.SetText("Reading the procedures…")
	t.status.Show()
	env.requests.goRequest(func() {
		var sections []procedureSection
		for _, system := range systems {
			s := procedureSection{system: system}
			s.entries, s.err = desk.Procedures(env.ctx, system)
			if s.err == nil {
				s.stopped, s.err = desk.StoppedRuns(env.ctx, system)
			}
			if env.ctx.Err() != nil {
				return
			}
			sections = append(sections, s)
		}
		env.do(func() { t.show(gen, sections) })
	})
}

func (t *ProcedureTab) show(gen int, sections []procedureSection) {
	if gen != t.gen {
		return
	}
	t.status.Hide()
	t.box.RemoveAll()
	t.opens = map[string]*widget.Button{}
	now := t.env.now()
	for _, s := range sections {
		system := s.system
		title := widget.NewLabelWithStyle(systemTitle(system), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		title.SizeName = theme.SizeNameSubHeadingText
		rows := container.NewVBox(title)
		switch {
		case s.err != nil:
			l := wrapping(widget.NewLabel("The procedures could not be read: " + s.err.Error()))
			l.Importance = widget.DangerImportance
			rows.Add(l)
		case len(s.entries) == 0:
			rows.Add(wrapping(widget.NewLabel("No procedure fits this system's profile.")))
		}
		for _, r := range s.stopped {
			run := r
			open := widget.NewButtonWithIcon("Open run", theme.MediaPlayIcon(), func() { t.procs.Resume(run) })
			open.Importance = widget.HighImportance
			line := wrapping(widget.NewLabelWithStyle(stoppedRunLine(run), fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
			line.Importance = widget.WarningImportance
			rows.Add(tinted(warningTint, container.NewBorder(nil, nil, nil, container.NewCenter(open), line)))
		}
		for i, e := range s.entries {
			if i > 0 || len(s.stopped) > 0 {
				rows.Add(widget.NewSeparator())
			}
			id := e.Procedure.ID
			open := widget.NewButtonWithIcon("Open…", theme.NavigateNextIcon(), func() { t.procs.OpenProcedure(system, id) })
			t.opens[system+"/"+id] = open
			name := widget.NewLabelWithStyle(e.Procedure.Title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
			name.Wrapping = fyne.TextWrapWord
			last := wrapping(widget.NewLabel(string(e.Procedure.Kind) + " · " + lastTimes(e.Last, now)))
			if e.Last.LastRun.IsZero() && e.Last.LastRehearsal.IsZero() {
				last.Importance = widget.WarningImportance
			}
			rows.Add(container.NewBorder(nil, nil, nil, container.NewCenter(open), container.NewVBox(name, last)))
		}
		t.box.Add(card(rows))
	}
	t.box.Refresh()
}
