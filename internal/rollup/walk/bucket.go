// Package walk is how readers of the summary table cover a time window: the buckets, and
// the rule that says which rollup rows to trust and which raw events to read instead.
// Package rollup answers stats and anomalies with it; the query function counts totals
// with it. It links no aggregates (no duration sketch), so the query function stays small.
package walk

import (
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// Resolution is a bucket width of the rollup rows.
type Resolution struct {
	Name  string // as stored: "5m", "1h", "1d"
	Width time.Duration
}

// The resolutions, finest first. Each divides the next evenly, so a bucket is the exact
// union of its children.
var (
	Fine = Resolution{Name: "5m", Width: telemetry.RollupFineBucket}
	Hour = Resolution{Name: "1h", Width: time.Hour}
	Day  = Resolution{Name: "1d", Width: 24 * time.Hour}
)

var resolutions = []Resolution{Fine, Hour, Day}

// Bucket is one bucket of one resolution.
type Bucket struct {
	Res   Resolution
	Start time.Time // UTC, aligned to Res.Width
}

// End is the first instant after the bucket.
func (b Bucket) End() time.Time { return b.Start.Add(b.Res.Width) }

// Children are the buckets of the next finer resolution that make up b; none for Fine.
func (b Bucket) Children() []Bucket {
	var finer Resolution
	switch b.Res {
	case Day:
		finer = Hour
	case Hour:
		finer = Fine
	default:
		return nil
	}
	var out []Bucket
	for t := b.Start; t.Before(b.End()); t = t.Add(finer.Width) {
		out = append(out, Bucket{Res: finer, Start: t})
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
// up to the first hour, hours up to the first day, days, then hours and fine buckets to
// the end. A day covers what 288 fine buckets would, so a long window costs few reads.
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
