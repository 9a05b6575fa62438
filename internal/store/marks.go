package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// StaleMarker records that events were written into rollup units (*Summary does). Ingest
// calls it after writing and before answering, for every unit holding an event of the
// request that is stored, new or duplicate: a duplicate may be the resend of an event
// whose mark failed the first time.
type StaleMarker interface {
	MarkStale(ctx context.Context, units []telemetry.RollupUnit) error
}

// UnmarkedError names the units whose staleness marks could not be written.
type UnmarkedError struct {
	Units []telemetry.RollupUnit
	Err   error // the first failure
}

func (e *UnmarkedError) Error() string {
	return fmt.Sprintf("mark %d rollup units stale: %v", len(e.Units), e.Err)
}

func (e *UnmarkedError) Unwrap() error { return e.Err }

// markStale marks the units of every event of the request, stored or not. The events of
// a unit it could not mark are stored all the same: their outcome becomes Unmarked (not
// NotStored, which would misreport them), so the client resends them and the resend marks
// them. Events reported NotStored are marked too: a write cut off by the deadline may
// still land in DynamoDB after the store stopped waiting for it, and an event that lands
// unmarked would stay out of the rollups for good. A mark on a unit nothing landed in
// costs the rollup one recompute.
func (s *Events) markStale(ctx context.Context, events []telemetry.Event, outcomes []telemetry.PutOutcome) error {
	if s.opts.Stale == nil {
		return nil
	}
	seen := map[telemetry.RollupUnit]bool{}
	var units []telemetry.RollupUnit
	for i := range events {
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
	if err == nil {
		return nil
	}
	failed := seen // every unit, unless the error names the ones that failed
	var unmarked *UnmarkedError
	if errors.As(err, &unmarked) {
		failed = map[telemetry.RollupUnit]bool{}
		for _, u := range unmarked.Units {
			failed[u] = true
		}
	}
	for i := range events {
		if outcomes[i] != telemetry.NotStored && failed[telemetry.UnitOf(events[i].TS, s.keys.eventShard(events[i].ID))] {
			outcomes[i] = telemetry.Unmarked
		}
	}
	return err
}
