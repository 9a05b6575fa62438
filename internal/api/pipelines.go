package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// pipelineResponse answers POST /pipelines: what the run became (its events, pipeline_result
// first), and how many of them this request stored.
type pipelineResponse struct {
	Project       string            `json:"project"`
	PipelineID    string            `json:"pipeline_id"`
	Inserted      int               `json:"inserted"`
	Duplicates    int               `json:"duplicates"`
	IDs           []string          `json:"ids"`
	UnknownFields []string          `json:"unknown_fields,omitempty"`
	Events        []telemetry.Event `json:"events,omitempty"` // on 200 only: what was stored
	Detail        string            `json:"detail,omitempty"` // on 208 only
}

// NewPipelines serves POST /pipelines and POST /save_metrics: one pipeline run (the
// pipeline-metrics-collector's document) stored as events. 200 when the run is new; 208
// Already Reported, storing nothing, when (project, pipeline_id) is already stored, as
// the collector answers. ?runtime= names the CI system instead of the configured one.
func NewPipelines(d Deps) Handler {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return Serve(ctx, d, "pipelines", req, func(ctx context.Context, log *slog.Logger) (events.APIGatewayV2HTTPResponse, error) {
			return postPipeline(ctx, d, log, req)
		})
	}
}

func postPipeline(ctx context.Context, d Deps, log *slog.Logger, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	q := NewParams(req)
	runtime, given := q.Get("runtime")
	if err := q.Check([]string{"runtime"}); err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	if !given {
		runtime = d.PipelineRuntime
		if runtime == "" {
			runtime = telemetry.DefaultPipelineRuntime
		}
	}
	raw, err := body(req)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	run, err := telemetry.DecodePipelineRun(raw, runtime, d.Now())
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	resp := pipelineResponse{Project: run.Project, PipelineID: run.PipelineID, UnknownFields: run.UnknownFields}
	for _, e := range run.Events {
		resp.IDs = append(resp.IDs, e.ID)
	}

	// The run is stored once its pipeline_result event is, which is written last: a run
	// whose jobs could not all be stored is not reported as stored, and its resend stores
	// what is missing. A run already stored is reported, and nothing of the resend is
	// written, even if its fields changed.
	pipeline, parts := run.Events[:1], run.Events[1:]
	stored, err := d.Events.Stored(ctx, pipeline)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	if stored[0] {
		resp.Duplicates = len(run.Events)
		resp.Detail = fmt.Sprintf("Pipeline %s of %s was already stored; nothing was changed.", run.PipelineID, run.Project)
		log.Info("pipeline", "project", run.Project, "pipeline_id", run.PipelineID, "already_reported", true)
		return JSON(http.StatusAlreadyReported, resp), nil
	}
	steps := []struct {
		batch  []telemetry.Event
		offset int // of batch[0] in run.Events
	}{{parts, 1}, {pipeline, 0}}
	for _, step := range steps {
		batch, offset := step.batch, step.offset
		if len(batch) == 0 {
			continue
		}
		outcomes, err := d.Events.PutEvents(ctx, batch)
		if err != nil {
			log.Error("store pipeline run", "error", err.Error())
		}
		var notStored []eventRef
		for j, outcome := range outcomes {
			switch outcome {
			case telemetry.Inserted:
				resp.Inserted++
			case telemetry.Duplicate:
				resp.Duplicates++
			default:
				notStored = append(notStored, eventRef{Index: offset + j, ID: batch[j].ID})
			}
		}
		if len(notStored) > 0 {
			done := ingestResponse{Inserted: resp.Inserted, Duplicates: resp.Duplicates}
			return notStoredResponse(ctx, req, err, done, notStored, len(run.Events), false, 0, nil), nil
		}
	}
	resp.Events = run.Events
	log.Info("pipeline", "project", run.Project, "pipeline_id", run.PipelineID, "events", len(run.Events),
		"inserted", resp.Inserted, "duplicates", resp.Duplicates)
	return JSON(http.StatusOK, resp), nil
}
