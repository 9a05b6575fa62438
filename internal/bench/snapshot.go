package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// snapshotDevices is how many failing devices the smaller table of the snapshot figure
// holds; the larger holds ten times as many.
const snapshotDevices = 300

// snapshotCostSamples is how many idle runs each table's figure is the median of.
const snapshotCostSamples = 5

// snapshotGrowth measures the summary snapshot against the number of open anomalies: two
// tables, one with snapshotDevices distinct devices failing and one with ten times as
// many (see failingDevices), rolled up; then a run that opens them
// all, and runs with nothing new to roll up, in turns over the two tables so both see the
// same machine. A run with nothing to roll up is its snapshot alone.
func (b *bench) snapshotGrowth(ctx context.Context) (SnapshotGrowth, error) {
	b.section("snapshot: rollup runs with nothing to roll up, at N and 10×N open anomalies")
	var out SnapshotGrowth
	type side struct {
		table   string
		devices int
		open    int
		first   float64
		idle    []float64
	}
	sides := []*side{{devices: snapshotDevices}, {devices: 10 * snapshotDevices}}
	for i, s := range sides {
		table, err := b.newTable(ctx, fmt.Sprint("snapshot-", s.devices))
		if err != nil {
			return out, err
		}
		s.table = table
		events := failingDevices(b.now, i, s.devices)
		m := startMeter(b.progress, fmt.Sprintf("%d failing devices", s.devices), len(events))
		err = b.load(ctx, table, events, m)
		m.finish()
		if err != nil {
			return out, err
		}
		if _, err := b.rollUp(ctx, table); err != nil {
			return out, err
		}
	}
	run := func(s *side) (float64, error) {
		deps, err := b.deps(ctx, s.table)
		if err != nil {
			return 0, err
		}
		reader := &rollup.Reader{Summary: deps.Summary, Events: deps.Events, Retention: deps.Retention, Now: deps.Now}
		start := time.Now()
		r, err := rollup.NewJob(deps.Summary, rollup.JobOptions{Now: deps.Now, Reader: reader, Budget: time.Hour}).Run(ctx)
		ms := float64(time.Since(start).Microseconds()) / 1000
		if err != nil {
			return 0, fmt.Errorf("snapshot of %s: %w", s.table, err)
		}
		if r.Units > 0 {
			return 0, fmt.Errorf("snapshot of %s: %d units rolled up, want none", s.table, r.Units)
		}
		return ms, nil
	}
	for _, s := range sides {
		// rollUp's last run took the first snapshot; this one starts from it.
		ms, err := run(s)
		if err != nil {
			return out, err
		}
		s.first = ms
	}
	for range snapshotCostSamples {
		for _, s := range sides {
			ms, err := run(s)
			if err != nil {
				return out, err
			}
			s.idle = append(s.idle, ms)
		}
	}
	for _, s := range sides {
		deps, err := b.deps(ctx, s.table)
		if err != nil {
			return out, err
		}
		snap, _, found, err := rollup.ReadSnapshot(ctx, deps.Summary, deps.Now())
		if err != nil || !found {
			return out, fmt.Errorf("snapshot of %s: found %v, %w", s.table, found, err)
		}
		s.open = len(snap.OpenAnomalies)
		if err := b.dropTable(ctx, s.table); err != nil {
			return out, err
		}
	}
	small, large := sides[0], sides[1]
	out = SnapshotGrowth{
		Samples:     snapshotCostSamples,
		SmallOpen:   small.open,
		LargeOpen:   large.open,
		SmallIdleMs: round(median(small.idle), 0),
		LargeIdleMs: round(median(large.idle), 0),
	}
	out.OpenRatio = round(ratio(float64(large.open), float64(small.open)), 2)
	out.IdleRatio = round(ratio(out.LargeIdleMs, out.SmallIdleMs), 2)
	out.Met = out.IdleRatio > 0 && out.IdleRatio <= out.OpenRatio
	fmt.Fprintf(b.progress, "  %d open anomalies: %.0f ms; %d: %.0f ms (%.2f× for %.2f× the anomalies)\n",
		small.open, out.SmallIdleMs, large.open, out.LargeIdleMs, out.IdleRatio, out.OpenRatio)
	return out, nil
}

// failingDevices are three failed jobs within the hour before now of each of devices
// distinct devices, two of a device type, over 7 runtimes; set names the ids apart. Each
// device, and each device type in its runtime, is an anomaly in both scopes' windows, so
// the open anomalies grow as the devices do.
func failingDevices(now time.Time, set, devices int) []telemetry.Event {
	var out []telemetry.Event
	for d := range devices {
		for j := range 3 {
			ts := now.Add(-time.Duration(50-15*j) * time.Minute).Add(time.Duration(d) * time.Millisecond)
			out = append(out, telemetry.Event{
				ID: fmt.Sprintf("snapshot-%d-%d-%d", set, d, j), Kind: telemetry.KindJobResult,
				Runtime: fmt.Sprintf("lava-%d", d%7), DeviceType: fmt.Sprintf("board-%d", d/2), DeviceID: fmt.Sprintf("board-%d-%d", d/2, d),
				ErrorType: "Infrastructure", ErrorMsg: fmt.Sprintf("connection to board-%d-%d lost", d/2, d), IsInfraError: true,
				Result: telemetry.ResultFail, TS: ts, ReceivedAt: now,
			})
		}
	}
	return out
}
