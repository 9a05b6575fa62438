package rollup_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// countedReads counts the reads a summary store makes of DynamoDB: calls, and the items
// each examined (a Query's ScannedCount, the items a BatchGetItem returned), as the
// bench's capacity proxy does.
type countedReads struct {
	store.SummaryAPI

	mu                        sync.Mutex
	queries, batchGets, items int
}

func (c *countedReads) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := c.SummaryAPI.Query(ctx, in, opts...)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queries++
	if err == nil {
		c.items += int(out.ScannedCount)
	}
	return out, err
}

func (c *countedReads) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out, err := c.SummaryAPI.BatchGetItem(ctx, in, opts...)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batchGets++
	if err == nil {
		for _, items := range out.Responses {
			c.items += len(items)
		}
	}
	return out, err
}

// mergeFails fails every write of a merged row (sort key all#...), as a rollup stopped
// between its commit and its merge leaves the bucket: shard rows rewritten, merged row
// set aside.
type mergeFails struct{ store.SummaryAPI }

var errMergeWrite = errors.New("injected: merged row write failed")

func (m mergeFails) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if sk, ok := in.Item[store.AttrSK].(*types.AttributeValueMemberS); ok && strings.HasPrefix(sk.Value, "all#") {
		return nil, errMergeWrite
	}
	return m.SummaryAPI.PutItem(ctx, in, opts...)
}

// trendsJSON is ReadTrends for every range, read through s.
func trendsJSON(t *testing.T, s telemetry.RollupStore, now time.Time) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, r := range rollup.TrendRanges {
		tr, err := rollup.ReadTrends(t.Context(), s, nil, r, nil, now)
		if err != nil {
			t.Fatalf("trends %s: %v", r.Name, err)
		}
		out[r.Name] = marshal(t, tr)
	}
	return out
}

func trendEvents(t *testing.T, s telemetry.RollupStore, r rollup.TrendRange, now time.Time) int64 {
	t.Helper()
	tr, err := rollup.ReadTrends(t.Context(), s, nil, r, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, s := range tr.Series {
		for _, v := range s.Events {
			n += v
		}
	}
	return n
}

// TestTrendsFromMergedRowsEqualShardRows: trends read from merged rows (falling back to
// shard rows bucket by bucket) answer byte for byte as trends read from every shard row,
// once rolled up, while new events wait under marks, and after a commit whose merge
// failed, which leaves its buckets without a current merged row.
func TestTrendsFromMergedRowsEqualShardRows(t *testing.T) {
	end := dataStart.Add(30 * time.Hour)
	e := newEnv(t, end)
	evs := generate(t, 7, 400, dataStart, end, end)
	e.put(t, evs[:300])
	e.runAll(t, e.summary, "")
	check := func(stage string) {
		t.Helper()
		merged, shards := trendsJSON(t, e.summary, end), trendsJSON(t, shardRowsOnly{e.summary}, end)
		for _, r := range rollup.TrendRanges {
			if string(merged[r.Name]) != string(shards[r.Name]) {
				t.Errorf("%s: trends %s differ:\nmerged rows %s\nshard rows  %s", stage, r.Name, merged[r.Name], shards[r.Name])
			}
			if !strings.Contains(string(merged[r.Name]), `"runtime"`) {
				t.Errorf("%s: trends %s have no series: %s", stage, r.Name, merged[r.Name])
			}
		}
	}
	check("rolled up")
	all := rollup.TrendRanges[len(rollup.TrendRanges)-1]
	if n := trendEvents(t, e.summary, all, end); n != 300 {
		t.Fatalf("rolled up: trends %s count %d events, want 300", all.Name, n)
	}

	// Events stored, not rolled up: their buckets are marked, their merged rows current.
	e.put(t, evs[300:350])
	check("events under marks")
	if n := trendEvents(t, e.summary, all, end); n != 300 {
		t.Errorf("events under marks: trends %s count %d events, want the 300 rolled up", all.Name, n)
	}

	// Late events in an hour of each day; the rollup commits them and fails to merge.
	late := evs[350:]
	for i := range late {
		late[i].TS = []time.Time{dataStart.Add(time.Hour), end.Add(-2 * time.Hour)}[i%2].Add(time.Duration(i) * time.Second)
	}
	e.put(t, late)
	if _, err := rollup.NewJob(e.newSummary(mergeFails{e.client}), rollup.JobOptions{Now: e.clock.Now}).Run(t.Context()); !errors.Is(err, errMergeWrite) {
		t.Fatalf("the rollup run with merges failing returned %v", err)
	}
	for _, at := range []time.Time{dataStart.Add(time.Hour), end.Add(-2 * time.Hour)} {
		for _, res := range []rollup.Resolution{rollup.Hour, rollup.Day} {
			pk := "R#" + res.Name + "#" + rollup.BucketOf(res, at).Start.Format("20060102T150405")
			if got := e.mergedRow(t, pk); got.State == telemetry.MergedCurrent {
				t.Fatalf("%s: merged row still current after a commit whose merge failed", pk)
			}
		}
	}
	check("merges failed")
	if n := trendEvents(t, e.summary, all, end); n != 400 {
		t.Errorf("merges failed: trends %s count %d events, want 400", all.Name, n)
	}
}

// TestTrendsReadMergedRowsInBatches: once rolled up, trends read one merged row per
// bucket in BatchGetItem calls of 100 keys (the buckets and the totals item) and Query
// nothing; read from shard rows they cost one Query per bucket. A bucket without a
// current merged row costs one Query.
func TestTrendsReadMergedRowsInBatches(t *testing.T) {
	end := dataStart.Add(30 * time.Hour)
	e := newEnv(t, end)
	evs := generate(t, 3, 300, dataStart, end, end)
	e.put(t, evs[:250])
	e.runAll(t, e.summary, "")
	count := func(r rollup.TrendRange, shardsOnly bool) *countedReads {
		t.Helper()
		c := &countedReads{SummaryAPI: e.client}
		var s telemetry.RollupStore = e.newSummary(c)
		if shardsOnly {
			s = shardRowsOnly{s}
		}
		if _, err := rollup.ReadTrends(t.Context(), s, nil, r, nil, end); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, r := range rollup.TrendRanges {
		buckets := r.Points * r.Per
		merged, shards := count(r, false), count(r, true)
		t.Logf("trends %s (%d buckets): merged rows %d items in %d BatchGetItem + %d Query calls; shard rows %d items in %d Query calls",
			r.Name, buckets, merged.items, merged.batchGets, merged.queries, shards.items, shards.queries)
		if want := (buckets + 1 + 99) / 100; merged.batchGets != want || merged.queries != 0 {
			t.Errorf("trends %s from merged rows: %d BatchGetItem and %d Query calls, want %d and 0", r.Name, merged.batchGets, merged.queries, want)
		}
		if shards.queries != buckets || shards.batchGets != 0 {
			t.Errorf("trends %s from shard rows: %d Query and %d BatchGetItem calls, want %d and 0", r.Name, shards.queries, shards.batchGets, buckets)
		}
		if merged.items == 0 || merged.items >= shards.items {
			t.Errorf("trends %s: %d items read from merged rows, %d from shard rows", r.Name, merged.items, shards.items)
		}
	}

	// One day (and one of its hours) committed and not merged: that bucket alone is queried.
	late := evs[250:]
	for i := range late {
		late[i].TS = end.Add(-2 * time.Hour).Add(time.Duration(i) * time.Second)
	}
	e.put(t, late)
	if _, err := rollup.NewJob(e.newSummary(mergeFails{e.client}), rollup.JobOptions{Now: e.clock.Now}).Run(t.Context()); !errors.Is(err, errMergeWrite) {
		t.Fatalf("the rollup run with merges failing returned %v", err)
	}
	for _, r := range rollup.TrendRanges {
		if c := count(r, false); c.queries != 1 {
			t.Errorf("trends %s with one bucket not merged: %d Query calls, want 1", r.Name, c.queries)
		}
	}
}
