package store

import (
	"context"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// StaleMarker records that events were written into rollup units (*Summary does). Ingest
// calls it after writing and before answering, for every unit holding an event of the
// request that is stored, new or duplicate: a duplicate may be the resend of an event
// whose mark failed the first time.
type StaleMarker interface {
	MarkStale(ctx context.Context, units []telemetry.RollupUnit) error
}

// markStale marks the units of the stored events; if that fails, their events are
// reported NotStored, so the client resends them and the resend marks them.
func (s *Events) markStale(ctx context.Context, events []telemetry.Event, outcomes []telemetry.PutOutcome) error {
	if s.opts.Stale == nil {
		return nil
	}
	seen := map[telemetry.RollupUnit]bool{}
	var units []telemetry.RollupUnit
	for i := range events {
		if outcomes[i] == telemetry.NotStored {
			continue
		}
		u := s.keys.unit(&events[i])
		if !seen[u] {
			seen[u] = true
			units = append(units, u)
		}
	}
	if len(units) == 0 {
		return nil
	}
	err := s.opts.Stale.MarkStale(ctx, units)
	if err != nil {
		for i := range outcomes {
			outcomes[i] = telemetry.NotStored
		}
	}
	return err
}
