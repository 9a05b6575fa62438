package main

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func mutants(n int) []Mutant {
	ms := make([]Mutant, n)
	for i := range ms {
		ms[i] = Mutant{File: "p/a.go", Line: i + 1, Column: 1, Type: "CONDITIONALS_NEGATION"}
	}
	return ms
}

func TestSampleIsDeterministic(t *testing.T) {
	ms := mutants(200)
	a := Sample(ms, 60, 1, "internal/store")
	sorted := slices.Sorted(slices.Values(a))
	if len(a) != 60 || len(slices.Compact(slices.Clone(sorted))) != 60 || sorted[0] < 0 || sorted[59] >= 200 {
		t.Fatalf("sample %v: want 60 distinct indices below 200", a)
	}
	if slices.IsSorted(a) {
		t.Error("the sample is in file order: a run stopped part way would test the first files only")
	}
	if b := Sample(ms, 60, 1, "internal/store"); !slices.Equal(a, b) {
		t.Error("the same seed chose other mutants")
	}
	if b := Sample(ms, 60, 2, "internal/store"); slices.Equal(a, b) {
		t.Error("another seed chose the same mutants")
	}
	if b := Sample(ms, 60, 1, "internal/api"); slices.Equal(a, b) {
		t.Error("another package chose the same mutants: packages' samples are not independent")
	}
	for _, n := range []int{0, -1, 200, 500} {
		if all := slices.Sorted(slices.Values(Sample(ms, n, 1, "internal/store"))); len(all) != 200 || all[0] != 0 || all[199] != 199 || len(slices.Compact(all)) != 200 {
			t.Errorf("n=%d: %d mutants, want all 200", n, len(all))
		}
	}
	// Every prefix of the order is a sample: the first 60 of all are the sample of 60.
	if all := Sample(ms, 0, 1, "internal/store"); !slices.Equal(all[:60], a) {
		t.Error("the first 60 of all the mutants are not the sample of 60")
	}
}

// TestSampleIsUniform checks, over many seeds, that every mutant is chosen about as often:
// a sample biased to the first files or lines would misstate a package's score. The bound
// is a count's, not a time's: 6 standard deviations of the binomial.
func TestSampleIsUniform(t *testing.T) {
	const n, k, seeds = 50, 10, 4000
	counts := make([]int, n)
	for seed := range uint64(seeds) {
		for _, i := range Sample(mutants(n), k, seed, "p") {
			counts[i]++
		}
	}
	mean := float64(seeds * k / n)
	sd := math.Sqrt(seeds * (float64(k) / n) * (1 - float64(k)/n))
	for i, c := range counts {
		if math.Abs(float64(c)-mean) > 6*sd {
			t.Errorf("mutant %d chosen %d times in %d samples, want about %.0f", i, c, seeds, mean)
		}
	}
}

func TestSortMutantsIsAFixedOrder(t *testing.T) {
	ms := []Mutant{
		{File: "p/b.go", Line: 1, Column: 1, Type: "A"},
		{File: "p/a.go", Line: 2, Column: 1, Type: "A"},
		{File: "p/a.go", Line: 1, Column: 9, Type: "B"},
		{File: "p/a.go", Line: 1, Column: 9, Type: "A"},
		{File: "p/a.go", Line: 1, Column: 3, Type: "B"},
	}
	sortMutants(ms)
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%s:%d:%d %s", m.File, m.Line, m.Column, m.Type))
	}
	want := []string{"p/a.go:1:3 B", "p/a.go:1:9 A", "p/a.go:1:9 B", "p/a.go:2:1 A", "p/b.go:1:1 A"}
	if !slices.Equal(got, want) {
		t.Errorf("order %q, want %q", got, want)
	}
}

func TestWilson(t *testing.T) {
	// Expected values from the formula evaluated apart (Python, z = 1.959964).
	for _, c := range []struct {
		k, n      int
		low, high float64
	}{
		{50, 60, 71.968, 90.687},
		{57, 60, 86.299, 98.285},
		{10, 10, 72.247, 100},
		{0, 5, 0, 43.448},
		{2, 4, 15.004, 84.996},
		{0, 0, 0, 100},
	} {
		low, high := Wilson(c.k, c.n)
		if math.Abs(low-c.low) > 0.001 || math.Abs(high-c.high) > 0.001 {
			t.Errorf("Wilson(%d, %d) = %.3f–%.3f, want %.3f–%.3f", c.k, c.n, low, high, c.low, c.high)
		}
	}
}
