package simulate

// random is SplitMix64. The standard library does not promise that its generators and
// their helper methods yield the same values in every Go release; committed test data
// generated from a seed needs exactly that, so the generator lives here.
type random struct{ state uint64 }

func newRandom(seed int64) *random { return &random{state: uint64(seed)} }

func (r *random) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float returns a number in [0, 1).
func (r *random) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// intn returns a number in [0, n). The modulo bias is below 2⁻⁴⁰ for the small n used
// here, far under anything a simulation could show.
func (r *random) intn(n int) int { return int((r.next() >> 11) % uint64(n)) }

func (r *random) chance(p float64) bool { return r.float() < p }

// weighted returns an index into weights, each chosen in proportion to its weight.
func (r *random) weighted(weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.intn(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

func pick[T any](r *random, items []T) T { return items[r.intn(len(items))] }
