package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// overloaded is DynamoDB Local on a busy host: it serves one call at a time and each
// call takes at least latency, however many the store sends at once.
type overloaded struct {
	*dynamodb.Client
	latency time.Duration
	slot    chan struct{}

	mu    sync.Mutex
	calls map[string]int
	busy  map[string]time.Duration
}

func (o *overloaded) serve(ctx context.Context, op string, call func() error) error {
	select {
	case o.slot <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-o.slot }()
	start := time.Now()
	t := time.NewTimer(o.latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	err := call()
	o.mu.Lock()
	o.calls[op]++
	o.busy[op] += time.Since(start)
	o.mu.Unlock()
	return err
}

func (o *overloaded) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (out *dynamodb.BatchGetItemOutput, err error) {
	err = o.serve(ctx, "BatchGetItem", func() (err error) { out, err = o.Client.BatchGetItem(ctx, in, opts...); return err })
	return out, err
}

func (o *overloaded) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (out *dynamodb.BatchWriteItemOutput, err error) {
	op := "BatchWriteItem"
	for table := range in.RequestItems {
		if strings.HasSuffix(table, "summary") {
			op += " (marks)"
		}
	}
	err = o.serve(ctx, op, func() (err error) { out, err = o.Client.BatchWriteItem(ctx, in, opts...); return err })
	return out, err
}

func (o *overloaded) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (out *dynamodb.TransactWriteItemsOutput, err error) {
	err = o.serve(ctx, "TransactWriteItems", func() (err error) { out, err = o.Client.TransactWriteItems(ctx, in, opts...); return err })
	return out, err
}

func (o *overloaded) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (out *dynamodb.UpdateItemOutput, err error) {
	err = o.serve(ctx, "UpdateItem", func() (err error) { out, err = o.Client.UpdateItem(ctx, in, opts...); return err })
	return out, err
}

// TestBatchTooBigForOneDeadlineConvergesWhenResentWhole: on a store that serves one call
// at a time, each slowly, a batch whose probes alone outlast one request's deadline is
// stored by resending exactly the events each answer lists (not_stored and not_counted),
// whole: every resend stores a share of it and reports that share counted, and within a
// few resends every event is stored once and counted. Sending every chunk's probe at once
// used to take the whole deadline, so no resend stored anything.
func TestBatchTooBigForOneDeadlineConvergesWhenResentWhole(t *testing.T) {
	const (
		batch = 400
		// The request's time: with a call taking latency and more, a few chunks' probes,
		// writes and claims fit in it, and not the batch's 8 probes, 16 writes and 8
		// claims. A resend that stores nothing would go on for ever; this many resends
		// are the bound.
		deadline = 7500 * time.Millisecond
		latency  = 250 * time.Millisecond
		resends  = 25
	)
	tables := dynamotest.NewTables(t)
	o := &overloaded{Client: dynamotest.Client(t), latency: latency, slot: make(chan struct{}, 1),
		calls: map[string]int{}, busy: map[string]time.Duration{}}
	summary := store.NewSummary(o, store.SummaryOptions{Table: tables.Summary, EventsTable: tables.Events, EventShards: 4})
	s := store.NewEvents(o, store.EventsOptions{
		Table: tables.Events, EventShards: 4, RuntimeShards: 3, KindShards: 3,
		Retention: testRetention, WriteConcurrency: 8, CursorSecret: []byte("test"),
		Backoff: store.Backoff{Reserve: 100 * time.Millisecond},
		Now:     func() time.Time { return testNow }, Stale: summary,
	})
	// The emulator's first calls are its slowest (its JIT is cold); a store that has been
	// running a while is the one this is about.
	warm := store.NewEvents(o.Client, store.EventsOptions{Table: tables.Events, EventShards: 4, RuntimeShards: 3, KindShards: 3,
		Retention: testRetention, CursorSecret: []byte("test"), Now: func() time.Time { return testNow }})
	warmEvents := makeEvents(100, "warm")
	for i := range warmEvents {
		warmEvents[i].IDGiven = true
	}
	put(t, warm, warmEvents)

	evs := makeEvents(batch, "slow")
	for i := range evs {
		evs[i].IDGiven = true
		evs[i].TS = testNow.Add(-time.Duration(i) * time.Second)
	}
	todo := evs
	for round := 0; len(todo) > 0; round++ {
		if round > resends {
			t.Fatalf("%d events still listed after %d resends", len(todo), resends)
		}
		o.reset()
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		outs, err := s.PutEvents(ctx, todo)
		cancel()
		var next []telemetry.Event
		for i, out := range outs {
			if out == telemetry.NotStored || out == telemetry.Unmarked {
				next = append(next, todo[i])
			}
		}
		t.Logf("post %d of %d events: %d inserted, %d duplicates, %d not stored, %d not counted; calls %s",
			round, len(todo), countOutcomes(outs, telemetry.Inserted), countOutcomes(outs, telemetry.Duplicate),
			countOutcomes(outs, telemetry.NotStored), countOutcomes(outs, telemetry.Unmarked), o.report())
		if len(next) > 0 && err == nil {
			t.Fatalf("post %d: %d events listed to resend, and no error", round, len(next))
		}
		if len(next) == len(todo) {
			t.Fatalf("post %d of %d events stored none of them and counted none", round, len(todo))
		}
		todo = next
	}

	// Every event once, and its unit marked for the rollups.
	stored := map[string]int{}
	if err := s.EachEvent(t.Context(), telemetry.Filter{}, func(e telemetry.Event) error {
		stored[e.ID]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, e := range append(evs, warmEvents...) {
		if stored[e.ID] != 1 {
			t.Errorf("event %s stored %d times, want once", e.ID, stored[e.ID])
		}
	}
	if len(stored) != len(evs)+len(warmEvents) {
		t.Errorf("%d events stored, want %d", len(stored), len(evs)+len(warmEvents))
	}
	marks, err := summary.StaleMarks(t.Context(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	marked := map[telemetry.RollupUnit]bool{}
	for _, m := range marks {
		marked[m.RollupUnit] = true
	}
	k := store.NewKeys(store.EventsOptions{EventShards: 4, RuntimeShards: 3, KindShards: 3})
	for _, e := range evs {
		if u := k.Event(&e).Unit; !marked[u] {
			t.Errorf("event %s stored, its unit %v not marked stale", e.ID, u)
		}
	}
}

func (o *overloaded) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	clear(o.calls)
	clear(o.busy)
}

// report is the calls served since reset, by kind, with the time each kind held the store.
func (o *overloaded) report() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var parts []string
	for op, n := range o.calls {
		parts = append(parts, fmt.Sprintf("%s %d (%v)", op, n, o.busy[op].Round(time.Millisecond)))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
