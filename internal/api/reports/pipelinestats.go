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

var pipelineStatsParams = []string{"project", "ref", "runtime", "since", "until", "exclude_restarts"}

// pipelineStatsResponse echoes what was asked, then the answer.
type pipelineStatsResponse struct {
	Project         *string `json:"project"`
	Ref             *string `json:"ref"`
	Runtime         *string `json:"runtime"`
	Since           *string `json:"since"`
	Until           *string `json:"until"`
	ExcludeRestarts bool    `json:"exclude_restarts"`
	analytics.PipelineSummary
}

// NewPipelineStats serves GET /pipelines/stats: the number of pipeline runs of a project
// (and ref, runtime) created in [since, until], and the percentiles of their durations,
// of their durations without the e2e part, of the e2e part, and of each job. With
// exclude_restarts=true, runs in which a job was restarted are left out. With a since and
// a summary table it reads rollups as stats do (rollup.Reader.PipelineStats); a since
// older than raw retention sets RollupWindowHeader.
func NewPipelineStats(d api.Deps) api.Handler {
	rows := rollup.NewRowCache(rollup.DefaultRowCacheBytes)
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return api.Serve(ctx, d, "pipelinestats", req, func(ctx context.Context, log *slog.Logger) (events.APIGatewayV2HTTPResponse, error) {
			q := api.NewParams(req)
			f := q.Filter([]string{"since", "until"})
			var resp pipelineStatsResponse
			for _, p := range []struct {
				param, field string
				echo         **string
			}{{"project", "tree", &resp.Project}, {"ref", "branch", &resp.Ref}, {"runtime", "runtime", &resp.Runtime}} {
				if v, ok := q.Value(p.param, p.field); ok {
					f.Equals[p.field] = v
					*p.echo = &v
				}
			}
			exclude := q.Bool("exclude_restarts")
			if err := q.Check(pipelineStatsParams); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			resp.ExcludeRestarts = exclude != nil && *exclude
			if f.SinceGiven {
				resp.Since = telemetry.Nullable(telemetry.FormatTime(f.Since))
			}
			if !f.Until.IsZero() {
				resp.Until = telemetry.Nullable(telemetry.FormatTime(f.Until))
			}

			acc, answer, fromRollups, err := pipelineStatsFromRollups(ctx, d, rows, f, resp.ExcludeRestarts)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			read := answer.Events
			if !fromRollups {
				// Every event of a run has the run's created_at as ts, so both reads select
				// the same runs.
				acc = analytics.NewPipelineStats(resp.ExcludeRestarts)
				for _, kind := range []string{telemetry.KindPipelineResult, telemetry.KindJobResult} {
					f.Equals["kind"] = kind
					err := d.Events.EachEvent(ctx, f, func(e telemetry.Event) error {
						read++
						acc.AddPipeline(&e)
						acc.AddJob(&e)
						return nil
					})
					if err != nil {
						return events.APIGatewayV2HTTPResponse{}, err
					}
				}
			}
			resp.PipelineSummary = acc.Summary()
			log.Debug("pipeline stats", "events", read, "rollup_rows", answer.Rows, "pipelines", resp.Pipelines)
			out := api.JSON(http.StatusOK, resp)
			if answer.FromRollups {
				out.Headers[RollupWindowHeader] = telemetry.FormatTime(answer.Since) + "/" + telemetry.FormatTime(answer.Until)
			}
			return out, nil
		})
	}
}

// pipelineStatsFromRollups answers from the summary table when there is one and since is
// given; ok false leaves it to raw events.
func pipelineStatsFromRollups(ctx context.Context, d api.Deps, rows *rollup.RowCache, f telemetry.Filter, excludeRestarts bool) (*analytics.PipelineStats, rollup.Answer, bool, error) {
	if d.Summary == nil {
		return nil, rollup.Answer{}, false, nil
	}
	r := rollup.Reader{Summary: d.Summary, Events: d.Events, Retention: d.Retention, Now: d.Now, Rows: rows}
	return r.PipelineStats(ctx, f, excludeRestarts)
}
