package telemetry

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

const pipelineExample = `{"project": "test/project", "pipeline_id": 1, "ref": "master",
 "created_at": "2023-06-13T14:11:24.029+07:00", "duration": 97, "duration_e2e": 27,
 "has_restarts": false, "jobs_failed": [], "build": 64, "builds": [{"build-e2e": 64}],
 "jobs": [{"name": "e2e", "started_at": "2023-06-13T14:12:33.677+07:00",
           "finished_at": "2023-06-13T14:13:01.293+07:00", "duration": 27, "up": 7, "e2e": 5}]}`

func decodeRun(t *testing.T, doc string) PipelineRun {
	t.Helper()
	run, err := DecodePipelineRun([]byte(doc), "gitlab", decodeTestNow)
	if err != nil {
		t.Fatalf("DecodePipelineRun: %v", err)
	}
	return run
}

func TestPipelineRunMapsToEvents(t *testing.T) {
	run := decodeRun(t, pipelineExample)
	if len(run.Events) != 3 {
		t.Fatalf("%d events, want pipeline, job, build", len(run.Events))
	}
	created := time.Date(2023, 6, 13, 7, 11, 24, 29e6, time.UTC)
	p, j, b := run.Events[0], run.Events[1], run.Events[2]
	for _, e := range run.Events {
		if !e.TS.Equal(created) || e.Tree != "test/project" || e.Branch != "master" || e.NodeID != "1" ||
			e.Runtime != "gitlab" || !e.ReceivedAt.Equal(decodeTestNow) || len(e.ID) != 24 {
			t.Errorf("%s: ts %v tree %q branch %q node_id %q runtime %q id %q; want the run's", e.Kind, e.TS, e.Tree, e.Branch, e.NodeID, e.Runtime, e.ID)
		}
	}
	checks := []struct {
		e                  Event
		kind, name, result string
		duration           float64
		extra              string
	}{
		{p, KindPipelineResult, "", ResultPass, 97,
			`{"build":64,"created_at":"2023-06-13T14:11:24.029+07:00","duration_e2e":27,"has_restarts":false,"jobs_failed":[]}`},
		{j, KindJobResult, "e2e", ResultPass, 27,
			`{"e2e":5,"finished_at":"2023-06-13T14:13:01.293+07:00","started_at":"2023-06-13T14:12:33.677+07:00","up":7}`},
		{b, KindBuildResult, "build-e2e", "", 64, ``},
	}
	for _, c := range checks {
		if c.e.Kind != c.kind || c.e.JobName != c.name || c.e.Result != c.result || c.e.Duration == nil ||
			*c.e.Duration != c.duration || string(c.e.Extra) != c.extra {
			t.Errorf("%s: job_name %q result %q duration %v extra %s; want %q %q %v %s",
				c.e.Kind, c.e.JobName, c.e.Result, c.e.Duration, c.e.Extra, c.name, c.result, c.duration, c.extra)
		}
	}
	facts := PipelineFactsOf(&p)
	if facts.DurationE2E == nil || *facts.DurationE2E != 27 || facts.HasRestarts {
		t.Errorf("facts %+v, want duration_e2e 27 and no restarts", facts)
	}
}

// TestJobsOfARestartedRunSayItThemselves: each job of a run with has_restarts true
// carries pipeline_has_restarts, so it can be left out without its run at hand; a job
// that sent that field keeps its own value, and a run without restarts adds nothing.
func TestJobsOfARestartedRunSayItThemselves(t *testing.T) {
	restarted := strings.NewReplacer(`"has_restarts": false`, `"has_restarts": true`,
		`"e2e": 5}`, `"e2e": 5}, {"name": "lint", "duration": 3, "pipeline_has_restarts": false}`).Replace(pipelineExample)
	for _, c := range []struct {
		doc   string
		extra map[string]string
		facts map[string]bool
	}{
		{pipelineExample, map[string]string{
			"e2e": `{"e2e":5,"finished_at":"2023-06-13T14:13:01.293+07:00","started_at":"2023-06-13T14:12:33.677+07:00","up":7}`},
			map[string]bool{"": false, "e2e": false}},
		{restarted, map[string]string{
			"e2e":  `{"e2e":5,"finished_at":"2023-06-13T14:13:01.293+07:00","pipeline_has_restarts":true,"started_at":"2023-06-13T14:12:33.677+07:00","up":7}`,
			"lint": `{"pipeline_has_restarts":false}`},
			map[string]bool{"": true, "e2e": true, "lint": false}},
	} {
		for _, e := range decodeRun(t, c.doc).Events {
			if e.Kind == KindBuildResult {
				continue
			}
			if want, ok := c.extra[e.JobName]; ok && string(e.Extra) != want {
				t.Errorf("%s %q: extra %s, want %s", e.Kind, e.JobName, e.Extra, want)
			}
			if got := PipelineFactsOf(&e).HasRestarts; got != c.facts[e.JobName] {
				t.Errorf("%s %q: has_restarts %t, want %t", e.Kind, e.JobName, got, c.facts[e.JobName])
			}
		}
	}
}

func TestPipelineIDsDependOnTheRunAndJobOnly(t *testing.T) {
	ids := func(doc string) []string {
		var out []string
		for _, e := range decodeRun(t, doc).Events {
			out = append(out, e.ID)
		}
		return out
	}
	first := ids(pipelineExample)
	changed := ids(strings.NewReplacer(`"duration": 97`, `"duration": 500`, `"up": 7`, `"up": 9`).Replace(pipelineExample))
	if !slices.Equal(first, changed) {
		t.Errorf("changed durations changed ids: %v, %v", first, changed)
	}
	for _, other := range []string{
		strings.Replace(pipelineExample, `"pipeline_id": 1`, `"pipeline_id": 2`, 1),
		strings.Replace(pipelineExample, `"test/project"`, `"test/other"`, 1),
	} {
		for i, id := range ids(other) {
			if slices.Contains(first, id) {
				t.Errorf("event %d of another run shares id %s", i, id)
			}
		}
	}
	restarted := decodeRun(t, strings.NewReplacer(`"jobs": [`, `"jobs": [{"name": "e2e", "duration": 3},`,
		`"jobs_failed": []`, `"jobs_failed": ["e2e"]`).Replace(pipelineExample))
	if len(restarted.Events) != 4 || restarted.Events[1].Retry != 0 || restarted.Events[2].Retry != 1 ||
		restarted.Events[1].ID == restarted.Events[2].ID || restarted.Events[0].Result != ResultFail ||
		restarted.Events[2].Result != ResultFail {
		t.Errorf("a job twice: %+v; want retry 0 and 1, distinct ids, failed, and a failed pipeline", restarted.Events)
	}
}

func TestPipelineDocumentErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		fields    []string // the problems' paths, in order; nil: a problem of the whole body
	}{
		{"array", `[` + pipelineExample + `]`, nil},
		{"not JSON", `{"project": `, nil},
		{"empty", ` `, nil},
		{"string pipeline id", strings.Replace(pipelineExample, `"pipeline_id": 1`, `"pipeline_id": "a-1"`, 1), []string{}},
		{"fractional pipeline id", strings.Replace(pipelineExample, `"pipeline_id": 1`, `"pipeline_id": 1.5`, 1), []string{"pipeline_id"}},
		{"no created_at", strings.Replace(pipelineExample, `"created_at": "2023-06-13T14:11:24.029+07:00",`, ``, 1), []string{"created_at"}},
		{"created_at in the future", strings.Replace(pipelineExample, `2023-06-13T14:11:24.029+07:00`, `2027-01-01T00:00:00Z`, 1), []string{"created_at"}},
		{"field twice", strings.Replace(pipelineExample, `"ref": "master"`, `"ref": "master", "ref": "main"`, 1), []string{"ref"}},
		{"job without a name", strings.Replace(pipelineExample, `"name": "e2e", `, ``, 1), []string{"jobs[0].name"}},
		{"job with an empty name", strings.Replace(pipelineExample, `"name": "e2e", `, `"name": "", `, 1), []string{"jobs[0].name"}},
		{"empty failed job", strings.Replace(pipelineExample, `"jobs_failed": []`, `"jobs_failed": ["", {"name": null}]`, 1),
			[]string{"jobs_failed[0]", "jobs_failed[1].name"}},
		{"jobs not an array", strings.Replace(pipelineExample, `"jobs": [{`, `"jobs": {"x": [{`, 1) + "}", []string{"jobs"}},
		{"build not a number", strings.Replace(pipelineExample, `{"build-e2e": 64}`, `{"build-e2e": "64"}`, 1), []string{"builds[0].build-e2e"}},
		{"bad runtime", pipelineExample, []string{"runtime"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runtime := "gitlab"
			if tc.name == "bad runtime" {
				runtime = strings.Repeat("r", 300)
			}
			_, err := DecodePipelineRun([]byte(tc.doc), runtime, decodeTestNow)
			var e *Error
			switch {
			case tc.fields != nil && len(tc.fields) == 0:
				if err != nil {
					t.Fatalf("valid document refused: %v", err)
				}
				return
			case !errors.As(err, &e) || e.Code != CodeInvalid:
				t.Fatalf("error %v, want CodeInvalid", err)
			}
			var got []string
			for _, fe := range e.Fields {
				got = append(got, fe.Field)
				if fe.Index != -1 {
					t.Errorf("problem %+v has an index; a document is not a batch", fe)
				}
			}
			if tc.fields == nil && len(got) > 0 || tc.fields != nil && !slices.Equal(got, tc.fields) {
				t.Errorf("problems at %v, want %v: %s", got, tc.fields, e.Message)
			}
		})
	}
}

// FuzzDecodePipelineRun checks that no body makes DecodePipelineRun panic, that a refused
// one is refused as the client's problem, and that an accepted run is events every store
// key needs: a pipeline_result first, then ids all different and 24 hex characters.
func FuzzDecodePipelineRun(f *testing.F) {
	f.Add([]byte(pipelineExample))
	f.Add([]byte(`{"project":"p","pipeline_id":"x","created_at":"2026-08-20","jobs":[{"name":"a"},{"name":"a"}],"jobs_failed":["a"],"builds":[{"b":1,"c":2}]}`))
	f.Add([]byte(`{"project":"p","pipeline_id":1,"created_at":"2026-08-20","jobs":[{"name":"\ud800"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		run, err := DecodePipelineRun(body, "gitlab", decodeTestNow)
		if err != nil {
			if c := ErrorCode(err); c != CodeInvalid && c != CodeTooLarge {
				t.Fatalf("error %v", err)
			}
			return
		}
		if len(run.Events) == 0 || run.Events[0].Kind != KindPipelineResult {
			t.Fatalf("accepted run without a pipeline_result first: %+v", run.Events)
		}
		seen := map[string]bool{}
		for _, e := range run.Events {
			if len(e.ID) != 24 || seen[e.ID] || e.TS.IsZero() || e.Tree == "" || e.NodeID == "" {
				t.Fatalf("event %+v: want a new 24-character id, a ts, a tree and a node_id", e)
			}
			seen[e.ID] = true
		}
	})
}
