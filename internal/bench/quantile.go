package bench

import (
	"math"
	"slices"
	"time"
)

// quantile is the q-quantile (0 ≤ q ≤ 1) of samples, interpolating linearly between the
// two nearest ranks, so the median of an even count is the mean of the middle two and a
// p95 of 20 samples is not simply the largest. It is NaN for no samples.
func quantile(samples []float64, q float64) float64 {
	if len(samples) == 0 {
		return math.NaN()
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	q = min(max(q, 0), 1)
	h := q * float64(len(s)-1)
	lo := int(math.Floor(h))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (h-float64(lo))*(s[hi]-s[lo])
}

func median(samples []float64) float64 { return quantile(samples, 0.5) }

func mean(samples []float64) float64 {
	if len(samples) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, v := range samples {
		sum += v
	}
	return sum / float64(len(samples))
}

// ms is d in milliseconds, as the report gives every time.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ratio is a/b, 0 when b is 0 so that a figure that could not be measured reads as
// nothing rather than as infinity (which JSON cannot hold).
func ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return 0
	}
	return a / b
}

// perTenfold turns a growth ratio measured over a span of counts (small to large) into
// the growth per tenfold increase, so a run at other sizes still compares with the goal.
func perTenfold(growth float64, small, large int) float64 {
	if growth <= 0 || small <= 0 || large <= small {
		return 0
	}
	decades := math.Log10(float64(large) / float64(small))
	return math.Pow(growth, 1/decades)
}

// round keeps figures readable in the JSON: three significant decimals are far below
// the noise of a shared machine.
func round(v float64, places int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}
