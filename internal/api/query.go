package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// Paging limits of GET /telemetry. Offset paging re-reads every skipped event, so deep
// offsets are refused in favour of the cursor, which costs the same on every page.
const (
	defaultLimit = 50
	maxLimit     = 1000
	maxOffset    = 100_000
)

// queryFilterParams are the filters GET /telemetry accepts, by wire name.
var queryFilterParams = append(append([]string{}, telemetry.FilterFields...), "is_infra_error", "retry", "lab", "since", "until")

var queryParams = append(append([]string{}, queryFilterParams...), "limit", "offset", "cursor")

type queryResponse struct {
	Items []telemetry.Event `json:"items"`
	Total int               `json:"total"`
	// TotalExact is false when total is a lower bound: counting a broad query stops
	// after a bounded read. KernelCI's paging does not use total, so it is unaffected.
	TotalExact bool    `json:"total_exact"`
	Limit      int     `json:"limit"`
	Offset     int     `json:"offset"`
	Next       *string `json:"next"`
}

// NewQuery serves GET /telemetry.
func NewQuery(d Deps) Handler {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return Serve(ctx, d, "query", req, func(ctx context.Context, log *slog.Logger) (events.APIGatewayV2HTTPResponse, error) {
			q := NewParams(req)
			f := q.Filter(queryFilterParams)
			page := telemetry.PageRequest{
				Limit:  q.int("limit", defaultLimit, 1, maxLimit),
				Offset: q.int("offset", 0, 0, maxOffset),
			}
			page.Cursor, _ = q.Get("cursor")
			if page.Cursor != "" && page.Offset > 0 {
				q.problemf("give either cursor or offset, not both: the cursor already knows where the next page starts")
			}
			if err := q.Check(queryParams); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			result, err := d.Events.QueryEvents(ctx, f, page)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			log.Debug("query", "items", len(result.Items), "items_read", result.ItemsRead, "total", result.Total)
			resp := queryResponse{Items: result.Items, Total: result.Total, TotalExact: result.TotalExact, Limit: page.Limit, Offset: page.Offset}
			if resp.Items == nil {
				resp.Items = []telemetry.Event{}
			}
			if result.Next != "" {
				resp.Next = &result.Next
			}
			return JSON(http.StatusOK, resp), nil
		})
	}
}
