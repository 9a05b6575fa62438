package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/api/reports"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// The domain's golden dataset and answers (internal/telemetry/analytics/testdata). Served
// through DynamoDB Local and the handlers, the same requests must give the same bytes: the
// store path (index choice, shard fan-out, time bounds, expiry) loses or adds nothing.
var (
	datasetEnd     = time.Date(2026, 7, 21, 0, 0, 0, 0, time.UTC)
	datasetOptions = simulate.Options{Seed: 20260721, Events: 2500,
		Start: time.Date(2026, 7, 19, 0, 0, 0, 0, time.UTC), End: datasetEnd}
	domainGoldens = filepath.Join("..", "telemetry", "analytics", "testdata")
)

type analyticsAPI struct {
	stats, anomalies api.Handler
	events           *store.Events
}

func newAnalytics(t *testing.T, now time.Time) analyticsAPI {
	t.Helper()
	tables := dynamotest.NewTables(t)
	events := store.NewEvents(dynamotest.Client(t), store.EventsOptions{
		Table: tables.Events, EventShards: 4, RuntimeShards: 3, KindShards: 5,
		Retention: 14 * 24 * time.Hour, CursorSecret: []byte("k"),
		Now: func() time.Time { return now },
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
	deps := api.Deps{Events: events, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: func() time.Time { return now }}
	return analyticsAPI{stats: reports.NewStats(deps), anomalies: reports.NewAnomalies(deps), events: events}
}

// queryOfGolden turns a golden file name such as "kind-job_result,group_by-lab,device_id.json"
// back into its request: parameter names have no '-', so the first one splits name from
// value, and a part with no '-' continues the previous value's list. It reports false
// for goldens whose filters are not expressible as query parameters.
func queryOfGolden(name string, accepted []string) (string, bool) {
	q := url.Values{}
	last := ""
	for _, part := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(name, "kernelci-"), ".json"), ",") {
		k, v, found := strings.Cut(part, "-")
		if !found && last != "" {
			q[last][0] += "," + part
			continue
		}
		if !slices.Contains(accepted, k) {
			return "", false
		}
		q.Set(k, v)
		last = k
	}
	return q.Encode(), true
}

func indent(t *testing.T, raw string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(raw), "", "  "); err != nil {
		t.Fatal(err)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// matchGolden asks h with query and compares the answer with the golden file at path.
func matchGolden(t *testing.T, h api.Handler, query, path string) {
	t.Helper()
	resp, err := h(t.Context(), request("GET", query, ""))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v %s", resp.StatusCode, err, resp.Body)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := indent(t, resp.Body); !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		t.Errorf("differs from %s:\n%.600s", path, got)
	}
}

// statsGoldenQueries are the requests of the stats goldens whose names do not spell their
// query: time ranges relative to the dataset's end, and a filter name without a value.
var statsGoldenQueries = map[string]string{
	"since-24h,group_by-runtime.json":          "group_by=runtime&since=2026-07-20T00:00:00Z",
	"since-until-6h,group_by-device_type.json": "group_by=device_type&since=2026-07-20T12:00:00Z&until=2026-07-20T18:00:00Z",
	"no-match,group_by-runtime.json":           "group_by=runtime&runtime=lava-nowhere",
}

// TestStatsThroughTheStoreMatchDomainGoldens runs every stats golden through the store
// with the clock at the dataset's end; all but one also through the handler. KernelCI's
// stats route takes no is_infra_error filter, so that golden is read through the store's
// EachEvent, the read the handler makes, with the filter set directly.
func TestStatsThroughTheStoreMatchDomainGoldens(t *testing.T) {
	a := newAnalytics(t, datasetEnd)
	files, _ := filepath.Glob(filepath.Join(domainGoldens, "stats", "*.json"))
	if len(files) < 26 {
		t.Fatalf("%d stats goldens, want at least 26", len(files))
	}
	for _, path := range files {
		name := filepath.Base(path)
		if name == "is_infra_error,group_by-kind,error_type.json" {
			t.Run(name, func(t *testing.T) { matchInfraGolden(t, a.events, path) })
			continue
		}
		query, ok := statsGoldenQueries[name]
		if !ok {
			query, ok = queryOfGolden(name, []string{"group_by", "kind", "runtime", "lab", "device_type", "device_id", "job_name", "tree", "branch", "arch"})
		}
		if !ok {
			t.Errorf("%s: no request for this golden; add it to statsGoldenQueries", name)
			continue
		}
		t.Run(name, func(t *testing.T) { matchGolden(t, a.stats, query, path) })
	}
}

func matchInfraGolden(t *testing.T, events *store.Events, path string) {
	groupBy, err := analytics.ParseGroupBy("kind,error_type")
	if err != nil {
		t.Fatal(err)
	}
	acc := analytics.NewStatsAccumulator(groupBy)
	infra := true
	if err := events.EachEvent(t.Context(), telemetry.Filter{IsInfraError: &infra}, func(e telemetry.Event) error {
		acc.Add(&e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(acc.Rows())
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(indent(t, string(got))), bytes.TrimSpace(want)) {
		t.Errorf("differs from %s:\n%.600s", path, indent(t, string(got)))
	}
}

func TestAnomaliesThroughTheStoreMatchDomainGoldens(t *testing.T) {
	a := newAnalytics(t, datasetEnd)
	files, _ := filepath.Glob(filepath.Join(domainGoldens, "anomalies", "*.json"))
	checked := 0
	for _, path := range files {
		name := filepath.Base(path)
		if name == "empty-window.json" || strings.Contains(name, "event-at-since") {
			continue // these stand at other clocks; see TestAnomalyWindowEdges
		}
		query, _ := queryOfGolden(name, []string{"window", "threshold", "min_total", "scope"})
		if name == "defaults.json" {
			query = ""
		}
		checked++
		t.Run(name, func(t *testing.T) { matchGolden(t, a.anomalies, query, path) })
	}
	if checked < 20 {
		t.Fatalf("checked %d anomaly goldens", checked)
	}
}

// TestAnomalyWindowEdges: with the clock injected, an event exactly at since counts and
// one a microsecond earlier does not; a window past all data is empty, not an error.
func TestAnomalyWindowEdges(t *testing.T) {
	evs, _ := simulate.Generate(datasetOptions)
	var edge telemetry.Event
	for _, e := range evs {
		if e.Kind == telemetry.KindJobResult && e.DeviceID != "" {
			edge = e
			break
		}
	}
	total := func(now time.Time) float64 {
		a := newAnalytics(t, now)
		r := call(t, a.anomalies, request("GET", "window=1h&scope=device&min_total=1&threshold=0", ""))
		for _, row := range r.body["result_anomalies"].([]any) {
			m := row.(map[string]any)
			if m["device_id"] == edge.DeviceID {
				return m["total"].(float64)
			}
		}
		return 0
	}
	atSince, justAfter := total(edge.TS.Add(time.Hour)), total(edge.TS.Add(time.Hour+time.Microsecond))
	if atSince != justAfter+1 {
		t.Errorf("device %s: %v results with its job exactly at since, %v a microsecond later; want one more", edge.DeviceID, atSince, justAfter)
	}
	empty := call(t, newAnalytics(t, datasetEnd.Add(72*time.Hour)).anomalies, request("GET", "window=1h", ""))
	if empty.status != 200 || len(empty.body["result_anomalies"].([]any)) != 0 || len(empty.body["error_anomalies"].([]any)) != 0 {
		t.Errorf("empty window: %d %s", empty.status, empty.raw)
	}
}

func TestAnalyticsBadParametersNameWhatIsAccepted(t *testing.T) {
	a := newAPI(t, nil)
	deps := a.deps
	stats, anomalies := reports.NewStats(deps), reports.NewAnomalies(deps)
	for _, tc := range []struct {
		name    string
		h       api.Handler
		query   string
		mention string
	}{
		{"missing group_by", stats, "", "runtime, lab, device_type"},
		{"unknown group_by", stats, "group_by=colour", "runtime, lab, device_type"},
		{"lab differs from runtime", stats, "group_by=runtime&lab=a&runtime=b", "lab"},
		{"unparsable since", stats, "group_by=runtime&since=monday", "ISO 8601"},
		{"unknown stats parameter", stats, "group_by=runtime&test_name=x", "accepted"},
		{"window 2h", anomalies, "window=2h", "1h, 3h, 6h, 12h, 24h, 48h"},
		{"threshold 1.5", anomalies, "threshold=1.5", "from 0 to 1"},
		{"min_total 0", anomalies, "min_total=0", "at least 1"},
		{"scope other", anomalies, "scope=lab", "device_type, device"},
		{"unknown anomalies parameter", anomalies, "since=2026-01-01", "accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertClientError(t, call(t, tc.h, request("GET", tc.query, "")), 400, tc.mention)
		})
	}
}
