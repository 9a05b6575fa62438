package web_test

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/lambdatest"
	"github.com/pipetel/pipetel/internal/web"
)

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func get(t *testing.T, path, acceptEncoding string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	h := web.New(api.Deps{Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: time.Now})
	resp, err := h(t.Context(), events.APIGatewayV2HTTPRequest{
		RawPath: path,
		Headers: map[string]string{"accept-encoding": acceptEncoding},
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "req-1",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: path}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// bodyOf is the response body as the client reads it.
func bodyOf(t *testing.T, resp events.APIGatewayV2HTTPResponse) []byte {
	t.Helper()
	body, err := lambdatest.ClientBody(resp)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// Each page is whole: every {{inline}} replaced by its file, so the browser needs no
// second request and nothing from elsewhere; the same bytes at the /latest path, and
// compressed only for a client that takes gzip.
func TestPagesAreSelfContained(t *testing.T) {
	for _, c := range []struct {
		path, contentType string
		contains          []string
	}{
		{"/", "text/html; charset=utf-8", []string{"uPlot", "telemetry/anomalies", ".uplot"}},
		{"/latest", "text/html; charset=utf-8", []string{"uPlot", "telemetry/anomalies"}},
		{"/docs", "text/html; charset=utf-8", []string{"SwaggerUIBundle", "validatorUrl: null", ".swagger-ui"}},
		{"/latest/openapi.json", "application/json", []string{`"openapi": "3.1.0"`}},
	} {
		plain := get(t, c.path, "")
		if plain.StatusCode != 200 || plain.Headers["Content-Type"] != c.contentType || plain.IsBase64Encoded {
			t.Errorf("GET %s: %d %q base64 %v, want 200 %q plain", c.path, plain.StatusCode, plain.Headers["Content-Type"], plain.IsBase64Encoded, c.contentType)
			continue
		}
		for _, want := range c.contains {
			if !strings.Contains(plain.Body, want) {
				t.Errorf("GET %s lacks %q", c.path, want)
			}
		}
		for _, never := range []string{"{{inline", "<script src=", "<link rel=\"stylesheet\""} {
			if strings.Contains(plain.Body, never) && !strings.HasSuffix(c.path, ".json") {
				t.Errorf("GET %s has %q: something is not inlined", c.path, never)
			}
		}
		zipped := get(t, c.path, "br, gzip;q=0.8")
		if zipped.Headers["Content-Encoding"] != "gzip" || !bytes.Equal(bodyOf(t, zipped), []byte(plain.Body)) {
			t.Errorf("GET %s with gzip accepted: Content-Encoding %q, or the body differs once decompressed", c.path, zipped.Headers["Content-Encoding"])
		}
		if len(zipped.Body) >= len(plain.Body) {
			t.Errorf("GET %s: compressed body %d bytes, plain %d", c.path, len(zipped.Body), len(plain.Body))
		}
	}
}

func TestGzipOnlyWhenAccepted(t *testing.T) {
	for header, want := range map[string]bool{
		"":                  false,
		"gzip":              true,
		"GZIP":              true,
		"deflate, gzip":     true,
		"gzip;q=0":          false,
		"gzip; q=0.000":     false,
		"gzip;q=0.5":        true,
		"*":                 true,
		"br":                false,
		"identity, *;q=0.1": true,
	} {
		got := get(t, "/openapi.json", header).Headers["Content-Encoding"] == "gzip"
		if got != want {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", header, got, want)
		}
	}
}

func TestUnknownPathIs404InTheErrorShape(t *testing.T) {
	resp := get(t, "/docs/nope", "")
	if resp.StatusCode != 404 || !strings.Contains(resp.Body, `"request_id":"req-1"`) {
		t.Errorf("%d %s", resp.StatusCode, resp.Body)
	}
}
