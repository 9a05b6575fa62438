// Package scheduled starts pipetel's scheduled Lambda functions (an EventBridge rule
// invokes them). It stands apart from package app because only these publish alerts: a
// function that links the EventBridge client runs its package init on every cold start,
// used or not (about 1 ms, a sixth of a hello-world's whole first response), so the API's
// functions must not link it.
package scheduled

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/app"
	"github.com/pipetel/pipetel/internal/eventbridge"
)

// Start runs one scheduled Lambda function: it builds the dependencies once per cold
// start, with the alert publisher when ALERT_BUS names an event bus, and runs the job
// newJob makes from them on every invocation. The scheduled event itself carries nothing
// the job needs; a job's error is the invocation's error.
func Start(newJob func(api.Deps) func(context.Context) error) {
	deps, cfg := app.Load(false)
	if cfg.AlertBus != "" {
		deps.Alerts = eventbridge.New(eventbridge.NewClient(cfg.Region, cfg.Credentials), cfg.AlertBus, nil)
	}
	job := newJob(deps)
	lambda.Start(func(ctx context.Context, _ json.RawMessage) error { return job(ctx) })
}
