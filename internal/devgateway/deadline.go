package devgateway

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// errTimedOut is a function that had not answered by its deadline, which Lambda would have
// stopped.
var errTimedOut = errors.New("function timed out")

// SetTimeouts gives each function (by its folder name under functions/, as in api.Route)
// the timeout it has when deployed, so that a request's context carries the deadline a
// Lambda invocation carries, and the store gives up and answers in time as it does there.
// A function without an entry runs without a deadline. Call it before serving.
func (g *Gateway) SetTimeouts(byFunction map[string]time.Duration) {
	g.timeouts = byFunction
}

// invokeWithin calls the route's handler with its function's deadline counted from when the
// request was received; ctx must not end before that deadline. A handler still running at the deadline is left to wind down on
// its cancelled context, and the request is answered errTimedOut, as Lambda stops a
// function there and API Gateway answers for it.
func (g *Gateway) invokeWithin(ctx context.Context, rt route, event events.APIGatewayV2HTTPRequest, received time.Time) (events.APIGatewayV2HTTPResponse, error) {
	timeout, ok := g.timeouts[rt.function]
	if !ok {
		return g.invoke(ctx, rt, event)
	}
	ctx, cancel := context.WithDeadline(ctx, received.Add(timeout))
	defer cancel()
	type result struct {
		resp events.APIGatewayV2HTTPResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := g.invoke(ctx, rt, event)
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		return r.resp, r.err
	case <-ctx.Done(): // only the deadline ends ctx: the caller's going away does not
		select {
		case r := <-done: // it answered just in time
			return r.resp, r.err
		default:
		}
		return events.APIGatewayV2HTTPResponse{}, errTimedOut
	}
}
