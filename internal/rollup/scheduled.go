package rollup

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// The rollup's lag as a CloudWatch metric, published in embedded metric format: the run's
// log line carries it, so no PutMetricData call or permission is needed. Its dimension is
// the function's name. template.yaml's RollupLagAlarm watches it.
const (
	LagNamespace = "pipetel"
	LagMetric    = "RollupLagSeconds"
	LagDimension = "FunctionName"
)

// NewScheduled is the rollup function's job: one Run per scheduled invocation, with a
// new lease owner each time, logged as one line that also publishes the rollup's lag
// (seconds from its watermark to now) in embedded metric format. It fails without a
// summary table.
func NewScheduled(d api.Deps) func(context.Context) error {
	// Kept across runs: each snapshot reads the same windows a minute later (the 7-day
	// baseline hour by hour among them), and most of their rows are unchanged.
	rows := NewRowCache(DefaultRowCacheBytes)
	return func(ctx context.Context) error {
		if d.Summary == nil {
			return errors.New("no summary table: set SUMMARY_TABLE")
		}
		start := d.Now()
		reader := &Reader{Summary: d.Summary, Events: d.Events, Retention: d.Retention, Now: d.Now, Rows: rows}
		var evals []analytics.AnomalyParams
		if len(d.RollupAnomalyWindows) > 0 {
			evals = Evaluations(d.RollupAnomalyWindows, d.RollupAnomalyThreshold)
		}
		r, err := NewJob(d.Summary, JobOptions{Now: d.Now, Log: d.Log, Reader: reader, Evaluations: evals, Alerts: d.Alerts}).Run(ctx)
		attrs := []any{"units", r.Units, "events", r.Events, "busy", r.Busy, "left", r.Left,
			"leases_lost", r.LeasesLost, "merged", r.Merged, "ms", d.Now().Sub(start).Milliseconds()}
		if _, rolledUpTo, serr := d.Summary.MetricsState(ctx); serr == nil && !rolledUpTo.IsZero() {
			attrs = append(attrs, LagEMF(d.Now(), rolledUpTo, lambdacontext.FunctionName)...)
		}
		d.Log.Info("rollup", attrs...)
		return err
	}
}

// LagEMF are the log attributes that publish the lag at now from the watermark
// rolledUpTo as the CloudWatch metric LagNamespace/LagMetric, dimension LagDimension =
// function (embedded metric format: the "_aws" member names the metric, a top-level member
// of the same name holds its value).
func LagEMF(now, rolledUpTo time.Time, function string) []any {
	return []any{
		"_aws", map[string]any{
			"Timestamp": now.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  LagNamespace,
				"Dimensions": [][]string{{LagDimension}},
				"Metrics":    []any{map[string]any{"Name": LagMetric, "Unit": "Seconds"}},
			}},
		},
		LagDimension, function,
		LagMetric, max(0, now.Sub(rolledUpTo).Seconds()),
	}
}
