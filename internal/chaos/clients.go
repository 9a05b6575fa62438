package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pipetel/pipetel/internal/emitter"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// recorder keeps what the clients were told, as the ground truth the store is checked
// against.
type recorder struct {
	mu              sync.Mutex
	acked           map[string]bool
	ackedEvents     int
	waiters         []waiter
	statuses        map[int]int
	requests        int
	resends         int
	badErrors       int
	resendsInserted int
	unacked         int
}

type waiter struct {
	at int
	ch chan struct{}
}

func newRecorder(events int) *recorder {
	return &recorder{acked: make(map[string]bool, events), statuses: map[int]int{}}
}

// reached is closed once n events have been acknowledged.
func (r *recorder) reached(n int) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan struct{})
	if r.ackedEvents >= n {
		close(ch)
	} else {
		r.waiters = append(r.waiters, waiter{n, ch})
	}
	return ch
}

func (r *recorder) acknowledged(ids []string, events int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		r.acked[id] = true
	}
	r.ackedEvents += events
	kept := r.waiters[:0]
	for _, w := range r.waiters {
		if r.ackedEvents >= w.at {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	r.waiters = kept
}

// answer records one answer; a non-2xx one must be in the API's error shape.
func (r *recorder) answer(status int, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	r.statuses[status]++
	if status >= 200 && status < 300 {
		return
	}
	var shape struct {
		Detail    *string `json:"detail"`
		RequestID *string `json:"request_id"`
	}
	if json.Unmarshal(body, &shape) != nil || shape.Detail == nil || *shape.Detail == "" || shape.RequestID == nil || *shape.RequestID == "" {
		r.badErrors++
	}
}

func (r *recorder) add(field *int, n int) {
	r.mu.Lock()
	*field += n
	r.mu.Unlock()
}

func (r *recorder) summarise(s *Summary) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.Acknowledged, s.Requests, s.Resends = len(r.acked), r.requests, r.resends
	s.BadErrors, s.ResendsInserted, s.Unacknowledged = r.badErrors, r.resendsInserted, r.unacked
	s.Statuses = r.statuses
}

// clients post batches as a careful pipeline would: resend on 429 and 503 after the
// pause in Retry-After (only the events named not_stored, or the whole batch), resend the
// whole batch on any other failure to get an answer, and never give up while the run lasts.
type clients struct {
	url    string
	http   *http.Client
	rec    *recorder
	resend float64
}

func (c *clients) run(ctx context.Context, batches []batch, workers int, seed uint64) {
	work := make(chan batch)
	var wg sync.WaitGroup
	for w := range workers {
		r := rand.New(rand.NewPCG(seed, uint64(w)+1))
		wg.Go(func() {
			for b := range work {
				c.deliver(ctx, b, r)
			}
		})
	}
	for _, b := range batches {
		select {
		case work <- b:
		case <-ctx.Done():
			c.rec.add(&c.rec.unacked, len(b.events))
		}
	}
	close(work)
	wg.Wait()
}

// deliver posts b until it is acknowledged, then perhaps once more on purpose: an
// acknowledged batch sent again must store nothing.
func (c *clients) deliver(ctx context.Context, b batch, r *rand.Rand) {
	ids, _, ok := c.post(ctx, b, r)
	if !ok {
		c.rec.add(&c.rec.unacked, len(b.events))
		return
	}
	c.rec.acknowledged(ids, len(b.events))
	if r.Float64() < c.resend {
		c.rec.add(&c.rec.resends, 1)
		if _, inserted, ok := c.post(ctx, batch{events: b.events}, r); ok && inserted > 0 {
			c.rec.add(&c.rec.resendsInserted, 1)
		}
	}
}

type ingestAnswer struct {
	Inserted  int      `json:"inserted"`
	IDs       []string `json:"ids"`
	NotStored []struct {
		Index int `json:"index"`
	} `json:"not_stored"`
}

// post sends b until the service answers 200, and returns the ids of its events and how
// many the service said it inserted on the way. ok is false if the run ended first.
func (c *clients) post(ctx context.Context, b batch, r *rand.Rand) (ids []string, inserted int, ok bool) {
	pending := make([]int, len(b.events))
	for i := range pending {
		pending[i] = i
	}
	backoff := 100 * time.Millisecond
	for {
		events := make([]telemetry.Event, len(pending))
		for i, p := range pending {
			events[i] = b.events[p]
		}
		body, err := emitter.Encode(events)
		if err != nil {
			return nil, inserted, false
		}
		status, answer, retryAfter, err := c.send(ctx, body)
		if ctx.Err() != nil {
			return nil, inserted, false
		}
		var a ingestAnswer
		if err == nil {
			c.rec.answer(status, answer)
			_ = json.Unmarshal(answer, &a)
			inserted += a.Inserted
		}
		switch {
		case err == nil && status == http.StatusOK:
			if !b.explicit {
				return a.IDs, inserted, true
			}
			all := make([]string, len(b.events))
			for i, e := range b.events {
				all[i] = e.ID
			}
			return all, inserted, true
		case err == nil && status >= 400 && status < 500 && status != http.StatusTooManyRequests:
			// A valid batch refused: resending cannot help. The run reports it unacknowledged.
			return nil, inserted, false
		case err == nil && b.explicit && len(a.NotStored) > 0:
			next := make([]int, 0, len(a.NotStored))
			for _, ns := range a.NotStored {
				if ns.Index >= 0 && ns.Index < len(pending) {
					next = append(next, pending[ns.Index])
				}
			}
			pending = next
		}
		wait := retryAfter
		if wait == 0 {
			wait = time.Duration(r.Int64N(int64(backoff))) + time.Millisecond
			backoff = min(2*backoff, 2*time.Second)
		}
		if !sleep(ctx, wait) {
			return nil, inserted, false
		}
	}
}

// send posts one body and returns the status, the body and the Retry-After pause.
func (c *clients) send(ctx context.Context, body []byte) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/telemetry", bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, 0, fmt.Errorf("read answer: %w", err)
	}
	var wait time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		wait = time.Duration(s) * time.Second
	}
	return resp.StatusCode, answer, wait, nil
}

// sleep is a client's pause between attempts; false if the run ended during it.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
