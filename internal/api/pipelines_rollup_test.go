package api_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/api/reports"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// runEvents maps runs to the events POST /pipelines stores for them, by the same decoder,
// less build_result events, which pipeline stats do not read.
func runEvents(t *testing.T, runs []simulate.PipelineRun) []telemetry.Event {
	t.Helper()
	var out []telemetry.Event
	for i, r := range runs {
		doc, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		run, err := telemetry.DecodePipelineRun(doc, telemetry.DefaultPipelineRuntime, testNow)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, doc)
		}
		for _, e := range run.Events {
			if e.Kind != telemetry.KindBuildResult {
				out = append(out, e)
			}
		}
	}
	return out
}

// TestPipelineStatsWithinOnePercentOfExact: 2,000 runs, the older ones rolled up by the
// rollup job at a fixed clock, the newer ones and a few late older ones posted after it
// (their units stale): GET /pipelines/stats is within 1% of the exact percentiles, with and
// without exclude_restarts, over ranges spanning rolled-up and raw data (read from both,
// as the handler logs) and without a since (raw events alone).
func TestPipelineStatsWithinOnePercentOfExact(t *testing.T) {
	clock := func() time.Time { return testNow }
	tables := dynamotest.NewTables(t)
	client := dynamotest.Client(t)
	summary := store.NewSummary(client, store.SummaryOptions{Table: tables.Summary, EventsTable: tables.Events, EventShards: 4, Now: clock})
	evStore := store.NewEvents(client, store.EventsOptions{
		Table: tables.Events, EventShards: 4, RuntimeShards: 2, KindShards: 4,
		Retention: 14 * 24 * time.Hour, CursorSecret: []byte("k"), Stale: summary, Now: clock,
	})
	var logged bytes.Buffer
	deps := api.Deps{Events: evStore, Summary: summary, Retention: 14 * 24 * time.Hour,
		Log: slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})), Now: clock}
	post, stats := api.NewPipelines(deps), reports.NewPipelineStats(deps)

	start := testNow.Add(-30 * time.Hour)
	runs := simulate.PipelineRuns(15, 2000, start, testNow)
	// Runs of the last two hours arrive after the rollup, and so does one older run in a
	// hundred and fifty: stale units amid rolled-up ones, few enough (under
	// rollup.DefaultMaxStaleUnits) to be read unit by unit.
	cut := testNow.Add(-2 * time.Hour)
	var before, after []simulate.PipelineRun
	for i, r := range runs {
		if r.Created.Before(cut) && i%150 != 0 {
			before = append(before, r)
		} else {
			after = append(after, r)
		}
	}
	put := func(runs []simulate.PipelineRun) {
		t.Helper()
		// The first few through the handler, the rest straight to the store in one batch.
		for _, r := range runs[:10] {
			doc, _ := json.Marshal(r)
			if resp := call(t, post, postPipeline("/pipelines", "", string(doc))); resp.status != 200 {
				t.Fatalf("run %d: %d %s", r.PipelineID, resp.status, resp.raw)
			}
		}
		outcomes, err := evStore.PutEvents(t.Context(), runEvents(t, runs[10:]))
		if err != nil || slices.Contains(outcomes, telemetry.NotStored) {
			t.Fatalf("store: %v", err)
		}
	}
	put(before)
	res, err := rollup.NewJob(summary, rollup.JobOptions{Now: clock, Budget: 10 * time.Minute}).Run(t.Context())
	if err != nil || res.Units == 0 || res.Left != 0 {
		t.Fatalf("rollup: %+v %v", res, err)
	}
	put(after)

	// A range that starts and ends inside 5-minute buckets, so its edges are read raw.
	since, until := start.Add(2*time.Hour+7*time.Minute+3*time.Second), testNow.Add(-2*time.Hour-11*time.Minute)
	inRange := func(project, ref string) func(simulate.PipelineRun) bool {
		return func(r simulate.PipelineRun) bool {
			return r.Project == project && (ref == "" || r.Ref == ref) && !r.Created.Before(since) && !r.Created.After(until)
		}
	}
	anyTime := func(project, ref string) func(simulate.PipelineRun) bool {
		return func(r simulate.PipelineRun) bool { return r.Project == project && (ref == "" || r.Ref == ref) }
	}
	for _, tc := range []struct {
		query    url.Values
		inRange  func(simulate.PipelineRun) bool
		excluded bool
		raw      bool // no since: raw events alone
	}{
		{url.Values{"project": {"test/project"}}, anyTime("test/project", ""), false, true},
		{url.Values{"project": {"test/project"}, "ref": {"master"}, "exclude_restarts": {"true"}}, anyTime("test/project", "master"), true, true},
		{url.Values{"project": {"test/project"}}, inRange("test/project", ""), false, false},
		{url.Values{"project": {"test/project"}, "exclude_restarts": {"true"}}, inRange("test/project", ""), true, false},
		{url.Values{"project": {"test/project"}, "ref": {"master"}}, inRange("test/project", "master"), false, false},
		{url.Values{"project": {"test/project"}, "ref": {"master"}, "exclude_restarts": {"1"}}, inRange("test/project", "master"), true, false},
		{url.Values{"project": {"other/project"}, "exclude_restarts": {"false"}}, inRange("other/project", ""), false, false},
	} {
		if !tc.raw {
			tc.query.Set("since", since.Format(time.RFC3339Nano))
			tc.query.Set("until", until.Format(time.RFC3339Nano))
		}
		t.Run(tc.query.Encode(), func(t *testing.T) {
			logged.Reset()
			resp, err := stats(t.Context(), request("GET", tc.query.Encode(), ""))
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%d %v %s", resp.StatusCode, err, resp.Body)
			}
			if resp.Headers[reports.RollupWindowHeader] != "" {
				t.Errorf("a range within retention answered as older than it: %v", resp.Headers)
			}
			checkPipelineSummary(t, resp.Body, runs, tc.inRange, tc.excluded)
			var line struct {
				Events     int `json:"events"`
				RollupRows int `json:"rollup_rows"`
			}
			for _, l := range bytes.Split(logged.Bytes(), []byte("\n")) {
				if bytes.Contains(l, []byte(`"msg":"pipeline stats"`)) {
					_ = json.Unmarshal(l, &line)
				}
			}
			if line.Events == 0 || (line.RollupRows == 0) != tc.raw {
				t.Errorf("answered from %d rollup rows and %d raw events; want both with a since, raw events alone without", line.RollupRows, line.Events)
			}
		})
	}
}
