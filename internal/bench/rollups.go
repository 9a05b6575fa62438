package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/pipetel/pipetel/internal/app"
	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// rolledUp is what rolling up one table took.
type rolledUp struct {
	Runs    int
	Units   int
	Events  int // raw events the rollup read
	Seconds float64
}

// rollUp runs the rollup job over table, as the scheduled function does (one job a run,
// with the summary snapshot at its end), until no stale unit is left.
func (b *bench) rollUp(ctx context.Context, table string) (rolledUp, error) {
	cfg, err := loadConfig(b.endpoint, table)
	if err != nil {
		return rolledUp{}, err
	}
	deps, err := app.NewDeps(ctx, cfg, app.NewLogger(io.Discard, "error"))
	if err != nil {
		return rolledUp{}, err
	}
	var out rolledUp
	start := time.Now()
	for {
		reader := &rollup.Reader{Summary: deps.Summary, Events: deps.Events, Retention: deps.Retention, Now: deps.Now}
		// No deadline: a run goes on until its backlog is done, where Lambda would stop
		// it and leave the rest to the next tick.
		r, err := rollup.NewJob(deps.Summary, rollup.JobOptions{Now: deps.Now, Reader: reader, Budget: time.Hour}).Run(ctx)
		if err != nil {
			return out, fmt.Errorf("roll up %s: %w", table, err)
		}
		out.Runs++
		out.Units += r.Units
		out.Events += r.Events
		if r.Left == 0 {
			break
		}
		if out.Runs > 20 {
			return out, fmt.Errorf("roll up %s: %d units still stale after %d runs", table, r.Left, out.Runs)
		}
	}
	out.Seconds = time.Since(start).Seconds()
	return out, nil
}

// rawRead reads every event of table since from, as the raw computation of stats does,
// and returns how many and how long it took.
func (b *bench) rawRead(ctx context.Context, table string, from time.Time) (int, float64, error) {
	cfg, err := loadConfig(b.endpoint, table)
	if err != nil {
		return 0, 0, err
	}
	deps, err := app.NewDeps(ctx, cfg, app.NewLogger(io.Discard, "error"))
	if err != nil {
		return 0, 0, err
	}
	n := 0
	start := time.Now()
	err = deps.Events.EachEvent(ctx, telemetry.Filter{Since: from}, func(telemetry.Event) error {
		n++
		return nil
	})
	return n, time.Since(start).Seconds(), err
}

// rollupFigures rolls up the small data set, timed against a raw read of its events, then
// the large one, so that stats and anomalies read rollups as they do when deployed.
func (b *bench) rollupFigures(ctx context.Context) (Rollup, error) {
	b.section("rollups: the small data set rolled up against a raw read of it, then the large one")
	var out Rollup
	small, err := b.rollUp(ctx, b.small)
	if err != nil {
		return out, err
	}
	raw, rawSeconds, err := b.rawRead(ctx, b.small, b.windowStart)
	if err != nil {
		return out, err
	}
	large, err := b.rollUp(ctx, b.large)
	if err != nil {
		return out, err
	}
	out = Rollup{
		Events: small.Events, Units: small.Units, Runs: small.Runs, Seconds: round(small.Seconds, 2),
		EventsPerS: round(ratio(float64(small.Events), small.Seconds), 0),
		RawEvents:  raw, RawSeconds: round(rawSeconds, 2), RawEventsPerS: round(ratio(float64(raw), rawSeconds), 0),
		LargeEvents: large.Events, LargeUnits: large.Units, LargeSeconds: round(large.Seconds, 2),
		LargeEventsPerS: round(ratio(float64(large.Events), large.Seconds), 0),
	}
	out.CostRatio = round(ratio(out.RawEventsPerS, out.EventsPerS), 2)
	fmt.Fprintf(b.progress, "  small: %d events in %d units, %.1f s (raw read %.1f s); large: %d events, %.1f s\n",
		small.Events, small.Units, small.Seconds, rawSeconds, large.Events, large.Seconds)
	return out, nil
}
