package reports

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

var anomalyParams = []string{"window", "threshold", "min_total", "scope"}

// includeParam adds our kinds of anomaly beside KernelCI's arrays, which stay unchanged.
const includeParam = "include"

// Includable are the values of include: each adds an array of the newest summary snapshot.
var Includable = []string{"baseline", "silence"}

// parseInclude reads include, a comma-separated subset of Includable.
func parseInclude(raw string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, v := range strings.Split(raw, ",") {
		if !slices.Contains(Includable, v) {
			msg := fmt.Sprintf("include=%q: want a comma-separated list of %s", raw, strings.Join(Includable, ", "))
			return nil, telemetry.InvalidProblems([]string{msg}, []telemetry.FieldError{{Index: -1, Field: includeParam, Message: msg}})
		}
		out[v] = true
	}
	return out, nil
}

// withIncluded is KernelCI's report with the arrays include asked for, from the newest
// summary snapshot (SnapshotAt null and the arrays empty when there is none).
type withIncluded struct {
	analytics.AnomalyReport
	SnapshotAt *string                      `json:"snapshot_at"`
	Baseline   *[]analytics.BaselineAnomaly `json:"baseline_anomalies,omitempty"`
	Silent     *[]analytics.SilentGroup     `json:"silent,omitempty"`
}

func include(ctx context.Context, d api.Deps, report analytics.AnomalyReport, want map[string]bool, now time.Time) (any, error) {
	if len(want) == 0 {
		return report, nil
	}
	out := withIncluded{AnomalyReport: report}
	snap := &rollup.Snapshot{}
	if d.Summary != nil {
		got, taken, found, err := rollup.ReadSnapshot(ctx, d.Summary, now)
		if err != nil {
			return nil, err
		}
		if found {
			snap = got
			at := telemetry.FormatTime(taken)
			out.SnapshotAt = &at
		}
	}
	if snap.Baseline == nil {
		snap.Baseline = []analytics.BaselineAnomaly{}
	}
	if snap.Silent == nil {
		snap.Silent = []analytics.SilentGroup{}
	}
	if want["baseline"] {
		out.Baseline = &snap.Baseline
	}
	if want["silence"] {
		out.Silent = &snap.Silent
	}
	return out, nil
}

// NewAnomalies serves GET /telemetry/anomalies: devices and labs failing above a
// threshold within a recent window, and recurring runtime errors.
func NewAnomalies(d api.Deps) api.Handler {
	rows := rollup.NewRowCache(rollup.DefaultRowCacheBytes)
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return api.Serve(ctx, d, "anomalies", req, func(ctx context.Context, log *slog.Logger) (events.APIGatewayV2HTTPResponse, error) {
			q := api.NewParams(req)
			given := map[string]string{}
			for _, name := range anomalyParams {
				if v, ok := q.Get(name); ok {
					given[name] = v
				}
			}
			raw, hasInclude := q.Get(includeParam)
			if err := q.Check(append(anomalyParams, includeParam)); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			var want map[string]bool
			if hasInclude {
				var err error
				if want, err = parseInclude(raw); err != nil {
					return events.APIGatewayV2HTTPResponse{}, err
				}
			}
			p, err := analytics.ParseAnomalyParams(given)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			now := d.Now()
			if d.Summary != nil {
				r := rollup.Reader{Summary: d.Summary, Events: d.Events, Retention: d.Retention, Now: d.Now, Rows: rows}
				acc, answer, err := r.Anomalies(ctx, p, now)
				if err != nil {
					return events.APIGatewayV2HTTPResponse{}, err
				}
				report := acc.Report()
				log.Debug("anomalies", "events", answer.Events, "rollup_rows", answer.Rows,
					"result_anomalies", len(report.ResultAnomalies), "error_anomalies", len(report.ErrorAnomalies))
				body, err := include(ctx, d, report, want, now)
				if err != nil {
					return events.APIGatewayV2HTTPResponse{}, err
				}
				return api.JSON(http.StatusOK, body), nil
			}
			// One read per kind that counts, each through the kind index, in parallel;
			// each fills its own accumulator and they merge at the end.
			filters := analytics.AnomalyFilters(p, now)
			parts := make([]*analytics.AnomalyAccumulator, len(filters))
			g, gctx := errgroup.WithContext(ctx)
			for i, f := range filters {
				parts[i] = analytics.NewAnomalyAccumulator(p, now)
				g.Go(func() error {
					return d.Events.EachEvent(gctx, f, func(e telemetry.Event) error {
						parts[i].Add(&e)
						return nil
					})
				})
			}
			if err := g.Wait(); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			total := analytics.NewAnomalyAccumulator(p, now)
			for _, part := range parts {
				if err := total.Merge(part); err != nil {
					return events.APIGatewayV2HTTPResponse{}, err
				}
			}
			report := total.Report()
			log.Debug("anomalies", "result_anomalies", len(report.ResultAnomalies), "error_anomalies", len(report.ErrorAnomalies))
			body, err := include(ctx, d, report, want, now)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			return api.JSON(http.StatusOK, body), nil
		})
	}
}
