package ui

import (
	"image/color"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/model"
)

var _ fyne.Widget = (*Board)(nil)

// Board is the fleet status board: a header that sums up the fleet, then
// one card per system with one row per server. Like any widget, its methods
// must be called on the UI goroutine.
type Board struct {
	widget.BaseWidget

	// OnSelect, when set, is called with a server's id when its row is
	// tapped.
	OnSelect func(id string)

	// ProcedureTitle, when set, names a procedure by its id, for a card's
	// next step; OnNext, when set, is called when the operator takes it.
	ProcedureTitle func(id string) string
	OnNext         func(system, procedure string)

	now  func() time.Time
	rows map[string]*serverRow // by server id
	// groups are the cards by key: a system's name, "" for the paired
	// servers of no system, notPaired for the servers not paired.
	groups   map[string]*systemGroup
	verdicts map[string]model.SystemVerdict // the judge's, by system
	selected string                         // the highlighted row's server, or ""
	compact  bool                           // a pane beside the board shows the details

	summary   *widget.Label
	alarms    *widget.Label
	alarmIcon *widget.Icon
	alarmLine fyne.CanvasObject // the alarm line, hidden while there is nothing to say
	cards     *fyne.Container
	packed    *container.ThemeOverride // the cards, packed tighter
	content   fyne.CanvasObject
}

// NewBoard returns a board showing servers and the judge's verdicts on
// their systems; now is its clock for the "last seen" times and for how
// long a failover has been under way.
func NewBoard(servers []model.ServerView, verdicts []model.SystemVerdict, now func() time.Time) *Board {
	b := &Board{
		now:      now,
		rows:     map[string]*serverRow{},
		groups:   map[string]*systemGroup{},
		verdicts: map[string]model.SystemVerdict{},
		summary:  widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		alarms:   widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		cards:    container.NewVBox(),
	}
	b.summary.SizeName = theme.SizeNameSubHeadingText
	b.alarms.Importance = widget.DangerImportance
	b.alarms.Wrapping = fyne.TextWrapWord
	b.alarmIcon = widget.NewIcon(theme.NewErrorThemedResource(theme.ErrorIcon()))
	b.alarmLine = container.NewBorder(nil, nil, b.alarmIcon, nil, b.alarms)

	// The header stays put while the cards scroll, so an alarm is never
	// scrolled out of sight. The fleet's size and what is wrong share a
	// line: the cards keep the height.
	header := container.NewVBox(container.NewBorder(nil, nil, b.summary, nil, b.alarmLine), widget.NewSeparator())
	// The cards are packed tighter than the rest of the window, so that
	// a whole fleet (the demo's 13 servers in six systems) fits on one
	// screen without scrolling.
	b.packed = container.NewThemeOverride(b.cards, compactTheme{})
	b.content = container.NewBorder(header, nil, nil, nil, container.NewVScroll(b.packed))
	b.ExtendBaseWidget(b)
	for _, v := range verdicts {
		b.verdicts[v.System] = v
	}
	b.ApplyBatch(servers)
	b.showSummary()
	return b
}

// CreateRenderer is part of fyne.Widget.
func (b *Board) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(b.content)
}

// Apply shows the latest state of one server: its row is updated in place,
// or added in sorted position, with a card for a system not seen before.
func (b *Board) Apply(v model.ServerView) {
	b.ApplyBatch([]model.ServerView{v})
}

// ApplyBatch is Apply for many servers at once, in order, doing once what
// each would otherwise do again: a system's card is sorted and summed up
// once for all its servers in the batch, the cards once if systems came or
// went, the fleet's header once. A widget whose text stays the same is
// left alone, and rows are sorted again only when one joins or leaves a
// card or changes its name.
func (b *Board) ApplyBatch(views []model.ServerView) {
	if len(views) == 0 {
		return
	}
	now := b.now()
	touched := map[*systemGroup]bool{} // the cards to sum up again; true: and to sort
	cards, rows := false, len(b.rows)
	for _, v := range views {
		cards = b.place(v, now, touched) || cards
	}
	if cards {
		b.sortCards()
	}
	for g, resort := range touched {
		if b.groups[g.key] == g { // not a card that emptied and went
			g.sync(resort)
		}
	}
	if cards || len(b.rows) > rows {
		// New widgets take the packed theme only when it is applied again;
		// laid out in the window's own, they would sit out of line.
		b.packed.Refresh()
	}
	b.showSummary()
}

// ApplyVerdicts shows the judge's latest verdicts on the systems' cards
// and in the header; a verdict with only a system's name takes that
// system's verdict away.
func (b *Board) ApplyVerdicts(verdicts []model.SystemVerdict) {
	now := b.now()
	for _, v := range verdicts {
		if v.Verdict == "" {
			delete(b.verdicts, v.System)
		} else {
			b.verdicts[v.System] = v
		}
		if g := b.groups[v.System]; g != nil {
			b.showVerdict(g, now)
		}
	}
	b.showSummary()
}

// Verdict returns the verdict a system's card shows.
func (b *Board) Verdict(system string) (model.SystemVerdict, bool) {
	v, ok := b.verdicts[system]
	return v, ok
}

// RefreshTimes brings every "last seen" time up to date with the clock,
// and the time a failover has been under way on its card; call it about
// once a second.
func (b *Board) RefreshTimes() {
	now := b.now()
	for _, row := range b.rows {
		row.showTimes(now)
	}
	for system, v := range b.verdicts {
		if g := b.groups[system]; g != nil && v.Verdict == model.VerdictFailingOver {
			b.showVerdict(g, now)
		}
	}
}

// showVerdict draws a card's verdict, and its next step with the
// procedure's title.
func (b *Board) showVerdict(g *systemGroup, now time.Time) {
	v, ok := b.verdicts[g.key]
	if !ok || g.key == notPaired {
		g.showVerdict(nil, "", now)
		return
	}
	title := v.Next
	if v.Next != "" && b.ProcedureTitle != nil {
		title = b.ProcedureTitle(v.Next)
	}
	g.showVerdict(&v, title, now)
}

// View returns the latest state of a server on the board.
func (b *Board) View(id string) (model.ServerView, bool) {
	row, ok := b.rows[id]
	if !ok {
		return model.ServerView{}, false
	}
	return row.view, true
}

// Select highlights the row of the server with id; "" highlights none.
func (b *Board) Select(id string) {
	if old := b.rows[b.selected]; old != nil {
		old.setSelected(false)
	}
	b.selected = id
	if row := b.rows[id]; row != nil {
		row.setSelected(true)
	}
}

// SetCompact narrows the rows for a board that shares the window with a
// server pane: the address and the times, which the pane shows for the
// selected server, make way for the name, the role and the health.
func (b *Board) SetCompact(compact bool) {
	if b.compact == compact {
		return
	}
	b.compact = compact
	for _, row := range b.rows {
		row.setCompact(compact)
	}
}

// place shows v on its row, making the row and its card if they are new,
// and moving the row if its server moved to another system. It notes in
// touched the cards it changed, with true for those whose rows must be
// sorted again, and reports whether a card came or went.
func (b *Board) place(v model.ServerView, now time.Time, touched map[*systemGroup]bool) (cards bool) {
	row, known := b.rows[v.ID]
	if v.Expired {
		// A server known only from mDNS that left the LAN: off the board.
		if known {
			g := b.groups[groupKey(row.view)]
			g.remove(row)
			touched[g] = true
			delete(b.rows, v.ID)
			if len(g.rows) == 0 {
				delete(b.groups, g.key)
				return true
			}
		}
		return false
	}
	joins := !known
	key := groupKey(v)
	if !known {
		row = newServerRow(func() { b.tapped(v.ID) })
		row.setCompact(b.compact)
		row.setSelected(v.ID == b.selected)
		b.rows[v.ID] = row
	} else if old := groupKey(row.view); old != key {
		// Out of its card first, so that it is never shown twice; a card
		// left empty goes.
		g := b.groups[old]
		g.remove(row)
		touched[g] = true
		if len(g.rows) == 0 {
			delete(b.groups, old)
			cards = true
		}
		joins = true
	}
	// A row moves within its card when its name or its role changes:
	// primaries come first.
	moved := known && (displayName(row.view) != displayName(v) || roleRank(row.view) != roleRank(v))
	row.show(v, now)

	g := b.groups[key]
	if g == nil {
		g = newSystemGroup(key)
		g.onNext = func(id string) {
			if b.OnNext != nil {
				b.OnNext(key, id)
			}
		}
		b.groups[key] = g
		b.showVerdict(g, now)
		cards = true
	}
	if joins {
		g.rows = append(g.rows, row)
	}
	touched[g] = touched[g] || joins || moved
	return cards
}

// notPaired is the key of the card of servers the console does not watch:
// they never count in a system's verdict, so they are listed apart.
const notPaired = "\x00not paired"

// groupKey is the card a server's row belongs on.
func groupKey(v model.ServerView) string {
	if !v.Paired {
		return notPaired
	}
	return v.System
}

func (b *Board) tapped(id string) {
	b.Select(id)
	if b.OnSelect != nil {
		b.OnSelect(id)
	}
}

// sortCards puts the cards in order; only a card that came or went calls
// for it, since refreshing the list refreshes every card in it.
func (b *Board) sortCards() {
	objects := make([]fyne.CanvasObject, 0, len(b.groups))
	for _, system := range slices.SortedFunc(maps.Keys(b.groups), compareSystems) {
		objects = append(objects, b.groups[system].card)
	}
	if slices.Equal(objects, b.cards.Objects) {
		return
	}
	b.cards.Objects = objects
	b.cards.Refresh()
}

func (b *Board) showSummary() {
	views := make([]model.ServerView, 0, len(b.rows))
	for _, row := range b.rows {
		views = append(views, row.view)
	}
	summary, alarms, level := fleetSummary(views, b.verdicts)
	setText(b.summary, summary)
	var icon fyne.Resource = theme.NewWarningThemedResource(theme.WarningIcon())
	importance := widget.WarningImportance
	if level == LevelCritical {
		importance, icon = widget.DangerImportance, theme.NewErrorThemedResource(theme.ErrorIcon())
	}
	if b.alarms.Importance != importance {
		b.alarms.Importance = importance
		b.alarms.Refresh()
		b.alarmIcon.SetResource(icon)
	}
	setText(b.alarms, strings.Join(alarms, " · "))
	setVisible(b.alarmLine, len(alarms) > 0)
}

// setText changes a label's text, and redraws it, only when the text
// changes.
func setText(l *widget.Label, text string) {
	if l.Text != text {
		l.SetText(text)
	}
}

// systemGroup is one system's section and the rows in it, kept sorted by
// name. The section is a slim title line over the rows rather than a
// widget.Card, whose large title would let only half a fleet fit on screen.
type systemGroup struct {
	key       string // the system's name, "" or notPaired
	rows      []*serverRow
	box       *fyne.Container
	title     *widget.Label
	subtitle  *widget.Label
	alarm     *widget.Label     // the verdict, in words
	alarmIcon *widget.Icon      // and as an icon, so it reads without colour
	reasons   *widget.Label     // the reasons the headline does not say
	next      *widget.Button    // the procedure the verdict calls for
	nextID    string            // its id
	nextTitle string            // its title
	ready     *Readiness        // what its preflight found, once it ran
	nextWhy   *widget.Label     // why it cannot start yet
	alarmLine fyne.CanvasObject // hidden while the system is healthy
	tint      *canvas.Rectangle // the card's alarm colour, faint
	card      fyne.CanvasObject
	onNext    func(id string)
}

func newSystemGroup(key string) *systemGroup {
	g := &systemGroup{
		key:       key,
		box:       container.NewVBox(),
		title:     widget.NewLabelWithStyle(systemTitle(key), fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		subtitle:  widget.NewLabel(""),
		alarm:     widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		alarmIcon: widget.NewIcon(nil),
		reasons:   widget.NewLabel(""),
		nextWhy:   widget.NewLabel(""),
		tint:      canvas.NewRectangle(color.Transparent),
	}
	g.next = widget.NewButtonWithIcon("", theme.NavigateNextIcon(), func() {
		if g.onNext != nil && g.nextID != "" {
			g.onNext(g.nextID)
		}
	})
	g.next.Importance = widget.HighImportance
	g.next.Hide()
	g.subtitle.Truncation = fyne.TextTruncateEllipsis
	g.subtitle.SizeName = theme.SizeNameCaptionText
	g.alarm.Wrapping = fyne.TextWrapWord
	g.reasons.Wrapping = fyne.TextWrapWord
	g.reasons.SizeName = theme.SizeNameCaptionText
	g.reasons.Hide()
	g.nextWhy.Wrapping = fyne.TextWrapWord
	g.nextWhy.SizeName = theme.SizeNameCaptionText
	g.nextWhy.Importance = widget.WarningImportance
	g.nextWhy.Hide()
	bg := canvas.NewRectangle(theme.Color(theme.ColorNameHeaderBackground))
	bg.CornerRadius = theme.Size(theme.SizeNameInputRadius)
	g.tint.CornerRadius = bg.CornerRadius
	// The verdict has lines of its own under the title: beside it, a long
	// one would push the card wider than half the window.
	head := container.NewBorder(nil, nil, g.title, nil, g.subtitle)
	// The next step sits at the end of the verdict's line: a line of its
	// own would cost a fleet's card a row.
	g.alarmLine = container.NewVBox(container.NewBorder(nil, nil, g.alarmIcon, container.NewVBox(g.next), g.alarm), g.reasons, g.nextWhy)
	g.alarmLine.Hide()
	if key == notPaired {
		g.subtitle.SetText("pair to watch: they count in no system's verdict")
		g.subtitle.Importance = widget.LowImportance
	}
	g.card = container.NewStack(bg, g.tint, container.NewPadded(container.NewVBox(head, g.alarmLine, g.box)))
	return g
}

// showVerdict draws the system's verdict: hidden while it is healthy, else
// its headline in the verdict's colour, its other reasons, and its next
// step, titled nextTitle.
func (g *systemGroup) showVerdict(v *model.SystemVerdict, nextTitle string, now time.Time) {
	if v == nil || v.Verdict == model.VerdictHealthy && len(v.Reasons) == 0 {
		g.tint.FillColor = color.Transparent
		g.tint.Refresh()
		setVisible(g.alarmLine, false)
		return
	}
	level := levelOf(v.Severity)
	g.tint.FillColor = color.Transparent
	switch level {
	case LevelCritical:
		g.alarm.Importance = widget.DangerImportance
		g.alarmIcon.SetResource(theme.NewErrorThemedResource(theme.ErrorIcon()))
		g.tint.FillColor = color.NRGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0x30}
	case LevelWarning:
		g.alarm.Importance = widget.WarningImportance
		g.alarmIcon.SetResource(theme.NewWarningThemedResource(theme.WarningIcon()))
		g.tint.FillColor = color.NRGBA{R: 0xef, G: 0x6c, B: 0x00, A: 0x24}
	default:
		g.alarm.Importance = widget.MediumImportance
		g.alarmIcon.SetResource(theme.NewSuccessThemedResource(theme.InfoIcon()))
	}
	g.tint.Refresh()
	headline := verdictHeadline(*v, now)
	if v.Verdict == model.VerdictHealthy {
		headline = verdictReasons(*v)
	}
	g.alarm.Text = headline
	g.alarm.Refresh()
	reasons := verdictReasons(*v)
	if v.Verdict == model.VerdictHealthy {
		reasons = ""
	}
	setText(g.reasons, reasons)
	setVisible(g.reasons, reasons != "")
	if g.nextID != v.Next {
		g.ready = nil // another procedure: its preflight has not run
	}
	g.nextID, g.nextTitle = v.Next, nextTitle
	g.showNext()
	setVisible(g.next, v.Next != "")
	setVisible(g.alarmLine, true)
}

// showNext draws the next step with what its preflight found: ready, or
// blocked and why, or nothing yet.
func (g *systemGroup) showNext() {
	text, why := "Next: "+g.nextTitle+"…", ""
	switch {
	case g.nextID == "":
	case g.ready == nil:
	case g.ready.Ready:
		text = "Next: " + g.nextTitle + " (ready)…"
	default:
		text = "Next: " + g.nextTitle + " (blocked)…"
		why = "Before the next step: " + g.ready.Blocked
	}
	if g.next.Text != text {
		g.next.SetText(text)
	}
	setText(g.nextWhy, why)
	setVisible(g.nextWhy, why != "")
}

// ShowReadiness shows what the preflight of procedure id found on system,
// if that is still the system's next step.
func (b *Board) ShowReadiness(system, id string, r Readiness) {
	g := b.groups[system]
	if g == nil || g.nextID != id {
		return
	}
	g.ready = &r
	g.showNext()
}

// NextSteps lists each system's next step, by system.
func (b *Board) NextSteps() map[string]string {
	out := map[string]string{}
	for system, v := range b.verdicts {
		if v.Next != "" {
			out[system] = v.Next
		}
	}
	return out
}

func (g *systemGroup) remove(row *serverRow) {
	g.rows = slices.DeleteFunc(g.rows, func(r *serverRow) bool { return r == row })
}

// sync brings the card up to date with its rows' views: their order when
// resort is set (a row came or went, or a server's name or role changed:
// primaries come first), the subtitle always.
func (g *systemGroup) sync(resort bool) {
	if resort {
		slices.SortFunc(g.rows, func(a, b *serverRow) int { return compareServers(a.view, b.view) })
		objects := make([]fyne.CanvasObject, 0, 2*len(g.rows))
		for i, row := range g.rows {
			if i > 0 {
				objects = append(objects, row.above)
			}
			objects = append(objects, row.object)
		}
		if !slices.Equal(objects, g.box.Objects) {
			g.box.Objects = objects
			g.box.Refresh()
		}
	}
	if g.key != notPaired {
		setText(g.subtitle, systemSubtitle(g.views()))
	}
}

// views are the card's servers' latest views, in the rows' order.
func (g *systemGroup) views() []model.ServerView {
	views := make([]model.ServerView, 0, len(g.rows))
	for _, row := range g.rows {
		views = append(views, row.view)
	}
	return views
}

// serverRow is one server's line on the board. Its widgets live as long as
// the server does and are updated in place.
type serverRow struct {
	view    model.ServerView
	shown   bool // view has been drawn
	badge   *RoleBadge
	name    *widget.Label
	vendor  *widget.Label
	address *widget.Label
	icon    *widget.Icon
	health  *widget.Label
	times   *widget.Label
	tint    *canvas.Rectangle
	mark    *canvas.Rectangle // the selection highlight
	tap     *rowTap
	object  fyne.CanvasObject
	above   *widget.Separator // between the row and the one above it in its card
}

func newServerRow(onTap func()) *serverRow {
	r := &serverRow{
		badge:   NewRoleBadge(model.RoleUnknown),
		name:    widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		vendor:  widget.NewLabel(""),
		address: widget.NewLabel(""),
		icon:    widget.NewIcon(nil),
		health:  widget.NewLabel(""),
		times:   widget.NewLabelWithStyle("", fyne.TextAlignTrailing, fyne.TextStyle{}),
		tint:    canvas.NewRectangle(color.Transparent),
		mark:    canvas.NewRectangle(color.Transparent),
		above:   widget.NewSeparator(),
	}
	r.vendor.TextStyle.Italic = true
	// The vendor role and the address give way first when the row is
	// narrow; the name, the role badge and the health never do.
	r.vendor.Truncation = fyne.TextTruncateEllipsis
	r.address.Truncation = fyne.TextTruncateEllipsis

	// One line per server, so that a whole fleet fits on one screen: who it
	// is on the left, how it is on the right, where health stays aligned.
	who := container.New(lineLayout{}, r.name, r.vendor, r.address)
	state := container.NewHBox(r.times, container.New(minWidth(130), container.NewHBox(r.icon, r.health)))
	r.tap = newRowTap(container.NewStack(r.tint, r.mark,
		container.NewBorder(nil, nil, container.NewCenter(r.badge), state, who)), onTap)
	r.object = r.tap
	return r
}

func (r *serverRow) setSelected(selected bool) {
	r.mark.FillColor = color.Transparent
	if selected {
		r.mark.FillColor = theme.Color(theme.ColorNameSelection)
	}
	r.mark.Refresh()
}

func (r *serverRow) setCompact(compact bool) {
	if compact {
		r.address.Hide()
		r.times.Hide()
	} else {
		r.address.Show()
		r.times.Show()
	}
}

// show draws v, redrawing only the parts of the row that change: a
// status line that moves a server's vendor role redraws that label alone.
func (r *serverRow) show(v model.ServerView, now time.Time) {
	old, first := r.view, !r.shown
	r.view, r.shown = v, true
	r.badge.SetRole(v.Role)
	// A role the console does not hear now is history (a server down,
	// unreachable, not heard since the console started) or hearsay (what
	// an unpaired server announces): grey, never a live colour.
	r.badge.SetMuted(!v.Live())
	setText(r.name, displayName(v))
	setText(r.vendor, r.vendorText(now))
	setText(r.address, v.Address)

	// What lookOfServer reads.
	if first || old.Health != v.Health || old.Paired != v.Paired || old.IdentityChanged != v.IdentityChanged {
		look := lookOfServer(v)
		r.icon.SetResource(look.icon)
		r.health.Importance = look.importance
		r.health.TextStyle.Bold = look.loud
		r.health.Text = look.word
		r.health.Refresh()
		r.tint.FillColor = look.tint
		r.tint.Refresh()
	}

	r.showTimes(now)
}

func (r *serverRow) showTimes(now time.Time) {
	if s := timesLine(r.view, now); s != r.times.Text {
		r.times.SetText(s)
	}
	if !r.view.Live() {
		setText(r.vendor, r.vendorText(now))
	}
}

// vendorText is the line beside the name: the vendor's word for the role
// of a live server; for one the console does not hear, what it was and
// how long ago ("was PRIMARY · 21s ago"); for one not paired, its system.
func (r *serverRow) vendorText(now time.Time) string {
	v := r.view
	switch {
	case !v.Paired:
		if v.System == "" {
			return "announces " + lookOfRole(v.Role).word
		}
		return v.System + " · announces " + lookOfRole(v.Role).word
	case v.Live():
		return v.VendorRole
	case v.LastSeen.IsZero():
		return "was " + lookOfRole(v.Role).word
	}
	return "was " + lookOfRole(v.Role).word + " · " + relativeTime(v.LastSeen, now)
}

var (
	_ fyne.Tappable      = (*rowTap)(nil)
	_ desktop.Hoverable  = (*rowTap)(nil)
	_ desktop.Cursorable = (*rowTap)(nil)
)

// rowTap makes a board row something to tap: tapping selects the server,
// and the row lights up under the mouse so that it reads as a target.
type rowTap struct {
	widget.BaseWidget
	content fyne.CanvasObject
	hover   *canvas.Rectangle
	onTap   func()
}

func newRowTap(content fyne.CanvasObject, onTap func()) *rowTap {
	t := &rowTap{content: content, hover: canvas.NewRectangle(color.Transparent), onTap: onTap}
	t.ExtendBaseWidget(t)
	return t
}

// Tapped is part of fyne.Tappable.
func (t *rowTap) Tapped(*fyne.PointEvent) {
	if t.onTap != nil {
		t.onTap()
	}
}

// Cursor is part of desktop.Cursorable.
func (t *rowTap) Cursor() desktop.Cursor { return desktop.PointerCursor }

// MouseIn is part of desktop.Hoverable.
func (t *rowTap) MouseIn(*desktop.MouseEvent) {
	t.hover.FillColor = theme.Color(theme.ColorNameHover)
	t.hover.Refresh()
}

// MouseMoved is part of desktop.Hoverable.
func (t *rowTap) MouseMoved(*desktop.MouseEvent) {}

// MouseOut is part of desktop.Hoverable.
func (t *rowTap) MouseOut() {
	t.hover.FillColor = color.Transparent
	t.hover.Refresh()
}

// CreateRenderer is part of fyne.Widget.
func (t *rowTap) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewStack(t.hover, t.content))
}

// minWidth lays its objects over each other, at least so wide: the health
// column keeps its place whatever word it shows, and takes its height from
// the theme it is drawn in.
type minWidth float32

func (w minWidth) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objects {
		o.Resize(size)
		o.Move(fyne.NewPos(0, 0))
	}
}

func (w minWidth) MinSize(objects []fyne.CanvasObject) fyne.Size {
	s := fyne.NewSize(float32(w), 0)
	for _, o := range objects {
		m := o.MinSize()
		s = fyne.NewSize(max(s.Width, m.Width), max(s.Height, m.Height))
	}
	return s
}

// lineLayout sets its objects side by side, as an HBox does, each at its
// natural width; when the line is too narrow the last ones are cut short
// (truncating labels end in an ellipsis) instead of running over what is
// beside the line. Its minimum is its first object's: a server's name.
type lineLayout struct{}

func (lineLayout) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	pad := theme.Padding()
	var x float32
	for _, o := range objects {
		if !o.Visible() {
			continue
		}
		w := min(naturalWidth(o), max(size.Width-x, 0))
		h := o.MinSize().Height
		o.Move(fyne.NewPos(x, (size.Height-h)/2))
		o.Resize(fyne.NewSize(w, h))
		x += w + pad
	}
}

func (lineLayout) MinSize(objects []fyne.CanvasObject) fyne.Size {
	var s fyne.Size
	first := true
	for _, o := range objects {
		if !o.Visible() {
			continue
		}
		m := o.MinSize()
		if first {
			s.Width, first = m.Width, false
		}
		s.Height = max(s.Height, m.Height)
	}
	return s
}

// naturalWidth is the width an object needs to show all of itself. A
// truncating label's minimum is only its ellipsis, so its text is measured.
func naturalWidth(o fyne.CanvasObject) float32 {
	l, ok := o.(*widget.Label)
	if !ok || l.Truncation == fyne.TextTruncateOff {
		return o.MinSize().Width
	}
	if l.Text == "" {
		return 0
	}
	th := l.Theme()
	size := l.SizeName
	if size == "" {
		size = theme.SizeNameText
	}
	// Rounded up, and a pixel more: the label decides whether its text fits
	// in whole pixels, and would cut the last letters off a text that fits
	// to within a fraction of one.
	w := fyne.MeasureText(l.Text, th.Size(size), l.TextStyle).Width
	return float32(math.Ceil(float64(w))) + 1 + 2*th.Size(theme.SizeNameInnerPadding)
}
