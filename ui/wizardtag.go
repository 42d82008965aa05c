package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"github.com/vigilops/vigil/model"
)

var (
	_ fyne.Widget     = (*stateTag)(nil)
	_ fyne.Accessible = (*stateTag)(nil)
)

// stateTag shows a step's or a run's state as a word in capitals on a
// filled tag, like RoleBadge shows a role. Tags of one list share a width
// (the widest of words), so the titles beside them line up.
type stateTag struct {
	widget.BaseWidget
	look  tagLook
	size  fyne.ThemeSizeName
	words []string // the words on the tag whose widest sets the minimum width
}

// newStateTag returns a tag showing look; states are the states (step
// states or outcomes) whose words set its width.
func newStateTag(look tagLook, size fyne.ThemeSizeName, states []model.StepState) *stateTag {
	words := make([]string, len(states))
	for i, st := range states {
		words[i] = lookOfStep(st).word
	}
	t := &stateTag{look: look, size: size, words: words}
	t.ExtendBaseWidget(t)
	return t
}

// set changes the tag. Call it on the UI goroutine.
func (t *stateTag) set(look tagLook) {
	if look == t.look {
		return
	}
	t.look = look
	t.Refresh()
}

// Text returns the word on the tag.
func (t *stateTag) Text() string { return t.look.word }

// AccessibilityLabel gives screen readers the state in words.
func (t *stateTag) AccessibilityLabel() string { return "State: " + t.look.word }

// AccessibilityRole marks the tag as text.
func (t *stateTag) AccessibilityRole() fyne.AccessibleRole { return fyne.AccessibleRoleText }

// CreateRenderer is part of fyne.Widget.
func (t *stateTag) CreateRenderer() fyne.WidgetRenderer { return newTagRenderer(t) }

func (t *stateTag) tagLook() tagLook { return t.look }

func (t *stateTag) tagWords() []string { return t.words }

func (t *stateTag) tagSize() fyne.ThemeSizeName {
	if t.size == "" {
		return theme.SizeNameText
	}
	return t.size
}
