package analytics

import (
	"maps"
	"slices"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// PipelineStats builds the answer of GET /pipelines/stats: how many pipeline runs, and the
// percentiles of three durations per run — the whole pipeline, the pipeline without its
// e2e part (duration − duration_e2e) and the e2e part alone, the three panels of the
// pipeline-metrics-collector's dashboard — and of each job's duration. Every series is a
// DurationSketch, so pieces built separately (per shard, per rollup bucket) merge into the
// same answer as one pass over every event.
type PipelineStats struct {
	excludeRestarts bool
	runs            map[string]bool // the runs counted, by runKey; their jobs count too
	pipelines       int64
	duration        *DurationSketch
	withoutE2E      *DurationSketch
	e2e             *DurationSketch
	jobs            map[string]*DurationSketch // by job name
}

// NewPipelineStats returns an empty accumulator; with excludeRestarts, runs in which a job
// was restarted are left out, with their jobs, as the collector's e2e panel does.
func NewPipelineStats(excludeRestarts bool) *PipelineStats {
	return &PipelineStats{
		excludeRestarts: excludeRestarts,
		runs:            map[string]bool{},
		duration:        NewDurationSketch(),
		withoutE2E:      NewDurationSketch(),
		e2e:             NewDurationSketch(),
		jobs:            map[string]*DurationSketch{},
	}
}

// runKey names the run an event belongs to: pipeline ids are unique per project and CI
// system, not across them.
func runKey(e *telemetry.Event) string {
	return e.Runtime + "\x00" + e.Tree + "\x00" + e.NodeID
}

// AddPipeline counts a pipeline_result event; other kinds are ignored. A run counted
// twice (a store may hand the same event to two shards' readers) counts once.
func (p *PipelineStats) AddPipeline(e *telemetry.Event) {
	if e.Kind != telemetry.KindPipelineResult {
		return
	}
	facts := telemetry.PipelineFactsOf(e)
	key := runKey(e)
	if (p.excludeRestarts && facts.HasRestarts) || p.runs[key] {
		return
	}
	p.runs[key] = true
	p.pipelines++
	if e.Duration != nil {
		p.duration.Add(*e.Duration)
	}
	if facts.DurationE2E != nil {
		p.e2e.Add(*facts.DurationE2E)
		// A document whose e2e part exceeds its whole duration has no meaningful
		// remainder; the sketch ignores the negative difference rather than clamping it.
		if e.Duration != nil {
			p.withoutE2E.Add(*e.Duration - *facts.DurationE2E)
		}
	}
}

// AddJob counts a job_result event of a run already added with AddPipeline; others are
// ignored, so jobs follow their runs' selection (time range, exclude_restarts).
func (p *PipelineStats) AddJob(e *telemetry.Event) {
	if e.Kind != telemetry.KindJobResult || e.Duration == nil || !p.runs[runKey(e)] {
		return
	}
	s, ok := p.jobs[e.JobName]
	if !ok {
		s = NewDurationSketch()
		p.jobs[e.JobName] = s
	}
	s.Add(*e.Duration)
}

// Merge adds everything o has accumulated; both must agree on excludeRestarts.
func (p *PipelineStats) Merge(o *PipelineStats) {
	for k := range o.runs {
		p.runs[k] = true
	}
	p.pipelines += o.pipelines
	p.duration.Merge(o.duration)
	p.withoutE2E.Merge(o.withoutE2E)
	p.e2e.Merge(o.e2e)
	for name, s := range o.jobs {
		if mine, ok := p.jobs[name]; ok {
			mine.Merge(s)
		} else {
			p.jobs[name] = s.Copy()
		}
	}
}

// JobDurations is one job's line of the GET /pipelines/stats answer.
type JobDurations struct {
	JobName  string          `json:"job_name"`
	Duration DurationSummary `json:"duration"`
}

// PipelineSummary is the GET /pipelines/stats answer without the echoed parameters. Each
// summary is null when no run carried that duration; percentiles are in seconds, within
// DurationRelativeAccuracy of the exact value at rank ⌊q·(n−1)⌋.
type PipelineSummary struct {
	Pipelines          int64            `json:"pipelines"`
	Duration           *DurationSummary `json:"duration"`
	DurationWithoutE2E *DurationSummary `json:"duration_without_e2e"`
	DurationE2E        *DurationSummary `json:"duration_e2e"`
	Jobs               []JobDurations   `json:"jobs"` // by job name
}

// Summary returns the answer.
func (p *PipelineStats) Summary() PipelineSummary {
	out := PipelineSummary{
		Pipelines:          p.pipelines,
		Duration:           summaryOf(p.duration),
		DurationWithoutE2E: summaryOf(p.withoutE2E),
		DurationE2E:        summaryOf(p.e2e),
		Jobs:               []JobDurations{},
	}
	for _, name := range slices.Sorted(maps.Keys(p.jobs)) {
		out.Jobs = append(out.Jobs, JobDurations{JobName: name, Duration: p.jobs[name].Summary()})
	}
	return out
}

func summaryOf(s *DurationSketch) *DurationSummary {
	if s.Count() == 0 {
		return nil
	}
	summary := s.Summary()
	return &summary
}
