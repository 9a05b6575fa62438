// Package devgateway stands in for API Gateway (HTTP API, payload format 2.0) on a
// developer's machine. It turns each net/http request into the event API Gateway would send
// to the route's Lambda, calls the handler built by the route's own constructor — the one the
// Lambda calls — and writes the handler's response back the way API Gateway would, so that
// `make dev` exercises the deployed code path rather than a local imitation of it.
package devgateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// Identifiers API Gateway puts in every event. A deployment has real ones; these mark the
// event as local while keeping each field filled, as handlers may log them.
const (
	localAccountID = "123456789012"
	localAPIID     = "local"
	defaultStage   = "$default"
)

// Gateway serves every route of an API over net/http. Build it with New.
type Gateway struct {
	paths    map[string]map[string]route // path → method → route
	timeouts map[string]time.Duration    // function → its deployed timeout; see SetTimeouts
	log      *slog.Logger
	now      func() time.Time
	// authorizer, if set, stands before every route but the public ones (see UseAuthorizer).
	authorizer *Authorizer
	cors       *CORS // nil: DefaultCORS
}

type route struct {
	key      string // "METHOD /path", API Gateway's name for the route that matched
	function string
	handler  api.Handler
	public   bool // served without the authorizer (api.Route.Public)
	private  bool // served with the authorizer even under public reads (api.Route.Private)
}

// New builds one handler per route by calling the route's constructor with deps once, as a
// Lambda does at cold start, and serves it at each of the route's Paths. It fails
// when two routes claim the same method and path, which would make dispatch ambiguous.
func New(routes []api.Route, deps api.Deps, log *slog.Logger) (*Gateway, error) {
	g := &Gateway{paths: map[string]map[string]route{}, log: log, now: time.Now}
	for _, r := range routes {
		if r.New == nil || r.Method == "" || !strings.HasPrefix(r.Path, "/") {
			return nil, fmt.Errorf("route %s %s (%s): want a method, a path starting with / and a constructor", r.Method, r.Path, r.Function)
		}
		h := r.New(deps)
		for _, path := range r.Paths() {
			methods := g.paths[path]
			if methods == nil {
				methods = map[string]route{}
				g.paths[path] = methods
			}
			if _, dup := methods[r.Method]; dup {
				return nil, fmt.Errorf("route %s %s is declared twice", r.Method, path)
			}
			methods[r.Method] = route{key: r.Method + " " + path, function: r.Function, handler: h, public: r.Public, private: r.Private}
		}
	}
	return g, nil
}

// ServeHTTP answers one request as API Gateway and the route's Lambda together would.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := g.now()
	id := newRequestID()
	resp, routeKey := g.answer(r, id, received)
	status, n := g.write(w, r, id, resp)
	// A function logs the requests it answers; the gateway's line would only repeat it, so
	// it shows by default only for what no function answered: unknown routes and failures.
	level := slog.LevelDebug
	if routeKey == "" || status == http.StatusBadGateway {
		level = slog.LevelInfo
	}
	g.log.Log(r.Context(), level, "gateway", "request_id", id, "method", r.Method, "path", r.URL.Path,
		"route", routeKey, "status", status, "bytes", n, "ms", g.now().Sub(received).Milliseconds())
}

// answer routes r and returns the response to send and the key of the route that took
// it, empty when none did. Every path has an answer, even for a client that may be gone:
// one that is still there must never read a silent 200 as "delivered".
func (g *Gateway) answer(r *http.Request, id string, received time.Time) (resp events.APIGatewayV2HTTPResponse, routeKey string) {
	// HTTP APIs match routes on the percent-decoded path and pass that same decoded path
	// to the function as rawPath.
	methods, known := g.paths[r.URL.Path]
	rt, allowed := methods[r.Method]
	allow := make([]string, 0, len(methods))
	for m := range methods {
		allow = append(allow, m)
	}
	slices.Sort(allow)
	switch {
	case !known:
		return api.GatewayError(http.StatusNotFound, nil, id), ""
	case r.Method == http.MethodOptions:
		resp = events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNoContent, Headers: map[string]string{}}
		h := http.Header{}
		g.corsConfig().options(h, r, allow)
		for k := range h {
			resp.Headers[k] = h.Get(k)
		}
		return resp, ""
	case !allowed:
		return api.GatewayError(http.StatusMethodNotAllowed, allow, id), ""
	}

	// One byte past Lambda's payload limit is enough for the handler to see the body is too
	// large and answer 413 in the API's error shape; reading the rest would only cost memory.
	body, err := io.ReadAll(io.LimitReader(r.Body, telemetry.MaxBodyBytes+1))
	if err != nil {
		// API Gateway would not invoke a function with half a body either. A client that
		// closed only its write side is still reading, and must not take silence for success.
		g.log.Warn("read request body", "request_id", id, "route", rt.key, "error", err.Error())
		return api.UnreadableRequest(api.BodyCutShort, id), rt.key
	}
	event := request(r, body, rt.key, id, received)
	// API Gateway does not stop a Lambda invocation when its caller goes away: the function
	// runs to its answer or its deadline. net/http cancels the request's context on a client
	// gone, and also on one that only half-closed its socket and is still reading, so the
	// authorizer and the function get a context that outlives the connection.
	ctx := context.WithoutCancel(r.Context())
	if !rt.public {
		if denied, stop := g.authorizer.apply(ctx, &event, rt.private); stop {
			return denied, rt.key
		}
	}
	// Lambda refuses an invocation whose payload, the event as JSON with the body inside
	// it as a JSON string, is over its limit, so a deployment answers before the function
	// runs; so does the local gateway, for exactly the same requests.
	if api.PayloadSize(event) > api.MaxPayloadBytes {
		return api.TooLargeToInvoke(len(body), r.Header.Get("Content-Encoding"), id), rt.key
	}
	resp, err = g.invokeWithin(ctx, rt, event, received)
	switch {
	case errors.Is(err, errTimedOut):
		g.log.Error("function ran past its timeout; answering 504",
			"request_id", id, "route", rt.key, "function", rt.function, "timeout", g.timeouts[rt.function].String())
		resp = api.GatewayError(http.StatusGatewayTimeout, nil, id)
	case err != nil:
		g.log.Error("function failed; answering 502 as API Gateway would",
			"request_id", id, "route", rt.key, "function", rt.function, "error", err.Error())
		resp = api.GatewayError(http.StatusBadGateway, nil, id)
	}
	return resp, rt.key
}

// invoke calls the handler with the context a Lambda invocation carries. A panic is a
// crashed invocation, which API Gateway reports as a failed integration, not a dead server.
func (g *Gateway) invoke(ctx context.Context, rt route, event events.APIGatewayV2HTTPRequest) (resp events.APIGatewayV2HTTPResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       newUUID(),
		InvokedFunctionArn: "arn:aws:lambda:local:" + localAccountID + ":function:" + rt.function,
	})
	return rt.handler(ctx, event)
}

// request is the event API Gateway (HTTP API, payload format 2.0) sends for r, whose body
// has already been read into body, when r matched the route named routeKey.
func request(r *http.Request, body []byte, routeKey, requestID string, received time.Time) events.APIGatewayV2HTTPRequest {
	headers, cookies := requestHeaders(r)
	sourceIP := sourceIP(r)
	domain := hostOnly(r.Host)
	event := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               r.URL.Path,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: queryParameters(r.URL.RawQuery),
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    localAccountID,
			Stage:        defaultStage,
			RequestID:    requestID,
			APIID:        localAPIID,
			DomainName:   domain,
			DomainPrefix: domainPrefix(domain),
			Time:         received.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    received.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	headers["x-forwarded-for"] = joinNonEmpty(headers["x-forwarded-for"], sourceIP)
	headers["x-forwarded-proto"], headers["x-forwarded-port"] = forwardedProtoPort(r)
	headers["x-amzn-trace-id"] = newTraceID(received)
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type")) && utf8.Valid(body) {
			event.Body = string(body)
		} else {
			event.Body = base64.StdEncoding.EncodeToString(body)
			event.IsBase64Encoded = true
		}
	}
	return event
}

// requestHeaders lower-cases header names and joins repeated headers with commas, as
// payload format 2.0 does. Cookie headers are not headers in that format: every cookie
// they carry becomes one entry of the event's cookies.
func requestHeaders(r *http.Request) (map[string]string, []string) {
	headers := make(map[string]string, len(r.Header)+4)
	var cookies []string
	for name, values := range r.Header {
		lower := strings.ToLower(name)
		if lower == "cookie" {
			for _, v := range values {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lower] = strings.Join(values, ",")
	}
	// net/http moves Host out of the header map; API Gateway passes it on.
	if r.Host != "" {
		headers["host"] = r.Host
	}
	return headers, cookies
}

// queryParameters decodes the query as API Gateway does: every key once, the values of a
// repeated key joined with commas in the order sent, '+' read as a space, and no map at all
// when there is no query. A malformed escape is passed on as sent rather than dropped.
func queryParameters(raw string) map[string]string {
	if raw == "" {
		return nil
	}
	params := map[string]string{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, v = unescapeQuery(k), unescapeQuery(v)
		if prev, seen := params[k]; seen {
			v = prev + "," + v
		}
		params[k] = v
	}
	if len(params) == 0 {
		return nil
	}
	return params
}

func unescapeQuery(s string) string {
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// isText reports whether API Gateway passes a body of this content type as text. HTTP APIs
// base64-encode every other body, including one with no content type and form posts: a
// client that forgets its Content-Type header gets a base64 body in production too, and the
// handler must cope with that here just as there.
func isText(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript":
		return true
	}
	return strings.HasPrefix(mt, "text/")
}

func sourceIP(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return r.RemoteAddr
}

func hostOnly(hostport string) string {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return host
	}
	return hostport
}

// domainPrefix is the first label of the domain name, as in API Gateway's
// "<api-id>.execute-api...". An address has no labels to speak of, so it is its own prefix.
func domainPrefix(domain string) string {
	if _, err := netip.ParseAddr(domain); err == nil {
		return domain
	}
	prefix, _, _ := strings.Cut(domain, ".")
	return prefix
}

func forwardedProtoPort(r *http.Request) (proto, port string) {
	proto, port = "http", "80"
	if r.TLS != nil {
		proto, port = "https", "443"
	}
	if _, p, err := net.SplitHostPort(r.Host); err == nil && p != "" {
		port = p
	}
	return proto, port
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}

// write sends resp as API Gateway sends a function's response: headers, then each
// multi-value header and each cookie as a header line of its own, then the body, decoded
// from base64 when the function says it is encoded. A response API Gateway could not use
// becomes the 502 API Gateway would answer instead. It returns the status and body size sent.
func (g *Gateway) write(w http.ResponseWriter, r *http.Request, id string, resp events.APIGatewayV2HTTPResponse) (status, n int) {
	body, err := responseBody(resp)
	if err != nil {
		g.log.Error("function returned a response API Gateway cannot send; answering 502",
			"request_id", id, "error", err.Error())
		resp = api.GatewayError(http.StatusBadGateway, nil, id)
		body = []byte(resp.Body)
	}
	h := w.Header()
	// API Gateway sends only the content type the function names; net/http would sniff one.
	h["Content-Type"] = nil
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		h.Del(k)
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	if r.Method != http.MethodOptions {
		g.corsConfig().response(h, r)
	}
	h.Set("Apigw-Requestid", id)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	if r.Method != http.MethodHead {
		if _, err := w.Write(body); err != nil {
			g.log.Warn("write response", "request_id", id, "error", err.Error())
		}
	}
	return resp.StatusCode, len(body)
}

func responseBody(resp events.APIGatewayV2HTTPResponse) ([]byte, error) {
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return nil, fmt.Errorf("status code %d", resp.StatusCode)
	}
	if !resp.IsBase64Encoded {
		return []byte(resp.Body), nil
	}
	body, err := base64.StdEncoding.DecodeString(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("isBase64Encoded with a body that is not base64: %w", err)
	}
	return body, nil
}

// newRequestID makes an id shaped like API Gateway's (16 base64 characters). Eighty random
// bits keep ids unique across restarts of the server, which a counter would not.
func newRequestID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newTraceID is an X-Ray trace header as API Gateway adds one: the epoch seconds in hex and
// 96 random bits.
func newTraceID(t time.Time) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%x", t.Unix(), b)
}
