// Command rollup is the Lambda an EventBridge schedule invokes every minute: it
// recomputes the stale rollups of the summary table.
package main

import (
	"github.com/pipetel/pipetel/internal/app/scheduled"
	"github.com/pipetel/pipetel/internal/rollup"
)

func main() { scheduled.Start(rollup.NewScheduled) }
