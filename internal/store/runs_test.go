package store_test

import (
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestRunMarkedOnceUntilItExpires: a run's marker is found only once put; a second put
// reports the run already marked; a marker past its expiry (TTL not run yet) counts as
// absent and is replaced, as an expired event is; no query sees a marker.
func TestRunMarkedOnceUntilItExpires(t *testing.T) {
	s := newEvents(t, nil)
	evs := makeEvents(2, "run")
	expired := evs[1]
	expired.ReceivedAt = testNow.Add(-testRetention - time.Hour)
	renewed := expired
	renewed.ReceivedAt = testNow

	for _, step := range []struct {
		name       string
		run        telemetry.Event
		wantMarked bool // RunStored before the put
		wantFirst  bool // MarkRunStored's answer
	}{
		{"unmarked run", evs[0], false, true},
		{"marked run again", evs[0], true, false},
		{"another run, marked expired", expired, false, true},
		{"expired marker, put again", expired, false, true},
		{"expired marker, put unexpired", renewed, false, true},
		{"renewed marker", renewed, true, false},
	} {
		marked, err := s.RunStored(t.Context(), step.run)
		if err != nil || marked != step.wantMarked {
			t.Fatalf("%s: RunStored %t (%v), want %t", step.name, marked, err, step.wantMarked)
		}
		first, err := s.MarkRunStored(t.Context(), step.run)
		if err != nil || first != step.wantFirst {
			t.Fatalf("%s: MarkRunStored %t (%v), want %t", step.name, first, err, step.wantFirst)
		}
	}
	page, err := s.QueryEvents(t.Context(), telemetry.Filter{}, telemetry.PageRequest{Limit: 10})
	if err != nil || page.Total != 0 {
		t.Fatalf("a query found %d events (%v) among run markers alone, want 0", page.Total, err)
	}
}
