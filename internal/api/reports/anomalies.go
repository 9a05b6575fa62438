package reports

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

var anomalyParams = []string{"window", "threshold", "min_total", "scope"}

// NewAnomalies serves GET /telemetry/anomalies: devices and labs failing above a
// threshold within a recent window, and recurring runtime errors.
func NewAnomalies(d api.Deps) api.Handler {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return api.Serve(ctx, d, "anomalies", req, func(ctx context.Context, log *slog.Logger) (events.APIGatewayV2HTTPResponse, error) {
			q := api.NewParams(req)
			given := map[string]string{}
			for _, name := range anomalyParams {
				if v, ok := q.Get(name); ok {
					given[name] = v
				}
			}
			if err := q.Check(anomalyParams); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			p, err := analytics.ParseAnomalyParams(given)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			now := d.Now()
			if d.Summary != nil {
				r := rollup.Reader{Summary: d.Summary, Events: d.Events, Retention: d.Retention, Now: d.Now}
				acc, answer, err := r.Anomalies(ctx, p, now)
				if err != nil {
					return events.APIGatewayV2HTTPResponse{}, err
				}
				report := acc.Report()
				log.Debug("anomalies", "events", answer.Events, "rollup_rows", answer.Rows,
					"result_anomalies", len(report.ResultAnomalies), "error_anomalies", len(report.ErrorAnomalies))
				return api.JSON(http.StatusOK, report), nil
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
			return api.JSON(http.StatusOK, report), nil
		})
	}
}
