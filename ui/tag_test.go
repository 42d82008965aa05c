package ui

import (
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"

	"github.com/vigilops/vigil/model"
)

// Tags of one column are as wide as their widest word, whatever word
// each shows, so that the names and titles beside them line up; a tag
// shows its word.
func TestTagsOfAColumnShareAWidth(t *testing.T) {
	test.NewTempApp(t)
	standby, oos := NewRoleBadge(model.RoleStandby), NewRoleBadge(model.RoleOutOfService)
	if standby.MinSize() != oos.MinSize() {
		t.Errorf("STANDBY badge %v, OUT OF SERVICE badge %v: want one width", standby.MinSize(), oos.MinSize())
	}
	done := newStateTag(lookOfStep(model.StepPassed), "", stepWords)
	rehearsed := newStateTag(lookOfStep(model.StepRehearsed), "", stepWords)
	if done.MinSize() != rehearsed.MinSize() {
		t.Errorf("DONE tag %v, REHEARSED tag %v: want one width", done.MinSize(), rehearsed.MinSize())
	}
	alone := newStateTag(lookOfStep(model.StepPassed), "", nil)
	if alone.MinSize().Width >= done.MinSize().Width {
		t.Errorf("a DONE tag on its own is %v, as wide as one sized for REHEARSED (%v)", alone.MinSize(), done.MinSize())
	}
	big := newStateTag(lookOfStep(model.StepPassed), theme.SizeNameHeadingText, nil)
	if big.MinSize().Height <= alone.MinSize().Height {
		t.Errorf("a heading-size tag is %v, no taller than a text-size one (%v)", big.MinSize(), alone.MinSize())
	}
	for _, c := range []struct {
		got, want string
	}{{standby.Text(), "STANDBY"}, {done.Text(), "DONE"}} {
		if c.got != c.want {
			t.Errorf("tag reads %q, want %q", c.got, c.want)
		}
	}
	w := test.NewWindow(done)
	defer w.Close()
	if r := test.WidgetRenderer(done).(*tagRenderer); r.text.Text != "DONE" || r.fill.FillColor != lookOfStep(model.StepPassed).fill {
		t.Errorf("the tag draws %q on %v", r.text.Text, r.fill.FillColor)
	}
}
