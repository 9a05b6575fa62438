package api_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/api/reports"
)

// wideGroupBy is a stats group_by of nine fields, each holding a value near its 1,024-byte
// bound in the events of TestLargeAnswersAreGzippedOrRefused.
const wideGroupBy = "runtime,device_type,device_id,job_name,tree,branch,arch,kind,error_type"

// wideValue is event i's value of field: distinct per event, near the field's bound, and
// repetitive enough that gzip shrinks it far below the payload limit.
func wideValue(field string, i int) string {
	return (fmt.Sprintf("%s-%04d-", field, i) + strings.Repeat("y", 1024))[:1000]
}

// TestLargeAnswersAreGzippedOrRefused: every route's answer leaves through the same
// finish. A stats answer over Lambda's 6 MB response limit comes back gzipped to a client
// that accepts gzip, and decompresses to every group; to a client that does not, it is a
// 413 saying how to ask for less, not a response Lambda cannot carry (a bare 502 at the
// gateway). An answer too large even compressed is the 413 too, without suggesting gzip;
// a small answer is left plain.
func TestLargeAnswersAreGzippedOrRefused(t *testing.T) {
	a := newAPI(t, nil)
	const n = 1000
	base := time.Date(2026, 8, 21, 8, 0, 0, 0, time.UTC)
	for start := 0; start < n; start += 100 {
		var batch []map[string]any
		for i := start; i < start+100; i++ {
			e := map[string]any{"kind": "job_result", "result": "fail", "is_infra_error": true,
				"runtime": "sizes", "ts": base.Add(time.Duration(i) * time.Second).Format(time.RFC3339)}
			for _, f := range []string{"device_type", "device_id", "job_name", "tree", "branch", "arch", "error_type"} {
				e[f] = wideValue(f, i)
			}
			batch = append(batch, e)
		}
		body, _ := json.Marshal(batch)
		if r := call(t, a.ingest, request("POST", "", string(body))); r.status != 200 {
			t.Fatalf("ingest: %d %.300s", r.status, r.raw)
		}
	}
	stats := reports.NewStats(a.deps)
	incompressible := make([]byte, 5<<20)
	_, _ = rand.Read(incompressible)
	blob := hex.EncodeToString(incompressible) // 10 MB that gzip leaves above 5 MB
	// route answers blob from the named route, whose 413 names that route's own remedies.
	route := func(name string) api.Handler {
		return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return api.Serve(ctx, a.deps, name, req, func(context.Context, *slog.Logger) (events.APIGatewayV2HTTPResponse, error) {
				return api.JSON(200, map[string]string{"blob": blob}), nil
			})
		}
	}
	wide := "runtime=sizes&group_by=" + wideGroupBy
	for _, c := range []struct {
		name       string
		h          api.Handler
		query      string
		gzip       bool
		wantStatus int
		wantGzip   bool
		wantDetail []string // in a 413's detail
		notDetail  string
	}{
		{"wide stats, gzip accepted", stats, wide, true, 200, true, nil, ""},
		{"wide stats, plain only", stats, wide, false, 413, false,
			[]string{"more than the 6 MB (6291456 bytes) a response can carry", "Accept-Encoding: gzip", "group by fewer fields"}, ""},
		{"too large even gzipped", route("stats"), "", true, 413, false,
			[]string{"more than the 6 MB", "narrow the question"}, "Accept-Encoding"},
		// The fresh-user trial's anomalies and summary 413s named group_by and filters,
		// which neither takes.
		{"anomalies, plain only", route("anomalies"), "", false, 413, false,
			[]string{"Accept-Encoding: gzip", "min_total"}, "group by"},
		{"summary, plain only", route("summary"), "", false, 413, false,
			[]string{"Accept-Encoding: gzip"}, "narrow"},
		{"summary, too large even gzipped", route("summary"), "", true, 413, false,
			[]string{"no smaller form"}, "group by"},
		{"small stats, gzip accepted", stats, "runtime=sizes&group_by=runtime", true, 200, false, nil, ""},
	} {
		req := request("GET", c.query, "")
		if c.gzip {
			req = withHeaders(req, "accept-encoding", "gzip, deflate, br")
		}
		resp, err := c.h(t.Context(), req)
		if err != nil {
			t.Fatalf("%s: handler error (API Gateway would answer 502): %v", c.name, err)
		}
		if size := api.PayloadSize(resp); size > api.MaxPayloadBytes {
			t.Errorf("%s: a %d-byte response, over Lambda's %d", c.name, size, api.MaxPayloadBytes)
		}
		if resp.StatusCode != c.wantStatus || (resp.Headers["Content-Encoding"] == "gzip") != c.wantGzip {
			t.Errorf("%s: %d, Content-Encoding %q; want %d, gzip %t", c.name, resp.StatusCode, resp.Headers["Content-Encoding"], c.wantStatus, c.wantGzip)
			continue
		}
		body := responseBody(t, resp)
		if c.wantStatus != 200 {
			var e struct {
				Detail    string `json:"detail"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.RequestID == "" {
				t.Fatalf("%s: %v, want the error shape with a request id: %.300s", c.name, err, body)
			}
			for _, w := range c.wantDetail {
				if !strings.Contains(e.Detail, w) {
					t.Errorf("%s: detail %q, want it to say %q", c.name, e.Detail, w)
				}
			}
			if c.notDetail != "" && strings.Contains(e.Detail, c.notDetail) {
				t.Errorf("%s: detail %q suggests %q, which would not help", c.name, e.Detail, c.notDetail)
			}
			continue
		}
		var rows []map[string]any
		if err := json.Unmarshal(body, &rows); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !c.wantGzip {
			if len(rows) != 1 || rows[0]["total"] != float64(n) {
				t.Errorf("%s: %.300s, want one group of %d", c.name, body, n)
			}
			continue
		}
		if len(body) <= api.MaxPayloadBytes || len(rows) != n {
			t.Fatalf("%s: %d bytes decompressed, %d groups; want over %d bytes and %d groups", c.name, len(body), len(rows), api.MaxPayloadBytes, n)
		}
		seen := map[string]bool{}
		for _, row := range rows {
			var i int
			if _, err := fmt.Sscanf(row["device_id"].(string), "device_id-%04d-", &i); err != nil {
				t.Fatalf("%s: device_id %.40q: %v", c.name, row["device_id"], err)
			}
			for _, f := range []string{"device_type", "job_name", "tree", "branch", "arch", "error_type"} {
				if row[f] != wideValue(f, i) {
					t.Fatalf("%s: group %d: %s %.40q, want %.40q", c.name, i, f, row[f], wideValue(f, i))
				}
			}
			if row["runtime"] != "sizes" || row["kind"] != "job_result" || row["total"] != 1.0 || row["fail"] != 1.0 || seen[row["device_id"].(string)] {
				t.Fatalf("%s: group %d: %v", c.name, i, row["total"])
			}
			seen[row["device_id"].(string)] = true
		}
	}
}
