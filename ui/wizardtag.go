package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
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
	look  stepLook
	size  fyne.ThemeSizeName
	words []string // the words whose widest sets the minimum width
}

func newStateTag(look stepLook, size fyne.ThemeSizeName, words []string) *stateTag {
	t := &stateTag{look: look, size: size, words: words}
	t.ExtendBaseWidget(t)
	return t
}

// set changes the tag. Call it on the UI goroutine.
func (t *stateTag) set(look stepLook) {
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
func (t *stateTag) CreateRenderer() fyne.WidgetRenderer {
	r := &tagRenderer{tag: t, fill: &canvas.Rectangle{},
		text: &canvas.Text{Alignment: fyne.TextAlignCenter, TextStyle: fyne.TextStyle{Bold: true}}}
	r.Refresh()
	return r
}

type tagRenderer struct {
	tag  *stateTag
	fill *canvas.Rectangle
	text *canvas.Text
}

func (r *tagRenderer) Layout(size fyne.Size) {
	r.fill.Resize(size)
	h := r.text.MinSize().Height
	r.text.Move(fyne.NewPos(0, (size.Height-h)/2))
	r.text.Resize(fyne.NewSize(size.Width, h))
}

func (r *tagRenderer) MinSize() fyne.Size {
	pad := r.tag.Theme().Size(theme.SizeNameInnerPadding)
	widest := fyne.MeasureText(r.tag.look.word, r.text.TextSize, r.text.TextStyle).Width
	for _, w := range r.tag.words {
		widest = max(widest, fyne.MeasureText(lookOfStep(w).word, r.text.TextSize, r.text.TextStyle).Width)
	}
	return fyne.NewSize(widest+2*pad, r.text.MinSize().Height+pad)
}

func (r *tagRenderer) Refresh() {
	th := r.tag.Theme()
	size := r.tag.size
	if size == "" {
		size = theme.SizeNameText
	}
	r.fill.FillColor = r.tag.look.fill
	r.fill.CornerRadius = th.Size(theme.SizeNameInputRadius)
	r.text.Text = r.tag.look.word
	r.text.Color = r.tag.look.ink
	if r.tag.look.ink == (color.NRGBA{}) {
		r.text.Color = white
	}
	r.text.TextSize = th.Size(size)
	r.fill.Refresh()
	r.text.Refresh()
}

func (r *tagRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.fill, r.text}
}

func (r *tagRenderer) Destroy() {}
