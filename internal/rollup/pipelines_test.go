package rollup_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// pipelineRunEvents are the events POST /pipelines stores for n simulated runs.
func pipelineRunEvents(t *testing.T, n int, start, end, received time.Time) []telemetry.Event {
	t.Helper()
	var out []telemetry.Event
	for _, r := range simulate.PipelineRuns(3, n, start, end) {
		doc, _ := json.Marshal(r)
		run, err := telemetry.DecodePipelineRun(doc, telemetry.DefaultPipelineRuntime, received)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, run.Events...)
	}
	return out
}

func summaryOf(p *analytics.PipelineStats) analytics.PipelineSummary { return p.Summary() }

// TestRowKeepsPipelineAggregates: a row written now keeps each pipeline group's
// aggregate through encoding and merging; a row written by version 2 reads back with its
// pipeline groups unknown, and stays so through merges and rewrites, while its other
// groups and a version 2 row without pipeline groups read as before.
func TestRowKeepsPipelineAggregates(t *testing.T) {
	evs := pipelineRunEvents(t, 40, dataStart, dataStart.Add(5*time.Minute), dataStart)
	evs = append(evs, generate(t, 1, 30, dataStart, dataStart.Add(5*time.Minute), dataStart)...)
	row := rollup.NewRow()
	for i := range evs {
		row.Add(&evs[i], 1)
	}
	answer := func(r *rollup.Row, exclude bool) analytics.PipelineSummary {
		p := analytics.NewPipelineStats(exclude)
		for _, g := range r.Groups {
			p.AddGroup(g.Dims, g.Pipeline)
		}
		return summaryOf(p)
	}
	raw := func(exclude bool) analytics.PipelineSummary {
		p := analytics.NewPipelineStats(exclude)
		for i := range evs {
			p.AddPipeline(&evs[i])
			p.AddJob(&evs[i])
		}
		return summaryOf(p)
	}
	body, err := row.Encode()
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := rollup.DecodeRow(body, 1)
	if err != nil {
		t.Fatal(err)
	}
	merged := rollup.NewRow()
	merged.Merge(decoded)
	for _, exclude := range []bool{false, true} {
		for name, r := range map[string]*rollup.Row{"decoded": decoded, "merged": merged} {
			if got, want := answer(r, exclude), raw(exclude); !reflect.DeepEqual(got, want) || want.Pipelines != 40-boolInt(exclude)*restarted(evs) {
				t.Errorf("%s, exclude_restarts=%t: %+v, want %+v", name, exclude, got, want)
			}
		}
	}
	if !decoded.PipelineKnown() {
		t.Error("a row written now reads as not knowing its pipeline groups")
	}

	old, err := rollup.EncodeV2(row)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := rollup.DecodeRow(old, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v2.PipelineKnown() {
		t.Error("a version 2 row with pipeline groups reads as knowing them")
	}
	for d, g := range v2.Groups {
		if g.PipelineUnknown != analytics.PipelineKind(d.Kind) || g.Pipeline != nil || g.Agg.Total != row.Groups[d].Agg.Total {
			t.Errorf("version 2 group %+v: unknown %t, pipeline %v, total %d", d, g.PipelineUnknown, g.Pipeline, g.Agg.Total)
		}
	}
	// An hour merged from a version 2 child and a new one, rewritten and read back.
	hour := rollup.NewRow()
	hour.Merge(decoded)
	hour.Merge(v2)
	rewritten, err := hour.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if back, err := rollup.DecodeRow(rewritten, 1); err != nil || back.PipelineKnown() {
		t.Errorf("a rewrite of a merge with a version 2 row: known %t, %v; want unknown", back != nil && back.PipelineKnown(), err)
	}
	other := rollup.NewRow()
	for i := range evs {
		if !analytics.PipelineKind(evs[i].Kind) {
			other.Add(&evs[i], 1)
		}
	}
	oldOther, _ := rollup.EncodeV2(other)
	if back, err := rollup.DecodeRow(oldOther, 1); err != nil || !back.PipelineKnown() {
		t.Errorf("a version 2 row without pipeline groups: %v; want it known", err)
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func restarted(evs []telemetry.Event) int64 {
	var n int64
	for i := range evs {
		if evs[i].Kind == telemetry.KindPipelineResult && telemetry.PipelineFactsOf(&evs[i]).HasRestarts {
			n++
		}
	}
	return n
}

// olderRows hands out every row as encoding version 2 wrote it.
type olderRows struct {
	telemetry.RollupStore
	t *testing.T
}

func (o olderRows) Rows(ctx context.Context, resolution string, start time.Time) ([]telemetry.RollupRow, error) {
	rows, err := o.RollupStore.Rows(ctx, resolution, start)
	for i := range rows {
		r, derr := rollup.DecodeRow(rows[i].Body, rows[i].MinExpires)
		if derr != nil {
			o.t.Error(derr)
			continue
		}
		rows[i].Body, _ = rollup.EncodeV2(r)
	}
	return rows, err
}

// TestPipelineStatsFromRollupsEqualRaw: after the rollup, pipeline stats over a window
// with ragged edges read rollup rows and equal one pass over the raw events; with every
// row as version 2 wrote it, they read every pipeline event raw (rows holding only other
// kinds still serve) and still equal it.
func TestPipelineStatsFromRollupsEqualRaw(t *testing.T) {
	now := dataStart.Add(30 * time.Hour)
	e := newEnv(t, now)
	e.put(t, pipelineRunEvents(t, 200, dataStart, dataStart.Add(6*time.Hour), dataStart))
	e.runAll(t, e.summary, "")
	f := telemetry.Filter{Equals: map[string]string{"tree": "test/project"},
		Since: dataStart.Add(37*time.Minute + 1*time.Second), Until: dataStart.Add(5*time.Hour + 2*time.Minute)}
	for _, exclude := range []bool{false, true} {
		want := analytics.NewPipelineStats(exclude)
		read := 0
		for _, kind := range []string{telemetry.KindPipelineResult, telemetry.KindJobResult} {
			k := f
			k.Equals = map[string]string{"tree": "test/project", "kind": kind}
			if err := e.events.EachEvent(t.Context(), k, func(ev telemetry.Event) error {
				read++
				want.AddPipeline(&ev)
				want.AddJob(&ev)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			name    string
			summary telemetry.RollupStore
			allRaw  bool
		}{{"rows of now", e.summary, false}, {"rows of version 2", olderRows{e.summary, t}, true}} {
			r := e.reader
			r.Summary = c.summary
			got, ans, ok, err := r.PipelineStats(t.Context(), f, exclude)
			if err != nil || !ok {
				t.Fatalf("%s: ok %t, %v", c.name, ok, err)
			}
			if c.allRaw && ans.Events != read || !c.allRaw && (ans.Rows == 0 || ans.Events == 0 || ans.Events >= read) {
				t.Errorf("%s: %d rows and %d raw events read, of %d in the window", c.name, ans.Rows, ans.Events, read)
			}
			if g, w := marshal(t, got.Summary()), marshal(t, want.Summary()); string(g) != string(w) {
				t.Errorf("%s, exclude_restarts=%t:\n got %s\nwant %s", c.name, exclude, g, w)
			}
		}
	}
}
