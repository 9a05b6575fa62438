package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// cursor is where the next page starts: after the sort key SK of the last event returned.
// Sort keys are unique and totally ordered, so this holds across shards and days without
// remembering each partition's position. It carries the total counted on the first page
// and a digest of the filter, so it cannot be replayed against another query.
type cursor struct {
	SK      string `json:"sk"`
	Total   int    `json:"total"`
	Inexact bool   `json:"inexact,omitempty"` // Total is a lower bound
	Desc    bool   `json:"d,omitempty"`       // the page order it continues: newest first
	Filter  string `json:"f"`
}

var errBadCursor = &telemetry.Error{Code: telemetry.CodeInvalid,
	Message: "The cursor is not one this service issued or it was changed; start again without cursor."}

var errCursorOrder = &telemetry.Error{Code: telemetry.CodeInvalid,
	Message: "The cursor continues a query in the other order; send the same order as the first page, or start again without cursor."}

var errForeignCursor = &telemetry.Error{Code: telemetry.CodeInvalid,
	Message: "The cursor belongs to a query with other filters; send the same filters as the first page, or start again without cursor."}

func (s *Events) encodeCursor(c cursor, f telemetry.Filter) string {
	c.Filter = filterDigest(f)
	payload, _ := json.Marshal(c) // a struct of strings and an int always marshals
	body := base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(s.sign(body))
}

func (s *Events) decodeCursor(raw string, f telemetry.Filter) (cursor, error) {
	body, tag, ok := strings.Cut(raw, ".")
	if !ok {
		return cursor{}, errBadCursor
	}
	got, err := base64.RawURLEncoding.DecodeString(tag)
	if err != nil || !hmac.Equal(got, s.sign(body)) {
		return cursor{}, errBadCursor
	}
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return cursor{}, errBadCursor
	}
	var c cursor
	if err := json.Unmarshal(payload, &c); err != nil || len(c.SK) < len(telemetry.TimeLayout) {
		return cursor{}, errBadCursor
	}
	if c.Filter != filterDigest(f) {
		return cursor{}, errForeignCursor
	}
	return c, nil
}

func (s *Events) sign(body string) []byte {
	mac := hmac.New(sha256.New, s.opts.CursorSecret)
	mac.Write([]byte(body))
	return mac.Sum(nil)[:16]
}

// filterDigest names a filter by its content, independent of map order.
func filterDigest(f telemetry.Filter) string {
	var parts []string
	for field, v := range f.Equals {
		parts = append(parts, field+"="+v)
	}
	slices.Sort(parts)
	if f.IsInfraError != nil {
		parts = append(parts, "is_infra_error="+strconv.FormatBool(*f.IsInfraError))
	}
	if f.Retry != nil {
		parts = append(parts, "retry="+strconv.Itoa(*f.Retry))
	}
	if !f.Since.IsZero() {
		parts = append(parts, "since="+telemetry.FormatTime(f.Since))
	}
	if !f.Until.IsZero() {
		parts = append(parts, "until="+telemetry.FormatTime(f.Until))
	}
	// JSON keeps the parts apart whatever bytes the values hold.
	encoded, _ := json.Marshal(parts)
	sum := sha256.Sum256(encoded)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}
