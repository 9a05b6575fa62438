package analytics

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// pipelineEvents is n runs, every third restarted, each with an e2e and a lint job.
func pipelineEvents(n int) []telemetry.Event {
	var out []telemetry.Event
	for i := range n {
		d, e2e := float64(100+i%37), float64(20+i%11)
		run := telemetry.Event{Runtime: "gitlab", Tree: "p", NodeID: fmt.Sprint(i)}
		p := run
		p.Kind, p.Duration = telemetry.KindPipelineResult, &d
		p.Extra = json.RawMessage(fmt.Sprintf(`{"duration_e2e":%v,"has_restarts":%t}`, e2e, i%3 == 0))
		out = append(out, p)
		for _, job := range []struct {
			name string
			d    float64
		}{{"e2e", e2e}, {"lint", float64(i % 7)}} {
			j := run
			j.Kind, j.JobName, j.Duration = telemetry.KindJobResult, job.name, &job.d
			j.ID = telemetry.PipelineJobID(j.Tree, j.NodeID, j.JobName, 0)
			if i%3 == 0 {
				j.Extra = json.RawMessage(`{"pipeline_has_restarts":true}`)
			}
			out = append(out, j)
		}
	}
	return out
}

func onePass(evs []telemetry.Event, exclude bool) *PipelineStats {
	p := NewPipelineStats(exclude)
	for i := range evs {
		p.AddPipeline(&evs[i])
	}
	for i := range evs {
		p.AddJob(&evs[i])
	}
	return p
}

func TestPipelineStatsMergeEqualsOnePass(t *testing.T) {
	evs := pipelineEvents(300)
	for _, exclude := range []bool{false, true} {
		whole := onePass(evs, exclude).Summary()
		merged := NewPipelineStats(exclude)
		// Pieces of whole runs, as time buckets hold them: every event of a run has its ts.
		for start := 0; start < len(evs); start += 90 {
			merged.Merge(onePass(evs[start:min(start+90, len(evs))], exclude))
		}
		if got := merged.Summary(); !reflect.DeepEqual(got, whole) {
			t.Errorf("exclude_restarts=%t: merged %+v, one pass %+v", exclude, got, whole)
		}
		want := int64(300)
		if exclude {
			want = 200
		}
		if whole.Pipelines != want || whole.DurationE2E.Count != want || len(whole.Jobs) != 2 || whole.Jobs[0].Duration.Count != want {
			t.Errorf("exclude_restarts=%t: %+v, want %d runs with their e2e and jobs", exclude, whole, want)
		}
	}
}

func TestPipelineStatsCountsARunOnce(t *testing.T) {
	evs := pipelineEvents(10)
	p := onePass(append(evs, evs...), false)
	if s := p.Summary(); s.Pipelines != 10 || s.Duration.Count != 10 {
		t.Errorf("the same runs twice: %+v, want 10 runs", s)
	}
}

// TestPipelineStatsFromGroupsEqualsOnePass: aggregates per Dimensions, as rollup rows hold
// them, encoded and decoded as stored, give the answer one pass over the events gives,
// with and without exclude_restarts.
func TestPipelineStatsFromGroupsEqualsOnePass(t *testing.T) {
	evs := pipelineEvents(300)
	evs = append(evs, telemetry.Event{Kind: telemetry.KindTestResult, Tree: "p"})
	groups := map[Dimensions]*PipelineAggregate{}
	for i := range evs {
		d := DimensionsOf(&evs[i])
		if groups[d] == nil {
			groups[d] = &PipelineAggregate{}
		}
		// Two halves merged, as an hour's row merges its buckets.
		half := &PipelineAggregate{}
		half.Add(&evs[i])
		groups[d].Merge(half)
	}
	for _, exclude := range []bool{false, true} {
		p := NewPipelineStats(exclude)
		for d, a := range groups {
			b, err := a.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var decoded PipelineAggregate
			if err := decoded.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			p.AddGroup(d, &decoded)
		}
		if got, want := p.Summary(), onePass(evs, exclude).Summary(); !reflect.DeepEqual(got, want) {
			t.Errorf("exclude_restarts=%t: from groups %+v, one pass %+v", exclude, got, want)
		}
	}
	var bad PipelineAggregate
	for _, b := range [][]byte{nil, {9}, {pipelineEncodingVersion, 1}, {pipelineEncodingVersion, 0, 0, 0, 0, 0, 0, 0, 7}} {
		if err := bad.UnmarshalBinary(b); err == nil {
			t.Errorf("%v decoded without error", b)
		}
	}
}

// TestPipelineStatsWithoutE2EIsTheRemainder: the series without e2e holds duration −
// duration_e2e of each run (exactly, for one run), and nothing for a run without a duration.
func TestPipelineStatsWithoutE2EIsTheRemainder(t *testing.T) {
	d := 97.0
	run := telemetry.Event{Kind: telemetry.KindPipelineResult, Runtime: "gitlab", Tree: "p", NodeID: "1", Duration: &d,
		Extra: json.RawMessage(`{"duration_e2e":27,"has_restarts":false}`)}
	noDuration := run
	noDuration.NodeID, noDuration.Duration = "2", nil
	s := onePass([]telemetry.Event{run, noDuration}, false).Summary()
	w := s.DurationWithoutE2E
	if w == nil || w.Count != 1 || math.Abs(w.P50-70) > 0.7 || s.DurationE2E == nil || s.DurationE2E.Count != 2 {
		t.Errorf("without e2e %+v, e2e %+v; want one value, 70 (97 − 27), and two e2e values", w, s.DurationE2E)
	}
}

// TestPipelineStatsCountOnlyJobsOfPipelineRuns: a job_result KernelCI sent (its own id) is
// not a job of any pipeline run, on the raw path and in rollup groups alike.
func TestPipelineStatsCountOnlyJobsOfPipelineRuns(t *testing.T) {
	d := 61.0
	kernelci := telemetry.Event{ID: "0123456789abcdef01234567", Kind: telemetry.KindJobResult, Runtime: "lava-collabora",
		Tree: "p", NodeID: "1", JobName: "baseline-arm64", Duration: &d}
	evs := append(pipelineEvents(3), kernelci)
	p := onePass(evs, false)
	var agg PipelineAggregate
	agg.Add(&kernelci)
	for _, j := range p.Summary().Jobs {
		if j.JobName == "baseline-arm64" {
			t.Errorf("KernelCI's job counted among pipeline jobs: %+v", j)
		}
	}
	if agg != (PipelineAggregate{}) {
		t.Errorf("a rollup group of KernelCI's job result holds a pipeline aggregate: %+v", agg)
	}
}
