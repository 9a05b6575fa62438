// Package api holds the API Gateway (HTTP API, payload v2) handlers of the event routes
// (ingest and query) and what every route shares: request parsing, the error shape, and
// the one mapping from errors to statuses. The Lambdas and the local gateway call the same
// constructors. The aggregating routes live in package reports, so that the functions
// serving only events do not link their dependencies.
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
	// PipelineRuntime is the runtime of pipeline runs whose request names none; empty
	// means telemetry.DefaultPipelineRuntime.
	PipelineRuntime string
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

// LatestPath is path under LatestPrefix: "/latest/telemetry" for "/telemetry", and
// "/latest" for the root, because API Gateway refuses a route path ending in a slash.
func LatestPath(path string) string {
	if path == "/" {
		return LatestPrefix
	}
	return LatestPrefix + path
}
