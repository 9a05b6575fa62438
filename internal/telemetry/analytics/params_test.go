package analytics_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// TestParameterProblemsBelongToNoEvent: a bad query parameter is no event's problem, so
// it carries Index -1 and its JSON has no index, which would point a client at an event.
func TestParameterProblemsBelongToNoEvent(t *testing.T) {
	_, anomalyErr := analytics.ParseAnomalyParams(map[string]string{"window": "2h"})
	_, groupErr := analytics.ParseGroupBy("colour")
	for name, err := range map[string]error{"anomaly parameters": anomalyErr, "group_by": groupErr} {
		var e *telemetry.Error
		if !errors.As(err, &e) || len(e.Fields) != 1 {
			t.Errorf("%s: %v, want one problem", name, err)
			continue
		}
		if e.Fields[0].Index != -1 {
			t.Errorf("%s: index %d, want -1", name, e.Fields[0].Index)
		}
		b, _ := json.Marshal(e.Fields[0])
		if strings.Contains(string(b), "index") {
			t.Errorf("%s: %s names an event index", name, b)
		}
	}
}

// TestGroupByRefusesAnEmptyName: "runtime,,kind" is a typo, not two fields.
func TestGroupByRefusesAnEmptyName(t *testing.T) {
	for _, s := range []string{"runtime,,kind", "runtime,", " , kind"} {
		if _, err := analytics.ParseGroupBy(s); telemetry.ErrorCode(err) != telemetry.CodeInvalid || !strings.Contains(err.Error(), "empty") {
			t.Errorf("ParseGroupBy(%q) = %v, want a 400 about an empty field name", s, err)
		}
	}
}

// TestThresholdMinusZeroIsZero: threshold=-0 is the threshold 0, echoed as 0.0, not
// -0.0 (the fresh-user trial saw "threshold":-0.0 in the answer).
func TestThresholdMinusZeroIsZero(t *testing.T) {
	p, err := analytics.ParseAnomalyParams(map[string]string{"threshold": "-0"})
	if err != nil || p.Threshold != 0 || math.Signbit(p.Threshold) {
		t.Errorf("threshold -0: %v (sign bit %v), %v; want 0", p.Threshold, math.Signbit(p.Threshold), err)
	}
}

// TestZeroDurationCounts: a job that took 0 s has a duration; only negative and infinite
// ones are not durations.
func TestZeroDurationCounts(t *testing.T) {
	var a analytics.Aggregate
	for _, d := range []float64{0, -1, math.Inf(1), 2} {
		a.Add(&telemetry.Event{Kind: telemetry.KindJobResult, Runtime: "r", Duration: &d})
	}
	if a.Durations == nil || a.Durations.Count() != 2 {
		t.Fatalf("durations %+v, want 0 and 2 counted", a.Durations)
	}
	if s := a.Durations.Summary(); s.Count != 2 {
		t.Errorf("summary %+v, want count 2", s)
	}
}

// TestAggregateMergeWithoutDurations: merging with a side that saw no duration keeps the
// other side's, and never shares a sketch between the two.
func TestAggregateMergeWithoutDurations(t *testing.T) {
	d := 3.0
	timed := func() *analytics.Aggregate {
		var a analytics.Aggregate
		a.Add(&telemetry.Event{Kind: telemetry.KindJobResult, Runtime: "r", Duration: &d})
		return &a
	}
	untimed := &analytics.Aggregate{}
	untimed.Add(&telemetry.Event{Kind: telemetry.KindJobResult, Runtime: "r"})

	a := timed()
	a.Merge(untimed)
	if a.Total != 2 || a.Durations == nil || a.Durations.Count() != 1 {
		t.Errorf("timed after merging untimed: total %d, durations %+v", a.Total, a.Durations)
	}
	b, src := &analytics.Aggregate{}, timed()
	b.Merge(src)
	if b.Durations == nil || b.Durations.Count() != 1 {
		t.Fatalf("untimed after merging timed: durations %+v, want 1", b.Durations)
	}
	b.Durations.Add(5)
	if src.Durations.Count() != 1 {
		t.Errorf("the merged sketch is shared with its source: source now counts %d", src.Durations.Count())
	}
}

// TestAggregateDecodingRefusesTruncatedInput: a rollup cut short is an error, never an
// aggregate of zeros.
func TestAggregateDecodingRefusesTruncatedInput(t *testing.T) {
	var a analytics.Aggregate
	a.Add(&telemetry.Event{Kind: telemetry.KindJobResult, Runtime: "r", Result: telemetry.ResultPass})
	b, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n < 7 && n < len(b); n++ {
		var got analytics.Aggregate
		if err := got.UnmarshalBinary(b[:n]); err == nil {
			t.Errorf("%d of %d bytes decoded without error: %+v", n, len(b), got)
		}
	}
}

// TestNewestOfEqualTimesIsTheGreaterID: two events of a group at the same ts report the
// one with the greater id as the latest, whichever arrives first, so the answer does not
// depend on the order shards are read in.
func TestNewestOfEqualTimesIsTheGreaterID(t *testing.T) {
	ts := time.Date(2026, 7, 20, 10, 0, 0, 0, time.UTC)
	event := func(id string) telemetry.Event {
		return telemetry.Event{ID: id, Kind: telemetry.KindJobResult, Runtime: "r", DeviceType: "d", TS: ts,
			Result: telemetry.ResultFail, ErrorMsg: "from " + id}
	}
	params := analytics.DefaultAnomalyParams()
	params.MinTotal, params.Threshold = 1, 0
	for _, order := range [][]string{{"id-a", "id-b"}, {"id-b", "id-a"}} {
		acc := analytics.NewAnomalyAccumulator(params, ts.Add(time.Hour))
		for _, id := range order {
			e := event(id)
			acc.Add(&e)
		}
		rows := acc.Report().ResultAnomalies
		if len(rows) != 1 || rows[0].LatestErrorMsg == nil || *rows[0].LatestErrorMsg != "from id-b" {
			t.Errorf("added %v: rows %+v, want one whose latest error is from id-b", order, rows)
		}
	}
}
