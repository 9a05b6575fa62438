package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/pipetel/pipetel/internal/emitter"
	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// pipelines measures POST /pipelines against POST /telemetry of the very events the runs
// become, one run per request either way, each into a fresh table: what the run's extra
// round trips cost (its probe, then its jobs before its pipeline_result). Then GET
// /pipelines/stats over the runs beside GET /telemetry/stats over the same events.
func (b *bench) pipelines(ctx context.Context) (Pipelines, error) {
	n := b.o.PipelineRuns
	b.section("pipelines: %d runs, POST /pipelines against POST /telemetry of the same events", n)
	runs := simulate.PipelineRuns(b.o.Seed, n, b.now.Add(-23*time.Hour), b.now)
	var docs, same []emitter.Batch
	var all []telemetry.Event
	for _, r := range runs {
		doc, err := json.Marshal(r)
		if err != nil {
			return Pipelines{}, err
		}
		run, err := telemetry.DecodePipelineRun(doc, telemetry.DefaultPipelineRuntime, b.now)
		if err != nil {
			return Pipelines{}, err
		}
		body, err := emitter.Encode(run.Events)
		if err != nil {
			return Pipelines{}, err
		}
		docs = append(docs, emitter.Batch{Events: len(run.Events), Body: doc})
		same = append(same, emitter.Batch{Events: len(run.Events), Body: body})
		all = append(all, run.Events...)
	}

	out := Pipelines{Runs: n, Events: len(all), Workers: b.o.ClientWorkers, Tries: ingestTries}
	for range ingestTries {
		p, err := b.ingestHTTPAt(ctx, "/pipelines", "POST /pipelines, one run each", docs, b.o.ClientWorkers)
		if err != nil {
			return Pipelines{}, err
		}
		t, err := b.ingestHTTPAt(ctx, "/telemetry", "POST /telemetry, one run's events each", same, b.o.ClientWorkers)
		if err != nil {
			return Pipelines{}, err
		}
		out.EventsPerS = max(out.EventsPerS, p.EventsPerS)
		out.TelemetryEventsPerS = max(out.TelemetryEventsPerS, t.EventsPerS)
	}
	out.Ratio = round(ratio(out.EventsPerS, out.TelemetryEventsPerS), 3)
	out.RunsPerS = round(out.EventsPerS*float64(n)/float64(len(all)), 0)
	out.EventsPerS, out.TelemetryEventsPerS = round(out.EventsPerS, 0), round(out.TelemetryEventsPerS, 0)

	table, err := b.newTable(ctx, "pipelines")
	if err != nil {
		return Pipelines{}, err
	}
	m := startMeter(b.progress, "loading the runs for stats", len(all))
	err = b.load(ctx, table, all, m)
	m.finish()
	if err != nil {
		return Pipelines{}, err
	}
	svc, err := startService(ctx, b.endpoint, table)
	if err != nil {
		return Pipelines{}, err
	}
	defer svc.close()
	paths := []string{
		"/pipelines/stats?project=" + url.QueryEscape(runs[0].Project),
		"/telemetry/stats?group_by=tree,kind",
	}
	hc := httpClient(1)
	times := make([][]float64, len(paths))
	for round := -1; round < b.o.GrowthSamples; round++ {
		for i, path := range paths {
			_, before := svc.events.reads()
			took, err := get(ctx, hc, svc.url+path, nil)
			if err != nil {
				return Pipelines{}, err
			}
			_, after := svc.events.reads()
			if round >= 0 {
				times[i] = append(times[i], ms(took))
			}
			if i == 0 {
				out.StatsEventsRead = int(after - before)
			}
		}
	}
	out.StatsRequest = "GET " + paths[0]
	out.StatsP50Ms = round(median(times[0]), 1)
	out.TelemetryStatsP50Ms = round(median(times[1]), 1)
	out.StatsRatio = round(ratio(out.StatsP50Ms, out.TelemetryStatsP50Ms), 2)
	fmt.Fprintf(b.progress, "  stats p50: %.0f ms, telemetry stats %.0f ms\n", out.StatsP50Ms, out.TelemetryStatsP50Ms)
	return out, b.dropTable(ctx, table)
}
