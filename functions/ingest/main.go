// Command ingest is the Lambda behind POST /telemetry.
package main

import (
	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/app"
)

func main() { app.Start(api.NewIngest) }
