package store

import (
	"github.com/vigilops/vigil/model"

	"context"
	"fmt"
	"testing"
	"time"
)

func alertReq(e model.Event, rcpt string, now time.Time) model.AlertRequest {
	n := 0
	return model.AlertRequest{Event: e, Recipients: rcpt, Now: now, Window: 10 * time.Second, Settle: time.Second,
		NewMessageID: func() string { n++; return fmt.Sprintf("<m%d.%d@test>", now.UnixNano(), n) }}
}

// TestAlertOutboxEnqueueStoresEventOnceAndCoalesces: enqueueing stores a
// new event with its outbox entry, the same event again adds nothing; the
// first message of an incident is due once the events of the same moment
// had time to join it; events after it, within the window, join one
// following message due at the window's end; a claimed message takes no
// more, and each recipient list has its own messages.
func TestAlertOutboxEnqueueStoresEventOnceAndCoalesces(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, t.TempDir())
	t0 := time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)
	e, queued, err := s.EnqueueAlert(ctx, alertReq(model.Event{Server: "K2server1", Kind: model.EventDown, Severity: model.SeverityWarning}, "ops@example.com", t0))
	if err != nil || !queued || e.ID == 0 {
		t.Fatalf("first enqueue: %+v queued=%v err=%v", e, queued, err)
	}
	if evs, _ := s.Events(ctx, model.EventFilter{}); len(evs) != 1 {
		t.Fatalf("%d events stored, want 1", len(evs))
	}
	if _, queued, err := s.EnqueueAlert(ctx, alertReq(e, "ops@example.com", t0.Add(100*time.Millisecond))); err != nil || queued {
		t.Fatalf("same event again: queued=%v err=%v", queued, err)
	}
	if evs, _ := s.Events(ctx, model.EventFilter{}); len(evs) != 1 {
		t.Fatalf("%d events after enqueueing the same one again, want 1", len(evs))
	}
	// The same moment: it joins the first message and raises its severity.
	if _, _, err := s.EnqueueAlert(ctx, alertReq(model.Event{System: "k2", Kind: "failing-over", Severity: model.SeverityCritical}, "ops@example.com", t0.Add(300*time.Millisecond))); err != nil {
		t.Fatal(err)
	}
	// Later, within the window: a following message.
	for _, at := range []time.Duration{5 * time.Second, 6 * time.Second} {
		if _, _, err := s.EnqueueAlert(ctx, alertReq(model.Event{Server: "K2server2", Kind: model.EventRole, Severity: model.SeverityWarning}, "ops@example.com", t0.Add(at))); err != nil {
			t.Fatal(err)
		}
	}
	// Another recipient list makes its own messages: its first is a first.
	if _, _, err := s.EnqueueAlert(ctx, alertReq(model.Event{Server: "K2server2", Kind: model.EventDown, Severity: model.SeverityCritical}, "boss@example.com", t0.Add(5*time.Second))); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.OutboxMessages(ctx, model.OutboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || len(msgs[0].Events) != 2 || msgs[0].Severity != model.SeverityCritical || len(msgs[1].Events) != 2 || len(msgs[2].Events) != 1 {
		t.Fatalf("messages %+v", msgs)
	}
	if first := msgs[0]; !first.NextAttempt.Equal(t0.Add(time.Second)) || first.MessageID == "" || !first.Follows.IsZero() {
		t.Errorf("first message %+v: due once the moment settled, with a Message-ID, following nothing", first)
	}
	if next := msgs[1]; !next.NextAttempt.Equal(t0.Add(11*time.Second)) || !next.Follows.Equal(t0.Add(time.Second)) {
		t.Errorf("following message %+v: due a window after the first closed, saying it follows it", next)
	}
	if boss := msgs[2]; !boss.NextAttempt.Equal(t0.Add(6*time.Second)) || !boss.Follows.IsZero() {
		t.Errorf("the other list's message %+v: a first of its own", boss)
	}

	// Nothing is due before the first settled; then the critical one first.
	if m, err := s.ClaimOutbox(ctx, "me", t0.Add(900*time.Millisecond), time.Minute, nil); err != nil || m != nil {
		t.Fatalf("claim before the moment settled: %v, %v", m, err)
	}
	m, err := s.ClaimOutbox(ctx, "me", t0.Add(16*time.Second), time.Minute, func(m model.OutboxMessage) bool { return m.Recipients == "ops@example.com" })
	if err != nil || m == nil || m.Attempts != 1 || len(m.Events) != 2 || m.Events[0].Server != "K2server1" {
		t.Fatalf("claim: %+v, %v", m, err)
	}
	// Claimed by someone: nobody else gets it until the lease ends.
	if other, _ := s.ClaimOutbox(ctx, "other", t0.Add(17*time.Second), time.Minute, func(m model.OutboxMessage) bool { return m.ID == msgs[0].ID }); other != nil {
		t.Fatal("a claimed message was claimed again")
	}
	if err := s.RetryOutboxLater(ctx, m.ID, "connection refused", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkOutboxSent(ctx, m.ID, "250 ok", "", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkOutboxFailed(ctx, m.ID, "too late", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	counts, err := s.OutboxCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[model.OutboxSent] != 1 || counts[model.OutboxPending] != 2 || counts[model.OutboxFailed] != 0 {
		t.Errorf("counts %v: want 1 sent (a finished message stays finished) and 2 pending", counts)
	}
	sent, _ := s.OutboxMessages(ctx, model.OutboxFilter{States: []string{model.OutboxSent}})
	if len(sent) != 1 || sent[0].Reply != "250 ok" || sent[0].DoneAt == nil {
		t.Errorf("sent %+v", sent)
	}
}

// TestAlertOutboxHeldEventsJoinDuringQuietHours: with JoinHeld, a
// non-critical event joins an old unclaimed non-critical message; a
// critical event does not.
func TestAlertOutboxHeldEventsJoinDuringQuietHours(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, t.TempDir())
	t0 := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	if _, _, err := s.EnqueueAlert(ctx, alertReq(model.Event{Server: "a", Kind: model.EventLag, Severity: model.SeverityWarning}, "ops@example.com", t0)); err != nil {
		t.Fatal(err)
	}
	r := alertReq(model.Event{Server: "b", Kind: model.EventLag, Severity: model.SeverityInfo}, "ops@example.com", t0.Add(3*time.Hour))
	r.JoinHeld = true
	if _, _, err := s.EnqueueAlert(ctx, r); err != nil {
		t.Fatal(err)
	}
	r = alertReq(model.Event{Server: "c", Kind: model.EventDown, Severity: model.SeverityCritical}, "ops@example.com", t0.Add(3*time.Hour))
	r.JoinHeld = true
	if _, _, err := s.EnqueueAlert(ctx, r); err != nil {
		t.Fatal(err)
	}
	msgs, _ := s.OutboxMessages(ctx, model.OutboxFilter{})
	if len(msgs) != 2 || len(msgs[0].Events) != 2 || len(msgs[1].Events) != 1 || msgs[1].Severity != model.SeverityCritical {
		t.Errorf("messages %+v", msgs)
	}
}

// TestAlertSettingsRecordRoundTrip keeps one settings row.
func TestAlertSettingsRecordRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, t.TempDir())
	if js, err := s.AlertSettingsJSON(ctx); err != nil || js != "" {
		t.Fatalf("before saving: %q, %v", js, err)
	}
	for _, js := range []string{`{"a":1}`, `{"a":2}`} {
		if err := s.SaveAlertSettingsJSON(ctx, js); err != nil {
			t.Fatal(err)
		}
		if got, err := s.AlertSettingsJSON(ctx); err != nil || got != js {
			t.Fatalf("read %q, %v; want %q", got, err, js)
		}
	}
}

// TestAlertOutboxPruneKeepsPendingAndRecent: pruning deletes the messages
// done before the cut with their events, and keeps a message done after
// it and a pending one however old.
func TestAlertOutboxPruneKeepsPendingAndRecent(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, t.TempDir())
	t0 := time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)
	enqueue := func(server, rcpt string, at time.Time) {
		t.Helper()
		if _, _, err := s.EnqueueAlert(ctx, alertReq(model.Event{Server: server, Kind: model.EventDown, Severity: model.SeverityWarning}, rcpt, at)); err != nil {
			t.Fatal(err)
		}
	}
	enqueue("old-sent", "a@example.com", t0)
	enqueue("old-failed", "b@example.com", t0)
	enqueue("old-pending", "c@example.com", t0)
	enqueue("new-sent", "d@example.com", t0.Add(48*time.Hour))
	msgs, err := s.OutboxMessages(ctx, model.OutboxFilter{})
	if err != nil || len(msgs) != 4 {
		t.Fatalf("%d messages, %v; want 4", len(msgs), err)
	}
	ids := map[string]uint{}
	for _, m := range msgs {
		ids[m.Events[0].Server] = m.ID
	}
	if err := s.MarkOutboxSent(ctx, ids["old-sent"], "250 ok", "", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkOutboxFailed(ctx, ids["old-failed"], "550 no such user", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkOutboxSent(ctx, ids["new-sent"], "250 ok", "", t0.Add(48*time.Hour+time.Minute)); err != nil {
		t.Fatal(err)
	}

	n, err := s.PruneOutbox(ctx, t0.Add(24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("PruneOutbox = %d, %v; want the 2 old done messages", n, err)
	}
	msgs, err = s.OutboxMessages(ctx, model.OutboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, m := range msgs {
		if len(m.Events) != 1 {
			t.Errorf("message %d kept %d events, want its 1", m.ID, len(m.Events))
			continue
		}
		left = append(left, m.Events[0].Server+" "+m.State)
	}
	if got := fmt.Sprint(left); got != "[old-pending pending new-sent sent]" && got != "[new-sent sent old-pending pending]" {
		t.Errorf("left %v, want the old pending message and the new sent one", got)
	}
	var orphans int64
	if err := s.db.Model(&model.OutboxEvent{}).Where("outbox_message_id NOT IN (?)", s.db.Model(&model.OutboxMessage{}).Select("id")).Count(&orphans).Error; err != nil || orphans != 0 {
		t.Errorf("%d outbox events left without their message (%v)", orphans, err)
	}
}

// An alert that waited for a busy store (its Now sampled 1.5 s before the
// store took it) still leaves the first message of its incident open for
// the settle from when the store took it, on the request's Clock: the
// event of the same moment recorded right after joins it.
func TestAlertOutboxSettleRunsFromWhenTheStoreTakesIt(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, t.TempDir())
	t0 := time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)
	taken := t0.Add(1500 * time.Millisecond)
	r := alertReq(model.Event{Time: t0, Server: "K2server1", Kind: model.EventDown, Severity: model.SeverityCritical}, "ops@example.com", t0)
	r.Clock = func() time.Time { return taken }
	if _, _, err := s.EnqueueAlert(ctx, r); err != nil {
		t.Fatal(err)
	}
	next := alertReq(model.Event{Time: t0, System: "k2", Kind: "failing-over", Severity: model.SeverityWarning}, "ops@example.com", taken.Add(50*time.Millisecond))
	next.Clock = func() time.Time { return taken.Add(50 * time.Millisecond) }
	if _, _, err := s.EnqueueAlert(ctx, next); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.OutboxMessages(ctx, model.OutboxFilter{})
	if err != nil || len(msgs) != 1 || len(msgs[0].Events) != 2 {
		t.Fatalf("messages %+v, %v; want one with both events", msgs, err)
	}
}
