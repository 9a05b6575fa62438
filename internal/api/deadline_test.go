package api_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/store"
)

// TestReadCutOffBeforeTheDeadlineAnswers503: a read the store cannot finish is cut off
// api.AnswerReserve before the invocation's deadline, so the function answers its own 503
// with Retry-After while API Gateway still waits for it, instead of a late answer the
// client never sees behind the gateway's 504.
func TestReadCutOffBeforeTheDeadlineAnswers503(t *testing.T) {
	var seen deadlines
	a := newAPI(t, func(db store.DynamoAPI) store.DynamoAPI { return stalledQueries{db, &seen} })
	deadline := time.Now().Add(api.AnswerReserve + 50*time.Millisecond)
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	resp, err := a.query(ctx, request("GET", "limit=5", ""))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 503 || resp.Headers["Retry-After"] == "" {
		t.Errorf("want 503 with Retry-After, got %d %v: %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	want := deadline.Add(-api.AnswerReserve)
	if len(seen.all) == 0 {
		t.Fatal("the store was never asked")
	}
	for _, d := range seen.all {
		if !d.Equal(want) {
			t.Errorf("the store's calls had the deadline %s; want the invocation's less api.AnswerReserve, %s", d, want)
		}
	}
}

type deadlines struct {
	mu  sync.Mutex
	all []time.Time
}

// stalledQueries is a store whose reads never finish before the caller gives up; it
// records the deadline each read was given.
type stalledQueries struct {
	store.DynamoAPI
	seen *deadlines
}

func (s stalledQueries) Query(ctx context.Context, _ *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	d, _ := ctx.Deadline()
	s.seen.mu.Lock()
	s.seen.all = append(s.seen.all, d)
	s.seen.mu.Unlock()
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestReadStillWorkingAtItsDeadlineAnswers503: a read whose work goes on past its deadline,
// not looking at it (decoding what the store already returned), is answered 503 with
// Retry-After soon after the deadline, before the invocation's own, and its work is left
// to end on its own.
func TestReadStillWorkingAtItsDeadlineAnswers503(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	a := newAPI(t, func(db store.DynamoAPI) store.DynamoAPI { return deafQueries{db, release} })
	deadline := time.Now().Add(api.AnswerReserve + 50*time.Millisecond)
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	answered := make(chan events.APIGatewayV2HTTPResponse, 1)
	go func() {
		resp, err := a.query(ctx, request("GET", "limit=5", ""))
		if err != nil {
			t.Error(err)
		}
		answered <- resp
	}()
	// A bound for the test to fail on, not a timing measured: without the fix the
	// handler answers only when the deaf store is released, at the test's end.
	select {
	case resp := <-answered:
		if resp.StatusCode != 503 || resp.Headers["Retry-After"] == "" {
			t.Errorf("want 503 with Retry-After, got %d %v: %s", resp.StatusCode, resp.Headers, resp.Body)
		}
	case <-time.After(time.Until(deadline) + time.Minute):
		t.Fatal("no answer a minute past the invocation's deadline: the read was waited for")
	}
}

// deafQueries is a store whose reads take no notice of the caller giving up: they end
// only when released.
type deafQueries struct {
	store.DynamoAPI
	release <-chan struct{}
}

func (s deafQueries) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	<-s.release
	return nil, context.Canceled
}
