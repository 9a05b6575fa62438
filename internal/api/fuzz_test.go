package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/telemetry/telemetrytest"
)

func fuzzDeps(s *telemetrytest.CountingStore) api.Deps {
	return api.Deps{Events: s, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: func() time.Time { return testNow }}
}

// checkAnswer fails t for a 5xx, or a non-2xx answer not in the error shape.
func checkAnswer(t *testing.T, resp events.APIGatewayV2HTTPResponse, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("handler returned an error (API Gateway would answer 502): %v", err)
	}
	// The fuzz store has no summary table, and a summary before the rollup's first snapshot
	// is a 503 with Retry-After by design (README, "Summary"): a state, not a fault. So is
	// a route that reads rollups in a deployment without them (it names SUMMARY_TABLE).
	notYet := resp.StatusCode == 503 && resp.Headers["Retry-After"] != "" && strings.Contains(resp.Body, "No summary has been taken yet")
	noRollups := resp.StatusCode == 503 && strings.Contains(resp.Body, "SUMMARY_TABLE")
	if resp.StatusCode >= 500 && !notYet && !noRollups {
		t.Fatalf("status %d for a request only the client got wrong: %s", resp.StatusCode, resp.Body)
	}
	if resp.StatusCode < 300 {
		return
	}
	var shape struct {
		Detail    string `json:"detail"`
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal([]byte(resp.Body), &shape) != nil || shape.Detail == "" || shape.RequestID == "" {
		t.Fatalf("status %d not in the error shape: %s", resp.StatusCode, resp.Body)
	}
}

// FuzzIngest: no body or query makes POST /telemetry panic or answer 5xx, and a rejected
// request stores nothing.
func FuzzIngest(f *testing.F) {
	for _, name := range []string{"testdata/kernelci-events.json", "testdata/invalid-batch.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("", b)
		f.Add("partial=true", b)
	}
	f.Add("", []byte(`[{"kind":"job_result","runtime":"x"}]`))
	f.Add("partial=maybe", []byte(`[{"kind":"job_result"}]`))
	f.Add("partial=true&partial=false", []byte(`[]`))
	f.Add("x=%zz", []byte(`{}`))
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		s := &telemetrytest.CountingStore{}
		req := request("POST", query, string(body))
		// A body that is not UTF-8 reaches the handler base64-encoded, as API Gateway sends it.
		if !utf8.Valid(body) {
			req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
		resp, err := api.NewIngest(fuzzDeps(s))(context.Background(), req)
		checkAnswer(t, resp, err)
		if resp.StatusCode != 200 && s.Puts.Load() > 0 {
			t.Fatalf("status %d, yet %d events were stored", resp.StatusCode, s.Puts.Load())
		}
	})
}

// FuzzQueryParams: no query string makes a GET route panic or answer 5xx.
func FuzzQueryParams(f *testing.F) {
	for _, q := range []string{
		"", "runtime=x", "ts=x", "limit=1", "limit=1001", "offset=-1", "lab=a&runtime=b", "lab=a&runtime=a",
		"since=2026-08-20&until=2026-08-21T10:00:00", "since=x", "cursor=abc.def", "offset=5&cursor=x",
		"order=desc", "is_infra_error=yes&retry=2", "group_by=runtime,lab", "group_by=", "group_by=nope",
		"window=6h&threshold=0.5&min_total=3&scope=device", "window=7h", "threshold=2", "a=%zz", "kind=a&kind=b",
	} {
		for r := range routes.All {
			f.Add(uint8(r), q)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, query string) {
		r := routes.All[int(route)%len(routes.All)]
		if r.Method != "GET" {
			return
		}
		req := request("GET", query, "")
		req.RawPath, req.RequestContext.HTTP.Path = r.Path, r.Path
		resp, err := r.New(fuzzDeps(&telemetrytest.CountingStore{}))(context.Background(), req)
		checkAnswer(t, resp, err)
	})
}
