package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vigilops/vigil/model"
)

// Context is what the console knows when it raises an alert.
type Context struct {
	// Summary is the current state in a line or two: "K2server2 is now
	// primary; 1 of 2 K2 servers up".
	Summary string
	// Procedure is the procedure that fits, a name or a link; optional.
	Procedure string
}

// FirstAlertSettle is how long the first email of an incident waits for
// the events of the same moment to join it: a primary's agent dies, and
// its system's verdict changes within milliseconds. The coalescing window
// applies from the second email on.
const FirstAlertSettle = time.Second

// Outbox queues alerts in the console store and sends them by email.
//
// Exactly once, and where it is only at least once:
//
//   - Enqueue writes the event (when it has no ID yet) and its outbox entry
//     in one transaction, before any attempt to send; an event already
//     queued for the same recipients is not queued again.
//   - A message is claimed in a transaction before it is sent (the attempt
//     is counted, and a lease keeps another console on the same store off
//     it), and is marked sent the moment the server accepts it, before the
//     QUIT and before logging. If that write fails, the outbox remembers the
//     message in memory, never sends it again, and keeps trying to record it.
//   - Once the message is being handed over, cancelling Run does not abort
//     the conversation: it runs to the server's answer, bounded by
//     the 90 s allowed for that answer.
//   - What remains is at least once: if the console dies (or the store is
//     lost, as with a power cut before SQLite's WAL reaches the disk) after
//     the server accepted the message and before it was recorded, or if the
//     server's answer to the message never arrives, the message is sent
//     again after a restart or a retry. It then carries the same Message-ID,
//     which lets mail systems and readers recognise the duplicate.
//   - After a crash, a message that was being sent waits for its lease
//     (the 3 min an attempt may take, plus a minute) before it is tried again.
type Outbox struct {
	store Store
	src   Source
	log   *slog.Logger
	owner string
	wake  chan struct{}

	// MinBackoff and MaxBackoff bound the wait between attempts at a
	// message while the mail server cannot take it: it doubles from
	// MinBackoff, with ±25% jitter, up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// GiveUpAfter is how long a message is retried before it is recorded
	// as failed; zero retries for ever.
	GiveUpAfter time.Duration

	now    func() time.Time
	jitter func() float64 // in [0, 1)
	loc    *time.Location // for quiet hours and the times in messages
	client client
	// idle is the longest the sender sleeps: it then looks for mail other
	// processes queued and for changed settings.
	idle time.Duration

	mu       sync.Mutex
	unmarked map[uint]delivery // accepted by the server, not yet recorded
	unstored map[string]bool   // events alerted from memory, not yet stored (eventKey)
}

// New returns an outbox on store that reads its settings from src. Run
// sends; Enqueue and Status may be called without it.
func New(db Store, src Source, log *slog.Logger) *Outbox {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var id [6]byte
	rand.Read(id[:])
	return &Outbox{
		store: db, src: src, log: log,
		owner:       fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(id[:])),
		wake:        make(chan struct{}, 1),
		MinBackoff:  5 * time.Second,
		MaxBackoff:  5 * time.Minute,
		GiveUpAfter: 24 * time.Hour,
		now:         time.Now,
		jitter:      mrand.Float64,
		loc:         time.Local,
		client:      newClient(),
		idle:        30 * time.Second,
		unmarked:    map[uint]delivery{},
		unstored:    map[string]bool{},
	}
}

// Enqueue queues an alert about e for the recipients the rules give it, in
// the same transaction that stores e when e.ID is 0. Enqueueing an event
// that already has an ID again does nothing. Without saved settings the
// event is stored (when new) and nothing is queued.
func (o *Outbox) Enqueue(ctx context.Context, e model.Event, c Context) error {
	_, err := o.Record(ctx, e, c)
	return err
}

// Record is Enqueue that also returns the event as stored, with its id:
// the monitor records every event through it, so an event and its alert
// are stored together or not at all.
func (o *Outbox) Record(ctx context.Context, e model.Event, c Context) (model.Event, error) {
	s, err := o.src.Settings(ctx)
	var rcpt []string
	switch {
	case errors.Is(err, ErrNotConfigured):
	case err != nil:
		// The event itself must not be lost because the settings are
		// unreadable: store it without an alert, and say so.
		o.log.Error("alert settings unreadable; event stored without an alert", "kind", e.Kind, "server", e.Server, "err", err)
	default:
		rcpt = s.recipients(e)
	}
	now := o.now()
	already := o.alertedUnstored(e)
	queue := rcpt
	if already {
		queue = nil // alerted from memory while the store refused it
	}
	stored, queued, err := o.store.EnqueueAlert(ctx, model.AlertRequest{
		Event: e, Summary: c.Summary, Procedure: c.Procedure, Recipients: strings.Join(queue, ","),
		Now: now, Clock: o.now, Window: s.Window(), Settle: FirstAlertSettle, JoinHeld: s.Quiet.active(now.In(o.loc)),
		NewMessageID: func() string { return newMessageID(s.From) },
	})
	if err != nil {
		if !already && len(rcpt) > 0 && (e.Severity == model.SeverityCritical || !s.Quiet.active(now.In(o.loc))) {
			// The store cannot queue it: send it now, from memory.
			o.sendUnstored(s, rcpt, e, c)
		}
		return e, err
	}
	if already {
		o.storedUnstored(e)
	}
	if queued {
		o.log.Info("alert queued", "event", stored.ID, "kind", stored.Kind, "server", stored.Server,
			"system", stored.System, "severity", stored.Severity, "to", strings.Join(rcpt, ","))
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
	return stored, nil
}

// Run sends queued alerts until ctx ends, then returns ctx's error.
func (o *Outbox) Run(ctx context.Context) error {
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := o.store.ReleaseOutboxClaims(rctx, o.owner); err != nil {
			o.log.Warn("release outbox claims", "err", err)
		}
	}()
	for {
		next := o.sendDue(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d := min(next.Sub(o.now()), o.idle)
		t := time.NewTimer(max(d, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-o.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// sendDue sends every message that is due and returns when the next one
// will be.
func (o *Outbox) sendDue(ctx context.Context) time.Time {
	o.retryMarks(ctx)
	s, err := o.src.Settings(ctx)
	if errors.Is(err, ErrNotConfigured) {
		return o.now().Add(o.idle)
	}
	if err != nil {
		if ctx.Err() == nil {
			o.log.Warn("cannot read alert settings; alerts wait", "err", err)
		}
		return o.now().Add(o.MinBackoff)
	}
	for ctx.Err() == nil {
		now := o.now()
		m, err := o.store.ClaimOutbox(ctx, o.owner, now, o.client.timeouts.Attempt+time.Minute,
			func(m model.OutboxMessage) bool { return o.ready(s, m, now) })
		if err != nil {
			if ctx.Err() == nil {
				o.log.Warn("cannot read the alert outbox", "err", err)
			}
			return now.Add(o.MinBackoff)
		}
		if m == nil {
			break
		}
		o.deliver(ctx, s, m)
	}
	return o.nextDue(ctx, s)
}

// ready says whether m may go out at now: not during quiet hours unless it
// is critical, and never when it was accepted already.
func (o *Outbox) ready(s Settings, m model.OutboxMessage, now time.Time) bool {
	if o.isUnmarked(m.ID) {
		return false
	}
	return m.Severity == model.SeverityCritical || !s.Quiet.active(now.In(o.loc))
}

// nextDue returns when the next pending message becomes due.
func (o *Outbox) nextDue(ctx context.Context, s Settings) time.Time {
	now := o.now()
	next := now.Add(o.idle)
	pending, err := o.store.OutboxMessages(ctx, model.OutboxFilter{States: []string{model.OutboxPending}, NoEvents: true, Limit: 1000})
	if err != nil {
		return now.Add(o.MinBackoff)
	}
	for _, m := range pending {
		if o.isUnmarked(m.ID) {
			next = minTime(next, now.Add(o.MinBackoff))
			continue
		}
		t := m.NextAttempt
		if m.ClaimedUntil.After(t) {
			t = m.ClaimedUntil
		}
		if t.Before(now) {
			t = now
		}
		if m.Severity != model.SeverityCritical && s.Quiet.active(t.In(o.loc)) {
			t = s.Quiet.endAfter(t.In(o.loc))
		}
		next = minTime(next, t)
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// deliver sends one claimed message and records the outcome.
func (o *Outbox) deliver(ctx context.Context, s Settings, m *model.OutboxMessage) {
	log := o.log.With("message", m.ID, "to", m.Recipients, "events", len(m.Events), "attempt", m.Attempts)
	// Outcomes are recorded even when ctx has ended: the server's answer
	// must not be lost.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	d, err := o.send(ctx, wctx, s, m)
	if err == nil {
		if len(d.rejected) > 0 {
			log.Warn("alert email sent, but some recipients were refused", "reply", d.reply, "refused", d.rejectedText())
		} else {
			log.Info("alert email sent", "reply", d.reply)
		}
		return
	}
	now := o.now()
	var se *SendError
	if errors.As(err, &se) && se.Permanent() {
		if err := o.store.MarkOutboxFailed(wctx, m.ID, se.Error(), now); err != nil {
			log.Error("record refused alert email", "err", err)
		}
		log.Error("alert email refused by the mail server; not retrying", "err", se.Error())
		return
	}
	if o.GiveUpAfter > 0 && now.Sub(m.CreatedAt) > o.GiveUpAfter {
		reason := fmt.Sprintf("not delivered within %v; last error: %v", o.GiveUpAfter, err)
		if err := o.store.MarkOutboxFailed(wctx, m.ID, reason, now); err != nil {
			log.Error("record undelivered alert email", "err", err)
		}
		log.Error("alert email given up", "err", reason)
		return
	}
	delay := o.backoff(m.Attempts)
	if err := o.store.RetryOutboxLater(wctx, m.ID, err.Error(), now.Add(delay)); err != nil {
		log.Error("reschedule alert email", "err", err)
	}
	log.Warn("alert email not sent; will retry", "err", err, "retry_in", delay.Round(time.Millisecond))
}

func (o *Outbox) send(ctx, wctx context.Context, s Settings, m *model.OutboxMessage) (delivery, error) {
	return o.sendMessage(ctx, s, m, func(d delivery) { o.markSent(wctx, m.ID, d) })
}

// sendMessage hands m to the mail server; accepted is called the moment
// the server accepts it.
func (o *Outbox) sendMessage(ctx context.Context, s Settings, m *model.OutboxMessage, accepted func(delivery)) (delivery, error) {
	l, err := alertLetter(m, s.From, o.loc)
	if err != nil {
		return delivery{}, err
	}
	_, from, _ := fromHeader(s.From)
	full, err := o.src.ForSending(ctx, s)
	if err != nil {
		return delivery{}, err
	}
	return o.client.send(ctx, full, envelope{from: from, to: l.to, data: l.bytes()}, accepted)
}

// markSent records an accepted message; if the store cannot take it now,
// the outbox remembers it so as never to send it again.
func (o *Outbox) markSent(ctx context.Context, id uint, d delivery) {
	if err := o.store.MarkOutboxSent(ctx, id, d.reply, d.rejectedText(), o.now()); err != nil {
		o.mu.Lock()
		o.unmarked[id] = d
		o.mu.Unlock()
		o.log.Error("the mail server accepted an alert email but the store did not record it; will record it later", "message", id, "err", err)
	}
}

// retryMarks records the messages accepted but not yet recorded.
func (o *Outbox) retryMarks(ctx context.Context) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for id, d := range o.unmarked {
		if err := o.store.MarkOutboxSent(ctx, id, d.reply, d.rejectedText(), o.now()); err == nil {
			delete(o.unmarked, id)
		}
	}
}

func (o *Outbox) isUnmarked(id uint) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.unmarked[id]
	return ok
}

// backoff is the wait after the given number of failed attempts.
func (o *Outbox) backoff(attempts int) time.Duration {
	d := o.MinBackoff
	for i := 1; i < attempts && d < o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.MaxBackoff)
	d = time.Duration(float64(d) * (0.75 + 0.5*o.jitter()))
	return min(max(d, o.MinBackoff/2), o.MaxBackoff)
}

// Item is one outbox message as the GUI and the CLI show it.
type Item struct {
	ID         uint
	State      string // model.OutboxPending, OutboxSent, OutboxFailed
	Severity   model.Severity
	Subject    string
	Recipients []string
	Events     int
	Created    time.Time
	Attempts   int
	// NextAttempt is when a pending message is tried next.
	NextAttempt time.Time
	// LastError is why the last attempt at a pending message failed.
	LastError string
	// Reply is the server's acceptance of a sent message, or why a failed
	// one was refused or given up.
	Reply string
	// Rejected lists recipients refused while others got the message.
	Rejected string
	Done     time.Time
}

// Status is the state of the outbox.
type Status struct {
	Pending, Sent, Failed int64
	// Queue is the pending messages, oldest first (at most 50).
	Queue []Item
	// Failures is the failed messages and those some recipients refused,
	// newest first (at most 20).
	Failures []Item
}

// Status reads the outbox: counts, what waits and why, what failed and why.
func (o *Outbox) Status(ctx context.Context) (Status, error) {
	counts, err := o.store.OutboxCounts(ctx)
	if err != nil {
		return Status{}, err
	}
	st := Status{Pending: counts[model.OutboxPending], Sent: counts[model.OutboxSent], Failed: counts[model.OutboxFailed]}
	queue, err := o.store.OutboxMessages(ctx, model.OutboxFilter{States: []string{model.OutboxPending}, Limit: 50})
	if err != nil {
		return st, err
	}
	failed, err := o.store.OutboxMessages(ctx, model.OutboxFilter{States: []string{model.OutboxFailed},
		WithRejected: true, NewestFirst: true, Limit: 20})
	if err != nil {
		return st, err
	}
	for _, m := range queue {
		st.Queue = append(st.Queue, item(m))
	}
	for _, m := range failed {
		st.Failures = append(st.Failures, item(m))
	}
	return st, nil
}

func item(m model.OutboxMessage) Item {
	it := Item{ID: m.ID, State: m.State, Severity: m.Severity, Subject: subject(m.Events),
		Recipients: strings.Split(m.Recipients, ","), Events: len(m.Events), Created: m.CreatedAt,
		Attempts: m.Attempts, LastError: m.LastError, Reply: m.Reply, Rejected: m.Rejected}
	if m.State == model.OutboxPending {
		it.NextAttempt = m.NextAttempt
	}
	if m.DoneAt != nil {
		it.Done = *m.DoneAt
	}
	return it
}

// Test sends a test message now to every recipient s names and returns the
// server's reply. s must carry its password (Source.ForSending). A
// recipient refused while others were accepted is an error too.
func Test(ctx context.Context, s Settings) (string, error) {
	return newClient().test(ctx, s)
}

func (cl client) test(ctx context.Context, s Settings) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	to := s.AllRecipients()
	l, err := testLetter(s, to, time.Now())
	if err != nil {
		return "", err
	}
	_, from, _ := fromHeader(s.From)
	d, err := cl.send(ctx, s, envelope{from: from, to: to, data: l.bytes()}, nil)
	if err != nil {
		return "", err
	}
	if len(d.rejected) > 0 {
		r := d.rejected[0]
		return d.reply, &SendError{Stage: StageRecipient, Server: s.Addr(), Code: replyCode(r.reply), Reply: r.reply,
			Detail: r.addr + " (the others got the message: " + d.reply + ")", Err: errors.New(d.rejectedText())}
	}
	return d.reply, nil
}
