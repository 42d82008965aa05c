package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// confirmation is a modal question over the window: the operator answers
// it before a change is made.
type confirmation struct {
	question *widget.Label
	yes, no  *widget.Button
	popup    *widget.PopUp
}

// showConfirmation asks question over c with a button that says what will
// be done (yes) and Cancel; onYes runs only if the operator presses yes,
// onNo if Cancel.
func showConfirmation(c fyne.Canvas, title, question, detail, yes string, onNo, onYes func()) *confirmation {
	// The labels do not wrap: a wrapping label in a pop-up, which takes
	// its content's minimum size, would be one word wide. describeRequest
	// keeps questions short enough.
	d := &confirmation{question: widget.NewLabelWithStyle(question, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})}
	note := widget.NewLabel(detail)
	d.no = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), func() {
		d.popup.Hide()
		onNo()
	})
	d.yes = widget.NewButtonWithIcon(yes, theme.ConfirmIcon(), func() {
		d.popup.Hide()
		onYes()
	})
	d.yes.Importance = widget.DangerImportance
	head := widget.NewLabelWithStyle(title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	head.SizeName = theme.SizeNameSubHeadingText
	content := container.NewVBox(
		container.NewBorder(nil, nil, widget.NewIcon(theme.NewWarningThemedResource(theme.QuestionIcon())), nil, head),
		d.question, note,
		container.NewHBox(layout.NewSpacer(), d.no, d.yes),
	)
	d.popup = widget.NewModalPopUp(container.NewPadded(content), c)
	d.popup.Show()
	c.Focus(d.no) // Enter on a stray key press cancels rather than acts
	return d
}
