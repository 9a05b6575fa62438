package reports

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// NewSummary serves GET /telemetry/summary: the newest snapshot the rollup took (open
// anomalies since when, recently resolved ones, per-runtime health for 24 h against 7 d),
// or with ?at=<time> the newest taken at or before then. It reads one or two items.
func NewSummary(d api.Deps) api.Handler {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return api.Serve(ctx, d, "summary", req, func(ctx context.Context, log *slog.Logger) (events.APIGatewayV2HTTPResponse, error) {
			q := api.NewParams(req)
			rawAt, hasAt := q.Get("at")
			if err := q.Check([]string{"at"}); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			now := d.Now()
			at := now
			if hasAt {
				t, err := telemetry.ParseTime(rawAt)
				if err != nil {
					return events.APIGatewayV2HTTPResponse{}, telemetry.Invalidf("at %q %v.", rawAt, err)
				}
				// A client's clock may run a little ahead; beyond that, the summary asked
				// for is not taken yet, and the newest one would be passed off as it.
				if t.After(now.Add(maxClockSkew)) {
					return events.APIGatewayV2HTTPResponse{}, telemetry.Invalidf(
						"at (%s) is in the future (it is now %s); leave at out for the newest summary.",
						telemetry.FormatTime(t), telemetry.FormatTime(now))
				}
				at = t
			}
			if d.Summary == nil {
				return events.APIGatewayV2HTTPResponse{}, noSnapshot(hasAt)
			}
			taken, body, found, err := d.Summary.Snapshot(ctx, at)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			if !found {
				return events.APIGatewayV2HTTPResponse{}, noSnapshot(hasAt)
			}
			log.Debug("summary", "snapshot_at", telemetry.FormatTime(taken))
			return events.APIGatewayV2HTTPResponse{
				StatusCode: http.StatusOK,
				Headers:    map[string]string{"Content-Type": "application/json"},
				Body:       string(body),
			}, nil
		})
	}
}

// maxClockSkew is how far ahead of the service's clock an at may be and still be read as
// now: a client's clock a little fast should not get an error.
const maxClockSkew = time.Minute

// noSnapshot is the answer when no snapshot is found: without ?at= the rollup has not
// taken its first yet (503: retry after its next tick); with ?at= there was none in the
// day before that time, which no retry changes (404).
func noSnapshot(hasAt bool) error {
	if hasAt {
		return &telemetry.Error{Code: telemetry.CodeNotFound,
			Message: "No summary was taken at or in the day before that time; ask for a time after the rollup's first run and within the summaries' retention."}
	}
	return &telemetry.Error{Code: telemetry.CodeUnavailable, RetryAfter: time.Minute,
		Message: "No summary has been taken yet; the rollup takes one every minute, so retry after a minute."}
}
