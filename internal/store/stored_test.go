package store_test

import (
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestStoredReportsUnexpiredKeysOnly: Stored is the probe PutEvents runs, on its own: an
// event is stored when its key (ts and id) is, unexpired; the same id at another ts is
// another event. It writes nothing.
func TestStoredReportsUnexpiredKeysOnly(t *testing.T) {
	s := newEvents(t, nil)
	evs := makeEvents(230, "stored") // more than one probe of 100 keys
	expired := evs[200:]
	for i := range expired {
		expired[i].ReceivedAt = testNow.Add(-testRetention - time.Hour)
	}
	put(t, s, evs[:100])
	put(t, s, expired)
	moved := evs[0]
	moved.TS = moved.TS.Add(time.Second)
	ask := append(append([]telemetry.Event{}, evs...), moved)
	got, err := s.Stored(t.Context(), ask)
	if err != nil || len(got) != len(ask) {
		t.Fatalf("%d answers for %d events: %v", len(got), len(ask), err)
	}
	for i, stored := range got {
		if want := i < 100; stored != want {
			t.Errorf("event %d (%s): stored %t, want %t", i, ask[i].ID, stored, want)
		}
	}
	page, err := s.QueryEvents(t.Context(), telemetry.Filter{}, telemetry.PageRequest{Limit: 1})
	if err != nil || page.Total != 100 {
		t.Fatalf("%d events readable after Stored (%v), want the 100 put", page.Total, err)
	}
}
