// Package telemetrytest holds test doubles of the domain's interfaces, for tests that
// check what handlers do with any input (fuzzing) rather than what storage does: those
// run on DynamoDB Local.
package telemetrytest

import (
	"context"
	"sync/atomic"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// CountingStore is a telemetry.EventStore that takes every write and counts the events
// in Puts, holds nothing to read, and reports no pipeline run stored.
type CountingStore struct{ Puts atomic.Int64 }

var _ telemetry.EventStore = (*CountingStore)(nil)

// PutEvents counts events and reports each inserted.
func (s *CountingStore) PutEvents(_ context.Context, events []telemetry.Event) ([]telemetry.PutOutcome, error) {
	s.Puts.Add(int64(len(events)))
	out := make([]telemetry.PutOutcome, len(events))
	for i := range out {
		out[i] = telemetry.Inserted
	}
	return out, nil
}

// QueryEvents returns an empty page.
func (s *CountingStore) QueryEvents(context.Context, telemetry.Filter, telemetry.PageRequest) (telemetry.Page, error) {
	return telemetry.Page{}, nil
}

// EachEvent calls fn for no event.
func (s *CountingStore) EachEvent(context.Context, telemetry.Filter, func(telemetry.Event) error) error {
	return nil
}

// Stored reports none of events stored.
func (s *CountingStore) Stored(_ context.Context, events []telemetry.Event) ([]bool, error) {
	return make([]bool, len(events)), nil
}

// RunStored reports the run not stored.
func (s *CountingStore) RunStored(context.Context, telemetry.Event) (bool, error) { return false, nil }

// MarkRunStored reports the run marked by this call.
func (s *CountingStore) MarkRunStored(context.Context, telemetry.Event) (bool, error) {
	return true, nil
}
