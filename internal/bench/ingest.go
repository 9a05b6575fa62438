package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/pipetel/pipetel/internal/emitter"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// ingest measures POST /telemetry through the local gateway at batches of 50 and 1,000,
// and the ceiling: the same events' items written raw into the same kind of table on the
// same DynamoDB Local. Every run writes the same events into a fresh table.
func (b *bench) ingest(ctx context.Context) (Ingest, error) {
	n := b.o.IngestEvents
	b.section("ingest: %d events per run, HTTP against raw BatchWriteItem", n)
	// Events as pipelines send them, within the last minutes: at the rates this measures, a
	// batch of 1,000 spans under a second of a deployment's traffic, so its events fall in
	// one or two 5-minute buckets and ingest marks about one rollup unit per shard. The
	// backfill run below spreads the same number over 23 hours instead.
	events, batches, err := b.ingestData(n, b.now.Add(-ingestSpan), []int{50, 1000})
	if err != nil {
		return Ingest{}, err
	}
	c, err := b.capture(ctx, events)
	if err != nil {
		return Ingest{}, err
	}
	_, backfill, err := b.ingestData(n, b.now.Add(-23*time.Hour), []int{1000})
	if err != nil {
		return Ingest{}, err
	}
	withIDs, err := emitter.Batches(events, 1000)
	if err != nil {
		return Ingest{}, err
	}

	// DynamoDB Local runs on a JVM that compiles its hot paths only after a while; a
	// first run at half the size, both ways, keeps that out of the first figures (at a
	// tenth, ours still rose by half from the first try to the third).
	warm := max(len(batches[1000])/2, 1)
	if _, err := b.ingestHTTP(ctx, "warm-up", batches[1000][:warm], b.o.ClientWorkers); err != nil {
		return Ingest{}, err
	}
	if _, err := b.ceiling(ctx, c, warm*1000, 4, ceilingRaw, "warm-up"); err != nil {
		return Ingest{}, err
	}

	out := Ingest{Ceiling: Ceiling{Events: n, ByWorkers: map[string]float64{}, BatchWriteSize: batchWriteSize}}
	for _, w := range b.o.CeilingWorkers {
		rate, err := b.ceiling(ctx, c, n, w, ceilingRaw, fmt.Sprintf("ceiling, %d workers", w))
		if err != nil {
			return Ingest{}, err
		}
		out.Ceiling.ByWorkers[strconv.Itoa(w)] = round(rate, 0)
		if rate > out.Ceiling.EventsPerS {
			out.Ceiling.EventsPerS, out.Ceiling.BestWorkers = rate, w
		}
	}
	// Every figure compared gets the same number of tries, the best of which counts: on a
	// shared machine a slow try says more about the neighbours than about the code.
	best := out.Ceiling.BestWorkers
	for try := range ingestTries {
		if try > 0 {
			rate, err := b.ceiling(ctx, c, n, best, ceilingRaw, fmt.Sprintf("ceiling, %d workers, again", best))
			if err != nil {
				return Ingest{}, err
			}
			out.Ceiling.EventsPerS = max(out.Ceiling.EventsPerS, rate)
		}
		probed, err := b.ceiling(ctx, c, n, best, ceilingProbe, fmt.Sprintf("ceiling with the probe, %d workers", best))
		if err != nil {
			return Ingest{}, err
		}
		out.Ceiling.WithProbeEventsPerS = max(out.Ceiling.WithProbeEventsPerS, probed)
		whole, err := b.ceiling(ctx, c, n, best, ceilingProtocol, fmt.Sprintf("ceiling with the probe and the marks, %d workers", best))
		if err != nil {
			return Ingest{}, err
		}
		out.Ceiling.ProtocolEventsPerS = max(out.Ceiling.ProtocolEventsPerS, whole)
		for _, size := range []int{50, 1000} {
			run, err := b.ingestHTTP(ctx, fmt.Sprintf("HTTP, batches of %d", size), batches[size], b.o.ClientWorkers)
			if err != nil {
				return Ingest{}, err
			}
			if size == 50 && run.EventsPerS > out.Batch50.EventsPerS {
				out.Batch50 = run
			}
			if size == 1000 && run.EventsPerS > out.Batch1000.EventsPerS {
				out.Batch1000 = run
			}
		}
		run, err := b.ingestHTTP(ctx, "HTTP, batches of 1000 over 23 h (a backfill)", backfill[1000], b.o.ClientWorkers)
		if err != nil {
			return Ingest{}, err
		}
		if run.EventsPerS > out.Backfill1000.EventsPerS {
			out.Backfill1000 = run
		}
		if run, err = b.ingestHTTP(ctx, "HTTP, batches of 1000, each event with its id", withIDs, b.o.ClientWorkers); err != nil {
			return Ingest{}, err
		}
		if run.EventsPerS > out.WithIDs1000.EventsPerS {
			out.WithIDs1000 = run
		}
	}
	ceiling := out.Ceiling.EventsPerS
	out.Ceiling.EventsPerS = round(ceiling, 0)
	out.Ceiling.WithProbeRatio = round(ratio(out.Ceiling.WithProbeEventsPerS, ceiling), 3)
	out.Ceiling.WithProbeEventsPerS = round(out.Ceiling.WithProbeEventsPerS, 0)
	out.Ceiling.ProtocolRatio = round(ratio(out.Ceiling.ProtocolEventsPerS, ceiling), 3)
	out.Ceiling.ProtocolEventsPerS = round(out.Ceiling.ProtocolEventsPerS, 0)
	for _, run := range []*IngestRun{&out.Batch50, &out.Batch1000, &out.Backfill1000, &out.WithIDs1000} {
		run.CeilingEventsPerS = out.Ceiling.EventsPerS
		run.Ratio = round(ratio(run.EventsPerS, ceiling), 3)
		run.ProbingRatio = round(ratio(run.EventsPerS, out.Ceiling.WithProbeEventsPerS), 3)
		if run == &out.Batch50 || run == &out.Batch1000 { // the others write what the ceiling does not
			run.ProtocolRatio = round(ratio(run.EventsPerS, out.Ceiling.ProtocolEventsPerS), 3)
		}
		run.EventsPerS = round(run.EventsPerS, 0)
		run.Tries = ingestTries
	}
	return out, nil
}

// ingestTries is how often each compared ingest figure is measured.
const ingestTries = 3

// ingestSpan is how far back the ingest runs' events are stamped (all but the backfill's).
const ingestSpan = 2 * time.Minute

// ingestData generates n events stamped from since to now, each with the id the API
// derives for it (for capturing the items the store writes, which the ceiling replays),
// and cuts them into batches of each size as the emitter does, without ids. The events
// go out without ids, as KernelCI's emitter sends them: the API derives each id from the
// content, so both sides do the same work in DynamoDB. An id sent by the client adds an id
// guard (a second probe key and a second item per event), which the ceiling does not write.
func (b *bench) ingestData(n int, since time.Time, sizes []int) ([]telemetry.Event, map[int][]emitter.Batch, error) {
	events, err := b.generate(b.o.Seed, n, since, b.now)
	if err != nil {
		return nil, nil, err
	}
	// Stamped evenly, in order, so that no two events share their content and ts (the
	// simulator repeats a job's tests, and within minutes would repeat their seconds too):
	// every event is new, as the comparison with the ceiling needs.
	step := b.now.Sub(since) / time.Duration(n)
	for i := range events {
		events[i].TS = since.Add(time.Duration(i) * step)
	}
	wire := slices.Clone(events)
	for i := range events {
		events[i].ID, wire[i].ID = telemetry.DeriveID(&events[i]), ""
	}
	batches := map[int][]emitter.Batch{}
	for _, size := range sizes {
		if batches[size], err = emitter.Batches(wire, size); err != nil {
			return nil, nil, err
		}
	}
	return events, batches, nil
}

// ceiling writes the first n captured items into a fresh table with workers calls in
// flight, doing what kind says beside, and returns the rate.
func (b *bench) ceiling(ctx context.Context, c captured, n, workers int, kind ceilingKind, label string) (float64, error) {
	table, err := b.newTable(ctx, "ceiling")
	if err != nil {
		return 0, err
	}
	if err := b.register(ctx, table, c); err != nil {
		return 0, err
	}
	m := startMeter(b.progress, label, n)
	start := time.Now()
	err = b.rawWrite(ctx, table, c, n, workers, kind, m)
	took := time.Since(start)
	m.finish()
	if err != nil {
		return 0, err
	}
	return float64(n) / took.Seconds(), b.dropTable(ctx, table)
}

// ingestHTTP posts batches to a fresh table through the gateway, workers requests in
// flight, and checks every event was inserted.
func (b *bench) ingestHTTP(ctx context.Context, label string, batches []emitter.Batch, workers int) (IngestRun, error) {
	return b.ingestHTTPAt(ctx, "/telemetry", label, batches, workers)
}

// ingestHTTPAt is ingestHTTP to another ingest route (path), which answers as POST
// /telemetry does with inserted and duplicates.
func (b *bench) ingestHTTPAt(ctx context.Context, path, label string, batches []emitter.Batch, workers int) (IngestRun, error) {
	n := 0
	for _, bt := range batches {
		n += bt.Events
	}
	table, err := b.newTable(ctx, "ingest")
	if err != nil {
		return IngestRun{}, err
	}
	svc, err := startService(ctx, b.endpoint, table)
	if err != nil {
		return IngestRun{}, err
	}
	client := &emitter.Client{URL: svc.url + path, HTTP: httpClient(workers, b.token)}
	m := startMeter(b.progress, label, n)
	start := time.Now()
	res, err := client.PostAll(ctx, batches, workers, func(r emitter.Result) { m.set(r.Events) })
	took := time.Since(start)
	m.finish()
	if closeErr := svc.close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return IngestRun{}, err
	}
	if res.Inserted+res.Unconfirmed != n {
		return IngestRun{}, fmt.Errorf("%s: %d of %d events inserted (%d duplicates, %d unconfirmed)", label, res.Inserted, n, res.Duplicates, res.Unconfirmed)
	}
	run := IngestRun{
		Events: n, BatchSize: batches[0].Events, Workers: workers,
		Seconds: round(took.Seconds(), 2), EventsPerS: float64(n) / took.Seconds(),
	}
	return run, b.dropTable(ctx, table)
}
