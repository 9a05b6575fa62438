// Package api holds the API Gateway (HTTP API, payload v2) handlers: request parsing,
// validation through the domain, responses, and the one mapping from errors to statuses.
// The Lambdas and the local gateway call the same constructors.
package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// Handler serves one route. It never returns an error: API Gateway would turn it into a
// 502 with no body, so every failure becomes a response with the error shape.
type Handler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Deps are what handlers need, passed in explicitly.
type Deps struct {
	Events telemetry.EventStore
	Log    *slog.Logger
	Now    func() time.Time
}

// Route is one route of the public API and the function that serves it.
type Route struct {
	Method   string
	Path     string // without the /latest prefix
	Function string // folder under functions/ and the stem of its SAM logical id
	New      func(Deps) Handler
}

// LatestPrefix is the prefix KernelCI clients put before every path ({base}/latest/...).
const LatestPrefix = "/latest"

// Routes is the API. Every route is served at Path and at LatestPrefix+Path.
var Routes = []Route{
	{Method: "POST", Path: "/telemetry", Function: "ingest", New: NewIngest},
	{Method: "GET", Path: "/telemetry", Function: "query", New: NewQuery},
	{Method: "GET", Path: "/telemetry/stats", Function: "stats", New: NewStats},
	{Method: "GET", Path: "/telemetry/anomalies", Function: "anomalies", New: NewAnomalies},
}
