package assets

import (
	_ "embed"

	"fyne.io/fyne/v2"
)

//go:embed icon.png
var iconPNG []byte

// Icon is the application icon, 512x512 PNG, for the window, the app and
// desktop notifications.
var Icon = fyne.NewStaticResource("icon.png", iconPNG)
