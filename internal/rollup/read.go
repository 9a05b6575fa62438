package rollup

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pipetel/pipetel/internal/rollup/walk"
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
	// Rows, when set, keeps decoded rows for the next requests of this process; nil
	// decodes every row read.
	Rows *RowCache
}

// DefaultMaxStaleUnits: see walk.DefaultMaxStaleUnits.
const DefaultMaxStaleUnits = walk.DefaultMaxStaleUnits

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
	// usable, when set, says whether a decoded row records what this reader needs; a row
	// that does not is read as a stale one (its events, or its children's rows).
	usable func(*Row) bool
	// hourly caps the buckets read at an hour, so every group handed on lies within
	// one hour (baselines are kept by hour of day).
	hourly bool
}

// collect feeds every event of w to onEvent and every rollup group standing for events
// of w to onGroup, each exactly once, one call at a time.
func (r *Reader) collect(ctx context.Context, w window, onGroup func(Bucket, *Group), onEvent func(*telemetry.Event)) (Answer, error) {
	var ans Answer
	var mu sync.Mutex
	event := func(e *telemetry.Event) {
		mu.Lock()
		defer mu.Unlock()
		ans.Events++
		onEvent(e)
	}
	var usable func(telemetry.RollupRow) (bool, error)
	if w.usable != nil {
		usable = func(row telemetry.RollupRow) (bool, error) {
			decoded, err := r.Rows.decode(row.Body, row.MinExpires)
			if err != nil {
				return false, err
			}
			return w.usable(decoded), nil
		}
	}
	res, err := walk.Walk(ctx, r.Summary, r.Now(), r.MaxStaleUnits,
		walk.Window{Since: w.since, Until: w.until, FromRollups: w.fromRollups, Hourly: w.hourly},
		walk.Visitor{
			Usable: usable,
			Raw: func(ctx context.Context, since, until time.Time) error {
				if len(w.filters) > 1 && r.isEdge(since, until) {
					// Anomalies' four kinds, each through its index, would cost four
					// Queries a shard and day for a few minutes of events: the day
					// partitions read once, and matched here, cost one.
					return r.Events.EachEvent(ctx, telemetry.Filter{Since: since, Until: until}, func(e telemetry.Event) error {
						for _, f := range w.filters {
							if f.Matches(&e) {
								event(&e)
								break
							}
						}
						return nil
					})
				}
				g, gctx := errgroup.WithContext(ctx)
				for _, f := range w.filters {
					f.Since, f.Until = since, until
					g.Go(func() error {
						return r.Events.EachEvent(gctx, f, func(e telemetry.Event) error {
							event(&e)
							return nil
						})
					})
				}
				return g.Wait()
			},
			Unit: func(ctx context.Context, u telemetry.RollupUnit, end time.Time) error {
				return r.Summary.EachUnitEvent(ctx, u, end, func(e telemetry.Event, _ int64) error {
					for _, f := range w.filters {
						if f.Matches(&e) {
							event(&e)
							return nil
						}
					}
					return nil
				})
			},
			Row: func(b walk.Bucket, row telemetry.RollupRow) error {
				decoded, err := r.Rows.decode(row.Body, row.MinExpires)
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				for _, g := range decoded.sorted() {
					if w.match(g.Dims) {
						onGroup(b, g)
					}
				}
				return nil
			},
		})
	mu.Lock()
	defer mu.Unlock()
	ans.FromRollups, ans.Since, ans.Until, ans.Rows = res.FromRollups, res.Since, res.Until, res.Rows
	return ans, err
}

// edgeSpan is the longest raw range read as a window's edge: the partial bucket at its
// start, or the bucket holding now and what is stamped ahead of it.
const edgeSpan = time.Hour

// isEdge tells whether [since, until] (until zero: no upper bound, so up to now) is short
// enough that reading every kind of event in it costs less than one read per filter.
func (r *Reader) isEdge(since, until time.Time) bool {
	if until.IsZero() {
		until = r.Now()
	}
	return until.Sub(since) <= edgeSpan
}

// Stats answers GET /telemetry/stats for f and groupBy. ok is false when f is not one
// rollups can answer (no since, or a filter on a field that is not a dimension); the
// caller then reads raw events as before.
func (r *Reader) Stats(ctx context.Context, f telemetry.Filter, groupBy []string) (*analytics.StatsAccumulator, Answer, bool, error) {
	if (f.Since.IsZero() && !f.SinceGiven) || f.IsInfraError != nil || f.Retry != nil {
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
