// Package metrics serves GET /metrics: Prometheus counters and gauges computed from the
// summary table, in two reads (the metric state, and the newest summary snapshot) however
// much was ingested. Counters come from the totals the rollup keeps (rollup.Totals), so
// they only go up, across rollup reruns, raw expiry and rollup expiry alike.
//
// Labels are bounded whatever clients send: runtime to the first rollup.MaxRuntimeLabels
// runtimes and "other" (the same ones the counters name), kind to the known kinds and
// "other", result to five values; anomaly, scope and window come from the rollup's
// evaluations. No device, job, test or id is a label. infra/grafana/README.md lists them.
package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// Path is the route's path.
const Path = "/metrics"

// Label names, every one GET /metrics may use (besides the histograms' le).
var Labels = []string{"runtime", "kind", "result", "anomaly", "scope", "window", "level"}

var (
	eventsDesc = prometheus.NewDesc("pipetel_events_total",
		"Events stored, by runtime, kind and result (success, failure, error, skip as OpenTelemetry's cicd.pipeline.result names pass, fail, incomplete, skip; other for any other or none).",
		[]string{"runtime", "kind", "result"}, nil)
	infraDesc = prometheus.NewDesc("pipetel_infra_errors_total",
		"Events stored with is_infra_error set, by runtime and kind.",
		[]string{"runtime", "kind"}, nil)
	durationDesc = prometheus.NewDesc("pipetel_event_duration_seconds",
		"Durations events carried, in seconds, by runtime and kind.",
		[]string{"runtime", "kind"}, nil)
	anomaliesDesc = prometheus.NewDesc("pipetel_open_anomalies",
		"Anomalies open in the newest summary, by runtime, anomaly (result or error), and the scope and window of the evaluation that found them.",
		[]string{"runtime", "anomaly", "scope", "window"}, nil)
	silentDesc = prometheus.NewDesc("pipetel_silent_groups",
		"Runtimes, device types and devices silent against their baseline in the newest summary, by level (runtime, device_type, device); which runtimes: pipetel_open_anomalies{anomaly=\"silence\"}.",
		[]string{"level"}, nil)
	lagDesc = prometheus.NewDesc("pipetel_rollup_lag_seconds",
		"Seconds since the rollup's watermark: every event stored before it is in the rollups. Absent until the rollup first catches up.", nil, nil)
)

// contentType is the text exposition format's, as expfmt writes it.
var contentType = string(expfmt.NewFormat(expfmt.TypeTextPlain))

// New serves GET /metrics. It always needs a token with the read scope, even when
// PublicReads opens the other GET routes: operators' figures are not the public's.
func New(d api.Deps) api.Handler {
	d.PublicReads = false
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return api.Serve(ctx, d, "metrics", req, func(ctx context.Context, log *slog.Logger) (events.APIGatewayV2HTTPResponse, error) {
			if err := api.NewParams(req).Check(nil); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			if d.Summary == nil {
				return events.APIGatewayV2HTTPResponse{}, &telemetry.Error{Code: telemetry.CodeUnavailable, RetryAfter: time.Minute,
					Message: "Metrics come from the summary table, which this deployment does not name; set SUMMARY_TABLE."}
			}
			body, err := Render(ctx, d.Summary, d.Now())
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			return events.APIGatewayV2HTTPResponse{
				StatusCode: http.StatusOK,
				Headers:    map[string]string{"Content-Type": contentType},
				Body:       string(body),
			}, nil
		})
	}
}

// Render is the exposition at now, in Prometheus's text format.
func Render(ctx context.Context, s telemetry.RollupStore, now time.Time) ([]byte, error) {
	stored, rolledUpTo, err := s.MetricsState(ctx)
	if err != nil {
		return nil, err
	}
	totals, err := rollup.DecodeTotals(stored.Body)
	if err != nil {
		return nil, err
	}
	var snap rollup.Snapshot
	if _, body, found, err := s.Snapshot(ctx, now); err != nil {
		return nil, err
	} else if found {
		if err := json.Unmarshal(body, &snap); err != nil {
			return nil, fmt.Errorf("summary snapshot: %w", err)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
		collect(ch, totals, &snap, rolledUpTo, now)
	})); err != nil {
		return nil, err
	}
	families, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := expfmt.NewEncoder(&out, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			return nil, err
		}
	}
	return out.Bytes(), nil
}

func collect(ch chan<- prometheus.Metric, totals *rollup.Totals, snap *rollup.Snapshot, rolledUpTo, now time.Time) {
	for _, k := range totals.Keys() {
		s := totals.Series[k]
		for i, result := range rollup.ResultLabels {
			ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, float64(s.Results[i]), k.Runtime, k.Kind, result)
		}
		ch <- prometheus.MustNewConstMetric(infraDesc, prometheus.CounterValue, float64(s.Infra), k.Runtime, k.Kind)
		buckets := map[float64]uint64{}
		var cumulative uint64
		for i, le := range rollup.DurationBuckets {
			cumulative += uint64(s.Buckets[i])
			buckets[le] = cumulative
		}
		count := cumulative + uint64(s.Buckets[len(rollup.DurationBuckets)])
		ch <- prometheus.MustNewConstHistogram(durationDesc, count, float64(s.SumMicros)/1e6, buckets, k.Runtime, k.Kind)
	}
	named := map[string]bool{}
	for _, k := range totals.Keys() {
		named[k.Runtime] = true
	}
	open := map[[4]string]int{}
	for _, a := range snap.OpenAnomalies {
		var row struct {
			Runtime string `json:"runtime"`
		}
		_ = json.Unmarshal(a.Row, &row)
		runtime := row.Runtime
		if !named[runtime] {
			runtime = rollup.OtherLabel
		}
		open[[4]string{runtime, a.Kind, a.Scope, a.Window}]++
	}
	for k, n := range open {
		ch <- prometheus.MustNewConstMetric(anomaliesDesc, prometheus.GaugeValue, float64(n), k[0], k[1], k[2], k[3])
	}
	silent := map[string]int{}
	for _, g := range snap.Silent {
		silent[g.Level]++
	}
	// Every level always, so that a quiet deployment reads 0 rather than no data.
	for _, level := range []string{analytics.LevelRuntime, analytics.LevelDeviceType, analytics.LevelDevice} {
		ch <- prometheus.MustNewConstMetric(silentDesc, prometheus.GaugeValue, float64(silent[level]), level)
	}
	if !rolledUpTo.IsZero() {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, max(0, now.Sub(rolledUpTo).Seconds()))
	}
}
