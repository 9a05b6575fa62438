package rollup_test

import (
	"bytes"
	"context"
	"math/rand/v2"
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

// beforeMergedWrite runs fn once, just before the first write of a merged row (sort key
// all#...) goes to DynamoDB: after the merge read the row's generation and the shard rows.
type beforeMergedWrite struct {
	store.SummaryAPI
	fn func(*dynamodb.PutItemInput)

	once sync.Once
}

func (b *beforeMergedWrite) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if sk, ok := in.Item[store.AttrSK].(*types.AttributeValueMemberS); ok && strings.HasPrefix(sk.Value, "all#") {
		b.once.Do(func() { b.fn(in) })
	}
	return b.SummaryAPI.PutItem(ctx, in, opts...)
}

// mergedRow reads the merged row of the bucket of partition key pk ("R#<res>#<start>").
func (e *env) mergedRow(t *testing.T, pk string) telemetry.MergedRow {
	t.Helper()
	res, start, _ := strings.Cut(strings.TrimPrefix(pk, "R#"), "#")
	at, err := time.Parse("20060102T150405", start)
	if err != nil {
		t.Fatal(err)
	}
	rows, _, err := e.summary.MergedRows(t.Context(), []telemetry.RollupBucket{{Resolution: res, Start: at}})
	if err != nil {
		t.Fatal(err)
	}
	return rows[0]
}

// TestMergedRowNeverTrustedWhileStale: a rollup merges a bucket's shard rows into one
// row; between its reading them and its write, events land in the bucket and another
// run commits and merges them (injected at the client). The first merge's write, made
// from rows that are no longer current, must not land; readers never take a merged row
// older than its shard rows, so stats and anomalies equal the raw computation throughout.
func TestMergedRowNeverTrustedWhileStale(t *testing.T) {
	end := dataStart.Add(4 * time.Hour)
	e := newEnv(t, end)
	rng := rand.New(rand.NewPCG(5, 9))
	evs := generate(t, 5, 200, dataStart, end, end)
	e.put(t, evs[:150])
	e.runAll(t, e.summary, "")
	if rows := e.checkEqual(t, "after a rollup", rng); rows == 0 {
		t.Fatal("no answer used a rollup row")
	}
	day := e.mergedRow(t, "R#1d#"+dataStart.Truncate(24*time.Hour).Format("20060102T150405"))
	if day.State != telemetry.MergedCurrent || day.Row.Shard != telemetry.MergedShard {
		t.Fatalf("after a rollup the day's merged row is %+v, want current", day.State)
	}

	// Backfills into rolled-up buckets: their units are stale again.
	e.put(t, variants(evs[:150], rng, 20, "backfill", 0, false, end))
	var (
		fired   bool
		pk      string
		attempt []byte
		between []byte
	)
	hook := &beforeMergedWrite{SummaryAPI: e.client, fn: func(in *dynamodb.PutItemInput) {
		fired = true
		pk = in.Item[store.AttrPK].(*types.AttributeValueMemberS).Value
		attempt = in.Item["body"].(*types.AttributeValueMemberB).Value
		res, start, _ := strings.Cut(strings.TrimPrefix(pk, "R#"), "#")
		at, err := time.Parse("20060102T150405", start)
		if err != nil {
			t.Fatal(err)
		}
		// New events in this very bucket, under a mark: the merged row is not trusted.
		late := variants(evs[:150], rng, 4, "late-"+res, 0, false, end)
		for i := range late {
			late[i].TS = at.Add(time.Duration(i+1) * time.Minute)
		}
		e.put(t, late)
		e.checkEqual(t, "events landed during a merge", rng)
		// Another run rolls them up and merges the bucket anew.
		e.runAll(t, e.summary, "other")
		now := e.mergedRow(t, pk)
		if now.State != telemetry.MergedCurrent {
			t.Fatalf("the other run left %s not merged", pk)
		}
		between = now.Row.Body
		if bytes.Equal(between, attempt) {
			t.Fatalf("the late events did not change the merged row of %s", pk)
		}
	}}
	r, err := rollup.NewJob(e.newSummary(hook), rollup.JobOptions{Now: e.clock.Now, Workers: 1}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !fired || r.Units == 0 {
		t.Fatalf("the merge was not interleaved (units %d)", r.Units)
	}
	got := e.mergedRow(t, pk)
	switch {
	case got.State != telemetry.MergedCurrent:
		t.Errorf("%s: merged row %v after both runs, want current", pk, got.State)
	case bytes.Equal(got.Row.Body, attempt):
		t.Errorf("%s: the merge made from rows older than the other run's commit was written", pk)
	case !bytes.Equal(got.Row.Body, between):
		t.Errorf("%s: the merged row changed after the other run", pk)
	}
	if n := e.marks(t); n != 0 {
		t.Fatalf("%d marks left", n)
	}
	if rows := e.checkEqual(t, "after the interleaved merge", rng); rows == 0 {
		t.Fatal("no answer used a rollup row")
	}
}

// TestReadersTakeMergedRows: once rolled up, a window of whole buckets is read from one
// merged row per bucket rather than one row per shard, and answers as the raw events do.
func TestReadersTakeMergedRows(t *testing.T) {
	end := dataStart.Add(26 * time.Hour)
	e := newEnv(t, end)
	e.put(t, generate(t, 11, 400, dataStart, end, end))
	e.runAll(t, e.summary, "")
	// 24 whole hours: 23:00, then the next day's hours up to 22:00.
	f := telemetry.Filter{Since: dataStart.Add(time.Hour), Until: dataStart.Add(25*time.Hour - time.Microsecond)}
	want := e.rawStats(t, f, []string{"runtime"})
	rows := map[string]int{}
	for _, c := range []struct {
		name    string
		summary telemetry.RollupStore
	}{{"merged", e.summary}, {"shards", shardRowsOnly{e.summary}}} {
		r := e.reader
		r.Summary = c.summary
		acc, ans, ok, err := r.Stats(t.Context(), f, []string{"runtime"})
		if err != nil || !ok {
			t.Fatalf("%s: ok %t, %v", c.name, ok, err)
		}
		if got := marshal(t, acc.Rows()); !bytes.Equal(got, want) {
			t.Errorf("%s rows: stats differ:\nrollups %s\nraw     %s", c.name, got, want)
		}
		if ans.Events != 0 {
			t.Errorf("%s rows: %d raw events read for a window of whole rolled-up buckets", c.name, ans.Events)
		}
		rows[c.name] = ans.Rows
	}
	if rows["merged"] == 0 || rows["merged"] > 24 || rows["shards"] <= rows["merged"] {
		t.Errorf("rows read: %d merged (want 1..24, one per hour), %d by shard", rows["merged"], rows["shards"])
	}
}

// shardRowsOnly hides the store's merged rows, as a store without them would.
type shardRowsOnly struct{ telemetry.RollupStore }

// beforeCommit runs fn once, just before the first rollup commit (a TransactWriteItems)
// goes to DynamoDB: after the run read the marks and recomputed their units.
type beforeCommit struct {
	store.SummaryAPI
	fn   func(*dynamodb.TransactWriteItemsInput)
	once sync.Once
}

func (b *beforeCommit) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	b.once.Do(func() { b.fn(in) })
	return b.SummaryAPI.TransactWriteItems(ctx, in, opts...)
}

// TestEventLandingDuringARecomputeKeepsItsMark: events land in units a rollup has read
// and recomputed but not yet committed (injected at the client, before the commit). The
// commit must leave those units' marks, which ingest wrote anew after the rollup read
// them, so that the next run rolls the late events up; stats equal raw once it has.
func TestEventLandingDuringARecomputeKeepsItsMark(t *testing.T) {
	end := dataStart.Add(2 * time.Hour)
	e := newEnv(t, end)
	rng := rand.New(rand.NewPCG(7, 3))
	evs := generate(t, 9, 120, dataStart, end, end)
	e.put(t, evs)
	var cleared []string // the marks the first commit deletes, as pk/sk
	hook := &beforeCommit{SummaryAPI: e.client, fn: func(in *dynamodb.TransactWriteItemsInput) {
		var late []telemetry.Event
		for _, w := range in.TransactItems {
			if w.Delete == nil {
				continue
			}
			pk := w.Delete.Key[store.AttrPK].(*types.AttributeValueMemberS).Value
			sk := w.Delete.Key[store.AttrSK].(*types.AttributeValueMemberS).Value
			if !strings.HasPrefix(pk, store.MarkPrefix) {
				continue
			}
			cleared = append(cleared, pk+"/"+sk)
			start, err := time.Parse("20060102T150405", sk)
			if err != nil {
				t.Fatalf("mark sort key %q: %v", sk, err)
			}
			// Enough events in the unit's bucket that every shard gets some.
			more := variants(evs, rng, 30, "late-"+sk, 0, false, end)
			for i := range more {
				more[i].TS = start.Add(time.Duration(i+1) * 10 * time.Second)
			}
			late = append(late, more...)
		}
		e.put(t, late)
	}}
	r, err := rollup.NewJob(e.newSummary(hook), rollup.JobOptions{Now: e.clock.Now, Workers: 1}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(cleared) == 0 || r.Units == 0 {
		t.Fatalf("no commit cleared a mark (units %d)", r.Units)
	}
	marks, err := e.summary.StaleMarks(t.Context(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]bool{}
	for _, m := range marks {
		left[store.MarkPK(m.RollupUnit)+"/"+m.Start.UTC().Format("20060102T150405")] = true
	}
	for _, k := range cleared {
		if !left[k] {
			t.Errorf("mark %s was cleared by a commit that did not see the events written into its unit after the rollup read it", k)
		}
	}
	e.runAll(t, e.summary, "")
	if rows := e.checkEqual(t, "after the late events are rolled up", rng); rows == 0 {
		t.Fatal("no answer used a rollup row")
	}
}

// TestAnomaliesCountTheWindowsEdges: with now inside a bucket, each anomaly window starts
// and ends in partial buckets, read raw beside the rows. Every kind's events there count,
// as they do from raw events alone.
func TestAnomaliesCountTheWindowsEdges(t *testing.T) {
	end := dataStart.Add(30*time.Hour + 150*time.Second) // 2.5 minutes into a bucket
	e := newEnv(t, end)
	e.put(t, generate(t, 13, 1200, dataStart, end, end))
	// Dense at each edge: each window's first minutes, and the bucket holding now, whose
	// events came after the last rollup run, as under live traffic.
	for i, p := range anomalyParams {
		if start := end.Add(-p.Window); start.After(dataStart) {
			e.put(t, generate(t, int64(20+i), 150, start, start.Add(3*time.Minute), end))
		}
	}
	e.runAll(t, e.summary, "")
	e.put(t, generate(t, 14, 150, end.Add(-150*time.Second), end, end))
	for _, p := range anomalyParams {
		want := e.rawAnomalies(t, p)
		acc, ans, err := e.reader.Anomalies(t.Context(), p, end)
		if err != nil {
			t.Fatal(err)
		}
		if ans.Events == 0 || ans.Rows == 0 {
			t.Fatalf("window %s: %d events read raw and %d rows, want both: the edges and the buckets between", p.Window, ans.Events, ans.Rows)
		}
		if got := marshal(t, acc.Report()); !bytes.Equal(got, want) {
			t.Errorf("window %s: anomalies differ:\nrollups %.600s\nraw     %.600s", p.Window, got, want)
		}
	}
}
