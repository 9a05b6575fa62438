// Package lambdatest runs built Lambda bootstrap binaries locally, as the Lambda service
// would: RuntimeAPI serves the Runtime API a custom runtime (aws-lambda-go with
// lambda.norpc) polls for events, and Function starts a bootstrap against it, hands it
// events one at a time and collects its answers. Tests and `make invoke` use it to run
// the very binaries that get deployed, with no Docker and no SAM.
package lambdatest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The Runtime API's paths and headers, as documented at
// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html.
const (
	apiPrefix = "/2018-06-01/runtime"

	HeaderRequestID   = "Lambda-Runtime-Aws-Request-Id"
	HeaderDeadlineMs  = "Lambda-Runtime-Deadline-Ms"
	HeaderFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	HeaderTraceID     = "Lambda-Runtime-Trace-Id"
	HeaderErrorType   = "Lambda-Runtime-Function-Error-Type"
	// A runtime that fails while streaming a response reports it in trailers.
	trailerErrorType = "Lambda-Runtime-Function-Error-Type"
	trailerErrorBody = "Lambda-Runtime-Function-Error-Body"
)

// MaxResponseBytes is Lambda's limit on a synchronous invocation's response, 6 MiB and
// 100 bytes: Lambda's Function.ResponseSizeTooLarge names 6291556 bytes, and AWS's Runtime
// Interface Emulator has the same figure (interop.MaxPayloadSize). A larger one fails the
// invocation, so it does here too rather than passing locally and failing live.
const MaxResponseBytes = 6<<20 + 100

// MaxRequestBytes is Lambda's limit on a synchronous invocation's request payload, the
// event as JSON; Invoke refuses a larger one as Lambda does, before the function runs.
const MaxRequestBytes = 6 << 20

// ErrRequestTooLarge is Lambda's RequestTooLargeException (HTTP 413).
var ErrRequestTooLarge = errors.New("RequestTooLargeException (413): request must be smaller than 6291456 bytes for the Invoke operation")

// Response is a function's answer to one invocation.
type Response struct {
	RequestID string
	Payload   []byte
	// Duration runs from the runtime taking the event to its answer: what Lambda bills.
	Duration time.Duration
	// SinceStart runs from starting the process to this answer; on a process's first
	// invocation it is the cold start as a caller sees it. Set by Function only.
	SinceStart time.Duration
	// InitDuration runs from starting the process to its first request for an event, as
	// Lambda's "Init Duration". Set by Function on a process's first invocation only.
	InitDuration time.Duration

	answeredAt time.Time
}

// RuntimeAPI is an emulation of the Lambda Runtime API on a loopback port. It holds at
// most one invocation at a time, as a Lambda execution environment does.
type RuntimeAPI struct {
	arn     string
	timeout time.Duration
	srv     *http.Server
	addr    string

	// queue is unbuffered: handing an event over is a rendezvous with a waiting
	// GET .../next, so an event is never left behind in a buffer nobody reads.
	queue chan *invocation

	ready      chan struct{} // closed at the first GET .../next
	readyAt    time.Time     // written before ready is closed
	initFailed chan struct{} // closed when an init error is reported
	closing    chan struct{}
	closeOnce  sync.Once

	mu       sync.Mutex
	inflight map[string]*invocation
	initErr  *FunctionError
	started  bool // a GET .../next has been seen, so init errors are no longer accepted
}

type invocation struct {
	id      string
	payload []byte
	taken   chan struct{} // closed by GET .../next once the runtime has the event
	takenAt time.Time     // written before taken is closed
	answer  chan answer   // buffered: the handler never waits for Invoke
}

type answer struct {
	payload []byte
	err     *FunctionError
	at      time.Time
}

// NewRuntimeAPI serves the Runtime API on 127.0.0.1 at a free port. Invocations carry
// functionARN and a deadline timeout after the runtime takes them. Close it when done.
func NewRuntimeAPI(functionARN string, timeout time.Duration) (*RuntimeAPI, error) {
	if timeout <= 0 {
		return nil, fmt.Errorf("lambdatest: timeout must be positive, got %s", timeout)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambdatest: listen: %w", err)
	}
	a := &RuntimeAPI{
		arn:        functionARN,
		timeout:    timeout,
		addr:       ln.Addr().String(),
		queue:      make(chan *invocation),
		ready:      make(chan struct{}),
		initFailed: make(chan struct{}),
		closing:    make(chan struct{}),
		inflight:   map[string]*invocation{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPrefix+"/invocation/next", a.handleNext)
	mux.HandleFunc("POST "+apiPrefix+"/invocation/{id}/response", a.handleResponse)
	mux.HandleFunc("POST "+apiPrefix+"/invocation/{id}/error", a.handleError)
	mux.HandleFunc("POST "+apiPrefix+"/init/error", a.handleInitError)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.srv.Serve(ln) }()
	return a, nil
}

// Addr is host:port, the value of AWS_LAMBDA_RUNTIME_API for a runtime.
func (a *RuntimeAPI) Addr() string { return a.addr }

// Close stops serving; a pending GET .../next and any Invoke waiting return.
func (a *RuntimeAPI) Close() error {
	var err error
	a.closeOnce.Do(func() {
		close(a.closing)
		err = a.srv.Close()
	})
	return err
}

// WaitReady returns once the runtime has asked for its first event, or with the init
// error it reported, or with ctx's cause.
func (a *RuntimeAPI) WaitReady(ctx context.Context) error {
	select {
	case <-a.ready:
		return nil
	case <-a.initFailed:
		return a.initError()
	case <-ctx.Done():
		// A runtime that reports an init error and exits is explained by the report.
		select {
		case <-a.initFailed:
			return a.initError()
		default:
		}
		return context.Cause(ctx)
	case <-a.closing:
		return ErrClosed
	}
}

// Invoke hands event to the runtime's next GET .../next and waits for its answer. The
// error is a *FunctionError when the runtime reported one, ErrTimeout (wrapped) when it
// did not answer before the invocation's deadline, or ctx's cause when ctx ends first.
// The Response carries the request id and duration whenever the runtime took the event.
func (a *RuntimeAPI) Invoke(ctx context.Context, event []byte) (Response, error) {
	if len(event) > MaxRequestBytes {
		return Response{}, fmt.Errorf("%w: %d bytes", ErrRequestTooLarge, len(event))
	}
	inv := &invocation{id: newRequestID(), payload: event, taken: make(chan struct{}), answer: make(chan answer, 1)}
	select {
	case a.queue <- inv:
	case <-a.initFailed:
		return Response{}, a.initError()
	case <-ctx.Done():
		return Response{}, context.Cause(ctx)
	case <-a.closing:
		return Response{}, ErrClosed
	}
	<-inv.taken // closed right after the handoff, with nothing in between that can block
	resp := Response{RequestID: inv.id}
	timer := time.NewTimer(time.Until(inv.takenAt.Add(a.timeout)))
	defer timer.Stop()

	var stopped error
	select {
	case ans := <-inv.answer:
		return finish(resp, inv, ans)
	case <-timer.C:
		stopped = fmt.Errorf("%w after %s", ErrTimeout, a.timeout)
	case <-ctx.Done():
		stopped = context.Cause(ctx)
	case <-a.closing:
		stopped = ErrClosed
	}
	// The answer may have come in together with the reason to stop waiting (a runtime
	// that reports an error and exits, say); an answer that arrived wins.
	select {
	case ans := <-inv.answer:
		return finish(resp, inv, ans)
	default:
	}
	a.mu.Lock()
	delete(a.inflight, inv.id)
	a.mu.Unlock()
	return resp, stopped
}

func finish(resp Response, inv *invocation, ans answer) (Response, error) {
	resp.answeredAt = ans.at
	resp.Duration = ans.at.Sub(inv.takenAt)
	if ans.err != nil {
		return resp, ans.err
	}
	resp.Payload = ans.payload
	return resp, nil
}

// initError is the reported init error; call it only once initFailed is closed.
func (a *RuntimeAPI) initError() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.initErr == nil {
		return errors.New("lambdatest: no init error reported")
	}
	return a.initErr
}

func (a *RuntimeAPI) handleNext(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	if !a.started {
		a.started = true
		a.readyAt = time.Now()
		close(a.ready)
	}
	a.mu.Unlock()

	var inv *invocation
	select {
	case inv = <-a.queue:
	case <-r.Context().Done():
		return
	case <-a.closing:
		writeAPIError(w, http.StatusInternalServerError, "Runtime.Closed", "the emulator is shutting down")
		return
	}
	inv.takenAt = time.Now()
	a.mu.Lock()
	a.inflight[inv.id] = inv
	a.mu.Unlock()
	close(inv.taken)

	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(HeaderRequestID, inv.id)
	h.Set(HeaderDeadlineMs, strconv.FormatInt(inv.takenAt.Add(a.timeout).UnixMilli(), 10))
	h.Set(HeaderFunctionARN, a.arn)
	h.Set(HeaderTraceID, newTraceID(inv.takenAt))
	_, _ = w.Write(inv.payload)
}

func (a *RuntimeAPI) handleResponse(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxResponseBytes))
	var tooLarge *http.MaxBytesError
	if err != nil && !errors.As(err, &tooLarge) {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "reading the response: "+err.Error())
		return
	}
	inv := a.take(r.PathValue("id"))
	if inv == nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation in progress has this request id")
		return
	}
	ans := answer{payload: body, at: time.Now()}
	switch {
	case tooLarge != nil:
		// Lambda fails the invocation, not just the POST.
		ans.err = &FunctionError{Type: "Function.ResponseSizeTooLarge",
			Message: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxResponseBytes)}
		inv.answer <- ans
		writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", ans.err.Message)
		return
	case r.Trailer.Get(trailerErrorType) != "":
		// The runtime failed part way through a streamed response.
		payload, _ := base64.StdEncoding.DecodeString(r.Trailer.Get(trailerErrorBody))
		ans.err = parseFunctionError(payload, r.Trailer.Get(trailerErrorType))
	}
	inv.answer <- ans
	writeAccepted(w)
}

func (a *RuntimeAPI) handleError(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxResponseBytes))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "reading the error: "+err.Error())
		return
	}
	inv := a.take(r.PathValue("id"))
	if inv == nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation in progress has this request id")
		return
	}
	inv.answer <- answer{err: parseFunctionError(body, r.Header.Get(HeaderErrorType)), at: time.Now()}
	writeAccepted(w)
}

func (a *RuntimeAPI) handleInitError(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxResponseBytes))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "reading the error: "+err.Error())
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started || a.initErr != nil {
		// Lambda refuses an init error once the runtime has asked for events.
		writeAPIError(w, http.StatusForbidden, "InvalidStateTransition", "init is over")
		return
	}
	a.initErr = parseFunctionError(body, r.Header.Get(HeaderErrorType))
	a.initErr.Init = true
	close(a.initFailed)
	writeAccepted(w)
}

// take removes the invocation with id from those in flight, so it is answered once.
func (a *RuntimeAPI) take(id string) *invocation {
	a.mu.Lock()
	defer a.mu.Unlock()
	inv := a.inflight[id]
	delete(a.inflight, id)
	return inv
}

// parseFunctionError reads the error document runtimes send ({"errorMessage",
// "errorType", "stackTrace"}); a body that is not one is still kept as Payload.
func parseFunctionError(body []byte, typeHeader string) *FunctionError {
	var doc struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	_ = json.Unmarshal(body, &doc)
	fe := &FunctionError{Type: doc.Type, Message: doc.Message, Payload: body}
	if fe.Type == "" {
		fe.Type = typeHeader
	}
	return fe
}

func writeAccepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func writeAPIError(w http.ResponseWriter, status int, errorType, message string) {
	b, _ := json.Marshal(map[string]string{"errorType": errorType, "errorMessage": message})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// newRequestID makes a random version 4 UUID, the form Lambda's request ids take.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newTraceID makes an X-Ray trace header in the form Lambda passes, so code that parses
// it meets the real shape.
func newTraceID(at time.Time) string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%x;Parent=%x;Sampled=0", at.Unix(), b[:12], b[12:])
}
