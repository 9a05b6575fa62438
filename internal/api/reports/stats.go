package reports

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// statsFilterParams are KernelCI's stats filters.
var statsFilterParams = []string{"kind", "runtime", "lab", "device_type", "device_id", "job_name", "tree", "branch", "arch", "since", "until"}

var statsParams = append([]string{"group_by"}, statsFilterParams...)

// NewStats serves GET /telemetry/stats: counts, rates and duration percentiles per group.
func NewStats(d api.Deps) api.Handler {
	rows := rollup.NewRowCache(rollup.DefaultRowCacheBytes)
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
			acc, answer, fromRollups, err := statsFromRollups(ctx, d, rows, f, groupBy)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			read := answer.Events
			if !fromRollups {
				acc = analytics.NewStatsAccumulator(groupBy)
				err = d.Events.EachEvent(ctx, f, func(e telemetry.Event) error {
					read++
					acc.Add(&e)
					return nil
				})
				if err != nil {
					return events.APIGatewayV2HTTPResponse{}, err
				}
			}
			rows := acc.Rows()
			log.Debug("stats", "events", read, "rollup_rows", answer.Rows, "rows", len(rows))
			if rows == nil {
				rows = []analytics.StatsRow{}
			}
			resp := api.JSON(http.StatusOK, rows)
			if answer.FromRollups {
				// The body stays KernelCI's bare array; the widened window goes in a header.
				resp.Headers[RollupWindowHeader] = telemetry.FormatTime(answer.Since) + "/" + telemetry.FormatTime(answer.Until)
			}
			return resp, nil
		})
	}
}

// RollupWindowHeader is set on a stats answer whose since is older than raw retention:
// it was answered from rollups, over the window given (since/until, RFC 3339), which is
// the requested one widened to whole 5-minute buckets.
const RollupWindowHeader = "X-Pipetel-Rollup-Window"

// statsFromRollups answers from the summary table when there is one and the filter is one
// rollups can answer, decoding rows through rows; ok false leaves it to raw events.
func statsFromRollups(ctx context.Context, d api.Deps, rows *rollup.RowCache, f telemetry.Filter, groupBy []string) (*analytics.StatsAccumulator, rollup.Answer, bool, error) {
	if d.Summary == nil {
		return nil, rollup.Answer{}, false, nil
	}
	r := rollup.Reader{Summary: d.Summary, Events: d.Events, Retention: d.Retention, Now: d.Now, Rows: rows}
	return r.Stats(ctx, f, groupBy)
}
