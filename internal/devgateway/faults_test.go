package devgateway

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
)

// rawServer serves g on a real listener wrapped by Listener, as the dev server does, so
// the tests see what net/http itself does with a broken request.
func rawServer(t *testing.T, g *Gateway) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(g)
	srv.Listener = Listener(srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// exchange writes raw to addr, closes the write side if asked, and reads one answer.
func exchange(t *testing.T, addr, raw string, closeWrite bool) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	if closeWrite {
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// assertErrorShape fails t unless resp has status want and a JSON body in the API's error
// shape with the request id of its Apigw-Requestid header.
func assertErrorShape(t *testing.T, resp *http.Response, want int) map[string]any {
	t.Helper()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("status %d: body is not JSON: %v", resp.StatusCode, err)
	}
	if resp.StatusCode != want || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("status %d, Content-Type %q; want %d, application/json", resp.StatusCode, resp.Header.Get("Content-Type"), want)
	}
	if d, _ := body["detail"].(string); d == "" || body["request_id"] == "" || body["request_id"] != resp.Header.Get("Apigw-Requestid") {
		t.Errorf("not the error shape with the request id of the header: %v", body)
	}
	return body
}

// TestBodyCutShortIs400: a body that ends before its Content-Length, or a chunked body
// cut before its last chunk, never reaches the function and is answered 400, not a silent
// 200 a client would take for "delivered".
func TestBodyCutShortIs400(t *testing.T) {
	const head = "POST /telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	body := `[{"kind":"job_result","runtime":"lava-collabora","result":"pass"}]`[:64]
	cases := []struct{ name, raw string }{
		{"content-length", head + "Content-Length: 200\r\n\r\n" + body},
		{"chunked", head + "Transfer-Encoding: chunked\r\n\r\n40\r\n" + body + "\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, post, _, _ := newGateway(t)
			resp := exchange(t, rawServer(t, g), c.raw, true)
			assertErrorShape(t, resp, http.StatusBadRequest)
			if len(post.events) != 0 {
				t.Errorf("the function was given a cut body: %q", post.events[0].Body)
			}
		})
	}
}

// TestServerRefusalsInErrorShape: what net/http refuses before any handler runs is
// answered in the API's error shape.
func TestServerRefusalsInErrorShape(t *testing.T) {
	cases := []struct {
		name, raw string
		want      int
	}{
		{"header too large", "GET /telemetry HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n", 431},
		{"query too large", "GET /telemetry?q=" + strings.Repeat("a", 2<<20) + " HTTP/1.1\r\nHost: x\r\n\r\n", 431},
		{"unknown version", "GET /telemetry HTTP/9.9\r\nHost: x\r\n\r\n", 505},
		{"malformed request line", "GARBAGE\r\n\r\n", 400},
		{"malformed header", "GET /telemetry HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400},
		{"missing host", "GET /telemetry HTTP/1.1\r\n\r\n", 400},
		{"unknown transfer encoding", "POST /telemetry HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked2\r\n\r\n", 501},
	}
	g, _, _, _ := newGateway(t)
	addr := rawServer(t, g)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := assertErrorShape(t, exchange(t, addr, c.raw, false), c.want)
			if strings.Contains(body["detail"].(string), "GARBAGE") {
				t.Errorf("detail echoes the request: %v", body["detail"])
			}
		})
	}
}

// TestFunctionDeadline: a request's context carries its function's deployed timeout from
// the time the request was received, as a Lambda invocation's does, and a function still
// running at its deadline is answered 504 in the error shape.
func TestFunctionDeadline(t *testing.T) {
	g, post, get, _ := newGateway(t)
	g.SetTimeouts(map[string]time.Duration{"ingest": 29 * time.Second})
	// The fixed clock stands in the past, so the deadline has passed when the handler runs.
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hung := func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		post.ctxs = append(post.ctxs, ctx)
		<-release
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	}
	rt := g.paths["/telemetry"]["POST"]
	rt.handler = hung
	g.paths["/telemetry"]["POST"] = rt

	w := serve(g, httptestRequest("POST", "/telemetry"))
	if w.Code != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504: %s", w.Code, w.Body)
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["detail"] == "" || body["request_id"] == "" {
		t.Errorf("not the error shape: %s", w.Body)
	}

	// A function with a deadline sees it; one without runs without one.
	g.paths["/telemetry"]["POST"] = route{key: rt.key, function: rt.function, handler: func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		deadline, ok := ctx.Deadline()
		if !ok || !deadline.Equal(fixedTime.Add(29*time.Second)) {
			t.Errorf("deadline %v %v, want %v", deadline, ok, fixedTime.Add(29*time.Second))
		}
		return api.JSON(200, map[string]int{}), nil
	}}
	serve(g, httptestRequest("POST", "/telemetry"))
	serve(g, httptestRequest("GET", "/telemetry"))
	get.last(t)
	if _, has := get.ctxs[0].Deadline(); has {
		t.Error("a function with no timeout set got a deadline")
	}
}

// TestClientThatHalfClosesGetsItsAnswer: a client that sends its whole request and then
// closes its write side (shutdown(SHUT_WR), as some HTTP/1.0-style clients and `nc -N` do)
// is still reading. net/http takes the EOF for a client gone and cancels the request's
// context, but API Gateway does not stop a Lambda when its caller goes away, so the
// function must run on and the client read its answer, not a 500 for `context canceled`.
func TestClientThatHalfClosesGetsItsAnswer(t *testing.T) {
	g, post, _, log := newGateway(t)
	g.SetTimeouts(map[string]time.Duration{"ingest": time.Hour})
	g.now = time.Now
	gone := make(chan struct{})
	rt := g.paths["/telemetry"]["POST"]
	rt.handler = func(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		<-gone // net/http has cancelled the request's context
		if err := ctx.Err(); err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return post.handle(ctx, e)
	}
	g.paths["/telemetry"]["POST"] = rt
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		go func() {
			<-r.Context().Done()
			// Cause waits for the cancellation to reach every context derived from this one.
			_ = context.Cause(r.Context())
			close(gone)
		}()
		g.ServeHTTP(w, r)
	}))
	srv.Listener = Listener(srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close)

	const body = `[{"kind":"job_result","runtime":"lava-collabora","result":"pass"}]`
	raw := "POST /telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
	resp := exchange(t, srv.Listener.Addr().String(), raw, true)
	if resp.StatusCode != http.StatusOK || len(post.events) != 1 {
		t.Errorf("status %d, %d events given to the function; want 200 and 1", resp.StatusCode, len(post.events))
	}
	if strings.Contains(log.String(), `"level":"ERROR"`) {
		t.Errorf("an error was logged for a client that is still reading:\n%s", log)
	}
}

func httptestRequest(method, path string) *http.Request {
	return httptest.NewRequest(method, "http://127.0.0.1:3000"+path, strings.NewReader("[]"))
}
