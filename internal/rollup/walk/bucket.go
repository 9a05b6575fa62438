// Package walk is how readers of the summary table cover a time window: the buckets, and
// the rule that says which rollup rows to trust and which raw events to read instead.
// Package rollup answers stats and anomalies with it; the query function counts totals
// with it. It links no aggregates (no duration sketch), so the query function stays small.
package walk

import (
	"slices"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// Resolution is a bucket width of the rollup rows.
type Resolution struct {
	Name  string // as stored: "5m", "1h", "6h", "1d"
	Width time.Duration
	// Layout is the first summary table layout (telemetry.RollupLayoutMerged and after)
	// whose tables hold its rows for every bucket; 0: every table does.
	Layout int
}

// keptIn reports whether a table of layout holds r's rows for every bucket.
func (r Resolution) keptIn(layout int) bool { return layout >= r.Layout }

// The resolutions, finest first. Each divides the next evenly, so a bucket is the exact
// union of its children. SixHours lets a window not aligned to a day (KernelCI's page
// asks for the last 24 hours) be covered by about 19 rows instead of about 34.
var (
	Fine     = Resolution{Name: "5m", Width: telemetry.RollupFineBucket}
	Hour     = Resolution{Name: "1h", Width: time.Hour}
	SixHours = Resolution{Name: "6h", Width: 6 * time.Hour, Layout: telemetry.RollupLayoutSixHours}
	Day      = Resolution{Name: "1d", Width: 24 * time.Hour}
)

var resolutions = []Resolution{Fine, Hour, SixHours, Day}

// Bucket is one bucket of one resolution.
type Bucket struct {
	Res   Resolution
	Start time.Time // UTC, aligned to Res.Width
}

// End is the first instant after the bucket.
func (b Bucket) End() time.Time { return b.Start.Add(b.Res.Width) }

// Children are the buckets of the next finer resolution that make up b; none for Fine.
func (b Bucket) Children() []Bucket {
	i := slices.Index(resolutions, b.Res)
	if i <= 0 {
		return nil
	}
	finer := resolutions[i-1]
	var out []Bucket
	for t := b.Start; t.Before(b.End()); t = t.Add(finer.Width) {
		out = append(out, Bucket{Res: finer, Start: t})
	}
	return out
}

// childrenIn are b's children, each replaced by its own children where a table of layout
// does not keep its rows: the finer buckets that make up b in such a table.
func (b Bucket) childrenIn(layout int) []Bucket {
	var out []Bucket
	for _, c := range b.Children() {
		if c.Res.keptIn(layout) {
			out = append(out, c)
		} else {
			out = append(out, c.childrenIn(layout)...)
		}
	}
	return out
}

// Holding is the bucket of each resolution coarser than Fine that holds t, finest first:
// the buckets whose rows a rollup of t's fine bucket rewrites from their children.
func Holding(t time.Time) []Bucket {
	out := make([]Bucket, 0, len(resolutions)-1)
	for _, r := range resolutions[1:] {
		out = append(out, BucketOf(r, t))
	}
	return out
}

// Contains reports whether t is within the bucket.
func (b Bucket) Contains(t time.Time) bool { return !t.Before(b.Start) && t.Before(b.End()) }

// BucketOf is the bucket of resolution r holding t.
func BucketOf(r Resolution, t time.Time) Bucket {
	return Bucket{Res: r, Start: t.UTC().Truncate(r.Width)}
}

// Floor and Ceil align t to the fine bucket below or above it (t itself when aligned).
func Floor(t time.Time) time.Time { return t.UTC().Truncate(Fine.Width) }

// Ceil: see Floor.
func Ceil(t time.Time) time.Time {
	f := Floor(t)
	if f.Equal(t) {
		return f
	}
	return f.Add(Fine.Width)
}

// Cover splits [from, to), both fine-aligned, into the fewest whole buckets: fine buckets
// up to the first hour, hours up to the first 6 hours, those up to the first day, days,
// then the same widths narrowing to the end. A day covers what 288 fine buckets would, so
// a long window costs few reads.
func Cover(from, to time.Time) []Bucket { return CoverUpTo(Day, from, to) }

// CoverUpTo is Cover with buckets no wider than top.
func CoverUpTo(top Resolution, from, to time.Time) []Bucket {
	var out []Bucket
	for t := from.UTC(); t.Before(to); {
		for i := len(resolutions) - 1; i >= 0; i-- {
			r := resolutions[i]
			if r.Width > top.Width {
				continue
			}
			if t.Equal(t.Truncate(r.Width)) && !t.Add(r.Width).After(to) {
				out = append(out, Bucket{Res: r, Start: t})
				t = t.Add(r.Width)
				break
			}
		}
	}
	return out
}
