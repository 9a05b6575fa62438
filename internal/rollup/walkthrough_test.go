package rollup_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/api/reports"
	"github.com/pipetel/pipetel/internal/rollup"
)

// The simulation's broken devices: one never boots (infrastructure errors), one fails
// every job (internal/simulate/world.go).
var brokenDevices = []string{"mt8192-asurada-spherion-r0-cbg-1", "meson-sm1-s905d3-libretech-cc-lab-baylibre-02"}

// TestDemoWalkthrough is `make dev`, `make demo` and a schedule tick with a fake clock:
// the demo's events go in, one tick of the scheduled rollup (the function's own code,
// with the configured windows) runs, and GET /telemetry/summary lists a broken device as
// an open anomaly since that tick. With no more events, once the windows have passed, a
// later tick shows it resolved, with the same start.
func TestDemoWalkthrough(t *testing.T) {
	now := time.Date(2026, 7, 21, 6, 0, 0, 0, time.UTC)
	e := newEnv(t, now)
	e.put(t, generate(t, 1, 1500, now.Add(-12*time.Hour), now, now))
	deps := api.Deps{Events: e.events, Summary: e.summary, Now: e.clock.Now, Retention: retention,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), PublicReads: true,
		RollupAnomalyWindows: []time.Duration{6 * time.Hour, 24 * time.Hour}, RollupAnomalyThreshold: 0.5}
	tick := rollup.NewScheduled(deps)
	summary := reports.NewSummary(deps)
	get := func(at time.Time) rollup.Snapshot {
		t.Helper()
		e.clock.Set(at)
		if err := tick(t.Context()); err != nil {
			t.Fatalf("tick at %s: %v", at, err)
		}
		resp, err := summary(t.Context(), events.APIGatewayV2HTTPRequest{RawPath: "/telemetry/summary",
			RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/telemetry/summary"}}})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /telemetry/summary: %d %s %v", resp.StatusCode, resp.Body, err)
		}
		var s rollup.Snapshot
		if err := json.Unmarshal([]byte(resp.Body), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// KernelCI's result anomalies of the broken devices; once their events stop, the same
	// devices may open silence anomalies, which are right and not what this follows.
	broken := func(recs []rollup.AnomalyRecord) map[string]rollup.AnomalyRecord {
		out := map[string]rollup.AnomalyRecord{}
		for _, a := range recs {
			if a.Kind != "result" {
				continue
			}
			for _, id := range brokenDevices {
				if strings.Contains(a.Key, id) {
					out[a.Key] = a
				}
			}
		}
		return out
	}

	first := get(now.Add(time.Minute))
	open := broken(first.OpenAnomalies)
	if len(open) == 0 {
		t.Fatalf("after one tick no broken device is an open anomaly: %+v", first.OpenAnomalies)
	}
	for key, a := range open {
		if a.Since != first.TakenAt {
			t.Errorf("%s open since %s, want the tick that found it, %s", key, a.Since, first.TakenAt)
		}
	}

	// An anomaly resolves only after DefaultResolveAfter evaluations in a row have not
	// found it (hysteresis), so the ticks after the window has passed are counted: still
	// open before the last of them, resolved at it.
	var last rollup.Snapshot
	for i := range rollup.DefaultResolveAfter {
		last = get(now.Add(25*time.Hour + time.Duration(i)*time.Minute))
		if i < rollup.DefaultResolveAfter-1 && len(broken(last.OpenAnomalies)) != len(open) {
			t.Errorf("after %d clear evaluations %d of %d anomalies of broken devices are open; they resolve after %d",
				i+1, len(broken(last.OpenAnomalies)), len(open), rollup.DefaultResolveAfter)
		}
	}
	resolved := broken(last.RecentlyResolved)
	for key, a := range open {
		r, ok := resolved[key]
		if !ok || r.ResolvedAt == nil || *r.ResolvedAt != last.TakenAt || r.Since != a.Since {
			t.Errorf("%s 25 h later: resolved %+v, want resolved at %s with since %s", key, r, last.TakenAt, a.Since)
		}
	}
	if n := len(broken(last.OpenAnomalies)); n != 0 {
		t.Errorf("25 h after the demo's events %d anomalies of broken devices are still open", n)
	}
}
