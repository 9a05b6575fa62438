package walk_test

import (
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/rollup/walk"
)

// TestDayWindowIsNineteenBuckets: a 24-hour window, whatever minute it starts at, is read as
// 19 rollup rows (5-minute units and hours up to the 6-hour buckets at one end, three
// 6-hour buckets, hours and 5-minute units at the other) and its two partial 5-minute
// units raw, which together hold 5 minutes. BENCHMARKS.md's reads figures rest on it.
func TestDayWindowIsNineteenBuckets(t *testing.T) {
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for m := range 24 * 60 {
		now := day.Add(time.Duration(m)*time.Minute + 17*time.Second)
		from := now.Add(-24 * time.Hour)
		lo, hi := walk.Ceil(from), walk.Floor(now)
		if n := len(walk.Cover(lo, hi)); n != 19 {
			t.Fatalf("window ending %s: %d buckets, want 19", now.Format("15:04:05"), n)
		}
		if raw := lo.Sub(from) + now.Sub(hi); raw != 5*time.Minute {
			t.Fatalf("window ending %s: %s read raw, want 5m", now.Format("15:04:05"), raw)
		}
	}
}
