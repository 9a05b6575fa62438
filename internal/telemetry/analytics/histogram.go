package analytics

import "math"

// Sum is the exact sum of the durations recorded, in seconds.
func (d *DurationSketch) Sum() float64 { return d.sketch.GetSum() }

// BucketCounts spreads the durations recorded over the buckets bounded above by bounds
// (seconds, ascending), as a Prometheus histogram's buckets: counts[i] is how many fall in
// (bounds[i-1], bounds[i]], and counts[len(bounds)] how many exceed the last bound. A
// duration is placed by its sketch bin's value, so one within DurationRelativeAccuracy of
// a bound may land on the other side of it; the total is exact.
func (d *DurationSketch) BucketCounts(bounds []float64) []int64 {
	counts := make([]float64, len(bounds)+1)
	d.sketch.ForEach(func(value, count float64) bool {
		i := len(bounds)
		for j, b := range bounds {
			if value <= b {
				i = j
				break
			}
		}
		counts[i] += count
		return false
	})
	out := make([]int64, len(counts))
	for i, c := range counts {
		out[i] = int64(math.Round(c))
	}
	return out
}
