package devgateway

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// TestOptionsAndCORS: OPTIONS is answered by the gateway, as API Gateway answers it under
// a CORS configuration, and a page from an allowed origin may read every answer.
func TestOptionsAndCORS(t *testing.T) {
	g, post, get, _ := newGateway(t)
	get.resp = events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "{}",
		Headers: map[string]string{"Access-Control-Allow-Origin": "https://elsewhere.example"}}
	request := func(method, path string, headers map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		for k, v := range headers {
			r.Header.Set(k, v)
		}
		return serve(g, r)
	}
	preflight := map[string]string{"Origin": "https://dash.example", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "authorization,content-type"}

	w := request("OPTIONS", "/latest/telemetry", nil)
	if w.Code != 204 || w.Header().Get("Allow") != "GET, POST, OPTIONS" || w.Body.Len() != 0 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("OPTIONS without Origin: %d, Allow %q, %d bytes, %v; want 204 with Allow and no CORS headers", w.Code, w.Header().Get("Allow"), w.Body.Len(), w.Header())
	}
	w = request("OPTIONS", "/telemetry", preflight)
	want := map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "GET,POST",
		"Access-Control-Allow-Headers": "authorization,content-encoding,content-type",
		"Access-Control-Max-Age":       "600",
	}
	for k, v := range want {
		if got := w.Header().Get(k); w.Code != 204 || got != v {
			t.Errorf("preflight: %d, %s %q; want 204 and %q", w.Code, k, got, v)
		}
	}
	if len(post.events)+len(get.events) != 0 {
		t.Error("OPTIONS invoked a function")
	}
	if w := request("OPTIONS", "/nope", preflight); w.Code != 404 {
		t.Errorf("OPTIONS of an unknown path: %d, want 404", w.Code)
	}

	w = request("GET", "/telemetry", map[string]string{"Origin": "https://dash.example"})
	if w.Header().Get("Access-Control-Allow-Origin") != "*" || w.Header().Get("Access-Control-Expose-Headers") != "apigw-requestid,retry-after,x-pipetel-rollup-window" {
		t.Errorf("GET from a page: %v; want the configured CORS headers in place of the function's", w.Header())
	}
	if w := request("GET", "/telemetry", nil); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET without Origin: %v; want no CORS headers, not even the function's", w.Header())
	}

	g.SetCORS(CORS{AllowOrigins: []string{"https://dash.example"}, AllowMethods: []string{"GET"}})
	if w := request("OPTIONS", "/telemetry", map[string]string{"Origin": "https://other.example", "Access-Control-Request-Method": "GET"}); w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d %v; want 204 without CORS headers, which the browser refuses", w.Code, w.Header())
	}
	w = request("GET", "/telemetry", map[string]string{"Origin": "https://dash.example"})
	if w.Header().Get("Access-Control-Allow-Origin") != "https://dash.example" || w.Header().Get("Vary") != "Origin" {
		t.Errorf("GET from the allowed origin: %v; want it named, and Vary: Origin", w.Header())
	}
	if w := request("GET", "/telemetry", map[string]string{"Origin": "https://other.example"}); w.Code != http.StatusOK || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET from another origin: %d %v; want the answer without CORS headers", w.Code, w.Header())
	}
}
