package bench

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"sync"
	"time"
)

// capturedCall is one DynamoDB request a function sent, kept to be sent again by the
// replay bootstrap (testdata/replay), and when it was sent and answered, since the
// capture began.
type capturedCall struct {
	Header     http.Header `json:"header"`
	Body       []byte      `json:"body"`
	sent, done time.Duration
}

// callRecorder is a reverse proxy to DynamoDB Local that keeps every request through it.
type callRecorder struct {
	srv   *httptest.Server
	start time.Time
	mu    sync.Mutex
	calls []capturedCall
}

// newCallRecorder starts a callRecorder in front of endpoint; its URL is the endpoint to give
// the function whose calls are captured.
func newCallRecorder(endpoint string) (*callRecorder, error) {
	target, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	r := &callRecorder{start: time.Now()}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		c := capturedCall{Header: req.Header.Clone(), Body: body, sent: time.Since(r.start)}
		// Hop-by-hop and length headers belong to this connection, not to the request.
		for _, h := range []string{"Connection", "Content-Length", "Accept-Encoding", "User-Agent"} {
			c.Header.Del(h)
		}
		proxy.ServeHTTP(w, req)
		c.done = time.Since(r.start)
		r.mu.Lock()
		r.calls = append(r.calls, c)
		r.mu.Unlock()
	}))
	return r, nil
}

// URL is the callRecorder's endpoint.
func (r *callRecorder) URL() string { return r.srv.URL }

// take returns the calls captured so far and forgets them.
func (r *callRecorder) take() []capturedCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	calls := r.calls
	r.calls = nil
	return calls
}

// Close stops the callRecorder.
func (r *callRecorder) Close() { r.srv.Close() }

// callRounds groups calls into the rounds the replay sends at once, in the order they
// were sent: a call sent before every call of the current round had answered belongs to
// it, and a call sent after them all starts the next round, since it may have waited on
// them. The grouping errs towards fewer, larger rounds (a pool of bounded concurrency
// is one round), so the floor it gives is never above the reads' own cost.
func callRounds(calls []capturedCall) [][]capturedCall {
	calls = append([]capturedCall(nil), calls...)
	sort.SliceStable(calls, func(i, j int) bool { return calls[i].sent < calls[j].sent })
	var rounds [][]capturedCall
	var answered time.Duration // when the current round's last call answered
	for _, c := range calls {
		if len(rounds) == 0 || c.sent >= answered {
			rounds = append(rounds, []capturedCall{c})
			answered = c.done
			continue
		}
		last := len(rounds) - 1
		rounds[last] = append(rounds[last], c)
		answered = max(answered, c.done)
	}
	return rounds
}
