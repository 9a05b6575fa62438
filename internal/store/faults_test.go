package store_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestThrottlingAndUnprocessedItems: under injected throttling and unprocessed items,
// every event reported stored is in the table, and exactly the events that never got
// through are reported NotStored.
func TestThrottlingAndUnprocessedItems(t *testing.T) {
	faults := &dynamotest.Faults{
		ThrottleEvery: 3,
		Unprocess: func(sk string, attempt int) bool {
			// Half the items are held back once; the "never" ones every time.
			return strings.Contains(sk, "never") || (attempt == 0 && len(sk)%2 == 0)
		},
	}
	s := newEvents(t, func(db store.DynamoAPI) store.DynamoAPI {
		faults.DynamoAPI = db
		return faults
	})
	evs := makeEvents(300, "ok")
	for _, i := range []int{7, 99, 150, 151, 299} {
		evs[i].ID = "never-" + evs[i].ID
	}
	outcomes, err := s.PutEvents(t.Context(), evs)
	if err == nil {
		t.Fatal("PutEvents reported no error though some events were never stored")
	}
	if c := telemetry.ErrorCode(err); c != telemetry.CodeThrottled {
		t.Errorf("error code %s, want throttled", c)
	}
	var notStored, acknowledged []string
	for i, o := range outcomes {
		if o == telemetry.NotStored {
			notStored = append(notStored, evs[i].ID)
		} else {
			acknowledged = append(acknowledged, evs[i].ID)
		}
	}
	slices.Sort(notStored)
	want := []string{"never-ok-00007", "never-ok-00099", "never-ok-00150", "never-ok-00151", "never-ok-00299"}
	if !slices.Equal(notStored, want) {
		t.Fatalf("not stored %v, want %v", notStored, want)
	}
	stored := map[string]bool{}
	if err := s.EachEvent(t.Context(), telemetry.Filter{}, func(e telemetry.Event) error {
		stored[e.ID] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range acknowledged {
		if !stored[id] {
			t.Errorf("event %s acknowledged but not stored", id)
		}
	}
	for _, id := range notStored {
		if stored[id] {
			t.Errorf("event %s reported not stored but is in the table", id)
		}
	}

	// Resending the whole batch once the store recovers stores the rest, each once.
	faults.Unprocess, faults.ThrottleEvery = nil, 0
	again, err := s.PutEvents(t.Context(), evs)
	if err != nil {
		t.Fatal(err)
	}
	if n := countOutcomes(again, telemetry.Inserted); n != len(want) {
		t.Errorf("resend inserted %d, want %d", n, len(want))
	}
	if n := countOutcomes(again, telemetry.Duplicate); n != len(evs)-len(want) {
		t.Errorf("resend found %d duplicates, want %d", n, len(evs)-len(want))
	}
}
