package rollup

import (
	"context"

	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// PipelineStats answers GET /pipelines/stats for f (its Equals may hold tree, branch and
// runtime; Since and Until the range) and excludeRestarts, as Stats answers stats: whole
// fresh buckets from the pipeline aggregates of rollup rows, raw events for the edges,
// stale units and rows written before rows recorded pipeline aggregates. ok is false when
// f is not one rollups can answer (no since, or a filter on a field that is not a
// dimension); the caller then reads raw events as before.
func (r *Reader) PipelineStats(ctx context.Context, f telemetry.Filter, excludeRestarts bool) (*analytics.PipelineStats, Answer, bool, error) {
	if (f.Since.IsZero() && !f.SinceGiven) || f.IsInfraError != nil || f.Retry != nil {
		return nil, Answer{}, false, nil
	}
	var zero analytics.Dimensions
	for field := range f.Equals {
		if _, ok := zero.Field(field); !ok || field == "kind" {
			return nil, Answer{}, false, nil
		}
	}
	var filters []telemetry.Filter
	for _, kind := range []string{telemetry.KindPipelineResult, telemetry.KindJobResult} {
		k := f
		k.Equals = map[string]string{"kind": kind}
		for field, v := range f.Equals {
			k.Equals[field] = v
		}
		filters = append(filters, k)
	}
	acc := analytics.NewPipelineStats(excludeRestarts)
	w := window{
		since: f.Since, until: f.Until, filters: filters,
		match: func(d analytics.Dimensions) bool {
			if !analytics.PipelineKind(d.Kind) {
				return false
			}
			for field, want := range f.Equals {
				if got, _ := d.Field(field); got != want {
					return false
				}
			}
			return true
		},
		fromRollups: f.Since.Before(r.Now().Add(-r.Retention)),
		usable:      (*Row).PipelineKnown,
	}
	ans, err := r.collect(ctx, w,
		func(_ Bucket, g *Group) { acc.AddGroup(g.Dims, g.Pipeline) },
		func(e *telemetry.Event) {
			acc.AddPipeline(e)
			acc.AddJob(e)
		})
	if err != nil {
		return nil, ans, true, err
	}
	return acc, ans, true, nil
}
