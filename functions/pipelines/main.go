// Command pipelines is the Lambda behind POST /pipelines and POST /save_metrics.
package main

import (
	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/app"
)

func main() { app.Start(api.NewPipelines) }
