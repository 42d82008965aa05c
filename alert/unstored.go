package alert

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigilops/vigil/model"
)

// While the store cannot queue an alert (its lock held by another process,
// a full disk, a read-only file system), the outbox sends the alert at
// once from memory: one email an event, tried unstoredAttempts times. It
// remembers the event, so that once the store takes it again (the monitor
// keeps what the store refused and records it later) it is stored without
// a second alert. A console that dies meanwhile loses that memory: the
// event is then alerted again when it is stored, which a duplicate beats
// a silence.

// unstoredAttempts bounds the tries at an alert sent from memory.
const unstoredAttempts = 6

// eventKey names an event before the store has given it an id.
func eventKey(e model.Event) string {
	return fmt.Sprintf("%d|%s|%s|%s|%s", e.Time.UnixNano(), e.Kind, e.System, e.Server, e.AgentID)
}

// alertedUnstored says whether e was alerted from memory.
func (o *Outbox) alertedUnstored(e model.Event) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.unstored[eventKey(e)]
}

// storedUnstored forgets e once the store holds it.
func (o *Outbox) storedUnstored(e model.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.unstored, eventKey(e))
}

// sendUnstored sends an alert about e to rcpt without the store, in the
// background.
func (o *Outbox) sendUnstored(s Settings, rcpt []string, e model.Event, c Context) {
	o.mu.Lock()
	o.unstored[eventKey(e)] = true
	o.mu.Unlock()
	m := &model.OutboxMessage{
		Recipients: strings.Join(rcpt, ","), Severity: e.Severity, MessageID: newMessageID(s.From),
		CreatedAt: o.now(), OpenUntil: e.Time,
		Events: []model.OutboxEvent{{Time: e.Time, System: e.System, Server: e.Server, Kind: e.Kind, Severity: e.Severity,
			From: e.From, To: e.To, Detail: e.Detail, Summary: c.Summary, Procedure: c.Procedure}},
	}
	log := o.log.With("kind", e.Kind, "server", e.Server, "system", e.System, "to", m.Recipients)
	go func() {
		for attempt := 1; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), o.client.timeouts.Attempt)
			d, err := o.sendMessage(ctx, s, m, func(delivery) {}) // nothing to record
			cancel()
			if err == nil {
				log.Warn("alert email sent without the store, which refused it", "reply", d.reply)
				return
			}
			var se *SendError
			if attempt >= unstoredAttempts || errors.As(err, &se) && se.Permanent() {
				log.Error("alert email not sent (the store refused it, and so did the mail server)", "err", err)
				return
			}
			time.Sleep(o.backoff(attempt))
		}
	}()
}
