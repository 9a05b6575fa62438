package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// errorBody is the one error shape of every route.
type errorBody struct {
	Detail    string                 `json:"detail"`
	Errors    []telemetry.FieldError `json:"errors,omitempty"`
	RequestID string                 `json:"request_id"`
}

// statusOf is the only place an error becomes an HTTP status.
func statusOf(code telemetry.Code) int {
	switch code {
	case telemetry.CodeInvalid:
		return http.StatusBadRequest
	case telemetry.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case telemetry.CodeUnsupported:
		return http.StatusUnsupportedMediaType
	case telemetry.CodeThrottled:
		return http.StatusTooManyRequests
	case telemetry.CodeUnavailable:
		return http.StatusServiceUnavailable
	case telemetry.CodeUnauthenticated:
		return http.StatusUnauthorized
	case telemetry.CodeForbidden:
		return http.StatusForbidden
	case telemetry.CodeNotFound:
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// errorResponse renders err for a client. Errors that are not *telemetry.Error are our
// faults: the caller has logged them, and the client gets a generic sentence and the
// request id to quote, never the internal text.
func errorResponse(err error, requestID string) events.APIGatewayV2HTTPResponse {
	var te *telemetry.Error
	if !errors.As(err, &te) {
		te = &telemetry.Error{Code: telemetry.CodeInternal,
			Message: "Something went wrong on our side; try again, and quote the request id if it persists."}
	}
	detail, fields := boundErrors(te.Message, te.Fields)
	resp := JSON(statusOf(te.Code), errorBody{Detail: detail, Errors: fields, RequestID: requestID})
	if te.RetryAfter > 0 {
		setRetryAfter(resp, te.RetryAfter)
	}
	if te.Code == telemetry.CodeUnauthenticated {
		setChallenge(resp)
	}
	return resp
}

// setRetryAfter sets Retry-After in whole seconds, rounded up so a client never retries early.
func setRetryAfter(resp events.APIGatewayV2HTTPResponse, d time.Duration) {
	resp.Headers["Retry-After"] = strconv.Itoa(int((d + time.Second - 1) / time.Second))
}

// GatewayError is what API Gateway itself answers, in the API's error shape: a request
// that matched no route (404), a path asked with another method (405, allow naming the
// methods it takes), a request too large to invoke a function with (413), a function
// that failed instead of answering (502), or one that ran past its timeout (504). A
// deployment's gateway answers these itself; the local gateway uses this so both look
// alike to clients.
func GatewayError(status int, allow []string, requestID string) events.APIGatewayV2HTTPResponse {
	detail := "No route has this path; the routes are listed by GET /openapi.json, and each is also served under /latest and /v0 (the dashboard at /latest and /v0)."
	switch status {
	case http.StatusMethodNotAllowed:
		detail = "This path does not take that method; see the Allow header."
	case http.StatusBadGateway:
		detail = "The function serving this route failed; try again, and quote the request id if it persists."
	case http.StatusRequestEntityTooLarge:
		detail = fmt.Sprintf("The request is larger than Lambda's %d-byte invocation limit once API Gateway wraps it (the body as a JSON string, where quotes, backslashes and line breaks count twice); split the batch or send it with Content-Encoding: gzip.", MaxPayloadBytes)
	case http.StatusGatewayTimeout:
		detail = "The function serving this route ran past its timeout before answering; try again (a resent batch is never stored twice), and quote the request id if it persists."
	}
	return gatewayAnswer(status, detail, allow, requestID)
}

// TooLargeToInvoke is the 413 API Gateway answers for a request over Lambda's invocation
// limit (GatewayError's), with the advice that can help this body: gzip only where the
// body would fit once compressed (it is not compressed already, and its bytes are within
// the 6 MB a decompressed body may hold); else only splitting the batch.
func TooLargeToInvoke(bodyBytes int, contentEncoding, requestID string) events.APIGatewayV2HTTPResponse {
	enc := strings.ToLower(strings.TrimSpace(contentEncoding))
	if enc == "" || enc == "identity" {
		if bodyBytes <= telemetry.MaxBodyBytes {
			return GatewayError(http.StatusRequestEntityTooLarge, nil, requestID)
		}
		return gatewayAnswer(http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"The body is more than the %d bytes (6 MB) a batch may hold even when sent gzip-compressed; split the batch, or shorten its longest values (ingest keeps at most 16,384 characters of error_msg and 1,024 of most other fields).",
			telemetry.MaxBodyBytes), nil, requestID)
	}
	return gatewayAnswer(http.StatusRequestEntityTooLarge, fmt.Sprintf(
		"The request is larger than Lambda's %d-byte invocation limit even with its body compressed; split the batch.",
		MaxPayloadBytes), nil, requestID)
}

func gatewayAnswer(status int, detail string, allow []string, requestID string) events.APIGatewayV2HTTPResponse {
	resp := JSON(status, errorBody{Detail: detail, RequestID: requestID})
	if len(allow) > 0 {
		resp.Headers["Allow"] = strings.Join(allow, ", ")
	}
	return resp
}

// Unreadable names why a request could not be read as HTTP, or not whole, so that no
// function could be given it. A deployment's API Gateway answers these itself; the local
// gateway answers them with UnreadableRequest, in the API's error shape.
type Unreadable int

const (
	// BodyCutShort: the body ended before its Content-Length, or a chunked body before
	// its last chunk (the client closed or broke the connection mid-body).
	BodyCutShort Unreadable = iota
	// HeadersTooLarge: the request line and headers exceed what the server reads.
	HeadersTooLarge
	// VersionUnsupported: the request line names an HTTP version other than 1.x.
	VersionUnsupported
	// EncodingUnsupported: a Transfer-Encoding other than chunked.
	EncodingUnsupported
	// NotHTTP: a request line or header that is not HTTP/1.1.
	NotHTTP
)

// unreadable gives each kind its status and sentence. The sentences never echo what the
// client sent: it was not HTTP, and may not be text either.
var unreadable = map[Unreadable]struct {
	status int
	detail string
}{
	BodyCutShort: {http.StatusBadRequest,
		"The request body ended before the length it announced (Content-Length, or a chunked body without its last chunk), so nothing was stored; resend the whole request."},
	HeadersTooLarge: {http.StatusRequestHeaderFieldsTooLarge,
		"The request line and headers are too large; shorten the query string, the cookies or the headers."},
	VersionUnsupported: {http.StatusHTTPVersionNotSupported,
		"That HTTP version is not supported; send HTTP/1.1."},
	EncodingUnsupported: {http.StatusNotImplemented,
		"That Transfer-Encoding is not supported; send the body with Content-Length or chunked."},
	NotHTTP: {http.StatusBadRequest,
		"The request is not valid HTTP/1.1: its request line or a header is malformed; check the client that sent it."},
}

// UnreadableRequest is the answer to a request that could not be read, in the error shape.
func UnreadableRequest(why Unreadable, requestID string) events.APIGatewayV2HTTPResponse {
	u, ok := unreadable[why]
	if !ok {
		u = unreadable[NotHTTP]
	}
	return JSON(u.status, errorBody{Detail: u.detail, RequestID: requestID})
}

// Bounds of an error answer. Messages quote the values received, and a client can send a
// 6 MB id; quoted twice, in detail and errors, the answer would pass Lambda's response
// limit and reach the client as a 5xx. So each message is cut to maxMessageBytes, and the
// errors list ends once it reaches maxErrorsBytes, saying so in detail.
const (
	maxMessageBytes = 1 << 10
	maxErrorsBytes  = 2 << 20
)

// boundErrors returns detail and fields cut to the bounds above, leaving fields unchanged.
func boundErrors(detail string, fields []telemetry.FieldError) (string, []telemetry.FieldError) {
	detail = cutText(detail, 4*maxMessageBytes)
	out := make([]telemetry.FieldError, 0, len(fields))
	size := 0
	for _, f := range fields {
		f.Field, f.Message = cutText(f.Field, maxMessageBytes), cutText(f.Message, maxMessageBytes)
		size += len(f.Field) + len(f.Message) + 64 // the index, keys and quoting
		if size > maxErrorsBytes {
			detail += fmt.Sprintf(" (errors lists the first %d of %d problems, to fit the response limit.)", len(out), len(fields))
			break
		}
		out = append(out, f)
	}
	if len(fields) == 0 {
		out = nil
	}
	return detail, out
}

// cutText shortens s to at most n bytes on a UTF-8 boundary, marking the cut with "…".
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
