package analytics_test

import (
	"encoding/json"
	"errors"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

func TestParseGroupBy(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"runtime", []string{"runtime"}},
		{" runtime , device_type ", []string{"runtime", "device_type"}},
		{"lab,device_id", []string{"lab", "device_id"}},
		{"runtime,lab", []string{"runtime", "lab"}}, // two names, two keys, one value
		{strings.Join(analytics.StatsGroupFields, ","), analytics.StatsGroupFields},
	} {
		got, err := analytics.ParseGroupBy(c.in)
		if err != nil || strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("ParseGroupBy(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, mentions string }{
		{"", "required"},
		{"   ", "required"},
		{"runtime,,arch", "empty"},
		{"runtime,", "empty"},
		{"test_name", `"test_name"`},
		{"Runtime", `"Runtime"`},
		{"runtime,device_type,runtime", "twice"},
	} {
		_, err := analytics.ParseGroupBy(c.in)
		var e *telemetry.Error
		if !errors.As(err, &e) || e.Code != telemetry.CodeInvalid {
			t.Errorf("ParseGroupBy(%q) error = %v, want a CodeInvalid *Error", c.in, err)
			continue
		}
		if !strings.Contains(e.Message, c.mentions) || !strings.Contains(e.Message, "runtime, lab, device_type, device_id, job_name, tree, branch, arch, kind, error_type") {
			t.Errorf("ParseGroupBy(%q) message %q should mention %s and name every accepted field", c.in, e.Message, c.mentions)
		}
		if len(e.Fields) != 1 || e.Fields[0].Field != "group_by" || e.Fields[0].Index != -1 {
			t.Errorf("ParseGroupBy(%q) fields = %+v, want one for group_by", c.in, e.Fields)
		}
	}
}

func ev(kind, runtime, deviceType, result string, infra bool) telemetry.Event {
	return telemetry.Event{Kind: kind, Runtime: runtime, DeviceType: deviceType, Result: result, IsInfraError: infra}
}

func statsJSON(t *testing.T, groupBy string, events []telemetry.Event) string {
	t.Helper()
	fields, err := analytics.ParseGroupBy(groupBy)
	if err != nil {
		t.Fatal(err)
	}
	acc := analytics.NewStatsAccumulator(fields)
	for i := range events {
		acc.Add(&events[i])
	}
	b, err := json.Marshal(acc.Rows())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStatsCountsRatesNullKeysAndTies(t *testing.T) {
	events := []telemetry.Event{
		ev("job_result", "lava-b", "", telemetry.ResultSkip, true),
		ev("test_result", "lava-a", "y", telemetry.ResultIncomplete, true),
		ev("test_result", "lava-a", "x", telemetry.ResultPass, false),
		ev("job_result", "lava-b", "", telemetry.ResultUnknown, false),
		ev("test_result", "lava-a", "y", telemetry.ResultPass, false),
		ev("test_result", "lava-a", "x", telemetry.ResultFail, false),
		ev("job_submission", "lava-a", "z", "", false),
		ev("test_result", "lava-a", "x", telemetry.ResultPass, false),
	}
	// x has most events; y and the null device type tie on 2, and null sorts last.
	want := `[` +
		`{"device_type":"x","total":3,"pass":2,"fail":1,"incomplete":0,"skip":0,"infra_error":0,"fail_rate":0.333,"infra_rate":0,"duration":null},` +
		`{"device_type":"y","total":2,"pass":1,"fail":0,"incomplete":1,"skip":0,"infra_error":1,"fail_rate":0.5,"infra_rate":0.5,"duration":null},` +
		`{"device_type":null,"total":2,"pass":0,"fail":0,"incomplete":0,"skip":1,"infra_error":1,"fail_rate":0,"infra_rate":0.5,"duration":null},` +
		`{"device_type":"z","total":1,"pass":0,"fail":0,"incomplete":0,"skip":0,"infra_error":0,"fail_rate":0,"infra_rate":0,"duration":null}` +
		`]`
	if got := statsJSON(t, "device_type", events); got != want {
		t.Errorf("stats by device_type:\n got %s\nwant %s", got, want)
	}

	// Keys come in group_by order, lab carries the runtime, and ties break on the first
	// key, then the next.
	want = `[` +
		`{"lab":"lava-a","device_type":"x","total":3,"pass":2,"fail":1,"incomplete":0,"skip":0,"infra_error":0,"fail_rate":0.333,"infra_rate":0,"duration":null},` +
		`{"lab":"lava-a","device_type":"y","total":2,"pass":1,"fail":0,"incomplete":1,"skip":0,"infra_error":1,"fail_rate":0.5,"infra_rate":0.5,"duration":null},` +
		`{"lab":"lava-b","device_type":null,"total":2,"pass":0,"fail":0,"incomplete":0,"skip":1,"infra_error":1,"fail_rate":0,"infra_rate":0.5,"duration":null},` +
		`{"lab":"lava-a","device_type":"z","total":1,"pass":0,"fail":0,"incomplete":0,"skip":0,"infra_error":0,"fail_rate":0,"infra_rate":0,"duration":null}` +
		`]`
	if got := statsJSON(t, "lab,device_type", events); got != want {
		t.Errorf("stats by lab,device_type:\n got %s\nwant %s", got, want)
	}

	if got := statsJSON(t, "runtime", nil); got != `[]` {
		t.Errorf("stats of no events = %s, want []", got)
	}
}

func TestRatesRoundToThreePlacesHalfToEven(t *testing.T) {
	for _, c := range []struct {
		counts    analytics.Counts
		fail, inf float64
	}{
		{analytics.Counts{Total: 16, Fail: 1, InfraError: 3}, 0.062, 0.188}, // 0.0625 → 0.062, 0.1875 → 0.188, as Python's round
		{analytics.Counts{Total: 3, Fail: 1, Incomplete: 1, InfraError: 1}, 0.667, 0.333},
		{analytics.Counts{Total: 8, Incomplete: 1}, 0.125, 0},
		{analytics.Counts{}, 0, 0},
	} {
		if got := c.counts.FailRate(); got != c.fail {
			t.Errorf("%+v FailRate = %v, want %v", c.counts, got, c.fail)
		}
		if got := c.counts.InfraRate(); got != c.inf {
			t.Errorf("%+v InfraRate = %v, want %v", c.counts, got, c.inf)
		}
	}
}

func TestStatsDurationsComeOnlyFromEventsThatCarryThem(t *testing.T) {
	seconds := func(s float64) *float64 { return &s }
	events := []telemetry.Event{
		{Kind: "job_result", Runtime: "lava-a", Result: "pass", Duration: seconds(10)},
		{Kind: "job_result", Runtime: "lava-a", Result: "pass", Duration: seconds(30)},
		{Kind: "job_submission", Runtime: "lava-a"},
		{Kind: "job_result", Runtime: "lava-a", Result: "pass", Duration: seconds(20.25)},
		{Kind: "job_submission", Runtime: "lava-b"},
	}
	fields, _ := analytics.ParseGroupBy("runtime")
	acc := analytics.NewStatsAccumulator(fields)
	for i := range events {
		acc.Add(&events[i])
	}
	rows := acc.Rows()
	// Percentiles are by nearest rank ⌈q·n⌉: of three values, p50 is the middle one and
	// p99 the largest; max is exact.
	a := rows[0].Duration
	if a == nil || a.Count != 3 || a.Max != 30 || math.Abs(a.P50-20.25) > 0.2025 || math.Abs(a.P99-30) > 0.3 {
		t.Errorf("lava-a durations = %+v, want 3 of them, max 30, p50 ≈ 20.25 and p99 ≈ 30", a)
	}
	if rows[1].Duration != nil {
		t.Errorf("lava-b, with no durations, got %+v", rows[1].Duration)
	}
	// Of {398, 412.5}, every percentile from p50 up is the larger one, at most max.
	two := analytics.NewDurationSketch()
	two.Add(398)
	two.Add(412.5)
	if sum := two.Summary(); sum.P50 != 398 && math.Abs(sum.P50-398) > 3.98 || sum.P80 > 412.5 || math.Abs(sum.P80-412.5) > 4.125 || sum.P99 > 412.5 || math.Abs(sum.P99-412.5) > 4.125 {
		t.Errorf("{398, 412.5}: %+v, want p50 ≈ 398 and p80, p95, p99 ≈ 412.5", sum)
	}
}

func simulated(t testing.TB, events int) []telemetry.Event {
	t.Helper()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	out, err := simulate.Generate(simulate.Options{Seed: 7, Events: events, Start: start, End: start.Add(72 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStatsAccumulatorsMergeIntoTheSameAnswer(t *testing.T) {
	events := simulated(t, 6000)
	fields, _ := analytics.ParseGroupBy("runtime,device_type,kind")
	whole := analytics.NewStatsAccumulator(fields)
	shards := make([]*analytics.StatsAccumulator, 7)
	for i := range shards {
		shards[i] = analytics.NewStatsAccumulator(fields)
	}
	for i := range events {
		whole.Add(&events[i])
		shards[i%len(shards)].Add(&events[i])
	}
	merged := analytics.NewStatsAccumulator(fields)
	for i := len(shards) - 1; i >= 0; i-- {
		if err := merged.Merge(shards[i]); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := json.Marshal(whole.Rows())
	got, _ := json.Marshal(merged.Rows())
	if string(got) != string(want) {
		t.Errorf("merged shards differ from one accumulator:\n%s", firstDifference(want, got))
	}

	other, _ := analytics.ParseGroupBy("runtime")
	if err := merged.Merge(analytics.NewStatsAccumulator(other)); err == nil {
		t.Error("merging stats grouped by other fields succeeded")
	}
}

func TestAggregateBinaryRoundTrip(t *testing.T) {
	seconds := func(s float64) *float64 { return &s }
	for _, events := range [][]telemetry.Event{
		nil,
		{ev("job_result", "r", "", "fail", true), ev("job_submission", "r", "", "", false)},
		{{Kind: "build_result", Result: "pass", Duration: seconds(612.5)}, {Kind: "build_result", Result: "skip", Duration: seconds(0)}},
	} {
		var a analytics.Aggregate
		for i := range events {
			a.Add(&events[i])
		}
		b, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back analytics.Aggregate
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if back.Counts != a.Counts || (back.Durations == nil) != (a.Durations == nil) {
			t.Errorf("round trip of %+v gave %+v", a, back)
			continue
		}
		if a.Durations != nil && back.Durations.Summary() != a.Durations.Summary() {
			t.Errorf("durations %+v came back as %+v", a.Durations.Summary(), back.Durations.Summary())
		}
	}

	var a analytics.Aggregate
	for _, bad := range [][]byte{nil, {0}, {9, 1, 1}, {1, 5, 1}, {1, 1, 1, 1, 1, 1, 1, 0xff}} {
		if err := a.UnmarshalBinary(bad); err == nil {
			t.Errorf("UnmarshalBinary(%v) succeeded", bad)
		}
	}

	// A sketch of another accuracy cannot be merged with ours; reject it when read.
	coarse, err := ddsketch.NewDefaultDDSketchWithExactSummaryStatistics(0.05)
	if err != nil {
		t.Fatal(err)
	}
	_ = coarse.Add(3)
	var encoded []byte
	coarse.Encode(&encoded, false)
	var d analytics.DurationSketch
	if err := d.UnmarshalBinary(encoded); err == nil {
		t.Error("a sketch with 5% accuracy was accepted")
	}
}

// exactPercentile is the value at rank ⌊q·(n−1)⌋ of the sorted values (0-based): the lower
// nearest rank, the rank DDSketch estimates, so the 1% guarantee applies to it exactly.
// exactPercentile is the nearest-rank percentile: the value at rank ⌈q·n⌉ (1-based).
func exactPercentile(sorted []float64, q float64) float64 {
	return sorted[max(int(math.Ceil(q*float64(len(sorted)))), 1)-1]
}

func TestDurationPercentilesWithinOnePercentOfExact(t *testing.T) {
	// Realistic durations, milliseconds to hours: jobs, tests and builds.
	var durations []float64
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := simulate.Each(simulate.Options{Seed: 99, Events: 400_000, Start: start, End: start.Add(30 * 24 * time.Hour)},
		func(e telemetry.Event) error {
			if e.Duration != nil {
				durations = append(durations, *e.Duration)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(durations) < 100_000 {
		t.Fatalf("%d durations, want at least 100,000", len(durations))
	}

	whole := analytics.NewDurationSketch()
	parts := make([]*analytics.DurationSketch, 16)
	for i := range parts {
		parts[i] = analytics.NewDurationSketch()
	}
	for i, d := range durations {
		whole.Add(d)
		parts[i%len(parts)].Add(d)
	}
	// As the rollups will: store each part, read it back, merge.
	merged := analytics.NewDurationSketch()
	for _, p := range parts {
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var read analytics.DurationSketch
		if err := read.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		merged.Merge(&read)
	}

	sorted := append([]float64(nil), durations...)
	sort.Float64s(sorted)
	for _, s := range []*analytics.DurationSketch{whole, merged} {
		if s.Count() != int64(len(sorted)) || s.Max() != sorted[len(sorted)-1] {
			t.Errorf("count %d and max %v, want %d and %v exactly", s.Count(), s.Max(), len(sorted), sorted[len(sorted)-1])
		}
		for _, q := range []float64{0, 0.01, 0.25, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1} {
			exact, got := exactPercentile(sorted, q), s.Quantile(q)
			if math.Abs(got-exact) > analytics.DurationRelativeAccuracy*exact {
				t.Errorf("quantile %v = %v, exact %v: off by %.3f%%", q, got, exact, 100*math.Abs(got-exact)/exact)
			}
		}
		// What the API shows is rounded to microseconds, which may add half of one.
		summary := s.Summary()
		for _, c := range []struct {
			name string
			q    float64
			got  float64
		}{{"p50", 0.5, summary.P50}, {"p80", 0.8, summary.P80}, {"p95", 0.95, summary.P95}, {"p99", 0.99, summary.P99}, {"max", 1, summary.Max}} {
			exact := exactPercentile(sorted, c.q)
			if math.Abs(c.got-exact) > analytics.DurationRelativeAccuracy*exact+0.5e-6 {
				t.Errorf("%s = %v, exact %v", c.name, c.got, exact)
			}
		}
	}
	if whole.Summary() != merged.Summary() {
		t.Errorf("merged parts summarise as %+v, the whole as %+v", merged.Summary(), whole.Summary())
	}
}

func BenchmarkStatsAdd(b *testing.B) {
	events := simulated(b, 10_000)
	fields, _ := analytics.ParseGroupBy("runtime,device_type")
	b.ResetTimer()
	for b.Loop() {
		acc := analytics.NewStatsAccumulator(fields)
		for i := range events {
			acc.Add(&events[i])
		}
		_ = acc.Rows()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
}
