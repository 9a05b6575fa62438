package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// DynamoAPI is the part of the DynamoDB client the events store uses. It has no Scan: no
// request path may read a whole table. Tests wrap a real client to inject faults.
type DynamoAPI interface {
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// EventsOptions configures the events store.
type EventsOptions struct {
	Table            string
	EventShards      int
	RuntimeShards    int
	KindShards       int
	Retention        time.Duration
	WriteConcurrency int // batch writes in flight per PutEvents call
	ReadConcurrency  int // shard queries in flight per query; 0 means 32
	CursorSecret     []byte
	// CountLimit bounds the items a query reads to count its total; past it the total is
	// a lower bound. 0 means DefaultCountLimit.
	CountLimit int
	Backoff    Backoff          // zero means DefaultBackoff
	Now        func() time.Time // the clock expiry is judged by; nil means time.Now
	// Stale, when set, is told which rollup units each write touched (see StaleMarker).
	Stale StaleMarker
	// Totals, when set, counts a query's total from rollups where it can (a page of 50
	// then reads about what it returns, not up to CountLimit items); the items it reads
	// are in the page's ItemsRead. Nil: totals are counted from raw events.
	Totals telemetry.TotalCounter
}

// Backoff bounds the store's own retries of unprocessed items and throttled calls, on
// top of the SDK's retries of each call.
type Backoff struct {
	Attempts int           // calls per batch, first included
	Base     time.Duration // first pause; doubles each attempt, with full jitter
	Max      time.Duration // longest single pause
	// Reserve is time kept back from the request deadline, so that the handler can still
	// answer (and say which events were not stored) before Lambda cuts it off.
	Reserve time.Duration
}

// DefaultBackoff retries for a few seconds at most: enough to ride out a partition
// splitting under a burst, short enough that the client hears 503 well before API
// Gateway's 30 s limit and can resend.
var DefaultBackoff = Backoff{Attempts: 8, Base: 50 * time.Millisecond, Max: 2 * time.Second, Reserve: 2 * time.Second}

// DefaultCountLimit keeps counting a query's total to about 5,000 read units: an exact
// total up to there, a lower bound beyond, rather than a request that reads the table.
const DefaultCountLimit = 20_000

// Events is the DynamoDB events store.
type Events struct {
	db   DynamoAPI
	opts EventsOptions
	keys keys

	mu   sync.Mutex
	days map[string]int64 // day bucket → expires_at this process last made sure of
}

var _ telemetry.EventStore = (*Events)(nil)

// NewEvents returns the events store on db.
func NewEvents(db DynamoAPI, o EventsOptions) *Events {
	if o.WriteConcurrency <= 0 {
		o.WriteConcurrency = 16
	}
	if o.ReadConcurrency <= 0 {
		o.ReadConcurrency = 32
	}
	o.Backoff = o.Backoff.withDefaults()
	if o.CountLimit <= 0 {
		o.CountLimit = DefaultCountLimit
	}
	// A zero shard count would divide by zero; one shard is the unsharded layout.
	o.EventShards, o.RuntimeShards, o.KindShards = max(o.EventShards, 1), max(o.RuntimeShards, 1), max(o.KindShards, 1)
	return &Events{
		db:   paced{db},
		opts: o,
		keys: keys{eventShards: o.EventShards, runtimeShards: o.RuntimeShards, kindShards: o.KindShards},
		days: map[string]int64{},
	}
}

// withDefaults fills each unset field from DefaultBackoff.
func (b Backoff) withDefaults() Backoff {
	if b.Attempts <= 0 {
		b.Attempts = DefaultBackoff.Attempts
	}
	if b.Base <= 0 {
		b.Base = DefaultBackoff.Base
	}
	if b.Max <= 0 {
		b.Max = DefaultBackoff.Max
	}
	if b.Reserve <= 0 {
		b.Reserve = DefaultBackoff.Reserve
	}
	return b
}

// pause waits before retry attempt n (0-based) and reports false when there is no time
// left for another attempt: the pause would outlast ctx, whose deadline already keeps
// the reserve back.
func (b Backoff) pause(ctx context.Context, n int) bool {
	if n+1 >= b.Attempts {
		return false
	}
	limit := b.Base << n
	if limit > b.Max || limit <= 0 {
		limit = b.Max
	}
	d := rand.N(limit + 1)
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

var (
	retryables = retry.IsErrorRetryables(retry.DefaultRetryables)
	throttles  = retry.IsErrorThrottles(retry.DefaultThrottles)
)

func isThrottle(err error) bool { return throttles.IsErrorThrottle(err) == aws.TrueTernary }
func isRetryable(err error) bool {
	return isThrottle(err) || retryables.IsErrorRetryable(err) == aws.TrueTernary
}

// clientError turns a DynamoDB failure into what the caller can act on. Throttling and
// unavailability are the client's to retry; anything else is ours and stays internal. An
// error that already is one is returned as it is, so that a failure passed up through
// several calls reads once in the log, not once per call.
func clientError(err error) error {
	var already *telemetry.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &already):
		return err
	case isThrottle(err):
		return &telemetry.Error{Code: telemetry.CodeThrottled, RetryAfter: time.Second,
			Message: "The store is busy right now; retry after the pause in Retry-After.",
			Cause:   err}
	case isRetryable(err), errors.Is(err, context.DeadlineExceeded):
		return &telemetry.Error{Code: telemetry.CodeUnavailable, RetryAfter: 2 * time.Second,
			Message: "The store did not answer in time; retry after the pause in Retry-After.",
			Cause:   err}
	}
	return err
}
