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

var queryParams = append(append([]string{}, queryFilterParams...), "limit", "offset", "cursor", "order")

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
			switch order, _ := q.Get("order"); order {
			case "", "asc":
			case "desc":
				page.Desc = true
			default:
				q.problemf("order must be asc (oldest first, the default) or desc (newest first), not %q", order)
			}
			if err := q.Check(queryParams); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			result, err := d.Events.QueryEvents(ctx, f, page)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			log.Debug("query", "items", len(result.Items), "items_read", result.ItemsRead, "total", result.Total)
			return fitPage(req, result, page), nil
		})
	}
}

// fitPage is the response to a query page, as many of its items as Lambda can carry:
// gzip when the client accepts it, and when even that would not fit, the page ends early
// with next set to continue after its last item. Events within the documented limits
// fit 100 to a page, so KernelCI's offset loop (limit=100) never meets a short page
// before the end.
func fitPage(req events.APIGatewayV2HTTPRequest, result telemetry.Page, page telemetry.PageRequest) events.APIGatewayV2HTTPResponse {
	n := len(result.Items)
	for {
		body := queryResponse{Items: result.Items[:n], Total: result.Total, TotalExact: result.TotalExact, Limit: page.Limit, Offset: page.Offset}
		if body.Items == nil {
			body.Items = []telemetry.Event{}
		}
		switch {
		case n < len(result.Items):
			next := result.CursorAfter(n - 1)
			body.Next = &next
		case result.Next != "":
			body.Next = &result.Next
		}
		resp := negotiate(req, JSON(http.StatusOK, body))
		size := PayloadSize(resp)
		if size <= MaxPayloadBytes || n <= 1 {
			return resp
		}
		// Shrink in proportion, a little more to leave room for the cursor, until it fits.
		n = max(1, min(n-1, int(float64(n)*float64(MaxPayloadBytes)/float64(size)*0.98)))
	}
}
