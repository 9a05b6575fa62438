// Package emitter posts events to POST /telemetry the way a pipeline's emitter does:
// JSON arrays of events in batches, a few requests at a time, resending a batch the
// service answered with 429, 502, 503 or 504. `make demo` loads demo data with it, and the benchmark
// measures ingest through it, so both see the service as a client does.
package emitter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// wireEvent is an event as emitters send it: only the fields they know, so a batch is
// as compact as KernelCI's own, rather than the API's output shape with every absent
// field written as null.
type wireEvent struct {
	ID           string          `json:"id,omitempty"`
	Kind         string          `json:"kind"`
	Runtime      string          `json:"runtime"`
	TS           string          `json:"ts,omitempty"`
	DeviceType   string          `json:"device_type,omitempty"`
	DeviceID     string          `json:"device_id,omitempty"`
	JobName      string          `json:"job_name,omitempty"`
	TestName     string          `json:"test_name,omitempty"`
	JobID        string          `json:"job_id,omitempty"`
	NodeID       string          `json:"node_id,omitempty"`
	Tree         string          `json:"tree,omitempty"`
	Branch       string          `json:"branch,omitempty"`
	Arch         string          `json:"arch,omitempty"`
	ErrorType    string          `json:"error_type,omitempty"`
	Result       string          `json:"result,omitempty"`
	IsInfraError bool            `json:"is_infra_error,omitempty"`
	ErrorMsg     string          `json:"error_msg,omitempty"`
	Retry        int             `json:"retry,omitempty"`
	Duration     *float64        `json:"duration,omitempty"`
	Extra        json.RawMessage `json:"extra,omitempty"`
}

// Encode renders events as the body of one POST /telemetry. Ids are sent when set, so a
// resend of the same events is recognised as duplicates.
func Encode(events []telemetry.Event) ([]byte, error) {
	wire := make([]wireEvent, len(events))
	for i, e := range events {
		w := wireEvent{
			ID: e.ID, Kind: e.Kind, Runtime: e.Runtime, DeviceType: e.DeviceType,
			DeviceID: e.DeviceID, JobName: e.JobName, TestName: e.TestName, JobID: e.JobID,
			NodeID: e.NodeID, Tree: e.Tree, Branch: e.Branch, Arch: e.Arch,
			ErrorType: e.ErrorType, Result: e.Result, IsInfraError: e.IsInfraError,
			ErrorMsg: e.ErrorMsg, Retry: e.Retry, Duration: e.Duration, Extra: e.Extra,
		}
		if !e.TS.IsZero() {
			w.TS = telemetry.FormatTime(e.TS)
		}
		wire[i] = w
	}
	return json.Marshal(wire)
}

// Batch is one request's worth of events, already encoded.
type Batch struct {
	Events int
	Body   []byte
}

// Batches splits events into encoded batches of at most size events each.
func Batches(events []telemetry.Event, size int) ([]Batch, error) {
	if size < 1 {
		return nil, fmt.Errorf("emitter: batch size %d; want 1 or more", size)
	}
	var out []Batch
	for start := 0; start < len(events); start += size {
		chunk := events[start:min(start+size, len(events))]
		body, err := Encode(chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, Batch{Events: len(chunk), Body: body})
	}
	return out, nil
}

// Client posts batches to one POST /telemetry URL.
type Client struct {
	URL  string // e.g. http://127.0.0.1:3000/telemetry
	HTTP *http.Client
	// Token, if set, is sent as "Authorization: Bearer <Token>", as KernelCI's clients
	// send theirs.
	Token string
	// Attempts bounds the sends of one batch the service keeps answering 429, 502, 503
	// or 504;
	// 0 means 5.
	Attempts int
	// MaxWait caps one Retry-After pause, so a long hint cannot stall a load; 0 means 5s.
	MaxWait time.Duration
}

// Result sums what the service answered.
type Result struct {
	Events     int `json:"events"`
	Inserted   int `json:"inserted"`
	Duplicates int `json:"duplicates"`
	// Unconfirmed counts events the service answered as already there after an earlier
	// send of them got a gateway's 502 or 504, which says nothing of what was stored: that
	// send may have stored them, or they were there before. Each is stored once either way.
	Unconfirmed int `json:"unconfirmed,omitempty"`
	Resends     int `json:"resends"` // batches sent again after a 429, 502, 503 or 504
}

func (r *Result) add(o Result) {
	r.Events += o.Events
	r.Inserted += o.Inserted
	r.Duplicates += o.Duplicates
	r.Unconfirmed += o.Unconfirmed
	r.Resends += o.Resends
}

// StatusError is an answer other than 200 that resending would not fix, or a 429, 502,
// 503 or 504 that outlasted the attempts.
type StatusError struct {
	Status int
	Detail string // the API's one-sentence explanation, or the start of the body
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("POST /telemetry answered %d: %s", e.Status, e.Detail)
}

// Post sends one batch and, after the pause the service asks for when it answers 429 or
// 503, resends only the events that answer names in not_stored and not_counted (the
// whole batch when it names none). A 502 or 504 is a gateway's answer that the function
// failed or ran out of time, naming nothing: the whole batch is resent, which the
// service's duplicate detection makes safe, and what the resend finds already there is
// Unconfirmed rather than Duplicates. What an answer says was stored counts at once, so an
// event this batch stored is never reported as already there because a resend met it;
// an event stored but not counted by the rollups is counted inserted, and its resend,
// which marks it, answers it as a duplicate that is not counted again.
func (c *Client) Post(ctx context.Context, b Batch) (Result, error) {
	attempts := c.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	maxWait := c.MaxWait
	if maxWait <= 0 {
		maxWait = 5 * time.Second
	}
	httpClient := c.HTTP
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	res := Result{Events: b.Events}
	payload := b.Body
	// counted[i]: payload's event i was stored and counted in res.Inserted by an earlier
	// answer (it was resent because its rollups were not told); nil: none was.
	var counted []bool
	countedIn := func(i int) bool { return i >= 0 && i < len(counted) && counted[i] }
	// unknown: the payload was sent before and that send's outcome is not known.
	// listed: the payload holds only events an answer named in not_stored or not_counted.
	// The service's probe found the not_stored ones absent, so a resend that finds one
	// stored finds a write of this batch that landed after its deadline: inserted, not a
	// duplicate, whatever happened between.
	unknown, listed := false, false
	duplicates := func(n int) {
		switch {
		case listed:
			res.Inserted += n
		case unknown:
			res.Unconfirmed += n
		default:
			res.Duplicates += n
		}
	}
	for attempt := 1; ; attempt++ {
		status, body, wait, err := c.send(ctx, httpClient, payload)
		if err != nil {
			return res, err
		}
		var ans struct {
			Inserted   int `json:"inserted"`
			Duplicates int `json:"duplicates"`
			NotStored  []struct {
				Index int `json:"index"`
			} `json:"not_stored"`
			NotCounted []struct {
				Index int `json:"index"`
			} `json:"not_counted"`
		}
		parsed := json.Unmarshal(body, &ans) == nil
		if status == http.StatusOK {
			if !parsed {
				return res, fmt.Errorf("POST /telemetry: reading the answer: not the API's answer: %.200s", body)
			}
			ours := 0
			for i := range counted {
				if counted[i] {
					ours++
				}
			}
			res.Inserted += ans.Inserted
			duplicates(max(0, ans.Duplicates-ours))
			return res, nil
		}
		gateway := status == http.StatusBadGateway || status == http.StatusGatewayTimeout
		retryable := gateway || status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
		if !retryable || attempt >= attempts {
			return res, &StatusError{Status: status, Detail: detail(body)}
		}
		res.Resends++
		unknown = unknown || gateway
		if !gateway && parsed && len(ans.NotStored)+len(ans.NotCounted) > 0 {
			var items []json.RawMessage
			if err := json.Unmarshal(payload, &items); err == nil {
				var again []json.RawMessage
				var againCounted []bool
				inserted, relisted := ans.Inserted, 0
				for _, r := range ans.NotStored {
					if r.Index >= 0 && r.Index < len(items) {
						again = append(again, items[r.Index])
						againCounted = append(againCounted, countedIn(r.Index))
					}
				}
				for _, r := range ans.NotCounted {
					if r.Index >= 0 && r.Index < len(items) {
						again = append(again, items[r.Index])
						againCounted = append(againCounted, true)
						if countedIn(r.Index) {
							relisted++ // stored by an earlier try, counted then
						} else {
							inserted++
						}
					}
				}
				ours := -relisted // our own events the answer counts as duplicates
				for i := range counted {
					if counted[i] {
						ours++
					}
				}
				if next, err := json.Marshal(again); err == nil && len(again) > 0 {
					res.Inserted += inserted
					duplicates(max(0, ans.Duplicates-max(0, ours)))
					payload, counted, listed = next, againCounted, true
				}
			}
		}
		t := time.NewTimer(min(wait, maxWait))
		select {
		case <-ctx.Done():
			t.Stop()
			return res, context.Cause(ctx)
		case <-t.C:
		}
	}
}

func (c *Client) send(ctx context.Context, hc *http.Client, payload []byte) (status int, body []byte, wait time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, 0, fmt.Errorf("POST /telemetry: reading the answer: %w", err)
	}
	wait = time.Second
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		wait = time.Duration(s) * time.Second
	}
	return resp.StatusCode, body, wait, nil
}

// detail is the API error's explanation, or the start of a body that is not the API's
// error shape (a proxy's page, say).
func detail(body []byte) string {
	var e struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &e) == nil && e.Detail != "" {
		return e.Detail
	}
	const keep = 200
	if len(body) > keep {
		body = body[:keep]
	}
	return string(body)
}

// PostAll posts batches with workers requests in flight and calls progress (if not nil)
// after each batch is answered, one call at a time. It stops at the first failure and
// returns what was answered until then.
func (c *Client) PostAll(ctx context.Context, batches []Batch, workers int, progress func(Result)) (Result, error) {
	workers = max(1, min(workers, len(batches)))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan Batch)
	go func() {
		defer close(next)
		for _, b := range batches {
			select {
			case next <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	var (
		mu    sync.Mutex
		total Result
		first error
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for b := range next {
				r, err := c.Post(ctx, b)
				mu.Lock()
				if err == nil {
					total.add(r)
					if progress != nil {
						progress(total)
					}
				} else if first == nil {
					first = err
					cancel(err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return total, first
}
