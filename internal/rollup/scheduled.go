package rollup

import (
	"context"
	"errors"

	"github.com/pipetel/pipetel/internal/api"
)

// NewScheduled is the rollup function's job: one Run per scheduled invocation, with a
// new lease owner each time, logged as one line. It fails without a summary table.
func NewScheduled(d api.Deps) func(context.Context) error {
	return func(ctx context.Context) error {
		if d.Summary == nil {
			return errors.New("no summary table: set SUMMARY_TABLE")
		}
		start := d.Now()
		reader := &Reader{Summary: d.Summary, Events: d.Events, Retention: d.Retention, Now: d.Now}
		r, err := NewJob(d.Summary, JobOptions{Now: d.Now, Log: d.Log, Reader: reader, Alerts: d.Alerts}).Run(ctx)
		d.Log.Info("rollup", "units", r.Units, "events", r.Events, "busy", r.Busy, "left", r.Left,
			"leases_lost", r.LeasesLost, "ms", d.Now().Sub(start).Milliseconds())
		return err
	}
}
