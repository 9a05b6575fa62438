package store_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// These tests hold the edges of the store's promises: each one fails when the rule it
// names is dropped from the code.

// observed wraps a real client and records what the store asks of it: the items each
// counting query read, whether existence probes were consistent, and the deadline every
// call ran under. Query fails with queryErr when it is set.
type observed struct {
	store.DynamoAPI
	queryErr error

	mu           sync.Mutex
	countScanned int
	countPages   int
	probes       []bool
	deadlines    []time.Time
}

func (o *observed) noteDeadline(ctx context.Context) {
	d, _ := ctx.Deadline()
	o.mu.Lock()
	o.deadlines = append(o.deadlines, d)
	o.mu.Unlock()
}

func (o *observed) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if o.queryErr != nil {
		return nil, o.queryErr
	}
	out, err := o.DynamoAPI.Query(ctx, in, opts...)
	if err == nil && in.Select == types.SelectCount {
		o.mu.Lock()
		o.countScanned += int(out.ScannedCount)
		o.countPages++
		o.mu.Unlock()
	}
	return out, err
}

func (o *observed) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	o.noteDeadline(ctx)
	o.mu.Lock()
	for _, ka := range in.RequestItems {
		o.probes = append(o.probes, aws.ToBool(ka.ConsistentRead))
	}
	o.mu.Unlock()
	return o.DynamoAPI.BatchGetItem(ctx, in, opts...)
}

func (o *observed) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	o.noteDeadline(ctx)
	return o.DynamoAPI.BatchWriteItem(ctx, in, opts...)
}

func (o *observed) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	o.noteDeadline(ctx)
	return o.DynamoAPI.UpdateItem(ctx, in, opts...)
}

func observe(o *observed) func(store.DynamoAPI) store.DynamoAPI {
	return func(db store.DynamoAPI) store.DynamoAPI {
		o.DynamoAPI = db
		return o
	}
}

// TestCountingReadsAtMostTheCap: the items read to count a total never exceed CountLimit,
// however many partitions are read at once; the README promises a bounded cost.
func TestCountingReadsAtMostTheCap(t *testing.T) {
	const limit = 120
	o := &observed{}
	s := newEventsWith(t, func(opts *store.EventsOptions) {
		opts.CountLimit = limit
		opts.EventShards, opts.RuntimeShards, opts.KindShards = 12, 12, 12
	}, observe(o))
	put(t, s, makeEvents(900, "cap"))
	for _, tc := range []struct {
		name string
		f    telemetry.Filter
	}{
		{"day buckets", telemetry.Filter{}},
		{"runtime index", telemetry.Filter{Equals: map[string]string{"runtime": "lava-cip"}}},
		{"kind index with a residual filter", telemetry.Filter{Equals: map[string]string{"kind": telemetry.KindJobResult, "device_type": "dt-1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o.mu.Lock()
			o.countScanned, o.countPages = 0, 0
			o.mu.Unlock()
			page, err := s.QueryEvents(t.Context(), tc.f, telemetry.PageRequest{Limit: 5})
			if err != nil {
				t.Fatal(err)
			}
			o.mu.Lock()
			scanned, pages := o.countScanned, o.countPages
			o.mu.Unlock()
			if scanned > limit {
				t.Errorf("counting read %d items in %d pages; the cap is %d", scanned, pages, limit)
			}
			if scanned < limit {
				t.Errorf("counting read %d items, want the whole budget of %d: every filter here matches more", scanned, limit)
			}
			if page.TotalExact || page.Total > scanned || page.Total == 0 {
				t.Errorf("total %d exact %v after reading %d; want a non-zero lower bound, flagged inexact", page.Total, page.TotalExact, scanned)
			}
		})
	}
	// A query whose matches fit the budget is counted exactly.
	f := telemetry.Filter{Since: testNow.Add(-2 * time.Hour)}
	page, err := s.QueryEvents(t.Context(), f, telemetry.PageRequest{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(expected(makeEvents(900, "cap"), f)); !page.TotalExact || page.Total != want {
		t.Errorf("small query: total %d exact %v, want %d exact", page.Total, page.TotalExact, want)
	}
}

// TestCursorNeedsTheSecret: a cursor issued under one secret is refused under another, so
// cursors are signed with the configured secret and not with a key anyone can compute.
func TestCursorNeedsTheSecret(t *testing.T) {
	tables := dynamotest.NewTables(t)
	client := dynamotest.Client(t)
	on := func(secret string) *store.Events {
		return store.NewEvents(client, store.EventsOptions{Table: tables.Events, EventShards: 4, RuntimeShards: 3, KindShards: 3,
			Retention: testRetention, CursorSecret: []byte(secret), Now: func() time.Time { return testNow }})
	}
	issuer, other := on("one secret"), on("another secret")
	put(t, issuer, makeEvents(20, "sec"))
	page, err := issuer.QueryEvents(t.Context(), telemetry.Filter{}, telemetry.PageRequest{Limit: 3})
	if err != nil || page.Next == "" {
		t.Fatalf("first page: next %q, err %v", page.Next, err)
	}
	if _, err := issuer.QueryEvents(t.Context(), telemetry.Filter{}, telemetry.PageRequest{Limit: 3, Cursor: page.Next}); err != nil {
		t.Fatalf("the issuer refuses its own cursor: %v", err)
	}
	_, err = other.QueryEvents(t.Context(), telemetry.Filter{}, telemetry.PageRequest{Limit: 3, Cursor: page.Next})
	if telemetry.ErrorCode(err) != telemetry.CodeInvalid {
		t.Errorf("a cursor signed with another secret: got %v, want an invalid-request error", err)
	}
}

// TestCursorIsBoundToTheTimeRange: since and until are part of the query a cursor was
// issued for; changing either is a 400, not a page of another query.
func TestCursorIsBoundToTheTimeRange(t *testing.T) {
	s := newEvents(t, nil)
	put(t, s, makeEvents(40, "range"))
	since, until := testNow.Add(-20*time.Hour), testNow.Add(-time.Hour)
	f := telemetry.Filter{Since: since, Until: until}
	page, err := s.QueryEvents(t.Context(), f, telemetry.PageRequest{Limit: 3})
	if err != nil || page.Next == "" {
		t.Fatalf("first page: next %q, err %v", page.Next, err)
	}
	for name, changed := range map[string]telemetry.Filter{
		"since moved":   {Since: since.Add(-time.Hour), Until: until},
		"until moved":   {Since: since, Until: until.Add(-time.Minute)},
		"since dropped": {Until: until},
		"until dropped": {Since: since},
	} {
		_, err := s.QueryEvents(t.Context(), changed, telemetry.PageRequest{Limit: 3, Cursor: page.Next})
		if telemetry.ErrorCode(err) != telemetry.CodeInvalid {
			t.Errorf("%s: got %v, want an invalid-request error", name, err)
		}
	}
}

// TestEachEventSkipsExpiredEvents: stats and anomalies read through EachEvent, which must
// hide events past retention that TTL has not deleted yet, on every read path.
func TestEachEventSkipsExpiredEvents(t *testing.T) {
	s := newEvents(t, nil)
	fresh := makeEvents(9, "fresh")
	stale := makeEvents(9, "stale")
	for i := range stale {
		stale[i].ReceivedAt = testNow.Add(-testRetention - time.Minute)
	}
	put(t, s, append(fresh, stale...))
	for _, f := range []telemetry.Filter{
		{},
		{Equals: map[string]string{"runtime": "lava-collabora"}},
		{Equals: map[string]string{"kind": telemetry.KindJobResult}},
	} {
		var seen []string
		if err := s.EachEvent(t.Context(), f, func(e telemetry.Event) error {
			seen = append(seen, e.ID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(seen)
		want := slices.Sorted(slices.Values(expected(fresh, f)))
		if !slices.Equal(seen, want) {
			t.Errorf("%v: EachEvent visited %v, want only the unexpired %v", f.Equals, seen, want)
		}
	}
}

// TestThrottledReadsAreThrottledErrors: a throttled read reaches the caller as
// CodeThrottled with a pause, which the API answers as 429 with Retry-After.
func TestThrottledReadsAreThrottledErrors(t *testing.T) {
	o := &observed{queryErr: &types.ProvisionedThroughputExceededException{Message: aws.String("injected")}}
	s := newEvents(t, observe(o))
	reads := map[string]func() error{
		"query": func() error {
			_, err := s.QueryEvents(t.Context(), telemetry.Filter{Equals: map[string]string{"runtime": "x"}}, telemetry.PageRequest{Limit: 5})
			return err
		},
		"query over day buckets": func() error {
			_, err := s.QueryEvents(t.Context(), telemetry.Filter{}, telemetry.PageRequest{Limit: 5})
			return err
		},
		"each event": func() error {
			return s.EachEvent(t.Context(), telemetry.Filter{Equals: map[string]string{"kind": "x"}}, func(telemetry.Event) error { return nil })
		},
	}
	for name, read := range reads {
		err := read()
		if telemetry.ErrorCode(err) != telemetry.CodeThrottled {
			t.Errorf("%s: got %v, want a throttled error", name, err)
			continue
		}
		if te, ok := err.(*telemetry.Error); !ok || te.RetryAfter <= 0 {
			t.Errorf("%s: %v carries no pause for Retry-After", name, err)
		}
	}
}

// TestBatchWriteTriesEightTimes: with the default backoff, a batch whose items stay
// unprocessed is sent 8 times in all, then reported not stored.
func TestBatchWriteTriesEightTimes(t *testing.T) {
	var mu sync.Mutex
	sends := map[string]int{}
	faults := &dynamotest.Faults{Unprocess: func(sk string, attempt int) bool {
		mu.Lock()
		defer mu.Unlock()
		sends[sk] = max(sends[sk], attempt+1)
		return true
	}}
	s := newEventsWith(t, func(o *store.EventsOptions) {
		// Only the pauses are shortened; the number of tries is the default's.
		o.Backoff = store.Backoff{Base: time.Microsecond, Max: time.Microsecond}
	}, func(db store.DynamoAPI) store.DynamoAPI {
		faults.DynamoAPI = db
		return faults
	})
	evs := makeEvents(30, "tries")
	outcomes, err := s.PutEvents(t.Context(), evs)
	if err == nil || countOutcomes(outcomes, telemetry.NotStored) != len(evs) {
		t.Fatalf("outcomes %v, err %v; want every event not stored", outcomes, err)
	}
	if len(sends) != len(evs) {
		t.Fatalf("%d items sent, want %d", len(sends), len(evs))
	}
	for sk, n := range sends {
		if n != 8 {
			t.Errorf("item %s sent %d times, want 8", sk, n)
		}
	}
}

// TestExistenceProbeIsStronglyConsistent: the probe that tells a duplicate from a new
// event reads consistently, so a resend right after a timeout is recognised.
func TestExistenceProbeIsStronglyConsistent(t *testing.T) {
	o := &observed{}
	s := newEvents(t, observe(o))
	put(t, s, makeEvents(150, "probe"))
	if len(o.probes) < 2 {
		t.Fatalf("%d probes recorded for 150 events, want 2", len(o.probes))
	}
	for i, consistent := range o.probes {
		if !consistent {
			t.Errorf("probe %d is eventually consistent", i)
		}
	}
}

// TestWritesEndBeforeTheReserve: every call of PutEvents runs under a deadline that keeps
// Backoff.Reserve back from the request's, so the handler can still answer in time.
func TestWritesEndBeforeTheReserve(t *testing.T) {
	const reserve = 7 * time.Minute
	o := &observed{}
	s := newEventsWith(t, func(opts *store.EventsOptions) { opts.Backoff.Reserve = reserve }, observe(o))
	deadline := time.Now().Add(time.Hour)
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	if _, err := s.PutEvents(ctx, makeEvents(30, "reserve")); err != nil {
		t.Fatal(err)
	}
	if len(o.deadlines) < 3 {
		t.Fatalf("%d calls recorded, want the registry update, a probe and a write", len(o.deadlines))
	}
	for i, d := range o.deadlines {
		if !d.Equal(deadline.Add(-reserve)) {
			t.Errorf("call %d ran until %s, want %s (the request's deadline less the reserve)", i, d, deadline.Add(-reserve))
		}
	}
}

// TestRepeatOfAnUnstoredEventIsNotStored: an event given twice in one request shares the
// fate of its first occurrence; if that was not stored, neither is the repeat, and
// calling it a duplicate would tell the client not to resend it.
func TestRepeatOfAnUnstoredEventIsNotStored(t *testing.T) {
	faults := &dynamotest.Faults{Unprocess: func(sk string, _ int) bool { return strings.Contains(sk, "never") }}
	s := newEvents(t, func(db store.DynamoAPI) store.DynamoAPI {
		faults.DynamoAPI = db
		return faults
	})
	evs := makeEvents(4, "rep")
	evs[1].ID = "never-1"
	evs = append(evs, evs[1], evs[2])
	outcomes, err := s.PutEvents(t.Context(), evs)
	if err == nil {
		t.Fatal("no error though an event was not stored")
	}
	want := []telemetry.PutOutcome{telemetry.Inserted, telemetry.NotStored, telemetry.Inserted, telemetry.Inserted,
		telemetry.NotStored, telemetry.Duplicate}
	if !slices.Equal(outcomes, want) {
		t.Errorf("outcomes %v, want %v", outcomes, want)
	}
}

// TestCursorIsBoundToTheFlagFilters: is_infra_error and retry are part of the query a
// cursor was issued for, like the other filters.
func TestCursorIsBoundToTheFlagFilters(t *testing.T) {
	s := newEvents(t, nil)
	put(t, s, makeEvents(60, "flags"))
	yes, no, zero, one := true, false, 0, 1
	f := telemetry.Filter{IsInfraError: &no, Retry: &zero}
	page, err := s.QueryEvents(t.Context(), f, telemetry.PageRequest{Limit: 3})
	if err != nil || page.Next == "" {
		t.Fatalf("first page: next %q, err %v", page.Next, err)
	}
	for name, changed := range map[string]telemetry.Filter{
		"is_infra_error flipped": {IsInfraError: &yes, Retry: &zero},
		"retry changed":          {IsInfraError: &no, Retry: &one},
		"is_infra_error dropped": {Retry: &zero},
		"retry dropped":          {IsInfraError: &no},
	} {
		_, err := s.QueryEvents(t.Context(), changed, telemetry.PageRequest{Limit: 3, Cursor: page.Next})
		if telemetry.ErrorCode(err) != telemetry.CodeInvalid {
			t.Errorf("%s: got %v, want an invalid-request error", name, err)
		}
	}
}

// TestDefaultBackoffAnswersWellWithinTheGateway: the default retries pause at all, and
// even at their longest they leave the reserve and the answer inside API Gateway's 30 s.
func TestDefaultBackoffAnswersWellWithinTheGateway(t *testing.T) {
	b := store.DefaultBackoff
	if b.Base <= 0 || b.Max < b.Base || b.Reserve <= 0 {
		t.Fatalf("DefaultBackoff %+v: want a positive base, a max at least the base, and a reserve", b)
	}
	var worst time.Duration
	for n := range b.Attempts - 1 {
		worst += min(b.Base<<n, b.Max)
	}
	if limit := 30*time.Second - b.Reserve; worst >= limit/2 {
		t.Errorf("retries may pause %s in all; want well within the %s API Gateway leaves", worst, limit)
	}
	if b.Reserve < time.Second {
		t.Errorf("reserve %s leaves the handler too little time to answer", b.Reserve)
	}
}

// scanned wraps a real client and records, for each Query, the index it read and how
// many items it read against how many it returned.
type scanned struct {
	store.DynamoAPI
	mu      sync.Mutex
	indexes []string
	read    int
	matched int
}

func (s *scanned) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := s.DynamoAPI.Query(ctx, in, opts...)
	if err == nil {
		s.mu.Lock()
		s.indexes = append(s.indexes, aws.ToString(in.IndexName))
		s.read += int(out.ScannedCount)
		s.matched += int(out.Count)
		s.mu.Unlock()
	}
	return out, err
}

// TestInfraErrorsReadOnlyInfraErrors: the recent infrastructure errors, which KernelCI's
// analytics page asks for on every refresh, are read from the sparse by_infra_error
// index, so a page reads what it returns rather than every event of the days it spans.
func TestInfraErrorsReadOnlyInfraErrors(t *testing.T) {
	rec := &scanned{}
	s := newEvents(t, func(db store.DynamoAPI) store.DynamoAPI { rec.DynamoAPI = db; return rec })
	evs := makeEvents(600, "infra")
	infra := 0
	for i := range evs {
		evs[i].IsInfraError = i%20 == 0
		if evs[i].IsInfraError {
			infra++
		}
	}
	put(t, s, evs)
	rec.mu.Lock()
	rec.indexes, rec.read, rec.matched = nil, 0, 0
	rec.mu.Unlock()
	yes := true
	page, err := s.QueryEvents(t.Context(), telemetry.Filter{IsInfraError: &yes}, telemetry.PageRequest{Limit: 10, Desc: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 10 || page.Total != infra {
		t.Fatalf("%d items, total %d; want 10 of %d", len(page.Items), page.Total, infra)
	}
	for _, ix := range rec.indexes {
		if ix != store.IndexByInfraError {
			t.Errorf("a query read %q; want every one on %s", ix, store.IndexByInfraError)
		}
	}
	// Each query reads only infrastructure errors: nothing read is filtered away, and
	// the page and its total together read each of them at most twice.
	if rec.read != rec.matched || rec.read > 2*infra {
		t.Errorf("read %d items, %d matched, for %d infrastructure errors among %d events", rec.read, rec.matched, infra, len(evs))
	}
}

// landsThenFails passes batch writes through to DynamoDB, where they are stored, then
// answers as if the call had been cut off: a write that lands after the store stopped
// waiting for it, as at a request's deadline.
type landsThenFails struct{ store.DynamoAPI }

func (l landsThenFails) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if _, err := l.DynamoAPI.BatchWriteItem(ctx, in, opts...); err != nil {
		return nil, err
	}
	return nil, context.DeadlineExceeded
}

// TestLateWritesAreMarkedForTheRollups: events reported not stored may be stored all the
// same (a write in flight at the deadline lands); their rollup units are marked stale, so
// the rollup counts them if they did land, rather than never.
func TestLateWritesAreMarkedForTheRollups(t *testing.T) {
	tables := dynamotest.NewTables(t)
	client := dynamotest.Client(t)
	summary := store.NewSummary(client, store.SummaryOptions{Table: tables.Summary, EventsTable: tables.Events, EventShards: 4})
	s := store.NewEvents(landsThenFails{client}, store.EventsOptions{
		Table: tables.Events, EventShards: 4, RuntimeShards: 3, KindShards: 3,
		Retention: testRetention, WriteConcurrency: 4, CursorSecret: []byte("test"),
		Backoff: store.Backoff{Attempts: 2, Base: time.Millisecond, Max: 2 * time.Millisecond},
		Now:     func() time.Time { return testNow }, Stale: summary,
	})
	evs := makeEvents(30, "late")
	outcomes, err := s.PutEvents(t.Context(), evs)
	if err == nil {
		t.Fatal("PutEvents reported no error, want the cut-off writes' error")
	}
	want := map[telemetry.RollupUnit]bool{}
	for i, e := range evs {
		if outcomes[i] != telemetry.NotStored {
			t.Fatalf("event %d: %v, want not_stored (the client was told the writes failed)", i, outcomes[i])
		}
		want[store.NewKeys(store.EventsOptions{EventShards: 4, RuntimeShards: 3, KindShards: 3}).Event(&e).Unit] = true
	}
	marks, err := summary.StaleMarks(t.Context(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range marks {
		delete(want, m.RollupUnit)
	}
	if len(want) > 0 {
		t.Errorf("%d units of events written but reported not stored are not marked stale: %v", len(want), want)
	}
}

// TestDayRegistryIsWrittenWhileTheProbeReads: the day registry's update and the probe
// are one round trip, not two, and still no event is written before its day is listed
// (a query finds days through the registry). The registry's update here waits until a
// probe has been sent; written one after the other, the two would wait on each other
// until the test's bound.
func TestDayRegistryIsWrittenWhileTheProbeReads(t *testing.T) {
	o := &registryOrder{probed: make(chan struct{})}
	s := newEvents(t, func(db store.DynamoAPI) store.DynamoAPI { o.DynamoAPI = db; return o })
	// A bound on a regression that waits for the registry before probing, not a
	// synchronisation.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	outcomes, err := s.PutEvents(ctx, makeEvents(40, "overlap"))
	if err != nil {
		t.Fatalf("put: %v (a probe that waits for the registry never lets the registry finish)", err)
	}
	for i, out := range outcomes {
		if out != telemetry.Inserted {
			t.Fatalf("event %d: %v, want inserted", i, out)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.writesBeforeRegistry > 0 || !o.registered {
		t.Errorf("%d event writes before the day registry was written (registered: %v), want none", o.writesBeforeRegistry, o.registered)
	}
}

// registryOrder holds the day registry's update until a probe is sent, and counts event
// writes sent before the update has answered.
type registryOrder struct {
	store.DynamoAPI
	probed    chan struct{}
	probeOnce sync.Once

	mu                   sync.Mutex
	registered           bool
	writesBeforeRegistry int
}

func (o *registryOrder) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	o.probeOnce.Do(func() { close(o.probed) })
	return o.DynamoAPI.BatchGetItem(ctx, in, opts...)
}

func (o *registryOrder) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if pk, ok := in.Key[store.AttrPK].(*types.AttributeValueMemberS); ok && pk.Value == store.DayRegistryPK {
		select {
		case <-o.probed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		out, err := o.DynamoAPI.UpdateItem(ctx, in, opts...)
		o.mu.Lock()
		o.registered = o.registered || err == nil
		o.mu.Unlock()
		return out, err
	}
	return o.DynamoAPI.UpdateItem(ctx, in, opts...)
}

func (o *registryOrder) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	o.mu.Lock()
	if !o.registered {
		o.writesBeforeRegistry++
	}
	o.mu.Unlock()
	return o.DynamoAPI.BatchWriteItem(ctx, in, opts...)
}
