package rollup_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestMetricsDurationHistogramValues: the duration histogram of /metrics counts every
// event that carried a duration, those past the last bucket too (+Inf), and sums their
// durations in seconds.
func TestMetricsDurationHistogramValues(t *testing.T) {
	now := time.Date(2026, 6, 8, 6, 30, 0, 0, time.UTC)
	e := newEnv(t, now)
	var evs []telemetry.Event
	for i, d := range []float64{2, 45, 100000} { // 100000 s is past the last bucket, 86400
		ev := errorEvent(fmt.Sprint("timed-", i), "lava-h", now.Add(-time.Hour), "boot failed")
		ev.Duration = &d
		evs = append(evs, ev)
	}
	e.put(t, evs)
	e.runAll(t, e.summary, "")
	c := counters(e.scrape(t))
	key := "pipetel_event_duration_seconds[kind=job_result runtime=lava-h]"
	for _, w := range []struct {
		series string
		want   float64
	}{
		{key + " count", 3},
		{key + " sum", 100047},
		{key + " le=60", 2},
		{key + " le=86400", 2},
	} {
		if got, ok := c[w.series]; !ok || got != w.want {
			t.Errorf("%s = %v (present %v), want %v", w.series, got, ok, w.want)
		}
	}
}
