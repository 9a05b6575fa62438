package main

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A dry-run report of gremlins' JSON shape over ./internal/telemetry, with a subpackage,
// listed out of order.
const dryRun = `{"go_module":"github.com/pipetel/pipetel","files":[
 {"file_name":"filter.go","mutations":[
  {"type":"CONDITIONALS_NEGATION","status":"NOT COVERED","line":5,"column":9}]},
 {"file_name":"decode.go","mutations":[
  {"type":"CONDITIONALS_NEGATION","status":"RUNNABLE","line":30,"column":2},
  {"type":"CONDITIONALS_BOUNDARY","status":"RUNNABLE","line":10,"column":5}]},
 {"file_name":"analytics/stats.go","mutations":[
  {"type":"ARITHMETIC_BASE","status":"RUNNABLE","line":1,"column":1}]}]}`

func TestParseDryRunGroupsByPackageInAFixedOrder(t *testing.T) {
	module, byPkg, err := ParseDryRun("./internal/telemetry", []byte(dryRun))
	if err != nil {
		t.Fatal(err)
	}
	if module != "github.com/pipetel/pipetel" {
		t.Errorf("module %q", module)
	}
	var got []string
	for _, pkg := range []string{"internal/telemetry", "internal/telemetry/analytics"} {
		for _, m := range byPkg[pkg] {
			got = append(got, pkg+" "+m.File+":"+strconv.Itoa(m.Line)+" "+m.Type+" "+m.Status)
		}
	}
	want := []string{
		"internal/telemetry internal/telemetry/decode.go:10 CONDITIONALS_BOUNDARY ",
		"internal/telemetry internal/telemetry/decode.go:30 CONDITIONALS_NEGATION ",
		"internal/telemetry internal/telemetry/filter.go:5 CONDITIONALS_NEGATION ",
		"internal/telemetry/analytics internal/telemetry/analytics/stats.go:1 ARITHMETIC_BASE ",
	}
	if len(byPkg) != 2 || !slices.Equal(got, want) {
		t.Errorf("got %d packages:\n%s\nwant\n%s", len(byPkg), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, _, err := ParseDryRun(".", []byte("gremlins: error")); err == nil {
		t.Error("a report that is not JSON was read")
	}
}

func TestSummarizeCountsTheTestedMutants(t *testing.T) {
	ms := []Mutant{
		{File: "p/a.go", Line: 10, Column: 5, Type: "CONDITIONALS_BOUNDARY", Status: statusKilled},
		{File: "p/a.go", Line: 20, Column: 7, Type: "ARITHMETIC_BASE", Status: statusLived},
		{File: "p/a.go", Line: 30, Column: 2, Type: "CONDITIONALS_NEGATION", Status: statusTimedOut, AllTests: true},
		{File: "p/a.go", Line: 31, Column: 2, Type: "INCREMENT_DECREMENT", Status: statusNotViable},
		{File: "p/b.go", Line: 5, Column: 9, Type: "CONDITIONALS_NEGATION", Status: statusNotCovered},
		{File: "p/b.go", Line: 6, Column: 9, Type: "CONDITIONALS_NEGATION", Status: statusSkipped},
		{File: "p/b.go", Line: 7, Column: 9, Type: "CONDITIONALS_NEGATION", Status: statusSkipped},
	}
	s, err := Summarize("p", ms)
	if err != nil {
		t.Fatal(err)
	}
	if s.Mutants != 7 || s.Tested != 5 || s.Killed != 1 || s.TimedOut != 1 || s.Lived != 1 || s.NotCovered != 1 || s.NotViable != 1 || s.AllTests != 1 {
		t.Errorf("counts: %+v", s)
	}
	if s.Percent != 50 {
		t.Errorf("caught %.1f%%, want 50: 2 caught of the 4 tested that compiled", s.Percent)
	}
	// Wilson's interval for 2 of 4 is 15.004–84.996, rounded outwards.
	if s.Low != 15 || s.High != 85 {
		t.Errorf("interval %.1f–%.1f, want 15.0–85.0", s.Low, s.High)
	}
	want := []string{"p/a.go:20:7 ARITHMETIC_BASE (lived)", "p/b.go:5:9 CONDITIONALS_NEGATION (not covered)"}
	if !slices.Equal(s.Survivors, want) {
		t.Errorf("survivors %q, want %q", s.Survivors, want)
	}
	if _, err := Summarize("p", []Mutant{{Status: "RUNNABLE"}}); err == nil {
		t.Error("a mutant never tested was counted")
	}
}

func TestTableHasOneLinePerPackage(t *testing.T) {
	var b strings.Builder
	WriteTable(&b, []Score{{Package: "internal/store", Percent: 87.5, Low: 52.9, High: 97.8, Tested: 8, Mutants: 120, Killed: 7, Lived: 1, Seconds: 95}})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "internal/store") {
		t.Fatalf("table:\n%s", b.String())
	}
	for _, want := range []string{"87.5", "52.9–97.8", "8/120", "1m35s"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("no %q in %q", want, lines[1])
		}
	}
}

func TestNarrowingFilter(t *testing.T) {
	f, err := Narrowing{Exclude: "x.go", Run: "TestA|TestB", Skip: "TestB"}.filter()
	if err != nil {
		t.Fatal(err)
	}
	if got := testNames("TestA\nTestB\nTestC\n", f); !slices.Equal(got, []string{"TestA"}) {
		t.Errorf("tests %q, want TestA", got)
	}
	if f, err := (Narrowing{}).filter(); err != nil || f.Run != nil || f.Skip != nil {
		t.Errorf("the whole run filters tests: %+v, %v", f, err)
	}
	if _, err := (Narrowing{Run: "Test("}).filter(); err == nil {
		t.Error("a broken regexp was accepted")
	}
}

// goListTest is `go list -test -f '{{.ImportPath}}{{range .Deps}} {{.}}{{end}}'` over three
// packages of module m, cut short: a has an internal and an external test and imports b;
// c's tests import a (so b too); b has no tests; x is another module's test.
const goListTest = `m/a fmt m/b
m/a.test fmt m/a [m/a.test] m/a_test [m/a.test] m/b testing
m/a [m/a.test] fmt m/b
m/a_test [m/a.test] m/a [m/a.test]
m/b fmt
m/c m/a m/b
m/c.test m/a m/b m/c [m/c.test] m/ctest testing
m/ctest fmt
x/y.test m/a x/y
`

func TestParseTestDepsKeepsTheTestBinaries(t *testing.T) {
	got := ParseTestDeps("m", goListTest)
	want := map[string][]string{"a": {"a", "b"}, "c": {"a", "b", "c", "ctest"}}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestCandidatesAreEveryTestPackageThatImportsIt(t *testing.T) {
	testDeps := map[string][]string{
		"internal/store":  {"internal/auth", "internal/store", "internal/telemetry"},
		"internal/api":    {"internal/api", "internal/api/reports", "internal/rollup", "internal/store", "internal/telemetry"},
		"internal/rollup": {"internal/api", "internal/api/reports", "internal/rollup", "internal/store", "internal/telemetry"},
		"internal/auth":   {"internal/auth"},
	}
	pkgs := []string{"internal/api", "internal/api/reports", "internal/auth", "internal/rollup", "internal/store", "internal/telemetry", "internal/untested"}
	want := map[string][]string{
		"internal/api":         {"internal/api", "internal/rollup"},
		"internal/api/reports": {"internal/api", "internal/rollup"}, // no tests of its own
		"internal/auth":        {"internal/auth", "internal/store"},
		"internal/rollup":      {"internal/rollup", "internal/api"}, // its own first
		"internal/store":       {"internal/store", "internal/api", "internal/rollup"},
		"internal/telemetry":   {"internal/api", "internal/rollup", "internal/store"},
		"internal/untested":    nil,
	}
	got := TestCandidates(pkgs, testDeps)
	for _, pkg := range pkgs {
		if !slices.Equal(got[pkg], want[pkg]) {
			t.Errorf("%s: %q, want %q", pkg, got[pkg], want[pkg])
		}
	}
}
