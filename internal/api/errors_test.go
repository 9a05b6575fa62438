package api

import (
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestRetryAfterRoundsUpToWholeSeconds: Retry-After is whole seconds (RFC 9110 §10.2.3),
// never fewer than the store asked for, so a client does not come back early.
func TestRetryAfterRoundsUpToWholeSeconds(t *testing.T) {
	for _, tc := range []struct {
		wait time.Duration
		want string
	}{
		{time.Nanosecond, "1"},
		{time.Second, "1"},
		{time.Second + time.Nanosecond, "2"},
		{1500 * time.Millisecond, "2"},
		{30 * time.Second, "30"},
	} {
		resp := errorResponse(&telemetry.Error{Code: telemetry.CodeThrottled, Message: "Slow down.", RetryAfter: tc.wait}, "req-1")
		if resp.StatusCode != 429 || resp.Headers["Retry-After"] != tc.want {
			t.Errorf("wait %v: status %d, Retry-After %q; want 429, %q", tc.wait, resp.StatusCode, resp.Headers["Retry-After"], tc.want)
		}
	}
	if resp := errorResponse(&telemetry.Error{Code: telemetry.CodeInvalid, Message: "Bad."}, "req-1"); resp.Headers["Retry-After"] != "" {
		t.Errorf("Retry-After %q on an answer without a wait", resp.Headers["Retry-After"])
	}
}

// TestCutTextKeepsWholeCharacters: a message is cut to at most n bytes and a mark, on a
// character boundary, and one of exactly n bytes is left whole.
func TestCutTextKeepsWholeCharacters(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abcd", 4, "abcd"},
		{"abcde", 4, "abcd…"},
		{"abcé", 5, "abcé"},
		{"abcé", 4, "abc…"},
		{"ab€x", 4, "ab…"},
		{"ab€x", 5, "ab€…"},
		{"€€", 3, "€…"},
	} {
		if got := cutText(tc.s, tc.n); got != tc.want {
			t.Errorf("cutText(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

// TestBoundErrorsCountsEachProblem: the errors list ends at maxErrorsBytes counting each
// problem's text and 64 bytes for its index, keys and quoting, and says where it ended.
func TestBoundErrorsCountsEachProblem(t *testing.T) {
	msg := strings.Repeat("m", maxMessageBytes-64-1) // with field "f" and 64: maxMessageBytes each
	fields := make([]telemetry.FieldError, maxErrorsBytes/maxMessageBytes+1)
	for i := range fields {
		fields[i] = telemetry.FieldError{Index: i, Field: "f", Message: msg}
	}
	detail, out := boundErrors("Bad.", fields[:len(fields)-1])
	if len(out) != len(fields)-1 || detail != "Bad." {
		t.Errorf("%d problems filling the bound exactly: kept %d, detail %q", len(fields)-1, len(out), detail)
	}
	detail, out = boundErrors("Bad.", fields)
	want := "Bad. (errors lists the first 2048 of 2049 problems, to fit the response limit.)"
	if len(out) != len(fields)-1 || detail != want {
		t.Errorf("one problem past the bound: kept %d, detail %q; want %d, %q", len(out), detail, len(fields)-1, want)
	}
	if detail, out := boundErrors(strings.Repeat("d", 4*maxMessageBytes+1), nil); out != nil || len(detail) != 4*maxMessageBytes+len("…") {
		t.Errorf("detail of %d bytes, errors %v; want %d bytes and none", len(detail), out, 4*maxMessageBytes+len("…"))
	}
}

// TestGatewayErrorNamesAllowedMethods: a 405 names the methods the path takes in Allow
// (RFC 9110 §15.5.6), and other answers carry no Allow header at all.
func TestGatewayErrorNamesAllowedMethods(t *testing.T) {
	resp := GatewayError(405, []string{"GET", "POST"}, "req-1")
	if resp.StatusCode != 405 || resp.Headers["Allow"] != "GET, POST" {
		t.Errorf("405: status %d, Allow %q; want 405, %q", resp.StatusCode, resp.Headers["Allow"], "GET, POST")
	}
	resp = GatewayError(404, nil, "req-1")
	if allow, ok := resp.Headers["Allow"]; resp.StatusCode != 404 || ok {
		t.Errorf("404: status %d, Allow %q present; want 404 without Allow", resp.StatusCode, allow)
	}
}
