package ui

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/model"
)

// fakeEvents is an EventSource over events held in memory: it answers
// queries as the store does (newest first, filtered, limited) and delivers
// what the test sends as live events.
type fakeEvents struct {
	mu      sync.Mutex
	stored  []model.Event
	queries []model.EventFilter
	live    chan model.Event
}

var _ EventSource = (*fakeEvents)(nil)

func newFakeEvents(stored ...model.Event) *fakeEvents {
	return &fakeEvents{stored: stored, live: make(chan model.Event)}
}

func (f *fakeEvents) Events(_ context.Context, q model.EventFilter) ([]model.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	var out []model.Event
	for _, e := range f.stored {
		if matches(q, e) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, compareEvents)
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	return out[:min(limit, len(out))], nil
}

func (f *fakeEvents) store(e model.Event) {
	f.mu.Lock()
	f.stored = append(f.stored, e)
	f.mu.Unlock()
}

func (f *fakeEvents) SubscribeEvents() (<-chan model.Event, func()) {
	return f.live, func() {}
}

// t0 is 03:00 on a night shift, UTC.
var t0 = time.Date(2025, 3, 14, 3, 0, 0, 0, time.UTC)

func nightEvents() []model.Event {
	return []model.Event{
		{ID: 1, Time: t0.Add(-50 * time.Minute), System: "k2-san", Server: "K2server2", Kind: model.EventService, Severity: model.SeverityInfo,
			From: "stopped", To: "running", Detail: "service k2-media-server on K2server2 is running"},
		{ID: 2, Time: t0.Add(-3 * time.Hour), System: "redstor", Server: "AccountServer-Slave", Kind: model.EventLag, Severity: model.SeverityWarning,
			To: "1250", Detail: "mirror lag seconds on AccountServer-Slave is 1250, over its limit of 900"},
		{ID: 3, Time: t0.Add(-10 * time.Minute), System: "k2-san", Server: "K2server1", Kind: model.EventDown, Severity: model.SeverityCritical,
			From: "up", To: "down", Detail: "watch stream reset"},
		{ID: 4, Time: t0.Add(-9 * time.Minute), System: "k2-san", Kind: model.EventNoPrimary, Severity: model.SeverityCritical,
			Detail: "no server of k2-san has been primary for 15s (K2server1, K2server2)"},
	}
}

// startTimeline starts the whole view with a timeline over src, on the
// test goroutine as the UI goroutine, and waits for its first page.
func startTimeline(t *testing.T, src *fakeEvents, now time.Time) (*View, *Timeline, uiQueue) {
	t.Helper()
	test.NewTempApp(t)
	q := make(uiQueue, 64)
	ctx, cancel := context.WithCancel(context.Background())
	feed := newFakeFeed(0, pairedRedstor()...)
	w := test.NewTempWindow(t, widget.NewLabel("starting"))
	v := startConsole(ctx, w, Console{Feed: feed, Operator: newFakeOperator(), Events: src},
		loop{now: func() time.Time { return now }, ticks: make(chan time.Time), stop: func() {}, do: q.do})
	w.SetContent(v)
	w.Resize(fyne.NewSize(1100, 720))
	t.Cleanup(func() {
		cancel()
		waitClosed(t, feed.cancelled, "the feed's cancel")
	})
	tl := v.timeline
	q.waitFor(t, "the first page of events", func() bool { return !tl.loading })
	return v, tl, q
}

func ids(evs []model.Event) []uint {
	out := make([]uint, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// rowTexts draws row i as the list does and returns its words.
func rowTexts(tl *Timeline, i int) []string {
	o := tl.list.CreateItem()
	tl.list.UpdateItem(i, o)
	return o.(*eventRow).texts()
}

func TestTimelineShowsEventsNewestFirst(t *testing.T) {
	v, tl, _ := startTimeline(t, newFakeEvents(nightEvents()...), t0)
	if v.tabs.Selected() != v.boardTab {
		t.Errorf("the view opens on %q; the status board comes first", v.tabs.Selected().Text)
	}
	if got, want := ids(tl.events), []uint{4, 3, 1, 2}; !slices.Equal(got, want) {
		t.Fatalf("events shown %v, want newest first %v", got, want)
	}
	got := rowTexts(tl, 1)
	want := []string{eventTime(t0.Add(-10 * time.Minute)), "CRITICAL", "k2-san / K2server1", "down", "up " + arrow + " down", "watch stream reset"}
	if !slices.Equal(got, want) {
		t.Errorf("row of the down event reads %q, want %q", got, want)
	}
	if got := rowTexts(tl, 0); got[2] != "k2-san" || got[4] != "" {
		t.Errorf("a system's event reads %q: want the system alone, and no change", got)
	}
	row := tl.list.CreateItem().(*eventRow)
	tl.list.UpdateItem(1, row)
	if row.tint.FillColor == color.Transparent || row.icon.Resource == nil {
		t.Error("a critical row is not tinted or has no icon")
	}
	if !strings.HasPrefix(tl.count.Text, "4 events") {
		t.Errorf("count %q", tl.count.Text)
	}
	if tl.older.Visible() {
		t.Error("Load older is offered though every event is shown")
	}
}

func TestTimelineFiltersNarrowIt(t *testing.T) {
	src := newFakeEvents(nightEvents()...)
	_, tl, q := startTimeline(t, src, t0)
	shows := func(what string, want ...uint) {
		t.Helper()
		q.waitFor(t, what, func() bool { return !tl.loading && slices.Equal(ids(tl.events), want) })
	}

	tl.severity.SetSelected("Warning and critical")
	shows("warnings and worse", 4, 3, 2)
	tl.severity.SetSelected("Critical only")
	shows("critical only", 4, 3)
	tl.severity.SetSelected("All severities")
	shows("every severity", 4, 3, 1, 2)

	if !slices.Contains(tl.system.Options, "k2-san") || !slices.Contains(tl.system.Options, "Redstor") {
		t.Errorf("system choices %q lack the feed's and the events' systems", tl.system.Options)
	}
	tl.system.SetSelected("k2-san")
	shows("k2-san only", 4, 3, 1)
	if slices.Contains(tl.server.Options, "AccountServer-Slave") || !slices.Contains(tl.server.Options, "K2server1") {
		t.Errorf("server choices for k2-san are %q", tl.server.Options)
	}
	tl.server.SetSelected("K2server1")
	shows("K2server1 only", 3)
	tl.server.SetSelected(allServers)
	tl.kinds.SetSelected([]string{model.EventService, model.EventNoPrimary})
	shows("two kinds", 4, 1)
	if tl.kindsButton.Text != "service, no-primary" {
		t.Errorf("kinds button says %q", tl.kindsButton.Text)
	}
	tl.kinds.SetSelected(nil)
	tl.system.SetSelected(allSystems)
	shows("everything again", 4, 3, 1, 2)

	tl.when.SetSelected("Last hour")
	shows("the last hour", 4, 3, 1)
	if last := src.queries[len(src.queries)-1]; !last.Since.Equal(t0.Add(-time.Hour)) {
		t.Errorf("last hour asked the store since %v, want %v", last.Since, t0.Add(-time.Hour))
	}

	tl.when.SetSelected(customRange)
	if !tl.rangeRow.Visible() {
		t.Fatal("Between… shows no times to type")
	}
	tl.from.SetText("yesterday")
	tl.reload()
	if !strings.Contains(tl.rangeError.Text, `"yesterday" is not a time`) {
		t.Errorf("a bad time shows %q", tl.rangeError.Text)
	}
	tl.from.SetText(t0.Add(-4 * time.Hour).Local().Format(localTimeLayout))
	tl.until.SetText(t0.Add(-30 * time.Minute).Local().Format(localTimeLayout))
	tl.reload()
	shows("between 23:00 and 02:30", 1, 2)
	if tl.rangeError.Text != "" {
		t.Errorf("good times still show %q", tl.rangeError.Text)
	}

	tl.severity.SetSelected("Critical only")
	tl.when.SetSelected("Last 24 hours")
	tl.system.SetSelected("redstor")
	shows("nothing")
	if tl.count.Text != "No events match these filters." {
		t.Errorf("an empty selection says %q", tl.count.Text)
	}
}

func TestTimelineLiveEventAppearsAtTheTop(t *testing.T) {
	src := newFakeEvents(nightEvents()...)
	v, tl, q := startTimeline(t, src, t0)
	tl.severity.SetSelected("Warning and critical")
	q.waitFor(t, "warnings and worse", func() bool { return !tl.loading && len(tl.events) == 3 })

	split := model.Event{ID: 5, Time: t0.Add(-time.Second), System: "k2-san", Kind: model.EventSplitBrain, Severity: model.SeverityCritical,
		To: "K2server1,K2server2", Detail: "K2server1 and K2server2 are all primary at once; clients may write to both"}
	src.store(split)
	src.live <- split
	q.waitFor(t, "the split brain at the top", func() bool { return len(tl.events) == 4 && tl.events[0].ID == 5 })
	if got := rowTexts(tl, 0); got[1] != "CRITICAL" || got[3] != "split-brain" || got[4] != arrow+" K2server1,K2server2" {
		t.Errorf("the new row reads %q", got)
	}
	if v.eventsTab.Text != "Events (1 new)" {
		t.Errorf("events tab reads %q while the board is shown; want the new event counted", v.eventsTab.Text)
	}

	// An event the filters do not select stays out; one already shown is
	// not shown twice.
	up := model.Event{ID: 6, Time: t0, System: "k2-san", Server: "K2server1", Kind: model.EventUp, Severity: model.SeverityInfo, From: "down", To: "up"}
	src.live <- up
	src.live <- split
	src.live <- model.Event{ID: 7, Time: t0.Add(time.Second), System: "redstor", Server: "AccountServer-Slave", Kind: model.EventLag,
		Severity: model.SeverityWarning, To: "1300"}
	q.waitFor(t, "the lag warning", func() bool { return len(tl.events) > 0 && tl.events[0].ID == 7 })
	if got, want := ids(tl.events), []uint{7, 5, 4, 3, 2}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}

	v.ShowTab(TabEvents)
	if v.eventsTab.Text != "Events" {
		t.Errorf("events tab still reads %q once shown", v.eventsTab.Text)
	}
}

func TestTimelineLoadsOlderOnDemand(t *testing.T) {
	var stored []model.Event
	for i := range 450 {
		// Three events share each second, so pages end inside a second.
		stored = append(stored, model.Event{ID: uint(i + 1), Time: t0.Add(-time.Duration(i/3) * time.Second),
			System: "wavestore", Server: fmt.Sprintf("ws-%d", i%3), Kind: model.EventRole, Severity: model.SeverityWarning})
	}
	_, tl, q := startTimeline(t, newFakeEvents(stored...), t0)
	if len(tl.events) != timelinePage || !tl.older.Visible() {
		t.Fatalf("first page: %d events, older offered %v; want %d and the offer", len(tl.events), tl.older.Visible(), timelinePage)
	}
	for _, want := range []int{400, 450} {
		test.Tap(tl.older)
		q.waitFor(t, fmt.Sprintf("%d events", want), func() bool { return !tl.loading && len(tl.events) == want })
	}
	seen := map[uint]bool{}
	for i, e := range tl.events {
		if seen[e.ID] {
			t.Fatalf("event %d shown twice", e.ID)
		}
		seen[e.ID] = true
		if i > 0 && compareEvents(tl.events[i-1], e) > 0 {
			t.Fatalf("events out of order at %d", i)
		}
	}
	if tl.older.Visible() {
		t.Error("Load older is still offered with every event shown")
	}
}

func TestTimelineExportsCSV(t *testing.T) {
	evs := nightEvents()
	evs[0].Detail = `said "stop", then: restarted` + "\nsecond line"
	_, tl, q := startTimeline(t, newFakeEvents(evs...), t0)
	tl.system.SetSelected("k2-san")
	q.waitFor(t, "k2-san's events", func() bool { return !tl.loading && len(tl.events) == 3 })

	path := filepath.Join(t.TempDir(), "night.csv")
	test.Tap(tl.exportBtn)
	if tl.prompt == nil {
		t.Fatal("Export CSV… asks nothing")
	}
	tl.prompt.path.SetText(path)
	test.Tap(tl.prompt.export)
	q.waitFor(t, "the export to end", func() bool { return strings.HasPrefix(tl.status.Text, "Exported") })
	if tl.status.Text != "Exported 3 events to "+path+"." {
		t.Errorf("status %q", tl.status.Text)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "time,system,server,kind,severity,from,to,detail\r\n" +
		"2025-03-14T02:51:00Z,k2-san,,no-primary,critical,,,\"no server of k2-san has been primary for 15s (K2server1, K2server2)\"\r\n" +
		"2025-03-14T02:50:00Z,k2-san,K2server1,down,critical,up,down,watch stream reset\r\n" +
		"2025-03-14T02:10:00Z,k2-san,K2server2,service,info,stopped,running,\"said \"\"stop\"\", then: restarted\r\nsecond line\"\r\n"
	if string(got) != want {
		t.Errorf("CSV:\n%q\nwant\n%q", got, want)
	}
	// Read back as CSV, every field is as it was, the line break in the
	// detail too.
	recs, err := csv.NewReader(bytes.NewReader(got)).ReadAll()
	if err != nil || len(recs) != 4 || recs[3][7] != evs[0].Detail {
		t.Errorf("read back: %q, %v; want 4 records, the last detail %q", recs, err, evs[0].Detail)
	}

	// Exporting again to the same file asks before replacing it.
	test.Tap(tl.exportBtn)
	tl.prompt.path.SetText(path)
	test.Tap(tl.prompt.export)
	if tl.prompt == nil || tl.prompt.export.Text != "Replace" || !strings.Contains(tl.prompt.note.Text, "exists") {
		t.Fatal("an existing file is replaced without a warning")
	}
	test.Tap(tl.prompt.export)
	q.waitFor(t, "the second export", func() bool { return strings.HasPrefix(tl.status.Text, "Exported") })
}

func TestEventWording(t *testing.T) {
	tests := []struct {
		e                      model.Event
		where, change, heading string
	}{
		{model.Event{System: "k2-san", Server: "K2server1", Kind: model.EventDown, From: "up", To: "down"},
			"k2-san / K2server1", "up " + arrow + " down", "K2server1 is down"},
		{model.Event{System: "k2-san", Kind: model.EventSplitBrain, Severity: model.SeverityCritical, To: "K2server1,K2server2"},
			"k2-san", arrow + " K2server1,K2server2", "SPLIT BRAIN in k2-san: K2server1 and K2server2 both primary"},
		{model.Event{System: "k2-san", Kind: model.EventNoPrimary, Severity: model.SeverityInfo, From: "no-primary", To: "resolved"},
			"k2-san", "no-primary " + arrow + " resolved", "k2-san has a primary again"},
		{model.Event{Server: "lab", Kind: model.EventFlapping, To: "flapping"}, "lab", arrow + " flapping", "lab is flapping"},
		{model.Event{Kind: model.EventAction}, "-", "", "action"},
		{model.Event{Server: "AS-1", Kind: model.EventAction, To: "done"}, "AS-1", arrow + " done", "AS-1: action " + arrow + " done"},
	}
	for _, tt := range tests {
		if got := eventWhere(tt.e); got != tt.where {
			t.Errorf("eventWhere(%+v) = %q, want %q", tt.e, got, tt.where)
		}
		if got := eventChange(tt.e); got != tt.change {
			t.Errorf("eventChange(%+v) = %q, want %q", tt.e, got, tt.change)
		}
		if got := eventHeadline(tt.e); got != tt.heading {
			t.Errorf("eventHeadline(%+v) = %q, want %q", tt.e, got, tt.heading)
		}
	}
}

func TestTimelineMatchesAsTheStoreSelects(t *testing.T) {
	e := model.Event{Time: t0, System: "k2-san", Server: "K2server1", Kind: model.EventDown, Severity: model.SeverityWarning}
	tests := []struct {
		f    model.EventFilter
		want bool
	}{
		{model.EventFilter{}, true},
		{model.EventFilter{Since: t0}, true},
		{model.EventFilter{Since: t0.Add(time.Nanosecond)}, false},
		{model.EventFilter{Until: t0}, false}, // Until is exclusive
		{model.EventFilter{Until: t0.Add(time.Nanosecond)}, true},
		{model.EventFilter{System: "redstor"}, false},
		{model.EventFilter{Server: "K2server1"}, true},
		{model.EventFilter{Kinds: []string{model.EventUp}}, false},
		{model.EventFilter{MinSeverity: model.SeverityWarning}, true},
		{model.EventFilter{MinSeverity: model.SeverityCritical}, false},
	}
	for _, tt := range tests {
		if got := matches(tt.f, e); got != tt.want {
			t.Errorf("matches(%+v) = %v, want %v", tt.f, got, tt.want)
		}
	}
}
