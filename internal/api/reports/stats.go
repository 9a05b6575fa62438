package reports

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// statsFilterParams are KernelCI's stats filters.
var statsFilterParams = []string{"kind", "runtime", "lab", "device_type", "device_id", "job_name", "tree", "branch", "arch", "since", "until"}

var statsParams = append([]string{"group_by"}, statsFilterParams...)

// NewStats serves GET /telemetry/stats: counts, rates and duration percentiles per group.
func NewStats(d api.Deps) api.Handler {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return api.Serve(ctx, d, "stats", req, func(ctx context.Context, log *slog.Logger) (events.APIGatewayV2HTTPResponse, error) {
			q := api.NewParams(req)
			rawGroupBy, _ := q.Get("group_by")
			f := q.Filter(statsFilterParams)
			if err := q.Check(statsParams); err != nil {
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
			return api.JSON(http.StatusOK, rows), nil
		})
	}
}
