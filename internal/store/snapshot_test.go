package store_test

import (
	"bytes"
	"compress/gzip"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// bigSnapshot is a summary-like JSON document of about size bytes made of random hex,
// which gzip cannot shrink below about half: stored, it needs several items. seed makes
// bodies of the same size differ.
func bigSnapshot(t *testing.T, size int, seed uint64) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	b.WriteString(`{"open_anomalies":[`)
	raw := make([]byte, 360)
	for i := 0; b.Len() < size; i++ {
		for j := range raw {
			raw[j] = byte(r.Uint32())
		}
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"device_type":"%s"}`, hex.EncodeToString(raw))
	}
	b.WriteString("]}")
	if n := snapshotItems(b.Bytes()); n < 4 {
		t.Fatalf("a %d-byte snapshot is stored in %d items, too few to test several", b.Len(), n)
	}
	return b.Bytes()
}

// snapshotItems is the number of items PutSnapshot stores body in.
func snapshotItems(body []byte) int {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(body)
	_ = zw.Close()
	return (z.Len() + store.SnapshotPartBytes - 1) / store.SnapshotPartBytes
}

func newSnapshotStore(t *testing.T, wrap func(store.SummaryAPI) store.SummaryAPI) (*store.Summary, *dynamodb.Client, string) {
	t.Helper()
	tables := dynamotest.NewTables(t)
	client := dynamotest.Client(t)
	var db store.SummaryAPI = client
	if wrap != nil {
		db = wrap(client)
	}
	return store.NewSummary(db, store.SummaryOptions{Table: tables.Summary, EventsTable: tables.Events, EventShards: 2}), client, tables.Summary
}

// putOldSnapshot stores body as snapshots were stored before they were compressed: one
// item of plain JSON.
func putOldSnapshot(t *testing.T, db *dynamodb.Client, table string, at time.Time, body []byte) {
	t.Helper()
	_, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		store.AttrPK:        &types.AttributeValueMemberS{Value: store.SnapshotPK(at)},
		store.AttrSK:        &types.AttributeValueMemberS{Value: telemetry.FormatTime(at)},
		"body":              &types.AttributeValueMemberB{Value: body},
		store.AttrExpiresAt: &types.AttributeValueMemberN{Value: strconv.FormatInt(at.Add(time.Hour).Unix(), 10)},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func wantSnapshot(t *testing.T, s *store.Summary, step string, at, wantTaken time.Time, want []byte) {
	t.Helper()
	taken, body, found, err := s.Snapshot(t.Context(), at)
	switch {
	case err != nil || !found:
		t.Fatalf("%s: read at %s: found %t, %v; want the snapshot of %s", step, telemetry.FormatTime(at), found, err, telemetry.FormatTime(wantTaken))
	case !taken.Equal(wantTaken):
		t.Fatalf("%s: read at %s found the snapshot of %s, want %s", step, telemetry.FormatTime(at), telemetry.FormatTime(taken), telemetry.FormatTime(wantTaken))
	case !bytes.Equal(body, want):
		t.Fatalf("%s: read at %s: %d bytes, not the %d stored", step, telemetry.FormatTime(at), len(body), len(want))
	}
}

// TestSnapshotsOfSeveralMegabytesRoundTrip: a snapshot far over DynamoDB's 400 KB item
// limit is stored and read back byte for byte; one stored before compression (a single
// item of plain JSON) still reads; a reader at a time between two snapshots gets the
// older one whole; a snapshot stored again at the same time reads as the second body.
func TestSnapshotsOfSeveralMegabytesRoundTrip(t *testing.T) {
	s, db, table := newSnapshotStore(t, nil)
	t0 := time.Date(2026, 6, 8, 10, 0, 0, 0, time.UTC)
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	old := []byte(`{"open_anomalies":[{"kind":"result"}]}`)
	big1, big2, big3 := bigSnapshot(t, 4<<20, 1), bigSnapshot(t, 3<<20, 2), bigSnapshot(t, 3<<20, 3)

	putOldSnapshot(t, db, table, t0, old)
	wantSnapshot(t, s, "old format", t0, t0, old)
	if err := s.PutSnapshot(t.Context(), t1, big1); err != nil {
		t.Fatalf("put a %d-byte snapshot: %v", len(big1), err)
	}
	if err := s.PutSnapshot(t.Context(), t2, big2); err != nil {
		t.Fatalf("put a %d-byte snapshot: %v", len(big2), err)
	}
	for _, c := range []struct {
		step  string
		at    time.Time
		taken time.Time
		want  []byte
	}{
		{"old format, before the new ones", t0.Add(30 * time.Second), t0, old},
		{"several parts", t1, t1, big1},
		{"between two snapshots of several parts", t1.Add(30 * time.Second), t1, big1},
		{"the newest", t2.Add(time.Hour), t2, big2},
		{"the next day, from the day before", t2.Add(20 * time.Hour), t2, big2},
	} {
		wantSnapshot(t, s, c.step, c.at, c.taken, c.want)
	}
	if err := s.PutSnapshot(t.Context(), t2, big3); err != nil {
		t.Fatalf("put again at the same time: %v", err)
	}
	wantSnapshot(t, s, "stored again at the same time", t2, t2, big3)
}

// failingPuts lets through the first `allow` PutItem calls and fails every later one, as
// a function stopped (or a table throttled) half way through storing a snapshot would.
type failingPuts struct {
	store.SummaryAPI
	allow atomic.Int32
}

func (f *failingPuts) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if f.allow.Add(-1) < 0 {
		return nil, errors.New("injected: put cut short")
	}
	return f.SummaryAPI.PutItem(ctx, in, opts...)
}

// TestSnapshotPutCutShortIsNeverSeenHalfWritten: when storing a snapshot of several parts
// stops after some of its items, whichever, readers still get the previous snapshot whole
// (never a mix, never an error), and the put done again is read in full.
func TestSnapshotPutCutShortIsNeverSeenHalfWritten(t *testing.T) {
	t1 := time.Date(2026, 6, 8, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Minute)
	prev, next := bigSnapshot(t, 3<<20, 4), bigSnapshot(t, 4<<20, 5)
	const whole = 1000
	// None, one part, some parts, every part but not the head, everything.
	for _, allow := range []int32{0, 1, 3, int32(snapshotItems(next) - 1), whole} {
		var f *failingPuts
		s, _, _ := newSnapshotStore(t, func(db store.SummaryAPI) store.SummaryAPI {
			f = &failingPuts{SummaryAPI: db}
			f.allow.Store(whole)
			return f
		})
		if err := s.PutSnapshot(t.Context(), t1, prev); err != nil {
			t.Fatal(err)
		}
		f.allow.Store(allow)
		err := s.PutSnapshot(t.Context(), t2, next)
		if (err == nil) != (allow == whole) {
			t.Fatalf("a put allowed %d items: %v", allow, err)
		}
		step := fmt.Sprintf("put cut short after %d items", allow)
		if allow < whole {
			wantSnapshot(t, s, step, t2, t1, prev)
			f.allow.Store(whole)
			if err := s.PutSnapshot(t.Context(), t2, next); err != nil {
				t.Fatalf("%s, put again: %v", step, err)
			}
		}
		wantSnapshot(t, s, step+", then whole", t2, t2, next)
	}
}

// TestExpiredSnapshotWhosePartsAreGoneIsNotFound: TTL deletes a snapshot's items one by
// one, days late and in no order, so a head can outlive its parts. Past its retention
// such a snapshot is one no longer kept (not found, as a whole expired one is), not a
// fault; within it, missing parts are still an error.
func TestExpiredSnapshotWhosePartsAreGoneIsNotFound(t *testing.T) {
	taken := time.Date(2026, 6, 8, 10, 0, 0, 0, time.UTC)
	tables := dynamotest.NewTables(t)
	client := dynamotest.Client(t)
	at := func(now time.Time) *store.Summary {
		return store.NewSummary(client, store.SummaryOptions{Table: tables.Summary, EventsTable: tables.Events, EventShards: 2,
			Retention: time.Hour, Now: func() time.Time { return now }})
	}
	body := bigSnapshot(t, 2<<20, 6)
	if err := at(taken).PutSnapshot(t.Context(), taken, body); err != nil {
		t.Fatal(err)
	}
	// TTL deletes the parts first.
	out, err := client.Scan(t.Context(), &dynamodb.ScanInput{TableName: aws.String(tables.Summary)})
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for _, item := range out.Items {
		if pk := item[store.AttrPK].(*types.AttributeValueMemberS).Value; !strings.HasPrefix(pk, "S#") {
			key := map[string]types.AttributeValue{store.AttrPK: item[store.AttrPK], store.AttrSK: item[store.AttrSK]}
			if _, err := client.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: aws.String(tables.Summary), Key: key}); err != nil {
				t.Fatal(err)
			}
			deleted++
		}
	}
	if deleted == 0 {
		t.Fatal("the snapshot was stored in one item; the test needs parts")
	}
	if _, _, found, err := at(taken.Add(2*time.Hour)).Snapshot(t.Context(), taken); found || err != nil {
		t.Errorf("past its retention: found %v, %v; want not found and no error", found, err)
	}
	if _, _, _, err := at(taken.Add(time.Minute)).Snapshot(t.Context(), taken); err == nil {
		t.Error("within its retention, missing parts read without an error")
	}
}

// TestMergedRowTooLargeForATransactionIsLeftUnmerged: a bucket's merged row of several
// parts is written in one transaction, which DynamoDB bounds at 4 MB. The fresh-user
// trial's 1,000 events with distinct 1,024-character values made a merged row over it,
// and every rollup run failed on it ("Transaction payload size cannot exceed 4MB"). Such
// a row is not written, and no error stops the run: readers go on reading the bucket's
// shard rows. A row of several parts that fits is written.
func TestMergedRowTooLargeForATransactionIsLeftUnmerged(t *testing.T) {
	s, _, _ := newSnapshotStore(t, nil)
	start := time.Date(2026, 6, 8, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		bytes int
		want  bool
	}{
		{"several parts under 4 MB", 1 << 20, true},
		{"over 4 MB", 5 << 20, false},
	} {
		body := make([]byte, c.bytes)
		_, _ = crand.Read(body)
		row := telemetry.RollupRow{Resolution: "1h", Start: start, Shard: telemetry.MergedShard, Body: body}
		start = start.Add(time.Hour)
		ok, err := s.PutMerged(t.Context(), row, "")
		if err != nil || ok != c.want {
			t.Errorf("%s: written %v, %v; want written %v and no error", c.name, ok, err, c.want)
		}
	}
}
