package pipetel_test

// These tests hold template.yaml's authentication to the code: every route behind the
// token authorizer (GETs open only under PublicReads), the authorizer configured as
// api.NewAuthorizer and the local gateway assume, the tokens table as the store defines
// it, and only the authorizer reading it.

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/store"
)

const (
	authorizerID      = "AuthorizerFunction"
	tokensTableID     = "TokensTable"
	publicReadsParam  = "PublicReads"
	languageExtension = "AWS::LanguageExtensions"
)

// apiAuthorizer returns the name of the HttpApi's default authorizer and its definition.
func (tp tmpl) apiAuthorizer(t *testing.T) (string, *yaml.Node) {
	t.Helper()
	ids := tp.ids(typeHTTPAPI)
	if len(ids) != 1 {
		t.Fatalf("want one %s, have %v", typeHTTPAPI, ids)
	}
	a := lookup(tp.resource(ids[0]), "Properties", "Auth")
	name := scalar(lookup(a, "DefaultAuthorizer"))
	def := lookup(a, "Authorizers", name)
	if name == "" || def == nil {
		t.Fatalf("%s has no Auth.DefaultAuthorizer naming one of its Auth.Authorizers: a route added without Auth would be open", ids[0])
	}
	return name, def
}

func TestTemplateAuthorizer(t *testing.T) {
	tp := loadTemplate(t)
	_, def := tp.apiAuthorizer(t)
	if arn := lookup(def, "FunctionArn"); intrinsic(arn) != "Fn::GetAtt" || canonicalResource(arn) != "${"+authorizerID+".Arn}" {
		t.Errorf("authorizer FunctionArn is %s; want !GetAtt %s.Arn", describe(arn), authorizerID)
	}
	checks := []struct{ key, want, why string }{
		{"AuthorizerPayloadFormatVersion", "2.0", "api.AuthorizerHandler takes payload format 2.0"},
		{"EnableSimpleResponses", "true", "api.NewAuthorizer answers {isAuthorized, context}"},
		{"EnableFunctionDefaultPermissions", "true", "without it API Gateway may not invoke the authorizer"},
	}
	for _, c := range checks {
		if got := scalar(lookup(def, c.key)); got != c.want {
			t.Errorf("authorizer %s is %q, want %q: %s", c.key, got, c.want, c.why)
		}
	}
	if got := strs(lookup(def, "Identity", "Headers")); !slices.Equal(got, []string{"Authorization"}) {
		t.Errorf("authorizer Identity.Headers %q; want [Authorization], the bearer token and nothing else, which the cache is keyed by", got)
	}
	want := strconv.Itoa(int(api.AuthorizerCacheTTL.Seconds()))
	if got := scalar(lookup(def, "Identity", "ReauthorizeEvery")); got != want {
		t.Errorf("authorizer ReauthorizeEvery %q; want %s s, api.AuthorizerCacheTTL, which the local gateway and the README use", got, want)
	}
	if env := tp.environment(authorizerID); refTarget(env[config.EnvTokensTable]) != tokensTableID {
		t.Errorf("%s: %s is not !Ref %s", authorizerID, config.EnvTokensTable, tokensTableID)
	}
	if timeout, err := strconv.Atoi(scalar(tp.functionProp(authorizerID, "Timeout"))); err != nil || timeout > 10 {
		t.Errorf("%s: Timeout %q; API Gateway gives an authorizer at most 10 s", authorizerID, scalar(tp.functionProp(authorizerID, "Timeout")))
	}
}

// TestTemplateEveryRouteIsAuthorized: a POST (any route needing a scope other than read)
// always has the authorizer; a GET has it unless PublicReads is "true", and in no other
// way may a route be open.
func TestTemplateEveryRouteIsAuthorized(t *testing.T) {
	tp := loadTemplate(t)
	name, _ := tp.apiAuthorizer(t)
	cond := tp.publicReadsCondition(t)
	public, private := map[endpoint]bool{}, map[endpoint]bool{}
	for _, r := range routes.All {
		for _, p := range r.Paths() {
			public[endpoint{r.Method, p}] = r.Public
			private[endpoint{r.Method, p}] = r.Private
		}
	}
	for _, ev := range tp.httpEvents() {
		evAuth := lookup(tp.resource(ev.function), "Properties", "Events", ev.name, "Properties", "Auth")
		a := lookup(evAuth, "Authorizer")
		if lookup(evAuth, "AuthorizationScopes") != nil {
			t.Errorf("%s event %s: AuthorizationScopes apply to JWT authorizers only; scopes are checked by the routes", ev.function, ev.name)
		}
		if public[ev.endpoint] != (scalar(a) == "NONE") {
			t.Errorf("%s (%s): Auth.Authorizer is %s; a route is open (NONE) exactly when routes.All marks it Public",
				ev.endpoint, ev.function, describe(a))
			continue
		}
		if public[ev.endpoint] {
			continue
		}
		if private[ev.endpoint] {
			if scalar(a) != name {
				t.Errorf("%s (%s): Auth.Authorizer is %s; a Private route always needs %s, PublicReads or not", ev.endpoint, ev.function, describe(a), name)
			}
			continue
		}
		if api.RequiredScope(ev.method) != auth.ScopeRead {
			if a != nil && scalar(a) != name {
				t.Errorf("%s (%s): Auth.Authorizer is %s; a %s route always needs %s", ev.endpoint, ev.function, describe(a), ev.method, name)
			}
			continue
		}
		if !isPublicReadSwitch(a, cond, name) {
			t.Errorf("%s (%s): Auth.Authorizer is %s; want !If [%s, NONE, %s], so the route is open only when %s is \"true\"",
				ev.endpoint, ev.function, describe(a), cond, name, publicReadsParam)
		}
	}
}

// isPublicReadSwitch reports whether n is !If [cond, NONE, name].
func isPublicReadSwitch(n *yaml.Node, cond, name string) bool {
	if intrinsic(n) != "Fn::If" {
		return false
	}
	args := intrinsicArg(n)
	return args.Kind == yaml.SequenceNode && len(args.Content) == 3 && scalar(args.Content[0]) == cond &&
		scalar(args.Content[1]) == "NONE" && scalar(args.Content[2]) == name
}

// publicReadsCondition is the condition that is true when PublicReads is "true", whose
// default must be "false"; the !If in events needs AWS::LanguageExtensions to resolve.
func (tp tmpl) publicReadsCondition(t *testing.T) string {
	t.Helper()
	p := lookup(tp.root, "Parameters", publicReadsParam)
	if got := scalar(lookup(p, "Default")); got != "false" {
		t.Errorf("parameter %s defaults to %q; want \"false\": reads need a token unless an operator opens them", publicReadsParam, got)
	}
	if !slices.Contains(strs(lookup(tp.root, "Transform")), languageExtension) {
		t.Errorf("Transform lacks %s, without which SAM cannot resolve !If in an event's Auth", languageExtension)
	}
	for name, c := range pairs(lookup(tp.root, "Conditions")) {
		if intrinsic(c) != "Fn::Equals" {
			continue
		}
		args := intrinsicArg(c)
		if len(args.Content) == 2 && refTarget(args.Content[0]) == publicReadsParam && scalar(args.Content[1]) == "true" {
			return name
		}
	}
	t.Fatalf("no condition !Equals [!Ref %s, \"true\"]", publicReadsParam)
	return ""
}

func TestTemplatePublicReadsReachTheRoutes(t *testing.T) {
	tp := loadTemplate(t)
	for _, ev := range tp.httpEvents() {
		if v := tp.environment(ev.function)[config.EnvPublicReads]; refTarget(v) != publicReadsParam {
			t.Errorf("function %s: %s is %s; want !Ref %s, so the route's own check matches the gateway", ev.function, config.EnvPublicReads, describe(v), publicReadsParam)
		}
	}
}

// TestTemplateTokensTable: as the store creates it, without TTL: an expired token would
// vanish from `pipetel token list` instead of showing as expired.
func TestTemplateTokensTable(t *testing.T) {
	checkTable(t, loadTemplate(t), tokensTableID, store.TokensTableInput("tokens"), false)
}

// TestTemplateOnlyTheAuthorizerReadsTokens: the authorizer reads token items and records
// their use, and nothing else; no other function touches the tokens table.
func TestTemplateOnlyTheAuthorizerReadsTokens(t *testing.T) {
	tp := loadTemplate(t)
	tokens := "${" + tokensTableID + ".Arn}"
	events := "${" + eventsTableID + ".Arn}"
	for _, id := range tp.ids(typeFunction) {
		for _, st := range tp.statements(t, id) {
			onTokens := slices.ContainsFunc(st.resources, func(r string) bool { return strings.HasPrefix(r, tokens) || r == "*" })
			if id != authorizerID {
				if onTokens {
					t.Errorf("function %s statement %s reaches %s; only %s may", id, st.sid, tokensTableID, authorizerID)
				}
				continue
			}
			if slices.ContainsFunc(st.resources, func(r string) bool { return strings.HasPrefix(r, events) }) {
				t.Errorf("%s statement %s reaches %s; the authorizer reads tokens only", id, st.sid, eventsTableID)
			}
			for _, a := range st.actions {
				if a != "dynamodb:GetItem" && a != "dynamodb:UpdateItem" {
					t.Errorf("%s statement %s allows %s; it needs GetItem and UpdateItem (last used) only", id, st.sid, a)
				}
				if a == "dynamodb:UpdateItem" {
					if got := strs(lookup(st.condition, "ForAllValues:StringEquals", "dynamodb:Attributes")); !slices.Equal(got, []string{"pk", "last_used"}) {
						t.Errorf("%s statement %s: UpdateItem limited to attributes %q; want [pk last_used]", id, st.sid, got)
					}
				}
			}
		}
	}
	if !allows(tp.statements(t, authorizerID), "dynamodb:GetItem", tokens) {
		t.Errorf("%s may not GetItem on %s; it could not find tokens", authorizerID, tokensTableID)
	}
}
