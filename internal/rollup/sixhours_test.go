package rollup_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// The data of these tests: 22:00 on May 3 to 06:00 on May 5, rolled up, read at 06:00.
var (
	sixEnd = dataStart.Add(32 * time.Hour)
	// sixDay is a window of 24 whole hours not aligned to a day, as KernelCI's page asks
	// for: four 6-hour buckets where hours would take 24 rows.
	sixDay = telemetry.Filter{Since: sixEnd.Add(-24 * time.Hour), Until: sixEnd.Add(-time.Microsecond)}
	// sixLate is the 6-hour bucket a late event lands in: 12:00 to 18:00 on May 4.
	sixLate = sixEnd.Add(-18 * time.Hour)
)

// sixEdges are windows whose edges fall inside 6-hour buckets, on hour and 5-minute
// edges and between them.
var sixEdges = []telemetry.Filter{
	{Since: sixEnd.Add(-26*time.Hour - 42*time.Minute - 17*time.Second), Until: sixEnd.Add(-83*time.Minute - time.Microsecond)},
	{Since: sixEnd.Add(-21 * time.Hour), Until: sixEnd.Add(-7*time.Hour - time.Microsecond)},
	{Since: sixEnd.Add(-17*time.Hour - 5*time.Minute), Until: sixEnd.Add(-13*time.Hour + time.Microsecond)},
	{Since: sixEnd.Add(-30*time.Hour - time.Microsecond)},
	{Since: sixEnd.Add(-19*time.Hour + 3*time.Second), Equals: map[string]string{"kind": telemetry.KindTestResult}},
}

func sixEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, sixEnd)
	e.put(t, generate(t, 21, 500, dataStart, sixEnd, sixEnd))
	e.runAll(t, e.summary, "")
	return e
}

// sixStats reads sixDay's stats by runtime through a store that counts its reads, and
// wants them to equal the raw computation's. It returns the rows used, the summary
// table's items read and the raw events read.
func (e *env) sixStats(t *testing.T, stage string) (rows, items, events int) {
	t.Helper()
	c := &countedReads{SummaryAPI: e.client}
	r := e.reader
	r.Summary = e.newSummary(c)
	want := e.rawStats(t, sixDay, []string{"runtime"})
	acc, ans, ok, err := r.Stats(t.Context(), sixDay, []string{"runtime"})
	if err != nil || !ok {
		t.Fatalf("%s: ok %t, %v", stage, ok, err)
	}
	if got := marshal(t, acc.Rows()); !bytes.Equal(got, want) {
		t.Errorf("%s: stats differ:\nrollups %s\nraw     %s", stage, got, want)
	}
	return ans.Rows, c.items, ans.Events
}

// checkSixEdges wants stats from rollups to equal the raw computation for windows whose
// edges fall inside 6-hour buckets, and anomalies (windows of 1, 6, 24 and 48 hours
// ending at 06:00) to equal theirs.
func (e *env) checkSixEdges(t *testing.T, stage string) {
	t.Helper()
	for i, f := range sixEdges {
		groupBy := groupBys[i%len(groupBys)]
		want := e.rawStats(t, f, groupBy)
		acc, _, ok, err := e.reader.Stats(t.Context(), f, groupBy)
		if err != nil || !ok {
			t.Fatalf("%s: ok %t, %v", stage, ok, err)
		}
		if got := marshal(t, acc.Rows()); !bytes.Equal(got, want) {
			t.Errorf("%s: stats since %s until %s by %v differ:\nrollups %.400s\nraw     %.400s", stage,
				telemetry.FormatTime(f.Since), f.Until, groupBy, got, want)
		}
	}
	for _, p := range anomalyParams {
		want := e.rawAnomalies(t, p)
		acc, _, err := e.reader.Anomalies(t.Context(), p, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got := marshal(t, acc.Report()); !bytes.Equal(got, want) {
			t.Errorf("%s: anomalies %+v differ:\nrollups %.400s\nraw     %.400s", stage, p, got, want)
		}
	}
}

// TestReadersTakeSixHourRows: 24 whole hours not aligned to a day are read from four
// 6-hour merged rows (and the totals item), not from 24 hourly ones; windows whose edges
// fall inside 6-hour buckets answer as the raw events do.
func TestReadersTakeSixHourRows(t *testing.T) {
	e := sixEnv(t)
	rows, items, events := e.sixStats(t, "after a rollup")
	if rows != 4 || items != 5 || events != 0 {
		t.Errorf("24 whole hours from 06:00: %d rows, %d items, %d raw events read; want 4 rows (6-hour), 5 items, no raw events", rows, items, events)
	}
	e.checkSixEdges(t, "after a rollup")
}

// TestLateEventMakesSixHourBucketStale: an event landing in a rolled-up 6-hour bucket
// marks its unit; until the next run readers must not take the bucket's merged row, which
// lacks it, and after the run the 6-hour row counts it and is read again.
func TestLateEventMakesSixHourBucketStale(t *testing.T) {
	e := sixEnv(t)
	pk := "R#6h#" + sixLate.Format("20060102T150405")
	before := e.mergedRow(t, pk)
	if before.State != telemetry.MergedCurrent || before.Layout != telemetry.RollupLayoutSixHours {
		t.Fatalf("%s after the rollup: state %v, layout %d; want current, 2", pk, before.State, before.Layout)
	}

	late := generate(t, 22, 1, sixLate, sixLate.Add(time.Hour), sixEnd)
	late[0].ID, late[0].TS = "late-into-6h", sixLate.Add(3*time.Hour+7*time.Minute)
	e.put(t, late)
	if e.marks(t) != 1 {
		t.Fatalf("the late event left %d marks, want 1", e.marks(t))
	}
	rows, _, events := e.sixStats(t, "with the late event's unit stale")
	if events == 0 || rows <= 4 {
		t.Errorf("with a stale unit in a 6-hour bucket: %d rows and %d raw events read, want the unit read raw and the bucket's other rows", rows, events)
	}
	e.checkSixEdges(t, "with the late event's unit stale")

	e.runAll(t, e.summary, "")
	after := e.mergedRow(t, pk)
	if after.State != telemetry.MergedCurrent || bytes.Equal(after.Row.Body, before.Row.Body) {
		t.Fatalf("%s after the next run: state %v, body changed %t; want current and changed", pk, after.State, !bytes.Equal(after.Row.Body, before.Row.Body))
	}
	if rows, items, events := e.sixStats(t, "after the next run"); rows != 4 || items != 5 || events != 0 {
		t.Errorf("after the next run: %d rows, %d items, %d raw events read; want 4, 5, none", rows, items, events)
	}
	e.checkSixEdges(t, "after the next run")
}

// TestTableWithoutSixHourRows: a summary table whose totals were written by a rollup
// that kept no 6-hour rows (layout 1) holds none for its older buckets, and keeps saying
// so. Its readers cover 6-hour buckets with hours, marked or not, and still answer as
// the raw events do; 6-hour rows written since are not taken for the rest.
func TestTableWithoutSixHourRows(t *testing.T) {
	e := sixEnv(t)
	// As an older rollup left it: no 6-hour items, and the layout before them.
	pages := dynamodb.NewScanPaginator(e.client, &dynamodb.ScanInput{TableName: aws.String(e.tables.Summary), ConsistentRead: aws.Bool(true)})
	deleted := 0
	for pages.HasMorePages() {
		out, err := pages.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range out.Items {
			if !strings.HasPrefix(item[store.AttrPK].(*types.AttributeValueMemberS).Value, "R#6h#") {
				continue
			}
			key := map[string]types.AttributeValue{store.AttrPK: item[store.AttrPK], store.AttrSK: item[store.AttrSK]}
			if _, err := e.client.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: aws.String(e.tables.Summary), Key: key}); err != nil {
				t.Fatal(err)
			}
			deleted++
		}
	}
	if deleted == 0 {
		t.Fatal("the rollup wrote no 6-hour rows")
	}
	_, err := e.client.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{
		TableName:                 aws.String(e.tables.Summary),
		Key:                       map[string]types.AttributeValue{store.AttrPK: &types.AttributeValueMemberS{Value: "M#"}, store.AttrSK: &types.AttributeValueMemberS{Value: "totals"}},
		UpdateExpression:          aws.String("SET merged_rows = :one"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}, ":two": &types.AttributeValueMemberN{Value: "2"}},
		ConditionExpression:       aws.String("merged_rows = :two"),
	})
	if err != nil {
		t.Fatalf("set the layout back to 1 (want it 2 before): %v", err)
	}
	if rows, items, events := e.sixStats(t, "layout 1"); rows != 24 || items != 1+24+1 || events != 0 {
		t.Errorf("layout 1: %d rows, %d items, %d raw events read; want 24 hourly rows and the totals item twice (26 items: the four 6-hour keys find none), no raw events", rows, items, events)
	}
	e.checkSixEdges(t, "layout 1")

	// A late event: its 6-hour bucket is marked, and still covered by hours.
	late := generate(t, 23, 1, sixLate, sixLate.Add(time.Hour), sixEnd)
	late[0].ID, late[0].TS = "late-into-6h", sixLate.Add(4*time.Hour+59*time.Minute)
	e.put(t, late)
	e.sixStats(t, "layout 1, a unit stale")
	e.checkSixEdges(t, "layout 1, a unit stale")
	e.runAll(t, e.summary, "")
	if got := e.mergedRow(t, "R#6h#"+sixLate.Format("20060102T150405")); got.Layout != telemetry.RollupLayoutMerged {
		t.Errorf("layout 1, after the run wrote one 6-hour bucket: the layout read is %d, want 1", got.Layout)
	}
	if rows, _, _ := e.sixStats(t, "layout 1, after the next run"); rows != 24 {
		t.Errorf("layout 1, after the next run: %d rows, want 24", rows)
	}
	e.checkSixEdges(t, "layout 1, after the next run")
}

// TestSixHourBucketsNest: a day's children are its four 6-hour buckets, theirs six hours.
func TestSixHourBucketsNest(t *testing.T) {
	day := rollup.BucketOf(rollup.Day, sixLate)
	six := day.Children()
	if len(six) != 4 || six[0].Res != rollup.SixHours || !six[3].End().Equal(day.End()) {
		t.Fatalf("a day's children: %+v", six)
	}
	hours := six[2].Children()
	if len(hours) != 6 || hours[0].Res != rollup.Hour || !hours[0].Start.Equal(sixLate) {
		t.Fatalf("a 6-hour bucket's children: %+v", hours)
	}
	held := rollup.Holding(sixLate.Add(3*time.Hour + 7*time.Minute))
	if len(held) != 3 || held[1] != six[2] || held[2] != day {
		t.Fatalf("the buckets holding 15:07: %+v", held)
	}
}
