package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
)

// tagLook is how a tag reads and what it is painted with: a word in
// capitals on a filled background, so that it reads without colour (role
// badges, step and run states).
type tagLook struct {
	word string
	fill color.NRGBA
	ink  color.NRGBA // white when zero
}

// tagged is a widget drawn as a tag by tagRenderer.
type tagged interface {
	Theme() fyne.Theme
	// tagLook is what the tag shows now.
	tagLook() tagLook
	// tagWords are the words whose widest sets the tag's minimum width,
	// so that tags of one column share a width and what stands beside
	// them lines up.
	tagWords() []string
	// tagSize is the theme size of the word.
	tagSize() fyne.ThemeSizeName
}

func newTagRenderer(t tagged) *tagRenderer {
	r := &tagRenderer{tag: t, fill: &canvas.Rectangle{},
		text: &canvas.Text{Alignment: fyne.TextAlignCenter, TextStyle: fyne.TextStyle{Bold: true}}}
	r.Refresh()
	return r
}

type tagRenderer struct {
	tag  tagged
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
	widest := fyne.MeasureText(r.text.Text, r.text.TextSize, r.text.TextStyle).Width
	for _, w := range r.tag.tagWords() {
		widest = max(widest, fyne.MeasureText(w, r.text.TextSize, r.text.TextStyle).Width)
	}
	return fyne.NewSize(widest+2*pad, r.text.MinSize().Height+pad)
}

func (r *tagRenderer) Refresh() {
	th := r.tag.Theme()
	look := r.tag.tagLook()
	r.fill.FillColor = look.fill
	r.fill.CornerRadius = th.Size(theme.SizeNameInputRadius)
	r.text.Text = look.word
	r.text.Color = look.ink
	if look.ink == (color.NRGBA{}) {
		r.text.Color = white
	}
	r.text.TextSize = th.Size(r.tag.tagSize())
	r.fill.Refresh()
	r.text.Refresh()
}

func (r *tagRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.fill, r.text}
}

func (r *tagRenderer) Destroy() {}
