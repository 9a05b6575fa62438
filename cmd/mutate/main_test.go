package main

import (
	"slices"
	"strings"
	"testing"
)

// A report of gremlins' JSON shape over ./internal/telemetry, with a subpackage.
const report = `{"go_module":"github.com/pipetel/pipetel","files":[
 {"file_name":"decode.go","mutations":[
  {"type":"CONDITIONALS_BOUNDARY","status":"KILLED","line":10,"column":5},
  {"type":"ARITHMETIC_BASE","status":"LIVED","line":20,"column":7},
  {"type":"CONDITIONALS_NEGATION","status":"TIMED OUT","line":30,"column":2},
  {"type":"INCREMENT_DECREMENT","status":"NOT VIABLE","line":31,"column":2}]},
 {"file_name":"filter.go","mutations":[
  {"type":"CONDITIONALS_NEGATION","status":"NOT COVERED","line":5,"column":9}]},
 {"file_name":"analytics/stats.go","mutations":[
  {"type":"ARITHMETIC_BASE","status":"KILLED","line":1,"column":1},
  {"type":"ARITHMETIC_BASE","status":"KILLED","line":2,"column":1}]}]}`

func TestSummarizeSplitsByPackage(t *testing.T) {
	scores, err := Summarize("./internal/telemetry", []byte(report))
	if err != nil {
		t.Fatal(err)
	}
	if len(scores) != 2 {
		t.Fatalf("%d packages, want 2: %+v", len(scores), scores)
	}
	tel, a := scores[0], scores[1]
	if a.Package != "internal/telemetry/analytics" || a.Killed != 2 || a.Percent != 100 || len(a.Survivors) != 0 {
		t.Errorf("analytics: %+v", a)
	}
	if tel.Package != "internal/telemetry" || tel.Killed != 1 || tel.TimedOut != 1 || tel.Lived != 1 || tel.NotCovered != 1 || tel.NotViable != 1 {
		t.Errorf("telemetry counts: %+v", tel)
	}
	if tel.Percent != 50 {
		t.Errorf("telemetry caught %.1f%%, want 50: 2 caught of 4 that compiled", tel.Percent)
	}
	want := []string{
		"internal/telemetry/decode.go:20:7 ARITHMETIC_BASE (lived)",
		"internal/telemetry/filter.go:5:9 CONDITIONALS_NEGATION (not covered)",
	}
	if !slices.Equal(tel.Survivors, want) {
		t.Errorf("survivors %q, want %q", tel.Survivors, want)
	}
}

func TestSummarizeRefusesWhatItCannotCount(t *testing.T) {
	for name, raw := range map[string]string{
		"not JSON":       `gremlins: error`,
		"unknown status": `{"files":[{"file_name":"a.go","mutations":[{"type":"X","status":"SKIPPED","line":1,"column":1}]}]}`,
	} {
		if _, err := Summarize("./internal/store", []byte(raw)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestTableHasOneLinePerPackage(t *testing.T) {
	var b strings.Builder
	WriteTable(&b, []Score{{Package: "internal/store", Percent: 87.5, Killed: 7, Lived: 1}})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "internal/store") || !strings.Contains(lines[1], "87.5") {
		t.Errorf("table:\n%s", b.String())
	}
}

func TestNarrowingTestFlags(t *testing.T) {
	flags, err := Narrowing{Exclude: "x.go", Run: "TestA|TestB", Skip: "TestSlow"}.testFlags()
	if err != nil || !slices.Equal(flags, []string{"-run=TestA|TestB", "-skip=TestSlow"}) {
		t.Errorf("testFlags = %q, %v", flags, err)
	}
	if flags, err := (Narrowing{}).testFlags(); err != nil || len(flags) != 0 {
		t.Errorf("the whole run has test flags %q, %v", flags, err)
	}
	// GOFLAGS splits at spaces: a regexp with one would become two flags.
	if _, err := (Narrowing{Run: "Test A"}).testFlags(); err == nil {
		t.Error("a regexp with a space was accepted")
	}
}
