package telemetry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	// maxNameLen bounds kind and runtime, which are also index keys.
	maxNameLen = 256
	// maxStringLen bounds the other string fields but error_msg.
	maxStringLen = 1024
	// maxErrorMsgLen fits KernelCI's scheduler, which sends tracebacks of about 5,000
	// characters as error_msg.
	maxErrorMsgLen = 16 << 10
	maxIDLen       = 128
	maxExtraBytes  = 8 << 10
	// maxExtraDepth is DynamoDB's limit on nested attributes, kept so extra could become
	// a map attribute without refusing what is stored today.
	maxExtraDepth = 32
	// MaxRetry bounds retry both ways: a value beyond ±MaxRetry is stored at the bound,
	// which every int and float64 it passes through holds exactly.
	MaxRetry = math.MaxInt32
	// MaxFutureSkew is how far ahead of its receipt an event may be stamped (ts, or a
	// pipeline's created_at); a later one is refused. Readers rely on it: no event lies
	// beyond now + MaxFutureSkew.
	MaxFutureSkew = 24 * time.Hour
)

// Decoded is one element of an ingest batch, in batch order: the event as far as it could
// be read, everything wrong with it, and the top-level fields pipetel does not know.
type Decoded struct {
	Event Event
	// Errors is empty for a valid event. Index is the element's position in the batch;
	// the order is stable: event-level problems (Field ""), then the fields in the order of
	// the API's field table, then unknown fields by name.
	Errors []FieldError
	// Warnings say what was stored other than as sent: values truncated to a bound, values
	// of the wrong type kept in extra, a ts too far ahead. Same order as Errors.
	Warnings []FieldError
	// UnknownFields are sorted; their values are kept under Event.Extra so nothing a
	// pipeline sent is lost, and the response names them so the sender learns of typos.
	UnknownFields []string
}

var decodeFieldRank = func() map[string]int {
	m := make(map[string]int, len(fieldRules))
	for i, f := range fieldRules {
		m[f.name] = i
	}
	return m
}()

var utf8BOM = []byte("\xef\xbb\xbf")

// DecodeBatch decodes and validates the body of POST /telemetry. now is when the request
// was received: the default ts and the reference for the future limit.
//
// A problem with the batch as a whole is an *Error (CodeInvalid, or CodeTooLarge for too
// many events or bytes). Otherwise there is one Decoded per array element, and an event is
// valid when its Errors is empty; valid events have their ID set. DecodeBatch never
// writes to body, and the events may share its memory (an Extra sent in canonical form is
// the body's own bytes), so body must not change while they are in use.
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
	if err := validJSON(body); err != nil {
		return nil, batchDecodeError(body, skipped, err)
	}
	switch trimmed[0] {
	case '[':
	case '{':
		return nil, Invalidf("The body is a JSON object; send a JSON array of events, even for one event.")
	case 'n':
		return nil, Invalidf("The body is JSON null; send a JSON array of events.")
	default:
		return nil, Invalidf("The body is a single JSON value (%s), not an array; send a JSON array of events.",
			describeJSON(trimmed[:1]))
	}
	elems, n := arrayElements(trimmed, MaxBatchEvents)
	if n == 0 {
		return nil, Invalidf("The event list is empty; send at least one event.")
	}
	if n > MaxBatchEvents {
		return nil, &Error{Code: CodeTooLarge, Message: fmt.Sprintf(
			"The batch has %d events, more than the %d allowed; split it.", n, MaxBatchEvents)}
	}
	now = now.UTC().Truncate(time.Microsecond)
	out := make([]Decoded, len(elems))
	for i, raw := range elems {
		out[i] = decodeEvent(i, raw, now)
	}
	return out, nil
}

// arrayElements returns the first limit elements of the valid JSON array arr as slices of
// it, and how many elements it has. Slicing rather than unmarshalling into
// json.RawMessage keeps the largest batch from being held twice while it is decoded.
func arrayElements(arr []byte, limit int) (elems [][]byte, n int) {
	i := skipJSONSpace(arr, 1)
	for i < len(arr) && arr[i] != ']' {
		end := endOfJSONValue(arr, i)
		if end < 0 {
			break // unreachable: arr is valid JSON
		}
		if n < limit {
			elems = append(elems, arr[i:end])
		}
		n++
		i = skipJSONSpace(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i = skipJSONSpace(arr, i+1)
		}
	}
	return elems, n
}

// maxStdlibDepth is how deep encoding/json nests before it refuses text that is valid
// JSON ("exceeded max depth"); the standard sets no such limit.
const maxStdlibDepth = 10000

// validJSON reports why body is not one JSON value: a *json.SyntaxError, or an *Error for
// text after the value. Nesting deeper than encoding/json's limit is valid here: such a
// value belongs to one event, which is refused or truncated on its own, not the batch.
func validJSON(body []byte) error {
	if json.Valid(body) {
		return nil
	}
	err := json.Unmarshal(body, new(json.RawMessage))
	var syn *json.SyntaxError
	if !errors.As(err, &syn) || jsonDepth(body) <= maxStdlibDepth {
		return err
	}
	// encoding/json's tokenizer keeps a stack of its own, without the scanner's limit.
	dec := json.NewDecoder(bytes.NewReader(body))
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err // io.EOF included: the body ended inside the value
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
		if depth == 0 {
			break
		}
	}
	end := int(dec.InputOffset())
	if rest := bytes.TrimLeft(body[end:], " \t\r\n"); len(rest) > 0 {
		line, col := lineColumn(body, len(body)-len(rest))
		return Invalidf("The body is not valid JSON: there is more after its value ends, at line %d, column %d (byte offset %d).",
			line, col, len(body)-len(rest))
	}
	return nil
}

func batchDecodeError(body []byte, skipped int, err error) error {
	var perr *Error
	if errors.As(err, &perr) {
		return perr
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return Invalidf("The body is not valid JSON: it ends after %d bytes, before the array is complete, so it was probably cut short.",
			len(body)+skipped)
	}
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
	index    int
	now      time.Time
	fields   map[string]json.RawMessage // fields whose text is sound; last wins on duplicates
	bad      map[string]bool            // fields already reported, to be treated as unusable
	errs     []FieldError
	warnings []FieldError
	moved    []movedValue // values of known fields that are kept in extra instead
	event    Event
}

// movedValue is a value a field could not hold, kept under extra rather than lost.
type movedValue struct {
	field, why string
	raw        json.RawMessage
}

func (d *eventDecoder) fail(field, format string, args ...any) {
	d.errs = append(d.errs, FieldError{Index: d.index, Field: field, Message: fmt.Sprintf(format, args...)})
	if field != "" {
		d.bad[field] = true
	}
}

func (d *eventDecoder) warn(field, format string, args ...any) {
	d.warnings = append(d.warnings, FieldError{Index: d.index, Field: field, Message: fmt.Sprintf(format, args...)})
}

// truncated warns and marks the event: the stored value of field is not the one sent.
func (d *eventDecoder) truncated(field, format string, args ...any) {
	d.warn(field, format, args...)
	if !slices.Contains(d.event.Truncated, field) {
		d.event.Truncated = append(d.event.Truncated, field)
	}
}

// keep moves a value the field cannot hold into extra, with a warning saying why.
func (d *eventDecoder) keep(field string, raw json.RawMessage, why string) {
	d.moved = append(d.moved, movedValue{field: field, why: why, raw: raw})
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
	for _, rule := range fieldRules {
		if rule.read == nil {
			continue
		}
		v := d.value(rule.name)
		if v == nil && rule.name != "kind" && rule.name != "runtime" && rule.name != "ts" {
			continue
		}
		rule.read(d, rule.name, v)
	}
	unknown := d.extra()

	slices.SortStableFunc(d.errs, compareFieldErrors)
	slices.SortStableFunc(d.warnings, compareFieldErrors)
	if len(d.errs) == 0 && d.event.ID == "" {
		d.event.ID = DeriveID(&d.event)
	}
	if len(d.errs) > 0 && d.bad["id"] {
		d.event.ID = ""
	}
	return Decoded{Event: d.event, Errors: d.errs, Warnings: d.warnings, UnknownFields: unknown}
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
	// Python's json module, which KernelCI reads bodies with, keeps the last of duplicate
	// names; so does pipetel, and says so.
	for _, name := range dups {
		d.warn(name, "appears more than once in the event; the last value was stored")
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

// MaxDurationSeconds bounds duration: no job runs longer, and DynamoDB's numbers cannot
// hold every float64.
const MaxDurationSeconds = 1e9

// extra builds Event.Extra from the extra field, the unknown top-level fields and the
// values known fields could not hold, and returns the names of the unknown fields. An
// extra over maxExtraBytes or maxExtraDepth is replaced by the start of its JSON text.
func (d *eventDecoder) extra() []string {
	merged := map[string]any{}
	if raw := d.value("extra"); raw != nil {
		if raw[0] != '{' {
			d.keep("extra", raw, "must be a JSON object, not "+describeJSON(raw))
		} else if err := decodeJSONValue(raw, &merged); err != nil {
			if depth := jsonDepth(raw); depth > maxStdlibDepth {
				// Too deep to decode, but text like any extra over maxExtraDepth: kept
				// the same way, as the start of its text.
				d.truncated("extra", "is %d levels deep, more than the %d allowed; stored as the start of its JSON text under %q",
					depth, maxExtraDepth, extraTruncatedKey)
				merged = map[string]any{}
				_ = json.Unmarshal(truncatedExtra(raw), &merged)
			} else {
				d.fail("extra", "is not a JSON object pipetel can read")
			}
		}
	}
	var unknown []string
	for name := range d.fields {
		if _, known := decodeFieldRank[name]; !known {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	put := func(name string, raw json.RawMessage) (string, bool) {
		var v any
		if err := decodeJSONValue(raw, &v); err != nil {
			depth := jsonDepth(raw)
			if depth <= maxStdlibDepth {
				d.fail(name, "could not be read")
				return "", false
			}
			// Too deep to decode, as any value over maxExtraDepth would be truncated:
			// kept the same way, as the start of its JSON text.
			d.truncated(name, "is %d levels deep, more than the %d allowed; kept in extra as the start of its JSON text", depth, maxExtraDepth)
			var kept map[string]any
			_ = json.Unmarshal(truncatedExtra(raw), &kept)
			v = kept[extraTruncatedKey]
		}
		key := name
		for hasKey(merged, key) {
			key = "_" + key
		}
		merged[key] = v
		return key, true
	}
	for _, name := range unknown {
		if d.bad[name] {
			continue
		}
		if key, ok := put(name, d.fields[name]); ok && key != name {
			d.warn(name, "is not a known field and extra already has a key %q, so it is kept in extra as %q", name, key)
		}
	}
	for _, m := range d.moved {
		if key, ok := put(m.field, m.raw); ok {
			d.warn(m.field, "%s; the value sent, %s, is kept in extra as %q", m.why, clip(m.raw, 64), key)
		}
	}
	if len(merged) == 0 {
		return unknown
	}
	enc, err := encodeCompactJSON(merged)
	if err != nil {
		d.fail("extra", "could not be encoded")
		return unknown
	}
	if raw := d.value("extra"); bytes.Equal(enc, raw) {
		// Sent in canonical form, as emitters that sort keys send it: keep the body's own
		// bytes, so a batch of large extras is not held twice. The capacity is cut so an
		// append can never write into the body.
		enc = raw[:len(raw):len(raw)]
	}
	depth := jsonDepth(enc)
	if len(enc) > maxExtraBytes || depth > maxExtraDepth {
		d.truncated("extra", "is %d bytes and %d levels deep as compact JSON (with any fields kept in it), more than the %d bytes and %d levels allowed; stored as the start of its JSON text under %q",
			len(enc), depth, maxExtraBytes, maxExtraDepth, extraTruncatedKey)
		enc = truncatedExtra(enc)
	}
	d.event.Extra = enc
	return unknown
}

// extraTruncatedKey holds the start of the JSON text of an extra too large or too deep.
const extraTruncatedKey = "truncated_json"

// truncatedExtra is {"truncated_json": "<start of text>"}, at most maxExtraBytes encoded.
func truncatedExtra(text []byte) json.RawMessage {
	n := maxExtraBytes
	for {
		cut := text[:min(n, len(text))]
		for len(cut) > 0 && !utf8.Valid(cut) {
			cut = cut[:len(cut)-1]
		}
		enc, _ := encodeCompactJSON(map[string]string{extraTruncatedKey: string(cut)})
		if len(enc) <= maxExtraBytes {
			return enc
		}
		// Escaping can grow the text by up to six times, so shrink in proportion.
		n = max(0, min(n-1, n*maxExtraBytes/len(enc)))
	}
}

// jsonDepth is the nesting depth of valid JSON text: 1 for a flat object.
func jsonDepth(text []byte) int {
	depth, deepest := 0, 0
	inString := false
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

// clip is raw for a message, cut to about n bytes.
func clip(raw []byte, n int) string {
	if len(raw) <= n {
		return string(raw)
	}
	return truncateRunes(string(raw), n) + "…"
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
	if ra == len(fieldRules) {
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
	return len(fieldRules)
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
const idEncoding = "pipetel-event/2\n"

// DeriveID returns the idempotency key of an event that came without one: the first 24
// hex digits (the shape of KernelCI's ObjectId, which its model requires of id) of the
// SHA-256 of a canonical encoding of its content and ts, so that re-posting the same
// event yields the same id. An event sent without ts was stamped with the time received,
// so each sending of it is a distinct occurrence, as KernelCI counts it. ID and ReceivedAt
// are not content. Extra is hashed as is, so it must be in the canonical form DecodeBatch
// makes.
//
// Absent and default values encode alike (no result and "", false and no is_infra_error),
// because they mean the same thing.
func DeriveID(e *Event) string {
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
	put("ts", FormatTime(e.TS))
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
	return hex.EncodeToString(sum[:12])
}

var (
	errNotISOTime = errors.New("is not an ISO 8601 time such as 2026-08-20T14:03:11Z")
	errTimeRange  = errors.New("is outside the years 0001 to 9999 once converted to UTC")
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
	// Python's datetime (KernelCI's model) reads years 1 to 9999, and TimeLayout's
	// four-digit year keeps stored keys sorted by time within them. So the earliest time,
	// 0001-01-01T00:00:00Z, is also Go's zero time: a since of it bounds nothing.
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, errTimeRange
	}
	return t, nil
}
