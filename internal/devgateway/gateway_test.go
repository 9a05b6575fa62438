package devgateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// recorder is a stub handler: it keeps the event it was given and answers with resp, so
// the tests can look at both sides of the translation.
type recorder struct {
	events []events.APIGatewayV2HTTPRequest
	ctxs   []context.Context
	resp   events.APIGatewayV2HTTPResponse
	err    error
}

func (rec *recorder) handle(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	rec.events = append(rec.events, e)
	rec.ctxs = append(rec.ctxs, ctx)
	return rec.resp, rec.err
}

func (rec *recorder) last(t *testing.T) events.APIGatewayV2HTTPRequest {
	t.Helper()
	if len(rec.events) == 0 {
		t.Fatal("the handler was not called")
	}
	return rec.events[len(rec.events)-1]
}

var fixedTime = time.Date(2025, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

// newGateway serves POST and GET /telemetry with one recorder each, on a fixed clock, and
// logs into the returned buffer.
func newGateway(t *testing.T) (g *Gateway, post, get *recorder, log *bytes.Buffer) {
	t.Helper()
	post = &recorder{resp: events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "{}"}}
	get = &recorder{resp: events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "{}"}}
	routes := []api.Route{
		{Method: "POST", Path: "/telemetry", Function: "ingest", New: func(api.Deps) api.Handler { return post.handle }},
		{Method: "GET", Path: "/telemetry", Function: "query", New: func(api.Deps) api.Handler { return get.handle }},
	}
	log = &bytes.Buffer{}
	g, err := New(routes, api.Deps{}, slog.New(slog.NewJSONHandler(log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	g.now = func() time.Time { return fixedTime }
	return g, post, get, log
}

func serve(g *Gateway, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	return w
}

func TestRequestTranslation(t *testing.T) {
	g, post, get, _ := newGateway(t)
	body := `[{"kind":"job_result","runtime":"lava-collabora"}]`
	r := httptest.NewRequest("POST", "http://pipetel.example.com:3000/telemetry?partial=true&a=1&a=2", strings.NewReader(body))
	r.RemoteAddr = "192.0.2.7:51234"
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "kernelci-client/1.0")
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	r.Header.Add("X-Repeated", "one")
	r.Header.Add("X-Repeated", "two")
	r.Header.Add("Cookie", "session=abc; theme=dark")
	r.Header.Add("Cookie", "lang=en")

	w := serve(g, r)

	if len(get.events) != 0 {
		t.Errorf("GET handler called for a POST")
	}
	e := post.last(t)
	id := w.Header().Get("Apigw-Requestid")
	if id == "" {
		t.Fatal("no apigw-requestid response header")
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"Version", e.Version, "2.0"},
		{"RouteKey", e.RouteKey, "POST /telemetry"},
		{"RawPath", e.RawPath, "/telemetry"},
		{"RawQueryString", e.RawQueryString, "partial=true&a=1&a=2"},
		{"QueryStringParameters", e.QueryStringParameters, map[string]string{"partial": "true", "a": "1,2"}},
		{"Cookies", e.Cookies, []string{"session=abc", "theme=dark", "lang=en"}},
		{"Body", e.Body, body},
		{"IsBase64Encoded", e.IsBase64Encoded, false},
		{"PathParameters", e.PathParameters, map[string]string(nil)},
		{"RequestContext.RouteKey", e.RequestContext.RouteKey, "POST /telemetry"},
		{"RequestContext.RequestID", e.RequestContext.RequestID, id},
		{"RequestContext.Stage", e.RequestContext.Stage, "$default"},
		{"RequestContext.AccountID", e.RequestContext.AccountID, localAccountID},
		{"RequestContext.APIID", e.RequestContext.APIID, localAPIID},
		{"RequestContext.DomainName", e.RequestContext.DomainName, "pipetel.example.com"},
		{"RequestContext.DomainPrefix", e.RequestContext.DomainPrefix, "pipetel"},
		{"RequestContext.Time", e.RequestContext.Time, "04/Mar/2025:05:06:07 +0000"},
		{"RequestContext.TimeEpoch", e.RequestContext.TimeEpoch, fixedTime.UnixMilli()},
		{"RequestContext.HTTP", e.RequestContext.HTTP, events.APIGatewayV2HTTPRequestContextHTTPDescription{
			Method: "POST", Path: "/telemetry", Protocol: "HTTP/1.1", SourceIP: "192.0.2.7", UserAgent: "kernelci-client/1.0"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
		}
	}

	wantHeaders := map[string]string{
		"content-type":      "application/json",
		"user-agent":        "kernelci-client/1.0",
		"x-repeated":        "one,two",
		"host":              "pipetel.example.com:3000",
		"x-forwarded-for":   "198.51.100.1, 192.0.2.7",
		"x-forwarded-proto": "http",
		"x-forwarded-port":  "3000",
	}
	for k, want := range wantHeaders {
		if got := e.Headers[k]; got != want {
			t.Errorf("Headers[%q] = %q, want %q", k, got, want)
		}
	}
	for k := range e.Headers {
		if k != strings.ToLower(k) {
			t.Errorf("header name %q is not lower-case", k)
		}
	}
	if _, ok := e.Headers["cookie"]; ok {
		t.Errorf("cookie header passed as a header; payload 2.0 moves it to cookies")
	}
	if !strings.HasPrefix(e.Headers["x-amzn-trace-id"], "Root=1-") {
		t.Errorf("x-amzn-trace-id = %q, want an X-Ray root", e.Headers["x-amzn-trace-id"])
	}
	lc, ok := lambdacontext.FromContext(post.ctxs[0])
	if !ok || lc.AwsRequestID == "" || !strings.HasSuffix(lc.InvokedFunctionArn, ":function:ingest") {
		t.Errorf("handler context carries Lambda context %+v, %v; want an invocation of ingest", lc, ok)
	}
}

func TestLatestPrefixServesTheSameHandler(t *testing.T) {
	var built []string
	h := &recorder{resp: events.APIGatewayV2HTTPResponse{StatusCode: 204}}
	deps := api.Deps{Log: slog.New(slog.DiscardHandler)}
	routes := []api.Route{{Method: "GET", Path: "/telemetry", Function: "query", New: func(d api.Deps) api.Handler {
		if d.Log != deps.Log {
			t.Errorf("constructor got other deps than New was given")
		}
		built = append(built, "query")
		return h.handle
	}}}
	g, err := New(routes, deps, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	serve(g, httptest.NewRequest("GET", "/telemetry", nil))
	w := serve(g, httptest.NewRequest("GET", "/latest/telemetry?kind=job_result", nil))

	if len(built) != 1 {
		t.Errorf("constructor called %d times, want once (as at a cold start)", len(built))
	}
	if w.Code != 204 || len(h.events) != 2 {
		t.Fatalf("status %d after %d calls, want 204 after 2", w.Code, len(h.events))
	}
	e := h.events[1]
	if e.RouteKey != "GET /latest/telemetry" || e.RawPath != "/latest/telemetry" || e.RequestContext.HTTP.Path != "/latest/telemetry" {
		t.Errorf("route key %q, raw path %q, http path %q; want the /latest route and path",
			e.RouteKey, e.RawPath, e.RequestContext.HTTP.Path)
	}
	if h.events[0].RequestContext.RequestID == e.RequestContext.RequestID {
		t.Errorf("two requests share request id %q", e.RequestContext.RequestID)
	}
}

func TestUnknownPathIs404(t *testing.T) {
	g, post, get, _ := newGateway(t)
	for _, path := range []string{"/nope", "/telemetry/", "/latest", "/latest/nope", "/Telemetry"} {
		w := serve(g, httptest.NewRequest("GET", path, nil))
		id := w.Header().Get("Apigw-Requestid")
		want := api.GatewayError(http.StatusNotFound, nil, id)
		if w.Code != 404 || w.Body.String() != want.Body || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s %q, want 404 %s", path, w.Code, w.Header().Get("Content-Type"), w.Body, want.Body)
		}
		assertRequestID(t, w.Body.Bytes(), id)
	}
	if len(post.events)+len(get.events) != 0 {
		t.Errorf("a handler was called for an unknown path")
	}
}

func TestOtherMethodIs405(t *testing.T) {
	g, post, get, _ := newGateway(t)
	for _, path := range []string{"/telemetry", "/latest/telemetry"} {
		w := serve(g, httptest.NewRequest("DELETE", path, nil))
		id := w.Header().Get("Apigw-Requestid")
		want := api.GatewayError(http.StatusMethodNotAllowed, []string{"GET", "POST"}, id)
		if w.Code != 405 || w.Body.String() != want.Body {
			t.Errorf("DELETE %s: %d %q, want 405 %s", path, w.Code, w.Body, want.Body)
		}
		if got := w.Header().Get("Allow"); got != "GET, POST" {
			t.Errorf("DELETE %s: Allow %q, want %q", path, got, "GET, POST")
		}
		assertRequestID(t, w.Body.Bytes(), id)
	}
	if len(post.events)+len(get.events) != 0 {
		t.Errorf("a handler was called for a method the path does not take")
	}
}

func assertRequestID(t *testing.T, body []byte, id string) {
	t.Helper()
	var b struct {
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.RequestID == "" || b.RequestID != id {
		t.Errorf("body %s: request_id %q, want the apigw-requestid %q (err %v)", body, b.RequestID, id, err)
	}
}

func TestQueryString(t *testing.T) {
	tests := []struct {
		raw  string
		want map[string]string
	}{
		{"", nil},
		{"&", nil},
		{"kind=job_result", map[string]string{"kind": "job_result"}},
		{"kind=a&runtime=r&kind=b&kind=c", map[string]string{"kind": "a,b,c", "runtime": "r"}},
		{"since=2025-01-01T00:00:00%2B02:00", map[string]string{"since": "2025-01-01T00:00:00+02:00"}},
		{"job_name=baseline+nfs&test_name=a%20b", map[string]string{"job_name": "baseline nfs", "test_name": "a b"}},
		{"flag&empty=", map[string]string{"flag": "", "empty": ""}},
		{"bad=%zz&k%3Dx=v", map[string]string{"bad": "%zz", "k=x": "v"}},
		{"a=x=y", map[string]string{"a": "x=y"}},
		{"a=1;b=2", map[string]string{"a": "1;b=2"}},
	}
	for _, tt := range tests {
		g, _, get, _ := newGateway(t)
		target := "/telemetry"
		if tt.raw != "" {
			target += "?" + tt.raw
		}
		serve(g, httptest.NewRequest("GET", target, nil))
		e := get.last(t)
		if e.RawQueryString != tt.raw {
			t.Errorf("%q: RawQueryString %q", tt.raw, e.RawQueryString)
		}
		if !reflect.DeepEqual(e.QueryStringParameters, tt.want) {
			t.Errorf("%q: QueryStringParameters %#v, want %#v", tt.raw, e.QueryStringParameters, tt.want)
		}
	}
}

func TestBodyEncoding(t *testing.T) {
	binary := []byte{0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe}
	json := []byte(`[{"kind":"job_result"}]`)
	tests := []struct {
		name, contentType string
		body              []byte
		base64            bool
	}{
		{"json", "application/json", json, false},
		{"json with charset", "application/json; charset=utf-8", json, false},
		{"text", "text/plain", []byte("héllo"), false},
		{"xml", "application/xml", []byte("<a/>"), false},
		{"invalid UTF-8 under a text type", "application/json", binary, true},
		{"octet-stream", "application/octet-stream", binary, true},
		{"octet-stream that happens to be UTF-8", "application/octet-stream", json, true},
		{"no content type", "", json, true},
		{"form post", "application/x-www-form-urlencoded", json, true},
		{"gzip", "application/gzip", binary, true},
		{"empty", "application/json", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, post, _, _ := newGateway(t)
			r := httptest.NewRequest("POST", "/telemetry", bytes.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			serve(g, r)
			e := post.last(t)
			if e.IsBase64Encoded != tt.base64 {
				t.Errorf("IsBase64Encoded = %v, want %v", e.IsBase64Encoded, tt.base64)
			}
			got := []byte(e.Body)
			if e.IsBase64Encoded {
				var err error
				if got, err = base64.StdEncoding.DecodeString(e.Body); err != nil {
					t.Fatalf("body %q is not base64: %v", e.Body, err)
				}
			}
			if !bytes.Equal(got, tt.body) {
				t.Errorf("body arrives as %q, want %q", got, tt.body)
			}
		})
	}
}

// TestOversizedInvocationIsRefusedBeforeTheHandler: Lambda refuses an invocation over
// its payload limit, counted on the event with the body as a JSON string, so a body
// under 6 MB full of quotes and line breaks is refused (413) as a deployment would.
func TestOversizedInvocationIsRefusedBeforeTheHandler(t *testing.T) {
	line := []byte(`{"error_msg":"a \"quoted\" traceback line\n"},` + "\n")
	incompressible := make([]byte, 6_200_000) // random bytes: gzip cannot shrink them
	_, _ = rand.NewChaCha8([32]byte{1}).Read(incompressible)
	for _, tc := range []struct {
		name     string
		body     []byte
		encoding string
		status   int
		// advice: the 413's remedy; gzip only where a compressed body would fit.
		advice, notAdvice string
	}{
		{"5.96 MB of escapes", bytes.Repeat(line, 5_960_000/len(line)), "", 413, "send it with Content-Encoding: gzip", ""},
		{"over 6 MB", bytes.Repeat([]byte("a"), telemetry.MaxBodyBytes+1000), "", 413, "even when sent gzip-compressed; split the batch", "send it with Content-Encoding: gzip"},
		{"over the limit gzipped", incompressible, "gzip", 413, "even with its body compressed; split the batch", "send it with Content-Encoding: gzip"},
		{"4 MB", bytes.Repeat(line, 4_000_000/len(line)), "", 200, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, post, _, _ := newGateway(t)
			post.resp = events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: `{}`}
			r := httptest.NewRequest("POST", "/telemetry", bytes.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/json")
			if tc.encoding != "" {
				r.Header.Set("Content-Encoding", tc.encoding)
			}
			w := serve(g, r)
			if w.Code != tc.status {
				t.Fatalf("answer %d %.200s, want %d", w.Code, w.Body, tc.status)
			}
			if tc.status == 413 {
				if len(post.events) != 0 {
					t.Error("the handler was called with an invocation Lambda would refuse")
				}
				if !strings.Contains(w.Body.String(), tc.advice) {
					t.Errorf("413 body %s, want it to say %q", w.Body, tc.advice)
				}
				if tc.notAdvice != "" && strings.Contains(w.Body.String(), tc.notAdvice) {
					t.Errorf("413 body %s advises %q, which cannot help this body", w.Body, tc.notAdvice)
				}
			}
		})
	}
}

// TestEveryRouteUnderEachPrefix: kernelci-api serves /latest and /v0; so does pipetel.
func TestEveryRouteUnderEachPrefix(t *testing.T) {
	g, _, get, _ := newGateway(t)
	for _, path := range []string{"/telemetry", "/latest/telemetry", "/v0/telemetry"} {
		before := len(get.events)
		if w := serve(g, httptest.NewRequest("GET", path, nil)); w.Code != 200 || len(get.events) != before+1 {
			t.Errorf("GET %s: %d, handler called %d times", path, w.Code, len(get.events)-before)
		}
	}
}

func TestResponseTranslation(t *testing.T) {
	g, _, get, _ := newGateway(t)
	get.resp = events.APIGatewayV2HTTPResponse{
		StatusCode:        201,
		Headers:           map[string]string{"content-type": "image/png", "X-Single": "a,b", "X-Both": "from headers"},
		MultiValueHeaders: map[string][]string{"X-Multi": {"1", "2"}, "X-Both": {"m1", "m2"}},
		Cookies:           []string{"a=1; Path=/", "b=2; HttpOnly"},
		Body:              base64.StdEncoding.EncodeToString([]byte{0x89, 'P', 'N', 'G', 0x00}),
		IsBase64Encoded:   true,
	}
	w := serve(g, httptest.NewRequest("GET", "/telemetry", nil))
	res := w.Result()
	checks := []struct {
		field     string
		got, want any
	}{
		{"status", res.StatusCode, 201},
		{"Content-Type", res.Header.Values("Content-Type"), []string{"image/png"}},
		{"X-Single", res.Header.Values("X-Single"), []string{"a,b"}},
		{"X-Multi", res.Header.Values("X-Multi"), []string{"1", "2"}},
		{"X-Both", res.Header.Values("X-Both"), []string{"m1", "m2"}},
		{"Set-Cookie", res.Header.Values("Set-Cookie"), []string{"a=1; Path=/", "b=2; HttpOnly"}},
		{"Content-Length", res.Header.Get("Content-Length"), "5"},
		{"body", w.Body.Bytes(), []byte{0x89, 'P', 'N', 'G', 0x00}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
		}
	}
}

// A real server, because net/http sniffs a content type where httptest's recorder does not.
func TestNoContentTypeIsInvented(t *testing.T) {
	g, _, get, _ := newGateway(t)
	get.resp = events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "<html>hi</html>"}
	srv := httptest.NewServer(g)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/telemetry")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Values("Content-Type"); len(ct) != 0 {
		t.Errorf("Content-Type %q, want none: the function named none", ct)
	}
}

// A function that fails instead of answering gets API Gateway's 502, in the API's error
// shape, with the failure in the log and not in the response.
func TestFunctionFailureIs502(t *testing.T) {
	failures := []struct {
		name  string
		setup func(*recorder) api.Handler
		inLog string
	}{
		{"error", func(rec *recorder) api.Handler {
			rec.err = errors.New("dynamodb: table pipetel-dev-events not found")
			return rec.handle
		}, "table pipetel-dev-events not found"},
		{"panic", func(*recorder) api.Handler {
			return func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				panic("nil map write in table pipetel-dev-events")
			}
		}, "nil map write in table pipetel-dev-events"},
		{"body not base64", func(rec *recorder) api.Handler {
			rec.resp = events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "table pipetel-dev-events!", IsBase64Encoded: true}
			return rec.handle
		}, "not base64"},
		{"no status", func(rec *recorder) api.Handler {
			rec.resp = events.APIGatewayV2HTTPResponse{Body: "table pipetel-dev-events"}
			return rec.handle
		}, "status code 0"},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			rec := &recorder{}
			h := f.setup(rec)
			var log bytes.Buffer
			g, err := New([]api.Route{{Method: "POST", Path: "/telemetry", Function: "ingest",
				New: func(api.Deps) api.Handler { return h }}}, api.Deps{}, slog.New(slog.NewJSONHandler(&log, nil)))
			if err != nil {
				t.Fatal(err)
			}
			w := serve(g, httptest.NewRequest("POST", "/telemetry", strings.NewReader("[]")))
			id := w.Header().Get("Apigw-Requestid")
			if w.Code != http.StatusBadGateway || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("answer %d %q, want 502 application/json", w.Code, w.Header().Get("Content-Type"))
			}
			var body struct {
				Detail    string `json:"detail"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Detail == "" || body.RequestID != id {
				t.Errorf("body %s is not the error shape with request id %q (err %v)", w.Body, id, err)
			}
			if strings.Contains(w.Body.String(), "pipetel-dev-events") {
				t.Errorf("internal text reached the client: %s", w.Body)
			}
			if !strings.Contains(log.String(), f.inLog) || !strings.Contains(log.String(), id) {
				t.Errorf("log %s does not name the failure %q and request %q", log.String(), f.inLog, id)
			}
		})
	}
}

func TestNewRejectsAmbiguousRoutes(t *testing.T) {
	h := func(api.Deps) api.Handler { return (&recorder{}).handle }
	bad := map[string][]api.Route{
		"duplicate":              {{Method: "GET", Path: "/telemetry", New: h}, {Method: "GET", Path: "/telemetry", New: h}},
		"clash with /latest":     {{Method: "GET", Path: "/x", New: h}, {Method: "GET", Path: "/latest/x", New: h}},
		"no constructor":         {{Method: "GET", Path: "/telemetry"}},
		"path without leading /": {{Method: "GET", Path: "telemetry", New: h}},
	}
	for name, routes := range bad {
		if _, err := New(routes, api.Deps{}, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("%s: New accepted %v", name, routes)
		}
	}
}

// The real route table must build: every route has a constructor and no two collide.
func TestNewAcceptsTheAPIRoutes(t *testing.T) {
	g, err := New(routes.All, api.Deps{Log: slog.New(slog.DiscardHandler), Now: time.Now}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes.All {
		for _, p := range r.Paths() {
			if _, ok := g.paths[p][r.Method]; !ok {
				t.Errorf("%s %s is not served", r.Method, p)
			}
		}
	}
}

var _ http.Handler = (*Gateway)(nil)
