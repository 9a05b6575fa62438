package lambdatest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testARN = "arn:aws:lambda:eu-west-1:000000000000:function:probe"

// runtimeClient drives a RuntimeAPI the way a custom runtime does.
type runtimeClient struct {
	t    *testing.T
	base string
}

func newAPI(t *testing.T, timeout time.Duration) (*RuntimeAPI, runtimeClient) {
	t.Helper()
	api, err := NewRuntimeAPI(testARN, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Close() })
	return api, runtimeClient{t: t, base: "http://" + api.Addr() + "/2018-06-01/runtime"}
}

// next takes the next event, failing the test unless Lambda's headers are all there.
func (c runtimeClient) next() (id string, body []byte) {
	c.t.Helper()
	resp, err := http.Get(c.base + "/invocation/next")
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET next: status %d: %s", resp.StatusCode, body)
	}
	id = resp.Header.Get(HeaderRequestID)
	if id == "" {
		c.t.Errorf("GET next: no %s", HeaderRequestID)
	}
	if got := resp.Header.Get(HeaderFunctionARN); got != testARN {
		c.t.Errorf("GET next: %s = %q, want %q", HeaderFunctionARN, got, testARN)
	}
	if got := resp.Header.Get(HeaderTraceID); !strings.HasPrefix(got, "Root=1-") {
		c.t.Errorf("GET next: %s = %q, want an X-Ray trace header", HeaderTraceID, got)
	}
	if _, err := strconv.ParseInt(resp.Header.Get(HeaderDeadlineMs), 10, 64); err != nil {
		c.t.Errorf("GET next: %s = %q, want epoch milliseconds", HeaderDeadlineMs, resp.Header.Get(HeaderDeadlineMs))
	}
	return id, body
}

func (c runtimeClient) post(path string, body io.Reader, header http.Header) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return c.do(req)
}

func (c runtimeClient) do(req *http.Request) (int, string) {
	c.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type invokeResult struct {
	resp Response
	err  error
}

// invokeAsync starts an invocation; the runtime client answers it from the test.
func invokeAsync(ctx context.Context, api *RuntimeAPI, event string) <-chan invokeResult {
	ch := make(chan invokeResult, 1)
	go func() {
		resp, err := api.Invoke(ctx, []byte(event))
		ch <- invokeResult{resp, err}
	}()
	return ch
}

func TestRuntimeAPIResponse(t *testing.T) {
	api, rt := newAPI(t, time.Minute)
	results := invokeAsync(t.Context(), api, `{"n":1}`)
	id, event := rt.next()
	if string(event) != `{"n":1}` {
		t.Errorf("event = %s, want the invoked payload", event)
	}
	if err := api.WaitReady(t.Context()); err != nil {
		t.Errorf("WaitReady after GET next: %v", err)
	}
	if status, body := rt.post("/invocation/"+id+"/response", strings.NewReader(`{"ok":true}`), nil); status != http.StatusAccepted {
		t.Fatalf("POST response: status %d: %s", status, body)
	}
	r := <-results
	if r.err != nil {
		t.Fatalf("Invoke: %v", r.err)
	}
	if string(r.resp.Payload) != `{"ok":true}` || r.resp.RequestID != id {
		t.Errorf("Invoke = %q for %q, want {\"ok\":true} for %q", r.resp.Payload, r.resp.RequestID, id)
	}
	// An invocation is answered once; a repeat or an unknown id is refused.
	if status, _ := rt.post("/invocation/"+id+"/response", strings.NewReader(`{}`), nil); status != http.StatusBadRequest {
		t.Errorf("second POST response: status %d, want 400", status)
	}
	if status, _ := rt.post("/invocation/nope/error", strings.NewReader(`{}`), nil); status != http.StatusBadRequest {
		t.Errorf("POST error for an unknown id: status %d, want 400", status)
	}

	// The same environment serves the next event.
	results = invokeAsync(t.Context(), api, `{"n":2}`)
	id2, event := rt.next()
	if id2 == id || string(event) != `{"n":2}` {
		t.Errorf("second event: id %q (first %q), payload %s", id2, id, event)
	}
	rt.post("/invocation/"+id2+"/response", strings.NewReader(`2`), nil)
	if r := <-results; r.err != nil || string(r.resp.Payload) != "2" {
		t.Errorf("second Invoke = %q, %v", r.resp.Payload, r.err)
	}
}

func TestRuntimeAPIFunctionError(t *testing.T) {
	api, rt := newAPI(t, time.Minute)
	results := invokeAsync(t.Context(), api, `{}`)
	id, _ := rt.next()
	status, body := rt.post("/invocation/"+id+"/error",
		strings.NewReader(`{"errorMessage":"table not found","errorType":"ResourceNotFoundException"}`),
		http.Header{HeaderErrorType: {"Function.Unhandled"}})
	if status != http.StatusAccepted {
		t.Fatalf("POST error: status %d: %s", status, body)
	}
	r := <-results
	var fe *FunctionError
	if !errors.As(r.err, &fe) {
		t.Fatalf("Invoke error = %v, want a *FunctionError", r.err)
	}
	if fe.Init || fe.Type != "ResourceNotFoundException" || fe.Message != "table not found" {
		t.Errorf("FunctionError = %+v", fe)
	}
}

func TestRuntimeAPIStreamedError(t *testing.T) {
	api, rt := newAPI(t, time.Minute)
	results := invokeAsync(t.Context(), api, `{}`)
	id, _ := rt.next()
	// A runtime whose response body fails half way reports the error in trailers.
	req, err := http.NewRequest(http.MethodPost, rt.base+"/invocation/"+id+"/response", strings.NewReader(`{"partial":`))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked, the only encoding that carries trailers
	req.Trailer = http.Header{
		trailerErrorType: {"Runtime.TruncatedResponse"},
		trailerErrorBody: {base64.StdEncoding.EncodeToString([]byte(`{"errorMessage":"reader failed","errorType":"Runtime.TruncatedResponse"}`))},
	}
	if status, body := rt.do(req); status != http.StatusAccepted {
		t.Fatalf("POST response: status %d: %s", status, body)
	}
	var fe *FunctionError
	if r := <-results; !errors.As(r.err, &fe) || fe.Message != "reader failed" {
		t.Errorf("Invoke = %q, %v; want the trailer's error", r.resp.Payload, r.err)
	}
}

func TestRuntimeAPIResponseAtTheLimit(t *testing.T) {
	api, rt := newAPI(t, time.Minute)
	results := invokeAsync(t.Context(), api, `{}`)
	id, _ := rt.next()
	full := bytes.Repeat([]byte("x"), MaxResponseBytes)
	if status, body := rt.post("/invocation/"+id+"/response", bytes.NewReader(full), nil); status != http.StatusAccepted {
		t.Errorf("POST of %d bytes: status %d: %s", len(full), status, body)
	}
	if r := <-results; r.err != nil || len(r.resp.Payload) != 6291556 {
		t.Errorf("Invoke = %d bytes, %v; want Lambda's largest response, 6291556 bytes", len(r.resp.Payload), r.err)
	}
}

func TestRuntimeAPIResponseTooLarge(t *testing.T) {
	api, rt := newAPI(t, time.Minute)
	results := invokeAsync(t.Context(), api, `{}`)
	id, _ := rt.next()
	big := bytes.Repeat([]byte("x"), MaxResponseBytes+1)
	if status, _ := rt.post("/invocation/"+id+"/response", bytes.NewReader(big), nil); status != http.StatusRequestEntityTooLarge {
		t.Errorf("POST of %d bytes: status %d, want 413", len(big), status)
	}
	var fe *FunctionError
	if r := <-results; !errors.As(r.err, &fe) || fe.Type != "Function.ResponseSizeTooLarge" {
		t.Errorf("Invoke error = %v, want Function.ResponseSizeTooLarge", r.err)
	}
}

func TestRuntimeAPIInitError(t *testing.T) {
	api, rt := newAPI(t, time.Minute)
	status, body := rt.post("/init/error", strings.NewReader(`{"errorMessage":"EVENTS_TABLE is not set","errorType":"Runtime.ConfigError"}`), nil)
	if status != http.StatusAccepted {
		t.Fatalf("POST init/error: status %d: %s", status, body)
	}
	var fe *FunctionError
	if err := api.WaitReady(t.Context()); !errors.As(err, &fe) || !fe.Init || fe.Message != "EVENTS_TABLE is not set" {
		t.Errorf("WaitReady = %v, want the init error", err)
	}
	if _, err := api.Invoke(t.Context(), []byte(`{}`)); !errors.As(err, &fe) || !fe.Init {
		t.Errorf("Invoke after an init error = %v, want the init error", err)
	}
	if status, _ := rt.post("/init/error", strings.NewReader(`{}`), nil); status != http.StatusForbidden {
		t.Errorf("second POST init/error: status %d, want 403", status)
	}
}

func TestRuntimeAPIInitErrorAfterNext(t *testing.T) {
	api, rt := newAPI(t, time.Minute)
	results := invokeAsync(t.Context(), api, `{}`)
	id, _ := rt.next()
	if status, _ := rt.post("/init/error", strings.NewReader(`{}`), nil); status != http.StatusForbidden {
		t.Errorf("POST init/error after GET next: status %d, want 403", status)
	}
	rt.post("/invocation/"+id+"/response", strings.NewReader(`null`), nil)
	if r := <-results; r.err != nil {
		t.Errorf("Invoke: %v", r.err)
	}
}

func TestRuntimeAPITimeout(t *testing.T) {
	// The runtime below never answers, so the deadline passes whatever the machine's speed.
	api, rt := newAPI(t, time.Millisecond)
	results := invokeAsync(t.Context(), api, `{}`)
	id, _ := rt.next()
	r := <-results
	if !errors.Is(r.err, ErrTimeout) {
		t.Fatalf("Invoke error = %v, want ErrTimeout", r.err)
	}
	if r.resp.RequestID != id {
		t.Errorf("timed-out Response.RequestID = %q, want %q", r.resp.RequestID, id)
	}
	if status, _ := rt.post("/invocation/"+id+"/response", strings.NewReader(`{}`), nil); status != http.StatusBadRequest {
		t.Errorf("answer after the deadline: status %d, want 400", status)
	}
}

func TestRuntimeAPIInvokeCancelled(t *testing.T) {
	api, _ := newAPI(t, time.Minute)
	ctx, cancel := context.WithCancelCause(t.Context())
	stop := errors.New("caller gave up")
	cancel(stop)
	// No runtime is polling: Invoke must return on ctx rather than wait for one.
	if _, err := api.Invoke(ctx, []byte(`{}`)); !errors.Is(err, stop) {
		t.Errorf("Invoke with a cancelled context = %v, want its cause", err)
	}
	_ = api.Close()
	if _, err := api.Invoke(t.Context(), []byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close = %v, want ErrClosed", err)
	}
}

// TestInvokeRefusesAnEventOverThePayloadLimit: Lambda refuses a request payload over
// 6,291,456 bytes before any runtime sees it, and so does the emulator.
func TestInvokeRefusesAnEventOverThePayloadLimit(t *testing.T) {
	api, _ := newAPI(t, time.Second)
	event := []byte(`{"body":"` + strings.Repeat("x", MaxRequestBytes) + `"}`)
	if _, err := api.Invoke(t.Context(), event); !errors.Is(err, ErrRequestTooLarge) {
		t.Errorf("Invoke of %d bytes: %v, want ErrRequestTooLarge", len(event), err)
	}
}
