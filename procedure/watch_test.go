package procedure

import (
	"context"
	"testing"
	"time"

	"github.com/vigilops/vigil/model"
)

// watchingFleet is a fake fleet that is also a Watcher: the test says when
// a server changed.
type watchingFleet struct {
	*fakeFleet
	changed chan struct{}
}

func (w *watchingFleet) Changes(system string) (<-chan struct{}, func()) { return w.changed, func() {} }

// stillClock never lets a poll come round: a step that waits reads the
// servers again only when the fleet says they changed.
type stillClock struct{}

func (stillClock) Now() time.Time                       { return time.Now() }
func (stillClock) After(time.Duration) <-chan time.Time { return nil }

// TestWaitWakesOnAChange: a verify step over a fleet that watches reads the
// servers again as soon as the fleet says one changed, without waiting for
// its next poll (here, a poll that never comes).
func TestWaitWakesOnAChange(t *testing.T) {
	p, err := Parse("wake.yaml", []byte(`id: wake
title: Wake
profile: k2san
kind: check
document: {file: d.txt}
bindings: {p: {role: primary}}
steps:
  - type: verify
    text: It is ok.
    timeout: 1h
    condition: {server: p, fact: state, equals: ok}
`))
	if err != nil {
		t.Fatal(err)
	}
	f := &watchingFleet{fakeFleet: newK2(), changed: make(chan struct{}, 1)}
	setState := func(v string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i := range f.servers {
			if f.servers[i].Facts == nil {
				f.servers[i].Facts = map[string]string{}
			}
			f.servers[i].Facts["state"] = v
		}
	}
	setState("stale")
	r := newRig(t, f.fakeFleet)
	r.eng.Fleet, r.eng.Clock = f, stillClock{}
	waiting := make(chan struct{})
	var once bool
	r.eng.Observe = func(u Update) {
		if u.Kind == UpdateProgress && !once {
			once = true
			close(waiting)
		}
	}
	done := make(chan Outcome, 1)
	go func() {
		out, err := r.eng.Run(context.Background(), p, k2Options())
		if err != nil {
			t.Error(err)
		}
		done <- out
	}()
	<-waiting // the step read the servers once, and waits
	setState("ok")
	f.changed <- struct{}{}
	select {
	case out := <-done:
		if out.State != model.RunCompleted {
			t.Errorf("the run ended %s: %s", out.State, out.Summary)
		}
	case <-time.After(time.Minute):
		t.Fatal("the step did not read the servers again when the fleet said they changed")
	}
}
