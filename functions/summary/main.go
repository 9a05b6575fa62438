// Command summary is the Lambda behind GET /telemetry/summary.
package main

import (
	"github.com/pipetel/pipetel/internal/api/reports"
	"github.com/pipetel/pipetel/internal/app"
)

func main() { app.Start(reports.NewSummary) }
