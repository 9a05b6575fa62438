package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
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
	deps, err := b.deps(ctx, table)
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
	deps, err := b.deps(ctx, table)
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

// rollupFigures measures the rollup's throughput on a data set as dense as traffic makes
// it (SmallEvents within the last hour, so a unit holds tens of events, not one), timed
// against a raw read of the same events, then rolls up the small and large data sets, so
// that stats and anomalies read rollups as they do when deployed.
func (b *bench) rollupFigures(ctx context.Context) (Rollup, error) {
	b.section("rollups: %d events of one hour rolled up against a raw read of them; then the data sets", b.o.SmallEvents)
	table, err := b.newTable(ctx, "rollup")
	if err != nil {
		return Rollup{}, err
	}
	from := b.now.Add(-time.Hour)
	events, err := b.generate(b.o.Seed+2000, b.o.SmallEvents, from, b.now)
	if err != nil {
		return Rollup{}, err
	}
	m := startMeter(b.progress, "dense data set", len(events))
	err = b.load(ctx, table, events, m)
	m.finish()
	if err != nil {
		return Rollup{}, err
	}
	dense, err := b.rollUp(ctx, table)
	if err != nil {
		return Rollup{}, err
	}
	raw, rawSeconds, err := b.rawRead(ctx, table, from)
	if err != nil {
		return Rollup{}, err
	}
	if err := b.dropTable(ctx, table); err != nil {
		return Rollup{}, err
	}
	out := Rollup{
		Events: dense.Events, Units: dense.Units, Runs: dense.Runs, Seconds: round(dense.Seconds, 2),
		EventsPerS: round(ratio(float64(dense.Events), dense.Seconds), 0),
		RawEvents:  raw, RawSeconds: round(rawSeconds, 2), RawEventsPerS: round(ratio(float64(raw), rawSeconds), 0),
	}
	out.CostRatio = round(ratio(out.RawEventsPerS, out.EventsPerS), 2)
	fmt.Fprintf(b.progress, "  dense: %d events in %d units, %.1f s (raw read %.1f s)\n", dense.Events, dense.Units, dense.Seconds, rawSeconds)
	for _, t := range []string{b.small, b.large} {
		sparse, err := b.rollUp(ctx, t)
		if err != nil {
			return out, err
		}
		if t == b.large {
			out.LargeEvents, out.LargeUnits, out.LargeSeconds = sparse.Events, sparse.Units, round(sparse.Seconds, 2)
			out.LargeEventsPerS = round(ratio(float64(sparse.Events), sparse.Seconds), 0)
		}
		fmt.Fprintf(b.progress, "  %s: %d events in %d units, %.1f s\n", t, sparse.Events, sparse.Units, sparse.Seconds)
		// The snapshot is timed on the small data set, as soon as it is rolled up: its
		// analyses read the last hour and day, which the small set fills as a lab's
		// traffic does, and the large set's roll-up would only delay the figure.
		if t == b.small {
			if err := b.snapshotCost(ctx, b.small, &out); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// snapshotSamples is how many runs each snapshot variant is timed over.
const snapshotSamples = 3

// snapshotCost times rollup runs over table once nothing is stale, so that each is its
// summary snapshot alone: without the analyses beyond KernelCI's rules, with baselines and
// silence, and with everything (flaky tests recomputed at every run), in turns, so that
// the three see the same machine.
func (b *bench) snapshotCost(ctx context.Context, table string, out *Rollup) error {
	deps, err := b.deps(ctx, table)
	if err != nil {
		return err
	}
	variants := []rollup.JobOptions{
		{NoBaseline: true, NoSignatures: true, NoFlaky: true},
		{NoSignatures: true, NoFlaky: true},
		{Flaky: analytics.FlakyParams{Every: time.Nanosecond}},
	}
	ms := make([][]float64, len(variants))
	for range snapshotSamples {
		for i, o := range variants {
			o.Now, o.Budget = deps.Now, time.Hour
			o.Reader = &rollup.Reader{Summary: deps.Summary, Events: deps.Events, Retention: deps.Retention, Now: deps.Now}
			start := time.Now()
			if _, err := rollup.NewJob(deps.Summary, o).Run(ctx); err != nil {
				return fmt.Errorf("snapshot of %s: %w", table, err)
			}
			ms[i] = append(ms[i], float64(time.Since(start).Microseconds())/1000)
		}
	}
	snap, _, found, err := rollup.ReadSnapshot(ctx, deps.Summary, deps.Now())
	if err != nil || !found {
		return fmt.Errorf("snapshot of %s: found %v, %w", table, found, err)
	}
	if snap.Signatures != nil {
		out.SignatureEventsRead = snap.Signatures.EventsRead
	}
	if snap.Flaky != nil {
		out.FlakyEventsRead = snap.Flaky.EventsRead
	}
	out.SnapshotSamples = snapshotSamples
	out.SnapshotBareMs, out.SnapshotBaselineMs, out.SnapshotAllMs = round(median(ms[0]), 0), round(median(ms[1]), 0), round(median(ms[2]), 0)
	out.SnapshotAllRatio = round(ratio(out.SnapshotAllMs, out.SnapshotBareMs), 2)
	fmt.Fprintf(b.progress, "  snapshot alone: %.0f ms bare, %.0f ms with baselines, %.0f ms with everything\n", out.SnapshotBareMs, out.SnapshotBaselineMs, out.SnapshotAllMs)
	return nil
}
