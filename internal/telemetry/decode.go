package telemetry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of one POST /telemetry request.
const (
	// MaxBodyBytes is the Lambda synchronous payload limit: a larger body never reaches the
	// function intact, so the API refuses it (413) before decoding.
	MaxBodyBytes = 6 << 20
	// MaxBatchEvents bounds the work one request can cause, as KernelCI does.
	MaxBatchEvents = 10000
)

const (
	maxKindLen     = 64
	maxRuntimeLen  = 128
	maxStringLen   = 256
	maxErrorMsgLen = 4096
	maxIDLen       = 128
	maxExtraBytes  = 8192
	maxRetry       = math.MaxInt32 // keeps Retry exact in every int and float64 it passes through
	maxFutureSkew  = 24 * time.Hour
)

// Decoded is one element of an ingest batch, in batch order: the event as far as it could
// be read, everything wrong with it, and the top-level fields pipetel does not know.
type Decoded struct {
	Event Event
	// Errors is empty for a valid event. Index is the element's position in the batch;
	// the order is stable: event-level problems (Field ""), then the fields in the order of
	// the API's field table, then unknown fields by name.
	Errors []FieldError
	// UnknownFields are sorted; their values are kept under Event.Extra so nothing a
	// pipeline sent is lost, and the response names them so the sender learns of typos.
	UnknownFields []string
}

// decodeFieldOrder is the field table of POST /telemetry; errors are reported in this order.
var decodeFieldOrder = []string{
	"kind", "runtime", "ts", "device_type", "device_id", "job_name", "test_name", "job_id",
	"node_id", "tree", "branch", "arch", "error_type", "result", "is_infra_error",
	"error_msg", "retry", "duration", "id", "extra",
}

var decodeFieldRank = func() map[string]int {
	m := make(map[string]int, len(decodeFieldOrder))
	for i, f := range decodeFieldOrder {
		m[f] = i
	}
	return m
}()

// boundedStringFields are the optional free-form string fields, in table order. result is
// absent because it is an enumeration, error_msg because its limit differs.
var boundedStringFields = []string{
	"device_type", "device_id", "job_name", "test_name", "job_id", "node_id", "tree",
	"branch", "arch", "error_type",
}

var utf8BOM = []byte("\xef\xbb\xbf")

// DecodeBatch decodes and validates the body of POST /telemetry. now is when the request
// was received: the default ts and the reference for the future limit.
//
// A problem with the batch as a whole is an *Error (CodeInvalid, or CodeTooLarge for too
// many events or bytes). Otherwise there is one Decoded per array element, and an event is
// valid when its Errors is empty; valid events have their ID set.
func DecodeBatch(body []byte, now time.Time) ([]Decoded, error) {
	if len(body) > MaxBodyBytes {
		return nil, &Error{Code: CodeTooLarge, Message: fmt.Sprintf(
			"The body is larger than %d bytes (6 MB), the most one request can carry; split the batch.", MaxBodyBytes)}
	}
	// RFC 8259 lets parsers ignore a byte order mark, and some HTTP clients on Windows add
	// one; refusing it would only puzzle their users.
	skipped := 0
	if bytes.HasPrefix(body, utf8BOM) {
		body, skipped = body[len(utf8BOM):], len(utf8BOM)
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, Invalidf("The body is empty; send a JSON array of events.")
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(body, &elems); err != nil {
		return nil, batchDecodeError(body, skipped, trimmed[0], err)
	}
	if trimmed[0] != '[' { // a top-level null unmarshals into a nil slice without error
		return nil, Invalidf("The body is JSON null; send a JSON array of events.")
	}
	if len(elems) == 0 {
		return nil, Invalidf("The event list is empty; send at least one event.")
	}
	if len(elems) > MaxBatchEvents {
		return nil, &Error{Code: CodeTooLarge, Message: fmt.Sprintf(
			"The batch has %d events, more than the %d allowed; split it.", len(elems), MaxBatchEvents)}
	}
	now = now.UTC().Truncate(time.Microsecond)
	out := make([]Decoded, len(elems))
	for i, raw := range elems {
		out[i] = decodeEvent(i, raw, now)
	}
	return out, nil
}

func batchDecodeError(body []byte, skipped int, first byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		// Bad bytes outside strings are what breaks the syntax, so name the real cause:
		// the client sent Latin-1 or UTF-16, not JSON with a typo.
		if !utf8.Valid(body) {
			return Invalidf("The body is not valid UTF-8 (the first bad byte is at offset %d); send the events as UTF-8 JSON.",
				firstInvalidUTF8(body)+skipped)
		}
		// encoding/json has no error value for a truncated body, only this text.
		if strings.HasPrefix(syn.Error(), "unexpected end of JSON input") {
			return Invalidf("The body is not valid JSON: it ends after %d bytes, before the array is complete, so it was probably cut short.",
				len(body)+skipped)
		}
		// Offset counts the offending byte as read.
		pos := max(int(syn.Offset)-1, 0)
		line, col := lineColumn(body, pos) // an editor does not show the BOM as a column
		return Invalidf("The body is not valid JSON: %s at line %d, column %d (byte offset %d).",
			syn.Error(), line, col, pos+skipped)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		if first == '{' {
			return Invalidf("The body is a JSON object; send a JSON array of events, even for one event.")
		}
		return Invalidf("The body is a single JSON value (%s), not an array; send a JSON array of events.",
			describeJSON([]byte{first}))
	}
	return &Error{Code: CodeInternal, Message: "The body could not be decoded.", Cause: err}
}

// lineColumn gives the 1-based line and column (in characters) of byte pos, which is what
// an editor shows a person looking for the mistake.
func lineColumn(body []byte, pos int) (line, col int) {
	before := body[:pos]
	line = 1 + bytes.Count(before, []byte{'\n'})
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	return line, 1 + utf8.RuneCount(before[lineStart:])
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// eventDecoder carries on past the first problem of an element, because the API answers
// with every problem of every event at once.
type eventDecoder struct {
	index  int
	now    time.Time
	fields map[string]json.RawMessage // fields whose text is sound; last wins on duplicates
	bad    map[string]bool            // fields already reported, to be treated as unusable
	errs   []FieldError
	event  Event
}

func (d *eventDecoder) fail(field, format string, args ...any) {
	d.errs = append(d.errs, FieldError{Index: d.index, Field: field, Message: fmt.Sprintf(format, args...)})
	if field != "" {
		d.bad[field] = true
	}
}

func decodeEvent(index int, raw []byte, now time.Time) Decoded {
	d := &eventDecoder{
		index:  index,
		now:    now,
		fields: make(map[string]json.RawMessage, 24),
		bad:    map[string]bool{},
	}
	d.event.ReceivedAt = now
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if raw[0] != '{' {
		d.fail("", "must be a JSON object (one event), not %s", describeJSON(raw))
		return Decoded{Event: d.event, Errors: d.errs}
	}
	if !d.split(raw) {
		return Decoded{Event: d.event, Errors: d.errs}
	}

	e := &d.event
	e.Kind = d.requiredString("kind", `for example "job_result"`)
	if e.Kind != "" && !validKind(e.Kind) {
		d.fail("kind", "must be 1 to %d characters from a-z, 0-9, '_', '.' and '-', such as job_result", maxKindLen)
	}
	e.Runtime = d.requiredString("runtime", `for example "lava-collabora"`)
	d.checkLength("runtime", e.Runtime, maxRuntimeLen)
	tsGiven := d.timestamp()
	for _, name := range boundedStringFields {
		s := d.optionalString(name)
		d.checkLength(name, s, maxStringLen)
		e.SetStringField(name, s)
	}
	if r := d.optionalString("result"); r != "" {
		switch r {
		case ResultPass, ResultFail, ResultSkip, ResultIncomplete, ResultUnknown:
			e.Result = r
		default:
			d.fail("result", "must be one of pass, fail, skip, incomplete, unknown")
		}
	}
	e.IsInfraError = d.boolean("is_infra_error")
	e.ErrorMsg = d.optionalString("error_msg")
	d.checkLength("error_msg", e.ErrorMsg, maxErrorMsgLen)
	e.Retry = d.retry()
	e.Duration = d.duration()
	id := d.optionalString("id")
	if id != "" && !validID(id) {
		d.fail("id", "must be 1 to %d characters from A-Z, a-z, 0-9, '.', '_', ':' and '-'", maxIDLen)
	}
	unknown := d.extra()

	slices.SortStableFunc(d.errs, compareFieldErrors)
	switch {
	case id != "" && !d.bad["id"]:
		e.ID = id
	case len(d.errs) == 0:
		e.ID = DeriveID(e, tsGiven)
	}
	return Decoded{Event: d.event, Errors: d.errs, UnknownFields: unknown}
}

// split reads the top-level members of the object, reporting duplicates and text that is
// not valid UTF-8. It reports false when the object could not be read at all.
func (d *eventDecoder) split(raw []byte) bool {
	// encoding/json would replace bad bytes with U+FFFD without a word, so they are looked
	// for here, before anything is decoded; most events are clean and skip the search.
	checkText := textProblem(raw) != ""
	badName := false
	var dups []string
	ok := eachMember(raw, func(nameText, value []byte) {
		if checkText {
			if textProblem(nameText) != "" {
				badName = true
				return
			}
			name := unquoteJSON(nameText)
			if p := textProblem(value); p != "" {
				if !d.bad[name] {
					d.fail(name, "%s", p)
				}
				return
			}
		}
		name := unquoteJSON(nameText)
		if _, seen := d.fields[name]; seen && !slices.Contains(dups, name) {
			dups = append(dups, name)
		}
		d.fields[name] = value
	})
	if !ok {
		d.fail("", "is not a JSON object pipetel can read")
		return false
	}
	if badName {
		d.fail("", "has a field name that is not valid UTF-8")
	}
	for _, name := range dups {
		d.fail(name, "appears more than once in the event; send each field once")
	}
	return true
}

// eachMember calls fn with the quoted name and the value of each member of obj, in order.
// obj has already been validated as JSON, so this only needs to find where things end;
// going through encoding/json's tokenizer instead took most of the decoding time. It
// reports false, rather than going out of bounds, should obj be malformed after all.
func eachMember(obj []byte, fn func(nameText, value []byte)) bool {
	i := skipJSONSpace(obj, 1)
	if i < len(obj) && obj[i] == '}' {
		return true
	}
	for i < len(obj) {
		nameEnd := endOfJSONValue(obj, i)
		if obj[i] != '"' || nameEnd < 0 {
			return false
		}
		colon := skipJSONSpace(obj, nameEnd)
		if colon >= len(obj) || obj[colon] != ':' {
			return false
		}
		valStart := skipJSONSpace(obj, colon+1)
		valEnd := endOfJSONValue(obj, valStart)
		if valEnd < 0 {
			return false
		}
		fn(obj[i:nameEnd], obj[valStart:valEnd])
		next := skipJSONSpace(obj, valEnd)
		if next >= len(obj) {
			return false
		}
		switch obj[next] {
		case '}':
			return true
		case ',':
			i = skipJSONSpace(obj, next+1)
		default:
			return false
		}
	}
	return false
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// endOfJSONValue returns the index just past the value starting at b[i], or -1.
func endOfJSONValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return -1
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := endOfJSONValue(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[j])) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// textProblem says what is wrong with the text of JSON value raw, or "" when nothing is:
// bytes that are not UTF-8, or a \u escape of half a UTF-16 surrogate pair, which decodes
// to no character at all.
func textProblem(raw []byte) string {
	if !utf8.Valid(raw) {
		return "is not valid UTF-8"
	}
	if bytes.Contains(raw, []byte(`\u`)) && hasLoneSurrogate(raw) {
		return `has a \u escape of an unpaired UTF-16 surrogate, which is not a character`
	}
	return ""
}

func hasLoneSurrogate(raw []byte) bool {
	// Backslashes only occur inside strings of valid JSON, so escapes can be walked
	// without tracking where strings begin and end.
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i+1 >= len(raw) || raw[i+1] != 'u' {
			i++ // skip the escaped character, which may itself be a backslash
			continue
		}
		r := hex4(raw, i+2)
		i += 5
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return true
			}
			if lo := hex4(raw, i+3); lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 6
		}
	}
	return false
}

// hex4 reads four hex digits at raw[i:], or returns -1.
func hex4(raw []byte, i int) int {
	if i+4 > len(raw) {
		return -1
	}
	n, err := strconv.ParseUint(string(raw[i:i+4]), 16, 16)
	if err != nil {
		return -1
	}
	return int(n)
}

// value returns the raw value of a field, or nil when it is absent, null, or was already
// reported as unusable: null means absent for every field, as in KernelCI's model.
func (d *eventDecoder) value(name string) json.RawMessage {
	raw, ok := d.fields[name]
	if !ok || d.bad[name] || string(raw) == "null" {
		return nil
	}
	return raw
}

// optionalString returns the field's string, "" when absent, empty or of the wrong type.
func (d *eventDecoder) optionalString(name string) string {
	raw := d.value(name)
	if raw == nil {
		return ""
	}
	if raw[0] != '"' {
		d.fail(name, "must be a string, not %s", describeJSON(raw))
		return ""
	}
	return unquoteJSON(raw)
}

func (d *eventDecoder) requiredString(name, example string) string {
	if d.bad[name] {
		return ""
	}
	s := d.optionalString(name)
	if s == "" && !d.bad[name] {
		d.fail(name, "is required, %s", example)
	}
	return s
}

// checkLength counts characters as Python's len() does, code points, so a value KernelCI
// accepts is accepted here; bytes would penalise non-Latin scripts.
func (d *eventDecoder) checkLength(name, s string, limit int) {
	if len(s) <= limit { // fewer bytes than the limit means fewer characters too
		return
	}
	if n := utf8.RuneCountInString(s); n > limit {
		d.fail(name, "must be at most %d characters (Unicode code points), not %d", limit, n)
	}
}

func unquoteJSON(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		// Valid JSON without escapes: the text between the quotes is the string itself.
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "" // unreachable: the body was validated as a whole
	}
	return s
}

// timestamp sets TS and reports whether the client gave it.
func (d *eventDecoder) timestamp() bool {
	d.event.TS = d.now
	raw := d.value("ts")
	if raw == nil {
		return false
	}
	if raw[0] != '"' {
		d.fail("ts", "must be a string such as 2026-08-20T14:03:11Z, not %s", describeJSON(raw))
		return false
	}
	s := unquoteJSON(raw)
	if s == "" {
		return false
	}
	t, err := ParseTime(s)
	if err != nil {
		d.fail("ts", "%s", err.Error())
		return false
	}
	t = t.Truncate(time.Microsecond)
	if t.After(d.now.Add(maxFutureSkew)) {
		d.fail("ts", "is more than 24 hours in the future (the server's time is %s)", FormatTime(d.now))
		return false
	}
	d.event.TS = t
	return true
}

func (d *eventDecoder) boolean(name string) bool {
	raw := d.value(name)
	switch {
	case raw == nil:
		return false
	case string(raw) == "true":
		return true
	case string(raw) == "false":
		return false
	}
	d.fail(name, "must be true or false, not %s", describeJSON(raw))
	return false
}

func (d *eventDecoder) retry() int {
	raw := d.value("retry")
	if raw == nil {
		return 0
	}
	if !isJSONNumber(raw) {
		d.fail("retry", "must be a whole number such as 0 or 2, not %s", describeJSON(raw))
		return 0
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return d.checkRetry(float64(n), raw)
	}
	// Some emitters hold every number as a float and write 2 as 2.0; that is still 2.
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !math.IsInf(f, 0) {
		d.fail("retry", "must be a whole number such as 0 or 2")
		return 0
	}
	if f != math.Trunc(f) {
		d.fail("retry", "must be a whole number, not %s", raw)
		return 0
	}
	return d.checkRetry(f, raw)
}

func (d *eventDecoder) checkRetry(f float64, raw []byte) int {
	switch {
	case f < 0:
		d.fail("retry", "must be 0 or more, not %s", raw)
	case f > maxRetry:
		d.fail("retry", "must be at most %d", maxRetry)
	default:
		return int(f)
	}
	return 0
}

func (d *eventDecoder) duration() *float64 {
	raw := d.value("duration")
	if raw == nil {
		return nil
	}
	if !isJSONNumber(raw) {
		d.fail("duration", "must be a number of seconds, not %s", describeJSON(raw))
		return nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	switch {
	case f < 0:
		d.fail("duration", "must be 0 or more seconds, not %s", raw)
		return nil
	case err != nil || f > MaxDurationSeconds:
		d.fail("duration", "must be at most %d seconds (about 31 years)", int64(MaxDurationSeconds))
		return nil
	}
	// Microseconds are as fine as ts goes; rounding also keeps values like 1e-200, which
	// DynamoDB cannot store, from failing the whole write batch they land in.
	f = math.Round(f*1e6) / 1e6
	if f == 0 {
		f = 0 // -0 would store and hash unlike 0
	}
	return &f
}

// MaxDurationSeconds bounds duration: no job runs longer, and DynamoDB's numbers cannot
// hold every float64.
const MaxDurationSeconds = 1e9

// extra builds Event.Extra from the extra field and the unknown top-level fields, and
// returns the names of the latter.
func (d *eventDecoder) extra() []string {
	merged := map[string]any{}
	if raw := d.value("extra"); raw != nil {
		if raw[0] != '{' {
			d.fail("extra", "must be a JSON object, not %s", describeJSON(raw))
		} else if err := decodeJSONValue(raw, &merged); err != nil {
			d.fail("extra", "is not a JSON object pipetel can read")
		}
	}
	var unknown []string
	for name := range d.fields {
		if _, known := decodeFieldRank[name]; !known {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		if d.bad[name] {
			continue
		}
		if _, taken := merged[name]; taken {
			d.fail(name, "is not a known field, so it would be kept under extra, but extra already has a key %q; rename one of them", name)
			continue
		}
		var v any
		if err := decodeJSONValue(d.fields[name], &v); err != nil {
			d.fail(name, "could not be read")
			continue
		}
		merged[name] = v
	}
	if len(merged) == 0 {
		return unknown
	}
	enc, err := encodeCompactJSON(merged)
	if err != nil {
		d.fail("extra", "could not be encoded")
		return unknown
	}
	if len(enc) > maxExtraBytes {
		d.fail("extra", "is %d bytes as compact JSON (with any unknown fields kept in it), more than the %d allowed",
			len(enc), maxExtraBytes)
		return unknown
	}
	d.event.Extra = enc
	return unknown
}

// decodeJSONValue keeps numbers as their text: a float64 would turn 1.0 into 1 and round
// large integers, and extra is the pipeline's data, not ours to alter.
func decodeJSONValue(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

// encodeCompactJSON writes v compactly with map keys sorted, so equal content gives equal
// bytes (and equal ids), without the HTML escaping that would inflate the size counted
// against the limit.
func encodeCompactJSON(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

func compareFieldErrors(a, b FieldError) int {
	ra, rb := decodeErrorRank(a.Field), decodeErrorRank(b.Field)
	if ra != rb {
		return ra - rb
	}
	if ra == len(decodeFieldOrder) {
		return strings.Compare(a.Field, b.Field)
	}
	return 0
}

func decodeErrorRank(field string) int {
	if field == "" {
		return -1
	}
	if r, ok := decodeFieldRank[field]; ok {
		return r
	}
	return len(decodeFieldOrder)
}

func isJSONNumber(raw []byte) bool {
	return raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')
}

// describeJSON names the type of a JSON value by its first byte, for "must be X, not Y".
func describeJSON(raw []byte) string {
	switch raw[0] {
	case '"':
		return "a string"
	case 't', 'f':
		return "true or false"
	case 'n':
		return "null"
	case '[':
		return "an array"
	case '{':
		return "an object"
	}
	return "a number"
}

func validKind(s string) bool {
	if len(s) < 1 || len(s) > maxKindLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func validID(s string) bool {
	if len(s) < 1 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// idEncoding opens every canonical encoding. Changing the encoding changes every derived
// id and so breaks de-duplication against events stored before the change: bump it only
// on purpose.
const idEncoding = "pipetel-event/1\n"

// DeriveID returns the idempotency key of an event that came without one: the first 32 hex
// digits of the SHA-256 of a canonical encoding of its content, so that re-posting the
// same event yields the same id. tsGiven says whether the client sent ts; a ts defaulted to
// the time of receipt differs on every retry, so it is left out. ID and ReceivedAt are not
// content. Extra is hashed as is, so it must be in the canonical form DecodeBatch makes.
//
// Absent and default values encode alike (no result and "", false and no is_infra_error),
// because they mean the same thing.
func DeriveID(e *Event, tsGiven bool) string {
	buf := make([]byte, 0, 512)
	buf = append(buf, idEncoding...)
	// Each field is name, byte length and bytes, so no two contents share an encoding
	// whatever their values contain.
	put := func(name, value string) {
		if value == "" {
			return
		}
		buf = append(buf, name...)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(len(value)), 10)
		buf = append(buf, ' ')
		buf = append(buf, value...)
		buf = append(buf, '\n')
	}
	put("kind", e.Kind)
	put("runtime", e.Runtime)
	if tsGiven {
		put("ts", FormatTime(e.TS))
	}
	for _, name := range StringFields {
		v, _ := e.StringField(name)
		put(name, v)
	}
	if e.IsInfraError {
		put("is_infra_error", "true")
	}
	if e.Retry != 0 {
		put("retry", strconv.Itoa(e.Retry))
	}
	if e.Duration != nil {
		d := *e.Duration
		if d == 0 {
			d = 0 // -0 is the same duration
		}
		put("duration", strconv.FormatFloat(d, 'g', -1, 64))
	}
	put("extra", string(e.Extra))
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:16])
}

var (
	errNotISOTime = errors.New("is not an ISO 8601 time such as 2026-08-20T14:03:11Z")
	errTimeRange  = errors.New("is outside the years 0000 to 9999 once converted to UTC")
)

// isoTimeLayouts are the ISO 8601 extended forms accepted after a date, most common first.
// time.Parse takes a fractional second after the seconds without it being in the layout.
var isoTimeLayouts = []string{
	"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05Z07",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04Z07:00", "2006-01-02T15:04Z0700", "2006-01-02T15:04Z07",
	"2006-01-02T15:04",
}

// ParseTime reads an ISO 8601 / RFC 3339 time as pipelines write it: with an offset (Z,
// +00:00, +0200, +02) or none, meaning UTC as in KernelCI; with or without fractional
// seconds or seconds; with T, t or a space between date and time; or a date alone, meaning
// its midnight UTC. The result is in UTC at full precision. The error's text completes a
// sentence that starts with the parameter's name.
func ParseTime(s string) (time.Time, error) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, errNotISOTime
	}
	var t time.Time
	var err error
	if len(s) == 10 {
		t, err = time.Parse(time.DateOnly, s)
	} else {
		// The fixed positions also rule out the one-digit hours time.Parse would accept.
		if len(s) < 16 || s[13] != ':' {
			return time.Time{}, errNotISOTime
		}
		switch s[10] {
		case 'T':
		case 't', ' ':
			s = s[:10] + "T" + s[11:]
		default:
			return time.Time{}, errNotISOTime
		}
		if s[len(s)-1] == 'z' {
			s = s[:len(s)-1] + "Z"
		}
		for _, layout := range isoTimeLayouts {
			if t, err = time.Parse(layout, s); err == nil {
				break
			}
		}
	}
	if err != nil {
		return time.Time{}, errNotISOTime
	}
	t = t.UTC()
	// TimeLayout has a four-digit year; outside it, stored keys would no longer sort by time.
	if t.Year() < 0 || t.Year() > 9999 {
		return time.Time{}, errTimeRange
	}
	return t, nil
}
