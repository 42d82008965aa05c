package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
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
	// muted: the role is not live (the server's last known, or what an
	// unpaired server announces), drawn grey so that it never passes for
	// a present fact.
	muted bool
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

// SetMuted greys the badge out: the role shown is history or hearsay, not
// what the console hears now. Call it on the UI goroutine.
func (b *RoleBadge) SetMuted(muted bool) {
	if muted == b.muted {
		return
	}
	b.muted = muted
	b.Refresh()
}

// Muted reports whether the badge is greyed out.
func (b *RoleBadge) Muted() bool { return b.muted }

// Role returns the role shown; a role the console does not know reads as
// unknown.
func (b *RoleBadge) Role() model.Role { return normalRole(b.role) }

// Text returns the word on the badge.
func (b *RoleBadge) Text() string { return lookOfRole(b.role).word }

// Fill returns the badge's background colour.
func (b *RoleBadge) Fill() color.Color { return b.tagLook().fill }

// AccessibilityLabel gives screen readers the role in words.
func (b *RoleBadge) AccessibilityLabel() string { return "Role: " + b.Text() }

// AccessibilityRole marks the badge as text: it does nothing when tapped.
func (b *RoleBadge) AccessibilityRole() fyne.AccessibleRole { return fyne.AccessibleRoleText }

// CreateRenderer is part of fyne.Widget.
func (b *RoleBadge) CreateRenderer() fyne.WidgetRenderer { return newTagRenderer(b) }

func (b *RoleBadge) tagLook() tagLook {
	look := lookOfRole(b.role)
	if b.muted {
		look.fill, look.ink = mutedFill, mutedInk
	}
	return look
}

// The muted badge: light grey with dark grey words, fixed like the roles'
// colours so that it reads the same in light and dark themes (6.5:1).
var (
	mutedFill = color.NRGBA{R: 0xd6, G: 0xd6, B: 0xd6, A: 0xff}
	mutedInk  = color.NRGBA{R: 0x42, G: 0x42, B: 0x42, A: 0xff}
)

// tagWords makes every badge as wide as the widest role's, so that server
// names line up in a column whatever the badges to their left say.
func (b *RoleBadge) tagWords() []string { return roleWords }

var roleWords = func() []string {
	var words []string
	for _, r := range model.Roles {
		words = append(words, lookOfRole(r).word)
	}
	return words
}()

func (b *RoleBadge) tagSize() fyne.ThemeSizeName { return theme.SizeNameText }
