package walk

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// rowFields are the dimensions a rollup row keeps per group, in the order package rollup
// encodes them (rollup.dimsFields).
var rowFields = []string{"runtime", "device_type", "device_id", "job_name", "tree", "branch", "arch", "kind", "error_type"}

// The versions of the row and aggregate encodings CountRow reads. A row in another one is
// an error, and the counter then leaves the count to raw events: a test in package rollup
// holds the two readers together. Version 3 rows add a pipeline part after each group's
// aggregate: a tag byte, followed by a length-prefixed aggregate when the tag is
// pipelineTagAggregate.
const (
	rowEncodingVersionV2     = 2
	rowEncodingVersion       = 3
	aggregateEncodingVersion = 1
	pipelineTagAggregate     = 1
)

// Counted results: an aggregate counts these results apart (analytics.Counts), in this
// order after the total; any other result is only in the total.
var countedResults = []string{telemetry.ResultPass, telemetry.ResultFail, telemetry.ResultIncomplete, telemetry.ResultSkip}

// Countable reports whether rollup rows can count the events matching f: equality on the
// dimensions rows keep, and on result (one of the results they count apart) or on
// is_infra_error, not both. Other fields (test_name, job_id, node_id, retry) are not in
// rows.
func Countable(f telemetry.Filter) bool {
	if f.Retry != nil {
		return false
	}
	for field, v := range f.Equals {
		switch {
		case field == "result":
			if f.IsInfraError != nil || resultIndex(v) < 0 {
				return false
			}
		case !isRowField(field):
			return false
		}
	}
	return true
}

func isRowField(field string) bool {
	for _, f := range rowFields {
		if f == field {
			return true
		}
	}
	return false
}

func resultIndex(result string) int {
	for i, r := range countedResults {
		if r == result {
			return i
		}
	}
	return -1
}

// CountRow is how many of the events a rollup row body counts match f (Countable), read
// without decoding the duration sketches: gzip of a version byte, then per group its nine
// dimensions, the newest and newest failed event (ts varint, id, error type, message) and
// the aggregate (version byte, then total, pass, fail, incomplete, skip, infra_error as
// uvarints, then the sketch), every string length-prefixed.
func CountRow(body []byte, f telemetry.Filter) (int64, error) {
	if len(body) == 0 {
		return 0, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("count rollup row: %w", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return 0, fmt.Errorf("count rollup row: %w", err)
	}
	if len(b) == 0 || b[0] != rowEncodingVersion && b[0] != rowEncodingVersionV2 {
		return 0, errors.New("count rollup row: unknown encoding version")
	}
	version := b[0]
	d := NewReader(b[1:])
	var total int64
	var dims [9]string
	for d.Len() > 0 && d.Err() == nil {
		for i := range dims {
			dims[i] = d.NextString()
		}
		for range 2 { // the newest event and the newest failed one
			d.NextVarint()
			d.NextString()
			d.NextString()
			d.NextString()
		}
		agg := NewReader([]byte(d.NextString()))
		if version == rowEncodingVersion && d.NextByte() == pipelineTagAggregate {
			d.NextString()
		}
		if d.Err() != nil {
			break
		}
		if agg.NextByte() != aggregateEncodingVersion {
			return 0, errors.New("count rollup row: unknown aggregate encoding version")
		}
		var counts [6]int64 // total, pass, fail, incomplete, skip, infra_error
		for i := range counts {
			counts[i] = int64(agg.NextUvarint())
		}
		if agg.Err() != nil {
			return 0, fmt.Errorf("count rollup row: %w", agg.Err())
		}
		if n, ok := matching(dims, counts, f); ok {
			total += n
		}
	}
	if d.Err() != nil {
		return 0, fmt.Errorf("count rollup row: %w", d.Err())
	}
	return total, nil
}

// matching is how many of a group's events match f, and whether its dimensions do.
func matching(dims [9]string, counts [6]int64, f telemetry.Filter) (int64, bool) {
	for i, field := range rowFields {
		if want, ok := f.Equals[field]; ok && dims[i] != want {
			return 0, false
		}
	}
	n := counts[0]
	if result, ok := f.Equals["result"]; ok {
		n = counts[1+resultIndex(result)]
	}
	if f.IsInfraError != nil {
		n = counts[5]
		if !*f.IsInfraError {
			n = counts[0] - counts[5]
		}
	}
	return n, true
}

// Counter counts the events matching a filter from the summary table: whole fresh buckets
// from rollup rows, raw events only for the partial buckets at the window's edges and for
// stale units (Walk's rule, the one stats uses), so the count equals the raw count exactly.
// It implements telemetry.TotalCounter.
type Counter struct {
	Summary telemetry.RollupStore
	Now     func() time.Time
	// MaxStaleUnits: see Walk; 0 means DefaultMaxStaleUnits.
	MaxStaleUnits int
}

var _ telemetry.TotalCounter = (*Counter)(nil)

var errUncountable = errors.New("a rollup row could not be counted")

// CountEvents implements telemetry.TotalCounter.
func (c *Counter) CountEvents(ctx context.Context, f telemetry.Filter, raw telemetry.RawCount) (telemetry.Total, bool, error) {
	if f.Since.IsZero() || !Countable(f) {
		return telemetry.Total{}, false, nil
	}
	var (
		mu  sync.Mutex
		out = telemetry.Total{Exact: true}
	)
	add := func(n, read int, exact bool) {
		mu.Lock()
		defer mu.Unlock()
		out.N += n
		out.ItemsRead += read
		out.Exact = out.Exact && exact
	}
	res, err := Walk(ctx, c.Summary, c.Now(), c.MaxStaleUnits, Window{Since: f.Since, Until: f.Until}, Visitor{
		Raw: func(ctx context.Context, since, until time.Time) error {
			g := f
			g.Since, g.Until = since, until
			t, err := raw(ctx, g)
			if err == nil {
				add(t.N, t.ItemsRead, t.Exact)
			}
			return err
		},
		Unit: func(ctx context.Context, u telemetry.RollupUnit, end time.Time) error {
			n, read := 0, 0
			err := c.Summary.EachUnitEvent(ctx, u, end, func(e telemetry.Event, _ int64) error {
				read++
				if f.Matches(&e) {
					n++
				}
				return nil
			})
			add(n, read, true)
			return err
		},
		Row: func(_ Bucket, row telemetry.RollupRow) error {
			n, err := CountRow(row.Body, f)
			if err != nil {
				return fmt.Errorf("%w: %w", errUncountable, err)
			}
			add(int(n), 0, true)
			return nil
		},
	})
	if errors.Is(err, errUncountable) {
		// A row this reader does not know how to count: the raw count stays right.
		return telemetry.Total{}, false, nil
	}
	if err != nil {
		return telemetry.Total{}, true, err
	}
	add(0, res.Items, true)
	return out, true, nil
}
