package ui

import (
	"fmt"
	"image/color"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/model"
)

func TestBoardSortsSystemsAndServers(t *testing.T) {
	test.NewTempApp(t)
	b := NewBoard([]model.ServerView{
		{Paired: true, ID: "r2", Name: "SLAVE", System: "Redstor", Role: model.RoleStandby},
		{Paired: true, ID: "x", Name: "lab box"},
		{Paired: true, ID: "k2", Name: "k2-b", System: "K2", Role: model.RoleStandby},
		{Paired: true, ID: "r1", Name: "MASTER", System: "Redstor", Role: model.RolePrimary},
		{Paired: true, ID: "k1", Name: "K2-A", System: "K2", Role: model.RolePrimary},
	}, nil, time.Now)

	assertCards(t, b, "K2", "Redstor", "Unassigned")
	assertRows(t, b, "K2", "K2-A", "k2-b")
	assertRows(t, b, "Redstor", "MASTER", "SLAVE")
	assertRows(t, b, "", "lab box")
}

func TestBoardApplyUpdatesInPlaceAddsAndMoves(t *testing.T) {
	test.NewTempApp(t)
	b := NewBoard([]model.ServerView{
		{Paired: true, ID: "k1", Name: "K2-A", System: "K2", Role: model.RolePrimary, Health: model.HealthUp},
		{Paired: true, ID: "w1", Name: "WS-1", System: "Wavestore", Role: model.RolePrimary, Health: model.HealthUp},
	}, nil, time.Now)
	kept := badge(t, b, "k1")

	b.Apply(model.ServerView{Paired: true, ID: "k1", Name: "K2-A", System: "K2", Role: model.RoleFailed, Health: model.HealthUp})
	if badge(t, b, "k1") != kept || kept.Text() != "FAILED" {
		t.Errorf("update made a new badge or left it at %q; want the same badge reading FAILED", kept.Text())
	}

	b.Apply(model.ServerView{Paired: true, ID: "i1", Name: "IC-1", System: "Infocast", Role: model.RoleStandby, Health: model.HealthUp})
	b.Apply(model.ServerView{Paired: true, ID: "k0", Name: "A-first", System: "K2", Role: model.RoleStandby, Health: model.HealthUp})
	assertCards(t, b, "Infocast", "K2", "Wavestore")
	assertRows(t, b, "K2", "A-first", "K2-A")

	// The only Wavestore server moves to K2: its old card must go.
	b.Apply(model.ServerView{Paired: true, ID: "w1", Name: "WS-1", System: "K2", Role: model.RoleStandby, Health: model.HealthUp})
	assertCards(t, b, "Infocast", "K2")
	assertRows(t, b, "K2", "A-first", "WS-1", "K2-A")

	// A rename moves the row too, within the standbys.
	b.Apply(model.ServerView{Paired: true, ID: "k0", Name: "Z-last", System: "K2", Role: model.RoleStandby, Health: model.HealthUp})
	assertRows(t, b, "K2", "WS-1", "Z-last", "K2-A")

	// The primary comes first: a change of role moves a row.
	b.Apply(model.ServerView{Paired: true, ID: "k1", Name: "K2-A", System: "K2", Role: model.RolePrimary, Health: model.HealthUp})
	assertRows(t, b, "K2", "K2-A", "WS-1", "Z-last")

	// A server not paired is listed apart, whatever system it announces.
	b.Apply(model.ServerView{ID: "x1", Name: "stranger", System: "K2", Role: model.RolePrimary})
	assertCards(t, b, "Infocast", "K2", "Not paired")
	assertRows(t, b, "K2", "K2-A", "WS-1", "Z-last")
	assertRows(t, b, notPaired, "stranger")
	if got := b.rows["x1"]; !got.badge.Muted() || got.vendor.Text != "K2 · announces PRIMARY" {
		t.Errorf("a stranger's row: badge muted %v, %q", got.badge.Muted(), got.vendor.Text)
	}
	// Not announced for longer than the expiry, it leaves the board.
	b.Apply(model.ServerView{ID: "x1", Name: "stranger", System: "K2", Role: model.RolePrimary, Expired: true})
	assertCards(t, b, "Infocast", "K2")
	if _, ok := b.View("x1"); ok {
		t.Error("an expired server is still on the board")
	}
}

// The header draws the judge's verdicts: it lists the systems that are
// not healthy, in the colour of the worst, and counts no primaries of its
// own (a failed-over system's down primary is no second primary).
func TestBoardHeader(t *testing.T) {
	test.NewTempApp(t)
	b := NewBoard([]model.ServerView{
		{Paired: true, ID: "a", System: "K2", Role: model.RolePrimary, Health: model.HealthDown},
		{Paired: true, ID: "b", System: "K2", Role: model.RolePrimary, Health: model.HealthUp},
	}, []model.SystemVerdict{verdict("K2", model.VerdictFailedOver, "b took over from a")}, time.Now)
	if got, want := b.summary.Text, "1 system · 2 servers · 1 down"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	if got, want := b.alarms.Text, "K2 FAILED OVER"; !b.alarmLine.Visible() || got != want || b.alarms.Importance != widget.WarningImportance {
		t.Errorf("alarm line visible=%v %q (%v), want visible %q, warning", b.alarmLine.Visible(), got, b.alarms.Importance, want)
	}
	b.ApplyVerdicts([]model.SystemVerdict{verdict("K2", model.VerdictSplitBrain, "a and b claim primary at once")})
	if got, want := b.alarms.Text, "K2 SPLIT BRAIN"; got != want || b.alarms.Importance != widget.DangerImportance {
		t.Errorf("alarm line %q (%v), want %q, danger", got, b.alarms.Importance, want)
	}
	b.ApplyVerdicts([]model.SystemVerdict{verdict("K2", model.VerdictHealthy, "b primary")})
	if b.alarmLine.Visible() {
		t.Errorf("alarm line shown for a healthy system: %q", b.alarms.Text)
	}
}

func TestBoardRefreshTimes(t *testing.T) {
	test.NewTempApp(t)
	now := time.Date(2025, 3, 1, 3, 0, 0, 0, time.UTC)
	b := NewBoard([]model.ServerView{{Paired: true, ID: "a", LastSeen: now}}, nil, func() time.Time { return now })
	if got := b.rows["a"].times.Text; got != "last seen just now" {
		t.Fatalf("times = %q, want last seen just now", got)
	}
	now = now.Add(2 * time.Minute)
	b.RefreshTimes()
	if got := b.rows["a"].times.Text; got != "last seen 2m ago" {
		t.Errorf("after two minutes, times = %q, want last seen 2m ago", got)
	}
}

func TestBoardRendersEmptyAndOddValues(t *testing.T) {
	tests := []struct {
		name    string
		servers []model.ServerView
	}{
		{"empty", nil},
		{"odd", []model.ServerView{
			{Paired: true, ID: "", Name: "", Role: "bogus", Health: "weird"},
			{Paired: true, ID: "x", System: "S", Role: "", Health: ""},
			{Paired: true, ID: "y", System: "S", Name: "a very long server name that goes on and on", VendorRole: "Physical Server 4 hosting Logical Server 2"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			test.NewTempApp(t)
			b := NewBoard(tt.servers, nil, time.Now)
			w := test.NewTempWindow(t, b)
			w.Resize(fyne.NewSize(900, 600))
			if img := w.Canvas().Capture(); img.Bounds().Empty() {
				t.Error("board rendered to an empty image")
			}
			for id, row := range b.rows {
				if row.badge.Text() != "UNKNOWN" || row.badge.Role() != model.RoleUnknown {
					t.Errorf("server %q: badge %q (%s), want UNKNOWN", id, row.badge.Text(), row.badge.Role())
				}
				if row.health.Text != "Unknown" {
					t.Errorf("server %q: health %q, want Unknown", id, row.health.Text)
				}
				if row.name.Text == "" {
					t.Errorf("server %q has a blank name", id)
				}
			}
		})
	}
}

func badge(t *testing.T, b *Board, id string) *RoleBadge {
	t.Helper()
	row, ok := b.rows[id]
	if !ok {
		t.Fatalf("no row for server %q", id)
	}
	return row.badge
}

func assertCards(t *testing.T, b *Board, want ...string) {
	t.Helper()
	var got []string
	for _, o := range b.cards.Objects {
		for _, g := range b.groups {
			if g.card == o {
				got = append(got, g.title.Text)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("cards = %q, want %q", got, want)
	}
}

// assertRows reads the names in the order the card's container holds them,
// which is the order on screen.
func assertRows(t *testing.T, b *Board, system string, want ...string) {
	t.Helper()
	g, ok := b.groups[system]
	if !ok {
		t.Fatalf("no card for system %q", system)
	}
	var got []string
	for _, o := range g.box.Objects {
		for _, row := range b.rows {
			if row.object == o {
				got = append(got, row.name.Text)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows of %q = %q, want %q", system, got, want)
	}
}

// Beside a server pane the board is narrow: the vendor role gives way with
// an ellipsis and never runs under the health column, and the address and
// times make room.
func TestNarrowBoardKeepsHealthClear(t *testing.T) {
	test.NewTempApp(t)
	b := NewBoard([]model.ServerView{{ID: "w", Name: "ws-physical-1", System: "wavestore", Role: model.RolePrimary,
		VendorRole: "Physical Server 4 hosting Logical Server 2", Address: "127.0.0.1:42573", Health: model.HealthUp}}, nil, time.Now)
	w := test.NewTempWindow(t, b)
	w.Resize(fyne.NewSize(1100, 300))
	row := b.rows["w"]
	if got, want := row.vendor.Size().Width, naturalWidth(row.vendor); got < want {
		t.Errorf("wide board: vendor role %v wide, want all of it (%v)", got, want)
	}
	markup := test.RenderToMarkup(w.Canvas())
	for _, l := range []*widget.Label{row.vendor, row.address} {
		if !strings.Contains(markup, ">"+l.Text+"</text>") {
			t.Errorf("wide board: %q is cut short:\n%s", l.Text, markup)
		}
	}

	b.SetCompact(true)
	w.Resize(fyne.NewSize(520, 300))
	if row.address.Visible() || row.times.Visible() {
		t.Error("compact board still shows the address and times")
	}
	d := fyne.CurrentApp().Driver()
	vendorEnd := d.AbsolutePositionForObject(row.vendor).X + row.vendor.Size().Width
	if health := d.AbsolutePositionForObject(row.icon).X; vendorEnd > health {
		t.Errorf("vendor role ends at %v, past the health column at %v", vendorEnd, health)
	}
	if m := test.RenderToMarkup(w.Canvas()); row.vendor.Size().Width >= naturalWidth(row.vendor) || !strings.Contains(m, "…</text>") {
		t.Errorf("the vendor role was not cut short on a narrow board:\n%s", m)
	}
	nameEnd := d.AbsolutePositionForObject(row.name).X + row.name.Size().Width
	if row.name.Size().Width < row.name.MinSize().Width || nameEnd > d.AbsolutePositionForObject(row.vendor).X {
		t.Error("the server's name was cut short or overlaps the vendor role")
	}
}

// describeBoard reads the board as an operator does: the header, then each
// card in order with its subtitle, alarm and rows.
func describeBoard(b *Board) []string {
	out := []string{b.summary.Text, b.alarms.Text}
	for _, o := range b.cards.Objects {
		for _, g := range b.groups {
			if g.card != o {
				continue
			}
			out = append(out, "card "+g.title.Text+" · "+g.subtitle.Text+" · "+g.alarm.Text)
			for _, ro := range g.box.Objects {
				for _, row := range b.rows {
					if row.object == ro {
						out = append(out, "  "+row.name.Text+" "+row.badge.Text()+" "+row.vendor.Text+" "+row.health.Text+" "+row.times.Text)
					}
				}
			}
		}
	}
	return out
}

// A board built from a snapshot in one pass reads as one fed the same
// servers one at a time, and so does one fed them as one batch after
// another.
func TestBoardBuiltInOnePassReadsAsOneFedServerByServer(t *testing.T) {
	test.NewTempApp(t)
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var servers []model.ServerView
	for i := range 60 {
		v := model.ServerView{ID: fmt.Sprintf("id-%02d", i), Name: fmt.Sprintf("srv-%02d", 59-i), System: fmt.Sprintf("sys-%d", i%7),
			Site: fmt.Sprintf("site-%d", i%2), Profile: "redstor", Role: model.RoleStandby, VendorRole: "Slave AccountServer",
			Health: model.HealthUp, Paired: true, LastSeen: now.Add(-time.Minute)}
		switch {
		case i%7 == 3: // no system
			v.System = ""
		case i < 7: // one primary each, and two in sys-2: a split brain
			v.Role, v.VendorRole = model.RolePrimary, "Master AccountServer"
		case i == 9:
			v.Role, v.Health = model.RolePrimary, model.HealthDown
		}
		servers = append(servers, v)
	}

	whole := NewBoard(servers, nil, clock)
	oneByOne := NewBoard(nil, nil, clock)
	for _, v := range servers {
		oneByOne.Apply(v)
	}
	batches := NewBoard(servers[:25], nil, clock)
	batches.ApplyBatch(servers[25:])
	want := describeBoard(oneByOne)
	if got := describeBoard(whole); !slices.Equal(got, want) {
		t.Errorf("built in one pass:\n%s\nfed server by server:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := describeBoard(batches); !slices.Equal(got, want) {
		t.Errorf("fed in two batches:\n%s\nfed server by server:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Within one batch a card can empty, go, and come back: the last server
// of a system moves out as a new one moves in.
func TestBoardBatchEmptiesAndRefillsACard(t *testing.T) {
	test.NewTempApp(t)
	b := NewBoard([]model.ServerView{
		{Paired: true, ID: "k1", Name: "K2-A", System: "K2", Role: model.RolePrimary, Health: model.HealthUp},
		{Paired: true, ID: "w1", Name: "WS-1", System: "Wavestore", Role: model.RolePrimary, Health: model.HealthUp},
	}, nil, time.Now)
	b.ApplyBatch([]model.ServerView{
		{Paired: true, ID: "w1", Name: "WS-1", System: "K2", Role: model.RoleStandby, Health: model.HealthUp},
		{Paired: true, ID: "w2", Name: "WS-2", System: "Wavestore", Role: model.RolePrimary, Health: model.HealthUp},
		{Paired: true, ID: "w1", Name: "A-WS-1", System: "K2", Role: model.RoleStandby, Health: model.HealthUp},
	})
	assertCards(t, b, "K2", "Wavestore")
	assertRows(t, b, "K2", "K2-A", "A-WS-1")
	assertRows(t, b, "Wavestore", "WS-2")
	if got, want := b.summary.Text, "2 systems · 3 servers"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}

// An update that changes what a row shows redraws only that; one that
// changes nothing of a card's order leaves its rows where they are.
func TestBoardRedrawsOnlyWhatChanged(t *testing.T) {
	test.NewTempApp(t)
	pair := pairedRedstor()
	b := NewBoard(pair, nil, time.Now)
	g := b.groups["Redstor"]
	objects := slices.Clone(g.box.Objects)
	// A colour the row's look never has: redrawing the look would replace it.
	tint := b.rows["a"].tint
	tint.FillColor = color.NRGBA{R: 1, G: 2, B: 3, A: 4}

	moved := pair[0]
	moved.VendorRole = "Master AccountServer, replicating"
	b.Apply(moved)
	if got := b.rows["a"].vendor.Text; got != moved.VendorRole {
		t.Errorf("vendor role %q, want %q", got, moved.VendorRole)
	}
	if tint.FillColor != (color.NRGBA{R: 1, G: 2, B: 3, A: 4}) {
		t.Error("the row's health look was redrawn for a change of vendor role")
	}
	if !slices.Equal(g.box.Objects, objects) {
		t.Error("the card's rows were rebuilt for a change of vendor role")
	}
	renamed := moved
	renamed.Name = "AS-3"
	b.Apply(renamed)
	assertRows(t, b, "Redstor", "AS-3", "AS-2") // the primary first, renamed or not
	renamed.Role = model.RoleStandby
	b.Apply(renamed)
	assertRows(t, b, "Redstor", "AS-2", "AS-3")
}

// A failover under way says on its card for how long: the clock alone,
// through RefreshTimes, moves it on; the verdict that follows replaces it.
func TestBoardFailingOverCountsTheSeconds(t *testing.T) {
	test.NewTempApp(t)
	start := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	now := start
	pair := []model.ServerView{
		{ID: "a", Name: "K2-A", System: "K2", Profile: "k2san", Role: model.RolePrimary, Health: model.HealthDown, Paired: true},
		{ID: "b", Name: "K2-B", System: "K2", Profile: "k2san", Role: model.RoleStandby, Health: model.HealthUp, Paired: true},
	}
	failing := model.SystemVerdict{System: "K2", Profile: "k2san", Verdict: model.VerdictFailingOver, Severity: model.SeverityWarning,
		Since: start, Summary: "no server of K2 is primary: a failover may be under way", Reasons: []model.Reason{}}
	b := NewBoard(pair, []model.SystemVerdict{failing}, func() time.Time { return now })
	g := b.groups["K2"]
	card := func(what, text string, importance widget.Importance) {
		t.Helper()
		if !g.alarmLine.Visible() || g.alarm.Text != text || g.alarm.Importance != importance {
			t.Errorf("%s: card alarm visible=%v %q (%v), want %q (%v)", what, g.alarmLine.Visible(), g.alarm.Text, g.alarm.Importance, text, importance)
		}
	}
	card("just lost", "FAILING OVER for 0 s — no server of K2 is primary: a failover may be under way", widget.WarningImportance)
	now = start.Add(4 * time.Second)
	b.RefreshTimes()
	card("four seconds on", "FAILING OVER for 4 s — no server of K2 is primary: a failover may be under way", widget.WarningImportance)
	if b.rows["a"].badge.Text() != "PRIMARY" || !b.rows["a"].badge.Muted() || b.rows["a"].vendor.Text != "was PRIMARY" {
		t.Errorf("the down primary's row: %q muted %v, %q", b.rows["a"].badge.Text(), b.rows["a"].badge.Muted(), b.rows["a"].vendor.Text)
	}
	b.ApplyVerdicts([]model.SystemVerdict{{System: "K2", Profile: "k2san", Verdict: model.VerdictNoPrimary, Severity: model.SeverityCritical,
		Since: now, Summary: "no server of K2 is primary", Next: "k2san-recover-from-failover", Reasons: []model.Reason{}}})
	card("past the grace", "NO PRIMARY — no server of K2 is primary", widget.DangerImportance)
}
