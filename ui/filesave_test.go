package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/model"
	"github.com/vigilops/vigil/ui/runmodel"
)

// shownOver is what is shown over win's content (a dialog), or nil.
func shownOver(win fyne.Window) fyne.CanvasObject {
	return win.Canvas().Overlays().Top()
}

// findShown is the first visible object under o that match accepts.
func findShown(o fyne.CanvasObject, match func(fyne.CanvasObject) bool) fyne.CanvasObject {
	if o == nil || !o.Visible() {
		return nil
	}
	if match(o) {
		return o
	}
	var kids []fyne.CanvasObject
	switch x := o.(type) {
	case *fyne.Container:
		kids = x.Objects
	case fyne.Widget:
		kids = test.WidgetRenderer(x).Objects()
	}
	for _, k := range kids {
		if f := findShown(k, match); f != nil {
			return f
		}
	}
	return nil
}

func buttonShown(o fyne.CanvasObject, text string) *widget.Button {
	f := findShown(o, func(o fyne.CanvasObject) bool {
		b, ok := o.(*widget.Button)
		return ok && b.Text == text
	})
	if f == nil {
		return nil
	}
	return f.(*widget.Button)
}

func entryShown(o fyne.CanvasObject, text string) *widget.Entry {
	f := findShown(o, func(o fyne.CanvasObject) bool {
		e, ok := o.(*widget.Entry)
		return ok && e.Text == text
	})
	if f == nil {
		return nil
	}
	return f.(*widget.Entry)
}

// pickInSaveDialog names the file in the file save dialog shown over win,
// whose file name field reads was, and presses Save.
func pickInSaveDialog(t *testing.T, win fyne.Window, was, name string) {
	t.Helper()
	d := shownOver(win)
	if d == nil {
		t.Fatal("no file dialog is shown")
	}
	field := entryShown(d, was)
	save := buttonShown(d, "Save")
	if field == nil || save == nil {
		t.Fatalf("the file dialog has no file name %q or no Save button:\n%s", was, labelText(d))
	}
	field.SetText(name)
	test.Tap(save)
}

// A typed path that names an existing file is replaced only after the
// operator says so; Choose… saves where a file dialog says, in the format
// the name chosen ends in.
func TestReportSaveAsksBeforeReplacing(t *testing.T) {
	rig := newWizardRig(t, newMemFleet(model.RolePrimary, model.RoleStandby))
	w := rig.startDrill("sam")
	r := w.run
	rig.waitQuestion(w, runmodel.AskSignOff)
	test.Tap(r.abort)
	test.Type(r.abortReason, "only the report is wanted")
	test.Tap(r.abortGo)
	rig.waitEnd(w)

	dir := t.TempDir()
	base := filepath.Join(dir, "report")
	old := []byte("the old report")
	if err := os.WriteFile(base+".md", old, 0o644); err != nil {
		t.Fatal(err)
	}
	r.savePath.SetText(base)

	// Declining leaves the old file as it was and writes nothing.
	test.Tap(r.saveMD)
	ask := shownOver(w.win)
	if ask == nil || !strings.Contains(labelText(ask), "Replace report.md?") || buttonShown(ask, "Replace") == nil {
		t.Fatalf("saving over report.md asks nothing: %v", ask)
	}
	test.Tap(buttonShown(ask, "Cancel"))
	if shownOver(w.win) != nil {
		t.Error("the question stays after Cancel")
	}
	if got, _ := os.ReadFile(base + ".md"); string(got) != string(old) {
		t.Errorf("declined, yet report.md now holds %.40q", got)
	}
	if r.saveStatus.Visible() {
		t.Errorf("declined, yet the status says %q", r.saveStatus.Text)
	}

	// Replace writes the report over it.
	test.Tap(r.saveMD)
	test.Tap(buttonShown(shownOver(w.win), "Replace"))
	rig.q.waitFor(t, "the report saved", func() bool { return strings.HasPrefix(r.saveStatus.Text, "Saved") })
	if got, _ := os.ReadFile(base + ".md"); !strings.HasPrefix(string(got), "# Run ") {
		t.Errorf("replaced report.md holds %.40q", got)
	}

	// Choose… opens a file dialog in the entry's folder with the entry's
	// name, and saves the report as HTML when the name chosen ends in .html.
	test.Tap(r.saveChoose)
	pickInSaveDialog(t, w.win, "report.md", "chosen.html")
	chosen := filepath.Join(dir, "chosen.html")
	rig.q.waitFor(t, "the chosen file saved", func() bool { return r.saveStatus.Text == "Saved "+chosen })
	if got, _ := os.ReadFile(chosen); !strings.HasPrefix(string(got), "<!DOCTYPE html>") {
		t.Errorf("chosen.html holds %.40q", got)
	}
	if r.savePath.Text != chosen {
		t.Errorf("the entry reads %q after the choice, want %q", r.savePath.Text, chosen)
	}
}

// Choose… in the export prompt picks the CSV file in a file dialog and
// exports to it at once.
func TestTimelineExportChoosesFile(t *testing.T) {
	_, tl, q := startTimeline(t, newFakeEvents(nightEvents()...), t0)
	dir := t.TempDir()
	test.Tap(tl.exportBtn)
	tl.prompt.path.SetText(filepath.Join(dir, "typed.csv"))
	test.Tap(tl.prompt.choose)
	pickInSaveDialog(t, tl.env.win, "typed.csv", "night.csv")
	path := filepath.Join(dir, "night.csv")
	q.waitFor(t, "the export to end", func() bool { return strings.HasPrefix(tl.status.Text, "Exported") })
	if tl.prompt != nil || !strings.HasSuffix(tl.status.Text, " to "+path+".") {
		t.Errorf("after the choice: prompt %v, status %q", tl.prompt, tl.status.Text)
	}
	if got, _ := os.ReadFile(path); !strings.HasPrefix(string(got), "time,system,server,kind") {
		t.Errorf("night.csv holds %.40q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "typed.csv")); err == nil {
		t.Error("the typed path was written too")
	}
}
