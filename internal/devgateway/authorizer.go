package devgateway

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/auth"
)

// identityHeader is the authorizer's identity source, $request.header.Authorization in
// template.yaml, as payload format 2.0 names headers: lower-case.
const identityHeader = "authorization"

// Authorizer puts a Lambda authorizer in front of routes as an HTTP API does with a
// REQUEST authorizer of payload format 2.0 and simple responses:
//
//   - a request without the identity source is answered 401 without calling it;
//   - answers are cached per identity-source value for the TTL, for every route alike
//     (the cache does not know routes, which is why scopes are checked by the routes);
//   - a failed call is answered 500 and not cached; "isAuthorized": false is a 403;
//   - "isAuthorized": true passes the request on with the answer's context as
//     requestContext.authorizer.lambda.
//
// GET routes skip it when public reads are on, as template.yaml then attaches no
// authorizer to them.
type Authorizer struct {
	handler     api.AuthorizerHandler
	ttl         time.Duration
	publicReads bool
	now         func() time.Time

	mu    sync.Mutex
	cache map[[sha256.Size]byte]cachedAnswer // keyed by a hash, so no token sits in memory
}

type cachedAnswer struct {
	answer events.APIGatewayV2CustomAuthorizerSimpleResponse
	until  time.Time
}

// NewAuthorizer applies handler (the authorizer function's, api.NewAuthorizer) with a
// cache of ttl (0: no cache, as ReauthorizeEvery: 0), reading time from now.
func NewAuthorizer(handler api.AuthorizerHandler, ttl time.Duration, publicReads bool, now func() time.Time) *Authorizer {
	return &Authorizer{handler: handler, ttl: ttl, publicReads: publicReads, now: now,
		cache: map[[sha256.Size]byte]cachedAnswer{}}
}

// UseAuthorizer puts a in front of every route of g.
func (g *Gateway) UseAuthorizer(a *Authorizer) { g.authorizer = a }

// apply runs the authorizer for event. It returns the gateway's own answer and true when
// the request stops here, or fills event's authorizer context and returns false. A private
// route has it whatever public reads say.
func (a *Authorizer) apply(ctx context.Context, event *events.APIGatewayV2HTTPRequest, private bool) (events.APIGatewayV2HTTPResponse, bool) {
	if a == nil || (!private && a.publicReads && api.RequiredScope(event.RequestContext.HTTP.Method) == auth.ScopeRead) {
		return events.APIGatewayV2HTTPResponse{}, false
	}
	id := event.RequestContext.RequestID
	identity := event.Headers[identityHeader]
	if strings.TrimSpace(identity) == "" {
		return api.GatewayAuthError(http.StatusUnauthorized, id), true
	}
	key := sha256.Sum256([]byte(identity))
	now := a.now()
	a.mu.Lock()
	hit, ok := a.cache[key]
	a.mu.Unlock()
	if !ok || !now.Before(hit.until) {
		answer, err := a.call(ctx, event, identity)
		if err != nil {
			return api.GatewayAuthError(http.StatusInternalServerError, id), true
		}
		hit = cachedAnswer{answer: answer, until: now.Add(a.ttl)}
		if a.ttl > 0 {
			a.mu.Lock()
			a.cache[key] = hit
			a.mu.Unlock()
		}
	}
	if !hit.answer.IsAuthorized {
		return api.GatewayAuthError(http.StatusForbidden, id), true
	}
	event.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: hit.answer.Context}
	return events.APIGatewayV2HTTPResponse{}, false
}

// call invokes the authorizer with the event API Gateway sends it, as a Lambda
// invocation; a panic is a failed invocation.
func (a *Authorizer) call(ctx context.Context, event *events.APIGatewayV2HTTPRequest, identity string) (resp events.APIGatewayV2CustomAuthorizerSimpleResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("authorizer panicked: %v", p)
		}
	}()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       newUUID(),
		InvokedFunctionArn: "arn:aws:lambda:local:" + localAccountID + ":function:authorizer",
	})
	return a.handler(ctx, AuthorizerRequest(*event, identity))
}

// AuthorizerRequest is the event an HTTP API sends its REQUEST authorizer (payload
// format 2.0) for the route request event, whose identity source holds identity.
func AuthorizerRequest(event events.APIGatewayV2HTTPRequest, identity string) events.APIGatewayV2CustomAuthorizerV2Request {
	rc := event.RequestContext
	return events.APIGatewayV2CustomAuthorizerV2Request{
		Version:               "2.0",
		Type:                  "REQUEST",
		RouteArn:              "arn:aws:execute-api:local:" + localAccountID + ":" + rc.APIID + "/" + rc.Stage + "/" + strings.Replace(rc.RouteKey, " ", "", 1),
		IdentitySource:        []string{identity},
		RouteKey:              rc.RouteKey,
		RawPath:               event.RawPath,
		RawQueryString:        event.RawQueryString,
		Cookies:               event.Cookies,
		Headers:               event.Headers,
		QueryStringParameters: event.QueryStringParameters,
		RequestContext:        rc,
	}
}
