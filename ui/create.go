package ui

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

// Create returns the main window's content: a status board that follows
// feed until ctx is done, when it also cancels its subscription. Selecting
// a server opens its pane beside the board, which acts through op; w is
// where its confirmations appear.
func Create(ctx context.Context, w fyne.Window, feed Feed, op Operator) *View {
	return CreateConsole(ctx, w, Console{Feed: feed, Operator: op})
}

// Console is what the main window shows and acts through. Events and
// Alerts may be nil; their tabs are then left out.
type Console struct {
	Feed     Feed
	Operator Operator
	Events   EventSource  // the events timeline
	Alerts   AlertConsole // the email alert settings
	// Procedures opens the procedure wizards; with it the window has a
	// tab of every system's procedures and their history, and a server's
	// pane opens its system's procedures.
	Procedures *Procedures
}

// CreateConsole is Create with the events timeline and the alert settings
// in tabs beside the status board, which is shown first.
func CreateConsole(ctx context.Context, w fyne.Window, c Console) *View {
	ticker := time.NewTicker(time.Second)
	return startConsole(ctx, w, c, loop{now: time.Now, ticks: ticker.C, stop: ticker.Stop, do: fyne.Do})
}

// loop is what the view's background goroutine takes from outside: a
// clock, and a way onto the UI goroutine. Tests supply their own, because
// fyne's test driver runs fyne.Do at once on the calling goroutine, so a
// test reading widgets while the loop writes them would race.
type loop struct {
	now   func() time.Time
	ticks <-chan time.Time // when to age the "last seen" times and re-read the selected server's status
	stop  func()           // releases ticks
	do    func(func())     // runs a change on the UI goroutine
}

var _ fyne.Widget = (*View)(nil)

// View is the main window's content: the board, and beside it the pane of
// the selected server. Its methods must be called on the UI goroutine.
type View struct {
	widget.BaseWidget

	env    paneEnv
	board  *Board
	panes  map[string]*ServerPane // by server id, kept so that a request in flight finishes in its own pane
	pane   *ServerPane            // the one shown, or nil
	holder *fyne.Container        // holds the pane shown
	split  *container.Split
	chosen *selection // the selected server, shared with the loop goroutine
	want   string     // a server name to select once it appears

	timeline  *Timeline     // nil without an event source
	alerts    *AlertView    // nil without alert settings
	procTab   *ProcedureTab // nil without procedures
	tabs      *container.AppTabs
	boardTab  *container.TabItem
	eventsTab *container.TabItem
	alertsTab *container.TabItem
	procsTab  *container.TabItem
	unseen    int // warning and critical events since the timeline was last shown
	everShown bool
	// title is the window's own title, to which the systems that are not
	// healthy are added, so that the taskbar says what is wrong.
	title string

	// procedures runs the preflight of the systems' next steps, which the
	// cards show as ready or blocked; nil without procedures.
	procedures *Procedures
	checking   map[string]bool // systems whose next step's preflight runs now
	ticks      int             // since the next steps were last checked
}

// nextCheckEvery is how many ticks (seconds) apart the preflights of the
// systems' next steps run again: the fleet changes without a new verdict.
const nextCheckEvery = 15

// checkNextSteps runs the preflight of every system's next step, one at a
// time per system, on goroutines of their own; the cards show what each
// found.
func (v *View) checkNextSteps() {
	if v.procedures == nil {
		return
	}
	for system, id := range v.board.NextSteps() {
		if v.checking[system] {
			continue
		}
		v.checking[system] = true
		env, procs := v.env, v.procedures
		started := env.requests.goRequest(func() {
			r, err := procs.Readiness(env.ctx, system, id)
			env.do(func() {
				delete(v.checking, system)
				if err == nil {
					v.board.ShowReadiness(system, id, r)
				}
			})
		})
		if !started {
			delete(v.checking, system)
		}
	}
}

// selection is the selected server's id: set on the UI goroutine, read by
// the loop goroutine to know whose status to follow.
type selection struct {
	mu sync.Mutex
	id string
}

func (s *selection) set(id string) {
	s.mu.Lock()
	s.id = id
	s.mu.Unlock()
}

func (s *selection) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// requests are the view's requests in flight, so that the view's goroutine
// can wait for them when it ends.
type requests struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// goRequest runs fn on a goroutine of its own, unless the view has ended.
func (r *requests) goRequest(fn func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.wg.Go(fn)
	return true
}

func (r *requests) closeAndWait() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
}

// start shows feed on a new view and starts the one goroutine that keeps
// it current until ctx is done.
func start(ctx context.Context, w fyne.Window, feed Feed, op Operator, l loop) *View {
	return startConsole(ctx, w, Console{Feed: feed, Operator: op}, l)
}

// startConsole is start with the timeline and the alert settings.
func startConsole(ctx context.Context, w fyne.Window, c Console, l loop) *View {
	// Subscribe before taking the snapshot: a change in between then
	// arrives as an update instead of being lost. Events likewise: one
	// stored while the timeline reads the store arrives live as well,
	// and is shown once.
	updates, cancel := c.Feed.Subscribe()
	verdicts, cancelVerdicts := c.Feed.SubscribeVerdicts()
	var events <-chan model.Event
	cancelEvents := func() {}
	if c.Events != nil {
		events, cancelEvents = c.Events.SubscribeEvents()
	}
	snapshot := c.Feed.Snapshot()
	v := &View{
		env:    paneEnv{ctx: ctx, win: w, op: c.Operator, do: l.do, now: l.now, requests: &requests{}},
		board:  NewBoard(snapshot, c.Feed.Verdicts(), l.now),
		panes:  map[string]*ServerPane{},
		holder: container.NewStack(),
		chosen: &selection{},
	}
	v.env.onClose = v.Close
	if w != nil {
		v.title = w.Title()
	}
	if c.Procedures != nil {
		v.env.procedures = func(system string) { c.Procedures.Open(system) }
		// A card's next step opens the procedure its verdict calls for,
		// in the wizard, where its preflight runs first.
		v.board.ProcedureTitle = c.Procedures.Title
		v.board.OnNext = func(system, id string) { c.Procedures.OpenProcedure(system, id) }
		v.board.ApplyVerdicts(c.Feed.Verdicts()) // again, with the titles
		v.procedures, v.checking = c.Procedures, map[string]bool{}
	}
	v.showTitle()
	v.board.OnSelect = v.Select
	v.holder.Hide()
	v.split = container.NewHSplit(v.board, v.holder)
	v.split.Offset = 0.5
	if c.Events != nil || c.Alerts != nil || c.Procedures != nil {
		v.boardTab = container.NewTabItemWithIcon("Status board", theme.GridIcon(), v.split)
		v.tabs = container.NewAppTabs(v.boardTab)
		if c.Events != nil {
			v.timeline = newTimeline(v.env, c.Events)
			for _, sv := range snapshot {
				v.timeline.Note(sv.System, sv.Name)
			}
			v.eventsTab = container.NewTabItemWithIcon("Events", theme.ListIcon(), v.timeline)
			v.tabs.Append(v.eventsTab)
		}
		if c.Procedures != nil {
			v.procTab = newProcedureTab(v.env, c.Procedures)
			for _, sv := range snapshot {
				v.procTab.Note(sv.System)
			}
			v.procsTab = container.NewTabItemWithIcon("Procedures", theme.DocumentIcon(), v.procTab)
			v.tabs.Append(v.procsTab)
		}
		if c.Alerts != nil {
			v.alerts = newAlertView(v.env, c.Alerts)
			v.alertsTab = container.NewTabItemWithIcon("Email alerts", theme.MailComposeIcon(), v.alerts)
			v.tabs.Append(v.alertsTab)
		}
		v.tabs.OnSelected = v.tabChosen
	}
	v.ExtendBaseWidget(v)
	// The first reads start once the goroutine that waits for them can
	// end: they are requests like any other.
	if v.timeline != nil {
		v.timeline.reload()
	}
	if v.alerts != nil {
		v.alerts.load()
	}
	v.checkNextSteps()
	go func() {
		defer cancel()
		defer cancelVerdicts()
		defer cancelEvents()
		defer l.stop()
		defer v.env.requests.closeAndWait() // requests in flight end with ctx
		l.run(ctx, v, c.Operator, updates, verdicts, events)
	}()
	return v
}

// CreateRenderer is part of fyne.Widget.
func (v *View) CreateRenderer() fyne.WidgetRenderer {
	if v.tabs != nil {
		return widget.NewSimpleRenderer(v.tabs)
	}
	return widget.NewSimpleRenderer(v.split)
}

// Tab names for ShowTab.
const (
	TabBoard      = "board"
	TabEvents     = "events"
	TabProcedures = "procedures"
	TabAlerts     = "alerts"
)

// ShowTab shows the status board, the events timeline, the procedures or
// the alert settings; it reports whether the view has that tab.
func (v *View) ShowTab(name string) bool {
	var item *container.TabItem
	switch name {
	case TabBoard:
		item = v.boardTab
	case TabEvents:
		item = v.eventsTab
	case TabProcedures:
		item = v.procsTab
	case TabAlerts:
		item = v.alertsTab
	}
	if v.tabs == nil || item == nil {
		return false
	}
	v.tabs.Select(item)
	return true
}

func (v *View) tabChosen(item *container.TabItem) {
	switch item {
	case v.eventsTab:
		v.unseen = 0
		v.eventsTab.Text = "Events"
		v.tabs.Refresh()
	case v.alertsTab:
		v.alerts.readOutbox()
	case v.procsTab:
		v.procTab.reload()
	}
}

// addEvents shows new events on the timeline and counts the loud ones the
// operator has not seen on the tab's label.
func (v *View) addEvents(batch []model.Event) {
	v.timeline.Add(batch)
	if v.tabs.Selected() == v.eventsTab {
		return
	}
	n := 0
	for _, e := range batch {
		if e.Severity.Rank() >= model.SeverityWarning.Rank() {
			n++
		}
	}
	if n == 0 {
		return
	}
	v.unseen += n
	v.eventsTab.Text = fmt.Sprintf("Events (%d new)", v.unseen)
	v.tabs.Refresh()
}

// showTitle sets the window's title to its own followed by the systems
// whose verdict is not healthy, the most urgent first: "Vigil — k2-san
// FAILED OVER, infocast DEGRADED".
func (v *View) showTitle() {
	if v.env.win == nil || v.title == "" {
		return
	}
	_, alarms, _ := fleetSummary(nil, v.board.verdicts)
	title := v.title
	if len(alarms) > 0 {
		title += " — " + strings.Join(alarms, ", ")
	}
	if v.env.win.Title() != title {
		v.env.win.SetTitle(title)
	}
}

// Select opens the pane of the server with id beside the board.
func (v *View) Select(id string) {
	sv, ok := v.board.View(id)
	if !ok {
		return
	}
	p := v.panes[id]
	if p == nil {
		p = newServerPane(v.env)
		v.panes[id] = p
	}
	p.SetView(sv)
	st, have := v.env.op.Status(id)
	p.SetStatus(st, have)
	v.chosen.set(id)
	v.board.Select(id)
	v.board.SetCompact(true)
	if v.pane != p {
		v.pane = p
		v.holder.Objects = []fyne.CanvasObject{p}
		v.holder.Show()
		v.split.Refresh()
	}
}

// SelectWhenSeen selects the paired server named name, now if it is on
// the board, or as soon as it is.
func (v *View) SelectWhenSeen(name string) {
	v.want = name
	v.selectWanted()
}

func (v *View) selectWanted() {
	if v.want == "" {
		return
	}
	for id, row := range v.board.rows {
		if row.view.Name == v.want && row.view.Paired {
			v.want = ""
			v.Select(id)
			return
		}
	}
}

// Close closes the pane; the board takes the whole window again.
func (v *View) Close() {
	v.chosen.set("")
	v.pane = nil
	v.board.Select("")
	v.board.SetCompact(false)
	v.holder.Hide()
	v.holder.Objects = nil
	v.split.Refresh()
}

// apply shows a batch of feed updates, and the latest status of the
// selected server if the loop read it.
func (v *View) apply(batch []model.ServerView, id string, st actions.Status, have bool) {
	v.board.ApplyBatch(batch)
	for _, sv := range batch {
		if p := v.panes[sv.ID]; p != nil {
			p.SetView(sv)
		}
		if v.timeline != nil {
			v.timeline.Note(sv.System, sv.Name)
		}
		if v.procTab != nil && v.procTab.Note(sv.System) && v.tabs.Selected() == v.procsTab {
			v.procTab.reload()
		}
	}
	v.showStatus(id, st, have)
	v.selectWanted()
}

func (v *View) tick(id string, st actions.Status, have bool) {
	v.board.RefreshTimes()
	if v.ticks++; v.ticks >= nextCheckEvery {
		v.ticks = 0
		v.checkNextSteps()
	}
	if v.pane != nil {
		v.pane.RefreshTimes()
	}
	v.showStatus(id, st, have)
	if v.alerts != nil && v.tabs.Selected() == v.alertsTab {
		v.alerts.tick(v.env.now())
	}
}

func (v *View) showStatus(id string, st actions.Status, have bool) {
	if p := v.panes[id]; id != "" && p != nil {
		p.SetStatus(st, have)
	}
}

// run never touches a widget itself: every change goes through l.do. The
// selected server's status is read here, off the UI goroutine, on every
// update and every tick: facts and services change without a change the
// feed would report.
func (l loop) run(ctx context.Context, v *View, op Operator, updates <-chan model.ServerView, verdicts <-chan model.SystemVerdict, events <-chan model.Event) {
	status := func() (string, actions.Status, bool) {
		id := v.chosen.get()
		if id == "" {
			return "", actions.Status{}, false
		}
		st, ok := op.Status(id)
		return id, st, ok
	}
	// Updates, events and ticks gather in next, and at most one frame is
	// queued at a time to draw them: see pending.
	var next pending
	var frame func()
	frame = func() {
		f := next.take(frameUpdates)
		v.draw(f)
		if f.more {
			l.do(frame)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case sv, ok := <-updates:
			if !ok {
				updates = nil // the feed has gone; the times still age until ctx ends
				continue
			}
			batch, open := drain(updates, sv)
			if !open {
				updates = nil
			}
			next.addUpdates(batch)
		case vd, ok := <-verdicts:
			if !ok {
				verdicts = nil
				continue
			}
			batch, open := drainAll(verdicts, vd)
			if !open {
				verdicts = nil
			}
			next.addVerdicts(batch)
		case e, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			batch, open := drainAll(events, e)
			if !open {
				events = nil
			}
			next.addEvents(batch)
		case <-l.ticks:
			next.addTick()
		}
		id, st, have := status()
		if next.queue(selectedStatus{id: id, st: st, have: have}) {
			l.do(frame)
		}
	}
}

// drainAll takes everything already queued behind first, so that a burst
// is drawn once. open is false if the channel was closed.
func drainAll[T any](ch <-chan T, first T) (batch []T, open bool) {
	batch = []T{first}
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return batch, false
			}
			batch = append(batch, e)
		default:
			return batch, true
		}
	}
}

// drain takes every update already queued behind first, keeping only the
// latest per server: during a failover a server can change several times
// before the UI goroutine has a turn, and only its latest state is worth
// drawing. open is false if the channel was closed.
func drain(updates <-chan model.ServerView, first model.ServerView) (batch []model.ServerView, open bool) {
	batch = []model.ServerView{first}
	index := map[string]int{first.ID: 0}
	for {
		select {
		case v, ok := <-updates:
			if !ok {
				return batch, false
			}
			if i, seen := index[v.ID]; seen {
				batch[i] = v
				continue
			}
			index[v.ID] = len(batch)
			batch = append(batch, v)
		default:
			return batch, true
		}
	}
}
