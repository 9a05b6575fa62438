package api_test

import (
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/api/reports"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/store"
)

// TestAnalyticsFromRollupsMatchDomainGoldens: with a summary table, the golden requests
// give the same bytes before the rollup has run (every unit stale: raw events) and after
// it (whole buckets from rollup rows, raw events only at the edges). Stats goldens are
// asked with a since at the dataset's start, which selects every event, so that rollups
// are used at all.
func TestAnalyticsFromRollupsMatchDomainGoldens(t *testing.T) {
	now := datasetEnd
	tables := dynamotest.NewTables(t)
	client := dynamotest.Client(t)
	clock := func() time.Time { return now }
	summary := store.NewSummary(client, store.SummaryOptions{Table: tables.Summary, EventsTable: tables.Events, EventShards: 4, Now: clock})
	events := store.NewEvents(client, store.EventsOptions{
		Table: tables.Events, EventShards: 4, RuntimeShards: 3, KindShards: 5,
		Retention: 14 * 24 * time.Hour, CursorSecret: []byte("k"), Stale: summary, Now: clock,
	})
	evs, err := simulate.Generate(datasetOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		evs[i].ReceivedAt = datasetEnd
	}
	if _, err := events.PutEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	deps := api.Deps{Events: events, Summary: summary, Retention: 14 * 24 * time.Hour,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: clock}
	stats, anomalies := reports.NewStats(deps), reports.NewAnomalies(deps)

	since := url.QueryEscape(datasetOptions.Start.Format(time.RFC3339))
	check := func(t *testing.T) {
		statsFiles, _ := filepath.Glob(filepath.Join(domainGoldens, "stats", "*.json"))
		for _, path := range statsFiles {
			query, ok := queryOfGolden(filepath.Base(path), []string{"group_by", "kind", "runtime", "lab", "device_type", "device_id", "job_name", "tree", "branch", "arch"})
			if ok {
				t.Run(filepath.Base(path), func(t *testing.T) { matchGolden(t, stats, query+"&since="+since, path) })
			}
		}
		anomalyFiles, _ := filepath.Glob(filepath.Join(domainGoldens, "anomalies", "*.json"))
		for _, path := range anomalyFiles {
			name := filepath.Base(path)
			if name == "empty-window.json" || strings.Contains(name, "event-at-since") {
				continue
			}
			query, _ := queryOfGolden(name, []string{"window", "threshold", "min_total", "scope"})
			if name == "defaults.json" {
				query = ""
			}
			t.Run(name, func(t *testing.T) { matchGolden(t, anomalies, query, path) })
		}
	}
	t.Run("before the rollup", check)
	r, err := rollup.NewJob(summary, rollup.JobOptions{Now: clock, Budget: 10 * time.Minute}).Run(t.Context())
	if err != nil || r.Units == 0 || r.Left != 0 {
		t.Fatalf("rollup: %+v %v", r, err)
	}
	t.Run("after the rollup", check)
}

// TestSummaryBeforeAnySnapshot: without a snapshot the summary says when to come back;
// a bad at or an unknown parameter is the client's to fix.
func TestSummaryBeforeAnySnapshot(t *testing.T) {
	deps := api.Deps{Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: time.Now}
	h := reports.NewSummary(deps)
	r := call(t, h, request("GET", "", ""))
	if r.status != 503 || r.headers["Retry-After"] == "" || !strings.Contains(r.raw, "every minute") {
		t.Errorf("no snapshot: %d %v %s, want 503 with Retry-After", r.status, r.headers, r.raw)
	}
	assertClientError(t, call(t, h, request("GET", "at=monday", "")), 400, "monday\\\" is not an ISO 8601 time such as 2026-08-20T14:03:11Z")
	assertClientError(t, call(t, h, request("GET", "at=0000-12-31", "")), 400, "is outside the years 0001 to 9999")
	assertClientError(t, call(t, h, request("GET", "window=6h", "")), 400, "accepted")
	// The future is a mistake to say, not a summary to look for; a fast clock is not.
	future := time.Now().Add(2 * time.Minute).UTC().Format(time.RFC3339)
	assertClientError(t, call(t, h, request("GET", "at="+future, "")), 400, "is in the future (it is now ")
	if r := call(t, h, request("GET", "at="+time.Now().Add(30*time.Second).UTC().Format(time.RFC3339), "")); r.status != 404 {
		t.Errorf("at 30 s ahead: %d %s; want the 404 of no summary then, as for a time past", r.status, r.raw)
	}
}
