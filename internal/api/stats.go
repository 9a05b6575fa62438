package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// statsFilterParams are KernelCI's stats filters.
var statsFilterParams = []string{"kind", "runtime", "lab", "device_type", "device_id", "job_name", "tree", "branch", "arch", "since", "until"}

var statsParams = append([]string{"group_by"}, statsFilterParams...)

// NewStats serves GET /telemetry/stats: counts, rates and duration percentiles per group.
func NewStats(d Deps) Handler {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return serve(ctx, d, "stats", req, func(ctx context.Context, log *slog.Logger) (events.APIGatewayV2HTTPResponse, error) {
			q := newParams(req)
			rawGroupBy, _ := q.get("group_by")
			f := q.filter(statsFilterParams)
			if err := q.check(statsParams); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			groupBy, err := analytics.ParseGroupBy(rawGroupBy)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			acc := analytics.NewStatsAccumulator(groupBy)
			read := 0
			err = d.Events.EachEvent(ctx, f, func(e telemetry.Event) error {
				read++
				acc.Add(&e)
				return nil
			})
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			rows := acc.Rows()
			log.Debug("stats", "events", read, "rows", len(rows))
			if rows == nil {
				rows = []analytics.StatsRow{}
			}
			return jsonResponse(http.StatusOK, rows), nil
		})
	}
}
