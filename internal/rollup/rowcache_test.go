package rollup_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// TestCachedRowsAnswerAsDecodedOnes: a reader that keeps decoded rows for later requests
// answers each of them (stats by several groupings, anomalies, pipeline stats, baselines
// and silence, trends) exactly as
// one that decodes every row, leaves the rows it shares as stored, and once new events
// are rolled up answers from the rewritten rows, never from the ones it kept.
func TestCachedRowsAnswerAsDecodedOnes(t *testing.T) {
	now := dataStart.Add(30*time.Hour + 150*time.Second)
	e := newEnv(t, now)
	e.put(t, generate(t, 41, 800, dataStart, now, now))
	e.put(t, pipelineRunEvents(t, 60, dataStart.Add(7*time.Hour), dataStart.Add(13*time.Hour), now))
	e.runAll(t, e.summary, "")
	cache := rollup.NewRowCache(rollup.DefaultRowCacheBytes)
	cached := e.reader
	cached.Rows = cache

	since := now.Add(-24 * time.Hour)
	answers := func(r rollup.Reader) (out [][]byte, rows int) {
		t.Helper()
		for _, groupBy := range [][]string{{"runtime"}, {"device_type"}, {"runtime", "device_type"}, {"kind", "tree"}} {
			acc, ans, ok, err := r.Stats(t.Context(), telemetry.Filter{Since: since}, groupBy)
			if err != nil || !ok {
				t.Fatalf("stats by %v: ok %v, %v", groupBy, ok, err)
			}
			out, rows = append(out, marshal(t, acc.Rows())), rows+ans.Rows
		}
		for _, p := range anomalyParams {
			acc, ans, err := r.Anomalies(t.Context(), p, now)
			if err != nil {
				t.Fatal(err)
			}
			out, rows = append(out, marshal(t, acc.Report())), rows+ans.Rows
		}
		for _, exclude := range []bool{false, true} {
			f := telemetry.Filter{Equals: map[string]string{"tree": "test/project"}, Since: since}
			ps, ans, ok, err := r.PipelineStats(t.Context(), f, exclude)
			if err != nil || !ok {
				t.Fatalf("pipeline stats: ok %v, %v", ok, err)
			}
			out, rows = append(out, marshal(t, ps.Summary())), rows+ans.Rows
		}
		h, ans, err := r.History(t.Context(), analytics.BaselineParams{}.WithDefaults(), now)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, marshal(t, h.BaselineAnomalies()), marshal(t, h.Silent()))
		rows += ans.Rows
		for _, tr := range rollup.TrendRanges {
			trends, err := rollup.ReadTrends(t.Context(), e.summary, r.Rows, tr, nil, now)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, marshal(t, trends))
		}
		return out, rows
	}
	check := func(stage string) {
		t.Helper()
		want, rows := answers(e.reader)
		if rows == 0 {
			t.Fatalf("%s: no answer read a rollup row", stage)
		}
		for round := range 3 { // the first decodes, the next are served what it kept
			got, _ := answers(cached)
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("%s, request %d of round %d: with kept rows\n%.400s\nwant\n%.400s", stage, i, round, got[i], want[i])
				}
			}
		}
		if err := rollup.CheckRowCache(cache); err != nil {
			t.Errorf("%s: %v", stage, err)
		}
	}
	check("rolled up")
	if rollup.RowCacheLen(cache) == 0 {
		t.Fatal("no row was kept")
	}
	// Late events in buckets already rolled up: their rows are rewritten.
	e.put(t, generate(t, 42, 300, dataStart.Add(9*time.Hour), now.Add(-time.Hour), now))
	e.put(t, pipelineRunEvents(t, 20, dataStart.Add(8*time.Hour), dataStart.Add(12*time.Hour), now))
	e.runAll(t, e.summary, "")
	check("rows rewritten")
}

// TestRowCacheKeepsToItsMemory: past its estimated memory the cache lets its least
// recently used rows go, and what it counts is the sum of what it holds.
func TestRowCacheKeepsToItsMemory(t *testing.T) {
	bodies := make([][]byte, 10)
	for i := range bodies {
		row := rollup.NewRow()
		for _, e := range generate(t, int64(50+i), 40, dataStart, dataStart.Add(time.Hour), dataStart) {
			row.Add(&e, 0)
		}
		var err error
		if bodies[i], err = row.Encode(); err != nil {
			t.Fatal(err)
		}
	}
	// Room for eight of the largest, estimated at 40 bytes a stored byte: each is small
	// enough to keep (an eighth of the limit at most), and not all ten fit.
	largest := 0
	for _, b := range bodies {
		largest = max(largest, len(b)+8) // with the key's prefix
	}
	limit := uint64(8 * 40 * largest)
	c := rollup.NewRowCache(limit)
	var last *rollup.Row
	for _, b := range bodies {
		var err error
		if last, err = rollup.DecodeThrough(c, b); err != nil {
			t.Fatal(err)
		}
		if err := rollup.CheckRowCache(c); err != nil {
			t.Fatal(err)
		}
		if w := rollup.RowCacheWeight(c); w > limit {
			t.Fatalf("the cache holds %d bytes, over its %d", w, limit)
		}
	}
	if n := rollup.RowCacheLen(c); n == 0 || n >= len(bodies) {
		t.Errorf("the cache holds %d rows of %d, want some and not all", n, len(bodies))
	}
	if again, _ := rollup.DecodeThrough(c, bodies[len(bodies)-1]); again != last {
		t.Error("the row decoded last was not kept")
	}
}
