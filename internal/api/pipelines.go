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

	// A run is (project, pipeline_id) alone: its marker, keyed on the pipeline_result's
	// id, is written only after every event of the run is stored, so a run answered with
	// 503 is not marked and its resend stores what is missing. A marked run is reported
	// and nothing of the resend is written, even if its fields (created_at too) changed.
	pipeline, parts := run.Events[:1], run.Events[1:]
	alreadyReported := func(detail string) (events.APIGatewayV2HTTPResponse, error) {
		resp.Detail = fmt.Sprintf("Pipeline %s of %s was already stored; %s", run.PipelineID, run.Project, detail)
		log.Info("pipeline", "project", run.Project, "pipeline_id", run.PipelineID, "already_reported", true,
			"inserted", resp.Inserted)
		return JSON(http.StatusAlreadyReported, resp), nil
	}
	marked, err := d.Events.RunStored(ctx, pipeline[0])
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	if marked {
		resp.Duplicates = len(run.Events)
		return alreadyReported("nothing was changed.")
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
		var notStored, notCounted []eventRef
		for j, outcome := range outcomes {
			switch outcome {
			case telemetry.Inserted:
				resp.Inserted++
			case telemetry.Duplicate:
				resp.Duplicates++
			case telemetry.Unmarked:
				notCounted = append(notCounted, eventRef{Index: offset + j, ID: batch[j].ID})
			default:
				notStored = append(notStored, eventRef{Index: offset + j, ID: batch[j].ID})
			}
		}
		if len(notStored)+len(notCounted) > 0 {
			done := ingestResponse{Inserted: resp.Inserted, Duplicates: resp.Duplicates}
			return notStoredResponse(ctx, req, err, done, notStored, notCounted, len(run.Events), false, 0, nil), nil
		}
	}
	// Unmarked but every event already there: an earlier request stored the run whole and
	// could not mark it. Marking now, the run is reported as that request left it.
	first, err := d.Events.MarkRunStored(ctx, pipeline[0])
	if err != nil {
		log.Error("mark pipeline run stored", "error", err.Error())
		return events.APIGatewayV2HTTPResponse{}, err
	}
	switch {
	case resp.Inserted == 0:
		return alreadyReported("nothing was changed.")
	case !first:
		// Two sends of one run raced past the check; the other marked it first. What this
		// one inserted stays (ingest may not delete), and the answer says so.
		return alreadyReported("a request sent at the same time stored it first, and the events counted as inserted here were kept too.")
	}
	resp.Events = run.Events
	log.Info("pipeline", "project", run.Project, "pipeline_id", run.PipelineID, "events", len(run.Events),
		"inserted", resp.Inserted, "duplicates", resp.Duplicates)
	return JSON(http.StatusOK, resp), nil
}
