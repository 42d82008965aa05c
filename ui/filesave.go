package ui

import (
	"os"
	"path/filepath"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/widget"
)

// chooseSaveFile opens a file save dialog over win, starting in the folder
// of current (when that folder exists) with current's file name. The
// dialog itself asks before an existing file is replaced. When the
// operator picks a file, onChosen gets its path and the open writer the
// dialog made for it, which onChosen must close; cancelling calls nothing.
func chooseSaveFile(win fyne.Window, current string, onChosen func(path string, out fyne.URIWriteCloser)) *dialog.FileDialog {
	d := dialog.NewFileSave(func(out fyne.URIWriteCloser, err error) {
		if err != nil {
			dialog.ShowError(err, win)
			return
		}
		if out == nil {
			return
		}
		onChosen(out.URI().Path(), out)
	}, win)
	if current != "" {
		d.SetFileName(filepath.Base(current))
		dir := filepath.Dir(current)
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			if l, err := storage.ListerForURI(storage.NewFileURI(dir)); err == nil {
				d.SetLocation(l)
			}
		}
	}
	d.Show()
	return d
}

// askReplace asks before path, which exists, is replaced; onReplace runs
// only if the operator says so.
func askReplace(win fyne.Window, path string, onReplace func()) *dialog.ConfirmDialog {
	d := dialog.NewConfirm("Replace "+filepath.Base(path)+"?",
		path+" already exists.\nReplacing it loses what it holds.",
		func(ok bool) {
			if ok {
				onReplace()
			}
		}, win)
	d.SetConfirmText("Replace")
	d.SetDismissText("Cancel")
	d.SetConfirmImportance(widget.DangerImportance)
	d.Show()
	return d
}
