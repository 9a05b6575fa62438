package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Golden files are rewritten with -update, the flag every golden test of this package
// shares; whichever test file initialises first defines it, as defining it twice panics.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files in testdata instead of comparing with them")
	}
}

func decodeUpdatingGoldens() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// decodeTestNow is after every ts of the KernelCI sample, as a real receipt time would be.
var decodeTestNow = time.Date(2026, 8, 21, 0, 0, 0, 0, time.UTC)

// decodeTestEvent is a valid minimal event with fields appended; fields starts with a comma.
func decodeTestEvent(fields string) string {
	return `{"kind":"job_result","runtime":"lava-collabora"` + fields + `}`
}

func decodeOne(t *testing.T, event string, now time.Time) Decoded {
	t.Helper()
	ds, err := DecodeBatch([]byte("["+event+"]"), now)
	if err != nil {
		t.Fatalf("DecodeBatch(%s): batch error %v", event, err)
	}
	if len(ds) != 1 {
		t.Fatalf("DecodeBatch(%s): %d results, want 1", event, len(ds))
	}
	return ds[0]
}

func readDecodeTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkDecodeGolden compares got with testdata/name; -update rewrites it.
func checkDecodeGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if decodeUpdatingGoldens() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s differs at line %d:\n got: %s\nwant: %s", path, i+1, g, w)
		}
	}
}

// decodeGoldenJSON renders decode results as the golden files hold them.
func decodeGoldenJSON(t *testing.T, ds []Decoded) []byte {
	t.Helper()
	type row struct {
		Index         int          `json:"index"`
		Event         Event        `json:"event"`
		Errors        []FieldError `json:"errors"`
		Warnings      []FieldError `json:"warnings"`
		UnknownFields []string     `json:"unknown_fields"`
	}
	rows := make([]row, len(ds))
	for i, d := range ds {
		rows[i] = row{Index: i, Event: d.Event, Errors: d.Errors, Warnings: d.Warnings, UnknownFields: d.UnknownFields}
	}
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

var hexID = regexp.MustCompile(`^[0-9a-f]{24}$`)

func TestDecodeBatchKernelCISample(t *testing.T) {
	body := readDecodeTestdata(t, "kernelci-events.json")
	ds, err := DecodeBatch(body, decodeTestNow)
	if err != nil {
		t.Fatal(err)
	}
	wantTS := []time.Time{
		time.Date(2026, 8, 20, 14, 3, 11, 482913000, time.UTC),
		time.Date(2026, 8, 20, 14, 3, 12, 10321000, time.UTC),
		time.Date(2026, 8, 20, 14, 5, 40, 771002000, time.UTC),
		time.Date(2026, 8, 20, 14, 41, 2, 118734000, time.UTC),
		time.Date(2026, 8, 20, 14, 41, 2, 119010000, time.UTC),
		time.Date(2026, 8, 20, 13, 58, 44, 500112000, time.UTC),
		time.Date(2026, 8, 20, 20, 41, 9, 431000, time.UTC),
	}
	if len(ds) != len(wantTS) {
		t.Fatalf("%d events decoded, want %d", len(ds), len(wantTS))
	}
	ids := map[string]bool{}
	for i, d := range ds {
		if len(d.Errors) > 0 || len(d.UnknownFields) > 0 {
			t.Errorf("event %d: errors %v, unknown fields %v; want none", i, d.Errors, d.UnknownFields)
		}
		if !d.Event.TS.Equal(wantTS[i]) || d.Event.TS.Location() != time.UTC {
			t.Errorf("event %d: ts %v, want %v in UTC", i, d.Event.TS, wantTS[i])
		}
		if !hexID.MatchString(d.Event.ID) || ids[d.Event.ID] {
			t.Errorf("event %d: id %q is not 32 hex digits or is not unique", i, d.Event.ID)
		}
		ids[d.Event.ID] = true
		if !d.Event.ReceivedAt.Equal(decodeTestNow) {
			t.Errorf("event %d: received at %v, want %v", i, d.Event.ReceivedAt, decodeTestNow)
		}
	}
	// Numbers in extra keep their spelling (1.0 stays 1.0) and keys come out sorted.
	if got, want := string(ds[1].Event.Extra), `{"max_depth":10,"online_devices":2,"per_device_depth":5,"priority_factor":1.0,"queue_depth":12}`; got != want {
		t.Errorf("extra = %s, want %s", got, want)
	}
	if e := ds[3].Event; !e.IsInfraError || e.Result != ResultIncomplete || e.DeviceID != "bcm2711-rpi-4-b-cbg-2" {
		t.Errorf("event 3 = %+v", e)
	}
	if d := ds[5].Event.Duration; d == nil || *d != 1312.5 {
		t.Errorf("event 5 duration = %v, want 1312.5", d)
	}
	// The golden file also pins the derived ids: if they change, events stored before the
	// change are no longer recognised as duplicates when re-posted.
	checkDecodeGolden(t, "kernelci-events.golden.json", decodeGoldenJSON(t, ds))
}

func TestDecodeBatchInvalidEventsGolden(t *testing.T) {
	ds, err := DecodeBatch(readDecodeTestdata(t, "invalid-events.json"), decodeTestNow)
	if err != nil {
		t.Fatal(err)
	}
	// Only what cannot be an event is invalid: no kind, an unreadable ts, a malformed id,
	// not an object. Free strings, lax values, a ts too far ahead, a duplicate field and
	// values of the wrong type are stored (with warnings), as KernelCI stores them.
	invalid := map[int]bool{0: true, 1: true, 2: true, 5: true, 6: true}
	for i, d := range ds {
		if invalid[i] != (len(d.Errors) > 0) {
			t.Errorf("event %d: errors %v, want invalid=%v", i, d.Errors, invalid[i])
		}
		for _, fe := range d.Errors {
			if fe.Index != i {
				t.Errorf("event %d: error %+v has the wrong index", i, fe)
			}
		}
	}
	checkDecodeGolden(t, "invalid-events.golden.json", decodeGoldenJSON(t, ds))
}

func TestDecodeBatchRejectsTheBatch(t *testing.T) {
	many := func(n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(`{},`, n), ",") + "]"
	}
	tests := []struct {
		name string
		body string
		code Code
		want string // a part of the message
	}{
		{"object", `{"kind":"job_result","runtime":"lava"}`, CodeInvalid, "The body is a JSON object; send a JSON array of events, even for one event"},
		{"null", `null`, CodeInvalid, "The body is JSON null; send a JSON array"},
		{"string", ` "job_result"`, CodeInvalid, "a single JSON value (a string), not an array"},
		{"number", `42`, CodeInvalid, "(a number), not an array"},
		{"bool", `true`, CodeInvalid, "(true or false), not an array"},
		{"empty body", ``, CodeInvalid, "The body is empty"},
		{"blank body", " \r\n\t", CodeInvalid, "The body is empty"},
		{"empty list", ` [ ] `, CodeInvalid, "The event list is empty; send at least one event"},
		{"trailing comma", `[{"kind":"a"},]`, CodeInvalid, "not valid JSON: invalid character ']' looking for beginning of value at line 1, column 15 (byte offset 14)"},
		{"missing comma", "[\n  {\"kind\": \"a\"}\n  {\"kind\": \"b\"}\n]", CodeInvalid, "invalid character '{' after array element at line 3, column 3 (byte offset 20)"},
		{"columns count characters", "[\n\"é\" x]", CodeInvalid, "at line 2, column 5 (byte offset 7)"},
		{"garbage after", `[{}] x`, CodeInvalid, "after top-level value at line 1, column 6"},
		{"truncated", `[{"kind":"job_result"`, CodeInvalid, "it ends after 21 bytes, before the array is complete, so it was probably cut short."},
		{"UTF-16", "\xff\xfe[\x00]\x00", CodeInvalid, "The body is not valid UTF-8 (the first bad byte is at offset 0)"},
		{"Latin-1 and broken", "[{\"runtime\":\"caf\xe9\"", CodeInvalid, "not valid UTF-8 (the first bad byte is at offset 16)"},
		// Offsets count the byte order mark the decoder skipped, so they point into the body as sent.
		{"BOM then Latin-1", "\xef\xbb\xbf[{\"runtime\":\"caf\xe9\"", CodeInvalid, "not valid UTF-8 (the first bad byte is at offset 19)"},
		{"BOM then truncated", "\xef\xbb\xbf" + `[{"kind":"job_result"`, CodeInvalid, "it ends after 24 bytes"},
		// encoding/json refuses nesting past 10,000 levels with Go's own words; a body
		// that is broken besides gets the sentence of its real mistake.
		{"deep and truncated", `[{"extra":` + strings.Repeat("[", 20000), CodeInvalid, "it ends after 20010 bytes"},
		{"deep and garbage after", `[{"extra":` + nested(20000) + `}] x`, CodeInvalid, "there is more after its value ends, at line 1, column 40014 (byte offset 40013)"},
		{"deep and a bad closer", `[{"extra":` + strings.Repeat("[", 20000) + strings.Repeat("]", 19999) + `}]`, CodeInvalid, "invalid character '}' after array element"},
		{"deep object", `{"extra":` + nested(20000) + `}`, CodeInvalid, "The body is a JSON object; send a JSON array of events, even for one event"},
		{"too many events", many(MaxBatchEvents + 1), CodeTooLarge, "The batch has 10001 events, more than the 10000 allowed; split it"},
		{"too many bytes", "[" + strings.Repeat(" ", MaxBodyBytes) + "]", CodeTooLarge, "larger than 6291456 bytes (6 MB)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := DecodeBatch([]byte(tt.body), decodeTestNow)
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("got %v, %v; want a *Error", ds, err)
			}
			if te.Code != tt.code || !strings.Contains(te.Message, tt.want) {
				t.Errorf("got %s %q; want %s containing %q", te.Code, te.Message, tt.code, tt.want)
			}
		})
	}
}

func TestDecodeBatchLimitsAreInclusive(t *testing.T) {
	body := "[" + strings.TrimSuffix(strings.Repeat(decodeTestEvent("")+",", MaxBatchEvents), ",") + "]"
	ds, err := DecodeBatch([]byte(body), decodeTestNow)
	if err != nil || len(ds) != MaxBatchEvents {
		t.Fatalf("%d events: got %d results, %v", MaxBatchEvents, len(ds), err)
	}
	padded := append([]byte(body), bytes.Repeat([]byte{' '}, MaxBodyBytes-len(body))...)
	if _, err := DecodeBatch(padded, decodeTestNow); err != nil {
		t.Fatalf("a body of exactly MaxBodyBytes: %v", err)
	}
}

func TestDecodeBatchIgnoresByteOrderMark(t *testing.T) {
	ds, err := DecodeBatch([]byte("\xef\xbb\xbf["+decodeTestEvent("")+"]"), decodeTestNow)
	if err != nil || len(ds) != 1 || len(ds[0].Errors) != 0 {
		t.Fatalf("got %+v, %v", ds, err)
	}
	_, err = DecodeBatch([]byte("\xef\xbb\xbf[1,]"), decodeTestNow)
	if err == nil || !strings.Contains(err.Error(), "line 1, column 4 (byte offset 6)") {
		t.Errorf("offsets must count the byte order mark: %v", err)
	}
}

func TestDecodeBatchElementsThatAreNotObjects(t *testing.T) {
	ds, err := DecodeBatch([]byte(`[1, "job_result", null, [], true, `+decodeTestEvent("")+`]`), decodeTestNow)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a number", "a string", "null", "an array", "true or false"}
	for i, what := range want {
		got := ds[i].Errors
		if len(got) != 1 || got[0] != (FieldError{Index: i, Field: "", Message: "must be a JSON object (one event), not " + what}) {
			t.Errorf("element %d: errors %+v", i, got)
		}
	}
	if last := ds[len(want)]; len(last.Errors) != 0 || last.Event.ID == "" {
		t.Errorf("the object after them: %+v", last)
	}
}

type wantFieldError struct{ field, contains string }

func TestDecodeBatchFields(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	wantTS := func(ts time.Time) func(*testing.T, Decoded) {
		return func(t *testing.T, d Decoded) {
			if !d.Event.TS.Equal(ts) || d.Event.TS.Location() != time.UTC {
				t.Errorf("ts = %v, want %v", d.Event.TS, ts)
			}
		}
	}
	type want = []wantFieldError
	wantText := func(field, value string) func(*testing.T, Decoded) {
		return func(t *testing.T, d Decoded) {
			if got, _ := d.Event.StringField(field); got != value {
				t.Errorf("%s = %q, want %q", field, got, value)
			}
		}
	}
	wantInfra := func(b bool) func(*testing.T, Decoded) {
		return func(t *testing.T, d Decoded) {
			if d.Event.IsInfraError != b {
				t.Errorf("is_infra_error = %v, want %v", d.Event.IsInfraError, b)
			}
		}
	}
	both := func(checks ...func(*testing.T, Decoded)) func(*testing.T, Decoded) {
		return func(t *testing.T, d Decoded) {
			for _, c := range checks {
				c(t, d)
			}
		}
	}
	tests := []struct {
		name  string
		event string
		errs  want
		warns want
		check func(*testing.T, Decoded)
	}{
		// kind: required, any string
		{name: "kind missing", event: `{"runtime":"r"}`, errs: want{{"kind", `is required, a string such as "job_result"`}}},
		{name: "kind null", event: `{"kind":null,"runtime":"r"}`, errs: want{{"kind", "is required"}}},
		{name: "kind number", event: `{"kind":3,"runtime":"r"}`, errs: want{{"kind", "must be a string such as \"job_result\", not a number"}}},
		{name: "kind free string", event: `{"kind":"Job Result","runtime":"r"}`, check: wantText("kind", "Job Result")},
		{name: "kind empty", event: `{"kind":"","runtime":"r"}`, check: wantText("kind", "")},
		{name: "kind 257", event: `{"kind":"` + strings.Repeat("k", 257) + `","runtime":"r"}`,
			warns: want{{"kind", "has 257 characters; stored its first 256"}}, check: wantText("kind", strings.Repeat("k", 256))},
		// runtime: required, any string
		{name: "runtime missing", event: `{"kind":"job_result"}`, errs: want{{"runtime", `is required, a string such as "lava-collabora"`}}},
		{name: "runtime empty", event: `{"kind":"job_result","runtime":""}`, check: wantText("runtime", "")},
		{name: "runtime bool", event: `{"kind":"job_result","runtime":true}`, errs: want{{"runtime", "must be a string such as \"lava-collabora\", not true or false"}}},
		{name: "runtime 256 two-byte characters", event: `{"kind":"job_result","runtime":"` + strings.Repeat("é", 256) + `"}`},
		// ts
		{name: "ts Z", event: decodeTestEvent(`,"ts":"2026-08-20T14:03:11Z"`), check: wantTS(at("2026-08-20T14:03:11Z"))},
		{name: "ts +00:00 micro", event: decodeTestEvent(`,"ts":"2026-08-20T14:03:11.482913+00:00"`), check: wantTS(at("2026-08-20T14:03:11.482913Z"))},
		{name: "ts +0200", event: decodeTestEvent(`,"ts":"2026-08-20T14:03:11+0200"`), check: wantTS(at("2026-08-20T12:03:11Z"))},
		{name: "ts -05:30", event: decodeTestEvent(`,"ts":"2026-08-20T14:03:11.5-05:30"`), check: wantTS(at("2026-08-20T19:33:11.5Z"))},
		{name: "ts nanoseconds truncated", event: decodeTestEvent(`,"ts":"2026-08-20T14:03:11.123456789Z"`), check: wantTS(at("2026-08-20T14:03:11.123456Z"))},
		{name: "ts naive is UTC", event: decodeTestEvent(`,"ts":"2026-08-20T14:03:11.25"`), check: wantTS(at("2026-08-20T14:03:11.25Z"))},
		{name: "ts space", event: decodeTestEvent(`,"ts":"2026-08-20 14:03:11"`), check: wantTS(at("2026-08-20T14:03:11Z"))},
		{name: "ts date only", event: decodeTestEvent(`,"ts":"2026-08-20"`), check: wantTS(at("2026-08-20T00:00:00Z"))},
		{name: "ts no seconds", event: decodeTestEvent(`,"ts":"2026-08-20T14:03+01:00"`), check: wantTS(at("2026-08-20T13:03:00Z"))},
		{name: "ts old", event: decodeTestEvent(`,"ts":"1999-12-31T23:59:59Z"`), check: wantTS(at("1999-12-31T23:59:59Z"))},
		{name: "ts epoch seconds", event: decodeTestEvent(`,"ts":1755698591`), check: wantTS(at("2025-08-20T14:03:11Z"))},
		{name: "ts epoch seconds string", event: decodeTestEvent(`,"ts":"1755698591.5"`), check: wantTS(at("2025-08-20T14:03:11.5Z"))},
		{name: "ts epoch milliseconds", event: decodeTestEvent(`,"ts":1755698591250`), check: wantTS(at("2025-08-20T14:03:11.25Z"))},
		// pydantic reads milliseconds only above 2e10: 2e10 itself is seconds (here, before 1970).
		// Python's datetime reads years 1 to 9999: the first instant of year 1 is kept, the
		// last of year 0 and year 10000 are not (in milliseconds, as numbers that large are read).
		{name: "ts epoch year 1", event: decodeTestEvent(`,"ts":-62135596800000`), check: wantTS(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))},
		{name: "ts epoch year 0", event: decodeTestEvent(`,"ts":-62135596800001`), errs: want{{"ts", ""}}},
		{name: "ts epoch year 10000", event: decodeTestEvent(`,"ts":253402300800000`), errs: want{{"ts", ""}}},
		{name: "ts epoch at the milliseconds bound", event: decodeTestEvent(`,"ts":-20000000000`), check: wantTS(at("1336-03-23T12:26:40Z"))},
		{name: "ts absent", event: decodeTestEvent(``), check: wantTS(decodeTestNow)},
		{name: "ts null", event: decodeTestEvent(`,"ts":null`), check: wantTS(decodeTestNow)},
		{name: "ts empty", event: decodeTestEvent(`,"ts":""`), check: wantTS(decodeTestNow)},
		{name: "ts bool", event: decodeTestEvent(`,"ts":true`), errs: want{{"ts", "must be a time such as \"2026-08-20T14:03:11Z\" or epoch seconds, not true or false"}}},
		{name: "ts prose", event: decodeTestEvent(`,"ts":"yesterday"`), errs: want{{"ts", `is not an ISO 8601 time such as 2026-08-20T14:03:11Z, not "yesterday"`}}},
		{name: "ts impossible date", event: decodeTestEvent(`,"ts":"2026-02-30T00:00:00Z"`), errs: want{{"ts", "is not an ISO 8601 time"}}},
		{name: "ts far future", event: decodeTestEvent(`,"ts":"2027-01-01T00:00:00Z"`),
			warns: want{{"ts", `is more than 24 hours after the time received (2026-08-21T00:00:00.000000Z), so the event is stored at the time received; the value sent, "2027-01-01T00:00:00Z", is kept in extra as "ts"`}},
			check: both(wantTS(decodeTestNow), wantExtra(`{"ts":"2027-01-01T00:00:00Z"}`, nil))},
		// optional strings (each one is covered by TestDecodeBatchOptionalStrings)
		{name: "string null", event: decodeTestEvent(`,"tree":null`), check: wantText("tree", "")},
		{name: "string number", event: decodeTestEvent(`,"job_id":17342311`), warns: want{{"job_id", `was a number, stored as the string "17342311"`}}, check: wantText("job_id", "17342311")},
		{name: "string object", event: decodeTestEvent(`,"tree":{"name":"mainline"}`),
			warns: want{{"tree", `must be a string, not an object; the value sent, {"name":"mainline"}, is kept in extra as "tree"`}},
			check: both(wantText("tree", ""), wantExtra(`{"tree":{"name":"mainline"}}`, nil))},
		// result: any string
		{name: "result done", event: decodeTestEvent(`,"result":"done"`), check: wantText("result", "done")},
		{name: "result PASS", event: decodeTestEvent(`,"result":"PASS"`), check: wantText("result", "PASS")},
		{name: "result empty", event: decodeTestEvent(`,"result":""`)},
		// is_infra_error: pydantic's lax bool
		{name: "infra true", event: decodeTestEvent(`,"is_infra_error":true`), check: wantInfra(true)},
		{name: "infra null", event: decodeTestEvent(`,"is_infra_error":null`), check: wantInfra(false)},
		{name: "infra string true", event: decodeTestEvent(`,"is_infra_error":"true"`), check: wantInfra(true)},
		{name: "infra string TRUE", event: decodeTestEvent(`,"is_infra_error":"TRUE"`), check: wantInfra(true)},
		{name: "infra string yes", event: decodeTestEvent(`,"is_infra_error":"Yes"`), check: wantInfra(true)},
		{name: "infra string on", event: decodeTestEvent(`,"is_infra_error":"on"`), check: wantInfra(true)},
		{name: "infra string 1", event: decodeTestEvent(`,"is_infra_error":"1"`), check: wantInfra(true)},
		{name: "infra string off", event: decodeTestEvent(`,"is_infra_error":"OFF"`), check: wantInfra(false)},
		{name: "infra string no", event: decodeTestEvent(`,"is_infra_error":"no"`), check: wantInfra(false)},
		{name: "infra string 0", event: decodeTestEvent(`,"is_infra_error":"0"`), check: wantInfra(false)},
		{name: "infra number 1", event: decodeTestEvent(`,"is_infra_error":1`), check: wantInfra(true)},
		// pydantic's lax bool takes the floats 1.0 and 0.0 as it takes 1 and 0.
		{name: "infra number 1.0", event: decodeTestEvent(`,"is_infra_error":1.0`), check: wantInfra(true)},
		{name: "infra number 0.0", event: decodeTestEvent(`,"is_infra_error":0.0`), check: func(t *testing.T, d Decoded) {
			if d.Event.IsInfraError || len(d.Warnings) != 0 {
				t.Errorf("is_infra_error %v with warnings %v; want false, taken as sent", d.Event.IsInfraError, d.Warnings)
			}
		}},
		{name: "infra number 0", event: decodeTestEvent(`,"is_infra_error":0`), check: wantInfra(false)},
		{name: "infra maybe", event: decodeTestEvent(`,"is_infra_error":"maybe"`),
			warns: want{{"is_infra_error", `must be true or false; the value sent, "maybe", is kept in extra as "is_infra_error"`}},
			check: both(wantInfra(false), wantExtra(`{"is_infra_error":"maybe"}`, nil))},
		{name: "infra 2", event: decodeTestEvent(`,"is_infra_error":2`), warns: want{{"is_infra_error", "must be true or false"}}, check: wantInfra(false)},
		// error_msg
		{name: "error_msg traceback", event: decodeTestEvent(`,"error_msg":"` + strings.Repeat("m", 4925) + `"`), check: wantText("error_msg", strings.Repeat("m", 4925))},
		{name: "error_msg 16384", event: decodeTestEvent(`,"error_msg":"` + strings.Repeat("m", 16384) + `"`)},
		{name: "error_msg 16385", event: decodeTestEvent(`,"error_msg":"` + strings.Repeat("m", 16385) + `"`),
			warns: want{{"error_msg", "has 16385 characters; stored its first 16384"}},
			check: func(t *testing.T, d Decoded) {
				if len(d.Event.ErrorMsg) != 16384 || fmt.Sprint(d.Event.Truncated) != "[error_msg]" {
					t.Errorf("error_msg %d bytes, truncated %v", len(d.Event.ErrorMsg), d.Event.Truncated)
				}
			}},
		// retry
		{name: "retry 2.0", event: decodeTestEvent(`,"retry":2.0`), check: wantRetry(2)},
		{name: "retry 3e0", event: decodeTestEvent(`,"retry":3e0`), check: wantRetry(3)},
		{name: "retry -0", event: decodeTestEvent(`,"retry":-0`), check: wantRetry(0)},
		{name: "retry null", event: decodeTestEvent(`,"retry":null`), check: wantRetry(0)},
		{name: "retry max", event: decodeTestEvent(`,"retry":2147483647`), check: wantRetry(2147483647)},
		{name: "retry string", event: decodeTestEvent(`,"retry":"1"`), check: wantRetry(1)},
		{name: "retry string 2.0", event: decodeTestEvent(`,"retry":" 2.0 "`), check: wantRetry(2)},
		{name: "retry -1", event: decodeTestEvent(`,"retry":-1`), check: wantRetry(-1)},
		{name: "retry 1.5", event: decodeTestEvent(`,"retry":1.5`), warns: want{{"retry", `must be a whole number; the value sent, 1.5, is kept in extra as "retry"`}}, check: wantRetry(0)},
		{name: "retry word", event: decodeTestEvent(`,"retry":"twice"`), warns: want{{"retry", "must be a whole number"}}, check: wantRetry(0)},
		{name: "retry too big", event: decodeTestEvent(`,"retry":2147483648`), warns: want{{"retry", "is beyond ±2147483647; stored as 2147483647"}}, check: wantRetry(2147483647)},
		{name: "retry huge", event: decodeTestEvent(`,"retry":1e400`), warns: want{{"retry", "is beyond"}}, check: wantRetry(2147483647)},
		// duration
		{name: "duration", event: decodeTestEvent(`,"duration":1312.5`), check: wantDuration(1312.5)},
		{name: "duration string", event: decodeTestEvent(`,"duration":"12.5"`), check: wantDuration(12.5)},
		{name: "duration 0", event: decodeTestEvent(`,"duration":0`), check: wantDuration(0)},
		{name: "duration at the bound", event: decodeTestEvent(`,"duration":1000000000`), check: wantDuration(1e9)},
		{name: "duration below a microsecond", event: decodeTestEvent(`,"duration":1e-200`), check: wantDuration(0)},
		{name: "duration rounded to microseconds", event: decodeTestEvent(`,"duration":1.23456789`), check: wantDuration(1.234568)},
		{name: "duration -0.0", event: decodeTestEvent(`,"duration":-0.0`), check: wantDuration(0)},
		{name: "duration null", event: decodeTestEvent(`,"duration":null`), check: func(t *testing.T, d Decoded) {
			if d.Event.Duration != nil {
				t.Errorf("duration = %v, want nil", *d.Event.Duration)
			}
		}},
		{name: "duration negative", event: decodeTestEvent(`,"duration":-2`),
			warns: want{{"duration", `must be a number of seconds from 0 to 1000000000; the value sent, -2, is kept in extra as "duration"`}},
			check: wantExtra(`{"duration":-2}`, nil)},
		{name: "duration beyond DynamoDB", event: decodeTestEvent(`,"duration":1e200`), warns: want{{"duration", "must be a number of seconds"}}},
		// id
		// An id given is the idempotency key whatever the ts (IDGiven); a derived one is not.
		{name: "id given", event: decodeTestEvent(`,"id":"lava:17342311.job-result_A"`), check: func(t *testing.T, d Decoded) {
			if d.Event.ID != "lava:17342311.job-result_A" || !d.Event.IDGiven {
				t.Errorf("id = %q, given %v; want the id sent, given", d.Event.ID, d.Event.IDGiven)
			}
		}},
		{name: "id 128", event: decodeTestEvent(`,"id":"` + strings.Repeat("i", 128) + `"`), check: wantID(strings.Repeat("i", 128))},
		{name: "id 129", event: decodeTestEvent(`,"id":"` + strings.Repeat("i", 129) + `"`), errs: want{{"id", "must be 1 to 128 characters from A-Z, a-z, 0-9, '.', '_', ':' and '-'"}}},
		{name: "id slash", event: decodeTestEvent(`,"id":"a/b"`), errs: want{{"id", `must be 1 to 128 characters from A-Z, a-z, 0-9, '.', '_', ':' and '-', not "a/b"`}}},
		{name: "id number", event: decodeTestEvent(`,"id":17342311`), errs: want{{"id", "must be a string, not a number"}}},
		{name: "id empty is derived", event: decodeTestEvent(`,"id":""`), check: func(t *testing.T, d Decoded) {
			if !hexID.MatchString(d.Event.ID) || d.Event.IDGiven {
				t.Errorf("id = %q, given %v; want a derived one, not given", d.Event.ID, d.Event.IDGiven)
			}
		}},
		// extra
		{name: "extra kept exactly", event: decodeTestEvent(`,"extra":{"z":[1.50,{"b":null,"a":"<&>"}],"big":12345678901234567890123}`),
			check: wantExtra(`{"big":12345678901234567890123,"z":[1.50,{"a":"<&>","b":null}]}`, nil)},
		{name: "extra empty", event: decodeTestEvent(`,"extra":{}`), check: wantExtra("", nil)},
		{name: "extra null", event: decodeTestEvent(`,"extra":null`), check: wantExtra("", nil)},
		{name: "extra array", event: decodeTestEvent(`,"extra":[1]`),
			warns: want{{"extra", `must be a JSON object, not an array; the value sent, [1], is kept in extra as "extra"`}}, check: wantExtra(`{"extra":[1]}`, nil)},
		{name: "extra 32 levels", event: decodeTestEvent(`,"extra":` + strings.Repeat(`{"a":`, 32) + `1` + strings.Repeat(`}`, 32)),
			check: wantExtra(strings.Repeat(`{"a":`, 32)+`1`+strings.Repeat(`}`, 32), nil)},
		{name: "extra 33 levels", event: decodeTestEvent(`,"extra":` + strings.Repeat(`{"a":`, 33) + `1` + strings.Repeat(`}`, 33)),
			warns: want{{"extra", "is 199 bytes and 33 levels deep as compact JSON"}},
			check: func(t *testing.T, d Decoded) {
				var v map[string]string
				if err := json.Unmarshal(d.Event.Extra, &v); err != nil || v["truncated_json"] != strings.Repeat(`{"a":`, 33)+`1`+strings.Repeat(`}`, 33) {
					t.Errorf("extra = %s", d.Event.Extra)
				}
				if fmt.Sprint(d.Event.Truncated) != "[extra]" {
					t.Errorf("truncated = %v", d.Event.Truncated)
				}
			}},
		// unknown fields
		{name: "unknown fields", event: decodeTestEvent(`,"lab":"lava-x","foo":{"b":1,"a":2.50},"nothing":null`),
			check: wantExtra(`{"foo":{"a":2.50,"b":1},"lab":"lava-x","nothing":null}`, []string{"foo", "lab", "nothing"})},
		{name: "unknown fields merged into extra", event: decodeTestEvent(`,"extra":{"z":1},"a":true`),
			check: wantExtra(`{"a":true,"z":1}`, []string{"a"})},
		{name: "field names are case-sensitive", event: decodeTestEvent(`,"Result":"pass"`),
			check: wantExtra(`{"Result":"pass"}`, []string{"Result"})},
		{name: "unknown field collides with extra", event: decodeTestEvent(`,"extra":{"lab":"x"},"lab":"y"`),
			warns: want{{"lab", `is not a known field and extra already has a key "lab", so it is kept in extra as "_lab"`}},
			check: wantExtra(`{"_lab":"y","lab":"x"}`, []string{"lab"})},
		// text
		{name: "invalid UTF-8 in a field", event: decodeTestEvent(`,"job_name":"caf` + "\xe9" + `"`), errs: want{{"job_name", "is not valid UTF-8"}}},
		{name: "invalid UTF-8 in kind", event: `{"kind":"` + "\xff" + `","runtime":"r"}`, errs: want{{"kind", "is not valid UTF-8"}}},
		{name: "invalid UTF-8 in extra", event: decodeTestEvent(`,"extra":{"a":["` + "\xc3\x28" + `"]}`), errs: want{{"extra", "is not valid UTF-8"}}},
		{name: "invalid UTF-8 in an unknown field", event: decodeTestEvent(`,"note":"` + "\xed\xa0\x80" + `"`), errs: want{{"note", "is not valid UTF-8"}}},
		{name: "invalid UTF-8 in a field name", event: decodeTestEvent(`,"no` + "\xfe" + `te":"x"`), errs: want{{"", "has a field name that is not valid UTF-8"}}},
		{name: "lone high surrogate", event: decodeTestEvent(`,"test_name":"a\ud800b"`), errs: want{{"test_name", `has a \u escape of an unpaired UTF-16 surrogate`}}},
		{name: "lone low surrogate", event: decodeTestEvent(`,"test_name":"\udc00"`), errs: want{{"test_name", "unpaired UTF-16 surrogate"}}},
		{name: "high surrogate then letter", event: decodeTestEvent(`,"test_name":"\uD800\u0041"`), errs: want{{"test_name", "unpaired UTF-16 surrogate"}}},
		{name: "high surrogate at the end", event: decodeTestEvent(`,"test_name":"\ud800"`), errs: want{{"test_name", "unpaired UTF-16 surrogate"}}},
		{name: "surrogate pair", event: decodeTestEvent(`,"test_name":"\ud83d\ude00 ok"`), check: wantText("test_name", "😀 ok")},
		{name: "escaped backslash before u", event: decodeTestEvent(`,"test_name":"C:\\ud800"`), check: wantText("test_name", `C:\ud800`)},
		{name: "escapes decoded", event: decodeTestEvent(`,"error_msg":"line\n\"two\"\u00e9"`), check: wantText("error_msg", "line\n\"two\"é")},
		// structure: Python's json keeps the last of duplicate names
		{name: "duplicate field", event: `{"kind":"job_result","runtime":"r","kind":"test_result"}`,
			warns: want{{"kind", "appears more than once in the event; the last value was stored"}}, check: wantText("kind", "test_result")},
	}
	match := func(t *testing.T, what string, got []FieldError, w want) {
		t.Helper()
		if len(got) != len(w) {
			t.Fatalf("%s %+v, want %d: %v", what, got, len(w), w)
		}
		for i, w := range w {
			if got[i].Index != 0 || got[i].Field != w.field || !strings.Contains(got[i].Message, w.contains) {
				t.Errorf("%s %d = %+v, want field %q with %q", what, i, got[i], w.field, w.contains)
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decodeOne(t, tt.event, decodeTestNow)
			match(t, "errors", d.Errors, tt.errs)
			match(t, "warnings", d.Warnings, tt.warns)
			if len(d.Errors) == 0 && d.Event.ID == "" {
				t.Error("a valid event has no id")
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func wantRetry(n int) func(*testing.T, Decoded) {
	return func(t *testing.T, d Decoded) {
		if d.Event.Retry != n {
			t.Errorf("retry = %d, want %d", d.Event.Retry, n)
		}
	}
}

func wantDuration(f float64) func(*testing.T, Decoded) {
	return func(t *testing.T, d Decoded) {
		got := d.Event.Duration
		if got == nil || *got != f || fmt.Sprint(*got) != fmt.Sprint(f) {
			t.Errorf("duration = %v, want %v", got, f)
		}
	}
}

func wantID(id string) func(*testing.T, Decoded) {
	return func(t *testing.T, d Decoded) {
		if d.Event.ID != id {
			t.Errorf("id = %q, want %q", d.Event.ID, id)
		}
	}
}

func wantExtra(extra string, unknown []string) func(*testing.T, Decoded) {
	return func(t *testing.T, d Decoded) {
		if string(d.Event.Extra) != extra || (extra == "" && d.Event.Extra != nil) {
			t.Errorf("extra = %q, want %q", d.Event.Extra, extra)
		}
		if fmt.Sprint(d.UnknownFields) != fmt.Sprint(unknown) {
			t.Errorf("unknown fields = %q, want %q", d.UnknownFields, unknown)
		}
	}
}

func TestDecodeBatchOptionalStrings(t *testing.T) {
	for _, name := range []string{"device_type", "device_id", "job_name", "test_name", "job_id", "node_id", "tree", "branch", "arch", "error_type", "result"} {
		t.Run(name, func(t *testing.T) {
			long := strings.Repeat("é", 1024) // 2,048 bytes: the limit counts characters
			d := decodeOne(t, decodeTestEvent(`,"`+name+`":"`+long+`"`), decodeTestNow)
			if got, _ := d.Event.StringField(name); len(d.Errors)+len(d.Warnings) != 0 || got != long || d.Event.Truncated != nil {
				t.Errorf("1024 characters: errors %v, warnings %v, value %q", d.Errors, d.Warnings, got)
			}
			d = decodeOne(t, decodeTestEvent(`,"`+name+`":"`+strings.Repeat("é", 1025)+`"`), decodeTestNow)
			want := []FieldError{{Index: 0, Field: name, Message: "has 1025 characters; stored its first 1024"}}
			if got, _ := d.Event.StringField(name); len(d.Errors) != 0 || !slices.Equal(d.Warnings, want) || got != long ||
				!slices.Equal(d.Event.Truncated, []string{name}) {
				t.Errorf("1025 characters: errors %v, warnings %v, truncated %v", d.Errors, d.Warnings, d.Event.Truncated)
			}
			for _, absent := range []string{`null`, `""`} {
				d = decodeOne(t, decodeTestEvent(`,"`+name+`":`+absent), decodeTestNow)
				if got, _ := d.Event.StringField(name); len(d.Errors) != 0 || got != "" {
					t.Errorf("%s: errors %v, value %q", absent, d.Errors, got)
				}
			}
		})
	}
}

func TestDecodeBatchFutureLimit(t *testing.T) {
	now := time.Date(2026, 8, 20, 12, 0, 0, 1000, time.UTC)
	tests := []struct {
		ts string
		ok bool
	}{
		{"2026-08-21T12:00:00.000001Z", true},       // exactly 24 hours ahead
		{"2026-08-21T14:00:00.000001+02:00", true},  // the same instant, with an offset
		{"2026-08-21T12:00:00.0000019Z", true},      // truncated to the microsecond first
		{"2026-08-21T12:00:00.000002Z", false},      // 24 hours and 1µs
		{"2026-08-21T14:00:00.000002+02:00", false}, // the same, with an offset
	}
	for _, tt := range tests {
		d := decodeOne(t, decodeTestEvent(`,"ts":"`+tt.ts+`"`), now)
		if len(d.Errors) != 0 {
			t.Errorf("ts %s: errors %v; KernelCI stores it, so must pipetel", tt.ts, d.Errors)
		}
		if tt.ok != (len(d.Warnings) == 0) || tt.ok != (d.Event.Extra == nil) {
			t.Errorf("ts %s: warnings %v, extra %s; want ok=%v", tt.ts, d.Warnings, d.Event.Extra, tt.ok)
		}
		if !tt.ok && (!d.Event.TS.Equal(now.Truncate(time.Microsecond)) || string(d.Event.Extra) != `{"ts":"`+tt.ts+`"}`) {
			t.Errorf("ts %s: stored at %v with extra %s, want the time received and the value sent", tt.ts, d.Event.TS, d.Event.Extra)
		}
	}
	// A receipt time finer than a microsecond does not move the limit past a stored ts.
	d := decodeOne(t, decodeTestEvent(`,"ts":"2026-08-21T12:00:00.000001Z"`), now.Add(999*time.Nanosecond))
	if len(d.Warnings) != 0 {
		t.Errorf("now with nanoseconds: %v", d.Warnings)
	}
}

func TestDecodeBatchReportsEveryProblemInOrder(t *testing.T) {
	event := `{"zz":1,"extra":[],"duration":"x","retry":1.5,"result":7,"ts":true,"id":"a b","yy":2,"is_infra_error":"maybe"}`
	d := decodeOne(t, event, decodeTestNow)
	want := []FieldError{
		{0, "kind", `is required, a string such as "job_result"`},
		{0, "runtime", `is required, a string such as "lava-collabora"`},
		{0, "ts", `must be a time such as "2026-08-20T14:03:11Z" or epoch seconds, not true or false`},
		{0, "id", `must be 1 to 128 characters from A-Z, a-z, 0-9, '.', '_', ':' and '-', not "a b"`},
	}
	if !slices.Equal(d.Errors, want) {
		t.Errorf("errors:\n got %+v\nwant %+v", d.Errors, want)
	}
	var warned []string
	for _, w := range d.Warnings {
		warned = append(warned, w.Field)
	}
	if fmt.Sprint(warned) != "[result is_infra_error retry duration extra]" {
		t.Errorf("warnings on %v, want them in field-table order", warned)
	}
	if d.Event.ID != "" {
		t.Errorf("an invalid event got id %q", d.Event.ID)
	}
	if fmt.Sprint(d.UnknownFields) != "[yy zz]" {
		t.Errorf("unknown fields = %v", d.UnknownFields)
	}

	// Indexes follow the batch.
	body := `[` + decodeTestEvent("") + `,{"kind":"job_result","runtime":"r","id":"x y","ts":"soon"}]`
	ds, err := DecodeBatch([]byte(body), decodeTestNow)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, fe := range ds[1].Errors {
		if fe.Index != 1 {
			t.Errorf("error %+v: index, want 1", fe)
		}
		fields = append(fields, fe.Field)
	}
	if fmt.Sprint(fields) != "[ts id]" {
		t.Errorf("fields in errors = %v, want [ts id]", fields)
	}
}

func TestDecodeBatchExtraLimit(t *testing.T) {
	// {"k":"…"} is 8 bytes around the padding.
	pad := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name   string
		fields string
		size   int
	}{
		{"extra at the limit", `,"extra":{"k":"` + pad(8184) + `"}`, 8192},
		{"extra over the limit", `,"extra":{"k":"` + pad(8185) + `"}`, 8193},
		{"unknown field brings it to the limit", `,"extra":{"k":"` + pad(8178) + `"},"u":1`, 8192},
		{"unknown field takes it over", `,"extra":{"k":"` + pad(8179) + `"},"u":1`, 8193},
		{"unknown fields alone", `,"k":"` + pad(8185) + `"`, 8193},
		{"counted compact", `,"extra":{ "k" : "` + pad(8184) + `" }`, 8192},
		{"escaping counted", `,"extra":{"k":"` + strings.Repeat(`\"`, 5000) + `"}`, 10008},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decodeOne(t, decodeTestEvent(tt.fields), decodeTestNow)
			if len(d.Errors) != 0 {
				t.Fatalf("errors %v: a large extra is truncated, not refused", d.Errors)
			}
			if tt.size <= 8192 {
				if len(d.Warnings) != 0 || len(d.Event.Extra) != tt.size {
					t.Errorf("warnings %v, extra %d bytes; want none and %d", d.Warnings, len(d.Event.Extra), tt.size)
				}
				return
			}
			want := fmt.Sprintf("is %d bytes and 1 levels deep as compact JSON", tt.size)
			if len(d.Warnings) != 1 || d.Warnings[0].Field != "extra" || !strings.HasPrefix(d.Warnings[0].Message, want) {
				t.Errorf("warnings %v, want extra: %s", d.Warnings, want)
			}
			var kept map[string]string
			if err := json.Unmarshal(d.Event.Extra, &kept); err != nil || len(d.Event.Extra) > 8192 || len(kept) != 1 ||
				!strings.HasPrefix(kept["truncated_json"], `{"k":"`) {
				t.Errorf("extra %d bytes: %.80s", len(d.Event.Extra), d.Event.Extra)
			}
		})
	}
}

// nested is depth arrays, one inside the other: valid JSON that encoding/json refuses
// past 10,000 levels.
func nested(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }

// A value nested deeper than encoding/json reads is never the batch's problem, nor a
// reason to refuse its event: like any value too deep for extra, it is kept there as the
// start of its JSON text, with a warning.
func TestDecodeBatchDeepValuesAreTheEventsProblem(t *testing.T) {
	body := "[" + decodeTestEvent(`,"extra":{"a":`+nested(20000)+`,"b":1}`) + "," +
		decodeTestEvent(`,"deep":`+nested(10001)) + "," + decodeTestEvent("") + "," +
		decodeTestEvent(`,"device_type":`+nested(20000)) + "]"
	ds, err := DecodeBatch([]byte(body), decodeTestNow)
	if err != nil || len(ds) != 4 {
		t.Fatalf("DecodeBatch: %d events, %v; want 4 events and no batch error", len(ds), err)
	}
	if known := ds[3]; len(known.Errors) != 0 || known.Event.DeviceType != "" || !bytes.Contains(known.Event.Extra, []byte(`"device_type":"[[[`)) {
		t.Errorf("event 3: errors %v, device_type %q, extra %.60s; want the array kept in extra as text", known.Errors, known.Event.DeviceType, known.Event.Extra)
	}
	truncated := ds[0]
	wantWarning := `is 20001 levels deep, more than the 32 allowed; stored as the start of its JSON text under "truncated_json"`
	if len(truncated.Errors) != 0 || len(truncated.Warnings) != 1 || truncated.Warnings[0].Field != "extra" || truncated.Warnings[0].Message != wantWarning {
		t.Errorf("event 0: errors %v, warnings %v; want only the warning %q", truncated.Errors, truncated.Warnings, wantWarning)
	}
	var kept map[string]string
	if err := json.Unmarshal(truncated.Event.Extra, &kept); err != nil || !strings.HasPrefix(kept["truncated_json"], `{"a":[[[`) || len(truncated.Event.Extra) > 8192 {
		t.Errorf("event 0 extra: %.60s (%d bytes), %v", truncated.Event.Extra, len(truncated.Event.Extra), err)
	}
	// An unknown field, or a known one where an array cannot be, kept in extra as the
	// start of its text, with a warning: never refused for its depth.
	unknown := ds[1]
	want := "is 10001 levels deep, more than the 32 allowed; kept in extra as the start of its JSON text"
	var extra map[string]any
	_ = json.Unmarshal(unknown.Event.Extra, &extra)
	text, _ := extra["deep"].(string)
	if len(unknown.Errors) != 0 || len(unknown.Warnings) != 1 || unknown.Warnings[0].Field != "deep" || unknown.Warnings[0].Message != want ||
		!strings.HasPrefix(text, "[[[") || len(unknown.Event.Extra) > 8192 {
		t.Errorf("event 1: errors %v, warnings %v, extra %.60s; want deep kept as text with the warning %q", unknown.Errors, unknown.Warnings, unknown.Event.Extra, want)
	}
	if len(ds[2].Errors) != 0 || ds[2].Event.ID == "" {
		t.Errorf("event 2: %v; want it decoded", ds[2].Errors)
	}
}

func TestDecodeBatchIDs(t *testing.T) {
	body := readDecodeTestdata(t, "kernelci-events.json")
	first, err := DecodeBatch(body, decodeTestNow)
	if err != nil {
		t.Fatal(err)
	}
	again, err := DecodeBatch(body, decodeTestNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		if first[i].Event.ID != again[i].Event.ID {
			t.Errorf("event %d: id %s, then %s", i, first[i].Event.ID, again[i].Event.ID)
		}
	}

	// Without ts and id, events are distinct occurrences, as KernelCI stores them: three
	// identical ones in a batch are three events, in batch order a microsecond apart.
	noTS := decodeTestEvent(`,"kind":"runtime_error","error_type":"online_check"`)
	ds, err := DecodeBatch([]byte("["+noTS+","+noTS+","+noTS+"]"), decodeTestNow)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for i, d := range ds {
		ids[d.Event.ID] = true
		if want := decodeTestNow.Add(time.Duration(i) * time.Microsecond); !d.Event.TS.Equal(want) {
			t.Errorf("event %d: ts %v, want %v", i, d.Event.TS, want)
		}
	}
	if len(ids) != 3 {
		t.Errorf("three occurrences got %d ids", len(ids))
	}
	// A ts equal to the time of receipt names the same occurrence as the stamped one.
	withTS := decodeOne(t, decodeTestEvent(`,"kind":"runtime_error","error_type":"online_check","ts":"2026-08-21T00:00:00Z"`), decodeTestNow)
	if withTS.Event.ID != ds[0].Event.ID {
		t.Error("the same content at the same time gives another id")
	}
}

func TestDecodeBatchIDsDifferWithContent(t *testing.T) {
	variants := []string{
		decodeTestEvent(``),
		`{"kind":"test_result","runtime":"lava-collabora"}`,
		`{"kind":"job_result","runtime":"lava-broonie"}`,
		decodeTestEvent(`,"ts":"2026-08-20T14:03:11Z"`),
		decodeTestEvent(`,"ts":"2026-08-20T14:03:11.000001Z"`),
		decodeTestEvent(`,"result":"pass"`),
		decodeTestEvent(`,"result":"fail"`),
		decodeTestEvent(`,"is_infra_error":true`),
		decodeTestEvent(`,"error_msg":"x"`),
		decodeTestEvent(`,"retry":1`),
		decodeTestEvent(`,"retry":2`),
		decodeTestEvent(`,"duration":0`),
		decodeTestEvent(`,"duration":1.5`),
		decodeTestEvent(`,"extra":{"a":1}`),
		decodeTestEvent(`,"extra":{"a":"1"}`),
		decodeTestEvent(`,"extra":{"a":1.0}`),
		decodeTestEvent(`,"b":1`), // an unknown field is stored as a key of extra
		// the same value in two fields is two different events
		decodeTestEvent(`,"job_name":"x"`),
		decodeTestEvent(`,"test_name":"x"`),
		// a value that looks like the next field's encoding
		decodeTestEvent(`,"job_name":"x\ntest_name 1 y"`),
		decodeTestEvent(`,"job_name":"x","test_name":"y"`),
	}
	for _, name := range StringFields {
		variants = append(variants, decodeTestEvent(`,"`+name+`":"v"`))
	}
	seen := map[string]string{}
	for _, v := range variants {
		d := decodeOne(t, v, decodeTestNow)
		if len(d.Errors) != 0 {
			t.Fatalf("%s: %v", v, d.Errors)
		}
		if prev, dup := seen[d.Event.ID]; dup && prev != v {
			t.Errorf("%s and %s have the same id %s", prev, v, d.Event.ID)
		}
		seen[d.Event.ID] = v
	}
}

func TestDecodeBatchIDsIgnoreSpelling(t *testing.T) {
	same := [][]string{
		{`,"ts":"2026-08-20T14:03:11Z"`, `,"ts":"2026-08-20T16:03:11+02:00"`, `,"ts":"2026-08-20 14:03:11.0000001"`},
		{`,"extra":{"a":1,"b":2}`, `,"extra":{ "b":2, "a":1 }`, `,"b":2,"extra":{"a":1}`},
		{`,"duration":1`, `,"duration":1.0`, `,"duration":1e0`},
		{`,"retry":2`, `,"retry":2.0`},
		{``, `,"retry":0`, `,"is_infra_error":false`, `,"tree":null`, `,"tree":""`, `,"extra":{}`, `,"duration":null`},
		{`,"job_name":"é"`, `,"job_name":"\u00e9"`},
	}
	for _, group := range same {
		want := decodeOne(t, decodeTestEvent(group[0]), decodeTestNow).Event.ID
		for _, fields := range group[1:] {
			if got := decodeOne(t, decodeTestEvent(fields), decodeTestNow).Event.ID; got != want {
				t.Errorf("%s: id %s, want %s as for %s", fields, got, want, group[0])
			}
		}
	}
}

func TestDeriveID(t *testing.T) {
	d := 12.5
	e := Event{Kind: "job_result", Runtime: "lava", TS: decodeTestNow, Duration: &d}
	id := DeriveID(&e)
	if !hexID.MatchString(id) {
		t.Fatalf("id %q is not 24 lowercase hex digits (KernelCI's ObjectId shape)", id)
	}
	e.ID, e.ReceivedAt = "something", decodeTestNow.Add(time.Hour)
	if DeriveID(&e) != id {
		t.Error("ID or ReceivedAt changed the derived id")
	}
	e.TS = e.TS.Add(time.Microsecond)
	if DeriveID(&e) == id {
		t.Error("ts makes no difference")
	}
	neg := 0.0
	neg = -neg
	zero := 0.0
	if DeriveID(&Event{Kind: "k", Duration: &neg}) != DeriveID(&Event{Kind: "k", Duration: &zero}) {
		t.Error("-0 and 0 give different ids")
	}
}

func TestParseTime(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	valid := []struct {
		in   string
		want time.Time
	}{
		{"2026-08-20T14:03:11Z", utc("2026-08-20T14:03:11Z")},
		{"2026-08-20t14:03:11z", utc("2026-08-20T14:03:11Z")},
		{"2026-08-20T14:03:11.482913+00:00", utc("2026-08-20T14:03:11.482913Z")},
		{"2026-08-20T14:03:11,5Z", utc("2026-08-20T14:03:11.5Z")},
		{"2026-08-20T14:03:11.123456789Z", utc("2026-08-20T14:03:11.123456789Z")},
		{"2026-08-20T14:03:11+0200", utc("2026-08-20T12:03:11Z")},
		{"2026-08-20T14:03:11-03", utc("2026-08-20T17:03:11Z")},
		{"2026-08-20T14:03:11", utc("2026-08-20T14:03:11Z")},
		{"2026-08-20 14:03:11.5", utc("2026-08-20T14:03:11.5Z")},
		{"2026-08-20T14:03", utc("2026-08-20T14:03:00Z")},
		{"2026-08-20T14:03-01:00", utc("2026-08-20T15:03:00Z")},
		{"2026-08-20", utc("2026-08-20T00:00:00Z")},
		{"2026-08-20T00:30:00+01:00", utc("2026-08-19T23:30:00Z")},
	}
	for _, tt := range valid {
		got, err := ParseTime(tt.in)
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v in UTC", tt.in, got, err, tt.want)
		}
	}
	invalid := []string{
		"", "2026", "yesterday", "1755698591", "2026-08-20T", "2026-08-20T14", "2026-08-20T1:03:11Z",
		"2026-8-20", "2026-08-20X14:03:11Z", " 2026-08-20", "2026-08-20 ", "2026-08-20T14:03:11 Z",
		"2026-13-01", "2026-02-30", "2026-08-20T24:00:00Z", "2026-08-20T14:60:00Z",
		"2026-08-20T14:03:11.Z", "2026-08-20T14:03:11+25:00", "20260820T140311Z", "2026-08-20T14:03:11UTC",
	}
	for _, in := range invalid {
		if got, err := ParseTime(in); err == nil || err.Error() != "is not an ISO 8601 time such as 2026-08-20T14:03:11Z" {
			t.Errorf("ParseTime(%q) = %v, %v; want the ISO 8601 error", in, got, err)
		}
	}
	for _, in := range []string{"0000-12-31T23:59:59Z", "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"} {
		if _, err := ParseTime(in); err == nil || err.Error() != "is outside the years 0001 to 9999 once converted to UTC" {
			t.Errorf("ParseTime(%q): %v, want the range error", in, err)
		}
	}
}

// BenchmarkDecodeBatch decodes a 1,000-event batch built from the KernelCI sample, and
// reports how it compares with a bare json.Unmarshal of the same body measured in the
// same run, since absolute times on a shared machine say little.
func BenchmarkDecodeBatch(b *testing.B) {
	var sample []json.RawMessage
	if err := json.Unmarshal(readDecodeTestdata(b, "kernelci-events.json"), &sample); err != nil {
		b.Fatal(err)
	}
	const n = 1000
	events := make([]json.RawMessage, n)
	for i := range events {
		events[i] = sample[i%len(sample)]
	}
	body, err := json.Marshal(events)
	if err != nil {
		b.Fatal(err)
	}
	ds, err := DecodeBatch(body, decodeTestNow)
	if err != nil || len(ds) != n {
		b.Fatalf("%d events, %v", len(ds), err)
	}
	for i, d := range ds {
		if len(d.Errors) != 0 {
			b.Fatalf("event %d: %v", i, d.Errors)
		}
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var decode, baseline time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := DecodeBatch(body, decodeTestNow); err != nil {
			b.Fatal(err)
		}
		decode += time.Since(start)

		b.StopTimer()
		start = time.Now()
		var generic []map[string]any
		if err := json.Unmarshal(body, &generic); err != nil {
			b.Fatal(err)
		}
		baseline += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(decode.Nanoseconds())/float64(b.N)/n, "ns/event")
	b.ReportMetric(float64(decode)/float64(baseline), "x_json_unmarshal")
}

// FuzzDecodeEachMember checks the hand-written member splitter against encoding/json on
// any valid object; the seeds run with every go test.
func FuzzDecodeEachMember(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(` { } `))
	f.Add([]byte(`{"a":1}`))
	f.Add([]byte("{ \"a\" :\t-1.5e+3 ,\n\"b\" : [ {\"}\" : \"]\\\"{\" } , [] ] , \"c\":true,\"d\":null,\"e\":{\"x\":{\"y\":[1,2]}} }"))
	f.Add([]byte(`{"\"k\\":"v\\","a\u0062":"\ud83d\ude00","n":0}`))
	var sample []json.RawMessage
	if err := json.Unmarshal(readDecodeTestdata(f, "kernelci-events.json"), &sample); err != nil {
		f.Fatal(err)
	}
	for _, s := range sample {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, obj []byte) {
		obj = bytes.TrimSpace(obj)
		// Text that is not UTF-8 is reported before members are unquoted, so is left out.
		if !json.Valid(obj) || !utf8.Valid(obj) || len(obj) == 0 || obj[0] != '{' {
			return
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal(obj, &want); err != nil {
			t.Fatal(err)
		}
		got := map[string]json.RawMessage{}
		if !eachMember(obj, func(name, value []byte) { got[unquoteJSON(name)] = value }) {
			t.Fatalf("eachMember(%s) failed", obj)
		}
		if len(got) != len(want) {
			t.Fatalf("eachMember(%s) = %q, want %q", obj, got, want)
		}
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				t.Fatalf("eachMember(%s)[%q] = %s, want %s", obj, k, got[k], v)
			}
		}
	})
}

// FuzzDecodeBatch checks that no body makes DecodeBatch panic, and that a body it accepts
// yields one result per element with errors indexed accordingly.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(readDecodeTestdata(f, "kernelci-events.json"))
	f.Add(readDecodeTestdata(f, "invalid-events.json"))
	f.Add([]byte(`[{"kind":"a","runtime":"r","x":"\ud800","ts":"2026-08-20"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ds, err := DecodeBatch(body, decodeTestNow)
		if err != nil {
			if ErrorCode(err) != CodeInvalid && ErrorCode(err) != CodeTooLarge {
				t.Fatalf("error %v", err)
			}
			return
		}
		var elems []json.RawMessage
		if json.Unmarshal(bytes.TrimPrefix(body, utf8BOM), &elems) != nil || len(elems) != len(ds) {
			t.Fatalf("%d results for %s", len(ds), body)
		}
		for i, d := range ds {
			for _, fe := range d.Errors {
				if fe.Index != i {
					t.Fatalf("result %d has error %+v", i, fe)
				}
			}
			// kind and runtime may be "" (KernelCI's monitor sends runtime ""), but a valid
			// event always has its id and time.
			if len(d.Errors) == 0 && (d.Event.ID == "" || d.Event.TS.IsZero()) {
				t.Fatalf("result %d is valid but incomplete: %+v", i, d.Event)
			}
		}
	})
}
