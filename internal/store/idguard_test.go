package store_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestConcurrentPostsOfOneIDStoreItOnce: an id the client gives is the idempotency key
// whatever the ts, also when two posts of it are in flight at once and both find it
// absent (a client resending, with a fresh ts, a request it gave up on). Both probes are
// held until each has answered "absent", the race the fresh-user trial met: exactly one
// event is stored, one post is told inserted and the other duplicate, and a later post
// at a third ts is a duplicate too.
func TestConcurrentPostsOfOneIDStoreItOnce(t *testing.T) {
	for _, c := range []struct {
		name         string
		events       int           // in each post, every one with its id
		shift        time.Duration // the second post's ts, after the first's
		wantInserted int           // of both posts' events
	}{
		{"another ts", 1, time.Second, 1},
		// The same event twice: both write the same key, and the guard names it, so both
		// may say inserted; it is stored once all the same.
		{"the same ts", 1, 0, 2},
		// A whole batch resent with fresh stamps: the loser deletes more copies than one
		// BatchWriteItem takes.
		{"a batch of 30 at another ts", 30, time.Second, 30},
	} {
		t.Run(c.name, func(t *testing.T) {
			meet := &probesMeet{met: make(chan struct{})}
			s := newEvents(t, func(db store.DynamoAPI) store.DynamoAPI { meet.DynamoAPI = db; return meet })
			first := makeEvents(c.events, "race")
			for i := range first {
				first[i].IDGiven = true
			}
			second := slices.Clone(first)
			for i := range second {
				second[i].TS = first[i].TS.Add(c.shift)
			}

			outs := make([][]telemetry.PutOutcome, 2)
			var wg sync.WaitGroup
			for i, evs := range [][]telemetry.Event{first, second} {
				wg.Go(func() {
					got, err := s.PutEvents(t.Context(), evs)
					if err != nil {
						t.Errorf("post %d: %v", i, err)
						return
					}
					outs[i] = got
				})
			}
			wg.Wait()
			all := append(slices.Clone(outs[0]), outs[1]...)
			if n := countOutcomes(all, telemetry.Inserted); n != c.wantInserted || countOutcomes(all, telemetry.Duplicate) != 2*c.events-c.wantInserted {
				t.Errorf("outcomes %v; want %d inserted and the rest duplicate", outs, c.wantInserted)
			}
			third := first[0]
			third.TS = first[0].TS.Add(time.Minute)
			if got := put(t, s, []telemetry.Event{third}); got[0] != telemetry.Duplicate {
				t.Errorf("a later post at another ts: %v, want duplicate", got[0])
			}
			page, err := s.QueryEvents(t.Context(), telemetry.Filter{}, telemetry.PageRequest{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			kept := map[string]time.Time{}
			for _, e := range page.Items {
				if _, twice := kept[e.ID]; twice {
					t.Errorf("%s stored twice", e.ID)
				}
				kept[e.ID] = e.TS
			}
			if page.Total != c.events || len(kept) != c.events {
				t.Fatalf("%d events stored (%d ids), want each of the %d ids once", page.Total, len(kept), c.events)
			}
			// The copy kept is the one a post was told is inserted.
			for i := range first {
				at := kept[first[i].ID]
				if outs[0][i] != telemetry.Inserted && at.Equal(first[i].TS) && c.shift != 0 ||
					outs[1][i] != telemetry.Inserted && at.Equal(second[i].TS) && c.shift != 0 {
					t.Errorf("%s: kept the copy at %s, whose post was told %v and %v", first[i].ID, at, outs[0][i], outs[1][i])
				}
			}
		})
	}
}

// probesMeet holds the first two existence probes until both have been asked, so that two
// concurrent posts both probe before either writes.
type probesMeet struct {
	store.DynamoAPI
	mu     sync.Mutex
	probes int
	met    chan struct{}
}

func (p *probesMeet) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	p.mu.Lock()
	p.probes++
	if p.probes == 2 {
		close(p.met)
	}
	p.mu.Unlock()
	select {
	case <-p.met:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return p.DynamoAPI.BatchGetItem(ctx, in, optFns...)
}

// TestIDClaimRetriesATransactionInConflict: a claim refused because another transaction
// was busy with the same guard is no answer yet: it is sent again, and the event, the
// only one with its id, is inserted and claims it (a resend at another ts is a duplicate).
func TestIDClaimRetriesATransactionInConflict(t *testing.T) {
	busy := &conflictOnce{}
	s := newEvents(t, func(db store.DynamoAPI) store.DynamoAPI { busy.DynamoAPI = db; return busy })
	evs := makeEvents(3, "busy")
	for i := range evs {
		evs[i].IDGiven = true
	}
	if got := put(t, s, evs); countOutcomes(got, telemetry.Inserted) != 3 {
		t.Fatalf("outcomes %v, want 3 inserted", got)
	}
	if busy.calls < 2 {
		t.Fatalf("%d claims sent; want the refused one sent again", busy.calls)
	}
	moved := evs[1]
	moved.TS = moved.TS.Add(time.Hour)
	if got := put(t, s, []telemetry.Event{moved}); got[0] != telemetry.Duplicate {
		t.Errorf("a resend at another ts: %v, want duplicate (the id was claimed)", got[0])
	}
}

// conflictOnce refuses the first transaction as DynamoDB does when another transaction is
// in flight on its items: cancelled, every item's reason TransactionConflict.
type conflictOnce struct {
	store.DynamoAPI
	mu    sync.Mutex
	calls int
}

func (c *conflictOnce) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.mu.Lock()
	c.calls++
	first := c.calls == 1
	c.mu.Unlock()
	if first {
		reasons := make([]types.CancellationReason, len(in.TransactItems))
		for i := range reasons {
			reasons[i] = types.CancellationReason{Code: aws.String("TransactionConflict")}
		}
		return nil, &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
	}
	return c.DynamoAPI.TransactWriteItems(ctx, in, optFns...)
}

// TestClaimWithoutAnAnswerIsSettledByTheResend: a claim that gets no answer in time (the
// store slow, the request's time run out) is not taken as won: its events are reported
// not stored, with the error, and the resend the client is asked for settles each id
// with one copy. The claims' transactions here get no answer until the first post is
// over, either after they applied (the answers lost) or before; in the last case another
// post of the same ids at another ts claims them first, as in the fresh-user trial's ten
// posts at once on a slow store (which left up to ten copies of an id).
func TestClaimWithoutAnAnswerIsSettledByTheResend(t *testing.T) {
	for _, c := range []struct {
		name       string
		applied    bool // the failed claim was applied before its answer was lost
		rival      bool // another post of the ids, at another ts, claims them in between
		wantResend telemetry.PutOutcome
	}{
		{"answer lost after the claim applied", true, false, telemetry.Duplicate},
		{"claim never applied, resent alone", false, false, telemetry.Inserted},
		{"claim never applied, a rival claimed the ids", false, true, telemetry.Duplicate},
	} {
		t.Run(c.name, func(t *testing.T) {
			lost := &claimAnswerLost{applied: c.applied, slow: true}
			s := newEvents(t, func(db store.DynamoAPI) store.DynamoAPI { lost.DynamoAPI = db; return lost })
			evs := makeEvents(30, "slow")
			for i := range evs {
				evs[i].IDGiven = true
			}
			got, err := s.PutEvents(t.Context(), evs)
			if err == nil || countOutcomes(got, telemetry.NotStored) != len(evs) {
				t.Fatalf("outcomes %v, error %v; want every event not stored, with the error", got, err)
			}
			lost.mu.Lock()
			lost.slow = false
			lost.mu.Unlock()
			if c.rival {
				rival := slices.Clone(evs)
				for i := range rival {
					rival[i].TS = rival[i].TS.Add(time.Second)
				}
				if got := put(t, s, rival); countOutcomes(got, telemetry.Inserted) != len(evs) {
					t.Fatalf("the rival post: %v, want every event inserted (no id was held)", got)
				}
			}
			again := put(t, s, evs)
			if countOutcomes(again, c.wantResend) != len(evs) {
				t.Errorf("the resend: %v, want every event %v", again, c.wantResend)
			}
			page, err := s.QueryEvents(t.Context(), telemetry.Filter{}, telemetry.PageRequest{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			copies := map[string]int{}
			for _, e := range page.Items {
				copies[e.ID]++
			}
			for _, e := range evs {
				if copies[e.ID] != 1 {
					t.Errorf("%s stored %d times, want once", e.ID, copies[e.ID])
				}
			}
			if page.Total != len(evs) {
				t.Errorf("total %d, want %d", page.Total, len(evs))
			}
		})
	}
}

// claimAnswerLost fails every claim's transaction while slow, as a request whose time
// runs out sees it: no answer, the context's error. With applied, each is applied first.
type claimAnswerLost struct {
	store.DynamoAPI
	applied bool
	mu      sync.Mutex
	slow    bool
}

func (c *claimAnswerLost) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.mu.Lock()
	fail := c.slow
	c.mu.Unlock()
	if !fail {
		return c.DynamoAPI.TransactWriteItems(ctx, in, optFns...)
	}
	if c.applied {
		if _, err := c.DynamoAPI.TransactWriteItems(ctx, in, optFns...); err != nil {
			return nil, err
		}
	}
	return nil, context.DeadlineExceeded
}
