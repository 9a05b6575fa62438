package telemetry

import "context"

// AlertSource is the source of every alert event pipetel publishes (EventBridge's
// "source"), for rules to match on.
const AlertSource = "pipetel"

// Alert is one event published when an anomaly opens or resolves.
type Alert struct {
	// DetailType names the kind of anomaly (EventBridge's "detail-type"), e.g.
	// "pipetel anomaly silence"; rules route kinds apart by it.
	DetailType string
	// Detail is a JSON object: the anomaly's record with its state, "open" or "resolved".
	Detail []byte
}

// AlertPublisher delivers alerts, at least once: a publish that fails is retried by the
// next rollup run, so a receiver may see an alert twice and must not see it never.
type AlertPublisher interface {
	Publish(ctx context.Context, alerts []Alert) error
}
