package devgateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/app"
	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/emitter"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/store"
)

// authGateway is every route of routes.All behind the real authorizer function, on
// DynamoDB Local, with a clock the test moves.
type authGateway struct {
	g      *Gateway
	tokens *store.Tokens
	now    time.Time
	calls  atomic.Int32 // authorizer invocations
}

func newAuthGateway(t *testing.T, publicReads bool) *authGateway {
	t.Helper()
	tables := dynamotest.NewTables(t)
	deps, err := app.NewDeps(t.Context(), config.Config{
		EventsTable: tables.Events, TokensTable: tables.Tokens, DynamoEndpoint: dynamotest.Endpoint(t),
		EventShards: 2, RuntimeShards: 2, KindShards: 2, Retention: 24 * time.Hour, WriteConcurrency: 2,
		CursorSecret: "k", PublicReads: publicReads,
	}, app.NewLogger(discard{}, "error"))
	if err != nil {
		t.Fatal(err)
	}
	ag := &authGateway{tokens: deps.Tokens.(*store.Tokens), now: time.Now().UTC()}
	deps.Now = func() time.Time { return ag.now }
	if ag.g, err = New(routes.All, deps, deps.Log); err != nil {
		t.Fatal(err)
	}
	h := api.NewAuthorizer(deps)
	counted := func(ctx context.Context, req events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
		ag.calls.Add(1)
		return h(ctx, req)
	}
	ag.g.UseAuthorizer(NewAuthorizer(counted, api.AuthorizerCacheTTL, publicReads, func() time.Time { return ag.now }))
	return ag
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// token creates a token with scopes, expiring after lifetime (0: never), and returns it.
func (ag *authGateway) token(t *testing.T, name string, lifetime time.Duration, scopes ...auth.Scope) string {
	t.Helper()
	tok := auth.NewToken()
	tk := auth.Token{Name: name, Hash: auth.Hash(tok), Scopes: scopes, Created: ag.now}
	if lifetime > 0 {
		tk.Expires = ag.now.Add(lifetime)
	}
	if err := ag.tokens.Create(t.Context(), tk); err != nil {
		t.Fatal(err)
	}
	return tok
}

const oneEvent = `[{"kind":"job_result","runtime":"lava-collabora","result":"pass"}]`

// onePipelineRun is a pipeline run document for POST /pipelines; %d is its pipeline_id,
// new for every request (pipelineIDs) so that none is answered 208 as a resend.
const onePipelineRun = `{"project":"test/project","pipeline_id":%d,"ref":"main","created_at":"2026-11-30T10:00:00Z","duration":9}`

var pipelineIDs atomic.Int64

// do sends method path with the Authorization header (none when empty).
func (ag *authGateway) do(method, path, authorization string) *httptest.ResponseRecorder {
	var body *strings.Reader
	switch {
	case method == "POST" && (strings.HasSuffix(path, "/pipelines") || strings.HasSuffix(path, "/save_metrics")):
		body = strings.NewReader(fmt.Sprintf(onePipelineRun, pipelineIDs.Add(1)))
	case method == "POST":
		body = strings.NewReader(oneEvent)
	default:
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, path, body)
	r.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return serve(ag.g, r)
}

// routePath is a path and query each route answers 200 to.
func routePath(r api.Route, prefix string) string {
	if r.Path == "/telemetry/stats" {
		return prefix + r.Path + "?group_by=runtime"
	}
	return prefix + r.Path
}

func TestEveryRouteThroughTheAuthorizer(t *testing.T) {
	ag := newAuthGateway(t, false)
	byScope := map[auth.Scope]string{}
	for _, s := range auth.AllScopes {
		byScope[s] = ag.token(t, "only-"+string(s), 0, s)
	}
	for _, r := range routes.All {
		if r.Public {
			continue // served without the authorizer: TestPublicRoutesNeedNoToken
		}
		need := api.RequiredScope(r.Method)
		wrong := byScope[auth.ScopeAdmin]
		for _, prefix := range []string{"", api.LatestPrefix} {
			path := routePath(r, prefix)
			cases := []struct {
				name, header string
				status       int
			}{
				{"no token", "", 401},
				{"not bearer", "Basic dXNlcjpwYXNz", 401},
				{"unknown token", "Bearer " + auth.NewToken(), 401},
				{"wrong scope", "Bearer " + wrong, 403},
				{"right scope", "Bearer " + byScope[need], 0}, // 0: the route's own answer
			}
			for _, c := range cases {
				w := ag.do(r.Method, path, c.header)
				if c.status == 0 && (w.Code == 401 || w.Code == 403) || c.status != 0 && w.Code != c.status {
					t.Errorf("%s %s, %s: %d %s; want %d", r.Method, path, c.name, w.Code, w.Body, c.status)
				}
				if c.status == 403 && !strings.Contains(w.Body.String(), "scope "+string(need)) {
					t.Errorf("%s %s, %s: 403 %s does not name the scope %s", r.Method, path, c.name, w.Body, need)
				}
				if c.status == 401 && (w.Header().Get("WWW-Authenticate") == "" || !strings.Contains(w.Body.String(), `"request_id"`)) {
					t.Errorf("%s %s, %s: 401 without the challenge or the error shape: %v %s", r.Method, path, c.name, w.Header(), w.Body)
				}
			}
		}
	}
}

// TestDoubledAuthorizationHeaderIsNamed: a client that sends its Authorization header
// twice (a proxy adding the token a client already sent) gets a 401 that says so, even
// when both carry the same good token, since API Gateway hands the authorizer one value,
// the two joined by a comma.
func TestDoubledAuthorizationHeaderIsNamed(t *testing.T) {
	ag := newAuthGateway(t, false)
	tok := "Bearer " + ag.token(t, "lab", 0, auth.ScopeRead)
	r := httptest.NewRequest("GET", "/telemetry", nil)
	r.Header.Add("Authorization", tok)
	r.Header.Add("Authorization", tok)
	w := serve(ag.g, r)
	if w.Code != 401 || !strings.Contains(w.Body.String(), "sent more than once") {
		t.Errorf("doubled header: %d %s; want 401 saying it was sent more than once", w.Code, w.Body)
	}
}

// TestPublicRoutesNeedNoToken: the pages a browser opens (api.Route.Public) answer without
// a token, as their template events have no authorizer.
func TestPublicRoutesNeedNoToken(t *testing.T) {
	ag := newAuthGateway(t, false)
	for _, r := range routes.All {
		if !r.Public {
			continue
		}
		for _, path := range r.Paths() {
			if w := ag.do(r.Method, path, ""); w.Code == 401 || w.Code == 403 {
				t.Errorf("%s %s without a token: %d %s; a public route needs none", r.Method, path, w.Code, w.Body)
			}
		}
	}
	if n := ag.calls.Load(); n != 0 {
		t.Errorf("authorizer called %d times for public routes, want never", n)
	}
}

// TestWarmCacheNeverWidensAToken: API Gateway's cached "yes" for a read token on GET
// covers the POST too, and the route still refuses it.
func TestWarmCacheNeverWidensAToken(t *testing.T) {
	ag := newAuthGateway(t, false)
	read := "Bearer " + ag.token(t, "reader", 0, auth.ScopeRead)
	if w := ag.do("GET", "/telemetry", read); w.Code != 200 {
		t.Fatalf("GET with a read token: %d %s", w.Code, w.Body)
	}
	w := ag.do("POST", "/telemetry", read)
	if w.Code != 403 || !strings.Contains(w.Body.String(), "scope ingest") {
		t.Fatalf("POST with the cached read token: %d %s, want 403 naming ingest", w.Code, w.Body)
	}
	if n := ag.calls.Load(); n != 1 {
		t.Fatalf("authorizer called %d times, want once: the POST must have been answered from the cache", n)
	}
}

// TestRevokedAndExpiredAreRefusedOnceTheCacheEntryIsGone: within the TTL the cached
// answer stands, as in a deployment; after it the token is refused.
func TestRevokedAndExpiredAreRefusedOnceTheCacheEntryIsGone(t *testing.T) {
	ag := newAuthGateway(t, false)
	start := ag.now
	revoked := "Bearer " + ag.token(t, "to-revoke", 0, auth.ScopeRead)
	expiring := "Bearer " + ag.token(t, "short", time.Minute, auth.ScopeRead)
	for _, h := range []string{revoked, expiring} {
		if w := ag.do("GET", "/telemetry", h); w.Code != 200 {
			t.Fatalf("fresh token: %d %s", w.Code, w.Body)
		}
	}
	if err := ag.tokens.Revoke(t.Context(), "to-revoke"); err != nil {
		t.Fatal(err)
	}
	ag.now = start.Add(api.AuthorizerCacheTTL - time.Second)
	for _, h := range []string{revoked, expiring} {
		if w := ag.do("GET", "/telemetry", h); w.Code != 200 {
			t.Fatalf("within the cache TTL: %d %s, want the cached answer (200)", w.Code, w.Body)
		}
	}
	ag.now = start.Add(api.AuthorizerCacheTTL)
	for name, h := range map[string]string{"revoked": revoked, "expired": expiring} {
		w := ag.do("GET", "/telemetry", h)
		if w.Code != 401 || !strings.Contains(w.Body.String(), "unknown, expired or revoked") {
			t.Errorf("%s token after the cache TTL: %d %s, want 401", name, w.Code, w.Body)
		}
	}
}

func TestPublicReadsSkipTheAuthorizerOnGETsOnly(t *testing.T) {
	ag := newAuthGateway(t, true)
	if w := ag.do("GET", "/telemetry", ""); w.Code != 200 {
		t.Errorf("GET without a token, public reads on: %d %s", w.Code, w.Body)
	}
	if w := ag.do("POST", "/telemetry", ""); w.Code != 401 {
		t.Errorf("POST without a token, public reads on: %d %s", w.Code, w.Body)
	}
	if n := ag.calls.Load(); n != 0 {
		t.Errorf("authorizer called %d times", n)
	}
}

func TestAuthorizerFailureIs500AndNotCached(t *testing.T) {
	var calls int
	fail := true
	h := func(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
		calls++
		if fail {
			panic("table gone")
		}
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}, nil
	}
	g, get := newGatewayWithAuthorizer(t, NewAuthorizer(h, time.Hour, false, func() time.Time { return fixedTime }))
	r := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/telemetry", nil)
		req.Header.Set("Authorization", "Bearer x")
		return serve(g, req)
	}
	if w := r(); w.Code != http.StatusInternalServerError {
		t.Fatalf("failing authorizer: %d %s, want 500", w.Code, w.Body)
	}
	fail = false
	if w := r(); w.Code != http.StatusForbidden || calls != 2 {
		t.Fatalf("after a failure: %d after %d calls, want a fresh call answering 403", w.Code, calls)
	}
	if w := r(); w.Code != http.StatusForbidden || calls != 2 {
		t.Fatalf("a cached refusal: %d after %d calls, want 403 from the cache", w.Code, calls)
	}
	if len(get.events) != 0 {
		t.Fatalf("the route ran %d times behind a refusing authorizer", len(get.events))
	}
}

func newGatewayWithAuthorizer(t *testing.T, a *Authorizer) (*Gateway, *recorder) {
	g, _, get, _ := newGateway(t)
	g.UseAuthorizer(a)
	return g, get
}

// TestKernelCIClientWithAnIngestAndReadToken: KernelCI's clients send "Authorization:
// Bearer <token>" on their POSTs to {base}/latest/telemetry and on their GETs; one token
// with ingest and read does both.
func TestKernelCIClientWithAnIngestAndReadToken(t *testing.T) {
	ag := newAuthGateway(t, false)
	tok := ag.token(t, "lab-collabora", 90*24*time.Hour, auth.ScopeIngest, auth.ScopeRead)
	srv := httptest.NewServer(ag.g)
	defer srv.Close()
	c := &emitter.Client{URL: srv.URL + "/latest/telemetry", HTTP: srv.Client(), Token: tok}
	res, err := c.Post(t.Context(), emitter.Batch{Events: 1, Body: []byte(oneEvent)})
	if err != nil || res.Inserted != 1 {
		t.Fatalf("POST as KernelCI: %+v, %v", res, err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/latest/telemetry/stats?group_by=runtime", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET stats as KernelCI: %d", resp.StatusCode)
	}
	c.Token = ""
	if _, err := c.Post(t.Context(), emitter.Batch{Events: 1, Body: []byte(oneEvent)}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("POST without the token: %v, want a 401", err)
	}
}

// TestPrivateRoutesKeepTheAuthorizerUnderPublicReads: GET /metrics needs a token even
// when public reads open every other GET, at every path it is served at.
func TestPrivateRoutesKeepTheAuthorizerUnderPublicReads(t *testing.T) {
	ag := newAuthGateway(t, true)
	read := ag.token(t, "reader", 0, auth.ScopeRead)
	for _, path := range []string{"/metrics", "/latest/metrics", "/v0/metrics"} {
		if w := ag.do("GET", path, ""); w.Code != 401 {
			t.Errorf("GET %s without a token, public reads on: %d %s, want 401", path, w.Code, w.Body)
		}
		// This gateway has no summary table: past the authorizer, the route answers 503.
		if w := ag.do("GET", path, "Bearer "+read); w.Code == 401 || w.Code == 403 {
			t.Errorf("GET %s with a read token, public reads on: %d %s", path, w.Code, w.Body)
		}
	}
}
