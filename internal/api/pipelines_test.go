package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/api/reports"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// examplePipeline is the pipeline-metrics-collector's documented example.
const examplePipeline = `{"project": "test/project", "pipeline_id": 1, "ref": "master",
 "created_at": "2023-06-13T14:11:24.029+07:00", "duration": 97, "duration_e2e": 27,
 "has_restarts": false, "jobs_failed": [], "build": 64, "builds": [{"build-e2e": 64}],
 "jobs": [{"name": "e2e", "started_at": "2023-06-13T14:12:33.677+07:00",
           "finished_at": "2023-06-13T14:13:01.293+07:00", "duration": 27, "up": 7, "e2e": 5}]}`

type pipelinesAPI struct {
	testAPI
	post, pipelineStats, stats api.Handler
}

func newPipelinesAPI(t *testing.T) pipelinesAPI {
	t.Helper()
	a := newAPI(t, nil)
	return pipelinesAPI{testAPI: a, post: api.NewPipelines(a.deps),
		pipelineStats: reports.NewPipelineStats(a.deps), stats: reports.NewStats(a.deps)}
}

func postPipeline(path, rawQuery, body string) events.APIGatewayV2HTTPRequest {
	req := request("POST", rawQuery, body)
	req.RawPath, req.RequestContext.HTTP.Path = path, path
	return req
}

// stored is every stored event, as GET /telemetry returns them, in a fixed order.
func (a pipelinesAPI) stored(t *testing.T) string {
	t.Helper()
	r := call(t, a.query, request("GET", "limit=1000", ""))
	if r.status != 200 {
		t.Fatalf("query: %d %s", r.status, r.raw)
	}
	items := r.body["items"].([]any)
	texts := make([]string, len(items))
	for i, it := range items {
		b, _ := json.Marshal(it)
		texts[i] = string(b)
	}
	slices.Sort(texts)
	return strings.Join(texts, "\n")
}

func TestExamplePipelineStoredOnceThenAlreadyReported(t *testing.T) {
	a := newPipelinesAPI(t)
	first := call(t, a.post, postPipeline("/pipelines", "", examplePipeline))
	if first.status != 200 || first.body["inserted"] != 3.0 || first.body["duplicates"] != 0.0 {
		t.Fatalf("first post: %d %s", first.status, first.raw)
	}
	if evs := first.body["events"].([]any); len(evs) != 3 {
		t.Fatalf("first post answered %d events, want the pipeline, its job and its build: %s", len(evs), first.raw)
	}
	before := a.stored(t)

	changed := strings.Replace(examplePipeline, `"duration": 97`, `"duration": 500`, 1)
	for _, tc := range []struct{ name, path, body string }{
		{"the same again", "/pipelines", examplePipeline},
		{"with a changed duration", "/pipelines", changed},
		{"through the collector's path", "/save_metrics", changed},
	} {
		r := call(t, a.post, postPipeline(tc.path, "", tc.body))
		if r.status != 208 || r.body["inserted"] != 0.0 {
			t.Errorf("%s: %d %s, want 208 Already Reported and nothing inserted", tc.name, r.status, r.raw)
		}
		if r.body["ids"] == nil || fmt.Sprint(r.body["ids"]) != fmt.Sprint(first.body["ids"]) {
			t.Errorf("%s: ids %v, want the first post's %v", tc.name, r.body["ids"], first.body["ids"])
		}
	}
	if after := a.stored(t); after != before {
		t.Fatalf("storage changed after 208 answers:\nbefore %s\nafter  %s", before, after)
	}

	want := map[string]string{ // kind → fields the stored event must have
		telemetry.KindPipelineResult: `"branch":"master","duration":97,` +
			`"extra":{"build":64,"created_at":"2023-06-13T14:11:24.029+07:00","duration_e2e":27,"has_restarts":false,"jobs_failed":[]},` +
			`"result":"pass","runtime":"gitlab","node_id":"1","tree":"test/project","ts":"2023-06-13T07:11:24.029000Z"`,
		telemetry.KindJobResult: `"duration":27,` +
			`"extra":{"e2e":5,"finished_at":"2023-06-13T14:13:01.293+07:00","started_at":"2023-06-13T14:12:33.677+07:00","up":7},` +
			`"job_name":"e2e","result":"pass","retry":0,"ts":"2023-06-13T07:11:24.029000Z"`,
		telemetry.KindBuildResult: `"duration":64,"job_name":"build-e2e","node_id":"1","tree":"test/project"`,
	}
	for kind, fields := range want {
		r := call(t, a.query, request("GET", "kind="+kind, ""))
		items := r.body["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("GET /telemetry?kind=%s: %d items, want 1: %s", kind, len(items), r.raw)
		}
		got, _ := json.Marshal(items[0])
		var wantFields map[string]any
		if err := json.Unmarshal([]byte("{"+fields+"}"), &wantFields); err != nil {
			t.Fatal(err)
		}
		gotFields := items[0].(map[string]any)
		for k, v := range wantFields {
			if fmt.Sprint(gotFields[k]) != fmt.Sprint(v) {
				t.Errorf("%s: %s is %v, want %v (event %s)", kind, k, gotFields[k], v, got)
			}
		}
	}

	resp, err := a.stats(t.Context(), request("GET", "group_by=tree,kind", ""))
	var rows []map[string]any
	if err != nil || resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &rows) != nil {
		t.Fatalf("stats: %d %v %s", resp.StatusCode, err, resp.Body)
	}
	got := map[string]float64{}
	for _, row := range rows {
		got[fmt.Sprint(row["tree"], " ", row["kind"])] = row["total"].(float64)
	}
	for _, kind := range []string{telemetry.KindPipelineResult, telemetry.KindJobResult, telemetry.KindBuildResult} {
		if got["test/project "+kind] != 1 {
			t.Errorf("stats grouped by tree,kind: %v, want one test/project %s", got, kind)
		}
	}
}

func TestPipelineRunKeepsUnknownFieldsAndNamesThem(t *testing.T) {
	a := newPipelinesAPI(t)
	doc := strings.Replace(examplePipeline, `"ref": "master"`,
		`"ref": "master", "all_e2e_jobs": ["e2e"], "runner": {"tags": ["docker"]}`, 1)
	doc = strings.Replace(doc, `"up": 7`, `"up": 7, "pull": 1.50, "queued": 3`, 1)
	r := call(t, a.post, postPipeline("/pipelines", "runtime=gitlab-ee", doc))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if got := fmt.Sprint(r.body["unknown_fields"]); got != "[jobs[0].queued runner]" {
		t.Errorf("unknown_fields %s, want [jobs[0].queued runner]", got)
	}
	q := call(t, a.query, request("GET", "runtime=gitlab-ee&kind=job_result", ""))
	items := q.body["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("job events of runtime gitlab-ee: %s", q.raw)
	}
	extra, _ := json.Marshal(items[0].(map[string]any)["extra"])
	if !strings.Contains(string(extra), `"pull":1.5`) || !strings.Contains(string(extra), `"queued":3`) {
		t.Errorf("job extra %s, want the per-stage pull and the unknown queued kept", extra)
	}
	q = call(t, a.query, request("GET", "kind=pipeline_result", ""))
	extra, _ = json.Marshal(q.body["items"].([]any)[0].(map[string]any)["extra"])
	if !strings.Contains(string(extra), `"runner":{"tags":["docker"]}`) || !strings.Contains(string(extra), `"all_e2e_jobs":["e2e"]`) {
		t.Errorf("pipeline extra %s, want runner and all_e2e_jobs kept", extra)
	}
}

func TestBadPipelineDocumentsNameEveryProblemAndStoreNothing(t *testing.T) {
	a := newPipelinesAPI(t)
	for _, tc := range []struct {
		name   string
		from   string // replaced in examplePipeline by to
		to     string
		fields []string // every field the 400 must name
	}{
		{"missing project", `"project": "test/project", `, ``, []string{"project"}},
		{"missing pipeline_id", `"pipeline_id": 1, `, ``, []string{"pipeline_id"}},
		{"negative duration", `"duration": 97`, `"duration": -1`, []string{"duration"}},
		{"job finished before it started", `"finished_at": "2023-06-13T14:13:01.293+07:00"`,
			`"finished_at": "2023-06-13T14:12:00+07:00"`, []string{"jobs[0].finished_at"}},
		{"failed job not in jobs", `"jobs_failed": []`, `"jobs_failed": [{"name": "lint", "duration": 3}]`, []string{"jobs_failed[0].name"}},
		{"failed job named by a string", `"jobs_failed": []`, `"jobs_failed": ["e2e", "deploy"]`, []string{"jobs_failed[1]"}},
		{"all at once", `"project": "test/project", "pipeline_id": 1, `, `"pipeline_id": null, `,
			[]string{"project", "pipeline_id"}},
		{"negative stage and build", `"up": 7`, `"up": -7, "pull": "5"`, []string{"jobs[0].up", "jobs[0].pull"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(examplePipeline, tc.from, tc.to, 1)
			if doc == examplePipeline {
				t.Fatalf("%q is not in the example", tc.from)
			}
			r := call(t, a.post, postPipeline("/pipelines", "", doc))
			if r.status != 400 {
				t.Fatalf("%d %s, want 400", r.status, r.raw)
			}
			var got []string
			for _, e := range r.body["errors"].([]any) {
				got = append(got, e.(map[string]any)["field"].(string))
			}
			detail := r.body["detail"].(string)
			for _, f := range tc.fields {
				if !slices.Contains(got, f) {
					t.Errorf("errors name %v, want %s among them: %s", got, f, r.raw)
				}
				if !strings.Contains(detail, f) {
					t.Errorf("detail %q does not name %s", detail, f)
				}
			}
		})
	}
	every := `{"pipeline_id": -3, "created_at": "yesterday", "duration": -1, "has_restarts": "no",
	  "jobs": [{"name": "e2e", "started_at": "2023-06-13T14:12:33Z", "finished_at": "2023-06-13T14:12:00Z", "duration": -2}],
	  "jobs_failed": ["lint"], "builds": [{"build-e2e": -64}]}`
	r := call(t, a.post, postPipeline("/pipelines", "", every))
	var got []string
	for _, e := range r.body["errors"].([]any) {
		got = append(got, e.(map[string]any)["field"].(string))
	}
	want := []string{"project", "pipeline_id", "created_at", "duration", "has_restarts",
		"jobs[0].duration", "jobs[0].finished_at", "jobs_failed[0]", "builds[0].build-e2e"}
	if r.status != 400 || !slices.Equal(got, want) {
		t.Errorf("%d, errors name %v, want %v: %s", r.status, got, want, r.raw)
	}
	if got := a.total(t); got != 0 {
		t.Fatalf("%v events stored after bad documents, want 0", got)
	}
}

func TestPipelineRunNotStoredWholeIsStoredByItsResend(t *testing.T) {
	run, err := telemetry.DecodePipelineRun([]byte(examplePipeline), "gitlab", testNow)
	if err != nil {
		t.Fatal(err)
	}
	// The job and the build can never be written, the pipeline_result always could.
	var refuse atomic.Bool
	refuse.Store(true)
	faults := &dynamotest.Faults{Unprocess: func(sk string, _ int) bool {
		return refuse.Load() && !strings.HasSuffix(sk, "#"+run.Events[0].ID)
	}}
	a := newAPI(t, func(db store.DynamoAPI) store.DynamoAPI {
		faults.DynamoAPI = db
		return faults
	})
	post := api.NewPipelines(a.deps)
	r := call(t, post, postPipeline("/pipelines", "", examplePipeline))
	if r.status != 503 || r.headers["Retry-After"] == "" || fmt.Sprint(r.body["not_stored"]) == "[]" {
		t.Fatalf("with the job and build refused: %d %s, want 503 naming what to resend", r.status, r.raw)
	}
	// They are named by their position among the run's events, as the README promises.
	want := fmt.Sprint([]any{map[string]any{"index": 1.0, "id": run.Events[1].ID}, map[string]any{"index": 2.0, "id": run.Events[2].ID}})
	if got := fmt.Sprint(r.body["not_stored"]); got != want {
		t.Errorf("not_stored %s, want %s", got, want)
	}
	if got := a.total(t); got != 0 {
		t.Fatalf("%v events stored; the run's jobs failed, so its pipeline_result must not be written", got)
	}
	refuse.Store(false)
	// Not 208: the run was never stored whole, so the resend stores it.
	if r := call(t, post, postPipeline("/pipelines", "", examplePipeline)); r.status != 200 || r.body["inserted"] != 3.0 {
		t.Fatalf("resend: %d %s, want 200 with 3 inserted", r.status, r.raw)
	}
}

// TestPipelineRunIsItsProjectAndIDAlone: created_at is part of an event's key, but not of
// the run's identity; a resend with another created_at (another day bucket too) is
// reported and writes nothing, while another pipeline_id is another run.
func TestPipelineRunIsItsProjectAndIDAlone(t *testing.T) {
	a := newPipelinesAPI(t)
	if r := call(t, a.post, postPipeline("/pipelines", "", examplePipeline)); r.status != 200 || r.body["inserted"] != 3.0 {
		t.Fatalf("first post: %d %s", r.status, r.raw)
	}
	before, itemsBefore := a.stored(t), a.tableItems(t)

	const created = `"created_at": "2023-06-13T14:11:24.029+07:00"`
	for _, tc := range []struct{ name, created string }{
		{"a later created_at", `"created_at": "2023-06-13T14:11:25.029+07:00"`},
		{"created_at on another day", `"created_at": "2023-06-20T09:00:00+00:00"`},
		{"the same instant at another offset", `"created_at": "2023-06-13T07:11:24.029Z"`},
	} {
		body := strings.Replace(examplePipeline, created, tc.created, 1)
		if body == examplePipeline {
			t.Fatalf("%s: the example has no %s to change", tc.name, created)
		}
		r := call(t, a.post, postPipeline("/save_metrics", "", body))
		if r.status != 208 || r.body["inserted"] != 0.0 || r.body["duplicates"] != 3.0 {
			t.Errorf("%s: %d %s, want 208 Already Reported, nothing inserted", tc.name, r.status, r.raw)
		}
	}
	if after, items := a.stored(t), a.tableItems(t); after != before || items != itemsBefore {
		t.Fatalf("storage changed after 208 answers: %d items, then %d\nbefore %s\nafter  %s", itemsBefore, items, before, after)
	}

	other := strings.Replace(examplePipeline, `"pipeline_id": 1`, `"pipeline_id": 2`, 1)
	if r := call(t, a.post, postPipeline("/pipelines", "", other)); r.status != 200 || r.body["inserted"] != 3.0 {
		t.Fatalf("another pipeline_id: %d %s, want 200 with 3 inserted", r.status, r.raw)
	}
	// Its three events and its marker; the day is registered already.
	if got, want := a.tableItems(t), itemsBefore+4; got != want {
		t.Errorf("%d items after another run, want %d", got, want)
	}
	if got := a.total(t); got != 6 {
		t.Errorf("%v events after two runs, want 6", got)
	}
}

// failingPut refuses PutItem, the run marker's write, while fail is set.
type failingPut struct {
	store.DynamoAPI
	fail atomic.Bool
}

func (f *failingPut) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if f.fail.Load() {
		return nil, &types.ProvisionedThroughputExceededException{Message: aws.String("injected throttling")}
	}
	return f.DynamoAPI.PutItem(ctx, in, opts...)
}

// TestPipelineRunUnmarkedIsMarkedByItsResend: every event stored but the marker not is
// answered "retry" (429 here, the store being throttled), since a later resend with another created_at would otherwise be stored twice; the
// resend finds every event, marks the run and reports it.
func TestPipelineRunUnmarkedIsMarkedByItsResend(t *testing.T) {
	puts := &failingPut{}
	puts.fail.Store(true)
	a := newAPI(t, func(db store.DynamoAPI) store.DynamoAPI {
		puts.DynamoAPI = db
		return puts
	})
	post := api.NewPipelines(a.deps)
	if r := call(t, post, postPipeline("/pipelines", "", examplePipeline)); r.status != 429 || r.headers["Retry-After"] == "" {
		t.Fatalf("with the marker refused: %d %s, want 429 with Retry-After", r.status, r.raw)
	}
	puts.fail.Store(false)
	if r := call(t, post, postPipeline("/pipelines", "", examplePipeline)); r.status != 208 || r.body["inserted"] != 0.0 {
		t.Fatalf("resend: %d %s, want 208: the run was stored whole before", r.status, r.raw)
	}
	items := a.tableItems(t)
	moved := strings.Replace(examplePipeline, "2023-06-13T14:11:24.029", "2023-06-13T14:11:30.000", 1)
	if r := call(t, post, postPipeline("/pipelines", "", moved)); r.status != 208 {
		t.Fatalf("resend with another created_at: %d %s, want 208", r.status, r.raw)
	}
	if got := a.tableItems(t); got != items || a.total(t) != 3 {
		t.Errorf("%d items (%v events) after the moved resend, want %d (3)", got, a.total(t), items)
	}
}

// exactQuantile is the nearest-rank percentile, the value at rank ⌈q·n⌉ (1-based) of the
// sorted values, which the sketch answers for; 0 for none.
func exactQuantile(values []float64, q float64) float64 {
	if len(values) == 0 {
		return 0
	}
	v := slices.Clone(values)
	slices.Sort(v)
	return v[min(max(int(math.Ceil(q*float64(len(v))))-1, 0), len(v)-1)]
}

// checkPipelineSummary checks a GET /pipelines/stats answer against the exact figures of
// the runs inRange (less those with restarts when excluded): the same count of runs and of
// each series, and every percentile within 1% of the exact nearest-rank one.
func checkPipelineSummary(t *testing.T, body string, runs []simulate.PipelineRun, inRange func(simulate.PipelineRun) bool, excluded bool) {
	t.Helper()
	series := map[string][]float64{}
	count := 0
	for _, r := range runs {
		if !inRange(r) || (excluded && r.HasRestarts) {
			continue
		}
		count++
		series["duration"] = append(series["duration"], r.Duration)
		series["duration_e2e"] = append(series["duration_e2e"], r.DurationE2E)
		series["duration_without_e2e"] = append(series["duration_without_e2e"], r.Duration-r.DurationE2E)
		for _, j := range r.Jobs {
			series["job "+j.Name] = append(series["job "+j.Name], j.Duration)
		}
	}
	var got struct {
		Pipelines int `json:"pipelines"`
		Jobs      []struct {
			JobName  string             `json:"job_name"`
			Duration map[string]float64 `json:"duration"`
		} `json:"jobs"`
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal([]byte(body), &raw)
	if got.Pipelines != count || count < 100 {
		t.Fatalf("pipelines %d, want %d (and enough to mean something)", got.Pipelines, count)
	}
	summaries := map[string]map[string]float64{}
	for _, name := range []string{"duration", "duration_e2e", "duration_without_e2e"} {
		var s map[string]float64
		if err := json.Unmarshal(raw[name], &s); err != nil {
			t.Fatalf("%s: %v in %s", name, err, body)
		}
		summaries[name] = s
	}
	for _, j := range got.Jobs {
		summaries["job "+j.JobName] = j.Duration
	}
	if len(summaries) != len(series) {
		t.Errorf("answer has series %v, want %d", slices.Sorted(maps.Keys(summaries)), len(series))
	}
	for name, values := range series {
		s := summaries[name]
		if int(s["count"]) != len(values) {
			t.Errorf("%s: count %v, want %d", name, s["count"], len(values))
		}
		for _, p := range []struct {
			key string
			q   float64
		}{{"p50", 0.5}, {"p80", 0.8}, {"p95", 0.95}, {"p99", 0.99}} {
			want := exactQuantile(values, p.q)
			if math.Abs(s[p.key]-want) > 0.01*want+1e-6 {
				t.Errorf("%s %s = %v, exact %v: off by more than 1%%", name, p.key, s[p.key], want)
			}
		}
	}
}
