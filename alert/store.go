package alert

import (
	"context"
	"time"

	"github.com/vigilops/vigil/model"
)

// Store is what alerts need of the console's store: the durable outbox
// and the saved settings. The console's store (package store) implements
// it; the views that show the outbox link no database.
type Store interface {
	SettingsStore
	EnqueueAlert(ctx context.Context, r model.AlertRequest) (model.Event, bool, error)
	ClaimOutbox(ctx context.Context, owner string, now time.Time, lease time.Duration, ready func(model.OutboxMessage) bool) (*model.OutboxMessage, error)
	MarkOutboxSent(ctx context.Context, id uint, reply, rejected string, at time.Time) error
	MarkOutboxFailed(ctx context.Context, id uint, reason string, at time.Time) error
	RetryOutboxLater(ctx context.Context, id uint, lastErr string, next time.Time) error
	ReleaseOutboxClaims(ctx context.Context, owner string) error
	OutboxCounts(ctx context.Context) (map[string]int64, error)
	OutboxMessages(ctx context.Context, f model.OutboxFilter) ([]model.OutboxMessage, error)
}

// SettingsStore keeps the alert settings as one JSON document.
type SettingsStore interface {
	AlertSettingsJSON(ctx context.Context) (string, error)
	SaveAlertSettingsJSON(ctx context.Context, js string) error
}
