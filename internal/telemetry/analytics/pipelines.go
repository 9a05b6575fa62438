package analytics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
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
	runs            map[string]bool // the runs counted from raw events, by runKey
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
	key := runKey(e)
	if (p.excludeRestarts && telemetry.PipelineFactsOf(e).HasRestarts) || p.runs[key] {
		return
	}
	p.runs[key] = true
	var part PipelinePart
	part.add(e)
	p.addPipelinePart(&part)
}

func (p *PipelineStats) addPipelinePart(part *PipelinePart) {
	p.pipelines += part.Count
	p.duration.Merge(part.Duration)
	p.withoutE2E.Merge(part.WithoutE2E)
	p.e2e.Merge(part.E2E)
}

// AddJob counts a job of a pipeline run (telemetry.IsPipelineJob) with a duration; other
// events, KernelCI's job results among them, are ignored. With
// excludeRestarts, a job of a run with restarts (telemetry.PipelineFactsOf) is left out
// with its run. A job selects itself, not through its run, so that jobs read from raw
// events and from rollup groups, where no job can be joined to its run, count alike;
// the time range selects a run whole since every event of a run has its created_at as ts.
func (p *PipelineStats) AddJob(e *telemetry.Event) {
	if !telemetry.IsPipelineJob(e) || e.Duration == nil {
		return
	}
	if p.excludeRestarts && telemetry.PipelineFactsOf(e).HasRestarts {
		return
	}
	p.job(e.JobName).Add(*e.Duration)
}

func (p *PipelineStats) job(name string) *DurationSketch {
	s, ok := p.jobs[name]
	if !ok {
		s = NewDurationSketch()
		p.jobs[name] = s
	}
	return s
}

// AddGroup counts the events of a rollup group: events alike in every dimension d,
// recorded in a. The caller vouches that all of them are selected (time range, project,
// ref, runtime); AddGroup applies excludeRestarts. Groups of other kinds are ignored.
func (p *PipelineStats) AddGroup(d Dimensions, a *PipelineAggregate) {
	if a == nil {
		return
	}
	for restarts, part := range a {
		if p.excludeRestarts && restarts == 1 {
			continue
		}
		switch d.Kind {
		case telemetry.KindPipelineResult:
			p.addPipelinePart(&part)
		case telemetry.KindJobResult:
			if part.Duration != nil {
				p.job(d.JobName).Merge(part.Duration)
			}
		}
	}
}

// PipelineKind reports whether events of kind are what GET /pipelines/stats reads, and
// so what a PipelineAggregate records.
func PipelineKind(kind string) bool {
	return kind == telemetry.KindPipelineResult || kind == telemetry.KindJobResult
}

// PipelineAggregate is what GET /pipelines/stats needs of a set of pipeline_result or
// job_result events alike in every Dimension, mergeable as Aggregate is: a part for the
// events of runs without restarts (index 0) and one for those of runs with restarts
// (index 1), so exclude_restarts can leave the second out.
type PipelineAggregate [2]PipelinePart

// PipelinePart is one half of a PipelineAggregate. Durations are in seconds; a sketch is
// nil until a duration is added to it. WithoutE2E and E2E are recorded of pipeline_result
// events only, as AddPipeline records them.
type PipelinePart struct {
	Count      int64 // events
	Duration   *DurationSketch
	WithoutE2E *DurationSketch
	E2E        *DurationSketch
}

// Add records e if it is of a PipelineKind.
func (a *PipelineAggregate) Add(e *telemetry.Event) {
	if !PipelineKind(e.Kind) || e.Kind == telemetry.KindJobResult && !telemetry.IsPipelineJob(e) {
		return
	}
	i := 0
	if telemetry.PipelineFactsOf(e).HasRestarts {
		i = 1
	}
	a[i].add(e)
}

func (part *PipelinePart) add(e *telemetry.Event) {
	part.Count++
	if e.Duration != nil {
		addTo(&part.Duration, *e.Duration)
	}
	if e.Kind != telemetry.KindPipelineResult {
		return
	}
	if e2e := telemetry.PipelineFactsOf(e).DurationE2E; e2e != nil {
		addTo(&part.E2E, *e2e)
		// A document whose e2e part exceeds its whole duration has no meaningful
		// remainder; the sketch ignores the negative difference rather than clamping it.
		if e.Duration != nil {
			addTo(&part.WithoutE2E, *e.Duration-*e2e)
		}
	}
}

func addTo(s **DurationSketch, seconds float64) {
	if !validDuration(seconds) {
		return
	}
	if *s == nil {
		*s = NewDurationSketch()
	}
	(*s).Add(seconds)
}

// Merge adds everything recorded in o; o is left unchanged and shares nothing with a.
func (a *PipelineAggregate) Merge(o *PipelineAggregate) {
	for i := range a {
		a[i].Count += o[i].Count
		mergeInto(&a[i].Duration, o[i].Duration)
		mergeInto(&a[i].WithoutE2E, o[i].WithoutE2E)
		mergeInto(&a[i].E2E, o[i].E2E)
	}
}

func mergeInto(s **DurationSketch, o *DurationSketch) {
	switch {
	case o == nil:
	case *s == nil:
		*s = o.Copy()
	default:
		(*s).Merge(o)
	}
}

// pipelineEncodingVersion leads every encoded PipelineAggregate.
const pipelineEncodingVersion = 1

// MarshalBinary encodes a for storage: a version byte, then per part its count as a
// uvarint and its three sketches (Duration, WithoutE2E, E2E), each as a uvarint length
// and the sketch as DurationSketch.MarshalBinary writes it (length 0 for none).
func (a *PipelineAggregate) MarshalBinary() ([]byte, error) {
	b := []byte{pipelineEncodingVersion}
	for _, part := range a {
		b = binary.AppendUvarint(b, uint64(part.Count))
		for _, s := range []*DurationSketch{part.Duration, part.WithoutE2E, part.E2E} {
			var enc []byte
			if s != nil {
				enc, _ = s.MarshalBinary()
			}
			b = binary.AppendUvarint(b, uint64(len(enc)))
			b = append(b, enc...)
		}
	}
	return b, nil
}

// UnmarshalBinary replaces a with the aggregate encoded in b by MarshalBinary.
func (a *PipelineAggregate) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != pipelineEncodingVersion {
		return errors.New("decode pipeline aggregate: unknown encoding version")
	}
	b = b[1:]
	var decoded PipelineAggregate
	for i := range decoded {
		part := &decoded[i]
		n, size := binary.Uvarint(b)
		if size <= 0 || n > math.MaxInt64 {
			return errors.New("decode pipeline aggregate: truncated or oversized count")
		}
		part.Count, b = int64(n), b[size:]
		for _, s := range []**DurationSketch{&part.Duration, &part.WithoutE2E, &part.E2E} {
			n, size := binary.Uvarint(b)
			if size <= 0 || uint64(len(b)-size) < n {
				return errors.New("decode pipeline aggregate: truncated sketch")
			}
			enc := b[size : size+int(n)]
			b = b[size+int(n):]
			if n == 0 {
				continue
			}
			*s = &DurationSketch{}
			if err := (*s).UnmarshalBinary(enc); err != nil {
				return fmt.Errorf("decode pipeline aggregate: %w", err)
			}
		}
	}
	if len(b) != 0 {
		return errors.New("decode pipeline aggregate: trailing bytes")
	}
	*a = decoded
	return nil
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
