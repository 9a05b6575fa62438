// Command pipelinestats is the Lambda behind GET /pipelines/stats.
package main

import (
	"github.com/pipetel/pipetel/internal/api/reports"
	"github.com/pipetel/pipetel/internal/app"
)

func main() { app.Start(reports.NewPipelineStats) }
