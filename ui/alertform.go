package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/vigilops/vigil/alert"
	"github.com/vigilops/vigil/model"
)

// AlertConsole is what the alert settings view needs of the console: the
// saved settings, saving them with the password kept apart from them, a
// test email, and the outbox. The console implements it as `vigil alert`
// does; tests fake it. Every method may block (the store, the OS keyring,
// a mail server): the view calls them off the UI goroutine.
type AlertConsole interface {
	// AlertSettings returns the saved settings without the password
	// (PasswordRef says where it is kept); ok is false when none are saved.
	AlertSettings(ctx context.Context) (s alert.Settings, ok bool, err error)
	// SaveAlertSettings checks s and saves it. A password that is not
	// empty is kept first (in the OS keyring, or a file only the user can
	// read) and replaces s.PasswordRef; an empty one leaves s.PasswordRef
	// as it is. Settings at fault are an alert.ValidationError naming
	// each field, and then nothing is saved.
	SaveAlertSettings(ctx context.Context, s alert.Settings, password alert.Secret) error
	// TestAlert sends a test email now with s (and the password given, or
	// else the one s.PasswordRef points to) and returns the mail server's
	// reply.
	TestAlert(ctx context.Context, s alert.Settings, password alert.Secret) (reply string, err error)
	// AlertOutbox reads the outbox: what waits, what failed and why.
	AlertOutbox(ctx context.Context) (alert.Status, error)
}

var _ fyne.Widget = (*AlertView)(nil)

// outboxEvery is how often the outbox is read again while it is on screen.
const outboxEvery = 10 * time.Second

// AlertView is the email alert settings form, with a test email and the
// outbox beside it. Settings are checked as `vigil alert set` checks them
// (alert.Settings.Validate) before anything is saved or sent, and every
// problem is shown under the field it names. The password is write-only:
// the view says whether one is set, never what it is. Like any widget its
// methods must be called on the UI goroutine.
type AlertView struct {
	widget.BaseWidget
	env paneEnv
	ac  AlertConsole

	saved     alert.Settings // as last loaded: the password's ref comes from here
	haveSaved bool
	saving    bool
	testing   bool
	reading   bool
	lastRead  time.Time

	host, port, from, to, user, caFile, quiet, coalesce *widget.Entry
	password                                            *widget.Entry
	passwordState                                       *widget.Label
	mode                                                *widget.Select
	rules                                               *widget.Entry
	rulesSummary                                        *widget.Label
	errs                                                map[string]*widget.Label // by field, as FieldError names it
	save, revert                                        *widget.Button
	saveStatus                                          *widget.Label

	test       *widget.Button
	testBusy   *widget.Activity
	testWait   *widget.Label
	testRow    fyne.CanvasObject
	testResult *widget.Label

	outboxCounts *widget.Label
	outboxItems  *fyne.Container
	outboxRead   *widget.Label
	refresh      *widget.Button

	content fyne.CanvasObject
}

// TLS modes as the form offers them.
var tlsChoices = []struct {
	mode  alert.TLSMode
	label string
	port  int
}{
	{alert.TLSStartTLS, "STARTTLS (usually port 587)", 587},
	{alert.TLSImplicit, "TLS from the start (usually port 465)", 465},
	{alert.TLSNone, "None: plain text, this machine only (port 25)", 25},
}

func tlsLabel(m alert.TLSMode) string {
	for _, c := range tlsChoices {
		if c.mode == m {
			return c.label
		}
	}
	return ""
}

func tlsMode(label string) (alert.TLSMode, int) {
	for _, c := range tlsChoices {
		if c.label == label {
			return c.mode, c.port
		}
	}
	return "", 0
}

// The fields of the form, by the names alert.FieldError gives them.
const (
	fieldHost     = "smtp-host"
	fieldPort     = "smtp-port"
	fieldTLS      = "tls"
	fieldFrom     = "from"
	fieldTo       = "to"
	fieldUser     = "user"
	fieldPassword = "password"
	fieldCAFile   = "ca-file"
	fieldRules    = "rules" // "rule 2" is shown here
	fieldQuiet    = "quiet"
	fieldCoalesce = "coalesce"
)

func newAlertView(env paneEnv, ac AlertConsole) *AlertView {
	a := &AlertView{
		env:           env,
		ac:            ac,
		host:          widget.NewEntry(),
		port:          widget.NewEntry(),
		from:          widget.NewEntry(),
		to:            widget.NewEntry(),
		user:          widget.NewEntry(),
		caFile:        widget.NewEntry(),
		quiet:         widget.NewEntry(),
		coalesce:      widget.NewEntry(),
		password:      widget.NewPasswordEntry(),
		passwordState: widget.NewLabel(""),
		rules:         widget.NewMultiLineEntry(),
		rulesSummary:  wrapping(widget.NewLabel("")),
		errs:          map[string]*widget.Label{},
		saveStatus:    wrapping(widget.NewLabel("")),
		testBusy:      widget.NewActivity(),
		testWait:      wrapping(widget.NewLabel("")),
		testResult:    wrapping(widget.NewLabel("")),
		outboxCounts:  widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		outboxItems:   container.NewVBox(),
		outboxRead:    widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Italic: true}),
	}
	a.host.SetPlaceHolder("e.g. smtp.example.com")
	a.from.SetPlaceHolder("e.g. vigil@example.com")
	a.to.SetPlaceHolder("e.g. ops@example.com, oncall@example.com")
	a.user.SetPlaceHolder("none: the server takes mail without a login")
	a.caFile.SetPlaceHolder("optional: a PEM file, for a private CA")
	a.quiet.SetPlaceHolder("off, or 22:00-07:00")
	a.coalesce.SetPlaceHolder(alert.DefaultCoalesce.String())
	a.rules.SetPlaceHolder("none; e.g. critical=oncall@example.com\nwarning,critical:lag=dba@example.com")
	a.rules.SetMinRowsVisible(3)
	a.rulesSummary.TextStyle.Italic = true
	a.testResult.Selectable = true

	labels := make([]string, len(tlsChoices))
	for i, c := range tlsChoices {
		labels[i] = c.label
	}
	a.mode = widget.NewSelect(labels, func(string) { a.modeChosen() })
	a.mode.Selected = labels[0]
	a.port.SetPlaceHolder(strconv.Itoa(tlsChoices[0].port))
	a.user.OnChanged = func(string) { a.showPasswordState() }
	a.password.OnChanged = func(string) { a.showPasswordState() }
	a.rules.OnChanged = func(string) { a.showRulesSummary() }
	a.to.OnChanged = func(string) { a.showRulesSummary() }

	row := func(field, label string, input fyne.CanvasObject, extra ...fyne.CanvasObject) []fyne.CanvasObject {
		e := wrapping(widget.NewLabel(""))
		e.Importance = widget.DangerImportance
		e.TextStyle.Bold = true
		e.Hide()
		a.errs[field] = e
		return []fyne.CanvasObject{key(label), container.NewVBox(append(append([]fyne.CanvasObject{input}, extra...), e)...)}
	}
	var form []fyne.CanvasObject
	form = append(form, row(fieldHost, "Mail server", a.host)...)
	form = append(form, row(fieldPort, "Port", a.port)...)
	form = append(form, row(fieldTLS, "Security", a.mode)...)
	form = append(form, row(fieldFrom, "From", a.from)...)
	form = append(form, row(fieldTo, "To", a.to)...)
	form = append(form, row(fieldUser, "Login", a.user)...)
	form = append(form, row(fieldPassword, "Password", a.password, a.passwordState)...)
	form = append(form, row(fieldCAFile, "Trusted CA file", a.caFile)...)
	rulesHint := wrapping(widget.NewLabel("One rule a line: SEVERITIES[:KINDS][=ADDRESSES], as vigil alert set --rule takes it. " +
		"Without rules, warning and critical events go to To."))
	form = append(form, row(fieldRules, "Rules", a.rules, a.rulesSummary, rulesHint)...)
	form = append(form, row(fieldQuiet, "Quiet hours", a.quiet)...)
	form = append(form, row(fieldCoalesce, "Coalesce", a.coalesce)...)

	a.save = widget.NewButtonWithIcon("Save", theme.DocumentSaveIcon(), a.doSave)
	a.save.Importance = widget.HighImportance
	a.revert = widget.NewButtonWithIcon("Revert", theme.ContentUndoIcon(), a.load)
	a.saveStatus.Hide()

	settingsHead := heading("Email alert settings")
	settingsHead.SizeName = theme.SizeNameSubHeadingText
	// Save and its outcome stay in sight below the form, which scrolls.
	settings := container.NewBorder(nil, container.NewPadded(container.NewVBox(a.saveStatus, container.NewHBox(a.save, a.revert))), nil, nil,
		container.NewVScroll(container.NewPadded(container.NewVBox(settingsHead, container.New(layout.NewFormLayout(), form...)))))

	a.test = widget.NewButtonWithIcon("Send test email", theme.MailSendIcon(), a.doTest)
	a.testRow = container.NewBorder(nil, nil, a.testBusy, nil, a.testWait)
	a.testRow.Hide()
	a.testResult.Hide()
	testHead := heading("Test email")
	testHead.SizeName = theme.SizeNameSubHeadingText
	testNote := wrapping(widget.NewLabel("Sends a message now, with the settings in the form (saved or not), to every address they name."))

	a.refresh = widget.NewButtonWithIcon("Refresh", theme.ViewRefreshIcon(), a.readOutbox)
	outboxHead := heading("Outbox")
	outboxHead.SizeName = theme.SizeNameSubHeadingText
	side := container.NewVBox(testHead, testNote, container.NewHBox(a.test), a.testRow, a.testResult,
		widget.NewSeparator(),
		container.NewBorder(nil, nil, outboxHead, a.refresh), a.outboxCounts, a.outboxItems, a.outboxRead)

	split := container.NewHSplit(settings, container.NewVScroll(container.NewPadded(side)))
	split.Offset = 0.58
	a.content = split
	a.ExtendBaseWidget(a)
	a.showPasswordState()
	a.showRulesSummary()
	return a
}

// CreateRenderer is part of fyne.Widget.
func (a *AlertView) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(a.content)
}

// modeChosen suggests the mode's usual port, unless the operator typed one.
func (a *AlertView) modeChosen() {
	_, port := tlsMode(a.mode.Selected)
	a.port.SetPlaceHolder(strconv.Itoa(port))
	a.port.Refresh()
}

// load reads the saved settings into the form, dropping what was typed.
func (a *AlertView) load() {
	env, ac := a.env, a.ac
	env.requests.goRequest(func() {
		ctx, cancel := context.WithTimeout(env.ctx, 30*time.Second)
		s, ok, err := ac.AlertSettings(ctx)
		cancel()
		env.do(func() { a.fill(s, ok, err) })
	})
}

func (a *AlertView) fill(s alert.Settings, ok bool, err error) {
	if err != nil {
		a.showSaveStatus("The saved settings could not be read: "+guiWords(err.Error()), widget.DangerImportance)
		return
	}
	a.saved, a.haveSaved = s, ok
	a.clearErrors()
	a.host.SetText(s.Host)
	a.port.SetText("")
	if s.Port != 0 {
		a.port.SetText(strconv.Itoa(s.Port))
	}
	if l := tlsLabel(s.TLS); l != "" {
		a.mode.SetSelected(l)
	}
	a.from.SetText(s.From)
	a.to.SetText(strings.Join(s.To, ", "))
	a.user.SetText(s.User)
	a.password.SetText("")
	a.caFile.SetText(s.CAFile)
	var rules []string
	for _, r := range s.Rules {
		rules = append(rules, r.String())
	}
	a.rules.SetText(strings.Join(rules, "\n"))
	a.quiet.SetText("")
	if s.Quiet.On() {
		a.quiet.SetText(s.Quiet.String())
	}
	a.coalesce.SetText("")
	if s.Coalesce != 0 {
		a.coalesce.SetText(time.Duration(s.Coalesce).String())
	}
	if !ok {
		a.showSaveStatus("Email alerts are not set up yet: fill in the form and save.", widget.WarningImportance)
	} else {
		a.saveStatus.Hide()
	}
	a.showPasswordState()
	a.showRulesSummary()
}

// passwordRef is where the password the form would save is kept: the saved
// one, while the login is the saved login.
func (a *AlertView) passwordRef() string {
	if a.haveSaved && a.saved.PasswordRef != "" && strings.TrimSpace(a.user.Text) == a.saved.User {
		return a.saved.PasswordRef
	}
	return ""
}

func (a *AlertView) showPasswordState() {
	ref := a.passwordRef()
	switch {
	case a.password.Text != "" && ref != "":
		a.passwordState.SetText("set; what you typed replaces it when you save")
	case a.password.Text != "":
		a.passwordState.SetText("not set; what you typed is kept when you save")
	case ref != "":
		a.passwordState.SetText("set (kept " + alert.DescribeRef(ref) + "); type to replace it")
	case strings.TrimSpace(a.user.Text) != "":
		a.passwordState.SetText("not set: type the login's password")
	default:
		a.passwordState.SetText("not set (no login)")
	}
}

// showRulesSummary says in words who gets what, as the rules typed say.
func (a *AlertView) showRulesSummary() {
	rules, _ := parseRules(a.rules.Text)
	to, _ := alert.ParseAddresses(a.to.Text)
	a.rulesSummary.SetText(rulesSummary(rules, to))
}

// parseRules reads one rule a line; the errors name the rule's number, as
// alert.Settings.Validate does.
func parseRules(text string) ([]alert.Rule, alert.ValidationError) {
	var rules []alert.Rule
	var errs alert.ValidationError
	n := 0
	for line := range strings.SplitSeq(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		n++
		r, err := alert.ParseRule(line)
		if err != nil {
			errs = append(errs, alert.FieldError{Field: fmt.Sprintf("rule %d", n), Problem: err.Error()})
			continue
		}
		rules = append(rules, r)
	}
	return rules, errs
}

// rulesSummary says who gets which events: "Critical events go to
// oncall@…", one rule a line.
func rulesSummary(rules []alert.Rule, to []string) string {
	dest := func(list []string) string {
		if len(list) == 0 {
			if len(to) == 0 {
				return "To (not given yet)"
			}
			return strings.Join(to, ", ")
		}
		return strings.Join(list, ", ")
	}
	if len(rules) == 0 {
		return "Warning and critical events go to " + dest(nil)
	}
	var parts []string
	for _, r := range rules {
		sev := "All"
		if len(r.Severities) > 0 {
			words := make([]string, len(r.Severities))
			for i, s := range r.Severities {
				words[i] = string(s)
			}
			sev = joinAnd(words)
			sev = strings.ToUpper(sev[:1]) + sev[1:]
		}
		kinds := ""
		if len(r.Kinds) > 0 {
			kinds = " " + strings.Join(r.Kinds, ", ")
		}
		parts = append(parts, sev+kinds+" events go to "+dest(r.To))
	}
	return strings.Join(parts, "\n")
}

func joinAnd(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// formSettings reads the form: the settings, the password typed, and every
// problem, by field, before anything is saved or sent.
func (a *AlertView) formSettings() (alert.Settings, alert.Secret, alert.ValidationError) {
	var errs alert.ValidationError
	bad := func(field, format string, args ...any) {
		errs = append(errs, alert.FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	mode, defaultPort := tlsMode(a.mode.Selected)
	s := alert.Settings{
		Host:        strings.TrimSpace(a.host.Text),
		TLS:         mode,
		From:        strings.TrimSpace(a.from.Text),
		User:        strings.TrimSpace(a.user.Text),
		CAFile:      strings.TrimSpace(a.caFile.Text),
		PasswordRef: a.passwordRef(),
		Port:        defaultPort,
	}
	if p := strings.TrimSpace(a.port.Text); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			bad(fieldPort, "%q is not a port number (1-65535)", p)
		}
		s.Port = n
	}
	if strings.TrimSpace(a.to.Text) != "" {
		list, err := alert.ParseAddresses(a.to.Text)
		if err != nil {
			bad(fieldTo, "%v", err)
		}
		s.To = list
	}
	rules, ruleErrs := parseRules(a.rules.Text)
	s.Rules = rules
	errs = append(errs, ruleErrs...)
	q, err := alert.ParseQuiet(a.quiet.Text)
	if err != nil {
		bad(fieldQuiet, "%v", err)
	} else {
		s.Quiet = q
	}
	if c := strings.TrimSpace(a.coalesce.Text); c != "" {
		d, err := time.ParseDuration(c)
		if err != nil {
			bad(fieldCoalesce, "%q is not a duration such as 10s or 1m", c)
		}
		s.Coalesce = alert.Duration(d)
	}
	password := alert.Secret(a.password.Text)

	// What the form could not read is reported once, as read; Validate
	// reports everything else.
	check := s
	check.Password = password
	var ve alert.ValidationError
	if errors.As(check.Validate(), &ve) {
		for _, fe := range ve {
			if !slices.ContainsFunc(errs, func(e alert.FieldError) bool { return fieldOf(e.Field) == fieldOf(fe.Field) }) {
				errs = append(errs, fe)
			}
		}
	}
	return s, password, errs
}

// fieldOf is the form field a FieldError names.
func fieldOf(field string) string {
	if strings.HasPrefix(field, "rule ") {
		return fieldRules
	}
	return strings.TrimPrefix(field, "--")
}

// guiWords turns the command line's advice into the form's words.
func guiWords(s string) string {
	return strings.NewReplacer(
		"give --password-file", "type it under Password",
		"--password-file", "Password",
		"with --smtp-port", "under Port",
		"--smtp-host", "Mail server",
		"--smtp-port", "Port",
		"--tls", "Security",
		"--ca-file", "Trusted CA file",
		"--user and the password file", "Login and Password",
		"--user", "Login",
		"--from", "From",
		"run vigil alert set", "fill in this form and save",
	).Replace(s)
}

func (a *AlertView) clearErrors() {
	for _, l := range a.errs {
		l.SetText("")
		l.Hide()
	}
}

// showErrors shows each problem under its field; what names no field
// here is returned.
func (a *AlertView) showErrors(ve alert.ValidationError) []string {
	a.clearErrors()
	byField := map[string][]string{}
	var other []string
	for _, fe := range ve {
		f := fieldOf(fe.Field)
		problem := guiWords(fe.Problem)
		if f == fieldRules {
			problem = fe.Field + ": " + problem
		}
		if _, ok := a.errs[f]; !ok {
			other = append(other, fe.Field+": "+problem)
			continue
		}
		byField[f] = append(byField[f], problem)
	}
	for f, problems := range byField {
		l := a.errs[f]
		l.SetText(strings.Join(problems, "\n"))
		l.Show()
	}
	return other
}

// FieldErrors returns the problems shown, by field.
func (a *AlertView) FieldErrors() map[string]string {
	out := map[string]string{}
	for f, l := range a.errs {
		if l.Visible() && l.Text != "" {
			out[f] = l.Text
		}
	}
	return out
}

func (a *AlertView) showSaveStatus(text string, imp widget.Importance) {
	a.saveStatus.Importance = imp
	a.saveStatus.TextStyle.Bold = imp == widget.DangerImportance
	a.saveStatus.SetText(text)
	a.saveStatus.Show()
}

// notValid says what is wrong in a sentence, under the fields.
func notValid(what string, ve alert.ValidationError, other []string) string {
	msg := fmt.Sprintf("%s: fix the %s marked in red.", what, plural(len(ve)-len(other), "setting", "settings"))
	if len(ve) == len(other) {
		msg = what + "."
	}
	if len(other) > 0 {
		msg += " " + strings.Join(other, "; ")
	}
	return msg
}

func (a *AlertView) doSave() {
	if a.saving {
		return
	}
	s, password, errs := a.formSettings()
	if len(errs) > 0 {
		other := a.showErrors(errs)
		a.showSaveStatus(notValid("Not saved", errs, other), widget.DangerImportance)
		return
	}
	a.clearErrors()
	a.saving = true
	setEnabled(a.save, false)
	a.showSaveStatus("Saving…", widget.MediumImportance)
	env, ac := a.env, a.ac
	started := env.requests.goRequest(func() {
		ctx, cancel := context.WithTimeout(env.ctx, time.Minute)
		err := ac.SaveAlertSettings(ctx, s, password)
		var saved alert.Settings
		var ok bool
		var lerr error
		if err == nil {
			saved, ok, lerr = ac.AlertSettings(ctx)
		}
		cancel()
		env.do(func() { a.afterSave(s, err, saved, ok, lerr) })
	})
	if !started {
		a.saving = false
		setEnabled(a.save, true)
	}
}

// afterSave shows how a save went.
func (a *AlertView) afterSave(s alert.Settings, err error, saved alert.Settings, ok bool, lerr error) {
	a.saving = false
	setEnabled(a.save, true)
	var ve alert.ValidationError
	switch {
	case errors.As(err, &ve):
		other := a.showErrors(ve)
		a.showSaveStatus(notValid("Not saved", ve, other), widget.DangerImportance)
		return
	case err != nil:
		a.showSaveStatus("Not saved: "+guiWords(err.Error()), widget.DangerImportance)
		return
	case lerr != nil || !ok:
		// Saved, but not read back: keep the form as typed.
		a.password.SetText("")
		a.showSaveStatus("Saved.", widget.SuccessImportance)
		return
	}
	a.fill(saved, ok, nil)
	msg := fmt.Sprintf("Saved: alerts go through %s (%s) from now on.", s.Addr(), s.TLS)
	if saved.User != "" && saved.PasswordRef != "" {
		msg += " The password is kept " + alert.DescribeRef(saved.PasswordRef) + "."
	}
	a.showSaveStatus(msg, widget.SuccessImportance)
	a.readOutbox()
}

func (a *AlertView) doTest() {
	if a.testing {
		return
	}
	s, password, errs := a.formSettings()
	if len(errs) > 0 {
		other := a.showErrors(errs)
		a.showTestResult(notValid("Not sent", errs, other), widget.DangerImportance)
		return
	}
	a.clearErrors()
	a.testing = true
	setEnabled(a.test, false)
	a.testResult.Hide()
	a.testWait.SetText(fmt.Sprintf("Sending a test email through %s (%s) to %s…", s.Addr(), s.TLS, strings.Join(s.AllRecipients(), ", ")))
	a.testRow.Show()
	a.testBusy.Start()
	env, ac := a.env, a.ac
	started := env.requests.goRequest(func() {
		ctx, cancel := context.WithTimeout(env.ctx, 2*time.Minute)
		reply, err := ac.TestAlert(ctx, s, password)
		cancel()
		env.do(func() { a.tested(reply, err) })
	})
	if !started {
		a.tested("", errors.New("the window is closing"))
	}
}

func (a *AlertView) tested(reply string, err error) {
	a.testing = false
	setEnabled(a.test, true)
	a.testBusy.Stop()
	a.testRow.Hide()
	var ve alert.ValidationError
	switch {
	case errors.As(err, &ve):
		other := a.showErrors(ve)
		a.showTestResult(notValid("Not sent", ve, other), widget.DangerImportance)
	case err != nil:
		a.showTestResult("Not sent: "+guiWords(err.Error()), widget.DangerImportance)
	default:
		a.showTestResult("The mail server accepted it: "+reply, widget.SuccessImportance)
	}
}

func (a *AlertView) showTestResult(text string, imp widget.Importance) {
	a.testResult.Importance = imp
	a.testResult.TextStyle.Bold = imp == widget.DangerImportance
	a.testResult.SetText(text)
	a.testResult.Show()
}

// readOutbox reads the outbox again, unless a read is under way.
func (a *AlertView) readOutbox() {
	if a.reading {
		return
	}
	a.reading = true
	a.lastRead = a.env.now()
	env, ac := a.env, a.ac
	started := env.requests.goRequest(func() {
		ctx, cancel := context.WithTimeout(env.ctx, 30*time.Second)
		st, err := ac.AlertOutbox(ctx)
		cancel()
		env.do(func() { a.showOutbox(st, err) })
	})
	if !started {
		a.reading = false
	}
}

// tick reads the outbox again now and then while it is on screen.
func (a *AlertView) tick(now time.Time) {
	if now.Sub(a.lastRead) >= outboxEvery {
		a.readOutbox()
	}
}

func (a *AlertView) showOutbox(st alert.Status, err error) {
	a.reading = false
	now := a.env.now()
	if err != nil {
		a.outboxCounts.Importance = widget.DangerImportance
		a.outboxCounts.SetText("The outbox could not be read: " + err.Error())
		return
	}
	a.outboxCounts.Importance = widget.MediumImportance
	if st.Failed > 0 {
		a.outboxCounts.Importance = widget.DangerImportance
	} else if st.Pending > 0 {
		a.outboxCounts.Importance = widget.WarningImportance
	}
	a.outboxCounts.SetText(fmt.Sprintf("%d pending · %d sent · %d failed", st.Pending, st.Sent, st.Failed))
	var items []fyne.CanvasObject
	for _, line := range outboxLines(st, now) {
		l := wrapping(widget.NewLabel(line.text))
		l.Importance = line.importance
		items = append(items, l)
	}
	if len(items) == 0 {
		items = append(items, widget.NewLabel("Nothing waits and nothing failed."))
	}
	a.outboxItems.Objects = items
	a.outboxItems.Refresh()
	a.outboxRead.SetText("read at " + now.Local().Format("15:04:05"))
}

type outboxLine struct {
	text       string
	importance widget.Importance
}

// outboxLines says what waits and why, and what failed and why.
func outboxLines(st alert.Status, now time.Time) []outboxLine {
	const most = 8
	var out []outboxLine
	for i, it := range st.Queue {
		if i == most {
			out = append(out, outboxLine{fmt.Sprintf("and %d more waiting (vigil alert show lists them all)", len(st.Queue)-most), widget.MediumImportance})
			break
		}
		next := "now"
		if it.NextAttempt.After(now) {
			next = "in " + it.NextAttempt.Sub(now).Round(time.Second).String()
		}
		s := fmt.Sprintf("Waiting: %s, to %s; %s, next %s", it.Subject, strings.Join(it.Recipients, ", "),
			plural(it.Attempts, "attempt", "attempts"), next)
		if it.LastError != "" {
			s += "; last error: " + it.LastError
		}
		out = append(out, outboxLine{s, widget.WarningImportance})
	}
	for i, it := range st.Failures {
		if i == most {
			out = append(out, outboxLine{fmt.Sprintf("and %d more failed (vigil alert show lists them all)", len(st.Failures)-most), widget.MediumImportance})
			break
		}
		when := it.Done.Local().Format("2006-01-02 15:04")
		if it.State != model.OutboxFailed {
			out = append(out, outboxLine{fmt.Sprintf("Refused %s: %s was sent, but refused for %s", when, it.Subject, it.Rejected), widget.WarningImportance})
			continue
		}
		out = append(out, outboxLine{fmt.Sprintf("FAILED %s: %s, to %s: %s", when, it.Subject, strings.Join(it.Recipients, ", "), dash(it.Reply)), widget.DangerImportance})
	}
	return out
}
