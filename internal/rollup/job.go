package rollup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// JobOptions configure a rollup job.
type JobOptions struct {
	// Owner names this job's leases; empty means a random name per job. Two jobs with
	// the same owner would share leases, so only tests set it.
	Owner string
	// Reserve is time kept back from the invocation's deadline: no unit starts later, so
	// the run ends, and its leases are released, before Lambda stops it.
	Reserve time.Duration
	// Budget bounds a run without a deadline (the dev server's schedule); 0 means 50 s.
	Budget time.Duration
	// Workers is how many leases the run works on at once; 0 means 4.
	Workers int
	Now     func() time.Time // nil means time.Now
	Log     *slog.Logger     // nil means no logging
	// Reader, when set, makes each run end with a summary snapshot (anomaly lifecycles
	// and runtime health) evaluated through it for Evaluations (nil: DefaultEvaluations).
	Reader      *Reader
	Evaluations []analytics.AnomalyParams
	// Baseline configures baseline anomalies and silence in the snapshot (zero fields:
	// analytics.DefaultBaselineParams); NoBaseline leaves both out.
	Baseline   analytics.BaselineParams
	NoBaseline bool
	// Signatures and Flaky configure error signatures and flaky tests (zero fields: their
	// defaults); NoSignatures and NoFlaky leave them out.
	Signatures   analytics.SignatureParams
	NoSignatures bool
	Flaky        analytics.FlakyParams
	NoFlaky      bool
	// ResolveAfter: see SnapshotOptions; 0 means DefaultResolveAfter.
	ResolveAfter int
	// Alerts, when set, is sent an alert for every anomaly that opens or resolves.
	Alerts telemetry.AlertPublisher
}

// Job recomputes the stale units of the summary table.
type Job struct {
	store telemetry.RollupStore
	opts  JobOptions

	// totals are the metric totals as this job last read or wrote them; commits that
	// change them take turns (see commit).
	totalsMu sync.Mutex
	totals   *Totals
	version  int64
	loaded   bool
}

// NewJob returns a job over store.
func NewJob(store telemetry.RollupStore, o JobOptions) *Job {
	if o.Owner == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		o.Owner = "run-" + hex.EncodeToString(b)
	}
	if o.Reserve <= 0 {
		o.Reserve = 5 * time.Second
	}
	if o.Budget <= 0 {
		o.Budget = 50 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ResolveAfter <= 0 {
		o.ResolveAfter = DefaultResolveAfter
	}
	if o.Evaluations == nil {
		o.Evaluations = DefaultEvaluations()
	}
	return &Job{store: store, opts: o}
}

// RunResult is what one run did.
type RunResult struct {
	Units      int // units recomputed and committed
	Events     int // raw events read to recompute them
	Busy       int // leases another run held
	Left       int // stale units not reached before the deadline, or skipped as busy
	LeasesLost int // leases taken over mid-run (their uncommitted unit is left stale)
	Merged     int // buckets whose merged row the run wrote
}

// Run recomputes stale units, newest day first, until none is left or the deadline
// nears. Work is claimed a lease (one day of one shard) at a time, so concurrent runs
// share a backlog without computing a unit twice at once; a crash between a commit and
// the next only leaves units stale for the next run.
func (j *Job) Run(ctx context.Context) (RunResult, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = j.opts.Now().Add(j.opts.Budget)
	}
	stop := deadline.Add(-j.opts.Reserve)
	// Every event stored before started has its mark by now (ingest marks before it
	// answers), so a run that clears every mark it reads has rolled all of them up.
	started := j.opts.Now()
	marks, err := j.store.StaleMarks(ctx, time.Time{}, time.Time{})
	if err != nil {
		return RunResult{}, err
	}
	byLease := map[telemetry.RollupLease][]telemetry.StaleMark{}
	for _, m := range marks {
		l := telemetry.RollupLease{Day: BucketOf(Day, m.Start).Start, Shard: m.Shard}
		byLease[l] = append(byLease[l], m)
	}
	leases := make([]telemetry.RollupLease, 0, len(byLease))
	for l := range byLease {
		leases = append(leases, l)
	}
	sort.Slice(leases, func(a, b int) bool {
		if !leases[a].Day.Equal(leases[b].Day) {
			return leases[a].Day.After(leases[b].Day)
		}
		return leases[a].Shard < leases[b].Shard
	})

	var (
		mu      sync.Mutex
		result  RunResult
		errs    []error
		next    int
		wg      sync.WaitGroup
		touched = map[Bucket]bool{}
	)
	for range j.opts.Workers {
		wg.Go(func() {
			for {
				mu.Lock()
				if next >= len(leases) {
					mu.Unlock()
					return
				}
				l := leases[next]
				next++
				mu.Unlock()
				r, changed, err := j.runLease(ctx, l, byLease[l], stop)
				mu.Lock()
				for _, b := range changed {
					touched[b] = true
				}
				result.Units += r.Units
				result.Events += r.Events
				result.Busy += r.Busy
				result.Left += r.Left
				result.LeasesLost += r.LeasesLost
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Every bucket whose shard rows this run rewrote has its merged row set aside; the
	// merge writes it again once every lease of the run is done, so a day or an hour that
	// all shards touched is merged once, not once per shard.
	if ctx.Err() == nil {
		n, err := j.merge(ctx, touched)
		result.Merged = n
		if err != nil {
			errs = append(errs, fmt.Errorf("merge rollup rows: %w", err))
		}
	}
	if result.Left == 0 && len(errs) == 0 && ctx.Err() == nil {
		if err := j.store.AdvanceRolledUpTo(ctx, started); err != nil {
			errs = append(errs, err)
		}
	}
	// The snapshot comes after the units, so it sees the freshest rows; it reads raw
	// events for whatever is still stale, so a backlog delays nothing in it.
	if j.opts.Reader != nil && ctx.Err() == nil {
		if err := j.snapshot(ctx); err != nil {
			errs = append(errs, fmt.Errorf("summary snapshot: %w", err))
		}
	}
	return result, errors.Join(errs...)
}

// runLease recomputes the stale units of one lease, oldest first, and returns the
// buckets whose rows it rewrote.
func (j *Job) runLease(ctx context.Context, l telemetry.RollupLease, marks []telemetry.StaleMark, stop time.Time) (RunResult, []Bucket, error) {
	var (
		r       RunResult
		changed []Bucket
	)
	now := j.opts.Now()
	if !now.Before(stop) || ctx.Err() != nil {
		r.Left = len(marks)
		return r, nil, nil
	}
	// The lease outlives the run's last possible commit only a little, so a crashed run
	// holds its work back for seconds, not minutes.
	got, err := j.store.Claim(ctx, l, j.opts.Owner, now, stop.Add(j.opts.Reserve))
	if err != nil {
		r.Left = len(marks)
		return r, nil, err
	}
	if !got {
		r.Busy, r.Left = 1, len(marks)
		return r, nil, nil
	}
	defer func() {
		// Released even if ctx is done, so the next run need not wait for it to lapse.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := j.store.Release(rctx, l, j.opts.Owner); err != nil {
			j.opts.Log.Warn("release rollup lease", "error", err.Error())
		}
	}()
	sort.Slice(marks, func(a, b int) bool { return marks[a].Start.Before(marks[b].Start) })
	c := newRowCache(j.store, l.Shard)
	// One commit per hour: its stale units and the rows of the hour, its 6 hours and its
	// day together.
	for len(marks) > 0 {
		hour := BucketOf(Hour, marks[0].Start)
		n := 1
		for n < len(marks) && hour.Contains(marks[n].Start) {
			n++
		}
		if !j.opts.Now().Before(stop) || ctx.Err() != nil {
			r.Left += len(marks)
			break
		}
		events, buckets, err := j.recompute(ctx, c, l, hour, marks[:n])
		if errors.Is(err, telemetry.ErrLeaseLost) {
			r.LeasesLost++
			r.Left += len(marks)
			return r, changed, nil
		}
		if err != nil {
			r.Left += len(marks)
			return r, changed, fmt.Errorf("roll up %s shard %d: %w", hour.Start.Format(time.RFC3339), l.Shard, err)
		}
		r.Units += n
		r.Events += events
		changed = append(changed, buckets...)
		marks = marks[n:]
	}
	return r, changed, nil
}

// recompute rebuilds the fine rows of the marked units of one hour from raw events, the
// hour's row of the shard from its fine rows, the rows of the coarser buckets holding it
// (its 6 hours, its day) from their hours, and commits them with the clearing of the
// marks. Hours, not 6-hour rows, make the day: a table whose rows predate the 6-hour
// resolution has none for most of its 6-hour buckets, while every table has all its hours.
func (j *Job) recompute(ctx context.Context, c *rowCache, l telemetry.RollupLease, hour Bucket, marks []telemetry.StaleMark) (int, []Bucket, error) {
	above := Holding(hour.Start) // the hour, then coarser
	day := above[len(above)-1]
	loads := [][]Bucket{hour.Children(), hoursOf(day)}
	for _, b := range above[1:] {
		loads = append(loads, []Bucket{b}) // for the items it occupies
	}
	for _, bs := range loads {
		if err := c.load(ctx, bs); err != nil {
			return 0, nil, err
		}
	}
	events := 0
	var changed []Bucket
	delta := map[SeriesKey]*Series{}
	for _, m := range marks {
		fine := BucketOf(Fine, m.Start)
		row := NewRow()
		err := j.store.EachUnitEvent(ctx, m.RollupUnit, fine.End(), func(e telemetry.Event, expiresAt int64) error {
			events++
			row.Add(&e, expiresAt)
			return nil
		})
		if err != nil {
			return 0, nil, err
		}
		for k, d := range growth(c.rows[fine].row, row) {
			addSeries(delta, k, d)
		}
		c.rows[fine] = &cached{row: row, parts: c.rows[fine].parts}
		changed = append(changed, fine)
	}
	c.rows[hour] = &cached{row: c.merged(hour.Children()), parts: c.rows[hour].parts}
	changed = append(changed, hour)
	for _, b := range above[1:] {
		c.rows[b] = &cached{row: c.merged(hoursOf(b)), parts: c.rows[b].parts}
		changed = append(changed, b)
	}

	commit := telemetry.RollupCommit{Owner: j.opts.Owner, Lease: l, Clear: marks}
	for _, b := range changed {
		body, err := c.rows[b].row.Encode()
		if err != nil {
			return 0, nil, err
		}
		commit.Rows = append(commit.Rows, telemetry.RollupRow{Resolution: b.Res.Name, Start: b.Start,
			Shard: l.Shard, Body: body, MinExpires: c.rows[b].row.MinExpires, Parts: c.rows[b].parts,
			MaxExpires: c.rows[b].row.MaxExpires})
		c.rows[b].parts = max(c.rows[b].parts, telemetry.RollupRowParts(len(body)))
	}
	if err := j.commit(ctx, commit, delta); err != nil {
		return 0, nil, err
	}
	return events, changed, nil
}

// merge writes the merged row of each of buckets that is not current: the merge of its
// shard rows as read after its generation, written only if no commit has set it aside
// since (else that commit's run merges it). It returns how many it wrote.
func (j *Job) merge(ctx context.Context, buckets map[Bucket]bool) (int, error) {
	var (
		mu      sync.Mutex
		written int
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(j.opts.Workers)
	for b := range buckets {
		g.Go(func() error {
			key := telemetry.RollupBucket{Resolution: b.Res.Name, Start: b.Start}
			gen, current, rows, err := j.store.MergeSource(gctx, key)
			if err != nil || current {
				return err
			}
			out := NewRow()
			for _, stored := range rows {
				row, err := DecodeRow(stored.Body, stored.MinExpires)
				if err != nil {
					return err
				}
				row.MaxExpires = stored.MaxExpires
				out.Merge(row)
			}
			body, err := out.Encode()
			if err != nil {
				return err
			}
			ok, err := j.store.PutMerged(gctx, telemetry.RollupRow{Resolution: b.Res.Name, Start: b.Start,
				Shard: telemetry.MergedShard, Body: body, MinExpires: out.MinExpires, MaxExpires: out.MaxExpires}, gen)
			if ok {
				mu.Lock()
				written++
				mu.Unlock()
			}
			return err
		})
	}
	err := g.Wait()
	return written, err
}

// maxTotalsAttempts bounds how often a commit reads the totals again after another run
// replaced them: enough for a few runs sharing a backlog on a slow store.
const maxTotalsAttempts = 32

// commit writes c and, when delta counts anything, the totals grown by delta with it, in
// one transaction: the rows and the growth they bring are written together or not at
// all. Totals replaced by another run since this job read them are read again.
func (j *Job) commit(ctx context.Context, c telemetry.RollupCommit, delta map[SeriesKey]*Series) error {
	if len(delta) == 0 {
		_, err := j.store.Commit(ctx, c)
		return err
	}
	j.totalsMu.Lock()
	defer j.totalsMu.Unlock()
	for attempt := 0; ; attempt++ {
		if !j.loaded {
			stored, _, err := j.store.MetricsState(ctx)
			if err != nil {
				return err
			}
			if j.totals, err = DecodeTotals(stored.Body); err != nil {
				return err
			}
			j.version, j.loaded = stored.Version, true
		}
		grown := j.totals.Clone()
		grown.Add(delta)
		body, err := grown.Encode()
		if err != nil {
			return err
		}
		c.Totals = &telemetry.RollupTotals{Body: body, Version: j.version}
		_, err = j.store.Commit(ctx, c)
		switch {
		case err == nil:
			j.totals, j.version = grown, j.version+1
			return nil
		case errors.Is(err, telemetry.ErrTotalsMoved) && attempt < maxTotalsAttempts:
			// Runs sharing a backlog commit into the same totals; one that lost the race
			// again and again would give up its unit, so it waits a little longer each
			// time, at random, for the others' commits to pass.
			j.loaded = false
			pause := time.Duration(mathrand.Int64N(int64(time.Duration(attempt+1) * 5 * time.Millisecond)))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pause):
			}
		default:
			return err
		}
	}
}

func addSeries(into map[SeriesKey]*Series, k SeriesKey, d *Series) {
	s, ok := into[k]
	if !ok {
		s = &Series{}
		into[k] = s
	}
	s.add(d)
}

// rowCache holds the rows of one lease's shard as this run last read or wrote them. The
// lease makes this run their only writer, so what it wrote is what the table holds.
type rowCache struct {
	store telemetry.RollupStore
	shard int
	rows  map[Bucket]*cached
}

type cached struct {
	row   *Row
	parts int // items the stored row occupies, so a shorter rewrite deletes the rest
}

func newRowCache(store telemetry.RollupStore, shard int) *rowCache {
	return &rowCache{store: store, shard: shard, rows: map[Bucket]*cached{}}
}

// load reads the buckets not yet cached, all of one resolution.
func (c *rowCache) load(ctx context.Context, buckets []Bucket) error {
	var missing []time.Time
	for _, b := range buckets {
		if _, ok := c.rows[b]; !ok {
			missing = append(missing, b.Start)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	res := buckets[0].Res
	got, err := c.store.ShardRows(ctx, res.Name, c.shard, missing)
	if err != nil {
		return err
	}
	for _, start := range missing {
		stored, ok := got[start.Unix()]
		if !ok {
			c.rows[Bucket{Res: res, Start: start}] = &cached{row: NewRow()}
			continue
		}
		row, err := DecodeRow(stored.Body, stored.MinExpires)
		if err != nil {
			return err
		}
		row.MaxExpires = stored.MaxExpires
		c.rows[Bucket{Res: res, Start: start}] = &cached{row: row, parts: stored.Parts}
	}
	return nil
}

// merged is the merge of the cached rows of buckets, in order.
func (c *rowCache) merged(buckets []Bucket) *Row {
	out := NewRow()
	for _, b := range buckets {
		out.Merge(c.rows[b].row)
	}
	return out
}
