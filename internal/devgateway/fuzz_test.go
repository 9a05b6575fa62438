package devgateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/telemetry/telemetrytest"
)

// FuzzGatewayRequest: any request net/http accepts gets an answer through the gateway and
// the real handlers: never a 5xx, a non-2xx answer always in the error shape, and a
// rejected request stores nothing.
func FuzzGatewayRequest(f *testing.F) {
	for _, seed := range []string{
		"POST /telemetry?partial=true HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 36\r\n\r\n[{\"kind\":\"job_result\",\"runtime\":\"\"}]",
		"POST /latest/telemetry HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n",
		"POST /telemetry HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
		"GET /telemetry?runtime=lava&a=1&a=2&x=%zz HTTP/1.1\r\nHost: pipetel.example.com:3000\r\nCookie: a=1; b=2\r\n\r\n",
		"GET /telemetry/stats?group_by=runtime,lab HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /latest/telemetry/anomalies?window=6h HTTP/1.1\r\nHost: [::1]:3000\r\n\r\n",
		"DELETE /telemetry HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /nope HTTP/1.0\r\n\r\n",
		"GET /telemetry%2Fstats HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return // net/http refuses it before any handler; TestServerRefusalsInErrorShape covers those
		}
		s := &telemetrytest.CountingStore{}
		g, err := New(routes.All, api.Deps{Events: s, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: time.Now},
			slog.New(slog.NewJSONHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		r.RemoteAddr = "192.0.2.1:1234"
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if w.Code >= 300 {
			if s.Puts.Load() > 0 {
				t.Fatalf("status %d, yet %d events were stored", w.Code, s.Puts.Load())
			}
			var shape struct {
				Detail    string `json:"detail"`
				RequestID string `json:"request_id"`
			}
			if r.Method != http.MethodHead && (json.Unmarshal(w.Body.Bytes(), &shape) != nil || shape.Detail == "" || shape.RequestID == "") {
				t.Fatalf("status %d not in the error shape: %s", w.Code, w.Body)
			}
		}
	})
}
