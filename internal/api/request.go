package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
	"unsafe"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// requestID is the id a client quotes: API Gateway's, or Lambda's when invoked directly.
func requestID(ctx context.Context, req events.APIGatewayV2HTTPRequest) string {
	if id := req.RequestContext.RequestID; id != "" {
		return id
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return "unknown"
}

// Serve runs one request through fn with a logger that carries the request id, finishes
// its answer (finish: gzip when the client accepts it, a 413 when it cannot be carried),
// turns any error into the error shape, and logs one line per request. Every route goes
// through it.
func Serve(ctx context.Context, d Deps, route string, req events.APIGatewayV2HTTPRequest,
	fn func(ctx context.Context, log *slog.Logger) (events.APIGatewayV2HTTPResponse, error)) (events.APIGatewayV2HTTPResponse, error) {
	id := requestID(ctx, req)
	log := d.Log.With("request_id", id, "route", route)
	start := time.Now()
	var resp events.APIGatewayV2HTTPResponse
	err := checkAccess(d, req)
	if err == nil {
		work, cancel := withAnswerReserve(ctx)
		if req.RequestContext.HTTP.Method == http.MethodPost {
			resp, err = guard(work, log, fn)
		} else {
			resp, err = guardRead(work, log, fn)
		}
		cancel()
		if err == nil {
			resp, err = finish(route, req, resp)
		}
	}
	if err != nil {
		code := telemetry.ErrorCode(err)
		if code == telemetry.CodeInternal || code == telemetry.CodeUnavailable || code == telemetry.CodeThrottled {
			log.Error("request failed", "error", err.Error())
		}
		resp = errorResponse(err, id)
	}
	log.Info("request", "method", req.RequestContext.HTTP.Method, "path", req.RawPath,
		"status", resp.StatusCode, "ms", time.Since(start).Milliseconds())
	return resp, nil
}

// AnswerReserve is the time a handler keeps back from its invocation's deadline: work
// still running then is cut off, so that the function answers with its own 503 and
// Retry-After while the client is still listening. Without it a slow read ends at the
// deadline itself and, on a loaded host, answers after it, when API Gateway has already
// given the client a bare 504 (seen at 29.8 s against a 29 s timeout).
const AnswerReserve = 2 * time.Second

// withAnswerReserve is ctx with its deadline moved AnswerReserve earlier; a context
// without a deadline (a test, a direct call) is left as it is.
func withAnswerReserve(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, deadline.Add(-AnswerReserve))
}

// readGrace is how long a read still running at its work's deadline is waited for before
// it is answered 503 without it: calls to the store end at the deadline, but work on what
// they already returned (rows decoded, events counted) does not look at it.
const readGrace = AnswerReserve / 2

// guardRead is guard for a request that changes nothing: when its work runs past its
// deadline by more than readGrace, the client gets a 503 with Retry-After while API Gateway
// still waits, and the work is left to end on its own (its answer discarded). A write is
// always waited for, since what it stored must be what the client is told.
func guardRead(work context.Context, log *slog.Logger, fn func(context.Context, *slog.Logger) (events.APIGatewayV2HTTPResponse, error)) (events.APIGatewayV2HTTPResponse, error) {
	type answer struct {
		resp events.APIGatewayV2HTTPResponse
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := guard(work, log, fn)
		done <- answer{resp, err}
	}()
	select {
	case a := <-done:
		return a.resp, a.err
	case <-work.Done():
	}
	grace := time.NewTimer(readGrace)
	defer grace.Stop()
	select {
	case a := <-done:
		return a.resp, a.err
	case <-grace.C:
		return events.APIGatewayV2HTTPResponse{}, &telemetry.Error{Code: telemetry.CodeUnavailable, RetryAfter: 2 * time.Second,
			Message: "The request needed more time than the function has; retry after the pause in Retry-After, or ask for a shorter window.",
			Cause:   fmt.Errorf("work still running %s after its deadline: %w", readGrace, work.Err())}
	}
}

// body returns the request body, decoding API Gateway's base64 for binary payloads and
// a gzip Content-Encoding. The decompressed body is held to telemetry.MaxBodyBytes too,
// so a small bomb cannot make a large request; other encodings are a 415 naming them.
// The body is read in place, not copied: the decoders only read it, and for the largest
// ingest request a copy is 6 MB more held while the request is served.
func body(req events.APIGatewayV2HTTPRequest) ([]byte, error) {
	b := unsafe.Slice(unsafe.StringData(req.Body), len(req.Body))
	if req.IsBase64Encoded {
		var err error
		if b, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return nil, telemetry.Invalidf("The body is marked base64 but is not valid base64.")
		}
	}
	switch encoding := strings.TrimSpace(header(req, "content-encoding")); strings.ToLower(encoding) {
	case "", "identity":
		return b, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, telemetry.Invalidf("The body is marked Content-Encoding: gzip but is not gzip data.")
		}
		out, err := io.ReadAll(io.LimitReader(zr, telemetry.MaxBodyBytes+1))
		switch {
		case err != nil:
			return nil, telemetry.Invalidf("The gzip body is corrupt or cut short; compress the whole body and resend.")
		case len(out) > telemetry.MaxBodyBytes:
			return nil, &telemetry.Error{Code: telemetry.CodeTooLarge, Message: fmt.Sprintf(
				"The body decompresses to more than %d bytes (6 MB), the most one request can carry; split the batch.", telemetry.MaxBodyBytes)}
		}
		return out, nil
	default:
		return nil, &telemetry.Error{Code: telemetry.CodeUnsupported, Message: fmt.Sprintf(
			"The body's Content-Encoding %q is not supported; send it uncompressed or as gzip.", encoding)}
	}
}

// guard runs fn and turns a panic into an internal error: API Gateway would answer a
// crashed invocation with a bare 502, without the request id a client can quote.
func guard(ctx context.Context, log *slog.Logger, fn func(context.Context, *slog.Logger) (events.APIGatewayV2HTTPResponse, error)) (resp events.APIGatewayV2HTTPResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp, err = events.APIGatewayV2HTTPResponse{}, fmt.Errorf("panic: %v", r)
		}
	}()
	return fn(ctx, log)
}
