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

	"github.com/pipetel/pipetel/internal/auth"
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
	// Tokens is the tokens table, for the authorizer; the routes never read it.
	Tokens auth.TokenStore
	// PublicReads opens every GET route to requests without a token (see checkAccess).
	PublicReads bool
	// Summary, when set, is the summary table: stats and anomalies read rollups from it,
	// and the rollup job writes them. Nil: everything is computed from raw events.
	Summary telemetry.RollupStore
	// Retention is the raw events' retention; stats for a window starting earlier are
	// answered from rollups.
	Retention time.Duration
	// RollupAnomalyWindows and RollupAnomalyThreshold are the anomaly evaluations of the
	// rollup's summary (config.Config's); empty windows mean 6 h and 24 h at 0.5.
	RollupAnomalyWindows   []time.Duration
	RollupAnomalyThreshold float64
	// Alerts, when set, receives an alert for every anomaly the rollup opens or resolves.
	Alerts telemetry.AlertPublisher
}

// Route is one route of the public API and the function that serves it.
type Route struct {
	Method   string
	Path     string // without the /latest or /v0 prefix
	Function string // folder under functions/ and the stem of its SAM logical id
	New      func(Deps) Handler
	// Public routes are served without the authorizer whatever PublicReads says: pages
	// that carry no data (the dashboard, the API reference), which a browser opens without
	// a bearer token; the page then calls the data routes with the token it is given.
	Public bool
	// Private routes keep the authorizer even when PublicReads opens the other GET routes:
	// operators' figures (/metrics), which are not the public's.
	Private bool
}

// LatestPrefix is the prefix KernelCI clients put before every path ({base}/latest/...).
const LatestPrefix = "/latest"

// V0Prefix is the other prefix kernelci-api serves every route under.
const V0Prefix = "/v0"

// Paths is every path a route is served at: as is, and under each prefix. The root is
// "/latest" and "/v0" under them, because API Gateway refuses a route path ending in a slash.
func (r Route) Paths() []string {
	return []string{r.Path, prefixed(LatestPrefix, r.Path), prefixed(V0Prefix, r.Path)}
}

func prefixed(prefix, path string) string {
	if path == "/" {
		return prefix
	}
	return prefix + path
}
