package ui

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/monitor"
)

var _ fyne.Widget = (*ServerPane)(nil)

// paneEnv is what every server pane takes from the view that opens it.
type paneEnv struct {
	ctx      context.Context // ends the pane's requests when the window goes
	win      fyne.Window     // for the confirmation dialog
	op       Operator
	do       func(func()) // runs a change on the UI goroutine
	now      func() time.Time
	requests *requests // in flight, waited for when the view ends
	onClose  func()
	// procedures opens the procedure wizard of a system; nil when the
	// console offers none.
	procedures func(system string)
}

// ServerPane shows one server in detail (identity, health, services,
// facts) and offers the actions its agent declares, a change always
// previewed by a dry run before it can be applied. Like any widget its
// methods must be called on the UI goroutine; requests run on goroutines of
// their own and hand their outcome back through do.
type ServerPane struct {
	widget.BaseWidget
	env paneEnv

	view       model.ServerView
	status     actions.Status
	haveStatus bool

	title      *widget.Label
	procs      *widget.Button // opens the system's procedures; nil without them
	badge      *RoleBadge
	vendor     *widget.Label
	healthIcon *widget.Icon
	health     *widget.Label
	system     *widget.Label
	address    *widget.Label
	pairing    *widget.Label
	seen       *widget.Label
	roleError  *widget.Label
	roleLine   fyne.CanvasObject
	errDetail  *widget.Label     // the error behind the health's words
	errToggle  *widget.Button    // shows or hides it
	lastKnown  *widget.Label     // says that what follows is history
	lastLine   fyne.CanvasObject // hidden while the server is live
	services   *fyne.Container
	facts      *fyne.Container
	peers      *fyne.Container
	peerTimes  []peerTime               // the peers' "since" labels, aged by RefreshTimes
	lists      *container.ThemeOverride // the facts about the server, packed tighter

	// The action section.
	offered   []actionKind
	kind      *actionKind // chosen, or nil
	fields    []paramField
	block     *widget.Label // why the chosen action cannot be sent now
	blockRow  fyne.CanvasObject
	chooser   *widget.Select
	form      *fyne.Container
	hint      *widget.Label
	preview   *widget.Button
	apply     *widget.Button
	run       *widget.Button
	activity  *widget.Activity
	waiting   *widget.Label
	busyRow   fyne.CanvasObject
	outcome   *widget.Label
	detail    *widget.Label
	detailBx  *container.Scroll
	detailRow fyne.CanvasObject // the box and its background
	askAgain  *widget.Button

	busy      bool
	previewed *actions.Request // action and parameters of the last good dry run
	withdrawn bool             // a preview was withdrawn because the parameters changed
	retry     *actions.Request // a request whose outcome is uncertain, with its id
	retryKind sendKind
	confirm   *confirmation // the question on screen, if any

	content fyne.CanvasObject
}

// sendKind is why a request is sent, which decides what its answer enables.
type sendKind int

const (
	sendRead    sendKind = iota // a read-only action, run at once
	sendPreview                 // a dry run of a change
	sendApply                   // the change itself, after a preview and a confirmation
)

// paramField is one parameter's input: a choice among declared names, or
// free text.
type paramField struct {
	spec  paramSpec
	sel   *widget.Select
	entry *widget.Entry
}

func (f paramField) value() string {
	if f.sel != nil {
		return f.sel.Selected
	}
	return f.entry.Text
}

func (f paramField) setEnabled(on bool) {
	if f.sel != nil {
		setEnabled(f.sel, on)
	} else {
		setEnabled(f.entry, on)
	}
}

func newServerPane(env paneEnv) *ServerPane {
	p := &ServerPane{
		env:        env,
		title:      widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		badge:      NewRoleBadge(model.RoleUnknown),
		vendor:     widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Italic: true}),
		healthIcon: widget.NewIcon(nil),
		health:     wrapping(widget.NewLabel("")),
		system:     wrapping(widget.NewLabel("")),
		address:    widget.NewLabel(""),
		pairing:    wrapping(widget.NewLabel("")),
		seen:       widget.NewLabel(""),
		roleError:  wrapping(widget.NewLabel("")),
		errDetail:  wrapping(widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})),
		lastKnown:  wrapping(widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Italic: true})),
		services:   container.New(layout.NewFormLayout()),
		facts:      container.New(layout.NewFormLayout()),
		peers:      container.New(layout.NewFormLayout()),
		block:      wrapping(widget.NewLabel("")),
		form:       container.NewVBox(),
		hint:       wrapping(widget.NewLabel("")),
		activity:   widget.NewActivity(),
		waiting:    widget.NewLabel(""),
		outcome:    wrapping(widget.NewLabel("")),
		detail:     widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true}),
	}
	p.title.SizeName = theme.SizeNameSubHeadingText
	p.title.Truncation = fyne.TextTruncateEllipsis
	p.vendor.Wrapping = fyne.TextWrapWord
	p.roleError.Importance = widget.DangerImportance
	p.block.Importance = widget.WarningImportance
	p.hint.TextStyle.Italic = true
	p.address.Selectable = true
	p.detail.Selectable = true // so an operator can copy a diff or a request id

	closeButton := widget.NewButtonWithIcon("", theme.CancelIcon(), func() {
		if p.env.onClose != nil {
			p.env.onClose()
		}
	})
	closeButton.Importance = widget.LowImportance
	header := container.NewBorder(nil, nil, container.NewCenter(p.badge), closeButton, p.title)
	p.roleLine = container.NewBorder(nil, nil, widget.NewIcon(theme.NewErrorThemedResource(theme.ErrorIcon())), nil, p.roleError)
	var systemRow fyne.CanvasObject = p.system
	if env.procedures != nil {
		p.procs = widget.NewButtonWithIcon("Procedures…", theme.DocumentIcon(), func() {
			if p.view.System != "" {
				p.env.procedures(p.view.System)
			}
		})
		systemRow = container.NewBorder(nil, nil, nil, container.NewVBox(p.procs), p.system)
	}
	p.errDetail.Selectable = true
	p.errDetail.Hide()
	p.errToggle = widget.NewButton("Details", func() {
		setVisible(p.errDetail, !p.errDetail.Visible())
	})
	p.errToggle.Importance = widget.LowImportance
	p.errToggle.Hide()
	p.lastKnown.Importance = widget.WarningImportance
	p.lastLine = container.NewBorder(nil, nil, widget.NewIcon(theme.NewDisabledResource(theme.HistoryIcon())), nil, p.lastKnown)
	p.lastLine.Hide()
	info := container.New(layout.NewFormLayout(),
		key("Health"), container.NewVBox(container.NewBorder(nil, nil, p.healthIcon, container.NewVBox(p.errToggle), p.health), p.errDetail),
		key("System"), systemRow,
		key("Address"), p.address,
		key("Pairing"), p.pairing,
		key("Last seen"), p.seen,
	)

	p.chooser = widget.NewSelect(nil, p.choose)
	p.chooser.PlaceHolder = "Choose an action"
	p.preview = widget.NewButtonWithIcon("Preview (dry run)", theme.VisibilityIcon(), p.sendPreview)
	p.apply = widget.NewButtonWithIcon("Apply…", theme.ConfirmIcon(), p.confirmApply)
	p.apply.Importance = widget.DangerImportance
	p.run = widget.NewButtonWithIcon("Run", theme.MediaPlayIcon(), p.sendRead)
	p.run.Importance = widget.HighImportance
	p.askAgain = widget.NewButtonWithIcon("Ask again", theme.ViewRefreshIcon(), p.sendRetry)
	p.askAgain.Importance = widget.HighImportance
	p.blockRow = container.NewBorder(nil, nil, widget.NewIcon(theme.NewWarningThemedResource(theme.WarningIcon())), nil, p.block)
	p.busyRow = container.NewHBox(p.activity, p.waiting)
	p.detailBx = container.NewScroll(p.detail)
	p.detailBx.SetMinSize(fyne.NewSize(0, 170))
	boxBg := canvas.NewRectangle(theme.Color(theme.ColorNameInputBackground))
	boxBg.CornerRadius = theme.Size(theme.SizeNameInputRadius)
	p.detailRow = container.NewStack(boxBg, p.detailBx)

	audited := widget.NewLabelWithStyle("audited as "+dash(env.op.OperatorName()), fyne.TextAlignTrailing, fyne.TextStyle{Italic: true})
	actionsHead := container.NewHBox(heading("Actions"), layout.NewSpacer(), audited)

	p.lists = container.NewThemeOverride(container.NewVBox(
		info, widget.NewSeparator(), p.lastLine,
		heading("Services"), p.services, widget.NewSeparator(),
		heading("Peer links"), p.peers, widget.NewSeparator(),
		heading("Facts"), p.facts), compactTheme{})
	// The compact theme pads labels less; move them back in line with the
	// rest of the pane.
	inset := theme.InnerPadding() / 2
	lists := container.New(layout.NewCustomPaddedLayout(0, 0, inset, 0), p.lists)
	body := container.NewVBox(
		header, p.vendor, p.roleLine, lists,
		widget.NewSeparator(), actionsHead, p.blockRow,
		p.form, p.hint,
		container.NewHBox(p.preview, p.apply, p.run),
		p.busyRow, p.outcome, p.detailRow, container.NewHBox(p.askAgain),
	)
	p.content = container.NewVScroll(container.NewPadded(body))
	p.ExtendBaseWidget(p)

	p.setForm(nil)
	p.roleLine.Hide()
	p.busyRow.Hide()
	p.detailRow.Hide()
	p.outcome.Hide()
	p.showServices()
	p.showPeers()
	p.showFacts()
	p.sync()
	return p
}

// CreateRenderer is part of fyne.Widget.
func (p *ServerPane) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(p.content)
}

func wrapping(l *widget.Label) *widget.Label {
	l.Wrapping = fyne.TextWrapWord
	return l
}

// key labels a value; it is plain text, since a dimmed key is hard to read
// on a dim screen, and the form's columns already set it apart.
func key(s string) *widget.Label {
	return widget.NewLabel(s)
}

func heading(s string) *widget.Label {
	return widget.NewLabelWithStyle(s, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
}

// SetView shows the latest state of the server as the feed has it. What
// the console does not hear now (a server down, unreachable, not yet
// heard) is shown as its last known state, greyed, with its age.
func (p *ServerPane) SetView(v model.ServerView) {
	wasLive := p.view.Live()
	p.view = v
	p.title.SetText(displayName(v))
	p.badge.SetRole(v.Role)
	p.badge.SetMuted(!v.Live())
	look := lookOfServer(v)
	p.healthIcon.SetResource(look.icon)
	p.health.Importance = look.importance
	p.health.TextStyle.Bold = look.loud
	text := look.word
	if v.Detail != "" && v.Health != model.HealthUp {
		text += ": " + v.Detail
	}
	if len(v.SeenBy) > 0 && v.Health == model.HealthUnreachable {
		text += " (seen by " + joinNames(v.SeenBy) + ")"
	}
	p.health.SetText(text)
	p.errDetail.SetText(v.Error)
	setVisible(p.errToggle, v.Error != "")
	if v.Error == "" {
		p.errDetail.Hide()
	}
	if wasLive != v.Live() {
		// The lists are drawn muted, or live again.
		p.showServices()
		p.showPeers()
		p.showFacts()
	}
	p.system.SetText(systemLine(v))
	if p.procs != nil {
		setVisible(p.procs, v.System != "")
	}
	p.address.SetText(dash(v.Address))
	pairing, imp := pairingLine(v)
	p.pairing.Importance = imp
	p.pairing.SetText(pairing)
	p.RefreshTimes()
	p.sync()
}

// RefreshTimes brings "last seen" and the peer links' times up to date
// with the clock.
func (p *ServerPane) RefreshTimes() {
	now := p.env.now()
	if s := timesLine(p.view, now); s != p.seen.Text {
		p.seen.SetText(s)
	}
	vendor, last := p.view.VendorRole, ""
	if !p.view.Live() {
		age := ""
		if !p.view.LastSeen.IsZero() {
			age = " · " + relativeTime(p.view.LastSeen, now)
		}
		vendor = "was " + lookOfRole(p.view.Role).word + age
		if p.view.VendorRole != "" {
			vendor = "was " + p.view.VendorRole + age
		}
		last = "Last known" + strings.Replace(age, " · ", ", ", 1) +
			": the console does not hear this server now, so what follows is what it said last, not what it is."
	}
	setText(p.vendor, vendor)
	setVisible(p.vendor, vendor != "")
	setText(p.lastKnown, last)
	setVisible(p.lastLine, last != "")
	for _, pt := range p.peerTimes {
		if s := peerLine(pt.link, now); s != pt.label.Text {
			pt.label.SetText(s)
		}
	}
}

// SetStatus shows the agent's last full status: services, facts, role
// error and what it may be asked to do. Only what changed is redrawn, so
// an operator's half-typed parameters survive a status update.
func (p *ServerPane) SetStatus(st actions.Status, ok bool) {
	if ok == p.haveStatus && reflect.DeepEqual(st, p.status) {
		return
	}
	old, had := p.status, p.haveStatus
	p.status, p.haveStatus = st, ok

	p.roleError.SetText(st.RoleError)
	if st.RoleError == "" {
		p.roleLine.Hide()
	} else {
		p.roleLine.Show()
	}
	if !had || !maps.Equal(old.Services, st.Services) {
		p.showServices()
	}
	if !had || !maps.Equal(old.Facts, st.Facts) || !maps.Equal(old.FactErrors, st.FactErrors) {
		p.showFacts()
	}
	if !had || !samePeers(old.Peers, st.Peers) {
		p.showPeers()
	}
	if !had || !reflect.DeepEqual(old.Declared, st.Declared) {
		p.showOffered()
	}
	p.sync()
}

func (p *ServerPane) showServices() {
	var objects []fyne.CanvasObject
	muted := !p.view.Live()
	for _, name := range sortedNames(p.status.Services) {
		look := lookOfService(p.status.Services[name])
		if muted {
			look = serviceLook{word: look.word, importance: widget.LowImportance, icon: theme.NewDisabledResource(look.icon)}
		}
		word := widget.NewLabelWithStyle(look.word, fyne.TextAlignLeading, fyne.TextStyle{Bold: look.bold})
		word.Importance = look.importance
		objects = append(objects, widget.NewLabel(name), container.NewHBox(widget.NewIcon(look.icon), word))
	}
	if len(objects) == 0 {
		objects = append(objects, key(p.noneYet("No services declared")), layout.NewSpacer())
	}
	p.services.Objects = objects
	p.lists.Refresh() // puts the new rows under the compact theme
}

// peerTime is a peer link's line, whose "since" ages with the clock.
type peerTime struct {
	link  actions.PeerLink
	label *widget.Label
}

// samePeers compares what the pane shows of the peer links: agents check
// their peers four times a second, and a new check time alone changes
// nothing on screen.
func samePeers(a, b map[string]actions.PeerLink) bool {
	return maps.EqualFunc(a, b, func(x, y actions.PeerLink) bool {
		return x.State == y.State && x.Since.Equal(y.Since) && x.Error == y.Error
	})
}

// showPeers lists what the server's agent sees of the other servers of
// its system: each peer up or down (word, icon and colour), since when,
// and why not, when it cannot reach it.
func (p *ServerPane) showPeers() {
	var objects []fyne.CanvasObject
	p.peerTimes = nil
	now := p.env.now()
	muted := !p.view.Live()
	for _, name := range slices.Sorted(maps.Keys(p.status.Peers)) {
		link := p.status.Peers[name]
		look := lookOfPeer(link.State)
		if muted {
			look = peerLook{word: look.word, importance: widget.LowImportance, icon: theme.NewDisabledResource(look.icon)}
		}
		line := wrapping(widget.NewLabelWithStyle(peerLine(link, now), fyne.TextAlignLeading, fyne.TextStyle{Bold: look.bold}))
		line.Importance = look.importance
		p.peerTimes = append(p.peerTimes, peerTime{link: link, label: line})
		objects = append(objects, widget.NewLabel(name), container.NewBorder(nil, nil, container.NewVBox(widget.NewIcon(look.icon)), nil, line))
	}
	if len(objects) == 0 {
		objects = append(objects, key(p.noneYet("No peer links reported")), layout.NewSpacer())
	}
	p.peers.Objects = objects
	p.lists.Refresh() // puts the new rows under the compact theme
}

func (p *ServerPane) showFacts() {
	// A fact with a limit, the agent's own or the profile's, is shown
	// against it, as the judge weighs it.
	lags := map[string]monitor.Limit{}
	for _, l := range monitor.Limits(p.status.Facts, nil) {
		lags[l.Fact] = l
	}
	muted := !p.view.Live()
	var objects []fyne.CanvasObject
	for _, name := range sortedNames(p.status.Facts, p.status.FactErrors) {
		if base, ok := strings.CutSuffix(name, "_limit"); ok {
			if _, shown := lags[base]; shown {
				continue // shown with the fact it limits
			}
		}
		if lag, ok := lags[name]; ok {
			text := lag.Words()
			if lag.Over {
				text += ": over the limit"
			}
			v := wrapping(widget.NewLabelWithStyle(text, fyne.TextAlignLeading, fyne.TextStyle{Monospace: true}))
			var value fyne.CanvasObject = v
			switch {
			case muted:
				v.Importance = widget.LowImportance
			case lag.Over:
				v.Importance = widget.WarningImportance
				value = container.NewBorder(nil, nil, container.NewVBox(widget.NewIcon(theme.NewWarningThemedResource(theme.WarningIcon()))), nil, v)
			}
			objects = append(objects, widget.NewLabel(name), value)
			continue
		}
		if e, bad := p.status.FactErrors[name]; bad {
			l := wrapping(widget.NewLabel("cannot read: " + e))
			l.Importance = widget.WarningImportance
			objects = append(objects, widget.NewLabel(name),
				container.NewBorder(nil, nil, widget.NewIcon(theme.NewWarningThemedResource(theme.WarningIcon())), nil, l))
			continue
		}
		v := wrapping(widget.NewLabelWithStyle(p.status.Facts[name], fyne.TextAlignLeading, fyne.TextStyle{Monospace: true}))
		if muted {
			v.Importance = widget.LowImportance
		}
		if v.Text == "" {
			v.SetText("(empty)")
			v.TextStyle = fyne.TextStyle{Italic: true}
		}
		objects = append(objects, widget.NewLabel(name), v)
	}
	if len(objects) == 0 {
		objects = append(objects, key(p.noneYet("No facts declared")), layout.NewSpacer())
	}
	p.facts.Objects = objects
	p.lists.Refresh() // puts the new rows under the compact theme
}

// noneYet tells an empty list from one not known yet.
func (p *ServerPane) noneYet(none string) string {
	if !p.haveStatus {
		return "Not known yet"
	}
	return none
}

// showOffered lists the actions the agent declares. A chosen action that
// is still declared stays chosen, with its parameters.
func (p *ServerPane) showOffered() {
	p.offered = offeredActions(p.status.Declared)
	labels := make([]string, len(p.offered))
	for i, k := range p.offered {
		labels[i] = k.label
	}
	p.chooser.SetOptions(labels)
	if p.haveStatus && len(labels) == 0 {
		p.chooser.PlaceHolder = "This agent declares nothing to act on"
	} else {
		p.chooser.PlaceHolder = "Choose an action"
	}
	if p.kind == nil {
		p.chooser.Refresh()
		return
	}
	k, still := p.offeredKind(p.kind.label)
	if !still {
		p.chooser.ClearSelected() // calls choose("")
		return
	}
	for _, f := range p.fields {
		if f.sel == nil {
			continue
		}
		chosen := f.sel.Selected
		f.sel.SetOptions(f.spec.declared(p.status.Declared))
		if chosen != "" && !slices.Contains(f.sel.Options, chosen) {
			f.sel.ClearSelected() // calls paramsChanged
		}
	}
	p.kind = &k
}

func (p *ServerPane) offeredKind(label string) (actionKind, bool) {
	for _, k := range p.offered {
		if k.label == label {
			return k, true
		}
	}
	return actionKind{}, false
}

// choose builds the parameter form of the action with this label.
func (p *ServerPane) choose(label string) {
	p.previewed, p.withdrawn = nil, false
	k, ok := p.offeredKind(label)
	if !ok {
		p.kind, p.fields = nil, nil
		p.setForm(nil)
		p.sync()
		return
	}
	p.kind = &k
	p.fields = nil
	var items []*widget.FormItem
	for _, spec := range k.params {
		f := paramField{spec: spec}
		var w fyne.CanvasObject
		if spec.declared != nil {
			options := spec.declared(p.status.Declared)
			f.sel = widget.NewSelect(options, func(string) { p.paramsChanged() })
			f.sel.PlaceHolder = "Choose"
			if len(options) == 1 {
				f.sel.Selected = options[0] // nothing else it could be
			}
			w = f.sel
		} else {
			if spec.multiline {
				f.entry = widget.NewMultiLineEntry()
				f.entry.SetMinRowsVisible(3)
			} else {
				f.entry = widget.NewEntry()
			}
			f.entry.SetPlaceHolder(spec.hint)
			f.entry.OnChanged = func(string) { p.paramsChanged() }
			w = f.entry
		}
		p.fields = append(p.fields, f)
		items = append(items, widget.NewFormItem(spec.label, w))
	}
	p.setForm(items)
	p.sync()
}

// setForm shows the action chooser over the chosen action's parameters,
// in one form so that their labels line up.
func (p *ServerPane) setForm(params []*widget.FormItem) {
	items := append([]*widget.FormItem{widget.NewFormItem("Action", p.chooser)}, params...)
	p.form.Objects = []fyne.CanvasObject{widget.NewForm(items...)}
	p.form.Refresh()
}

// params are the chosen action's parameters as the form has them now.
func (p *ServerPane) params() map[string]string {
	out := make(map[string]string, len(p.fields))
	for _, f := range p.fields {
		out[f.spec.key] = f.value()
	}
	return out
}

// paramsChanged withdraws the preview as soon as the parameters differ
// from what it showed: Apply waits for a preview of what it would send.
func (p *ServerPane) paramsChanged() {
	if p.previewed != nil && !maps.Equal(p.previewed.Params, p.params()) {
		p.previewed, p.withdrawn = nil, true
	}
	p.sync()
}

// previewCurrent reports whether the last good preview is of exactly what
// the form now says.
func (p *ServerPane) previewCurrent() bool {
	return p.kind != nil && p.previewed != nil && p.previewed.Action == p.kind.action &&
		maps.Equal(p.previewed.Params, p.params())
}

// sync sets what can be pressed and what the hints say from the pane's
// state; every change of state ends with it.
func (p *ServerPane) sync() {
	mutating := p.kind != nil && actions.Mutating(p.kind.action)
	general := actionBlock(p.view, p.status, p.haveStatus, false)
	reason := actionBlock(p.view, p.status, p.haveStatus, mutating)
	p.block.SetText(reason)
	if reason == "" {
		p.blockRow.Hide()
	} else {
		p.blockRow.Show()
	}

	setEnabled(p.chooser, general == "" && !p.busy && len(p.offered) > 0)
	for _, f := range p.fields {
		f.setEnabled(!p.busy)
	}

	var missing []string
	if p.kind != nil {
		missing = missingParams(*p.kind, p.params())
	}
	ready := p.kind != nil && reason == "" && !p.busy && len(missing) == 0
	setVisible(p.preview, mutating)
	setVisible(p.apply, mutating)
	setVisible(p.run, p.kind != nil && !mutating)
	setEnabled(p.preview, ready)
	setEnabled(p.run, ready)
	setEnabled(p.apply, ready && p.previewCurrent())

	hint := ""
	switch {
	case p.kind == nil || reason != "":
	case len(missing) > 0:
		hint = "Fill in " + strings.Join(missing, ", ") + "."
	case mutating && !p.previewCurrent():
		hint = "Preview first: Apply is enabled once the dry run has shown what would change."
		if p.withdrawn {
			hint = "The parameters changed since the preview: preview again before applying."
		}
	case mutating:
		hint = "Apply asks you to confirm, then makes exactly the change shown below."
	}
	p.hint.SetText(hint)
	setVisible(p.hint, hint != "")

	setVisible(p.askAgain, p.retry != nil)
	if p.retry != nil {
		setEnabled(p.askAgain, !p.busy && actionBlock(p.view, p.status, p.haveStatus, actions.Mutating(p.retry.Action)) == "")
	}
}

func setEnabled(w fyne.Disableable, on bool) {
	if on == !w.Disabled() {
		return
	}
	if on {
		w.Enable()
	} else {
		w.Disable()
	}
}

func setVisible(o fyne.CanvasObject, on bool) {
	if on == o.Visible() {
		return
	}
	if on {
		o.Show()
	} else {
		o.Hide()
	}
}

func (p *ServerPane) request(dryRun bool) actions.Request {
	return actions.Request{Action: p.kind.action, Params: p.params(), DryRun: dryRun}
}

func (p *ServerPane) sendPreview() {
	if p.kind == nil {
		return
	}
	p.send(p.request(true), sendPreview)
}

func (p *ServerPane) sendRead() {
	if p.kind == nil {
		return
	}
	p.send(p.request(false), sendRead)
}

func (p *ServerPane) sendRetry() {
	if p.retry != nil {
		p.send(*p.retry, p.retryKind)
	}
}

// confirmApply asks the operator, in plain words, before the change the
// preview showed is made.
func (p *ServerPane) confirmApply() {
	if !p.previewCurrent() {
		return
	}
	req := actions.Request{Action: p.previewed.Action, Params: maps.Clone(p.previewed.Params)}
	server := displayName(p.view)
	k, _ := kindOf(req.Action)
	p.confirm = showConfirmation(p.env.win.Canvas(), k.label+"?", confirmQuestion(server, req),
		"The agent makes the change the preview showed, and its audit trail records it as done by "+
			dash(p.env.op.OperatorName())+".", k.label, func() { p.confirm = nil }, func() {
			p.confirm = nil
			if reason := actionBlock(p.view, p.status, p.haveStatus, true); reason != "" {
				p.showOutcome(reason, widget.WarningImportance, "")
				return
			}
			p.send(req, sendApply)
		})
}

// send runs req on a goroutine of its own; the pane shows that it waits,
// and takes nothing else until the answer comes back through do.
func (p *ServerPane) send(req actions.Request, kind sendKind) {
	if p.busy {
		return
	}
	p.busy = true
	server, id := displayName(p.view), p.view.ID
	p.waiting.SetText("waiting for " + server + "…")
	p.busyRow.Show()
	// The last outcome goes, so that it is not read as this one's.
	p.outcome.Hide()
	p.detailRow.Hide()
	p.activity.Start()
	p.sync()

	env := p.env
	started := env.requests.goRequest(func() {
		ctx, cancel := context.WithTimeout(env.ctx, actions.DefaultDoTimeout)
		res, err := env.op.Act(ctx, id, req)
		cancel()
		env.do(func() { p.finish(server, req, kind, res, err) })
	})
	if !started { // the window is closing
		p.busy = false
		p.activity.Stop()
		p.busyRow.Hide()
		p.sync()
	}
}

// finish shows a request's outcome and what it now allows.
func (p *ServerPane) finish(server string, req actions.Request, kind sendKind, res actions.Result, err error) {
	p.busy = false
	p.activity.Stop()
	p.busyRow.Hide()

	line, imp := outcomeLine(server, req, res, err)
	text := resultText(res)
	var ue *actions.UncertainError
	var ae *actions.AgentError
	switch {
	case errors.As(err, &ue):
		again := req
		again.RequestID = ue.RequestID
		p.retry, p.retryKind = &again, kind
		text = "request id: " + ue.RequestID
		if ue.Last != nil {
			text += "\nlast error: " + ue.Last.Error()
		}
	case errors.As(err, &ae):
		p.retry = nil
		text = resultText(ae.Result)
	case err != nil:
		p.retry = nil
		text = err.Error() // the error itself, below the words
	default:
		p.retry = nil
	}

	switch kind {
	case sendPreview:
		p.previewed, p.withdrawn = nil, false
		if err == nil && res.State == actions.StateDone {
			done := req
			done.Params = maps.Clone(req.Params)
			p.previewed = &done
		}
	case sendApply:
		p.previewed, p.withdrawn = nil, false // another change needs another preview
	}
	p.showOutcome(line, imp, text)
	p.sync()
}

func (p *ServerPane) showOutcome(line string, imp widget.Importance, text string) {
	p.outcome.Importance = imp
	p.outcome.TextStyle.Bold = imp == widget.DangerImportance || imp == widget.WarningImportance
	p.outcome.SetText(line)
	p.outcome.Show()
	p.detail.SetText(text)
	setVisible(p.detailRow, text != "")
	p.detailBx.ScrollToTop()
}
