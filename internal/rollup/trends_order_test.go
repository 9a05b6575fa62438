package rollup_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestTrendsSeriesByEventsDescending: trends list their series by events over the range,
// most first, and by runtime where two have as many, as Trends.Series says; the names'
// order is another.
func TestTrendsSeriesByEventsDescending(t *testing.T) {
	now := time.Date(2026, 6, 8, 6, 30, 0, 0, time.UTC)
	e := newEnv(t, now)
	var evs []telemetry.Event
	for runtime, n := range map[string]int{"lava-a": 1, "lava-b": 3, "lava-c": 3, "lava-d": 2} {
		for i := range n {
			evs = append(evs, errorEvent(fmt.Sprint(runtime, "-", i), runtime, now.Add(-time.Duration(i+1)*time.Hour), "boot failed"))
		}
	}
	e.put(t, evs)
	e.runAll(t, e.summary, "")
	tr, err := rollup.ReadTrends(t.Context(), e.summary, nil, rollup.TrendRanges[0], nil, now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range tr.Series {
		got = append(got, s.Runtime)
	}
	if want := []string{"lava-b", "lava-c", "lava-d", "lava-a"}; !slices.Equal(got, want) {
		t.Errorf("series %q, want %q: by events (3, 3, 2, 1), then by name", got, want)
	}
}
