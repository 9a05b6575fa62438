package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

var testNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

const testRetention = 14 * 24 * time.Hour

// newEvents is an events store on fresh tables, with few shards so each test's fan-out
// is small but still crosses several partitions.
func newEvents(t *testing.T, wrap func(store.DynamoAPI) store.DynamoAPI, optFns ...func(*dynamodb.Options)) *store.Events {
	t.Helper()
	return newEventsWith(t, nil, wrap, optFns...)
}

// newEventsWith is newEvents with options changed by adjust.
func newEventsWith(t *testing.T, adjust func(*store.EventsOptions), wrap func(store.DynamoAPI) store.DynamoAPI, optFns ...func(*dynamodb.Options)) *store.Events {
	t.Helper()
	tables := dynamotest.NewTables(t)
	var db store.DynamoAPI = dynamotest.Client(t, optFns...)
	if wrap != nil {
		db = wrap(db)
	}
	opts := store.EventsOptions{
		Table: tables.Events, EventShards: 4, RuntimeShards: 3, KindShards: 3,
		Retention: testRetention, WriteConcurrency: 4, CursorSecret: []byte("test"),
		Backoff: store.Backoff{Attempts: 10, Base: time.Millisecond, Max: 2 * time.Millisecond},
		Now:     func() time.Time { return testNow },
	}
	if adjust != nil {
		adjust(&opts)
	}
	return store.NewEvents(db, opts)
}

var (
	runtimes = []string{"lava-collabora", "lava-cip", "k8s-all"}
	kinds    = []string{telemetry.KindJobResult, telemetry.KindTestResult, telemetry.KindRuntimeError}
	results  = []string{telemetry.ResultPass, telemetry.ResultFail, telemetry.ResultIncomplete, ""}
)

// makeEvents builds n events spread over the days before testNow, varied enough that
// every query path and filter has something to find and something to leave out.
func makeEvents(n int, prefix string) []telemetry.Event {
	out := make([]telemetry.Event, n)
	for i := range out {
		d := 1.5 * float64(i%7)
		out[i] = telemetry.Event{
			ID:           fmt.Sprintf("%s-%05d", prefix, i),
			Kind:         kinds[i%len(kinds)],
			Runtime:      runtimes[(i/3)%len(runtimes)],
			TS:           testNow.Add(-time.Duration(i) * 37 * time.Minute).Truncate(time.Microsecond),
			DeviceType:   fmt.Sprintf("dt-%d", i%4),
			DeviceID:     fmt.Sprintf("dev-%d", i%9),
			TestName:     fmt.Sprintf("test-%d", i%11),
			Result:       results[i%len(results)],
			IsInfraError: i%5 == 0,
			Retry:        i % 2,
			Duration:     &d,
			Extra:        []byte(`{"n":` + fmt.Sprint(i) + `}`),
			ReceivedAt:   testNow,
		}
	}
	return out
}

func put(t *testing.T, s *store.Events, evs []telemetry.Event) []telemetry.PutOutcome {
	t.Helper()
	out, err := s.PutEvents(t.Context(), evs)
	if err != nil {
		t.Fatalf("PutEvents: %v", err)
	}
	return out
}

func countOutcomes(outs []telemetry.PutOutcome, want telemetry.PutOutcome) int {
	n := 0
	for _, o := range outs {
		if o == want {
			n++
		}
	}
	return n
}

// expected is the reference answer: the events matching f, newest first.
// expected is the ids of the events of evs matching f, newest first.
func expected(evs []telemetry.Event, f telemetry.Filter) []string {
	var ids []string
	sorted := slices.Clone(evs)
	slices.SortFunc(sorted, func(a, b telemetry.Event) int {
		if c := b.TS.Compare(a.TS); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	for i := range sorted {
		if f.Matches(&sorted[i]) {
			ids = append(ids, sorted[i].ID)
		}
	}
	return ids
}

// oldestFirst is expected's list in the default order.
func oldestFirst(ids []string) []string {
	out := slices.Clone(ids)
	slices.Reverse(out)
	return out
}

func ids(evs []telemetry.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].ID
	}
	return out
}

func TestPutThenQueryRoundTripsEveryField(t *testing.T) {
	s := newEvents(t, nil)
	evs := makeEvents(12, "rt")
	if got := countOutcomes(put(t, s, evs), telemetry.Inserted); got != len(evs) {
		t.Fatalf("inserted %d of %d", got, len(evs))
	}
	page, err := s.QueryEvents(t.Context(), telemetry.Filter{}, telemetry.PageRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != len(evs) || page.Total != len(evs) {
		t.Fatalf("got %d items, total %d; want %d", len(page.Items), page.Total, len(evs))
	}
	byID := map[string]telemetry.Event{}
	for _, e := range page.Items {
		byID[e.ID] = e
	}
	for _, want := range evs {
		got := byID[want.ID]
		gotJSON, _ := got.MarshalJSON()
		wantJSON, _ := want.MarshalJSON()
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("event %s:\n got %s\nwant %s", want.ID, gotJSON, wantJSON)
		}
	}
}

func TestRepostIsDuplicateNotSecondCopy(t *testing.T) {
	s := newEvents(t, nil)
	evs := makeEvents(60, "dup")
	put(t, s, evs)
	again := put(t, s, evs)
	if n := countOutcomes(again, telemetry.Duplicate); n != len(evs) {
		t.Fatalf("second put: %d duplicates, want %d", n, len(evs))
	}
	// The same event twice in one request is stored once too.
	twice := append(makeEvents(3, "twice"), makeEvents(3, "twice")...)
	outs := put(t, s, twice)
	if countOutcomes(outs, telemetry.Inserted) != 3 || countOutcomes(outs, telemetry.Duplicate) != 3 {
		t.Fatalf("outcomes %v, want 3 inserted then 3 duplicates", outs)
	}
	page, err := s.QueryEvents(t.Context(), telemetry.Filter{}, telemetry.PageRequest{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 63 || len(page.Items) != 63 {
		t.Fatalf("stored %d (total %d), want 63", len(page.Items), page.Total)
	}
}

func TestQueryMatchesReferenceOnEveryPath(t *testing.T) {
	s := newEvents(t, nil)
	evs := makeEvents(400, "q")
	// Empty values are stored too (KernelCI's monitor sends runtime ""), and found by a
	// filter on the empty string whether the field is an index key or an attribute left out.
	for i := range evs {
		if i%13 == 0 {
			evs[i].Runtime = ""
		}
		if i%17 == 0 {
			evs[i].Kind = ""
		}
		if i%6 == 0 {
			evs[i].DeviceType = ""
		}
	}
	put(t, s, evs)
	yes, no, one := true, false, 1
	cases := []struct {
		name string
		f    telemetry.Filter
	}{
		{"everything via day buckets", telemetry.Filter{}},
		{"runtime index", telemetry.Filter{Equals: map[string]string{"runtime": "lava-cip"}}},
		{"kind index", telemetry.Filter{Equals: map[string]string{"kind": telemetry.KindTestResult}}},
		{"runtime and kind", telemetry.Filter{Equals: map[string]string{"runtime": "k8s-all", "kind": telemetry.KindJobResult}}},
		{"non-indexed field", telemetry.Filter{Equals: map[string]string{"test_name": "test-3"}}},
		{"result and infra", telemetry.Filter{Equals: map[string]string{"result": "fail"}, IsInfraError: &yes}},
		{"infra alone", telemetry.Filter{IsInfraError: &yes}},
		{"infra on a runtime, since", telemetry.Filter{Equals: map[string]string{"runtime": "lava-cip"}, IsInfraError: &yes, Since: testNow.Add(-60 * time.Hour)}},
		{"not infra, retry 1", telemetry.Filter{IsInfraError: &no, Retry: &one}},
		{"since", telemetry.Filter{Since: testNow.Add(-50 * time.Hour)}},
		{"since and until on runtime", telemetry.Filter{Equals: map[string]string{"runtime": "lava-collabora"},
			Since: testNow.Add(-100 * time.Hour), Until: testNow.Add(-30 * time.Hour)}},
		{"until exactly at an event", telemetry.Filter{Until: evs[10].TS}},
		{"since exactly at an event", telemetry.Filter{Since: evs[20].TS, Equals: map[string]string{"kind": evs[20].Kind}}},
		{"empty range", telemetry.Filter{Since: testNow.Add(time.Hour), Until: testNow.Add(2 * time.Hour)}},
		{"no match", telemetry.Filter{Equals: map[string]string{"runtime": "nowhere"}}},
		{"empty runtime", telemetry.Filter{Equals: map[string]string{"runtime": ""}}},
		{"empty kind", telemetry.Filter{Equals: map[string]string{"kind": ""}}},
		{"empty runtime and device_type", telemetry.Filter{Equals: map[string]string{"runtime": "", "device_type": ""}}},
		{"empty device_type on a kind", telemetry.Filter{Equals: map[string]string{"kind": telemetry.KindTestResult, "device_type": ""}}},
		{"empty arch, never sent", telemetry.Filter{Equals: map[string]string{"arch": ""}, Since: testNow.Add(-80 * time.Hour)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := expected(evs, tc.f)
			page, err := s.QueryEvents(t.Context(), tc.f, telemetry.PageRequest{Limit: 1000, Desc: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(page.Items); !slices.Equal(got, want) {
				t.Fatalf("newest first: got %d ids, want %d\n got %v\nwant %v", len(got), len(want), head(got), head(want))
			}
			asc, err := s.QueryEvents(t.Context(), tc.f, telemetry.PageRequest{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := ids(asc.Items), oldestFirst(want); !slices.Equal(got, want) {
				t.Fatalf("oldest first: got %d ids, want %d\n got %v\nwant %v", len(got), len(want), head(got), head(want))
			}
			if page.Total != len(want) {
				t.Errorf("total %d, want %d", page.Total, len(want))
			}
			var each []string
			err = s.EachEvent(t.Context(), tc.f, func(e telemetry.Event) error {
				each = append(each, e.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(each)
			sortedWant := slices.Sorted(slices.Values(want))
			if !slices.Equal(each, sortedWant) {
				t.Errorf("EachEvent visited %d events, want %d", len(each), len(want))
			}
		})
	}
}

func head(s []string) []string { return s[:min(len(s), 8)] }

// TestPagingVisitsEachEventOnce follows kernelci-core's loop (limit 100, offset += 100
// until a short page) and the cursor loop over 1,000 matching events among others.
func TestPagingVisitsEachEventOnce(t *testing.T) {
	s := newEvents(t, nil)
	evs := makeEvents(1500, "page")
	for i := range evs {
		if i < 1000 {
			evs[i].JobName = "paged"
		}
	}
	put(t, s, evs)
	for _, f := range []telemetry.Filter{
		{Equals: map[string]string{"job_name": "paged"}},
		{Equals: map[string]string{"job_name": "paged", "runtime": "lava-cip"}},
		{Equals: map[string]string{"job_name": "paged", "kind": telemetry.KindJobResult}},
	} {
		for _, desc := range []bool{false, true} {
			want := expected(evs, f)
			if !desc {
				want = oldestFirst(want)
			}
			var byOffset []string
			for offset := 0; ; offset += 100 {
				page, err := s.QueryEvents(t.Context(), f, telemetry.PageRequest{Limit: 100, Offset: offset, Desc: desc})
				if err != nil {
					t.Fatal(err)
				}
				if page.Total != len(want) {
					t.Fatalf("offset %d: total %d, want %d", offset, page.Total, len(want))
				}
				byOffset = append(byOffset, ids(page.Items)...)
				if len(page.Items) < 100 {
					break
				}
			}
			if !slices.Equal(byOffset, want) {
				t.Fatalf("%v: offset paging returned %d ids, want %d in order", f.Equals, len(byOffset), len(want))
			}
			var byCursor []string
			req := telemetry.PageRequest{Limit: 100, Desc: desc}
			for pages := 0; ; pages++ {
				page, err := s.QueryEvents(t.Context(), f, req)
				if err != nil {
					t.Fatal(err)
				}
				if page.Total != len(want) {
					t.Fatalf("cursor page %d: total %d, want %d", pages, page.Total, len(want))
				}
				byCursor = append(byCursor, ids(page.Items)...)
				if page.Next == "" {
					break
				}
				if pages > len(want)/100+1 {
					t.Fatal("cursor paging does not end")
				}
				req.Cursor = page.Next
			}
			if !slices.Equal(byCursor, want) {
				t.Fatalf("%v: cursor paging returned %d ids, want %d in order", f.Equals, len(byCursor), len(want))
			}
		}
	}
}

func TestCursorRefusesTamperingAndOtherQueries(t *testing.T) {
	s := newEvents(t, nil)
	put(t, s, makeEvents(30, "cur"))
	f := telemetry.Filter{Equals: map[string]string{"kind": telemetry.KindJobResult}}
	page, err := s.QueryEvents(t.Context(), f, telemetry.PageRequest{Limit: 2})
	if err != nil || page.Next == "" {
		t.Fatalf("first page: next %q, err %v", page.Next, err)
	}
	body, tag, _ := strings.Cut(page.Next, ".")
	flipped := []byte(body)
	flipped[len(flipped)/2] ^= 1
	for name, c := range map[string]string{
		"changed body": string(flipped) + "." + tag,
		"no signature": body,
		"garbage":      "not-a-cursor",
		"empty tag":    body + ".",
	} {
		_, err := s.QueryEvents(t.Context(), f, telemetry.PageRequest{Limit: 2, Cursor: c})
		if telemetry.ErrorCode(err) != telemetry.CodeInvalid {
			t.Errorf("%s: got %v, want an invalid-request error", name, err)
		}
	}
	other := telemetry.Filter{Equals: map[string]string{"kind": telemetry.KindTestResult}}
	if _, err := s.QueryEvents(t.Context(), other, telemetry.PageRequest{Limit: 2, Cursor: page.Next}); telemetry.ErrorCode(err) != telemetry.CodeInvalid {
		t.Errorf("cursor of another filter: got %v, want an invalid-request error", err)
	}
	if _, err := s.QueryEvents(t.Context(), f, telemetry.PageRequest{Limit: 2, Cursor: page.Next, Desc: true}); telemetry.ErrorCode(err) != telemetry.CodeInvalid {
		t.Errorf("cursor of the other order: got %v, want an invalid-request error", err)
	}
}

func TestExpiredEventsAreNeverReturned(t *testing.T) {
	s := newEvents(t, nil)
	fresh := makeEvents(5, "fresh")
	stale := makeEvents(5, "stale")
	for i := range stale {
		stale[i].ReceivedAt = testNow.Add(-testRetention - time.Minute)
	}
	put(t, s, append(fresh, stale...))
	for _, f := range []telemetry.Filter{{}, {Equals: map[string]string{"runtime": "lava-collabora"}}} {
		page, err := s.QueryEvents(t.Context(), f, telemetry.PageRequest{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			if strings.HasPrefix(e.ID, "stale") {
				t.Errorf("expired event %s returned", e.ID)
			}
		}
		if want := len(expected(fresh, f)); page.Total != want {
			t.Errorf("total %d, want %d (expired counted?)", page.Total, want)
		}
	}
}

// TestBackfillIsFoundWithoutSince: a query without since covers every day that holds
// data, however old, because the day registry lists it.
func TestBackfillIsFoundWithoutSince(t *testing.T) {
	s := newEvents(t, nil)
	old := makeEvents(3, "backfill")
	for i := range old {
		old[i].TS = time.Date(2019, 3, i+1, 8, 0, 0, 0, time.UTC)
	}
	put(t, s, append(old, makeEvents(3, "recent")...))
	page, err := s.QueryEvents(t.Context(), telemetry.Filter{}, telemetry.PageRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 6 || len(page.Items) != 6 || page.Items[0].ID != "backfill-00000" {
		t.Fatalf("got %v (total %d), want 6 events starting with the oldest backfill", ids(page.Items), page.Total)
	}
}

func TestQueryPathIssuesNoScan(t *testing.T) {
	rec := &dynamotest.OperationRecorder{}
	s := newEvents(t, nil, rec.Option())
	put(t, s, makeEvents(50, "scan"))
	f := []telemetry.Filter{
		{}, {Equals: map[string]string{"runtime": "k8s-all"}}, {Equals: map[string]string{"kind": telemetry.KindJobResult}},
		{Equals: map[string]string{"test_name": "test-1"}}, {Since: testNow.Add(-24 * time.Hour)},
	}
	for _, filter := range f {
		if _, err := s.QueryEvents(t.Context(), filter, telemetry.PageRequest{Limit: 10}); err != nil {
			t.Fatal(err)
		}
		if err := s.EachEvent(t.Context(), filter, func(telemetry.Event) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if rec.Count("Query") == 0 {
		t.Fatal("recorder saw no Query: it is not recording")
	}
	for _, op := range rec.Ops() {
		if !slices.Contains([]string{"Query", "BatchGetItem", "BatchWriteItem", "UpdateItem"}, op) {
			t.Errorf("unexpected operation %s", op)
		}
	}
	if n := rec.Count("Scan"); n != 0 {
		t.Errorf("%d Scan operations", n)
	}
}

func TestEachEventStopsAtCallbackError(t *testing.T) {
	s := newEvents(t, nil)
	put(t, s, makeEvents(40, "stop"))
	stop := fmt.Errorf("enough")
	calls := 0
	err := s.EachEvent(context.Background(), telemetry.Filter{}, func(telemetry.Event) error {
		calls++
		return stop
	})
	if err != stop {
		t.Fatalf("got %v, want the callback's error", err)
	}
	if calls != 1 {
		t.Errorf("callback ran %d times after failing, want 1", calls)
	}
}

// TestRepostOfAnExpiredEventStoresItAgain: an expired copy that TTL has not deleted yet is
// hidden from every read, so a repost must store the event again, not call it a duplicate.
func TestRepostOfAnExpiredEventStoresItAgain(t *testing.T) {
	s := newEvents(t, nil)
	evs := makeEvents(4, "again")
	old := slices.Clone(evs)
	for i := range old {
		old[i].ReceivedAt = testNow.Add(-testRetention - time.Hour)
	}
	put(t, s, old)
	if outs := put(t, s, evs); countOutcomes(outs, telemetry.Inserted) != len(evs) {
		t.Fatalf("repost of expired events: %v, want all inserted", outs)
	}
	page, err := s.QueryEvents(t.Context(), telemetry.Filter{}, telemetry.PageRequest{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != len(evs) {
		t.Fatalf("total %d after reposting, want %d", page.Total, len(evs))
	}
}

// TestTotalIsBoundedAndSaysSo: counting stops after CountLimit items read; the total is
// then a lower bound, flagged as such, on the first page and on cursor pages alike.
func TestTotalIsBoundedAndSaysSo(t *testing.T) {
	s := newEventsWith(t, func(o *store.EventsOptions) { o.CountLimit = 50 }, nil)
	evs := makeEvents(400, "bound")
	put(t, s, evs)
	first, err := s.QueryEvents(t.Context(), telemetry.Filter{}, telemetry.PageRequest{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if first.TotalExact || first.Total < 50 || first.Total >= len(evs) {
		t.Fatalf("total %d exact %v; want a lower bound of at least 50, below %d", first.Total, first.TotalExact, len(evs))
	}
	next, err := s.QueryEvents(t.Context(), telemetry.Filter{}, telemetry.PageRequest{Limit: 10, Cursor: first.Next})
	if err != nil {
		t.Fatal(err)
	}
	if next.TotalExact || next.Total != first.Total {
		t.Errorf("cursor page: total %d exact %v, want the first page's %d, inexact", next.Total, next.TotalExact, first.Total)
	}
	small, err := s.QueryEvents(t.Context(), telemetry.Filter{Since: testNow.Add(-3 * time.Hour)}, telemetry.PageRequest{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !small.TotalExact {
		t.Errorf("a query reading fewer than CountLimit items should be exact (total %d)", small.Total)
	}
}
