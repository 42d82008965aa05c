package ui

import (
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// StoreRecovery is what the window says when the console's store is
// damaged, and what it can do about it. The console does not start on a
// damaged store; the operator chooses how it starts again.
type StoreRecovery struct {
	Path, Why string
	// Backup describes the newest backup ("08 Dec 01:40, 3 h ago,
	// daily"); empty when there is none.
	Backup string
	// Restore sets the damaged store aside and starts from the newest
	// backup; Reset from an empty store; both return what went wrong.
	// Quit ends the console.
	Restore, Reset func() error
	Quit           func()
}

// storeRecoveryView is the window's content while the store is damaged.
type storeRecoveryView struct {
	restore, reset, quit *widget.Button
	result               *widget.Label
}

// ShowStoreRecovery fills w with the choices of r: start from the newest
// backup, start empty, or quit. Whatever is chosen, the damaged file is
// kept; the buttons say what each loses before it is pressed.
func ShowStoreRecovery(w fyne.Window, r StoreRecovery) {
	v := newStoreRecoveryView(r)
	w.SetContent(container.NewPadded(container.NewVBox(v.objects(r)...)))
}

func newStoreRecoveryView(r StoreRecovery) *storeRecoveryView {
	v := &storeRecoveryView{result: widget.NewLabel("")}
	v.result.Wrapping = fyne.TextWrapWord
	v.result.Importance = widget.DangerImportance
	act := func(do func() error) func() {
		return func() {
			v.restore.Disable()
			v.reset.Disable()
			if err := do(); err != nil {
				v.result.SetText(err.Error())
				v.restore.Enable()
				v.reset.Enable()
				if r.Backup == "" {
					v.restore.Disable()
				}
			}
		}
	}
	restoreText := "Start from the newest backup"
	if r.Backup != "" {
		restoreText = fmt.Sprintf("Start from the backup of %s", r.Backup)
	}
	v.restore = widget.NewButtonWithIcon(restoreText, theme.HistoryIcon(), act(r.Restore))
	v.restore.Importance = widget.HighImportance
	if r.Backup == "" {
		v.restore.Disable()
	}
	v.reset = widget.NewButtonWithIcon("Start with an empty store", theme.ContentClearIcon(), act(r.Reset))
	v.quit = widget.NewButtonWithIcon("Quit", theme.CancelIcon(), r.Quit)
	return v
}

func (v *storeRecoveryView) objects(r StoreRecovery) []fyne.CanvasObject {
	head := widget.NewLabelWithStyle("The console's store is damaged", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	head.SizeName = theme.SizeNameHeadingText
	why := widget.NewLabel(fmt.Sprintf("%s cannot be used: %s.", r.Path, r.Why))
	why.Wrapping = fyne.TextWrapWord
	backup := "There is no backup: only an empty store can be started."
	if r.Backup != "" {
		backup = "From the backup: the servers, pairings, alert settings and history as they were then; what changed since is lost."
	}
	lines := []fyne.CanvasObject{
		container.NewBorder(nil, nil, widget.NewIcon(theme.NewErrorThemedResource(theme.ErrorIcon())), nil, head),
		why,
		wrapped(backup),
		v.restore,
		wrapped("Empty: every server must be paired again; the history stays in the damaged file."),
		v.reset,
		wrapped("Either way the damaged file is kept beside the new one (vigil.db.damaged-TIME), and the agents go on running: they do not depend on the console."),
		v.result,
		v.quit,
	}
	return lines
}

func wrapped(s string) *widget.Label {
	l := widget.NewLabel(s)
	l.Wrapping = fyne.TextWrapWord
	return l
}

// BackupWords describes a backup for StoreRecovery.Backup.
func BackupWords(at time.Time, reason string, now time.Time) string {
	return fmt.Sprintf("%s (%s ago, %s)", at.Local().Format("02 Jan 15:04"), relativeAge(now.Sub(at)), reason)
}

func relativeAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	default:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	}
}
