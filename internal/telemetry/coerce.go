package telemetry

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The rules below follow KernelCI's TelemetryEvent (kernelci-core kernelci/api/models.py,
// a pydantic model in lax mode): what it stores, pipetel stores. Where pipetel has to bound
// a value to fit DynamoDB or Lambda, it truncates and warns instead of refusing, because
// KernelCI's emitter answers a 400 by dropping the whole batch into a fallback file.

// fieldRule is how one field of the API's field table is read. read is called with the
// raw JSON value, or nil when the field is absent or null (null means absent, as in
// KernelCI's model).
type fieldRule struct {
	name string
	read func(d *eventDecoder, name string, raw json.RawMessage)
	// textLimit is the most characters a text field keeps; 0 for other fields.
	textLimit int
}

// fieldRules is the field table of POST /telemetry (DESIGN §3), in the order problems
// are reported. extra is read after them, together with the unknown fields.
var fieldRules = []fieldRule{
	requiredText("kind", maxNameLen),
	requiredText("runtime", maxNameLen),
	{"ts", readTS, 0},
	optionalText("device_type", maxStringLen),
	optionalText("device_id", maxStringLen),
	optionalText("job_name", maxStringLen),
	optionalText("test_name", maxStringLen),
	optionalText("job_id", maxStringLen),
	optionalText("node_id", maxStringLen),
	optionalText("tree", maxStringLen),
	optionalText("branch", maxStringLen),
	optionalText("arch", maxStringLen),
	optionalText("error_type", maxStringLen),
	optionalText("result", maxStringLen),
	{"is_infra_error", readBool, 0},
	optionalText("error_msg", maxErrorMsgLen),
	{"retry", readRetry, 0},
	{"duration", readDuration, 0},
	{"id", readID, 0},
	{"extra", nil, 0},
}

// TextLimit is the most characters (code points, as Python's len counts them) the text
// field named keeps: 256 for kind and runtime, 16,384 for error_msg, 1,024 for the other
// text fields; 0 for a field that is not text or not a field. Ingest stores a longer
// value cut to it, with a warning, so a filter by the value sent cuts it the same way
// (CutText) to find what was stored.
func TextLimit(field string) int {
	for _, r := range fieldRules {
		if r.name == field {
			return r.textLimit
		}
	}
	return 0
}

// CutText is s cut to its first limit characters, as a text field longer than its
// TextLimit is stored.
func CutText(s string, limit int) string { return truncateRunes(s, limit) }

// boolWords are the strings pydantic's lax mode reads as a bool, compared in lower case.
var boolWords = map[string]bool{
	"true": true, "t": true, "yes": true, "y": true, "on": true, "1": true,
	"false": false, "f": false, "no": false, "n": false, "off": false, "0": false,
}

// requiredText is kind and runtime: present and a string, any string ("" included: the
// monitor sends runtime "" for finished build nodes), at most limit characters.
func requiredText(name string, limit int) fieldRule {
	return fieldRule{name, func(d *eventDecoder, name string, raw json.RawMessage) {
		if raw == nil {
			if !d.bad[name] {
				d.fail(name, "is required, a string such as %s", requiredExample[name])
			}
			return
		}
		if raw[0] != '"' {
			d.fail(name, "must be a string such as %s, not %s", requiredExample[name], describeJSON(raw))
			return
		}
		d.setText(name, unquoteJSON(raw), limit)
	}, limit}
}

var requiredExample = map[string]string{"kind": `"job_result"`, "runtime": `"lava-collabora"`}

// optionalText reads a string field. A number or bool is kept as its JSON text (what the
// sender meant is plain), an array or object is moved to extra: neither is refused.
func optionalText(name string, limit int) fieldRule {
	return fieldRule{name, func(d *eventDecoder, name string, raw json.RawMessage) {
		switch raw[0] {
		case '"':
			d.setText(name, unquoteJSON(raw), limit)
		case '[', '{':
			d.keep(name, raw, "must be a string, not "+describeJSON(raw))
		default:
			d.setText(name, string(raw), limit)
			d.warn(name, "was %s, stored as the string %q", describeJSON(raw), string(raw))
		}
	}, limit}
}

// setText stores s in the named string field, truncated to limit characters (code
// points, as Python's len counts them).
func (d *eventDecoder) setText(name, s string, limit int) {
	if len(s) > limit { // fewer bytes than the limit means fewer characters too
		if n := utf8.RuneCountInString(s); n > limit {
			s = truncateRunes(s, limit)
			d.truncated(name, "has %d characters; stored its first %d", n, limit)
		}
	}
	d.event.SetStringField(name, s)
}

func truncateRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// readTS reads ts as pydantic does: an ISO 8601 string (T or space, date only, naive is
// UTC) or epoch seconds, as a number or a numeric string. Absent, it is the time received
// plus the event's index in microseconds, so batch order is time order. Beyond 24 h ahead
// it is stored at the time received and the value sent kept in extra.
func readTS(d *eventDecoder, name string, raw json.RawMessage) {
	d.event.TS = d.now.Add(time.Duration(d.index) * time.Microsecond)
	if raw == nil {
		return
	}
	var t time.Time
	var err error
	switch {
	case raw[0] == '"':
		s := strings.TrimSpace(unquoteJSON(raw))
		if s == "" {
			return
		}
		if f, ferr := strconv.ParseFloat(s, 64); ferr == nil {
			t, err = epochTime(f)
		} else {
			t, err = ParseTime(s)
		}
	case isJSONNumber(raw):
		f, _ := strconv.ParseFloat(string(raw), 64)
		t, err = epochTime(f)
	default:
		d.fail(name, "must be a time such as \"2026-08-20T14:03:11Z\" or epoch seconds, not %s", describeJSON(raw))
		return
	}
	if err != nil {
		d.fail(name, "%s, not %s", err.Error(), raw)
		return
	}
	t = t.Truncate(time.Microsecond)
	if t.After(d.now.Add(MaxFutureSkew)) {
		d.keep(name, raw, fmt.Sprintf("is more than 24 hours after the time received (%s), so the event is stored at the time received", FormatTime(d.now)))
		return
	}
	d.event.TS = t
}

// epochTime reads Unix time in seconds, or in milliseconds above 2e10, as pydantic does.
func epochTime(f float64) (time.Time, error) {
	if math.Abs(f) > 2e10 {
		f /= 1000
	}
	// Years 0001 to 9999: Python's datetime range, which KernelCI's model reads ts into.
	if math.IsNaN(f) || f < -62135596800 || f >= 253402300800 {
		return time.Time{}, errTimeRange
	}
	return time.UnixMicro(int64(math.Round(f * 1e6))).UTC(), nil
}

// readBool reads is_infra_error: true/false, 1/0 and the words in boolWords in any case.
// Anything else leaves it false and is kept in extra.
func readBool(d *eventDecoder, name string, raw json.RawMessage) {
	s := string(raw)
	if raw[0] == '"' {
		s = strings.ToLower(strings.TrimSpace(unquoteJSON(raw)))
	} else if isJSONNumber(raw) {
		if f, err := strconv.ParseFloat(s, 64); err == nil && (f == 0 || f == 1) {
			s = strconv.Itoa(int(f))
		}
	}
	b, ok := boolWords[s]
	if !ok {
		d.keep(name, raw, "must be true or false")
		return
	}
	d.event.IsInfraError = b
}

// readRetry reads retry: a whole number, also as an integral float (2.0) or a numeric
// string ("1"). It is clamped to what every int and float64 it passes through holds.
func readRetry(d *eventDecoder, name string, raw json.RawMessage) {
	f, ok := number(raw)
	if !ok || f != math.Trunc(f) {
		d.keep(name, raw, "must be a whole number")
		return
	}
	if math.Abs(f) > MaxRetry {
		f = math.Copysign(MaxRetry, f)
		d.truncated(name, "is beyond ±%d; stored as %d", MaxRetry, int(f))
	}
	d.event.Retry = int(f)
}

// readDuration reads duration (pipetel's extension): seconds from 0 to MaxDurationSeconds,
// rounded to the microsecond. A value that is not one is kept in extra instead.
func readDuration(d *eventDecoder, name string, raw json.RawMessage) {
	f, ok := number(raw)
	if !ok || f < 0 || f > MaxDurationSeconds {
		d.keep(name, raw, fmt.Sprintf("must be a number of seconds from 0 to %d", int64(MaxDurationSeconds)))
		return
	}
	// Microseconds are as fine as ts goes; rounding also keeps values like 1e-200, which
	// DynamoDB cannot store, from failing the whole write batch they land in.
	f = math.Round(f*1e6) / 1e6
	if f == 0 {
		f = 0 // -0 would store and hash unlike 0
	}
	d.event.Duration = &f
}

// readID reads the idempotency key. A malformed one is invalid, as KernelCI refuses an id
// that is not an ObjectId: guessing another key would break the resend's de-duplication.
func readID(d *eventDecoder, name string, raw json.RawMessage) {
	if raw[0] != '"' {
		d.fail(name, "must be a string, not %s", describeJSON(raw))
		return
	}
	id := unquoteJSON(raw)
	if id != "" && !validID(id) {
		d.fail(name, "must be 1 to %d characters from A-Z, a-z, 0-9, '.', '_', ':' and '-', not %q", maxIDLen, id)
		return
	}
	d.event.ID, d.event.IDGiven = id, id != ""
}

// number reads a JSON number or a string holding one (lax mode).
func number(raw json.RawMessage) (float64, bool) {
	s := string(raw)
	if raw[0] == '"' {
		s = strings.TrimSpace(unquoteJSON(raw))
	} else if !isJSONNumber(raw) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}
