package api_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/lambdatest"
)

func gzipped(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func withHeaders(req events.APIGatewayV2HTTPRequest, kv ...string) events.APIGatewayV2HTTPRequest {
	req.Headers = map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		req.Headers[kv[i]] = kv[i+1]
	}
	return req
}

func TestRequestBodyEncodings(t *testing.T) {
	a := newAPI(t, nil)
	batch := `[{"kind":"job_result","runtime":"gz","ts":"2026-08-20T10:00:00Z"}]`
	bomb := gzipped(t, "["+strings.Repeat(" ", 7<<20)+"]")
	cases := []struct {
		name, encoding, body string
		base64               bool
		status               int
		mention              string
	}{
		{"gzip", "gzip", gzipped(t, batch), true, 200, `"inserted":1`},
		{"identity", "identity", batch, false, 200, `"duplicates":1`},
		{"a bomb is too large", "gzip", bomb, true, 413, "decompresses to more than 6291456 bytes"},
		{"not gzip", "gzip", base64.StdEncoding.EncodeToString([]byte(batch)), true, 400, "not gzip data"},
		{"cut short", "gzip", gzipped(t, batch)[:40], true, 400, "gzip"},
		{"unsupported", "br", base64.StdEncoding.EncodeToString([]byte("x")), true, 415, `Content-Encoding \"br\" is not supported`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := withHeaders(request("POST", "", tc.body), "content-encoding", tc.encoding)
			req.IsBase64Encoded = tc.base64
			r := call(t, a.ingest, req)
			if r.status != tc.status || !strings.Contains(r.raw, tc.mention) {
				t.Errorf("%d %.300s; want %d mentioning %s", r.status, r.raw, tc.status, tc.mention)
			}
		})
	}
}

// TestQueryTimeWithPlusAsSpace: a '+' sent unencoded arrives as a space; the offset it
// was is read back, and an unparsable time quotes the value received.
func TestQueryTimeWithPlusAsSpace(t *testing.T) {
	a := newAPI(t, nil)
	call(t, a.ingest, request("POST", "", `[{"kind":"job_result","runtime":"tz","ts":"2026-08-20T07:12:34Z"},{"kind":"job_result","runtime":"tz","ts":"2026-08-20T07:12:32Z"}]`))
	r := call(t, a.query, request("GET", "runtime=tz&since=2026-08-20T14:12:33.000+07:00", ""))
	if r.status != 200 || r.body["total"] != 1.0 {
		t.Errorf("since with + as a space: %d %s", r.status, r.raw)
	}
	r = call(t, a.query, request("GET", "runtime=tz&since=2026-08-20T14:12:33.000%2B07:00", ""))
	if r.status != 200 || r.body["total"] != 1.0 {
		t.Errorf("since with %%2B: %d %s", r.status, r.raw)
	}
	r = call(t, a.query, request("GET", "since=last+week", ""))
	want := `since is not an ISO 8601 time such as 2026-08-20T14:03:11Z, not "last week" (a '+' in a query string must be sent as %2B).`
	if r.status != 400 || r.body["detail"] != want {
		t.Errorf("%d %q, want %q", r.status, r.body["detail"], want)
	}
}

// TestResponsesEndWithANewlineAndDoNotEscapeHTML: a body as curl prints it, and '<' not
// grown to \u003c (six bytes against the payload limit).
func TestResponsesEndWithANewlineAndDoNotEscapeHTML(t *testing.T) {
	a := newAPI(t, nil)
	call(t, a.ingest, request("POST", "", `[{"kind":"job_result","runtime":"html","error_msg":"<a> & <b>","ts":"2026-08-20T10:00:00Z"}]`))
	r := call(t, a.query, request("GET", "runtime=html", ""))
	if !strings.HasSuffix(r.raw, "}\n") || !strings.Contains(r.raw, `"error_msg":"<a> & <b>"`) {
		t.Errorf("body %q", r.raw)
	}
}

// atTheLimits is an event with every field at its documented bound, text as KernelCI's
// scheduler writes it: a traceback with quotes and line breaks, which JSON escapes.
func atTheLimits(i int, ts time.Time) map[string]any {
	line := `  File "/usr/lib/python3/site-packages/kernelci/runtime/lava.py", line 312, in submit` + "\n"
	msg := strings.Repeat(line, 16<<10/len(line)+1)[:16<<10]
	field := func(name string) string { return (name + strings.Repeat("-x", 512))[:1024] }
	e := map[string]any{
		"kind": "runtime_error", "runtime": "limits", "ts": ts.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano),
		"error_msg": msg, "is_infra_error": true, "retry": 3, "duration": 12.5,
		"extra": map[string]any{"log": strings.Repeat("k", 8<<10-10)},
	}
	for _, f := range []string{"device_type", "device_id", "job_name", "test_name", "job_id", "node_id", "tree", "branch", "arch", "error_type", "result"} {
		e[f] = field(f)
	}
	return e
}

func responseBody(t *testing.T, resp events.APIGatewayV2HTTPResponse) []byte {
	t.Helper()
	body, err := lambdatest.ClientBody(resp)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestNoResponseOverThePayloadLimit stores 150 events at the documented limits and
// pages through them with limit=100 and limit=1000, with and without gzip: no response
// is over Lambda's limit, every event comes exactly once, and limit=100 pages are never
// short before the end (KernelCI's offset loop stops on a short page).
func TestNoResponseOverThePayloadLimit(t *testing.T) {
	a := newAPI(t, nil)
	const n = 150
	base := time.Date(2026, 8, 20, 10, 0, 0, 0, time.UTC)
	for start := 0; start < n; start += 75 {
		var batch []map[string]any
		for i := start; i < start+75; i++ {
			batch = append(batch, atTheLimits(i, base))
		}
		body, _ := json.Marshal(batch)
		r := call(t, a.ingest, request("POST", "", string(body)))
		if r.status != 200 || r.body["inserted"] != 75.0 || r.body["warnings"] != nil {
			t.Fatalf("ingest at the limits: %d %.300s", r.status, r.raw)
		}
	}
	for _, tc := range []struct {
		limit int
		gzip  bool
	}{{100, false}, {100, true}, {1000, false}, {1000, true}} {
		t.Run(fmt.Sprintf("limit=%d gzip=%v", tc.limit, tc.gzip), func(t *testing.T) {
			seen := map[string]bool{}
			query := fmt.Sprintf("runtime=limits&limit=%d", tc.limit)
			for pages := 0; ; pages++ {
				req := request("GET", query, "")
				if tc.gzip {
					req = withHeaders(req, "accept-encoding", "gzip, deflate")
				}
				resp, err := a.query(t.Context(), req)
				if err != nil {
					t.Fatal(err)
				}
				if size := api.PayloadSize(resp); size > api.MaxPayloadBytes {
					t.Fatalf("page %d: a %d-byte response, over Lambda's %d", pages, size, api.MaxPayloadBytes)
				}
				var page struct {
					Items []struct{ ID string } `json:"items"`
					Next  *string               `json:"next"`
				}
				if err := json.Unmarshal(responseBody(t, resp), &page); err != nil {
					t.Fatal(err)
				}
				for _, it := range page.Items {
					if seen[it.ID] {
						t.Fatalf("event %s twice", it.ID)
					}
					seen[it.ID] = true
				}
				if tc.limit == 100 && len(page.Items) < 100 && len(seen) < n {
					t.Fatalf("page %d: a short page of %d before the end, which ends KernelCI's loop", pages, len(page.Items))
				}
				if page.Next == nil {
					break
				}
				query = fmt.Sprintf("runtime=limits&limit=%d&cursor=%s", tc.limit, *page.Next)
			}
			if len(seen) != n {
				t.Errorf("saw %d events, want %d", len(seen), n)
			}
		})
	}
}

// TestKernelCIOffsetLoopWhileEventsArrive follows kernelci-core's find(): limit=100,
// offset += 100 until a short page, while a pipeline keeps posting to the same filter.
// Every event posted before the loop comes back exactly once.
func TestKernelCIOffsetLoopWhileEventsArrive(t *testing.T) {
	a := newAPI(t, nil)
	post := func(from, count int, ts func(int) string) {
		var evs []string
		for i := from; i < from+count; i++ {
			evs = append(evs, fmt.Sprintf(`{"kind":"test_result","runtime":"loop","test_name":"t%d","result":"pass"%s}`, i, ts(i)))
		}
		r := call(t, a.ingest, request("POST", "", "["+strings.Join(evs, ",")+"]"))
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	}
	base := time.Date(2026, 8, 21, 8, 0, 0, 0, time.UTC)
	post(0, 450, func(i int) string {
		return `,"ts":"` + base.Add(time.Duration(i)*time.Second).Format(time.RFC3339) + `"`
	})
	seen := map[string]int{}
	next := 450
	for offset := 0; ; offset += 100 {
		r := call(t, a.query, request("GET", fmt.Sprintf("runtime=loop&limit=100&offset=%d", offset), ""))
		items := r.body["items"].([]any)
		for _, it := range items {
			seen[it.(map[string]any)["test_name"].(string)]++
		}
		if len(items) < 100 {
			break
		}
		post(next, 7, func(int) string { return "" }) // live events, stamped as received
		next += 7
	}
	for i := range 450 {
		if c := seen[fmt.Sprintf("t%d", i)]; c != 1 {
			t.Errorf("event t%d returned %d times", i, c)
		}
	}
}
