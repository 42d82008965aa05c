package ui

import (
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
	"github.com/vigilops/vigil/procedure"
)

// The run's servers under its steps, read through the engine's fleet.

// follow reads the system's servers while the window is open: at once,
// when one of them changes (a fleet that watches, as the console's over
// its monitor does), when a step starts or ends, and every statusEvery.
func (r *runScreen) follow() {
	if r.following {
		return
	}
	r.following = true
	env, ctx, fleet, system, poke := r.w.env, r.w.ctx, r.eng.Fleet, r.opts.System, r.poke
	env.requests.goRequest(func() {
		var tick <-chan time.Time
		if env.statusEvery > 0 {
			t := time.NewTicker(env.statusEvery)
			defer t.Stop()
			tick = t.C
		}
		var changed <-chan struct{}
		if w, ok := fleet.(procedure.Watcher); ok {
			var stop func()
			changed, stop = w.Changes(system)
			defer stop()
		}
		for {
			list, err := fleet.Servers(ctx, system)
			if ctx.Err() != nil {
				return
			}
			env.do(func() { r.showServers(list, err) })
			select {
			case <-ctx.Done():
				return
			case <-tick:
			case <-poke:
			case <-changed:
				// A system of many busy servers changes often: the
				// list is drawn at most every serverListGap.
				select {
				case <-ctx.Done():
					return
				case <-time.After(serverListGap):
				}
			}
		}
	})
}

// serverListGap is the least time between two drawings of a run's server
// list that changes of the servers ask for.
const serverListGap = 100 * time.Millisecond

func (r *runScreen) nudge() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

// showServers shows the bound servers' live role and health, or every
// server of the system before they are bound.
func (r *runScreen) showServers(list []procedure.Server, err error) {
	r.servers.RemoveAll()
	if err != nil {
		r.serversNote.SetText("The servers could not be read: " + err.Error())
		r.serversNote.Show()
		r.left.Refresh()
		return
	}
	n := 0
	for _, s := range list {
		binding, bound := r.bindings[s.ID]
		if len(r.bindings) > 0 && !bound {
			continue
		}
		n++
		name := widget.NewLabelWithStyle(s.Name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		what := s.VendorRole
		if bound {
			b, _ := r.p.Binding(binding)
			doc := b.DocumentName
			if doc == "" {
				doc = "“" + binding + "”"
			}
			what = strings.TrimPrefix(what+" · "+doc, " · ")
		}
		detail := widget.NewLabelWithStyle(what, fyne.TextAlignLeading, fyne.TextStyle{Italic: true})
		detail.Truncation = fyne.TextTruncateEllipsis
		look := lookOfHealth(s.Health)
		health := widget.NewLabelWithStyle(look.word, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true})
		health.Importance = look.importance
		r.servers.Add(container.NewVBox(
			container.NewBorder(nil, nil, container.NewHBox(container.NewCenter(NewRoleBadge(s.Role)), name),
				container.NewHBox(widget.NewIcon(look.icon), health)),
			detail))
	}
	r.serversNote.SetText("As read at " + r.w.env.now().Format("15:04:05"))
	if n == 0 {
		r.serversNote.SetText("No server of " + r.opts.System + " is known to this console.")
	}
	r.serversNote.Show()
	r.left.Refresh() // the servers' box may have grown or shrunk
}
