package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// AuthorizerCacheTTL is how long API Gateway keeps an authorizer's answer for one
// Authorization header (ReauthorizeEvery in template.yaml, which a test holds to it; the
// local gateway caches as long). A revoked token keeps working until its entry expires.
const AuthorizerCacheTTL = 300 * time.Second

// AuthorizerHandler is the Lambda authorizer of the HTTP API: payload format 2.0, simple
// responses.
type AuthorizerHandler func(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error)

// NewAuthorizer is the authorizer function: it decides on the request's Authorization
// header (the identity source) and passes the decision on in its context.
//
// It lets every request with a header through to the route, refused tokens included,
// and the route's function (checkAccess) answers. Two facts of API Gateway make that the
// safe design. Its cache is keyed by the identity source alone and one cached "yes"
// covers every route, so the authorizer cannot decide per route: the token's scopes
// travel in the context and each route checks its own, so a warm cache never widens a
// token. And an authorizer's "no" becomes a bare 403 {"message":"Forbidden"}, while a
// refused token deserves the API's 401 in the API's error shape.
//
// A store failure is returned as an error, which API Gateway answers with a 500 and does
// not cache, rather than a refusal that would be cached for AuthorizerCacheTTL.
func NewAuthorizer(d Deps) AuthorizerHandler {
	a := auth.Authorizer{Tokens: d.Tokens, Now: d.Now}
	return func(ctx context.Context, req events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
		header := req.Headers["authorization"]
		if header == "" && len(req.IdentitySource) > 0 {
			header = req.IdentitySource[0]
		}
		start := time.Now()
		decision, err := a.Decide(ctx, header)
		log := d.Log.With("request_id", req.RequestContext.RequestID, "route", req.RouteKey)
		if err != nil {
			// Decide's errors name no token or hash; they come from the store.
			log.Error("authorizer: token lookup failed", "error", err.Error())
			return events.APIGatewayV2CustomAuthorizerSimpleResponse{}, fmt.Errorf("token lookup failed")
		}
		log.Info("authorizer", "outcome", string(decision.Outcome), "token_name", decision.Name,
			"ms", time.Since(start).Milliseconds())
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: decision.Context()}, nil
	}
}

// RequiredScope is the scope a request with method needs: read for GET and HEAD, which
// change nothing, ingest for every other method.
func RequiredScope(method string) auth.Scope {
	switch method {
	case http.MethodGet, http.MethodHead:
		return auth.ScopeRead
	}
	return auth.ScopeIngest
}

// checkAccess is the one place a route's scope is enforced, for every route, from the
// authorizer's decision API Gateway passes in the request context. A GET with public
// reads on needs nothing: the template leaves those routes without the authorizer. A
// request without a decision is refused: a route deployed without the authorizer fails
// closed.
func checkAccess(d Deps, req events.APIGatewayV2HTTPRequest) error {
	method := req.RequestContext.HTTP.Method
	scope := RequiredScope(method)
	if scope == auth.ScopeRead && d.PublicReads {
		return nil
	}
	var lambdaContext map[string]any
	if a := req.RequestContext.Authorizer; a != nil {
		lambdaContext = a.Lambda
	}
	decision := auth.FromContext(lambdaContext)
	switch decision.Outcome {
	case auth.OutcomeAllowed:
		if decision.Allows(scope) {
			return nil
		}
		route := req.RequestContext.RouteKey
		if route == "" {
			route = method + " " + req.RawPath
		}
		return &telemetry.Error{Code: telemetry.CodeForbidden, Message: fmt.Sprintf(
			"%s needs a token with the %s scope, and this one has %s; ask for a token with scope %s.",
			route, scope, describeScopes(decision.Scopes), scope)}
	case auth.OutcomeMalformed:
		return &telemetry.Error{Code: telemetry.CodeUnauthenticated,
			Message: "The Authorization header must be \"Bearer <token>\" with a pipetel token (ptl_...); send it so."}
	case auth.OutcomeRepeated:
		return &telemetry.Error{Code: telemetry.CodeUnauthenticated,
			Message: "The Authorization header was sent more than once (API Gateway joins repeated headers with commas); send it once, as \"Bearer <token>\"."}
	case auth.OutcomeRefused:
		return &telemetry.Error{Code: telemetry.CodeUnauthenticated,
			Message: "The bearer token is unknown, expired or revoked; ask the operator for a valid one."}
	}
	return errNoToken
}

var errNoToken = &telemetry.Error{Code: telemetry.CodeUnauthenticated,
	Message: "This route needs a token: send \"Authorization: Bearer <token>\"; the operator creates one with `pipetel token create`."}

func describeScopes(scopes []auth.Scope) string {
	if len(scopes) == 0 {
		return "no scope"
	}
	return "only " + auth.JoinScopes(scopes, " and ")
}

// setChallenge names the scheme a 401 wants, as RFC 6750 asks of bearer-token APIs.
func setChallenge(resp events.APIGatewayV2HTTPResponse) {
	resp.Headers["WWW-Authenticate"] = `Bearer realm="pipetel"`
}

// GatewayAuthError is what API Gateway answers itself when the authorizer stops a
// request before any function: 401 when the request lacks the identity source (no
// Authorization header), 403 when the authorizer said no (pipetel's never does), 500 when
// it failed. A deployment's gateway answers {"message":"Unauthorized"}, "Forbidden" and
// "Internal Server Error"; the local gateway uses this, in the API's error shape, so a
// client sees the same statuses.
func GatewayAuthError(status int, requestID string) events.APIGatewayV2HTTPResponse {
	switch status {
	case http.StatusUnauthorized:
		return errorResponse(errNoToken, requestID)
	case http.StatusForbidden:
		return JSON(status, errorBody{Detail: "The authorizer refused this request.", RequestID: requestID})
	}
	return JSON(http.StatusInternalServerError, errorBody{
		Detail:    "The authorizer could not check the token; try again, and quote the request id if it persists.",
		RequestID: requestID})
}
