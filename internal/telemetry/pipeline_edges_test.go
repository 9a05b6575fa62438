package telemetry

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestPipelineRunBounds checks the bounds of a run's runtime (maxNameLen characters) and
// of pipeline_id (present and not empty), each just inside and just outside.
func TestPipelineRunBounds(t *testing.T) {
	for _, c := range []struct {
		name, doc, runtime string
		fields             []string // the problems' paths; nil: accepted
	}{
		{"runtime of exactly the limit", pipelineExample, strings.Repeat("é", maxNameLen), nil},
		{"runtime one character over", pipelineExample, strings.Repeat("é", maxNameLen+1), []string{"runtime"}},
		{"empty pipeline_id", strings.Replace(pipelineExample, `"pipeline_id": 1`, `"pipeline_id": ""`, 1), "gitlab", []string{"pipeline_id"}},
		{"one-character pipeline_id", strings.Replace(pipelineExample, `"pipeline_id": 1`, `"pipeline_id": "a"`, 1), "gitlab", nil},
	} {
		_, err := DecodePipelineRun([]byte(c.doc), c.runtime, decodeTestNow)
		var e *Error
		switch {
		case c.fields == nil && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.fields == nil:
		case !errors.As(err, &e):
			t.Errorf("%s: error %v, want problems at %v", c.name, err, c.fields)
		default:
			var got []string
			for _, fe := range e.Fields {
				got = append(got, fe.Field)
			}
			if !slices.Equal(got, c.fields) {
				t.Errorf("%s: problems at %v, want %v: %s", c.name, got, c.fields, e.Message)
			}
		}
	}
}

// TestIsPipelineJobNeedsTheDerivedID checks that only a run's own job events count as
// pipeline jobs: not the run's other events, and not a job_result whose id is not the one
// derived from the run and the job, as KernelCI's are.
func TestIsPipelineJobNeedsTheDerivedID(t *testing.T) {
	run := decodeRun(t, pipelineExample)
	pipeline, job, build := run.Events[0], run.Events[1], run.Events[2]
	other := job
	other.ID = "0123456789abcdef01234567"
	for _, c := range []struct {
		name string
		e    Event
		want bool
	}{
		{"the run's job", job, true},
		{"the run's pipeline_result", pipeline, false},
		{"the run's build", build, false},
		{"a job_result with another id", other, false},
	} {
		if got := IsPipelineJob(&c.e); got != c.want {
			t.Errorf("%s: IsPipelineJob = %v, want %v", c.name, got, c.want)
		}
	}
}
