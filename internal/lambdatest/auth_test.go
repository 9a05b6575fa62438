package lambdatest

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/store"
)

// checkTokens runs the built authorizer as API Gateway would, on tokens in a fresh tokens
// table, and hands each route function its answers in the requests' context, as API
// Gateway does: no token (no authorizer context; a deployment's gateway answers that
// itself), an unknown token, a token without the route's scope, one with it.
func checkTokens(t *testing.T, root, endpoint string, built func(*testing.T, string) string) {
	tables := dynamotest.NewTables(t)
	tokens := store.NewTokens(dynamotest.Client(t), tables.Tokens)
	headers := []string{"Bearer " + auth.NewToken()} // unknown
	for _, s := range auth.AllScopes {
		tok := auth.NewToken()
		if err := tokens.Create(t.Context(), auth.Token{Name: "only-" + string(s), Hash: auth.Hash(tok), Scopes: []auth.Scope{s}}); err != nil {
			t.Fatal(err)
		}
		headers = append(headers, "Bearer "+tok)
	}
	sample := readFile(t, filepath.Join(root, "events", "authorizer.json"))
	var evs [][]byte
	for _, h := range headers {
		var req events.APIGatewayV2CustomAuthorizerV2Request
		if err := json.Unmarshal(sample, &req); err != nil {
			t.Fatal(err)
		}
		req.IdentitySource, req.Headers["authorization"] = []string{h}, h
		evs = append(evs, mustJSON(t, req))
	}
	res, err := Run(t.Context(), Options{Bootstrap: built(t, "authorizer"), Env: map[string]string{
		config.EnvEventsTable: tables.Events, config.EnvTokensTable: tables.Tokens, config.EnvDynamoEndpoint: endpoint,
	}}, evs...)
	if err != nil {
		t.Fatalf("authorizer: %v", err)
	}
	if strings.Contains(res.Output, strings.TrimPrefix(headers[1], "Bearer ")) {
		t.Errorf("the authorizer's log holds a token")
	}
	contexts := map[string]map[string]any{} // "unknown", or the token's one scope
	for i, r := range res.Responses {
		var answer events.APIGatewayV2CustomAuthorizerSimpleResponse
		if err := json.Unmarshal(r.Payload, &answer); err != nil || !answer.IsAuthorized {
			t.Fatalf("authorizer answer %d: %s (%v); want isAuthorized with the decision in the context", i, r.Payload, err)
		}
		key := "unknown"
		if i > 0 {
			key = string(auth.AllScopes[i-1])
		}
		contexts[key] = answer.Context
	}

	for _, r := range routes.All {
		if r.Public {
			continue // no scope asked: the pages a browser opens without a token
		}
		need := api.RequiredScope(r.Method)
		wrong := auth.ScopeAdmin
		var sample events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(readFile(t, filepath.Join(root, "events", r.Function+".json")), &sample); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name   string
			ctx    map[string]any
			status int
		}{
			{"no token", nil, 401},
			{"unknown token", contexts["unknown"], 401},
			{"token without " + string(need), contexts[string(wrong)], 403},
			{"token with " + string(need), contexts[string(need)], 0}, // 0: the route's own answer (a repeated sample run may be 208)
		}
		var evs [][]byte
		for _, c := range cases {
			req := sample
			req.RequestContext.Authorizer = nil
			if c.ctx != nil {
				req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: c.ctx}
			}
			evs = append(evs, mustJSON(t, req))
		}
		res := invokeBootstrap(t, built(t, r.Function), endpoint, tables, evs...)
		for i, c := range cases {
			var resp events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(res.Responses[i].Payload, &resp); err != nil {
				t.Fatal(err)
			}
			refused := resp.StatusCode == 401 || resp.StatusCode == 403
			if c.status == 0 && refused || c.status != 0 && resp.StatusCode != c.status {
				t.Errorf("%s %s under the emulator, %s: %d %s; want %d", r.Method, r.Path, c.name, resp.StatusCode, resp.Body, c.status)
			}
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
