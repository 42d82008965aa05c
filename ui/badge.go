package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/model"
)

var (
	_ fyne.Widget     = (*RoleBadge)(nil)
	_ fyne.Accessible = (*RoleBadge)(nil)
)

// RoleBadge shows a server's generic role as a filled pill with the role's
// word in capitals, so it reads without colour.
type RoleBadge struct {
	widget.BaseWidget
	role model.Role
}

// NewRoleBadge returns a badge showing r.
func NewRoleBadge(r model.Role) *RoleBadge {
	b := &RoleBadge{role: r}
	b.ExtendBaseWidget(b)
	return b
}

// SetRole changes the role shown. Call it on the UI goroutine.
func (b *RoleBadge) SetRole(r model.Role) {
	if r == b.role {
		return
	}
	b.role = r
	b.Refresh()
}

// Role returns the role shown; a role the console does not know reads as
// unknown.
func (b *RoleBadge) Role() model.Role { return normalRole(b.role) }

// Text returns the word on the badge.
func (b *RoleBadge) Text() string { return lookOfRole(b.role).text }

// Fill returns the badge's background colour.
func (b *RoleBadge) Fill() color.Color { return lookOfRole(b.role).fill }

// AccessibilityLabel gives screen readers the role in words.
func (b *RoleBadge) AccessibilityLabel() string { return "Role: " + b.Text() }

// AccessibilityRole marks the badge as text: it does nothing when tapped.
func (b *RoleBadge) AccessibilityRole() fyne.AccessibleRole { return fyne.AccessibleRoleText }

// CreateRenderer is part of fyne.Widget.
func (b *RoleBadge) CreateRenderer() fyne.WidgetRenderer {
	r := &badgeRenderer{
		badge: b,
		fill:  &canvas.Rectangle{},
		text:  &canvas.Text{Alignment: fyne.TextAlignCenter, TextStyle: fyne.TextStyle{Bold: true}},
	}
	r.Refresh()
	return r
}

type badgeRenderer struct {
	badge *RoleBadge
	fill  *canvas.Rectangle
	text  *canvas.Text
}

func (r *badgeRenderer) Layout(size fyne.Size) {
	r.fill.Resize(size)
	h := r.text.MinSize().Height
	r.text.Move(fyne.NewPos(0, (size.Height-h)/2))
	r.text.Resize(fyne.NewSize(size.Width, h))
}

// MinSize is the same for every role, so that server names line up in a
// column whatever the badges to their left say.
func (r *badgeRenderer) MinSize() fyne.Size {
	pad := r.badge.Theme().Size(theme.SizeNameInnerPadding)
	var widest float32
	for _, role := range model.Roles {
		widest = max(widest, fyne.MeasureText(lookOfRole(role).text, r.text.TextSize, r.text.TextStyle).Width)
	}
	return fyne.NewSize(widest+2*pad, r.text.MinSize().Height+pad)
}

func (r *badgeRenderer) Refresh() {
	th := r.badge.Theme()
	look := lookOfRole(r.badge.role)
	r.fill.FillColor = look.fill
	r.fill.CornerRadius = th.Size(theme.SizeNameInputRadius)
	r.text.Text = look.text
	r.text.Color = look.ink
	r.text.TextSize = th.Size(theme.SizeNameText)
	r.fill.Refresh()
	r.text.Refresh()
}

func (r *badgeRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.fill, r.text}
}

func (r *badgeRenderer) Destroy() {}
