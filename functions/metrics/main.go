// Command metrics is the Lambda behind GET /metrics.
package main

import (
	"github.com/pipetel/pipetel/internal/api/metrics"
	"github.com/pipetel/pipetel/internal/app"
)

func main() { app.Start(metrics.New) }
