package simulate

import (
	"math"
	"time"
)

// PipelineRun is one simulated CI pipeline run as the pipeline-metrics-collector posts it
// (POST /save_metrics, POST /pipelines); json.Marshal gives the document.
type PipelineRun struct {
	Project     string               `json:"project"`
	PipelineID  int                  `json:"pipeline_id"`
	Ref         string               `json:"ref"`
	CreatedAt   string               `json:"created_at"` // with the offset of the CI server's zone
	Duration    float64              `json:"duration"`   // seconds
	DurationE2E float64              `json:"duration_e2e"`
	HasRestarts bool                 `json:"has_restarts"`
	JobsFailed  []string             `json:"jobs_failed"`
	Builds      []map[string]float64 `json:"builds"`
	Jobs        []PipelineJob        `json:"jobs"`
	Created     time.Time            `json:"-"` // CreatedAt, parsed
}

// PipelineJob is one job of a PipelineRun.
type PipelineJob struct {
	Name       string  `json:"name"`
	StartedAt  string  `json:"started_at"`
	FinishedAt string  `json:"finished_at"`
	Duration   float64 `json:"duration"`
	Up         int     `json:"up"` // the per-stage seconds the collector parses from a trace
}

// PipelineRuns returns n pipeline runs created over [start, end): most of one project on
// master, some on a feature branch or of another project; an e2e job (whose duration is
// the run's duration_e2e), a lint job, often a unit job; one run in seven restarted (its
// e2e job appears twice); one in ten with lint failed. Durations are whole seconds, as
// GitLab reports them, except the pipeline's, which has milliseconds. The same arguments
// give the same runs.
func PipelineRuns(seed int64, n int, start, end time.Time) []PipelineRun {
	r := newRandom(seed)
	zones := []*time.Location{time.UTC, time.FixedZone("", 7*3600), time.FixedZone("", -5*3600)}
	span := end.Sub(start)
	runs := make([]PipelineRun, n)
	for i := range runs {
		run := &runs[i]
		run.Project, run.Ref, run.PipelineID = "test/project", "master", 1000+i
		if r.chance(0.2) {
			run.Project = "other/project"
		}
		if r.chance(0.25) {
			run.Ref = "feature"
		}
		run.Created = start.Add(time.Duration(r.float() * float64(span))).UTC().Truncate(time.Millisecond)
		run.CreatedAt = run.Created.In(zones[i%len(zones)]).Format("2006-01-02T15:04:05.000Z07:00")
		run.HasRestarts = r.chance(1.0 / 7)
		run.DurationE2E = float64(20 + r.intn(400))
		run.Duration = run.DurationE2E + math.Round(-math.Log(1-r.float())*300*1000)/1000
		run.JobsFailed = []string{}
		add := func(name string, d float64) {
			run.Jobs = append(run.Jobs, PipelineJob{
				Name: name, Duration: d, Up: r.intn(30),
				StartedAt:  run.Created.Format(time.RFC3339Nano),
				FinishedAt: run.Created.Add(time.Duration(d * float64(time.Second))).Format(time.RFC3339Nano),
			})
		}
		add("e2e", run.DurationE2E)
		add("lint", float64(5+r.intn(60)))
		if r.chance(0.5) {
			add("unit", float64(90+r.intn(60)))
		}
		if run.HasRestarts {
			add("e2e", float64(20+r.intn(400)))
		}
		if r.chance(0.1) {
			run.JobsFailed = []string{"lint"}
		}
		run.Builds = []map[string]float64{{"build-e2e": float64(30 + r.intn(90))}}
	}
	return runs
}
