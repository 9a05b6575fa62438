package simulate_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/telemetry"
)

var start = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

func options(seed int64, events int) simulate.Options {
	return simulate.Options{Seed: seed, Events: events, Start: start, End: start.Add(24 * time.Hour)}
}

func generate(t *testing.T, o simulate.Options) []telemetry.Event {
	t.Helper()
	events, err := simulate.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func TestSameSeedSameEvents(t *testing.T) {
	a, b := generate(t, options(42, 3000)), generate(t, options(42, 3000))
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs with the same options differ")
	}
	c := generate(t, options(43, 3000))
	ja, _ := json.Marshal(a)
	jc, _ := json.Marshal(c)
	if string(ja) == string(jc) {
		t.Error("seeds 42 and 43 generated the same events")
	}
	// A shorter run is the start of a longer one only in its ids; what matters is that
	// asking for N events gives exactly N.
	for _, n := range []int{0, 1, 7, 2999} {
		if got := len(generate(t, options(42, n))); got != n {
			t.Errorf("asked for %d events, got %d", n, got)
		}
	}
}

func TestEventsAreWellFormed(t *testing.T) {
	events := generate(t, options(5, 20_000))
	ids := map[string]bool{}
	kinds, results := map[string]int{}, map[string]int{}
	for _, e := range events {
		if ids[e.ID] {
			t.Fatalf("id %s twice", e.ID)
		}
		ids[e.ID] = true
		if e.TS.Before(start) || !e.TS.Before(start.Add(24*time.Hour)) || e.TS.Location() != time.UTC || e.TS.Nanosecond()%1000 != 0 {
			t.Fatalf("event %s at %s: want UTC microseconds within [Start, End)", e.ID, e.TS)
		}
		if e.Kind == "" || e.Runtime == "" {
			t.Fatalf("event %s lacks kind or runtime", e.ID)
		}
		if e.Duration != nil && *e.Duration < 0 {
			t.Fatalf("event %s lasted %v s", e.ID, *e.Duration)
		}
		kinds[e.Kind]++
		results[e.Result]++
	}
	for _, k := range []string{"job_submission", "job_skip", "job_result", "test_result", "build_result", "runtime_error", "runtime_warning"} {
		if kinds[k] == 0 {
			t.Errorf("no %s events", k)
		}
	}
	for _, r := range []string{"pass", "fail", "skip", "incomplete", "unknown"} {
		if results[r] == 0 {
			t.Errorf("no %s results", r)
		}
	}
	// Test results dominate, as in KernelCI.
	if kinds["test_result"] < kinds["job_result"]*3 {
		t.Errorf("%d test results for %d job results", kinds["test_result"], kinds["job_result"])
	}
}

func TestEachStopsAtTheFirstError(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	err := simulate.Each(options(1, 100), func(telemetry.Event) error {
		calls++
		if calls == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 10 {
		t.Errorf("Each returned %v after %d calls, want the callback's error after 10", err, calls)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []simulate.Options{
		{Seed: 1, Events: 10, Start: start, End: start},
		{Seed: 1, Events: 10, Start: start, End: start.Add(-time.Hour)},
		{Seed: 1, Events: -1, Start: start, End: start.Add(time.Hour)},
	} {
		if _, err := simulate.Generate(o); err == nil {
			t.Errorf("Generate(%+v) succeeded", o)
		}
	}
	// A span shorter than one job still keeps every ts inside it.
	for _, e := range generate(t, simulate.Options{Seed: 1, Events: 500, Start: start, End: start.Add(time.Second)}) {
		if e.TS.Before(start) || !e.TS.Before(start.Add(time.Second)) {
			t.Fatalf("ts %s outside a one-second span", e.TS)
		}
	}
}

func BenchmarkEach(b *testing.B) {
	o := simulate.Options{Seed: 1, Events: 100_000, Start: start, End: start.Add(48 * time.Hour)}
	for b.Loop() {
		if err := simulate.Each(o, func(telemetry.Event) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSilentLab: a silenced lab sends events before SilentFrom and none from it on, while
// the other labs go on to End; the count asked for is still exact.
func TestSilentLab(t *testing.T) {
	o := options(7, 3000)
	o.SilentLab, o.SilentFrom = "lava-broonie", start.Add(20*time.Hour)
	events := generate(t, o)
	if len(events) != 3000 {
		t.Fatalf("%d events, want 3000", len(events))
	}
	var before, after, othersAfter int
	for _, e := range events {
		switch {
		case e.Runtime == o.SilentLab && e.TS.Before(o.SilentFrom):
			before++
		case e.Runtime == o.SilentLab:
			after++
		case !e.TS.Before(o.SilentFrom):
			othersAfter++
		}
	}
	if before < 100 || after != 0 || othersAfter < 300 {
		t.Errorf("%s: %d events before it fell silent, %d after; other labs %d after; want many, none, many", o.SilentLab, before, after, othersAfter)
	}
}
