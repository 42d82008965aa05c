package ui

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/model"
)

// EventSource is the console's record of events, as the timeline reads it:
// the store for what happened, the monitor for what happens now.
type EventSource interface {
	// Events lists the stored events f selects, newest first (by time,
	// then id), at most f.Limit of them.
	Events(ctx context.Context, f model.EventFilter) ([]model.Event, error)
	// SubscribeEvents delivers every event stored from now on, in order,
	// until cancel is called; the channel is closed after cancel.
	SubscribeEvents() (events <-chan model.Event, cancel func())
}

// This file holds the timeline's wording and its pure parts: which events
// a filter selects, how an event reads, and the CSV export.

// matches says whether f selects e, as the store's Events does, so that a
// live event is shown only if a reload would show it.
func matches(f model.EventFilter, e model.Event) bool {
	switch {
	case !f.Since.IsZero() && e.Time.Before(f.Since):
		return false
	case !f.Until.IsZero() && !e.Time.Before(f.Until):
		return false
	case f.System != "" && e.System != f.System:
		return false
	case f.Server != "" && e.Server != f.Server:
		return false
	case len(f.Kinds) > 0 && !slices.Contains(f.Kinds, e.Kind):
		return false
	case f.MinSeverity.Rank() > 0 && e.Severity.Rank() < f.MinSeverity.Rank():
		return false
	}
	return true
}

// compareEvents orders events newest first, as the store lists them.
func compareEvents(a, b model.Event) int {
	return cmp.Or(b.Time.Compare(a.Time), cmp.Compare(b.ID, a.ID))
}

// severityLook is how a severity reads: a word and an icon as well as a
// colour, and a tint for the row of a critical event.
type severityLook struct {
	word       string
	importance widget.Importance
	icon       fyne.Resource
	bold       bool
	tint       bool
}

func lookOfSeverity(s model.Severity) severityLook {
	switch s {
	case model.SeverityCritical:
		return severityLook{"CRITICAL", widget.DangerImportance, theme.NewErrorThemedResource(theme.ErrorIcon()), true, true}
	case model.SeverityWarning:
		return severityLook{"warning", widget.WarningImportance, theme.NewWarningThemedResource(theme.WarningIcon()), true, false}
	case model.SeverityInfo:
		return severityLook{"info", widget.MediumImportance, theme.InfoIcon(), false, false}
	}
	return severityLook{dash(string(s)), widget.LowImportance, theme.NewDisabledResource(theme.QuestionIcon()), false, false}
}

// eventTime is an event's time as the timeline shows it: local, to the
// second, with the date, since the timeline spans days.
func eventTime(t time.Time) string {
	return t.Local().Format("2006-01-02 15:04:05")
}

// eventWhere is the system and the server an event is about; an event of a
// whole system has no server.
func eventWhere(e model.Event) string {
	switch {
	case e.System == "" && e.Server == "":
		return "-"
	case e.Server == "":
		return e.System
	case e.System == "":
		return e.Server
	}
	return e.System + " / " + e.Server
}

// arrow leads from one state to the next. It is not U+2192 (→), which
// Fyne's bundled font draws with a stray box beside it.
const arrow = "➜"

// eventChange is "from ➜ to", or as much of it as the event has.
func eventChange(e model.Event) string {
	switch {
	case e.From == "" && e.To == "":
		return ""
	case e.From == "":
		return arrow + " " + e.To
	case e.To == "":
		return e.From + " " + arrow
	}
	return e.From + " " + arrow + " " + e.To
}

// eventHeadline is an event in a few words, for a notification.
func eventHeadline(e model.Event) string {
	who := e.Server
	if who == "" {
		who = e.System
	}
	switch e.Kind {
	case model.EventDown:
		return who + " is down"
	case model.EventUnreachable:
		return who + " is unreachable"
	case model.EventSilent:
		return who + " fell silent"
	case model.EventUp:
		return who + " is up again"
	case model.EventRole:
		return fmt.Sprintf("%s: %s", who, eventChange(e))
	case model.EventSplitBrain:
		if e.Severity == model.SeverityCritical {
			return "SPLIT BRAIN in " + e.System + ": " + strings.ReplaceAll(e.To, ",", " and ") + " both primary"
		}
		return "split brain in " + e.System + " resolved"
	case model.EventNoPrimary:
		if e.Severity == model.SeverityCritical {
			return e.System + " has NO PRIMARY"
		}
		return e.System + " has a primary again"
	case model.EventFlapping:
		if e.To == "flapping" {
			return who + " is flapping"
		}
		return who + " is stable again"
	case model.EventIdentityChanged:
		return who + ": IDENTITY CHANGED"
	case model.EventConflict:
		return "another host claims to be " + who
	case model.EventConsoleStore:
		if e.To == "ok" {
			return "the console's store works again"
		}
		return "CONSOLE STORE FAILING: shown, not yet stored"
	case model.EventLag:
		return "lag on " + who
	case model.EventService:
		return "service on " + who + ": " + eventChange(e)
	}
	what := strings.TrimSpace(e.Kind + " " + eventChange(e))
	if who == "" {
		return what
	}
	return who + ": " + what
}

// csvHeader is the export's first line.
var csvHeader = []string{"time", "system", "server", "kind", "severity", "from", "to", "detail"}

// writeEventsCSV writes events as CSV with csvHeader first: RFC 4180
// quoting and CRLF line ends, as spreadsheets expect (encoding/csv also
// writes a line break inside a quoted field as CRLF; a CSV reader gives it
// back as it was). Times are UTC in RFC 3339 with nanoseconds, as `vigil
// watch --json` prints them.
func writeEventsCSV(w io.Writer, events []model.Event) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, e := range events {
		rec := []string{e.Time.UTC().Format(time.RFC3339Nano), e.System, e.Server, e.Kind, string(e.Severity), e.From, e.To, e.Detail}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// timeRange is a choice of the timeline's time filter.
type timeRange struct {
	label string
	back  time.Duration // how far back from now; 0 with custom false: any time
}

// The time ranges offered, and the custom one.
var (
	timeRanges = []timeRange{
		{"Any time", 0},
		{"Last hour", time.Hour},
		{"Last 24 hours", 24 * time.Hour},
		{"Last 7 days", 7 * 24 * time.Hour},
		{"Last 30 days", 30 * 24 * time.Hour},
	}
	customRange = "Between…"
)

// localTimeLayout is how the operator types a time for the custom range.
const localTimeLayout = "2006-01-02 15:04"

// parseLocalTime reads a time typed for the custom range: local time,
// "2006-01-02 15:04", or just a date. Empty is no bound.
func parseLocalTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{localTimeLayout, "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time such as %s", s, time.Date(2025, 3, 14, 2, 30, 0, 0, time.Local).Format(localTimeLayout))
}

// kindsLabel says which kinds the filter lets through.
func kindsLabel(kinds []string) string {
	switch {
	case len(kinds) == 0:
		return "All kinds"
	case len(kinds) <= 2:
		return strings.Join(kinds, ", ")
	}
	return fmt.Sprintf("%d kinds", len(kinds))
}

// severityChoices are the severity filter's options: the mildest severity
// shown.
var severityChoices = []struct {
	label string
	min   model.Severity
}{
	{"All severities", ""},
	{"Warning and critical", model.SeverityWarning},
	{"Critical only", model.SeverityCritical},
}
