package walk

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// Window is what a reader covers: events with ts in [Since, Until] (Until zero: no upper
// bound). FromRollups answers from rows alone, widened to whole fine buckets: for a window
// that begins before raw retention, whose raw events are partly gone.
type Window struct {
	Since, Until time.Time
	FromRollups  bool
	// Hourly covers the window with buckets no wider than an hour, so that every row
	// handed to Visitor.Row lies within one hour (baselines are kept by hour of day).
	Hourly bool
}

// Visitor receives what Walk covers the window with. Each is called from several
// goroutines at once; between them they stand for every event of the window once.
type Visitor struct {
	// Raw reads the raw events with ts in [since, until] (until zero: no upper bound): the
	// partial buckets at the window's edges, or the whole window.
	Raw func(ctx context.Context, since, until time.Time) error
	// Unit reads the raw events of one unit with ts before end: its row is stale, or
	// counts events that have expired.
	Unit func(ctx context.Context, u telemetry.RollupUnit, end time.Time) error
	// Row takes a row that equals the raw events it counts.
	Row func(b Bucket, row telemetry.RollupRow) error
	// Usable, if set, may refuse a row the marks trust because it lacks what this reader
	// needs (a row written before rows recorded it); its events are then read as a stale
	// row's are (the unit's raw events, or the rows of its children).
	Usable func(row telemetry.RollupRow) (bool, error)
}

// Result says how Walk covered the window.
type Result struct {
	// FromRollups: the window was widened to whole fine buckets, [Since, Until], and
	// answered from rows alone.
	FromRollups  bool
	Since, Until time.Time
	Rows         int // rows handed to Row
	Items        int // items read from the summary table (marks and row parts)
}

// task is a bucket whose shard rows Walk reads, for some of its shards.
type task struct {
	b      Bucket
	shards []int
}

// merged hands v the merged rows of the buckets of cover that it can use (no mark in the
// bucket, current, none of its events expired unless the window is answered from rollups,
// usable by v), skips buckets known to hold nothing, and returns the rest, whose shard rows
// must be read, and the table's layout. One round of BatchGetItem: a merged row is one
// item where the shard rows are one per shard. A bucket of a resolution the table's layout
// does not keep is replaced by its children, in one more round.
func merged(ctx context.Context, s telemetry.RollupStore, now time.Time, w Window, cover []Bucket, marks []telemetry.StaleMark, v Visitor, res *Result) ([]task, int, error) {
	mr, ok := s.(telemetry.MergedRowsReader)
	if !ok {
		// Its rows are all the rollup it has, every resolution of them written by this
		// rollup.
		rest := make([]task, len(cover))
		for i, b := range cover {
			rest[i] = task{b: b}
		}
		return rest, math.MaxInt, nil
	}
	var (
		rest   []task
		layout int
	)
	for len(cover) > 0 {
		keys := make([]telemetry.RollupBucket, len(cover))
		for i, b := range cover {
			keys[i] = telemetry.RollupBucket{Resolution: b.Res.Name, Start: b.Start}
		}
		rows, items, err := mr.MergedRows(ctx, keys)
		if err != nil {
			return nil, 0, err
		}
		res.Items += items
		var split []Bucket
		for i, b := range cover {
			r := rows[i]
			layout = r.Layout
			if !b.Res.keptIn(layout) {
				split = append(split, b.childrenIn(layout)...)
				continue
			}
			// A marked bucket is asked for all the same, so that its resolution is
			// checked against the layout.
			marked := slices.ContainsFunc(marks, func(m telemetry.StaleMark) bool { return b.Contains(m.Start) })
			switch {
			case marked:
				rest = append(rest, task{b: b})
				continue
			case r.State == telemetry.MergedEmpty:
				continue
			case r.State != telemetry.MergedCurrent:
				rest = append(rest, task{b: b})
				continue
			}
			row := r.Row
			if !w.FromRollups && row.MinExpires != 0 && row.MinExpires <= now.Unix() {
				if row.MaxExpires != 0 && row.MaxExpires <= now.Unix() {
					continue // every event it counts has expired: raw reads would find none
				}
				rest = append(rest, task{b: b}) // some have: shard by shard
				continue
			}
			if v.Usable != nil {
				usable, err := v.Usable(row)
				if err != nil {
					return nil, 0, err
				}
				if !usable {
					rest = append(rest, task{b: b})
					continue
				}
			}
			res.Rows++
			if err := v.Row(b, row); err != nil {
				return nil, 0, err
			}
		}
		cover = split
	}
	return rest, layout, nil
}

// DefaultMaxStaleUnits: a unit read costs one query, as does a shard of the raw read, so
// beyond a few dozen stale units the raw read of the whole window costs less.
const DefaultMaxStaleUnits = 64

// Walk covers w at now with whole buckets of the summary table where their rows can be
// trusted, and raw events for the rest: the partial buckets at the edges, units a
// staleness mark says their row does not match yet, and units whose row counts events
// that have expired. Past maxStale stale units (0: DefaultMaxStaleUnits) it reads the
// whole window raw. Every event of w reaches v exactly once, so an answer built from it
// equals the one built from raw events alone.
func Walk(ctx context.Context, s telemetry.RollupStore, now time.Time, maxStale int, w Window, v Visitor) (Result, error) {
	var (
		res Result
		mu  sync.Mutex
	)
	// Whole buckets reach the horizon: no event is stamped more than MaxFutureSkew ahead
	// of its receipt, so the buckets after the one holding now are rows (or nothing) like
	// any other, and no raw read looks past now for the few events stamped ahead. The
	// bucket holding now is taken whole only if no mark says new events reached it since
	// its row was written: a quiet one is a row, and a busy one (under steady traffic,
	// always) is read raw with the edge, in the round after the marks, rather than shard
	// by shard after its rows.
	horizon := Ceil(now.Add(telemetry.MaxFutureSkew + Fine.Width))
	from, to := Ceil(w.Since), horizon
	if !w.Until.IsZero() && w.Until.Before(to.Add(-time.Microsecond)) {
		to = Floor(w.Until.Add(time.Microsecond))
	}
	if w.FromRollups {
		from = Floor(w.Since)
		// Without an until, up to the end of the bucket holding now: the rows read, and
		// so the window the answer says it covers, end there.
		to = Floor(now).Add(Fine.Width)
		if !w.Until.IsZero() {
			to = Ceil(w.Until.Add(time.Microsecond))
		}
		res.FromRollups, res.Since, res.Until = true, from, to.Add(-time.Microsecond)
		// Rows are kept for the store's retention and no longer: a since years back would
		// otherwise cover thousands of buckets that cannot hold one. A window wholly
		// before them has nothing to read, and its answer says it covered what was asked.
		oldest := Floor(now.Add(-s.Retention()))
		if !to.After(oldest) {
			return res, nil
		}
		if from.Before(oldest) {
			from, res.Since = oldest, oldest
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	raw := func(since, until time.Time) {
		if !until.IsZero() && until.Before(since) {
			return
		}
		g.Go(func() error { return v.Raw(gctx, since, until) })
	}
	if !from.Before(to) {
		if !w.FromRollups {
			raw(w.Since, w.Until)
		}
		return res, g.Wait()
	}
	marks, err := s.StaleMarks(ctx, from, to)
	if err != nil {
		return res, err
	}
	res.Items += len(marks)
	cover := func(top Resolution) []Bucket { return CoverUpTo(top, from, to) }
	current := BucketOf(Fine, now)
	inCurrent := func(m telemetry.StaleMark) bool { return current.Contains(m.Start) }
	busy := !w.FromRollups && !current.Start.Before(from) && !to.Before(current.End()) && slices.ContainsFunc(marks, inCurrent)
	if busy {
		marks = slices.DeleteFunc(marks, inCurrent)
		cover = func(top Resolution) []Bucket {
			return append(CoverUpTo(top, from, current.Start), CoverUpTo(top, current.End(), to)...)
		}
	}
	if maxStale <= 0 {
		maxStale = DefaultMaxStaleUnits
	}
	if len(marks) > maxStale && !w.FromRollups {
		raw(w.Since, w.Until)
		return res, g.Wait()
	}
	if !w.FromRollups {
		if w.Since.Before(from) {
			raw(w.Since, from.Add(-time.Microsecond))
		}
		if busy {
			raw(current.Start, current.End().Add(-time.Microsecond))
		}
		if to.Before(horizon) {
			raw(to, w.Until)
		}
	}
	staleIn := func(b Bucket, shard int) bool {
		for _, m := range marks {
			if m.Shard == shard && b.Contains(m.Start) {
				return true
			}
		}
		return false
	}
	all := make([]int, s.Shards())
	for i := range all {
		all[i] = i
	}
	top := Day
	if w.Hourly {
		top = Hour
	}
	level, layout, err := merged(ctx, s, now, w, cover(top), marks, v, &res)
	if err != nil {
		_ = g.Wait()
		return res, err
	}
	for i := range level {
		level[i].shards = all
	}
	for len(level) > 0 {
		var next []task
		lg, lctx := errgroup.WithContext(gctx)
		lg.SetLimit(32)
		for _, t := range level {
			lg.Go(func() error {
				rows, err := s.Rows(lctx, t.b.Res.Name, t.b.Start)
				if err != nil {
					return err
				}
				byShard := map[int]telemetry.RollupRow{}
				items := 0
				for _, row := range rows {
					byShard[row.Shard] = row
					items += max(row.Parts, 1)
				}
				mu.Lock()
				res.Items += items
				mu.Unlock()
				var descend []int
				for _, sh := range t.shards {
					row, ok := byShard[sh]
					expired := ok && row.MinExpires != 0 && row.MinExpires <= now.Unix()
					stale := staleIn(t.b, sh)
					if !stale && !w.FromRollups && ok && row.MaxExpires != 0 && row.MaxExpires <= now.Unix() {
						// Every event it counts has expired: raw reads would find none.
						continue
					}
					trusted := !stale && (!expired || w.FromRollups)
					if t.b.Res == Fine && !trusted && w.FromRollups && ok && expired {
						// Its raw events are partly gone: the row is the better record.
						trusted = true
					}
					if trusted && ok && v.Usable != nil {
						if trusted, err = v.Usable(row); err != nil {
							return err
						}
					}
					switch {
					case trusted && ok:
						mu.Lock()
						res.Rows++
						mu.Unlock()
						if err := v.Row(t.b, row); err != nil {
							return err
						}
					case trusted:
						// No row and no mark: no event was ever written there.
					case t.b.Res == Fine:
						u := telemetry.RollupUnit{Start: t.b.Start, Shard: sh}
						if err := v.Unit(lctx, u, t.b.End()); err != nil {
							return err
						}
					default:
						descend = append(descend, sh)
					}
				}
				if len(descend) > 0 {
					mu.Lock()
					for _, c := range t.b.childrenIn(layout) {
						next = append(next, task{b: c, shards: descend})
					}
					mu.Unlock()
				}
				return nil
			})
		}
		if err := lg.Wait(); err != nil {
			_ = g.Wait()
			return res, err
		}
		level = next
	}
	return res, g.Wait()
}

// Rolled hands row what the rollup has rolled up into each of buckets: the bucket's merged
// row where it is current (those of every bucket read in BatchGetItem calls of 100 keys),
// else the rows of its shards (one Query per such bucket: no merged row yet, or one set
// aside by a commit and not merged again). row is called from several goroutines at once.
//
// It reads no marks: unlike Walk it answers for the rows, not for the raw events, and a
// current merged row is the merge of the shard rows as they are, marked or not (the store
// sets it aside in the commit that rewrites one of them). Nor does it care for expiry:
// rows count their events after the raw copies expire.
func Rolled(ctx context.Context, s telemetry.RollupStore, buckets []Bucket, row func(Bucket, telemetry.RollupRow) error) (Result, error) {
	var res Result
	rest, _, err := merged(ctx, s, time.Time{}, Window{FromRollups: true}, buckets, nil, Visitor{Row: row}, &res)
	if err != nil {
		return res, err
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for _, t := range rest {
		g.Go(func() error {
			rows, err := s.Rows(gctx, t.b.Res.Name, t.b.Start)
			if err != nil {
				return err
			}
			items := 0
			for _, r := range rows {
				items += max(r.Parts, 1)
				if err := row(t.b, r); err != nil {
					return err
				}
			}
			mu.Lock()
			res.Items += items
			res.Rows += len(rows)
			mu.Unlock()
			return nil
		})
	}
	return res, g.Wait()
}
