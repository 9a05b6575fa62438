package main

import (
	"slices"
	"testing"
	"time"

	"golang.org/x/tools/cover"
)

func profile(file string, blocks ...cover.ProfileBlock) *cover.Profile {
	return &cover.Profile{FileName: file, Mode: "set", Blocks: blocks}
}

func block(sl, sc, el, ec, count int) cover.ProfileBlock {
	return cover.ProfileBlock{StartLine: sl, StartCol: sc, EndLine: el, EndCol: ec, NumStmt: 1, Count: count}
}

// coverage is a map of two tests over one file: TestA runs lines 3–5 and 10:2–10:20,
// TestB runs 10:2–10:20 and 12–14; the block 20–22 is run by neither (count 0).
func coverage() *Baseline {
	const mod = "example.com/m"
	b := &Baseline{Tests: []string{"TestA", "TestB"}, Time: map[string]time.Duration{"TestA": 2 * time.Second, "TestB": 3 * time.Second}}
	b.Cover.Add(mod, "TestA", []*cover.Profile{profile(mod+"/p/a.go", block(3, 14, 5, 2, 1), block(10, 2, 10, 20, 1), block(20, 1, 22, 2, 0))})
	b.Cover.Add(mod, "TestB", []*cover.Profile{profile(mod+"/p/a.go", block(10, 2, 10, 20, 1), block(12, 5, 14, 2, 1), block(20, 1, 22, 2, 0))})
	return b
}

func TestSelectNamesTheTestsWhoseBlocksHoldThePosition(t *testing.T) {
	b := coverage()
	for _, c := range []struct {
		file      string
		line, col int
		want      []string
	}{
		{"p/a.go", 3, 14, []string{"TestA"}}, // a block's first column
		{"p/a.go", 3, 13, nil},               // just before it
		{"p/a.go", 4, 1, []string{"TestA"}},  // a line inside
		{"p/a.go", 5, 2, []string{"TestA"}},  // its last column
		{"p/a.go", 5, 3, nil},                // just after it
		{"p/a.go", 10, 9, []string{"TestA", "TestB"}},
		{"p/a.go", 13, 40, []string{"TestB"}},
		{"p/a.go", 21, 5, nil}, // a block no test ran
		{"p/b.go", 4, 1, nil},  // another file
		{"a.go", 4, 1, nil},    // the same name in another directory
		{"p/a.go", 11, 1, nil}, // between blocks
		{"p/a.go", 14, 3, nil}, // past the last covered block's end
		{"p/a.go", 12, 5, []string{"TestB"}},
	} {
		if got := b.Cover.Select(c.file, c.line, c.col); !slices.Equal(got, c.want) {
			t.Errorf("%s:%d:%d: %q, want %q", c.file, c.line, c.col, got, c.want)
		}
	}
}

func TestChooseTimesOutAtItsTestsOwnTime(t *testing.T) {
	b := coverage()
	for _, c := range []struct {
		name        string
		line, col   int
		coefficient int
		floor       time.Duration
		wantTests   []string
		wantTimeout time.Duration
		wantAll     bool
	}{
		{"one test", 4, 1, 5, 30 * time.Second, []string{"TestA"}, 40 * time.Second, false},
		{"two tests", 10, 9, 5, 30 * time.Second, []string{"TestA", "TestB"}, 55 * time.Second, false},
		{"another coefficient and floor", 13, 1, 2, time.Second, []string{"TestB"}, 7 * time.Second, false},
		{"no block: every test", 21, 5, 5, 30 * time.Second, []string{"TestA", "TestB"}, 55 * time.Second, true},
	} {
		tests, timeout, all := b.Choose("p/a.go", c.line, c.col, c.coefficient, c.floor)
		if !slices.Equal(tests, c.wantTests) || timeout != c.wantTimeout || all != c.wantAll {
			t.Errorf("%s: %q, %s, all %v; want %q, %s, all %v", c.name, tests, timeout, all, c.wantTests, c.wantTimeout, c.wantAll)
		}
	}
}

func TestTestNamesAndRunPattern(t *testing.T) {
	names := testNames("TestB\nBenchmarkB\nFuzzC\nExampleD\nTestA\n", TestFilter{})
	if want := []string{"ExampleD", "FuzzC", "TestA", "TestB"}; !slices.Equal(names, want) {
		t.Errorf("tests %q, want %q: benchmarks left out, sorted", names, want)
	}
	if got, want := runPattern([]string{"TestA", "TestB"}), "^(TestA|TestB)$"; got != want {
		t.Errorf("pattern %q, want %q", got, want)
	}
}

func TestPlanChecksEveryTestPackageThatCoversTheMutant(t *testing.T) {
	const mod = "example.com/m"
	// q's tests run p/a.go too: TestQ the block at line 10 and lines 30–31, which p's own
	// tests never run. r was measured but has no tests left (all failed unmutated).
	q := &Baseline{Tests: []string{"TestQ", "TestQ2"}, Time: map[string]time.Duration{"TestQ": time.Second, "TestQ2": 4 * time.Second}}
	q.Cover.Add(mod, "TestQ", []*cover.Profile{profile(mod+"/p/a.go", block(10, 2, 10, 20, 1), block(30, 1, 31, 5, 1))})
	q.Cover.Add(mod, "TestQ2", []*cover.Profile{profile(mod+"/q/q.go", block(1, 1, 9, 1, 1))})
	bases := map[string]*Baseline{"p": coverage(), "q": q, "r": {}}
	for _, c := range []struct {
		name       string
		candidates []string
		line, col  int
		want       []Check
	}{
		{"its own tests only", []string{"p", "q"}, 4, 1, []Check{{Package: "p", Tests: []string{"TestA"}, Timeout: 40 * time.Second}}},
		{"its own, then another package's", []string{"p", "q"}, 10, 9, []Check{
			{Package: "p", Tests: []string{"TestA", "TestB"}, Timeout: 55 * time.Second},
			{Package: "q", Tests: []string{"TestQ"}, Timeout: 35 * time.Second}}},
		{"only another package's tests run it", []string{"p", "q"}, 30, 7, []Check{{Package: "q", Tests: []string{"TestQ"}, Timeout: 35 * time.Second}}},
		{"no block anywhere: every test of its own", []string{"p", "q"}, 21, 5, []Check{
			{Package: "p", Tests: []string{"TestA", "TestB"}, AllTests: true, Timeout: 55 * time.Second}}},
		{"no tests of its own, no block: the first candidate with tests", []string{"r", "q", "p"}, 21, 5, []Check{
			{Package: "q", Tests: []string{"TestQ", "TestQ2"}, AllTests: true, Timeout: 55 * time.Second}}},
		{"a candidate not measured is passed over", []string{"s", "q"}, 30, 7, []Check{{Package: "q", Tests: []string{"TestQ"}, Timeout: 35 * time.Second}}},
		{"no candidate", nil, 4, 1, nil},
	} {
		got := Plan(c.candidates, bases, "p/a.go", c.line, c.col, 5, 30*time.Second)
		if !slices.EqualFunc(got, c.want, func(a, b Check) bool {
			return a.Package == b.Package && slices.Equal(a.Tests, b.Tests) && a.AllTests == b.AllTests && a.Timeout == b.Timeout
		}) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
