package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/web"
)

// exchange is one real request to a running server and the status it must get; its
// answer must match /openapi.json. Every route of routes.All needs a success row and an
// error row on its path here (TestOpenAPICoversEveryRoute), so a new route adds its rows.
type exchange struct {
	method, path, query, body string
	encoding                  string // Content-Encoding, when set
	fault                     fault  // switched on for this request only
	as                        caller
	status                    int
	// unadmitted: a success for a request the description does not admit (partial mode
	// stores the valid events of a batch that has invalid ones).
	unadmitted bool
}

// caller is the token an exchange sends.
type caller int

const (
	callerFull     caller = iota // the server's token with every scope
	callerNone                   // no Authorization header
	callerReadOnly               // a token with the read scope only
)

// cursorPlaceholder in a query is replaced by a real cursor of GET /telemetry?limit=2.
const cursorPlaceholder = "CURSOR"

const twoEvents = `[{"kind":"job_result","runtime":"lava-collabora","device_type":"bcm2711-rpi-4-b","device_id":"rpi4-1","result":"fail","is_infra_error":true,"error_type":"Infrastructure","duration":412.5,"ts":"2026-08-20T10:00:00Z","colour":"blue"},
 {"kind":"runtime_error","runtime":"lava-cip","error_type":"online_check","error_msg":"Connection refused","id":"probe-1"}]`

var exchanges = []exchange{
	{method: "POST", path: "/telemetry", body: twoEvents, status: 200},
	{method: "POST", path: "/latest/telemetry", body: twoEvents, status: 200}, // duplicates
	{method: "POST", path: "/telemetry", query: "partial=true", body: `[{"kind":"job_result","runtime":"x"},{"runtime":"x"}]`, status: 200, unadmitted: true},
	{method: "POST", path: "/telemetry", body: `[{"kind":"job_result"},{"kind":1,"runtime":"x"}]`, status: 400},
	{method: "POST", path: "/telemetry", body: `{"kind":"job_result"}`, status: 400},
	{method: "POST", path: "/telemetry", body: `[` + strings.Repeat(" ", telemetry.MaxBodyBytes) + `]`, status: 413},
	{method: "POST", path: "/telemetry", body: `[{"kind":"job_result","runtime":"x","id":"thr-1"}]`, fault: faultThrottle, status: 503},
	{method: "POST", path: "/telemetry", body: `[{"kind":"job_result","runtime":"x","id":"brk-1"}]`, fault: faultBreak, status: 500},
	{method: "POST", path: "/telemetry", body: twoEvents, encoding: "br", status: 415},
	{method: "POST", path: "/telemetry", body: twoEvents, as: callerNone, status: 401},
	{method: "POST", path: "/v0/telemetry", body: twoEvents, as: callerReadOnly, status: 403},

	{method: "GET", path: "/telemetry", query: "runtime=lava-collabora&kind=job_result&limit=3", status: 200},
	{method: "GET", path: "/telemetry", query: "limit=2&cursor=" + cursorPlaceholder, status: 200},
	{method: "GET", path: "/v0/telemetry", query: "runtime=lava-cip&order=desc&limit=3", status: 200},
	{method: "GET", path: "/telemetry", query: "order=newest", status: 400},
	{method: "GET", path: "/telemetry", as: callerNone, status: 401},
	{method: "GET", path: "/latest/telemetry", query: "lab=lava-cip&is_infra_error=false&since=2020-01-01", status: 200},
	{method: "GET", path: "/telemetry", query: "limit=0", status: 400},
	{method: "GET", path: "/telemetry", query: "colour=blue", status: 400},
	{method: "GET", path: "/telemetry", query: "cursor=not-a-cursor", status: 400},
	{method: "GET", path: "/telemetry", query: "runtime=lava-cip", fault: faultThrottle, status: 429},
	{method: "GET", path: "/telemetry", query: "runtime=lava-cip", fault: faultBreak, status: 500},

	{method: "GET", path: "/telemetry/stats", query: "group_by=runtime", status: 200},
	{method: "GET", path: "/latest/telemetry/stats", query: "group_by=device_type,device_id&kind=job_result", status: 200},
	{method: "GET", path: "/telemetry/stats", query: "runtime=lava-cip", status: 400},
	{method: "GET", path: "/telemetry/stats", query: "group_by=runtime", fault: faultThrottle, status: 429},

	{method: "GET", path: "/telemetry/anomalies", status: 200},
	{method: "GET", path: "/latest/telemetry/anomalies", query: "scope=device&window=48h&threshold=0.9&min_total=2", status: 200},
	{method: "GET", path: "/telemetry/anomalies", query: "window=2h", status: 400},
	{method: "GET", path: "/telemetry/anomalies", fault: faultBreak, status: 500},
	{method: "GET", path: "/telemetry/anomalies", query: "include=baseline,silence", status: 200},
	{method: "GET", path: "/telemetry/anomalies", query: "include=flaky", status: 400},

	{method: "GET", path: "/telemetry/summary", status: 200},
	{method: "GET", path: "/v0/telemetry/summary", query: "at=2020-01-01T00:00:00Z", status: 404},
	{method: "GET", path: "/latest/telemetry/summary", as: callerReadOnly, status: 200},
	{method: "GET", path: "/telemetry/summary", query: "at=yesterday", status: 400},
	{method: "GET", path: "/telemetry/summary", as: callerNone, status: 401},

	{method: "GET", path: "/telemetry/trends", status: 200},
	{method: "GET", path: "/latest/telemetry/trends", query: "range=400d&runtime=lava-collabora", status: 200},
	{method: "GET", path: "/v0/telemetry/trends", query: "range=7d", as: callerReadOnly, status: 200},
	{method: "GET", path: "/telemetry/trends", query: "range=1y", status: 400},
	{method: "GET", path: "/telemetry/trends", query: "range=", status: 400},      // empty is no range, not the default
	{method: "GET", path: "/telemetry/trends", query: "runtime=%ff", status: 400}, // read as every filter is: not UTF-8

	{method: "GET", path: "/metrics", status: 200},
	{method: "GET", path: "/latest/metrics", as: callerReadOnly, status: 200},
	{method: "GET", path: "/v0/metrics", as: callerNone, status: 401},
	{method: "GET", path: "/metrics", query: "format=json", status: 400},

	{method: "POST", path: "/pipelines", body: pipelineRun(7), status: 200},
	{method: "POST", path: "/latest/pipelines", body: pipelineRun(7), status: 208},
	{method: "POST", path: "/pipelines", body: `{"project":"x"}`, status: 400},
	{method: "POST", path: "/save_metrics", query: "runtime=gitlab", body: pipelineRun(8), status: 200},
	{method: "POST", path: "/save_metrics", body: pipelineRun(9), fault: faultBreak, status: 500},
	{method: "GET", path: "/pipelines/stats", query: "project=test/project", status: 200},
	{method: "GET", path: "/pipelines/stats", query: "exclude_restarts=maybe", status: 400},
	{method: "POST", path: "/save_metrics", body: pipelineRun(10), as: callerReadOnly, status: 403},

	{method: "GET", path: "/", query: "window=24h&e.runtime=lava-cip", status: 200},
	{method: "GET", path: "/latest", status: 200},
	{method: "POST", path: "/", body: "[]", status: 405},
	{method: "GET", path: "/docs", status: 200},
	{method: "POST", path: "/docs", body: "[]", status: 405},
	{method: "GET", path: "/openapi.json", status: 200},
	{method: "GET", path: "/latest/openapi.json", status: 200},
	{method: "GET", path: "/v0/openapi.json", as: callerNone, status: 200},
	{method: "GET", path: "/docs", as: callerNone, status: 200},
	{method: "DELETE", path: "/openapi.json", status: 405},

	{method: "GET", path: "/nope", status: 404},
	{method: "DELETE", path: "/telemetry", status: 405},
}

// pipelineRun is the sample collector document of events/pipelines.json with pipeline_id id.
func pipelineRun(id int) string {
	return strings.Replace(pipelineSample, `"pipeline_id":1,`, fmt.Sprintf(`"pipeline_id":%d,`, id), 1)
}

const pipelineSample = `{"project":"test/project","pipeline_id":1,"ref":"master","created_at":"2026-08-20T14:11:24.029+07:00","duration":97,"duration_e2e":27,"has_restarts":false,"jobs_failed":[],"build":64,"builds":[{"build-e2e":64}],"jobs":[{"name":"e2e","started_at":"2026-08-20T14:12:33.677+07:00","finished_at":"2026-08-20T14:13:01.293+07:00","duration":27,"up":7,"e2e":5}]}`

func init() {
	// The pages are HTML; their schema is a string, which the body is read as.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
}

// loadSpec reads the description the server serves and checks it is valid OpenAPI 3.1.
func loadSpec(t *testing.T, s *server) *openapi3.T {
	t.Helper()
	resp, err := http.Get(s.URL + web.PathOpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("%s does not load: %v", web.PathOpenAPI, err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("%s is OpenAPI %s; want 3.1", web.PathOpenAPI, doc.OpenAPI)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("%s is not a valid description: %v", web.PathOpenAPI, err)
	}
	return doc
}

// specPath is the documented path of a served one: the description lists each route
// once, without the /latest and /v0 prefixes every route is also served under.
func specPath(p string) string {
	for _, prefix := range []string{api.LatestPrefix, api.V0Prefix} {
		if p == prefix {
			return "/"
		}
		if rest, ok := strings.CutPrefix(p, prefix+"/"); ok {
			return "/" + rest
		}
	}
	return p
}

// checkOpenAPI sends every exchange to s and validates each answer against the
// description s serves.
func checkOpenAPI(t *testing.T, s *server) {
	doc := loadSpec(t, s)
	cursor := firstCursor(t, s)
	for _, x := range exchanges {
		name := fmt.Sprintf("%s %s?%.40s %d", x.method, x.path, x.query, x.status)
		t.Run(name, func(t *testing.T) {
			query := strings.ReplaceAll(x.query, cursorPlaceholder, url.QueryEscape(cursor))
			req, err := http.NewRequestWithContext(t.Context(), x.method, s.URL+x.path+"?"+query, strings.NewReader(x.body))
			if err != nil {
				t.Fatal(err)
			}
			if x.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if x.encoding != "" {
				req.Header.Set("Content-Encoding", x.encoding)
			}
			switch x.as {
			case callerFull:
				req.Header.Set("Authorization", "Bearer "+s.token)
			case callerReadOnly:
				req.Header.Set("Authorization", "Bearer "+s.readOnly)
			}
			s.faults.mode.Store(int32(x.fault))
			resp, err := http.DefaultClient.Do(req)
			s.faults.mode.Store(int32(faultNone))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != x.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, x.status, body)
			}
			checkAgainstSpec(t, doc, x, req, resp, body)
		})
	}
}

// checkAgainstSpec validates one answer against the operation the description gives its
// method and path; answers of the gateway itself (no such route, no such method) have no
// operation and must have the Error shape. A success's request must be one the
// description admits too, so the parameters documented are the ones the handlers take.
func checkAgainstSpec(t *testing.T, doc *openapi3.T, x exchange, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	path := specPath(x.path)
	item := doc.Paths.Find(path)
	var op *openapi3.Operation
	if item != nil {
		op = item.GetOperation(x.method)
	}
	if op == nil {
		if x.status != http.StatusNotFound && x.status != http.StatusMethodNotAllowed {
			t.Fatalf("%s %s is not in the description", x.method, path)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("gateway answer is not JSON: %v: %s", err, body)
		}
		if err := doc.Components.Schemas["Error"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			t.Fatalf("gateway answer is not an Error: %v", err)
		}
		return
	}
	// The request as sent, with its body readable again and the served path documented.
	sent := req.Clone(t.Context())
	sent.URL.Path = path
	sent.Body = io.NopCloser(strings.NewReader(x.body))
	input := &openapi3filter.RequestValidationInput{
		Request:    sent,
		PathParams: map[string]string{},
		Route:      &routers.Route{Spec: doc, Path: path, PathItem: item, Method: x.method, Operation: op},
		Options:    &openapi3filter.Options{MultiError: true, AuthenticationFunc: bearerSent},
	}
	if x.status < 300 && !x.unadmitted {
		if err := openapi3filter.ValidateRequest(t.Context(), input); err != nil {
			t.Errorf("the description does not admit this request: %v", err)
		}
	}
	err := openapi3filter.ValidateResponse(t.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	if err != nil {
		t.Errorf("answer does not match the description: %v\n%.400s", err, body)
	}
}

// bearerSent admits a request under the description's bearer scheme only if it carries
// a bearer token, so a public page the description puts behind the scheme fails its
// token-less success rows.
func bearerSent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecurityScheme.Type == "http" && in.SecurityScheme.Scheme == "bearer" &&
		strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
		return nil
	}
	return fmt.Errorf("the request does not satisfy security scheme %s", in.SecuritySchemeName)
}

// TestOpenAPICoversEveryRoute: the description and routes.All list the same operations,
// and the exchanges give each a success and an error, so a route cannot be added,
// removed or left untested without this failing.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	raw := mustRead(t, "openapi.json")
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for _, r := range routes.All {
		key := r.Method + " " + r.Path
		if !documented[key] {
			t.Errorf("routes.All serves %s, which openapi.json does not describe", key)
		}
		delete(documented, key)
		var ok, failed bool
		for _, x := range exchanges {
			if specPath(x.path) == r.Path {
				ok = ok || x.status < 300 && x.method == r.Method
				// The pages' GETs cannot fail on input; another method on their path can.
				failed = failed || x.status >= 400
			}
		}
		if !ok || !failed {
			t.Errorf("%s: exchanges need a success and an error row (have success %v, error %v)", key, ok, failed)
		}
	}
	for key := range documented {
		t.Errorf("openapi.json describes %s, which routes.All does not serve", key)
	}
}

func firstCursor(t *testing.T, s *server) string {
	t.Helper()
	resp, err := s.client.Get(s.URL + "/telemetry?limit=2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct{ Next *string }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || page.Next == nil {
		t.Fatalf("no cursor from the first page: %v", err)
	}
	return *page.Next
}
