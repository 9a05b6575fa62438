package store

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// pacer decides how many chunks of one PutEvents are in flight, and which go first, so
// that a slow store still finishes some chunks within the request's deadline instead of
// starting them all and finishing none.
//
// A store that serves calls no faster however many are sent (DynamoDB Local on a loaded
// host, a throttled partition) answers each of n calls in flight in about n times its
// own time. With WriteConcurrency chunks in flight, every chunk of a 10,000-event
// request got 1/16 of the store: the first 16 probes took the whole deadline, no write
// was sent, and a resend of the events did the same again. So the chunks in flight are
// limited by how much slower than the fastest call of its kind the store answers (a
// gradient limit: it falls to one while calls queue in the store, and grows by its
// square root while they do not), and a free place goes to the oldest chunk waiting:
// chunks end one after another rather than all at the deadline. On a store that keeps
// up, calls answer about as fast however many are in flight, and the limit reaches
// WriteConcurrency within a few answers.
type pacer struct {
	max int // the most chunks in flight: WriteConcurrency

	mu       sync.Mutex
	limit    float64
	inflight int
	waiting  []*waiter
	fastest  map[string]time.Duration // per call kind: the fastest answer of this request
	recent   map[string]time.Duration // per call kind: answers, smoothed
}

type waiter struct {
	rank  int
	ready chan struct{}
}

// startLimit is the chunks in flight a request starts with: few enough that a store
// already overloaded is not handed a wave of probes at once, grown to max within about
// six answers when the store keeps up.
const startLimit = 2

func newPacer(max int) *pacer {
	return &pacer{max: max, limit: float64(min(max, startLimit)),
		fastest: map[string]time.Duration{}, recent: map[string]time.Duration{}}
}

// acquire waits for a place for the chunk of the given rank (lower goes first) and
// returns ctx's error if it ends first. A chunk that got one calls done when it ends.
func (p *pacer) acquire(ctx context.Context, rank int) error {
	w := &waiter{rank: rank, ready: make(chan struct{})}
	p.mu.Lock()
	p.waiting = append(p.waiting, w)
	p.dispatch()
	p.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-w.ready: // granted as ctx ended: give the place back
		p.inflight--
		p.dispatch()
	default:
		for i, o := range p.waiting {
			if o == w {
				p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
				break
			}
		}
	}
	return ctx.Err()
}

// done gives back the place of a chunk.
func (p *pacer) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight--
	p.dispatch()
}

// observe adjusts the limit to a call of the given kind that answered in rtt.
func (p *pacer) observe(kind string, rtt time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.recent[kind]
	if !ok {
		// The first answer of a kind is its fastest yet, however slow the store: it
		// says nothing of a queue.
		p.fastest[kind], p.recent[kind] = rtt, rtt
		return
	}
	p.fastest[kind] = min(p.fastest[kind], rtt)
	// Smoothed, so that one slow answer of a store that keeps up is not read as a queue.
	r = (2*r + rtt) / 3
	p.recent[kind] = r
	gradient := min(1, max(0.5, float64(p.fastest[kind])/float64(max(r, 1))))
	room := 0.5 // while calls queue: the limit falls to one
	if gradient > 0.8 {
		room = math.Sqrt(p.limit)
	}
	p.limit = min(float64(p.max), max(1, p.limit*gradient+room))
	p.dispatch()
}

// dispatch gives free places to the lowest ranks waiting. p.mu is held.
func (p *pacer) dispatch() {
	for p.inflight < int(p.limit) && len(p.waiting) > 0 {
		best := 0
		for i, w := range p.waiting {
			if w.rank < p.waiting[best].rank {
				best = i
			}
		}
		w := p.waiting[best]
		p.waiting = append(p.waiting[:best], p.waiting[best+1:]...)
		p.inflight++
		close(w.ready)
	}
}

type pacingKey struct{}

// withPacing is ctx carrying p, whose limit the calls made under ctx adjust: they are
// made by helpers (probe, writeBatch, claimIDs, dropCopies) that other paths share.
func withPacing(ctx context.Context, p *pacer) context.Context {
	return context.WithValue(ctx, pacingKey{}, p)
}

// paced is the store's client: it times the calls made under a request's pacing.
type paced struct{ DynamoAPI }

func (c paced) do(ctx context.Context, kind string, call func() error) error {
	p, ok := ctx.Value(pacingKey{}).(*pacer)
	if !ok {
		return call()
	}
	start := time.Now()
	err := call()
	if err == nil { // a failed call says nothing of the store's pace
		p.observe(kind, time.Since(start))
	}
	return err
}

func (c paced) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (out *dynamodb.BatchGetItemOutput, err error) {
	err = c.do(ctx, "get", func() (err error) { out, err = c.DynamoAPI.BatchGetItem(ctx, in, opts...); return err })
	return out, err
}

func (c paced) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (out *dynamodb.BatchWriteItemOutput, err error) {
	err = c.do(ctx, "write", func() (err error) { out, err = c.DynamoAPI.BatchWriteItem(ctx, in, opts...); return err })
	return out, err
}

func (c paced) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (out *dynamodb.TransactWriteItemsOutput, err error) {
	err = c.do(ctx, "transact", func() (err error) { out, err = c.DynamoAPI.TransactWriteItems(ctx, in, opts...); return err })
	return out, err
}
