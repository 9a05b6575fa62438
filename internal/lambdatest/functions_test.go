package lambdatest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/store"
)

// routeChecks says what a successful answer of each route function looks like. A new
// route function fails TestFunctionsServeSampleEvents until it has a check here.
var routeChecks = map[string]func(t *testing.T, c sampleRun){
	"ingest":    checkIngest,
	"query":     checkQuery,
	"stats":     checkStats,
	"anomalies": checkAnomalies,

	"pipelines":     checkPipelines,
	"pipelinestats": checkPipelineStats,
	"summary":       checkSummary,
	"web":           checkWeb,
	"metrics":       checkMetrics,
}

// seeds name, for a function, a function and sample whose run fills its fresh tables
// first, so a reader has something to read.
var seeds = map[string]string{"query": "ingest", "stats": "ingest", "pipelinestats": "pipelines", "summary": "rollup", "metrics": "rollup"}

// sampleRun is one sample event run twice through one process: cold, then warm.
type sampleRun struct {
	request events.APIGatewayV2HTTPRequest
	bodies  [2][]byte        // the answers' bodies, cold then warm
	status  [2]int           // their statuses
	seed    []map[string]any // the events the seed stored, if any
}

// TestFunctionsServeSampleEvents builds every function as it is deployed (for this
// machine) and runs each of its sample events, events/<fn>.json and events/<fn>-*.json,
// under the emulator against DynamoDB Local: the Lambda path end to end, from the
// runtime client through configuration and the SDK client to the table.
func TestFunctionsServeSampleEvents(t *testing.T) {
	root := moduleRoot(t)
	endpoint := dynamotest.Endpoint(t)

	fns := functionDirs(t, root)
	routeFns := map[string]bool{}
	for _, r := range routes.All {
		routeFns[r.Function] = true
		if !fns[r.Function] {
			t.Errorf("route %s %s is served by %q, which has no folder under functions/", r.Method, r.Path, r.Function)
		}
	}

	binDir := t.TempDir()
	bootstraps := map[string]string{}
	var mu sync.Mutex
	t.Run("build", func(t *testing.T) {
		for fn := range fns {
			t.Run(fn, func(t *testing.T) {
				t.Parallel()
				b := build(t, root, binDir, fn)
				mu.Lock()
				bootstraps[fn] = b
				mu.Unlock()
			})
		}
	})
	built := func(t *testing.T, fn string) string {
		t.Helper()
		b, ok := bootstraps[fn]
		if !ok {
			t.Fatalf("functions/%s did not build", fn)
		}
		return b
	}

	t.Run("tokens", func(t *testing.T) { checkTokens(t, root, endpoint, built) })

	for fn := range fns {
		t.Run(fn, func(t *testing.T) {
			t.Parallel()
			samples := sampleEvents(t, root, fn)
			check, isRoute := routeChecks[fn]
			if routeFns[fn] && !isRoute {
				t.Fatalf("route function %s has no entry in routeChecks: say what its answer looks like", fn)
			}
			for _, path := range samples {
				t.Run(filepath.Base(path), func(t *testing.T) {
					t.Parallel()
					tables := dynamotest.NewTables(t)
					var c sampleRun
					if seedFn, ok := seeds[fn]; ok {
						seedPath := filepath.Join(root, "events", seedFn+".json")
						invokeBootstrap(t, built(t, seedFn), endpoint, tables, readFile(t, seedPath))
						if _, fromRequest := routeChecks[seedFn]; fromRequest {
							c.seed = sampleBodyEvents(t, seedPath)
						}
					}
					event := readFile(t, path)
					if err := json.Unmarshal(event, &c.request); err != nil {
						t.Fatalf("%s: not an API Gateway v2 HTTP event: %v", path, err)
					}
					res := invokeBootstrap(t, built(t, fn), endpoint, tables, event, event)
					if !isRoute {
						return // answered without an error, all one can say of a non-route function
					}
					for i, r := range res.Responses {
						resp := apiResponse(t, r.Payload)
						c.bodies[i], c.status[i] = []byte(resp.Body), resp.StatusCode
					}
					check(t, c)
				})
			}
		})
	}
}

func checkIngest(t *testing.T, c sampleRun) {
	sent := requestEvents(t, c.request)
	var cold, warm struct {
		Inserted   *int     `json:"inserted"`
		Duplicates *int     `json:"duplicates"`
		IDs        []string `json:"ids"`
	}
	decodeBody(t, c.bodies[0], &cold)
	decodeBody(t, c.bodies[1], &warm)
	if cold.Inserted == nil || *cold.Inserted != len(sent) || cold.Duplicates == nil || *cold.Duplicates != 0 || len(cold.IDs) != len(sent) {
		t.Errorf("first answer %s, want inserted %d, duplicates 0 and an id each", c.bodies[0], len(sent))
	}
	// The same request again, through the warm process, stores nothing twice.
	if warm.Inserted == nil || *warm.Inserted != 0 || warm.Duplicates == nil || *warm.Duplicates != len(sent) ||
		strings.Join(warm.IDs, ",") != strings.Join(cold.IDs, ",") {
		t.Errorf("repeated request answered %s, want inserted 0, duplicates %d and the same ids as %s", c.bodies[1], len(sent), c.bodies[0])
	}
}

func checkQuery(t *testing.T, c sampleRun) {
	params := c.request.QueryStringParameters
	runtime := params["runtime"]
	if runtime == "" {
		t.Fatalf("the query sample should filter on runtime, to check the filter arrives; it has %v", params)
	}
	var want int
	for _, e := range c.seed {
		if e["runtime"] == runtime {
			want++
		}
	}
	if want == 0 {
		t.Fatalf("the seed stores no event with runtime %q: the query would prove nothing", runtime)
	}
	for i, b := range c.bodies {
		var page struct {
			Items []map[string]any `json:"items"`
			Limit int              `json:"limit"`
		}
		decodeBody(t, b, &page)
		if page.Items == nil {
			t.Errorf("answer %d: %s, want an items array", i, b)
			continue
		}
		if len(page.Items) != want {
			t.Errorf("answer %d: %d items, want the %d seeded events with runtime %q: %s", i, len(page.Items), want, runtime, b)
		}
		for _, item := range page.Items {
			if item["runtime"] != runtime || item["id"] == nil {
				t.Errorf("answer %d: item %v, want runtime %q and an id", i, item, runtime)
			}
		}
		if l := params["limit"]; l != "" && l != jsonNumber(page.Limit) {
			t.Errorf("answer %d: limit %d, want the sample's %s", i, page.Limit, l)
		}
	}
}

func checkStats(t *testing.T, c sampleRun) {
	groupBy := strings.Split(c.request.QueryStringParameters["group_by"], ",")
	if groupBy[0] == "" {
		t.Fatalf("the stats sample needs group_by; it has %v", c.request.QueryStringParameters)
	}
	for i, b := range c.bodies {
		var rows []map[string]any
		decodeBody(t, b, &rows)
		total := 0.0
		for _, row := range rows {
			for _, key := range groupBy {
				if _, ok := row[key]; !ok {
					t.Errorf("answer %d: row %v has no group key %q", i, row, key)
				}
			}
			n, _ := row["total"].(float64)
			total += n
		}
		// The sample has no filter: every seeded event is in exactly one group.
		if rows == nil || int(total) != len(c.seed) {
			t.Errorf("answer %d: %s, want an array of groups totalling the %d seeded events", i, b, len(c.seed))
		}
	}
}

func checkPipelines(t *testing.T, c sampleRun) {
	var cold, warm struct {
		Inserted   *int             `json:"inserted"`
		Duplicates *int             `json:"duplicates"`
		IDs        []string         `json:"ids"`
		Events     []map[string]any `json:"events"`
	}
	decodeBody(t, c.bodies[0], &cold)
	decodeBody(t, c.bodies[1], &warm)
	if c.status[0] != 200 || cold.Inserted == nil || *cold.Inserted == 0 || *cold.Inserted != len(cold.Events) || len(cold.IDs) != len(cold.Events) {
		t.Errorf("first answer %d %s, want 200 with every event of the run inserted", c.status[0], c.bodies[0])
	}
	// The same run again is Already Reported and stores nothing.
	if c.status[1] != 208 || warm.Inserted == nil || *warm.Inserted != 0 || strings.Join(warm.IDs, ",") != strings.Join(cold.IDs, ",") {
		t.Errorf("repeated run answered %d %s, want 208, nothing inserted, the same ids", c.status[1], c.bodies[1])
	}
}

func checkPipelineStats(t *testing.T, c sampleRun) {
	for i, b := range c.bodies {
		var answer struct {
			Pipelines *int            `json:"pipelines"`
			Duration  json.RawMessage `json:"duration"`
			Jobs      []any           `json:"jobs"`
		}
		decodeBody(t, b, &answer)
		// The seed is one run with a duration and a job.
		if answer.Pipelines == nil || *answer.Pipelines != len(c.seed) || string(answer.Duration) == "null" || len(answer.Jobs) == 0 {
			t.Errorf("answer %d: %s, want the %d seeded run with its duration and jobs", i, b, len(c.seed))
		}
	}
}

func checkAnomalies(t *testing.T, c sampleRun) {
	window := c.request.QueryStringParameters["window"]
	for i, b := range c.bodies {
		var report struct {
			Window          string            `json:"window"`
			ResultAnomalies []json.RawMessage `json:"result_anomalies"`
			ErrorAnomalies  []json.RawMessage `json:"error_anomalies"`
		}
		decodeBody(t, b, &report)
		if report.ResultAnomalies == nil || report.ErrorAnomalies == nil || (window != "" && report.Window != window) {
			t.Errorf("answer %d: %s, want result_anomalies and error_anomalies arrays for window %q", i, b, window)
		}
	}
}

// invokeBootstrap runs events through one process with the tables and endpoint set as a
// deployment sets them, failing the test unless every one is answered.
func invokeBootstrap(t *testing.T, bootstrap, endpoint string, tables store.Tables, evs ...[]byte) Result {
	t.Helper()
	res, err := Run(t.Context(), Options{
		Bootstrap: bootstrap,
		Env: map[string]string{
			config.EnvEventsTable:    tables.Events,
			config.EnvTokensTable:    tables.Tokens,
			config.EnvSummaryTable:   tables.Summary,
			config.EnvDynamoEndpoint: endpoint,
		},
	}, evs...)
	if err != nil {
		t.Fatalf("%s: %v", bootstrap, err)
	}
	return res
}

// apiResponse decodes a payload as an API Gateway v2 response and requires a 200 (or the
// 208 of a pipeline run already stored) with a JSON body, since every route answers JSON,
// except the web function's pages (HTML).
func apiResponse(t *testing.T, payload []byte) events.APIGatewayV2HTTPResponse {
	t.Helper()
	var r events.APIGatewayV2HTTPResponse
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("answer %s is not an API Gateway v2 response: %v", payload, err)
	}
	if r.StatusCode != 200 && r.StatusCode != 208 {
		t.Fatalf("answer has status %d, want 200: %s", r.StatusCode, r.Body)
	}
	if ct := r.Headers["Content-Type"]; !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "text/html") && !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("answer has Content-Type %q, want application/json (or text/html for a page, Prometheus's text format for /metrics)", ct)
	}
	if r.IsBase64Encoded {
		t.Errorf("answer is base64-encoded; JSON bodies go as text")
	}
	return r
}

func decodeBody(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
}

// requestEvents is the array of telemetry events in a request's body, or the one
// pipeline run of a POST /pipelines body.
func requestEvents(t *testing.T, req events.APIGatewayV2HTTPRequest) []map[string]any {
	t.Helper()
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			t.Fatalf("sample body: %v", err)
		}
	}
	var evs []map[string]any
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		evs = append(evs, nil)
		if err := json.Unmarshal(body, &evs[0]); err != nil {
			t.Fatalf("sample body %q is not a pipeline run: %v", body, err)
		}
		return evs
	}
	if err := json.Unmarshal(body, &evs); err != nil || len(evs) == 0 {
		t.Fatalf("sample body %q is not a non-empty JSON array of events: %v", body, err)
	}
	return evs
}

func sampleBodyEvents(t *testing.T, path string) []map[string]any {
	t.Helper()
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(readFile(t, path), &req); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return requestEvents(t, req)
}

func jsonNumber(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// moduleRoot is the directory of go.mod, where functions/ and events/ live.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("not in a Go module")
	}
	return filepath.Dir(gomod)
}

// functionDirs are the folders under functions/: each is one Lambda.
func functionDirs(t *testing.T, root string) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	fns := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			fns[e.Name()] = true
		}
	}
	if len(fns) == 0 {
		t.Fatal("no functions under functions/")
	}
	return fns
}

// sampleEvents are fn's sample events; a function without one fails the test, since
// `make invoke` and `sam local invoke` users start from them.
func sampleEvents(t *testing.T, root, fn string) []string {
	t.Helper()
	main := filepath.Join(root, "events", fn+".json")
	if _, err := os.Stat(main); err != nil {
		t.Fatalf("function %s has no sample event: add events/%s.json (%v)", fn, fn, err)
	}
	more, err := filepath.Glob(filepath.Join(root, "events", fn+"-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{main}, more...)
}

// build compiles functions/<fn> as the Makefile does for Lambda, but for this machine,
// into dir/<fn>/bootstrap.
func build(t *testing.T, root, dir, fn string) string {
	t.Helper()
	out := filepath.Join(dir, fn, "bootstrap")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", out, "./functions/"+fn)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build functions/%s: %v\n%s", fn, err, b)
	}
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkSummary: after one rollup run (the seed), the summary is its snapshot.
func checkSummary(t *testing.T, c sampleRun) {
	for i, b := range c.bodies {
		var snap struct {
			TakenAt     string            `json:"snapshot_at"`
			Evaluations []json.RawMessage `json:"evaluations"`
			Open        []json.RawMessage `json:"open_anomalies"`
			Resolved    []json.RawMessage `json:"recently_resolved"`
			Health      []json.RawMessage `json:"health"`
		}
		decodeBody(t, b, &snap)
		if snap.TakenAt == "" || len(snap.Evaluations) != 4 || snap.Open == nil || snap.Resolved == nil || snap.Health == nil {
			t.Errorf("answer %d: %s, want a snapshot with its time, four evaluations and the anomaly and health arrays", i, b)
		}
	}
}

// checkMetrics: after one rollup run (the seed), /metrics is Prometheus's text format with
// the rollup's lag and the silent groups gauge (no event was posted, so no counter yet).
func checkMetrics(t *testing.T, c sampleRun) {
	for i, b := range c.bodies {
		if c.status[i] != 200 {
			t.Fatalf("answer %d: %d %s", i, c.status[i], b)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("answer %d does not parse as Prometheus text: %v\n%s", i, err, b)
		}
		for _, name := range []string{"pipetel_rollup_lag_seconds", "pipetel_silent_groups"} {
			if families[name] == nil {
				t.Errorf("answer %d lacks %s:\n%s", i, name, b)
			}
		}
	}
}

// checkWeb: the dashboard comes whole, cold and warm, with its chart library inlined.
func checkWeb(t *testing.T, c sampleRun) {
	for i, b := range c.bodies {
		page := string(b)
		if !strings.HasPrefix(page, "<!doctype html>") || !strings.Contains(page, "uPlot") || !strings.Contains(page, "telemetry/anomalies") {
			t.Errorf("answer %d: %.200s, want the dashboard page with uPlot inlined", i, page)
		}
	}
}
