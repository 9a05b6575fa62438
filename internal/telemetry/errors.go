package telemetry

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Code classifies an error by what the caller can do about it. The API maps each code to
// one HTTP status in one place; nothing else decides statuses.
type Code string

const (
	CodeInvalid     Code = "invalid"     // the request is wrong; fix it and resend
	CodeTooLarge    Code = "too_large"   // the request is too big; split it
	CodeUnsupported Code = "unsupported" // the body's encoding is not one the API reads
	CodeThrottled   Code = "throttled"   // the store is shedding load; retry after a pause
	CodeUnavailable Code = "unavailable" // the store could not be reached; retry later
	CodeInternal    Code = "internal"    // a fault of ours; the message is not shown
	// CodeUnauthenticated: no usable token; send one. CodeForbidden: the token lacks the
	// route's scope; ask for one that has it.
	CodeUnauthenticated Code = "unauthenticated"
	CodeForbidden       Code = "forbidden"
	// CodeNotFound: what the request names does not exist (a summary at a time before any
	// was taken); asking again will not change that.
	CodeNotFound Code = "not_found"
)

// FieldError names one problem with one field of one event (or of one query parameter,
// where Index is -1).
type FieldError struct {
	Index   int    `json:"index"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// MarshalJSON leaves out the index of a problem that belongs to no event (Index < 0),
// such as a bad query parameter.
func (fe FieldError) MarshalJSON() ([]byte, error) {
	type plain FieldError
	if fe.Index >= 0 {
		return json.Marshal(plain(fe))
	}
	return json.Marshal(struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	}{fe.Field, fe.Message})
}

// Error is an error a client is meant to read: Message is one sentence they can act on.
type Error struct {
	Code       Code
	Message    string
	Fields     []FieldError
	RetryAfter time.Duration // for CodeThrottled and CodeUnavailable
	Cause      error         // for logs only; never shown to clients
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Cause.Error()
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// Invalidf builds a CodeInvalid error.
func Invalidf(format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Message: fmt.Sprintf(format, args...)}
}

// InvalidProblems builds one CodeInvalid error from every problem found, each a clause
// such as "limit must be a whole number", joined into the one sentence a client reads.
func InvalidProblems(problems []string, fields []FieldError) *Error {
	// Not capitalised: a clause starts with a parameter's name, which is named as sent
	// (since, not Since), so a client can search its code for it.
	message := strings.Join(problems, "; ")
	if message != "" {
		message += "."
	}
	return &Error{Code: CodeInvalid, Message: message, Fields: fields}
}

// ErrorCode returns the code of err, CodeInternal for errors that are not *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
