package api

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestErrorAnswersStayWithinTheResponseLimit: a 400 quoting what the client sent cannot
// grow past Lambda's response limit, however large or many the quoted values are.
func TestErrorAnswersStayWithinTheResponseLimit(t *testing.T) {
	huge := strings.Repeat("é", 3_146_000) // a 6 MB id, as a client sent one
	fields := make([]telemetry.FieldError, 10_000)
	for i := range fields {
		fields[i] = telemetry.FieldError{Index: i, Field: "id", Message: "is not a valid id: " + huge[:4000]}
	}
	err := &telemetry.Error{Code: telemetry.CodeInvalid, Message: "id " + huge + " is invalid", Fields: fields}
	resp := errorResponse(err, "req-1")
	if resp.StatusCode != 400 {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	if n := len(resp.Body); n > MaxPayloadBytes/2 {
		t.Errorf("error answer of %d bytes; want well under the %d-byte limit", n, MaxPayloadBytes)
	}
	if !utf8.ValidString(resp.Body) || !strings.Contains(resp.Body, "errors lists the first") {
		t.Errorf("answer not valid UTF-8 or not saying the list was cut: %.300s", resp.Body)
	}
	// Small answers are left as they are.
	small := errorResponse(&telemetry.Error{Code: telemetry.CodeInvalid, Message: "limit \"x\" is not a number.",
		Fields: []telemetry.FieldError{{Index: -1, Field: "limit", Message: "is not a number"}}}, "req-2")
	if !strings.Contains(small.Body, `"detail":"limit \"x\" is not a number."`) || !strings.Contains(small.Body, `"message":"is not a number"`) {
		t.Errorf("small answer changed: %s", small.Body)
	}
}
