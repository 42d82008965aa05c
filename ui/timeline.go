package ui

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/alert"
	"github.com/vigilops/vigil/model"
)

var _ fyne.Widget = (*Timeline)(nil)

// Timeline pages: how many events a query asks for, and the most the
// timeline keeps (live events push the oldest out; "Load older" brings
// them back from the store).
const (
	timelinePage = 200
	timelineMost = 5000
	exportPage   = 1000
)

// Timeline lists the console's events, newest first: what the store holds,
// older pages on demand, and new events as the monitor stores them. Its
// filters (severity, system, server, kinds, time) select from the store
// and from what arrives live alike; Export writes what they select to a
// CSV file. Like any widget its methods must be called on the UI
// goroutine; queries run on goroutines of their own and hand their answer
// back through do.
type Timeline struct {
	widget.BaseWidget
	env paneEnv
	src EventSource

	events  []model.Event // shown, newest first
	ids     map[uint]bool // of the stored events shown
	filter  model.EventFilter
	more    bool // the store may hold older events the filter selects
	gen     int  // the current selection; an answer to an older one is dropped
	loading bool
	live    []model.Event // arrived while the timeline was loading
	chosen  *model.Event  // the event whose detail is shown
	known   map[string]map[string]bool

	severity    *widget.Select
	system      *widget.Select
	server      *widget.Select
	kindsButton *widget.Button
	kinds       *widget.CheckGroup
	kindsPopUp  *widget.PopUp
	when        *widget.Select
	from, until *widget.Entry
	rangeRow    fyne.CanvasObject
	rangeError  *widget.Label
	list        *widget.List
	count       *widget.Label
	older       *widget.Button
	exportBtn   *widget.Button
	status      *widget.Label
	detail      *widget.Label
	detailRow   fyne.CanvasObject
	prompt      *exportPrompt

	content fyne.CanvasObject
}

// newTimeline builds the timeline; start loads it.
func newTimeline(env paneEnv, src EventSource) *Timeline {
	t := &Timeline{
		env:        env,
		src:        src,
		ids:        map[uint]bool{},
		known:      map[string]map[string]bool{},
		count:      widget.NewLabel(""),
		status:     wrapping(widget.NewLabel("")),
		rangeError: widget.NewLabel(""),
		detail:     wrapping(widget.NewLabel("")),
		from:       widget.NewEntry(),
		until:      widget.NewEntry(),
	}
	t.detail.Selectable = true
	t.rangeError.Importance = widget.DangerImportance

	sevLabels := make([]string, len(severityChoices))
	for i, c := range severityChoices {
		sevLabels[i] = c.label
	}
	t.severity = widget.NewSelect(sevLabels, func(string) { t.reload() })
	t.severity.Selected = sevLabels[0]
	t.system = widget.NewSelect([]string{allSystems}, func(string) { t.systemChosen() })
	t.system.Selected = allSystems
	t.server = widget.NewSelect([]string{allServers}, func(string) { t.reload() })
	t.server.Selected = allServers
	t.kinds = widget.NewCheckGroup(alert.Kinds, func([]string) { t.kindsChosen() })
	t.kindsButton = widget.NewButtonWithIcon(kindsLabel(nil), theme.MenuDropDownIcon(), t.showKinds)
	t.kindsButton.IconPlacement = widget.ButtonIconTrailingText
	rangeLabels := []string{}
	for _, r := range timeRanges {
		rangeLabels = append(rangeLabels, r.label)
	}
	t.when = widget.NewSelect(append(rangeLabels, customRange), func(string) { t.rangeChosen() })
	t.when.Selected = rangeLabels[0]
	t.from.SetPlaceHolder(env.now().Add(-time.Hour).Local().Truncate(time.Hour).Format(localTimeLayout))
	t.until.SetPlaceHolder("now")
	t.from.OnSubmitted = func(string) { t.reload() }
	t.until.OnSubmitted = func(string) { t.reload() }
	apply := widget.NewButtonWithIcon("Show", theme.SearchIcon(), t.reload)
	t.rangeRow = container.NewHBox(widget.NewLabel("From"), sized(t.from, 170), widget.NewLabel("until"), sized(t.until, 170),
		apply, t.rangeError)
	t.rangeRow.Hide()

	cols := timelineColumns()
	t.list = widget.NewList(func() int { return len(t.events) },
		func() fyne.CanvasObject { return newEventRow(cols) },
		func(i widget.ListItemID, o fyne.CanvasObject) {
			if i >= 0 && i < len(t.events) {
				o.(*eventRow).show(t.events[i])
			}
		})
	t.list.OnSelected = func(i widget.ListItemID) {
		if i >= 0 && i < len(t.events) {
			e := t.events[i]
			t.chosen = &e
			t.showDetail()
		}
	}
	t.older = widget.NewButtonWithIcon("Load older events", theme.MoveDownIcon(), t.loadOlder)
	t.exportBtn = widget.NewButtonWithIcon("Export CSV…", theme.DocumentSaveIcon(), t.showExport)
	closeDetail := widget.NewButtonWithIcon("", theme.CancelIcon(), func() {
		t.chosen = nil
		t.list.UnselectAll()
		t.showDetail()
	})
	closeDetail.Importance = widget.LowImportance
	bg := canvas.NewRectangle(theme.Color(theme.ColorNameInputBackground))
	bg.CornerRadius = theme.Size(theme.SizeNameInputRadius)
	t.detailRow = container.NewStack(bg, container.NewBorder(nil, nil, nil, container.NewVBox(closeDetail), t.detail))
	t.detailRow.Hide()
	t.status.Hide()

	filters := container.NewHBox(t.severity, t.system, t.server, t.kindsButton, t.when)
	top := container.NewVBox(filters, t.rangeRow, newColumnsHeader(cols), widget.NewSeparator())
	footer := container.NewVBox(t.detailRow, t.status,
		container.NewHBox(t.count, layout.NewSpacer(), t.older, t.exportBtn))
	t.content = container.NewBorder(top, footer, nil, nil, t.list)
	t.ExtendBaseWidget(t)
	t.syncFooter()
	return t
}

// CreateRenderer is part of fyne.Widget.
func (t *Timeline) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(t.content)
}

// Filter choices that select everything.
const (
	allSystems = "All systems"
	allServers = "All servers"
)

// sized gives an entry a width: in an HBox it would take only its
// minimum, a few characters.
func sized(o fyne.CanvasObject, width float32) fyne.CanvasObject {
	return container.NewGridWrap(fyne.NewSize(width, o.MinSize().Height), o)
}

// Note adds a server to the filters' choices; the view calls it as the
// feed reports servers, so that the choices are there before any event.
func (t *Timeline) Note(system, server string) {
	servers := t.known[system]
	if servers == nil {
		servers = map[string]bool{}
		t.known[system] = servers
		if system != "" {
			t.system.SetOptions(append([]string{allSystems}, t.knownSystems()...))
		}
	}
	if server != "" && !servers[server] {
		servers[server] = true
		t.server.SetOptions(append([]string{allServers}, t.knownServers()...))
	}
}

func (t *Timeline) knownSystems() []string {
	var out []string
	for s := range t.known {
		if s != "" {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, compareSystems)
	return out
}

// knownServers are the chosen system's servers, or every server.
func (t *Timeline) knownServers() []string {
	var out []string
	for system, servers := range t.known {
		if t.systemFilter() != "" && system != t.systemFilter() {
			continue
		}
		for s := range servers {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return out
}

func (t *Timeline) systemFilter() string {
	if t.system.Selected == allSystems {
		return ""
	}
	return t.system.Selected
}

func (t *Timeline) serverFilter() string {
	if t.server.Selected == allServers {
		return ""
	}
	return t.server.Selected
}

func (t *Timeline) systemChosen() {
	servers := t.knownServers()
	t.server.SetOptions(append([]string{allServers}, servers...))
	if t.serverFilter() != "" && !slices.Contains(servers, t.serverFilter()) {
		t.server.Selected = allServers // without calling reload twice
		t.server.Refresh()
	}
	t.reload()
}

func (t *Timeline) kindsChosen() {
	t.kindsButton.SetText(kindsLabel(t.kinds.Selected))
	t.reload()
}

func (t *Timeline) showKinds() {
	if t.kindsPopUp == nil {
		clear := widget.NewButton("All kinds", func() {
			t.kinds.SetSelected(nil) // calls kindsChosen
			t.kindsPopUp.Hide()
		})
		done := widget.NewButton("Done", func() { t.kindsPopUp.Hide() })
		done.Importance = widget.HighImportance
		t.kinds.Horizontal = false
		body := container.NewBorder(nil, container.NewHBox(clear, layout.NewSpacer(), done), nil, nil, t.kinds)
		t.kindsPopUp = widget.NewPopUp(container.NewPadded(body), t.env.win.Canvas())
	}
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(t.kindsButton)
	t.kindsPopUp.ShowAtPosition(pos.Add(fyne.NewPos(0, t.kindsButton.Size().Height)))
}

func (t *Timeline) rangeChosen() {
	setVisible(t.rangeRow, t.when.Selected == customRange)
	if t.when.Selected == customRange && strings.TrimSpace(t.from.Text) == "" && strings.TrimSpace(t.until.Text) == "" {
		// Nothing to select by yet: the operator types the times first.
		t.env.win.Canvas().Focus(t.from)
		return
	}
	t.reload()
}

// currentFilter is what the filter widgets select, or why the times typed
// are not times.
func (t *Timeline) currentFilter() (model.EventFilter, error) {
	f := model.EventFilter{System: t.systemFilter(), Server: t.serverFilter(), Kinds: slices.Clone(t.kinds.Selected)}
	for _, c := range severityChoices {
		if c.label == t.severity.Selected {
			f.MinSeverity = c.min
		}
	}
	for _, r := range timeRanges {
		if r.label == t.when.Selected && r.back > 0 {
			f.Since = t.env.now().Add(-r.back)
		}
	}
	if t.when.Selected == customRange {
		from, err := parseLocalTime(t.from.Text)
		if err != nil {
			return f, fmt.Errorf("from: %w", err)
		}
		until, err := parseLocalTime(t.until.Text)
		if err != nil {
			return f, fmt.Errorf("until: %w", err)
		}
		if !from.IsZero() && !until.IsZero() && !until.After(from) {
			return f, errors.New("until must be after from")
		}
		f.Since, f.Until = from, until
	}
	return f, nil
}

// Reload selects the events again, from the store: the filters changed,
// or the operator asks.
func (t *Timeline) reload() {
	f, err := t.currentFilter()
	t.rangeError.SetText("")
	if err != nil {
		t.rangeError.SetText(err.Error())
		return
	}
	t.gen++
	t.filter = f
	t.loading, t.more, t.live = true, false, nil
	t.query(t.gen, f, timelinePage, false)
	t.syncFooter()
}

// loadOlder asks the store for the page of events before the oldest shown.
func (t *Timeline) loadOlder() {
	if t.loading || !t.more || len(t.events) == 0 {
		return
	}
	oldest := t.events[len(t.events)-1].Time
	f := t.filter
	// The store's Until is exclusive, and several events may share the
	// oldest one's time: ask up to and including it, for as many more as
	// share it, and drop those already shown.
	f.Until = oldest.Add(time.Nanosecond)
	same := 0
	for _, e := range t.events {
		if e.Time.Equal(oldest) {
			same++
		}
	}
	t.loading = true
	t.query(t.gen, f, timelinePage+same, true)
	t.syncFooter()
}

func (t *Timeline) query(gen int, f model.EventFilter, limit int, older bool) {
	f.Limit = limit
	env, src := t.env, t.src
	started := env.requests.goRequest(func() {
		ctx, cancel := context.WithTimeout(env.ctx, 30*time.Second)
		evs, err := src.Events(ctx, f)
		cancel()
		env.do(func() { t.loaded(gen, evs, err, limit, older) })
	})
	if !started {
		t.loading = false
	}
}

// loaded shows the answer to a query, unless the filters changed since.
func (t *Timeline) loaded(gen int, evs []model.Event, err error, limit int, older bool) {
	if gen != t.gen {
		return
	}
	t.loading = false
	if err != nil {
		t.showStatus("Events could not be read: "+err.Error(), widget.DangerImportance)
		t.syncFooter()
		return
	}
	t.hideStatus()
	if !older {
		t.events, t.ids = nil, map[uint]bool{}
		t.list.UnselectAll()
		t.chosen = nil
		t.showDetail()
	}
	t.more = len(evs) >= limit
	for _, e := range evs {
		t.Note(e.System, e.Server)
		t.keep(e)
	}
	for _, e := range t.live {
		t.keep(e)
	}
	t.live = nil
	slices.SortStableFunc(t.events, compareEvents)
	t.trim()
	t.list.Refresh()
	if !older {
		t.list.ScrollToTop()
	}
	t.syncFooter()
}

// keep adds e to the events shown unless it is shown already.
func (t *Timeline) keep(e model.Event) bool {
	if e.ID != 0 {
		if t.ids[e.ID] {
			return false
		}
		t.ids[e.ID] = true
	}
	t.events = append(t.events, e)
	return true
}

// trim drops the oldest events beyond what the timeline keeps; they stay in
// the store, a "Load older" away.
func (t *Timeline) trim() {
	if len(t.events) <= timelineMost {
		return
	}
	for _, e := range t.events[timelineMost:] {
		delete(t.ids, e.ID)
	}
	t.events = t.events[:timelineMost]
	t.more = true
}

// Add shows events as they happen, at the top, if the filters select
// them; it reports how many it showed.
func (t *Timeline) Add(batch []model.Event) int {
	shown := 0
	for _, e := range batch {
		t.Note(e.System, e.Server)
		if !matches(t.filter, e) {
			continue
		}
		if t.loading {
			t.live = append(t.live, e)
			continue
		}
		if t.keep(e) {
			shown++
		}
	}
	if shown == 0 {
		return 0
	}
	slices.SortStableFunc(t.events, compareEvents)
	t.trim()
	// The list highlights by position, which the new events have moved;
	// the detail of the chosen event stays.
	t.list.UnselectAll()
	t.list.Refresh()
	t.syncFooter()
	return shown
}

func (t *Timeline) syncFooter() {
	switch {
	case t.loading && len(t.events) == 0:
		t.count.SetText("Loading events…")
	case len(t.events) == 0 && t.filtered():
		t.count.SetText("No events match these filters.")
	case len(t.events) == 0:
		t.count.SetText("No events yet: they appear here as they happen.")
	case t.more:
		t.count.SetText(fmt.Sprintf("Newest %s shown; older ones are in the store.", plural(len(t.events), "event", "events")))
	default:
		t.count.SetText(plural(len(t.events), "event", "events") + ", all there are.")
	}
	setVisible(t.older, t.more)
	setEnabled(t.older, !t.loading)
}

// filtered says whether a filter narrows the events.
func (t *Timeline) filtered() bool {
	f := t.filter
	return f.System != "" || f.Server != "" || len(f.Kinds) > 0 || f.MinSeverity != "" || !f.Since.IsZero() || !f.Until.IsZero()
}

func (t *Timeline) showDetail() {
	if t.chosen == nil {
		t.detailRow.Hide()
		return
	}
	e := *t.chosen
	head := fmt.Sprintf("%s · %s · %s · %s", eventTime(e.Time), lookOfSeverity(e.Severity).word, eventWhere(e), e.Kind)
	if c := eventChange(e); c != "" {
		head += " · " + c
	}
	t.detail.SetText(head + "\n" + dash(e.Detail))
	t.detailRow.Show()
}

func (t *Timeline) showStatus(text string, imp widget.Importance) {
	t.status.Importance = imp
	t.status.SetText(text)
	t.status.Show()
}

func (t *Timeline) hideStatus() { t.status.Hide() }

// eventRow is one event's line in the timeline.
type eventRow struct {
	widget.BaseWidget
	tint                                   *canvas.Rectangle
	when, sev, where, kind, change, detail *widget.Label
	icon                                   *widget.Icon
	content                                fyne.CanvasObject
}

func newEventRow(cols []float32) *eventRow {
	r := &eventRow{
		tint:   canvas.NewRectangle(color.Transparent),
		when:   widget.NewLabel(""),
		sev:    widget.NewLabel(""),
		where:  widget.NewLabel(""),
		kind:   widget.NewLabel(""),
		change: widget.NewLabel(""),
		detail: widget.NewLabel(""),
		icon:   widget.NewIcon(nil),
	}
	for _, l := range []*widget.Label{r.where, r.kind, r.change, r.detail} {
		l.Truncation = fyne.TextTruncateEllipsis
	}
	r.when.TextStyle.Monospace = true
	r.content = container.NewStack(r.tint, container.New(columnsLayout{cols},
		r.when, container.NewBorder(nil, nil, r.icon, nil, r.sev), r.where, r.kind, r.change, r.detail))
	r.ExtendBaseWidget(r)
	return r
}

func (r *eventRow) show(e model.Event) {
	look := lookOfSeverity(e.Severity)
	r.when.SetText(eventTime(e.Time))
	r.icon.SetResource(look.icon)
	r.sev.Importance = look.importance
	r.sev.TextStyle.Bold = look.bold
	r.sev.SetText(look.word)
	r.where.SetText(eventWhere(e))
	r.kind.SetText(e.Kind)
	r.change.SetText(eventChange(e))
	r.detail.SetText(e.Detail)
	r.tint.FillColor = color.Transparent
	if look.tint {
		r.tint.FillColor = color.NRGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0x30}
	}
	r.tint.Refresh()
}

// texts are the row's words, in column order.
func (r *eventRow) texts() []string {
	return []string{r.when.Text, r.sev.Text, r.where.Text, r.kind.Text, r.change.Text, r.detail.Text}
}

// CreateRenderer is part of fyne.Widget.
func (r *eventRow) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(r.content)
}

// timelineColumns are the widths of every column but the last (the
// detail, which takes the rest), measured from what they hold.
func timelineColumns() []float32 {
	th := theme.Current()
	size := th.Size(theme.SizeNameText)
	pad := 2 * th.Size(theme.SizeNameInnerPadding)
	measure := func(s string, style fyne.TextStyle) float32 {
		return float32(math.Ceil(float64(fyne.MeasureText(s, size, style).Width))) + pad + 1
	}
	icon := th.Size(theme.SizeNameInlineIcon) + th.Size(theme.SizeNamePadding)
	return []float32{
		measure("0000-00-00 00:00:00", fyne.TextStyle{Monospace: true}),
		icon + measure("CRITICAL", fyne.TextStyle{Bold: true}),
		measure("redstor-storage / AccountServer", fyne.TextStyle{}),
		measure("identity-changed", fyne.TextStyle{}),
		measure("unreachable "+arrow+" down", fyne.TextStyle{}),
	}
}

func newColumnsHeader(cols []float32) fyne.CanvasObject {
	var labels []fyne.CanvasObject
	for _, s := range []string{"Time", "Severity", "System / server", "Kind", "From " + arrow + " to", "Detail"} {
		labels = append(labels, widget.NewLabelWithStyle(s, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
	}
	return container.New(columnsLayout{cols}, labels...)
}

// columnsLayout sets its objects side by side at fixed widths, the last
// taking what is left, so that a header and the rows under it line up.
type columnsLayout struct{ widths []float32 }

func (c columnsLayout) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	var x float32
	for i, o := range objects {
		w := max(size.Width-x, 0)
		if i < len(c.widths) {
			w = min(c.widths[i], w)
		}
		h := o.MinSize().Height
		o.Move(fyne.NewPos(x, (size.Height-h)/2))
		o.Resize(fyne.NewSize(w, h))
		x += w
	}
}

func (c columnsLayout) MinSize(objects []fyne.CanvasObject) fyne.Size {
	var s fyne.Size
	for i, o := range objects {
		m := o.MinSize()
		s.Height = max(s.Height, m.Height)
		if i < len(c.widths) {
			s.Width += c.widths[i]
		} else {
			s.Width += 80
		}
	}
	return s
}

// exportPrompt asks where to write the CSV file.
type exportPrompt struct {
	path    *widget.Entry
	note    *widget.Label
	export  *widget.Button
	choose  *widget.Button
	cancel  *widget.Button
	popup   *widget.PopUp
	replace string // the existing file the operator was warned about
}

// showExport asks where to write the events the filters select.
func (t *Timeline) showExport() {
	p := &exportPrompt{path: widget.NewEntry(), note: wrapping(widget.NewLabel(""))}
	p.path.SetText(defaultExportPath(t.env.now()))
	p.path.OnChanged = func(string) {
		p.replace = ""
		p.export.SetText("Export")
		p.note.Importance = widget.MediumImportance
		p.note.SetText(exportNote(t.filtered()))
	}
	p.note.SetText(exportNote(t.filtered()))
	p.cancel = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), func() { p.popup.Hide(); t.prompt = nil })
	p.export = widget.NewButtonWithIcon("Export", theme.DocumentSaveIcon(), func() { t.confirmExport(p) })
	p.export.Importance = widget.HighImportance
	p.choose = widget.NewButtonWithIcon("Choose…", theme.FolderOpenIcon(), func() { t.chooseExport(p) })
	p.path.OnSubmitted = func(string) { t.confirmExport(p) }
	head := widget.NewLabelWithStyle("Export events to a CSV file", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	head.SizeName = theme.SizeNameSubHeadingText
	body := container.NewVBox(head, p.note, container.NewBorder(nil, nil, widget.NewLabel("File"), p.choose, p.path),
		container.NewHBox(layout.NewSpacer(), p.cancel, p.export))
	p.popup = widget.NewModalPopUp(container.NewPadded(container.NewGridWrap(fyne.NewSize(620, body.MinSize().Height+40), body)), t.env.win.Canvas())
	t.prompt = p
	p.popup.Show()
	t.env.win.Canvas().Focus(p.path)
}

func exportNote(filtered bool) string {
	what := "Every stored event"
	if filtered {
		what = "Every stored event the filters select"
	}
	return what + " is written, newest first, as time,system,server,kind,severity,from,to,detail (times in UTC)."
}

// defaultExportPath is a new file in the operator's home directory, named
// for when it was written.
func defaultExportPath(now time.Time) string {
	dir, err := os.UserHomeDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "vigil-events-"+now.Local().Format("20060102-150405")+".csv")
}

// chooseExport picks the file in a file save dialog, which asks before
// replacing one, and exports to it at once.
func (t *Timeline) chooseExport(p *exportPrompt) {
	current := strings.TrimSpace(p.path.Text)
	if current == "" {
		current = defaultExportPath(t.env.now())
	}
	chooseSaveFile(t.env.win, current, func(path string, out fyne.URIWriteCloser) {
		// exportEvents writes the file whole beside it and renames it
		// into place, so the dialog's writer is not needed.
		out.Close()
		p.path.SetText(path)
		if t.prompt == p {
			p.popup.Hide()
			t.prompt = nil
		}
		t.export(path)
	})
}

// confirmExport writes the file, after a warning if it would replace one.
func (t *Timeline) confirmExport(p *exportPrompt) {
	path := strings.TrimSpace(p.path.Text)
	if path == "" {
		p.note.Importance = widget.DangerImportance
		p.note.SetText("Give the file to write.")
		return
	}
	if _, err := os.Stat(path); err == nil && p.replace != path {
		p.replace = path
		p.note.Importance = widget.WarningImportance
		p.note.SetText(path + " exists. Press Replace to overwrite it, or change the name.")
		p.export.SetText("Replace")
		return
	}
	p.popup.Hide()
	t.prompt = nil
	t.export(path)
}

// export writes every stored event the filters select to path, on a
// goroutine of its own.
func (t *Timeline) export(path string) {
	f, src, env := t.filter, t.src, t.env
	t.showStatus("Exporting events to "+path+"…", widget.MediumImportance)
	setEnabled(t.exportBtn, false)
	started := env.requests.goRequest(func() {
		n, err := exportEvents(env.ctx, src, f, path)
		env.do(func() {
			setEnabled(t.exportBtn, true)
			if err != nil {
				t.showStatus("Export failed: "+err.Error(), widget.DangerImportance)
				return
			}
			t.showStatus(fmt.Sprintf("Exported %s to %s.", plural(n, "event", "events"), path), widget.SuccessImportance)
		})
	})
	if !started {
		setEnabled(t.exportBtn, true)
	}
}

// exportEvents reads every event f selects from src, page by page, and
// writes them to path as CSV. The file appears whole or not at all.
func exportEvents(ctx context.Context, src EventSource, f model.EventFilter, path string) (int, error) {
	var all []model.Event
	seen := map[uint]bool{}
	for {
		q := f
		q.Limit = exportPage
		same := 0
		if n := len(all); n > 0 {
			oldest := all[n-1].Time
			q.Until = oldest.Add(time.Nanosecond)
			for _, e := range all {
				if e.Time.Equal(oldest) {
					same++
				}
			}
			q.Limit += same
		}
		evs, err := src.Events(ctx, q)
		if err != nil {
			return 0, err
		}
		for _, e := range evs {
			if !seen[e.ID] {
				seen[e.ID] = true
				all = append(all, e)
			}
		}
		if len(evs) < q.Limit {
			break
		}
	}
	slices.SortStableFunc(all, compareEvents)

	tmp, err := os.CreateTemp(filepath.Dir(path), ".vigil-export-*.csv")
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := writeEventsCSV(tmp, all); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	return len(all), nil
}
