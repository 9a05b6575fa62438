package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/api/reports"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/store"
)

// These tests hold the edges of the API's promises; each fails when the rule it names is
// dropped from the code. None depends on the default order of GET /telemetry.

// TestPartialNotStoredNamesRequestPositions: in partial mode, with invalid events before
// the valid ones, not_stored and results name each event by its position in the request,
// so not_stored is exactly the events to resend; a repeat of an event not stored is not
// stored either.
func TestPartialNotStoredNamesRequestPositions(t *testing.T) {
	faults := &dynamotest.Faults{Unprocess: func(sk string, _ int) bool { return strings.Contains(sk, "10:00:07.") }}
	a := newAPI(t, func(db store.DynamoAPI) store.DynamoAPI {
		faults.DynamoAPI = db
		return faults
	})
	event := func(second int) string {
		return fmt.Sprintf(`{"kind":"job_result","runtime":"lava-cip","ts":"2026-08-20T10:00:%02dZ"}`, second)
	}
	body := "[" + strings.Join([]string{
		`{"kind":"job_result"}`,  // 0: invalid
		`{"runtime":"lava-cip"}`, // 1: invalid
		event(2),                 // 2: stored
		event(7),                 // 3: never stored
		event(4),                 // 4: stored
		event(7),                 // 5: a repeat of 3
		event(4),                 // 6: a repeat of 4
	}, ",") + "]"
	r := call(t, a.ingest, request("POST", "partial=true", body))
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	var named []string
	for _, ns := range r.body["not_stored"].([]any) {
		named = append(named, fmt.Sprint(ns.(map[string]any)["index"]))
	}
	if got := strings.Join(named, " "); got != "3 5" {
		t.Errorf("not_stored indexes [%s], want [3 5]: the events' positions in the request", got)
	}
	var statuses []string
	for i, res := range r.body["results"].([]any) {
		m := res.(map[string]any)
		if m["index"] != float64(i) {
			t.Errorf("results[%d] has index %v", i, m["index"])
		}
		statuses = append(statuses, m["status"].(string))
	}
	want := "invalid invalid inserted not_stored inserted not_stored duplicate"
	if got := strings.Join(statuses, " "); got != want {
		t.Errorf("statuses %q, want %q", got, want)
	}
	if r.body["inserted"] != 2.0 || r.body["duplicates"] != 1.0 || r.body["rejected"] != 2.0 {
		t.Errorf("inserted %v, duplicates %v, rejected %v; want 2, 1, 2", r.body["inserted"], r.body["duplicates"], r.body["rejected"])
	}
}

// TestPanicBecomesAnErrorResponse: a handler that panics still answers, with a 500 in the
// error shape and the request id, and without the panic's text.
func TestPanicBecomesAnErrorResponse(t *testing.T) {
	a := newAPI(t, nil)
	resp, err := api.Serve(t.Context(), a.deps, "test", request("GET", "", ""),
		func(context.Context, *slog.Logger) (events.APIGatewayV2HTTPResponse, error) {
			panic("secret: nil map in handler")
		})
	if err != nil {
		t.Fatalf("Serve returned an error (API Gateway would answer 502): %v", err)
	}
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(resp.Body, `"request_id":"req-test-1"`) {
		t.Errorf("status %d body %s; want 500 with the request id", resp.StatusCode, resp.Body)
	}
	if strings.Contains(resp.Body, "secret") {
		t.Errorf("the panic's text reached the client: %s", resp.Body)
	}
}

// TestQueryLimitDefaultsTo50: KernelCI's default page size.
func TestQueryLimitDefaultsTo50(t *testing.T) {
	a := newAPI(t, nil)
	var batch []string
	for i := range 60 {
		batch = append(batch, fmt.Sprintf(`{"kind":"job_result","runtime":"lava-cip","job_id":"%d","ts":"2026-08-20T10:%02d:00Z"}`, i, i))
	}
	if r := call(t, a.ingest, request("POST", "", "["+strings.Join(batch, ",")+"]")); r.status != 200 {
		t.Fatalf("ingest: %d %s", r.status, r.raw)
	}
	r := call(t, a.query, request("GET", "", ""))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if n := len(r.body["items"].([]any)); n != 50 || r.body["limit"] != 50.0 || r.body["total"] != 60.0 || r.body["next"] == nil {
		t.Errorf("%d items, limit %v, total %v, next %v; want 50 of 60 with a next page", n, r.body["limit"], r.body["total"], r.body["next"])
	}
}

// TestOffsetIsCappedAt100000: deep offsets re-read everything they skip, so past 100,000
// the cursor is the way on.
func TestOffsetIsCappedAt100000(t *testing.T) {
	a := newAPI(t, nil)
	if r := call(t, a.query, request("GET", "offset=100000", "")); r.status != 200 || r.body["offset"] != 100000.0 {
		t.Errorf("offset 100000: %d %s", r.status, r.raw)
	}
	assertClientError(t, call(t, a.query, request("GET", "offset=100001", "")), 400, "100000")
}

// throttledReads makes every Query fail as DynamoDB does when a partition is over its
// read capacity.
type throttledReads struct{ store.DynamoAPI }

func (throttledReads) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, &types.ProvisionedThroughputExceededException{Message: aws.String("Rate of requests exceeds the allowed throughput.")}
}

// TestThrottledReadsAre429: a read the store sheds is 429 with Retry-After on every read
// route, so a client waits and retries instead of reporting a fault.
func TestThrottledReadsAre429(t *testing.T) {
	a := newAPI(t, func(db store.DynamoAPI) store.DynamoAPI { return throttledReads{db} })
	for _, tc := range []struct {
		name  string
		h     api.Handler
		query string
	}{
		{"query", a.query, "runtime=lava-cip"},
		{"stats", reports.NewStats(a.deps), "group_by=runtime&kind=job_result"},
		{"anomalies", reports.NewAnomalies(a.deps), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, tc.h, request("GET", tc.query, ""))
			if r.status != http.StatusTooManyRequests || r.headers["Retry-After"] == "" {
				t.Fatalf("status %d, Retry-After %q: %s", r.status, r.headers["Retry-After"], r.raw)
			}
			if strings.Contains(r.raw, "exceeds") || r.body["request_id"] != "req-test-1" {
				t.Errorf("want the error shape without the store's text: %s", r.raw)
			}
		})
	}
}
