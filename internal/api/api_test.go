package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/store"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// The sample batch is from August 2026; the clock stands a little after it.
var testNow = time.Date(2026, 8, 21, 9, 0, 0, 0, time.UTC)

type testAPI struct {
	ingest, query api.Handler
	deps          api.Deps
	eventsTable   string
}

func newAPI(t *testing.T, wrap func(store.DynamoAPI) store.DynamoAPI) testAPI {
	t.Helper()
	tables := dynamotest.NewTables(t)
	var db store.DynamoAPI = dynamotest.Client(t)
	if wrap != nil {
		db = wrap(db)
	}
	deps := api.Deps{
		Events: store.NewEvents(db, store.EventsOptions{
			Table: tables.Events, EventShards: 4, RuntimeShards: 2, KindShards: 4,
			Retention: 14 * 24 * time.Hour, CursorSecret: []byte("k"),
			Backoff: store.Backoff{Attempts: 10, Base: time.Millisecond, Max: time.Millisecond},
			Now:     func() time.Time { return testNow },
		}),
		Log:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Now:    func() time.Time { return testNow },
		Tokens: store.NewTokens(dynamotest.Client(t), tables.Tokens),
	}
	return testAPI{ingest: api.NewIngest(deps), query: api.NewQuery(deps), deps: deps, eventsTable: tables.Events}
}

// request is the event API Gateway sends for a request that the authorizer let through
// with a token holding every scope, as the deployed routes receive it.
func request(method, rawQuery, body string) events.APIGatewayV2HTTPRequest {
	return withDecision(events.APIGatewayV2HTTPRequest{
		RawPath:        "/telemetry",
		RawQueryString: rawQuery,
		Body:           body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "req-test-1",
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: "/telemetry"},
		},
	}, auth.Decision{Outcome: auth.OutcomeAllowed, Name: "test", Scopes: auth.AllScopes})
}

// withDecision is req as the authorizer's decision d leaves it.
func withDecision(req events.APIGatewayV2HTTPRequest, d auth.Decision) events.APIGatewayV2HTTPRequest {
	req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: d.Context()}
	return req
}

type response struct {
	status  int
	headers map[string]string
	body    map[string]any
	raw     string
}

func call(t *testing.T, h api.Handler, req events.APIGatewayV2HTTPRequest) response {
	t.Helper()
	resp, err := h(t.Context(), req)
	if err != nil {
		t.Fatalf("handler returned an error (API Gateway would answer 502): %v", err)
	}
	r := response{status: resp.StatusCode, headers: resp.Headers, raw: resp.Body}
	if err := json.Unmarshal([]byte(resp.Body), &r.body); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, resp.Body)
	}
	return r
}

func sampleBatch(t *testing.T) string {
	b, err := os.ReadFile("testdata/kernelci-events.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (a testAPI) total(t *testing.T) float64 {
	r := call(t, a.query, request("GET", "limit=1", ""))
	if r.status != 200 {
		t.Fatalf("query: %d %s", r.status, r.raw)
	}
	return r.body["total"].(float64)
}

// tableItems counts every item of the events table, events or not (day registry, run markers),
// with a Scan no request path may use.
func (a testAPI) tableItems(t *testing.T) int32 {
	t.Helper()
	out, err := dynamotest.Client(t).Scan(t.Context(), &dynamodb.ScanInput{
		TableName: aws.String(a.eventsTable), Select: types.SelectCount, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("count items: %v", err)
	}
	return out.Count
}

func TestIngestSampleThenRepostIsAllDuplicates(t *testing.T) {
	a := newAPI(t, nil)
	first := call(t, a.ingest, request("POST", "", sampleBatch(t)))
	if first.status != 200 || first.body["inserted"] != 7.0 || first.body["duplicates"] != 0.0 {
		t.Fatalf("first post: %d %s", first.status, first.raw)
	}
	if ids := first.body["ids"].([]any); len(ids) != 7 {
		t.Fatalf("ids: %v", ids)
	}
	second := call(t, a.ingest, request("POST", "", sampleBatch(t)))
	if second.status != 200 || second.body["inserted"] != 0.0 || second.body["duplicates"] != 7.0 {
		t.Fatalf("second post: %d %s", second.status, second.raw)
	}
	if got := a.total(t); got != 7 {
		t.Fatalf("stored %v events, want 7", got)
	}
}

func TestQueryByRuntimeAndKindInEitherOrder(t *testing.T) {
	a := newAPI(t, nil)
	call(t, a.ingest, request("POST", "", sampleBatch(t)))
	r := call(t, a.query, request("GET", "runtime=lava-collabora&kind=job_result", ""))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	items := r.body["items"].([]any)
	if len(items) != 1 || r.body["total"] != 1.0 || r.body["next"] != nil {
		t.Fatalf("want the one job_result of lava-collabora: %s", r.raw)
	}
	item := items[0].(map[string]any)
	if item["ts"] != "2026-08-20T14:41:02.118734Z" || item["device_id"] != "bcm2711-rpi-4-b-cbg-2" || item["id"] == "" {
		t.Errorf("item: %v", item)
	}
	want := []string{"2026-08-20T14:03:11.482913Z", "2026-08-20T14:03:12.010321Z", "2026-08-20T14:41:02.118734Z", "2026-08-20T14:41:02.119010Z"}
	for _, tc := range []struct{ query, order string }{
		{"lab=lava-collabora", "oldest first, the default"},
		{"lab=lava-collabora&order=asc", "oldest first"},
		{"lab=lava-collabora&order=desc", "newest first"},
	} {
		all := call(t, a.query, request("GET", tc.query, ""))
		var stamps []string
		for _, it := range all.body["items"].([]any) {
			ts := it.(map[string]any)["ts"].(string)
			if !strings.HasSuffix(ts, "Z") {
				t.Errorf("ts %q does not end in Z", ts)
			}
			stamps = append(stamps, ts)
		}
		w := slices.Clone(want)
		if strings.HasSuffix(tc.query, "desc") {
			slices.Reverse(w)
		}
		if fmt.Sprint(stamps) != fmt.Sprint(w) {
			t.Errorf("%s: got %v, want %s %v", tc.query, stamps, tc.order, w)
		}
	}
}

// TestBadInputStoresNothingAndSaysWhy: every kind of bad request gets a 4xx whose detail
// is a sentence, with the request id, and nothing is stored.
func TestBadInputStoresNothingAndSaysWhy(t *testing.T) {
	a := newAPI(t, nil)
	valid := `{"kind":"job_result","runtime":"lava-cip","ts":"2026-08-20T10:00:00Z"}`
	cases := []struct {
		name, query, body string
		status            int
		mention           string // a word the detail or errors must contain
	}{
		{"malformed JSON", "", `[{"kind":`, 400, "JSON"},
		{"empty list", "", `[]`, 400, "empty"},
		{"object instead of list", "", valid, 400, "array"},
		{"missing kind", "", `[{"runtime":"lava-cip"}]`, 400, "kind"},
		{"missing runtime", "", `[{"kind":"job_result"}]`, 400, "runtime"},
		{"runtime not a string", "", `[{"kind":"job_result","runtime":7}]`, 400, "runtime"},
		{"unparsable ts", "", `[{"kind":"job_result","runtime":"x","ts":"yesterday"}]`, 400, "ts"},
		{"malformed id", "", `[{"kind":"job_result","runtime":"x","id":"a/b"}]`, 400, "id"},
		{"one bad among good", "", "[" + valid + `,{"kind":"job_result"}]`, 400, "runtime"},
		{"7 MB body", "", "[" + strings.Repeat(valid+",", 7<<20/len(valid)) + valid + "]", 413, "6 MB"},
		{"too many events", "", "[" + strings.Repeat(valid+",", 10000) + valid + "]", 413, "10000"},
		{"unknown ingest parameter", "dry_run=1", "[" + valid + "]", 400, "dry_run"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, a.ingest, request("POST", tc.query, tc.body))
			assertClientError(t, r, tc.status, tc.mention)
		})
	}
	if got := a.total(t); got != 0 {
		t.Fatalf("bad requests stored %v events", got)
	}
	for _, tc := range []struct{ name, query, mention string }{
		{"unknown parameter", "runtime=x&colour=red", "colour"},
		{"limit over the maximum", "limit=1001", "limit"},
		{"negative offset", "offset=-1", "offset"},
		{"unparsable since", "since=last-week", "since"},
		{"since after until", "since=2026-08-21&until=2026-08-20", "since"},
		{"lab and runtime differ", "lab=a&runtime=b", "lab"},
		{"repeated parameter", "kind=a&kind=b", "kind"},
		{"bad boolean", "is_infra_error=maybe", "is_infra_error"},
		{"cursor with offset", "cursor=abc&offset=5", "cursor"},
		{"tampered cursor", "cursor=abc.def", "cursor"},
		{"unknown order", "order=newest", "order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertClientError(t, call(t, a.query, request("GET", tc.query, "")), 400, tc.mention)
		})
	}
}

func assertClientError(t *testing.T, r response, status int, mention string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %.300s", r.status, status, r.raw)
	}
	detail, _ := r.body["detail"].(string)
	if !strings.HasSuffix(detail, ".") || len(detail) < 20 {
		t.Errorf("detail %q is not a sentence", detail)
	}
	if r.body["request_id"] != "req-test-1" {
		t.Errorf("request_id %v, want req-test-1", r.body["request_id"])
	}
	if !strings.Contains(strings.ToLower(r.raw), strings.ToLower(mention)) {
		t.Errorf("response does not mention %q: %.400s", mention, r.raw)
	}
}

// TestInvalidBatchListsEveryInvalidEvent compares the whole 400 with a golden file: every
// invalid event, every field, in order.
func TestInvalidBatchListsEveryInvalidEvent(t *testing.T) {
	a := newAPI(t, nil)
	body := `[
	 {"kind":"job_result","runtime":"lava-cip","ts":"2026-08-20T10:00:00Z"},
	 {"kind":"JOB","result":"maybe","retry":-1},
	 {"kind":"test_result","runtime":"k8s","ts":"tomorrow-ish","duration":-3},
	 "not an object",
	 {"kind":"job_result","runtime":"lava-cip","id":"bad id!","extra":[1]},
	 {"runtime":"lava-cip","ts":true}
	]`
	r := call(t, a.ingest, request("POST", "", body))
	if r.status != 400 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	golden(t, "invalid-batch.json", r.raw)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	var pretty strings.Builder
	var v any
	if err := json.Unmarshal([]byte(got), &v); err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(&pretty)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(pretty.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if pretty.String() != string(want) {
		t.Errorf("%s differs from the golden file:\n got %s\nwant %s", name, pretty.String(), want)
	}
}

func TestPartialStoresTheValidOnes(t *testing.T) {
	a := newAPI(t, nil)
	body := `[{"kind":"job_result","runtime":"lava-cip","ts":"2026-08-20T10:00:00Z","colour":"red"},
	          {"kind":"job_result"},
	          {"kind":"job_result","runtime":"lava-cip","ts":"2026-08-20T11:00:00Z"}]`
	r := call(t, a.ingest, request("POST", "partial=true", body))
	if r.status != 200 || r.body["inserted"] != 2.0 || r.body["rejected"] != 1.0 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	results := r.body["results"].([]any)
	statuses := []string{}
	for _, res := range results {
		statuses = append(statuses, res.(map[string]any)["status"].(string))
	}
	if fmt.Sprint(statuses) != "[inserted invalid inserted]" {
		t.Errorf("statuses %v", statuses)
	}
	unknown := r.body["unknown_fields"].([]any)[0].(map[string]any)
	if unknown["index"] != 0.0 || fmt.Sprint(unknown["fields"]) != "[colour]" {
		t.Errorf("unknown_fields %v", unknown)
	}
	if got := a.total(t); got != 2 {
		t.Fatalf("stored %v, want 2", got)
	}
	q := call(t, a.query, request("GET", "ts=x", ""))
	assertClientError(t, q, 400, "ts")
}

// TestOverloadedStoreAnswers503NamingTheEventsNotStored: what the client is told was not
// stored is exactly what is missing, and Retry-After says when to resend.
func TestOverloadedStoreAnswers503NamingTheEventsNotStored(t *testing.T) {
	// Events at seconds 3, 23 and 43 can never be written; every fourth call is throttled.
	doomed := []string{"10:00:03.", "10:00:23.", "10:00:43."}
	faults := &dynamotest.Faults{ThrottleEvery: 4, Unprocess: func(sk string, attempt int) bool {
		for _, d := range doomed {
			if strings.Contains(sk, d) {
				return true
			}
		}
		return attempt == 0 && strings.Contains(sk, "0Z#") // some held back once, then written
	}}
	a := newAPI(t, func(db store.DynamoAPI) store.DynamoAPI {
		faults.DynamoAPI = db
		return faults
	})
	var batch []string
	for i := range 60 {
		batch = append(batch, fmt.Sprintf(`{"kind":"job_result","runtime":"lava-cip","job_id":"%d","ts":"2026-08-20T10:00:%02dZ"}`, i, i))
	}
	r := call(t, a.ingest, request("POST", "", "["+strings.Join(batch, ",")+"]"))
	if r.status != 503 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if r.headers["Retry-After"] == "" {
		t.Error("no Retry-After")
	}
	var named []int
	for _, ns := range r.body["not_stored"].([]any) {
		named = append(named, int(ns.(map[string]any)["index"].(float64)))
	}
	if fmt.Sprint(named) != "[3 23 43]" {
		t.Fatalf("not_stored indexes %v, want [3 23 43]", named)
	}
	if r.body["inserted"] != 57.0 {
		t.Errorf("inserted %v, want 57", r.body["inserted"])
	}
	faults.ThrottleEvery = 0
	if got := a.total(t); got != 57 {
		t.Errorf("stored %v, want 57", got)
	}
}

// failingQuery makes every Query fail with an error whose text must never reach a client.
type failingQuery struct{ store.DynamoAPI }

func (failingQuery) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, errors.New("secret internal detail: table arn:aws:dynamodb:eu-west-1:123:table/x")
}

func TestInternalFailureNeverLeaks(t *testing.T) {
	a := newAPI(t, func(db store.DynamoAPI) store.DynamoAPI { return failingQuery{db} })
	r := call(t, a.query, request("GET", "runtime=x", ""))
	if r.status != http.StatusInternalServerError {
		t.Fatalf("status %d", r.status)
	}
	if strings.Contains(r.raw, "secret") || strings.Contains(r.raw, "arn:") {
		t.Fatalf("internal text leaked: %s", r.raw)
	}
	if r.body["request_id"] != "req-test-1" {
		t.Errorf("no request id: %s", r.raw)
	}
}

// TestStoreFaultIsNot503: an error the store will not recover from by waiting is a 500
// naming the events not stored, without Retry-After or internal text.
func TestStoreFaultIsNot503(t *testing.T) {
	a := newAPI(t, func(db store.DynamoAPI) store.DynamoAPI { return failingWrites{db} })
	r := call(t, a.ingest, request("POST", "partial=true", `[{"kind":"job_result","runtime":"x"},{"kind":"job_result"}]`))
	if r.status != http.StatusInternalServerError || r.headers["Retry-After"] != "" {
		t.Fatalf("status %d, Retry-After %q: %s", r.status, r.headers["Retry-After"], r.raw)
	}
	if strings.Contains(r.raw, "secret") || len(r.body["not_stored"].([]any)) != 1 || len(r.body["results"].([]any)) != 2 {
		t.Errorf("want one not_stored, two results and no internal text: %s", r.raw)
	}
}

type failingWrites struct{ store.DynamoAPI }

func (failingWrites) BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return nil, errors.New("secret: ValidationException")
}

// TestLongFilterValues: a value longer than its field keeps is stored cut, with a
// warning, and a filter by the very value sent finds the event: the filter is cut the
// same way. The fresh-user trial's runtime of 300 characters was stored, and its filter
// refused as "no event can match it"; a device_type of 700 characters, which the field
// keeps whole, was refused too.
func TestLongFilterValues(t *testing.T) {
	a := newAPI(t, nil)
	runtime := strings.Repeat("€", 300)     // kept: its first 256 characters
	device := strings.Repeat("d", 700)      // kept whole: device_type keeps 1,024
	other := strings.Repeat("€", 256) + "x" // cut to the same 256 characters as runtime
	body := `[{"kind":"job_result","runtime":"` + runtime + `","device_type":"` + device + `"}]`
	if r := call(t, a.ingest, request("POST", "", body)); r.status != 200 || r.body["inserted"] != float64(1) {
		t.Fatalf("ingest: %d %s", r.status, r.raw)
	}
	for _, q := range []string{
		"runtime=" + url.QueryEscape(runtime),
		"lab=" + url.QueryEscape(runtime),
		"runtime=" + url.QueryEscape(other),
		"device_type=" + url.QueryEscape(device) + "&runtime=" + url.QueryEscape(runtime),
	} {
		r := call(t, a.query, request("GET", q, ""))
		if r.status != 200 || r.body["total"] != float64(1) {
			t.Errorf("%.60s…: %d, total %v; want the event", q, r.status, r.body["total"])
		}
	}
	if r := call(t, a.query, request("GET", "device_type="+strings.Repeat("d", 699), "")); r.status != 200 || r.body["total"] != float64(0) {
		t.Errorf("a shorter device_type: %d, total %v; want none", r.status, r.body["total"])
	}
	// Text that is not UTF-8 is refused at ingest, so as a filter it is a mistake to name.
	assertClientError(t, call(t, a.query, request("GET", "runtime=%ff%fe", "")), 400, "UTF-8")
}

// TestNotStoredSentenceNamesTheCause: throttling and an unreachable store both answer 503
// with Retry-After and not_stored, but the sentence tells them apart, since an operator
// acts differently on each.
func TestNotStoredSentenceNamesTheCause(t *testing.T) {
	unreachable, err := store.NewClient(t.Context(), store.ClientOptions{Endpoint: closedEndpoint(t)})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		wrap      func(store.DynamoAPI) store.DynamoAPI
		want, not string
	}{
		{"throttled", func(db store.DynamoAPI) store.DynamoAPI {
			return &dynamotest.Faults{DynamoAPI: db, ThrottleEvery: 1}
		}, "throttling", "reached"},
		{"unreachable", func(store.DynamoAPI) store.DynamoAPI { return unreachable }, "could not be reached", "throttling"},
		{"slow", func(db store.DynamoAPI) store.DynamoAPI { return stalledWrites{db} }, "too slow", "reached"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newAPI(t, c.wrap)
			// The slow store is waited for up to the deadline a Lambda invocation has.
			ctx := t.Context()
			if c.name == "slow" {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 3*time.Second)
				defer cancel()
			}
			resp, err := a.ingest(ctx, request("POST", "", `[{"kind":"job_result","runtime":"lava-cip"}]`))
			if err != nil {
				t.Fatal(err)
			}
			r := response{status: resp.StatusCode, headers: resp.Headers, raw: resp.Body}
			if err := json.Unmarshal([]byte(resp.Body), &r.body); err != nil {
				t.Fatal(err)
			}
			detail, _ := r.body["detail"].(string)
			if r.status != 503 || r.headers["Retry-After"] == "" || len(r.body["not_stored"].([]any)) != 1 {
				t.Fatalf("want 503 with Retry-After and one not_stored, got %d %v: %s", r.status, r.headers, r.raw)
			}
			if !strings.Contains(detail, c.want) || strings.Contains(detail, c.not) {
				t.Errorf("detail %q: want it to say %q and not %q", detail, c.want, c.not)
			}
		})
	}
}

// TestNotStoredDetail: the 503's sentence says what was not stored and what was stored but
// not marked, apart, and names only the lists that hold something.
func TestNotStoredDetail(t *testing.T) {
	why := "the store could not be reached"
	for _, c := range []struct {
		notStored, notCounted, total int
		want                         string
	}{
		{2, 0, 5, "2 of 5 events could not be stored because the store could not be reached; resend the events listed in not_stored"},
		{1, 0, 1, "1 of 1 event could not be stored because the store could not be reached; resend the events listed in not_stored"},
		{0, 1, 5, "Every event was stored, but 1 event stored could not be marked for the rollups (stats from rollups miss it until resent), because the store could not be reached; resend the events listed in not_counted"},
		{2, 3, 5, "2 of 5 events could not be stored, and 3 events stored could not be marked for the rollups (stats from rollups miss them until resent), because the store could not be reached; resend the events listed in not_stored and not_counted"},
	} {
		if got := api.NotStoredDetail(c.notStored, c.notCounted, c.total, why); got != c.want {
			t.Errorf("%d not stored, %d not counted of %d:\n got %q\nwant %q", c.notStored, c.notCounted, c.total, got, c.want)
		}
	}
}

// stalledWrites is a store that takes no write until the caller gives up: a store too
// slow for the request's deadline, but reachable.
type stalledWrites struct{ store.DynamoAPI }

func (s stalledWrites) BatchWriteItem(ctx context.Context, _ *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
