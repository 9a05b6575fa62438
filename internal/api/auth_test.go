package api_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/store"
)

// routeRequest is a request each route answers with 200 when the token may use it.
func routeRequest(t *testing.T, r api.Route) events.APIGatewayV2HTTPRequest {
	req := request(r.Method, "", "")
	req.RawPath = r.Path
	req.RequestContext.HTTP.Path = r.Path
	req.RequestContext.RouteKey = r.Method + " " + r.Path
	switch {
	case r.Method == "POST" && r.Function == "pipelines":
		req.Body = fmt.Sprintf(`{"project":"test/project","pipeline_id":%d,"ref":"main","created_at":"2026-11-30T10:00:00Z","duration":9}`, pipelineIDs.Add(1))
	case r.Method == "POST":
		req.Body = sampleBatch(t)
	case r.Path == "/telemetry/stats":
		req.RawQueryString = "group_by=runtime"
	}
	return req
}

// pipelineIDs numbers the pipeline runs routeRequest posts, so none is a resend (208).
var pipelineIDs atomic.Int64

// answer calls h and keeps the answer raw: stats answers a bare array.
func answer(t *testing.T, h api.Handler, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := h(t.Context(), req)
	if err != nil {
		t.Fatalf("handler returned an error (API Gateway would answer 502): %v", err)
	}
	return resp
}

// TestEveryRouteChecksItsScope: whatever handler serves a route, the authorizer's
// decision in the request decides first, and only a token with the route's scope gets
// the route's answer.
func TestEveryRouteChecksItsScope(t *testing.T) {
	a := newAPI(t, nil)
	for _, r := range routes.All {
		if r.Public {
			continue // no scope asked: the pages a browser opens without a token
		}
		h := r.New(a.deps)
		need := api.RequiredScope(r.Method)
		var other []auth.Scope
		for _, s := range auth.AllScopes {
			if s != need {
				other = append(other, s)
			}
		}
		cases := []struct {
			name     string
			decision *auth.Decision
			status   int
			mention  string
		}{
			{"no authorizer", nil, 401, "needs a token"},
			{"malformed", &auth.Decision{Outcome: auth.OutcomeMalformed}, 401, "Bearer"},
			{"repeated", &auth.Decision{Outcome: auth.OutcomeRepeated}, 401, "sent more than once"},
			{"refused", &auth.Decision{Outcome: auth.OutcomeRefused}, 401, "unknown, expired or revoked"},
			{"other scopes", &auth.Decision{Outcome: auth.OutcomeAllowed, Name: "x", Scopes: other}, 403, "scope " + string(need)},
			{"right scope", &auth.Decision{Outcome: auth.OutcomeAllowed, Name: "x", Scopes: []auth.Scope{need}}, 0, ""}, // 0: the route's own answer
		}
		for _, c := range cases {
			req := routeRequest(t, r)
			if c.decision == nil {
				req.RequestContext.Authorizer = nil
			} else {
				req = withDecision(req, *c.decision)
			}
			got := answer(t, h, req)
			refused := got.StatusCode == 401 || got.StatusCode == 403
			if c.status == 0 && refused || c.status != 0 && (got.StatusCode != c.status || !strings.Contains(got.Body, c.mention)) {
				t.Errorf("%s %s, %s: %d %s; want %d mentioning %q", r.Method, r.Path, c.name, got.StatusCode, got.Body, c.status, c.mention)
			}
			if c.status == 401 && got.Headers["WWW-Authenticate"] == "" {
				t.Errorf("%s %s, %s: 401 without WWW-Authenticate", r.Method, r.Path, c.name)
			}
			if c.status >= 400 && !strings.Contains(got.Body, `"request_id":"req-test-1"`) {
				t.Errorf("%s %s, %s: error without the request id: %s", r.Method, r.Path, c.name, got.Body)
			}
		}
	}
}

func TestPublicReadsOpenGETsOnly(t *testing.T) {
	a := newAPI(t, nil)
	a.deps.PublicReads = true
	for _, r := range routes.All {
		req := routeRequest(t, r)
		req.RequestContext.Authorizer = nil
		got := answer(t, r.New(a.deps), req)
		refused := got.StatusCode == 401 || got.StatusCode == 403
		// A private route (GET /metrics) keeps asking for a token.
		if want := r.Method != "GET" || r.Private; refused != want {
			want := "an answer that is not 401 or 403"
			if r.Method != "GET" || r.Private {
				want = "401"
			}
			t.Errorf("%s %s without a token, public reads on: %d %s; want %s", r.Method, r.Path, got.StatusCode, got.Body, want)
		}
	}
}

// TestAuthorizerDecidesOnTheTable runs the authorizer handler against the tokens table in
// DynamoDB Local, and checks that nothing it logs holds a token or a hash.
func TestAuthorizerDecidesOnTheTable(t *testing.T) {
	a := newAPI(t, nil)
	var logs bytes.Buffer
	a.deps.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	tokens := a.deps.Tokens.(*store.Tokens)
	good, revoked, unknown := auth.NewToken(), auth.NewToken(), auth.NewToken()
	for name, tok := range map[string]string{"lab-a": good, "lab-b": revoked} {
		err := tokens.Create(t.Context(), auth.Token{Name: name, Hash: auth.Hash(tok),
			Scopes: []auth.Scope{auth.ScopeIngest, auth.ScopeRead}, Created: testNow.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tokens.Revoke(t.Context(), "lab-b"); err != nil {
		t.Fatal(err)
	}
	authorize := api.NewAuthorizer(a.deps)
	cases := []struct {
		header string
		want   auth.Decision
	}{
		{"Bearer " + good, auth.Decision{Outcome: auth.OutcomeAllowed, Name: "lab-a", Scopes: []auth.Scope{auth.ScopeIngest, auth.ScopeRead}}},
		{"Bearer " + revoked, auth.Decision{Outcome: auth.OutcomeRefused}},
		{"Bearer " + unknown, auth.Decision{Outcome: auth.OutcomeRefused}},
		{"Token " + good, auth.Decision{Outcome: auth.OutcomeMalformed}},
	}
	for i, c := range cases {
		resp, err := authorize(t.Context(), events.APIGatewayV2CustomAuthorizerV2Request{
			Type: "REQUEST", RouteKey: "POST /telemetry", IdentitySource: []string{c.header},
			Headers: map[string]string{"authorization": c.header},
		})
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		got := auth.FromContext(resp.Context)
		if !resp.IsAuthorized || got.Outcome != c.want.Outcome || got.Name != c.want.Name ||
			auth.JoinScopes(got.Scopes, ",") != auth.JoinScopes(c.want.Scopes, ",") {
			t.Errorf("case %d: %+v, want authorized with %+v", i, resp, c.want)
		}
	}
	for _, secret := range []string{good, revoked, unknown, auth.Hash(good), auth.Hash(revoked), auth.Hash(unknown)} {
		if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), secret[:24]) {
			t.Fatalf("the authorizer logged a token or hash:\n%s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), `"token_name":"lab-a"`) {
		t.Errorf("the authorizer's log does not name the token it allowed:\n%s", logs.String())
	}
}
