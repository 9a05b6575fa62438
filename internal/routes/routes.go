// Package routes is the table of the public API: every route, its function, and the
// constructor of its handler. The local gateway, the template test and the Lambda tests
// read it; the Lambdas themselves do not, so each links only its own handler.
package routes

import (
	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/api/metrics"
	"github.com/pipetel/pipetel/internal/api/reports"
	"github.com/pipetel/pipetel/internal/web"
)

// All is the API. Every route is served at each of its Paths (as is, under /latest and /v0).
var All = []api.Route{
	{Method: "POST", Path: "/telemetry", Function: "ingest", New: api.NewIngest},
	{Method: "GET", Path: "/telemetry", Function: "query", New: api.NewQuery},
	{Method: "GET", Path: "/telemetry/stats", Function: "stats", New: reports.NewStats},
	{Method: "GET", Path: "/telemetry/anomalies", Function: "anomalies", New: reports.NewAnomalies},
	{Method: "POST", Path: "/pipelines", Function: "pipelines", New: api.NewPipelines},
	// The pipeline-metrics-collector's own path, so its clients switch by changing the host.
	{Method: "POST", Path: "/save_metrics", Function: "pipelines", New: api.NewPipelines},
	{Method: "GET", Path: "/pipelines/stats", Function: "pipelinestats", New: reports.NewPipelineStats},
	{Method: "GET", Path: "/telemetry/summary", Function: "summary", New: reports.NewSummary},
	{Method: "GET", Path: reports.TrendsPath, Function: "summary", New: reports.NewTrends},
	{Method: "GET", Path: web.PathDashboard, Function: "web", New: web.New, Public: true},
	{Method: "GET", Path: web.PathDocs, Function: "web", New: web.New, Public: true},
	{Method: "GET", Path: web.PathOpenAPI, Function: "web", New: web.New, Public: true},
	{Method: "GET", Path: metrics.Path, Function: "metrics", New: metrics.New, Private: true},
}
