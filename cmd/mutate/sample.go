package main

import (
	"cmp"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
)

// sortMutants puts mutants in one fixed order (file, line, column, type), whatever order
// gremlins listed them in, so that a seed picks the same ones on every run.
func sortMutants(ms []Mutant) {
	slices.SortFunc(ms, func(a, b Mutant) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column), cmp.Compare(a.Type, b.Type))
	})
}

// Sample returns the indices of n of the mutants of pkg, chosen uniformly at random without
// replacement, in a random order; all of them, in that order too, when n ≤ 0 or
// n ≥ len(ms). ms must be in sortMutants' order. The choice depends only on seed, pkg and
// ms, so two runs with the same seed over the same code test the same mutants, and each
// package's sample does not depend on which other packages run. Because the order is
// random, the mutants tested before a run stops (-budget) are a uniform sample too.
func Sample(ms []Mutant, n int, seed uint64, pkg string) []int {
	h := fnv.New64a()
	h.Write([]byte(pkg))
	perm := rand.New(rand.NewPCG(seed, h.Sum64())).Perm(len(ms))
	if n <= 0 || n >= len(ms) {
		return perm
	}
	return perm[:n]
}

// Wilson is the 95% Wilson score interval, in percent, for a share of k successes in n
// trials (Wilson 1927; the interval that stays within 0–100 and is not too narrow for a
// share near 100% with a small n, unlike the normal approximation). n = 0 gives 0–100.
func Wilson(k, n int) (low, high float64) {
	if n <= 0 {
		return 0, 100
	}
	const z = 1.959963984540054 // the 97.5th percentile of the standard normal
	p, fn := float64(k)/float64(n), float64(n)
	denom := 1 + z*z/fn
	centre := (p + z*z/(2*fn)) / denom
	half := z / denom * math.Sqrt(p*(1-p)/fn+z*z/(4*fn*fn))
	return 100 * max(0, centre-half), 100 * min(1, centre+half)
}
