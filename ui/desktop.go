package ui

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"

	"github.com/vigilops/vigil/model"
)

// Notifier shows a desktop notification. The console's sends it through
// fyne.App's SendNotification; tests record it.
type Notifier interface {
	Notify(title, body string)
}

// Tray is the system tray, as Fyne's desktop.App offers it.
type Tray interface {
	SetSystemTrayMenu(menu *fyne.Menu)
	SetSystemTrayIcon(icon fyne.Resource)
}

// Desk is what the desktop alarms follow and where they show: the fleet
// and its events, and the notifications and tray icon they raise. Notifier
// and Tray may be nil where the desktop offers neither.
type Desk struct {
	Feed     Feed        // the verdicts the tray shows
	Events   EventSource // may be nil: then nothing is notified
	Notifier Notifier
	Tray     Tray
	// Show brings the console's window to the front (the tray's menu).
	Show func()
}

// Notification timing: the first warning or critical event waits
// notifyGather for the rest of its burst, and notifications are at least
// notifyGap apart, so that a failover's dozen events make one notification.
const (
	notifyGather = 2 * time.Second
	notifyGap    = 5 * time.Second
)

// StartDesk starts the desktop alarms: a notification for warning and
// critical events, a burst summed up in one, and a tray icon whose colour
// is the worst current state, with a menu that says why and shows the
// window. It runs until ctx is done. Call it on the UI goroutine.
func StartDesk(ctx context.Context, d Desk) {
	ticker := time.NewTicker(time.Second)
	startDesk(ctx, d, deskLoop{now: time.Now, after: time.After, ticks: ticker.C, stop: ticker.Stop, do: fyne.Do})
}

// deskLoop is what the alarms' goroutine takes from outside: a clock and
// its timers, and a way onto the UI goroutine.
type deskLoop struct {
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
	ticks <-chan time.Time // when to read the statuses again (lag)
	stop  func()
	do    func(func())
}

// desk is the state of the desktop alarms, owned by their goroutine;
// only the tray's widgets are touched, through do.
type desk struct {
	d        Desk
	verdicts map[string]model.SystemVerdict // the judge's, by system
	batch    notifyBatch
	painted  *fleetState
	menu     *fyne.Menu // owned by the UI goroutine
}

func startDesk(ctx context.Context, d Desk, l deskLoop) {
	updates, cancel := d.Feed.SubscribeVerdicts()
	var events <-chan model.Event
	cancelEvents := func() {}
	if d.Events != nil {
		events, cancelEvents = d.Events.SubscribeEvents()
	}
	k := &desk{d: d, verdicts: map[string]model.SystemVerdict{},
		batch: notifyBatch{gather: notifyGather, gap: notifyGap}}
	for _, v := range d.Feed.Verdicts() {
		k.verdicts[v.System] = v
	}
	if d.Tray != nil {
		k.menu = fyne.NewMenu("Vigil")
		k.paint(l, true)
	}
	go func() {
		defer cancel()
		defer cancelEvents()
		defer l.stop()
		l.run(ctx, k, updates, events)
	}()
}

func (l deskLoop) run(ctx context.Context, k *desk, updates <-chan model.SystemVerdict, events <-chan model.Event) {
	var timer <-chan time.Time
	arm := func() {
		if timer == nil && k.batch.waiting() {
			timer = l.after(max(k.batch.due().Sub(l.now()), 0))
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case v, ok := <-updates:
			if !ok {
				updates = nil
				continue
			}
			batch, open := drainAll(updates, v)
			if !open {
				updates = nil
			}
			for _, v := range batch {
				if v.Verdict == "" {
					delete(k.verdicts, v.System)
				} else {
					k.verdicts[v.System] = v
				}
			}
			k.paint(l, false)
		case e, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			k.event(e, l.now())
			for more := true; more; {
				select {
				case e, ok := <-events:
					if !ok {
						events, more = nil, false
						continue
					}
					k.event(e, l.now())
				default:
					more = false
				}
			}
			arm()
			k.paint(l, false)
		case <-timer:
			timer = nil
			if title, body, ok := k.batch.flush(l.now()); ok && k.d.Notifier != nil {
				k.d.Notifier.Notify(title, body)
			}
			arm()
		case <-l.ticks:
			k.paint(l, false)
		}
	}
}

// event takes one event: it may be notified.
func (k *desk) event(e model.Event, now time.Time) {
	k.batch.add(e, now)
}

// paint shows the worst verdict on the tray when what it says changed.
func (k *desk) paint(l deskLoop, force bool) {
	if k.d.Tray == nil {
		return
	}
	st := worstOfFleet(k.verdicts, l.now())
	if !force && k.painted != nil && k.painted.level == st.level && slices.Equal(k.painted.reasons, st.reasons) {
		return
	}
	k.painted = &st
	tray, menu, show := k.d.Tray, k.menu, k.d.Show
	l.do(func() {
		menu.Items = trayMenuItems(st, show)
		tray.SetSystemTrayMenu(menu)
		tray.SetSystemTrayIcon(trayIcon(st.level))
	})
}

// trayMenuItems say what is wrong (as disabled items, read only), then
// offer to show the window. Fyne adds Quit.
func trayMenuItems(st fleetState, show func()) []*fyne.MenuItem {
	var items []*fyne.MenuItem
	info := func(s string) {
		it := fyne.NewMenuItem(s, nil)
		it.Disabled = true
		items = append(items, it)
	}
	switch st.level {
	case LevelOK:
		info("Vigil: all well")
	default:
		info(fmt.Sprintf("Vigil: %s", strings.ToUpper(st.level.String())))
		const most = 6
		for i, r := range st.reasons {
			if i == most {
				info(fmt.Sprintf("and %d more", len(st.reasons)-most))
				break
			}
			info(r)
		}
	}
	items = append(items, fyne.NewMenuItemSeparator(), fyne.NewMenuItem("Show Vigil", func() {
		if show != nil {
			show()
		}
	}))
	return items
}

// notifyBatch gathers warning and critical events into notifications: the
// first of a burst waits gather for the rest, and one notification follows
// another no sooner than gap after it.
type notifyBatch struct {
	gather, gap time.Duration
	pending     []model.Event
	first       time.Time // when the first pending event came
	last        time.Time // when the last notification went out
}

// add takes e if it is worth a notification.
func (b *notifyBatch) add(e model.Event, now time.Time) bool {
	if e.Severity.Rank() < model.SeverityWarning.Rank() {
		return false
	}
	if len(b.pending) == 0 {
		b.first = now
	}
	b.pending = append(b.pending, e)
	return true
}

func (b *notifyBatch) waiting() bool { return len(b.pending) > 0 }

// due is when the pending events are notified.
func (b *notifyBatch) due() time.Time {
	d := b.first.Add(b.gather)
	if !b.last.IsZero() && b.last.Add(b.gap).After(d) {
		d = b.last.Add(b.gap)
	}
	return d
}

// flush sums the pending events up in one notification, if it is time.
func (b *notifyBatch) flush(now time.Time) (title, body string, ok bool) {
	if len(b.pending) == 0 || now.Before(b.due()) {
		return "", "", false
	}
	title, body = notificationText(b.pending)
	b.pending, b.last = nil, now
	return title, body, true
}

// notificationText says what happened: one event in full, a burst as a
// count and its worst events first.
func notificationText(evs []model.Event) (title, body string) {
	if len(evs) == 1 {
		e := evs[0]
		title = lookOfSeverity(e.Severity).word + ": " + eventHeadline(e)
		body = eventWhere(e) + " at " + e.Time.Local().Format("15:04:05")
		if e.Detail != "" {
			body += "\n" + e.Detail
		}
		return title, body
	}
	sorted := slices.Clone(evs)
	slices.SortStableFunc(sorted, func(a, b model.Event) int {
		return cmp.Or(b.Severity.Rank()-a.Severity.Rank(), a.Time.Compare(b.Time))
	})
	critical := 0
	for _, e := range evs {
		if e.Severity == model.SeverityCritical {
			critical++
		}
	}
	title = fmt.Sprintf("Vigil: %d events", len(evs))
	if critical > 0 {
		title += fmt.Sprintf(", %d critical", critical)
	}
	const most = 4
	var lines []string
	for i, e := range sorted {
		if i == most {
			lines = append(lines, fmt.Sprintf("and %d more: see Events in Vigil", len(sorted)-most))
			break
		}
		lines = append(lines, lookOfSeverity(e.Severity).word+": "+eventHeadline(e))
	}
	return title, strings.Join(lines, "\n")
}

// trayIcons are made once, at first use.
var trayIcons struct {
	sync.Mutex
	made map[Level]fyne.Resource
}

// trayIcon is the tray's picture of a level: the app icon's two server
// bars on a rounded square of the level's colour.
func trayIcon(l Level) fyne.Resource {
	trayIcons.Lock()
	defer trayIcons.Unlock()
	if r, ok := trayIcons.made[l]; ok {
		return r
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, drawTrayIcon(l.Colour(), 64)); err != nil {
		panic(err) // encoding an in-memory RGBA image does not fail
	}
	r := fyne.NewStaticResource("vigil-tray-"+l.String()+".png", buf.Bytes())
	if trayIcons.made == nil {
		trayIcons.made = map[Level]fyne.Resource{}
	}
	trayIcons.made[l] = r
	return r
}

// drawTrayIcon draws a size×size icon: a rounded square filled with fill,
// and two light bars with a dark dot, like the app icon's servers.
func drawTrayIcon(fill color.NRGBA, size int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	s := float64(size)
	bar := color.NRGBA{R: 0xf5, G: 0xf7, B: 0xfa, A: 0xff}
	dot := color.NRGBA{R: 0x14, G: 0x21, B: 0x3d, A: 0xff}
	edge := color.NRGBA{R: 0x14, G: 0x21, B: 0x3d, A: 0xff}
	for y := range size {
		for x := range size {
			px, py := float64(x)+0.5, float64(y)+0.5
			c := color.NRGBA{}
			cover := roundedCover(px, py, 0, 0, s, s, s*0.22)
			if cover > 0 {
				c = blend(edge, cover)
				if in := roundedCover(px, py, s*0.05, s*0.05, s*0.95, s*0.95, s*0.18); in > 0 {
					c = over(blend(fill, in), c)
				}
			}
			for _, top := range []float64{0.24, 0.56} {
				if b := roundedCover(px, py, s*0.17, s*top, s*0.83, s*(top+0.2), s*0.06); b > 0 {
					c = over(blend(bar, b), c)
				}
				cy := s * (top + 0.1)
				if d := circleCover(px, py, s*0.3, cy, s*0.055); d > 0 {
					c = over(blend(dot, d), c)
				}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// roundedCover is how much of the pixel at (px, py) a rounded rectangle
// covers, from 0 to 1, anti-aliased over one pixel.
func roundedCover(px, py, x0, y0, x1, y1, r float64) float64 {
	cx := math.Max(x0+r, math.Min(px, x1-r))
	cy := math.Max(y0+r, math.Min(py, y1-r))
	d := math.Hypot(px-cx, py-cy) - r
	return math.Max(0, math.Min(1, 0.5-d))
}

func circleCover(px, py, cx, cy, r float64) float64 {
	return math.Max(0, math.Min(1, 0.5-(math.Hypot(px-cx, py-cy)-r)))
}

func blend(c color.NRGBA, alpha float64) color.NRGBA {
	c.A = uint8(math.Round(float64(c.A) * alpha))
	return c
}

// over paints top over bottom (non-premultiplied colours).
func over(top, bottom color.NRGBA) color.NRGBA {
	ta, ba := float64(top.A)/255, float64(bottom.A)/255
	a := ta + ba*(1-ta)
	if a == 0 {
		return color.NRGBA{}
	}
	mix := func(t, b uint8) uint8 {
		return uint8(math.Round((float64(t)*ta + float64(b)*ba*(1-ta)) / a))
	}
	return color.NRGBA{R: mix(top.R, bottom.R), G: mix(top.G, bottom.G), B: mix(top.B, bottom.B), A: uint8(math.Round(a * 255))}
}
