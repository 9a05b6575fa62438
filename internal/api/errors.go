package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

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
	case telemetry.CodeThrottled:
		return http.StatusTooManyRequests
	case telemetry.CodeUnavailable:
		return http.StatusServiceUnavailable
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
	resp := JSON(statusOf(te.Code), errorBody{Detail: te.Message, Errors: te.Fields, RequestID: requestID})
	if te.RetryAfter > 0 {
		setRetryAfter(resp, te.RetryAfter)
	}
	return resp
}

// setRetryAfter sets Retry-After in whole seconds, rounded up so a client never retries early.
func setRetryAfter(resp events.APIGatewayV2HTTPResponse, d time.Duration) {
	resp.Headers["Retry-After"] = strconv.Itoa(int((d + time.Second - 1) / time.Second))
}

// GatewayError is what API Gateway itself answers, in the API's error shape: a request
// that matched no route (404), a path asked with another method (405, allow naming the
// methods it takes), or a function that failed instead of answering (502). A deployment's
// gateway answers these itself; the local gateway uses this so both look alike to clients.
func GatewayError(status int, allow []string, requestID string) events.APIGatewayV2HTTPResponse {
	detail := "No such route: the API serves /telemetry, /telemetry/stats, /telemetry/anomalies, /pipelines and /pipelines/stats, also under /latest."
	switch status {
	case http.StatusMethodNotAllowed:
		detail = "This path does not take that method; see the Allow header."
	case http.StatusBadGateway:
		detail = "The function serving this route failed; try again, and quote the request id if it persists."
	}
	resp := JSON(status, errorBody{Detail: detail, RequestID: requestID})
	if len(allow) > 0 {
		resp.Headers["Allow"] = strings.Join(allow, ", ")
	}
	return resp
}
