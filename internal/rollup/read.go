package rollup

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// Reader answers stats and anomalies from the summary table where it can: whole buckets
// from rollup rows, raw events for the partial buckets at the window's edges and for the
// units a staleness mark (or an expired event) says their rows do not match.
type Reader struct {
	Summary telemetry.RollupStore
	Events  telemetry.EventStore
	// Retention is the raw events' retention: a window starting before now − Retention
	// cannot be answered from raw events and is answered from rollups alone.
	Retention time.Duration
	Now       func() time.Time
	// MaxStaleUnits bounds the stale units a window may hold and still be read unit by
	// unit; past it (a backlog, or right after a large backfill) reading the window's raw
	// events at once is cheaper. 0 means DefaultMaxStaleUnits.
	MaxStaleUnits int
}

// DefaultMaxStaleUnits: a unit read costs one query, as does a shard of the raw read, so
// beyond a few dozen stale units the raw read of the whole window costs less.
const DefaultMaxStaleUnits = 64

// Answer says how a reader answered.
type Answer struct {
	// FromRollups: the window began before raw retention, so it was widened to whole
	// fine buckets, [Since, Until], and answered from rollups; counts include events
	// whose raw copies have expired.
	FromRollups  bool
	Since, Until time.Time
	Rows         int // rollup rows used
	Events       int // raw events read
}

// window is what collect reads: events with ts in [since, until] (until zero: no upper
// bound) that match any of filters; match says the same of a rollup group.
type window struct {
	since, until time.Time
	filters      []telemetry.Filter
	match        func(analytics.Dimensions) bool
	fromRollups  bool
	// hourly caps the buckets read at an hour, so every group handed on lies within
	// one hour (baselines are kept by hour of day).
	hourly bool
}

// collect feeds every event of w to onEvent and every rollup group standing for events
// of w to onGroup, each exactly once, one call at a time.
func (r *Reader) collect(ctx context.Context, w window, onGroup func(Bucket, *Group), onEvent func(*telemetry.Event)) (Answer, error) {
	now := r.Now()
	var ans Answer
	var mu sync.Mutex
	event := func(e *telemetry.Event) {
		mu.Lock()
		defer mu.Unlock()
		ans.Events++
		onEvent(e)
	}

	// Events can be stamped up to 24 h ahead of their receipt; past that nothing is
	// expected, but a raw read beyond the whole buckets catches anything that is there.
	from, to := ceil(w.since), floor(now.Add(25*time.Hour))
	if !w.until.IsZero() {
		to = floor(w.until.Add(time.Microsecond))
	}
	if w.fromRollups {
		from = floor(w.since)
		if !w.until.IsZero() {
			to = ceil(w.until.Add(time.Microsecond))
		}
		ans.FromRollups, ans.Since = true, from
		ans.Until = to.Add(-time.Microsecond)
	}
	g, gctx := errgroup.WithContext(ctx)
	raw := func(since, until time.Time) {
		for _, f := range w.filters {
			f.Since, f.Until = since, until
			if !until.IsZero() && until.Before(since) {
				continue
			}
			g.Go(func() error {
				return r.Events.EachEvent(gctx, f, func(e telemetry.Event) error {
					event(&e)
					return nil
				})
			})
		}
	}
	if !from.Before(to) {
		if !w.fromRollups {
			raw(w.since, w.until)
		}
		return ans, g.Wait()
	}
	marks, err := r.Summary.StaleMarks(ctx, from, to)
	if err != nil {
		return ans, err
	}
	limit := r.MaxStaleUnits
	if limit <= 0 {
		limit = DefaultMaxStaleUnits
	}
	if len(marks) > limit && !w.fromRollups {
		raw(w.since, w.until)
		return ans, g.Wait()
	}
	if !w.fromRollups {
		if w.since.Before(from) {
			raw(w.since, from.Add(-time.Microsecond))
		}
		raw(to, w.until)
	}
	staleIn := func(b Bucket, shard int) bool {
		for _, m := range marks {
			if m.Shard == shard && b.Contains(m.Start) {
				return true
			}
		}
		return false
	}
	shards := r.Summary.Shards()
	all := make([]int, shards)
	for i := range all {
		all[i] = i
	}
	type task struct {
		b      Bucket
		shards []int
	}
	var level []task
	cover := Cover(from, to)
	if w.hourly {
		cover = coverUpTo(Hour, from, to)
	}
	for _, b := range cover {
		level = append(level, task{b: b, shards: all})
	}
	unitEvent := func(e telemetry.Event, _ int64) error {
		for _, f := range w.filters {
			if f.Matches(&e) {
				event(&e)
				return nil
			}
		}
		return nil
	}
	for len(level) > 0 {
		var (
			next   []task
			nextMu sync.Mutex
		)
		lg, lctx := errgroup.WithContext(gctx)
		lg.SetLimit(32)
		for _, t := range level {
			lg.Go(func() error {
				rows, err := r.Summary.Rows(lctx, t.b.Res.Name, t.b.Start)
				if err != nil {
					return err
				}
				byShard := map[int]telemetry.RollupRow{}
				for _, row := range rows {
					byShard[row.Shard] = row
				}
				var descend []int
				for _, s := range t.shards {
					row, ok := byShard[s]
					expired := ok && row.MinExpires != 0 && row.MinExpires <= now.Unix()
					trusted := !staleIn(t.b, s) && (!expired || w.fromRollups)
					if t.b.Res == Fine && !trusted && w.fromRollups && ok && expired {
						// Its raw events are partly gone: the row is the better record.
						trusted = true
					}
					switch {
					case trusted && ok:
						decoded, err := DecodeRow(row.Body, row.MinExpires)
						if err != nil {
							return err
						}
						mu.Lock()
						ans.Rows++
						for _, g := range decoded.sorted() {
							if w.match(g.Dims) {
								onGroup(t.b, g)
							}
						}
						mu.Unlock()
					case trusted:
						// No row and no mark: no event was ever written there.
					case t.b.Res == Fine:
						u := telemetry.RollupUnit{Start: t.b.Start, Shard: s}
						if err := r.Summary.EachUnitEvent(lctx, u, t.b.End(), unitEvent); err != nil {
							return err
						}
					default:
						descend = append(descend, s)
					}
				}
				if len(descend) > 0 {
					nextMu.Lock()
					for _, c := range t.b.Children() {
						next = append(next, task{b: c, shards: descend})
					}
					nextMu.Unlock()
				}
				return nil
			})
		}
		if err := lg.Wait(); err != nil {
			_ = g.Wait()
			return ans, err
		}
		level = next
	}
	return ans, g.Wait()
}

// Stats answers GET /telemetry/stats for f and groupBy. ok is false when f is not one
// rollups can answer (no since, or a filter on a field that is not a dimension); the
// caller then reads raw events as before.
func (r *Reader) Stats(ctx context.Context, f telemetry.Filter, groupBy []string) (*analytics.StatsAccumulator, Answer, bool, error) {
	if f.Since.IsZero() || f.IsInfraError != nil || f.Retry != nil {
		return nil, Answer{}, false, nil
	}
	var zero analytics.Dimensions
	for field := range f.Equals {
		if _, ok := zero.Field(field); !ok {
			return nil, Answer{}, false, nil
		}
	}
	acc := analytics.NewStatsAccumulator(groupBy)
	w := window{
		since: f.Since, until: f.Until, filters: []telemetry.Filter{f},
		match: func(d analytics.Dimensions) bool {
			for field, want := range f.Equals {
				if got, _ := d.Field(field); got != want {
					return false
				}
			}
			return true
		},
		fromRollups: f.Since.Before(r.Now().Add(-r.Retention)),
	}
	ans, err := r.collect(ctx, w,
		func(_ Bucket, g *Group) { acc.AddAggregate(g.Dims, &g.Agg) },
		func(e *telemetry.Event) { acc.Add(e) })
	if err != nil {
		return nil, ans, true, err
	}
	return acc, ans, true, nil
}

// Anomalies answers GET /telemetry/anomalies for p at now.
func (r *Reader) Anomalies(ctx context.Context, p analytics.AnomalyParams, now time.Time) (*analytics.AnomalyAccumulator, Answer, error) {
	acc := analytics.NewAnomalyAccumulator(p, now)
	filters := analytics.AnomalyFilters(p, now)
	kinds := map[string]bool{}
	for _, f := range filters {
		k, _ := f.Value("kind")
		kinds[k] = true
	}
	w := window{
		since: acc.Since(), filters: filters,
		match: func(d analytics.Dimensions) bool { return kinds[d.Kind] },
	}
	ans, err := r.collect(ctx, w,
		func(_ Bucket, g *Group) { acc.AddGroup(g.Dims, g.Agg.Counts, g.Newest, g.NewestFailure) },
		func(e *telemetry.Event) { acc.Add(e) })
	return acc, ans, err
}

// History reads what baselines and silence at now are computed from: the baseline hour by
// hour, then the current window, each exact as stats are (rows where fresh, raw events
// elsewhere).
func (r *Reader) History(ctx context.Context, p analytics.BaselineParams, now time.Time) (*analytics.History, Answer, error) {
	h := analytics.NewHistory(p, now)
	var total Answer
	all := func(analytics.Dimensions) bool { return true }
	add := func(b Bucket, g *Group) { h.AddGroup(b.Start, g.Dims, g.Agg.Counts, g.Newest.TS) }
	for _, w := range []window{
		{since: h.Since(), until: h.Split().Add(-time.Microsecond), hourly: true},
		{since: h.Split(), until: now},
	} {
		w.filters, w.match = []telemetry.Filter{{}}, all
		w.fromRollups = w.since.Before(r.Now().Add(-r.Retention))
		ans, err := r.collect(ctx, w, add, h.Add)
		if err != nil {
			return nil, total, err
		}
		total.Rows += ans.Rows
		total.Events += ans.Events
	}
	return h, total, nil
}
