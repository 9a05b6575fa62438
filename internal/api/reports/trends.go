package reports

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// TrendsPath is the route's path.
const TrendsPath = "/telemetry/trends"

// NewTrends serves GET /telemetry/trends?range=24h|7d|30d|400d[&runtime=]: per runtime,
// events, pass, fail and infra rates and duration p50/p95 per point over the range, from
// the rollup rows alone (rollup.ReadTrends), so 400 days back long after raw events
// expired. It is served by the summary function, which already reads the summary table.
func NewTrends(d api.Deps) api.Handler {
	rows := rollup.NewRowCache(rollup.DefaultRowCacheBytes)
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return api.Serve(ctx, d, "trends", req, func(ctx context.Context, log *slog.Logger) (events.APIGatewayV2HTTPResponse, error) {
			q := api.NewParams(req)
			name, hasRange := q.Get("range")
			// As every filter: a runtime longer than ingest keeps is cut as it was stored.
			runtime, hasRuntime := q.Value("runtime", "runtime")
			if err := q.Check([]string{"range", "runtime"}); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			if !hasRange {
				name = rollup.TrendRanges[0].Name
			}
			var r *rollup.TrendRange
			var names []string
			for i, tr := range rollup.TrendRanges {
				names = append(names, tr.Name)
				if tr.Name == name {
					r = &rollup.TrendRanges[i]
				}
			}
			if r == nil {
				return events.APIGatewayV2HTTPResponse{}, telemetry.Invalidf("range %q is not one of %s.", name, strings.Join(names, ", "))
			}
			if d.Summary == nil {
				return events.APIGatewayV2HTTPResponse{}, &telemetry.Error{Code: telemetry.CodeNotFound,
					Message: "Trends come from the rollups, which this deployment does not keep (no SUMMARY_TABLE)."}
			}
			var only *string
			if hasRuntime {
				only = &runtime
			}
			trends, err := rollup.ReadTrends(ctx, d.Summary, rows, *r, only, d.Now())
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			log.Debug("trends", "range", r.Name, "series", len(trends.Series))
			return api.JSON(http.StatusOK, trends), nil
		})
	}
}
