package rollup

import (
	"time"

	"github.com/pipetel/pipetel/internal/rollup/walk"
)

// The buckets live in package walk, which the query function links to count totals
// without the aggregates; these names keep the rollup's own code as it was.
type (
	// Resolution is a bucket width of the rollup rows.
	Resolution = walk.Resolution
	// Bucket is one bucket of one resolution.
	Bucket = walk.Bucket
)

// The resolutions, finest first.
var (
	Fine     = walk.Fine
	Hour     = walk.Hour
	SixHours = walk.SixHours
	Day      = walk.Day
)

// BucketOf is the bucket of resolution r holding t.
func BucketOf(r Resolution, t time.Time) Bucket { return walk.BucketOf(r, t) }

// Holding is the bucket of each resolution coarser than Fine holding t, finest first.
func Holding(t time.Time) []Bucket { return walk.Holding(t) }

// hoursOf is the hours of b, which is an hour or wider.
func hoursOf(b Bucket) []Bucket { return walk.CoverUpTo(Hour, b.Start, b.End()) }

// Cover splits [from, to), both fine-aligned, into the fewest whole buckets.
func Cover(from, to time.Time) []Bucket { return walk.Cover(from, to) }
