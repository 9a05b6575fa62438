package telemetry

import (
	"context"
	"errors"
	"time"
)

// RollupUnit is the smallest piece of rollup work: the events of one fine time bucket
// (Start, UTC, aligned to the fine bucket) that live in one event shard.
type RollupUnit struct {
	Start time.Time
	Shard int
}

// StaleMark says that events landed in a unit after its rollup was last computed. Seq
// changes with every ingest request that touches the unit (the store writes a random
// one); a rollup that read the mark at Seq may clear it only while it still holds Seq.
type StaleMark struct {
	RollupUnit
	Seq int64
}

// RollupRow is the stored rollup of one bucket of one shard. Body is opaque to the store
// (package rollup encodes it). MinExpires is the earliest expires_at, in epoch seconds, of
// the events it counts (0 when it counts none): once that moment has passed, raw events
// the row counts are gone from the events table and the row no longer equals them.
type RollupRow struct {
	Resolution string // a bucket width, as package rollup names it ("5m", "1h", "6h", "1d")
	Start      time.Time
	Shard      int
	Body       []byte
	MinExpires int64
	Parts      int // how many items the store split Body over; set by the store when read
	// MaxExpires is the latest expires_at of the events it counts; 0 when unknown (rows
	// written before it was kept). Once it has passed, every event the row counts is gone
	// from raw reads, so a raw-equal answer skips the row without reading raw events.
	MaxExpires int64
}

// RollupCommit is what one recompute writes, all at once: the fine rows of some units of
// one hour and the merged rows above them. The write is fenced by the lease Owner holds on
// Lease. Each mark of Clear is deleted if it still holds its Seq.
type RollupCommit struct {
	Owner string
	Lease RollupLease
	Rows  []RollupRow // each with Parts set to the parts it had before (0 if new)
	Clear []StaleMark
	// Totals, when set, replaces the metric totals, if they are still at Totals.Version
	// (else ErrTotalsMoved and nothing is written); they are then at Version+1.
	Totals *RollupTotals
}

// RollupTotals are the stored cumulative metric totals (package rollup encodes Body) and
// their version, which every replacement raises by one; 0 and no body: none yet.
type RollupTotals struct {
	Body    []byte
	Version int64
}

// ErrTotalsMoved is returned by a commit whose totals another commit replaced since they
// were read: read them again and retry.
var ErrTotalsMoved = errors.New("metric totals replaced by another commit")

// RollupLease names one claimable piece of the backlog: one day of one shard. Every row
// of that day and shard is written only by the lease's holder, so fine, hourly and daily
// rows never disagree.
type RollupLease struct {
	Day   time.Time // UTC midnight
	Shard int
}

// ErrLeaseLost is returned by a commit whose lease another run has taken over.
var ErrLeaseLost = errors.New("rollup lease lost to another run")

// RollupStore keeps staleness marks, leases and rollup rows (the summary table) and reads
// the raw events of one unit. The readers of stats and anomalies use the first three
// methods; the scheduled rollup uses all of them.
type RollupStore interface {
	// Shards is the number of event shards: every bucket has one row per shard.
	Shards() int
	// Retention is how long rows are kept: none is older than now − Retention.
	Retention() time.Duration
	// StaleMarks returns the marks of units whose Start is within [from, to); a zero from
	// or to leaves that side open.
	StaleMarks(ctx context.Context, from, to time.Time) ([]StaleMark, error)
	// Rows returns the rows of every shard of one bucket (missing shards have none).
	Rows(ctx context.Context, resolution string, start time.Time) ([]RollupRow, error)
	// EachUnitEvent calls fn for every unexpired event of the unit whose ts is before end,
	// with its expires_at (epoch seconds), read with strong consistency.
	EachUnitEvent(ctx context.Context, u RollupUnit, end time.Time, fn func(e Event, expiresAt int64) error) error

	// ShardRows returns the rows of one shard for the given bucket starts, strongly
	// consistent, keyed by start in Unix seconds.
	ShardRows(ctx context.Context, resolution string, shard int, starts []time.Time) (map[int64]RollupRow, error)
	// MergeSource reads what a merged row of b is made from: the merged row's current
	// generation (a token every commit touching b replaces; "" when none is pending), then
	// the rows of every shard of b, strongly consistent. current is true when b's merged
	// row is already the merge of the shard rows, or when PutMerged found the merge of
	// these very rows too large to write: there is nothing to write. gen is a token for
	// PutMerged, not to be read.
	MergeSource(ctx context.Context, b RollupBucket) (gen string, current bool, rows []RollupRow, err error)
	// PutMerged writes row (Shard MergedShard) as the merged row of its bucket if its
	// generation is still gen, and reports whether it did; a commit since MergeSource makes
	// it write nothing (that commit's run merges the bucket again), and so does a row too
	// large for the store to write at once (readers go on reading the shard rows; the
	// store records it, so MergeSource offers those rows again only once one differs).
	PutMerged(ctx context.Context, row RollupRow, gen string) (bool, error)

	// Claim takes the lease for owner until the given time, unless another owner holds
	// it past now. It reports whether the lease is owner's.
	Claim(ctx context.Context, l RollupLease, owner string, now, until time.Time) (bool, error)
	// Release gives up owner's lease; releasing a lease one does not hold does nothing.
	Release(ctx context.Context, l RollupLease, owner string) error
	// Commit writes c atomically. It returns ErrLeaseLost if c.Owner no longer holds the
	// lease, and how many marks it cleared: a mark that moved on stays (the rows are
	// written anyway, as new as the raw events they were read from). In the same write it
	// sets aside the merged row of every bucket of c.Rows (a new generation, no body), so
	// that no merged row outlives a change of the shard rows it was made from.
	Commit(ctx context.Context, c RollupCommit) (cleared int, err error)

	// MetricsState returns the metric totals and the rollup's watermark (every event
	// stored before it is rolled up; zero when none was recorded), strongly consistent, in
	// one read.
	MetricsState(ctx context.Context) (totals RollupTotals, rolledUpTo time.Time, err error)
	// AdvanceRolledUpTo records t as the watermark unless a later one is recorded.
	AdvanceRolledUpTo(ctx context.Context, t time.Time) error

	// PutSnapshot stores the summary computed at at (a JSON document).
	PutSnapshot(ctx context.Context, at time.Time, body []byte) error
	// Snapshot returns the newest summary computed at or before at, and when; found is
	// false when there is none from the day before at onwards.
	Snapshot(ctx context.Context, at time.Time) (taken time.Time, body []byte, found bool, err error)
}

// RollupFineBucket is the width of the finest rollup bucket, and so of a RollupUnit: an
// event's unit starts at its ts truncated to it (UTC). Fine buckets merge into hours and
// days; they must divide an hour evenly.
const RollupFineBucket = 5 * time.Minute

// The layouts of a summary table's rows, recorded by the first rollup commit that writes
// them and never changed after: what every bucket holding events has rows for.
const (
	// RollupLayoutMerged: a merged row per bucket, beside the shard rows.
	RollupLayoutMerged = 1
	// RollupLayoutSixHours: and rows of the 6-hour resolution ("6h"), which came after
	// the others: a table of layout 1 lacks them for the buckets rolled up before.
	RollupLayoutSixHours = 2
)

// UnitOf is the rollup unit of an event at ts in shard.
func UnitOf(ts time.Time, shard int) RollupUnit {
	return RollupUnit{Start: ts.UTC().Truncate(RollupFineBucket), Shard: shard}
}

// RollupRowPartBytes is the most of a row's body one item holds, well under DynamoDB's
// 400 KB item limit; a longer body is split over ⌈len/RollupRowPartBytes⌉ items.
const RollupRowPartBytes = 350_000

// RollupRowParts is how many items a body of n bytes is stored in.
func RollupRowParts(n int) int { return max(1, (n+RollupRowPartBytes-1)/RollupRowPartBytes) }

// RollupBucket names one bucket of the rollup rows: its resolution (as RollupRow's) and
// start.
type RollupBucket struct {
	Resolution string
	Start      time.Time
}

// MergedShard is the Shard of a merged row: the rows of every shard of a bucket merged into
// one, which readers take in place of the shard rows when no mark is in the bucket.
const MergedShard = -1

// MergedState is what a reader learns of a bucket from its merged row.
type MergedState int

const (
	// MergedUnknown: no current merged row; the bucket's shard rows must be read.
	MergedUnknown MergedState = iota
	// MergedCurrent: the merged row equals the merge of every shard's current row.
	MergedCurrent
	// MergedEmpty: the bucket holds no rows at all.
	MergedEmpty
)

// MergedRow is a bucket's merged row as a reader found it; Row is set when State is
// MergedCurrent.
type MergedRow struct {
	State MergedState
	Row   RollupRow
	// Layout is the table's (RollupLayoutMerged and after; 0 when it records none): a
	// bucket of a resolution its layout does not keep may lack rows it should have, and
	// readers cover it with the buckets of a resolution it keeps.
	Layout int
}

// MergedRowsReader is implemented by a RollupStore whose rollup keeps a merged row per
// bucket: readers then read one item per bucket instead of one per shard.
type MergedRowsReader interface {
	// MergedRows returns the merged row of each of buckets, in order, read in as few
	// round trips as the store allows, and how many items it read. A merged row found
	// current was the merge of the shard rows as they were when it was read; readers must
	// still not use it for a bucket holding a staleness mark they read before it.
	MergedRows(ctx context.Context, buckets []RollupBucket) ([]MergedRow, int, error)
}
