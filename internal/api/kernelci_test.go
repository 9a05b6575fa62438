package api_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/api"
)

// objectID is the shape of KernelCI's ObjectId, which TelemetryEvent requires of id.
var objectID = regexp.MustCompile(`^[0-9a-f]{24}$`)

// items reads back the events matching query, as kernelci-core's find() would.
func (a testAPI) items(t *testing.T, query string) []map[string]any {
	t.Helper()
	r := call(t, a.query, request("GET", query, ""))
	if r.status != 200 {
		t.Fatalf("GET ?%s: %d %s", query, r.status, r.raw)
	}
	var out []map[string]any
	for _, it := range r.body["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// TestIngestStoresWhatKernelCIStores posts each input KernelCI's model accepts and that
// pipetel once refused (losing whole batches of the emitter), and reads it back.
func TestIngestStoresWhatKernelCIStores(t *testing.T) {
	a := newAPI(t, nil)
	traceback := "Traceback (most recent call last):\n  File \"scheduler.py\", line 42, in submit\n" + strings.Repeat("    raise SubmitError(\"lab refused the job\")\n", 110)
	tb, _ := json.Marshal(traceback)
	cases := []struct {
		name, fields string
		want         map[string]any // fields of the item read back
	}{
		{"runtime empty", `"kind":"build_result","runtime":"","job_name":"r1"`, map[string]any{"runtime": ""}},
		{"scheduler traceback", `"kind":"runtime_error","runtime":"r2","error_msg":` + string(tb), map[string]any{"error_msg": traceback}},
		{"free kind and result", `"kind":"Job Result","runtime":"r3","result":"done"`, map[string]any{"kind": "Job Result", "result": "done"}},
		{"infra as a string", `"kind":"job_result","runtime":"r4","is_infra_error":"true"`, map[string]any{"is_infra_error": true}},
		{"retry as a string", `"kind":"job_result","runtime":"r5","retry":"1"`, map[string]any{"retry": 1.0}},
		{"retry as a float", `"kind":"job_result","runtime":"r6","retry":2.0`, map[string]any{"retry": 2.0}},
		{"ts in epoch seconds", `"kind":"job_result","runtime":"r7","ts":1764489600`, map[string]any{"ts": "2025-11-30T08:00:00.000000Z"}},
		{"ts with a space", `"kind":"job_result","runtime":"r8","ts":"2026-08-20 10:00:00"`, map[string]any{"ts": "2026-08-20T10:00:00.000000Z"}},
		{"null is absent", `"kind":"job_result","runtime":"r9","device_type":null,"retry":null,"is_infra_error":null,"extra":null`,
			map[string]any{"device_type": nil, "retry": 0.0, "is_infra_error": false, "extra": map[string]any{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, a.ingest, request("POST", "", "[{"+tc.fields+"}]"))
			if r.status != 200 || r.body["inserted"] != 1.0 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			var sent map[string]any
			_ = json.Unmarshal([]byte("{"+tc.fields+"}"), &sent)
			query := "runtime=" + url.QueryEscape(sent["runtime"].(string))
			if sent["runtime"] == "" {
				query = "job_name=" + sent["job_name"].(string)
			}
			got := a.items(t, query)
			if len(got) != 1 {
				t.Fatalf("read back %d items", len(got))
			}
			for field, want := range tc.want {
				if fmt.Sprint(got[0][field]) != fmt.Sprint(want) {
					t.Errorf("%s = %#v, want %#v", field, got[0][field], want)
				}
			}
			if !objectID.MatchString(got[0]["id"].(string)) {
				t.Errorf("id %v is not ObjectId-shaped", got[0]["id"])
			}
		})
	}
}

// TestIngestTruncatesAndWarnsInsteadOfRefusing: values beyond pipetel's bounds are
// stored truncated, the item names the truncated fields, and the response warns.
func TestIngestTruncatesAndWarnsInsteadOfRefusing(t *testing.T) {
	a := newAPI(t, nil)
	long := strings.Repeat("x", 16<<10+5)
	body := `[{"kind":"runtime_error","runtime":"rt","ts":"2026-08-20T10:00:00Z","error_msg":"` + long + `"},
	          {"kind":"job_result","runtime":"rt","ts":"2026-08-23T00:00:00Z","duration":"soon"}]`
	r := call(t, a.ingest, request("POST", "", body))
	if r.status != 200 || r.body["inserted"] != 2.0 {
		t.Fatalf("%d %.300s", r.status, r.raw)
	}
	var warned []string
	for _, w := range r.body["warnings"].([]any) {
		w := w.(map[string]any)
		warned = append(warned, fmt.Sprintf("%v:%v", w["index"], w["field"]))
	}
	if fmt.Sprint(warned) != "[0:error_msg 1:ts 1:duration]" {
		t.Errorf("warnings on %v", warned)
	}
	items := a.items(t, "runtime=rt&kind=runtime_error")
	if len(items) != 1 || items[0]["error_msg"] != long[:16<<10] || fmt.Sprint(items[0]["truncated"]) != "[error_msg]" {
		t.Errorf("truncated event read back as %.200v", items)
	}
	items = a.items(t, "runtime=rt&kind=job_result")
	extra, _ := items[0]["extra"].(map[string]any)
	if items[0]["ts"] != "2026-08-21T09:00:00.000001Z" || extra["ts"] != "2026-08-23T00:00:00Z" || extra["duration"] != "soon" {
		t.Errorf("far-future event read back as %v", items[0])
	}
}

// TestEmitterBatchAllStoredAndParsable posts a batch of 50 shaped as kernelci-pipeline's
// TelemetryEmitter posts it (kind and an isoformat ts first, then the caller's fields),
// with the events once refused among them; every one is stored and reads back as
// KernelCI's TelemetryEvent would parse it.
func TestEmitterBatchAllStoredAndParsable(t *testing.T) {
	a := newAPI(t, nil)
	base := time.Date(2026, 8, 21, 8, 0, 0, 0, time.UTC)
	var events []map[string]any
	for i := range 50 {
		ts := base.Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.000000+00:00")
		e := map[string]any{"kind": "test_result", "ts": ts, "runtime": "lava-collabora", "device_type": "rk3588",
			"job_name": "baseline-arm64", "test_name": fmt.Sprintf("case.%d", i), "result": "pass", "job_id": fmt.Sprint(1000 + i)}
		switch i {
		case 9: // monitor: a finished build node without a runtime
			e = map[string]any{"kind": "build_result", "ts": ts, "runtime": "", "result": "pass", "node_id": "69a1f0c2d3e4b5a6c7d8e9f0"}
		case 12: // scheduler: submit error with a traceback
			e = map[string]any{"kind": "runtime_error", "ts": ts, "runtime": "lava-collabora", "error_type": "submission",
				"error_msg": strings.Repeat("Traceback line with \"quotes\"\n", 170)}
		case 20: // lava callback: free-string kind and result
			e = map[string]any{"kind": "Job Result", "ts": ts, "runtime": "lava-collabora", "result": "done", "job_id": "4242"}
		case 30: // lax values
			e = map[string]any{"kind": "job_result", "ts": ts, "runtime": "lava-collabora", "result": "fail",
				"is_infra_error": "true", "retry": "1", "extra": map[string]any{"threshold": 1.0}}
		}
		events = append(events, e)
	}
	body, _ := json.Marshal(events)
	r := call(t, a.ingest, request("POST", "", string(body)))
	if r.status != 200 || r.body["inserted"] != 50.0 {
		t.Fatalf("%d %.400s", r.status, r.raw)
	}
	items := a.items(t, "limit=100&since=2026-08-21T08:00:00Z")
	if len(items) != 50 {
		t.Fatalf("read back %d items, want 50", len(items))
	}
	for i, it := range items {
		sent := events[i]
		if !objectID.MatchString(fmt.Sprint(it["id"])) {
			t.Errorf("item %d: id %v is not ObjectId-shaped", i, it["id"])
		}
		ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(it["ts"]))
		if want, _ := time.Parse(time.RFC3339Nano, sent["ts"].(string)); err != nil || !ts.Equal(want) {
			t.Errorf("item %d: ts %v, want %v (items come oldest first)", i, it["ts"], sent["ts"])
		}
		for field, v := range sent {
			switch field {
			case "ts":
			case "is_infra_error":
				if it[field] != true {
					t.Errorf("item %d: is_infra_error %v", i, it[field])
				}
			case "retry":
				if it[field] != 1.0 {
					t.Errorf("item %d: retry %v", i, it[field])
				}
			default:
				if fmt.Sprint(it[field]) != fmt.Sprint(v) {
					t.Errorf("item %d: %s = %.80v, want %.80v", i, field, it[field], v)
				}
			}
		}
	}
	if !strings.Contains(r.raw, `"inserted":50`) {
		t.Errorf("raw %s", r.raw)
	}
}

// TestExtraFloatsEchoAsFloats: KernelCI writes 1.0; it reads back as 1.0, not 1.
func TestExtraFloatsEchoAsFloats(t *testing.T) {
	a := newAPI(t, nil)
	r := call(t, a.ingest, request("POST", "", `[{"kind":"job_result","runtime":"f","ts":"2026-08-20T10:00:00Z","extra":{"threshold":1.0,"n":2}}]`))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	q := call(t, a.query, request("GET", "runtime=f", ""))
	if !strings.Contains(q.raw, `"extra":{"n":2,"threshold":1.0}`) {
		t.Errorf("extra not echoed as sent: %s", q.raw)
	}
}

// TestEventsWithoutTSOrIDAreDistinct: three identical runtime errors without ts or id in
// one batch are three occurrences (KernelCI stores three, and error anomalies count them),
// stamped in batch order.
func TestEventsWithoutTSOrIDAreDistinct(t *testing.T) {
	a := newAPI(t, nil)
	ev := `{"kind":"runtime_error","runtime":"d","error_type":"online_check"}`
	r := call(t, a.ingest, request("POST", "", "["+ev+","+ev+","+ev+"]"))
	if r.status != 200 || r.body["inserted"] != 3.0 || r.body["duplicates"] != 0.0 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	items := a.items(t, "runtime=d")
	var ts []string
	for _, it := range items {
		ts = append(ts, it["ts"].(string))
	}
	want := "[2026-08-21T09:00:00.000000Z 2026-08-21T09:00:00.000001Z 2026-08-21T09:00:00.000002Z]"
	if fmt.Sprint(ts) != want {
		t.Errorf("ts %v, want %s", ts, want)
	}
}

// TestInvalidDetailNamesTheEvents: KernelCI's client logs only detail, so detail names
// the first invalid events and fields itself.
func TestInvalidDetailNamesTheEvents(t *testing.T) {
	a := newAPI(t, nil)
	var events []string
	for i := range 50 {
		switch i {
		case 9:
			events = append(events, `{"kind":"job_result"}`)
		case 12:
			events = append(events, `{"kind":"job_result","runtime":"r","ts":"last tuesday"}`)
		default:
			events = append(events, `{"kind":"job_result","runtime":"r"}`)
		}
	}
	r := call(t, a.ingest, request("POST", "", "["+strings.Join(events, ",")+"]"))
	want := `2 of 50 events are invalid, so none was stored: event 9: runtime is required, a string such as "lava-collabora"; event 12: ts is not an ISO 8601 time such as 2026-08-20T14:03:11Z, not "last tuesday". Fix them and resend, or add ?partial=true to store the valid ones.`
	if r.status != 400 || r.body["detail"] != want {
		t.Errorf("%d detail %q\nwant %q", r.status, r.body["detail"], want)
	}
	if errs := r.body["errors"].([]any); len(errs) != 2 {
		t.Errorf("errors %v", errs)
	}
}

// TestExplicitIDIsTheIdempotencyKey: a resend with the same id is a duplicate whatever
// its ts, including none (which is stamped with another time of receipt each time).
func TestExplicitIDIsTheIdempotencyKey(t *testing.T) {
	a := newAPI(t, nil)
	clock := testNow
	a.deps.Now = func() time.Time { return clock }
	ingest := api.NewIngest(a.deps)
	for i, body := range []string{
		`[{"kind":"job_result","runtime":"lab-a","id":"lava-4242.result","result":"fail"}]`,
		`[{"kind":"job_result","runtime":"lab-a","id":"lava-4242.result","result":"fail"}]`,
		`[{"kind":"job_result","runtime":"lab-a","id":"lava-4242.result","result":"fail","ts":"2026-08-20T10:00:00Z"}]`,
		`[{"kind":"job_result","runtime":"lab-a","id":"lava-4242.result","result":"fail","ts":"2026-08-20T11:00:00Z"},{"kind":"job_result","runtime":"lab-a","id":"lava-4242.result"}]`,
	} {
		clock = clock.Add(time.Second)
		r := call(t, ingest, request("POST", "", body))
		wantInserted := 0.0
		if i == 0 {
			wantInserted = 1
		}
		if r.status != 200 || r.body["inserted"] != wantInserted {
			t.Errorf("post %d: %d %s, want %v inserted", i, r.status, r.raw, wantInserted)
		}
	}
	if items := a.items(t, "runtime=lab-a"); len(items) != 1 || items[0]["id"] != "lava-4242.result" {
		t.Errorf("stored %v, want the one event", items)
	}
}
