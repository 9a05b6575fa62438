package telemetry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// KindPipelineResult is the kind of the event a whole pipeline run becomes: its duration
// and whether any of its jobs failed. Its jobs and builds become job_result and
// build_result events beside it.
const KindPipelineResult = "pipeline_result"

// DefaultPipelineRuntime is the runtime of pipeline runs when neither the deployment nor
// the request names the CI system: the pipeline-metrics-collector documents are GitLab's.
const DefaultPipelineRuntime = "gitlab"

// buildE2E is the name the pipeline-metrics-collector gives the one build of a document
// that has a "build" number but no "builds" list.
const buildE2E = "build-e2e"

// pipelineFields are the top-level fields of a pipeline-metrics-collector document
// (POST /save_metrics). Others are kept too, under extra, and named in the response.
var pipelineFields = []string{
	"project", "pipeline_id", "ref", "created_at", "duration", "duration_e2e", "has_restarts",
	"jobs", "jobs_failed", "build", "builds", "all_e2e_jobs",
}

// jobFields are the fields of one element of jobs the collector knows: its times, its
// duration and the per-stage durations it parses from the job's trace.
var jobFields = []string{"name", "started_at", "finished_at", "duration", "up", "e2e", "pull", "up_without_pull"}

// jobStageFields are jobFields holding seconds.
var jobStageFields = []string{"up", "e2e", "pull", "up_without_pull"}

// PipelineRun is one CI pipeline run of POST /pipelines, decoded and mapped to events.
type PipelineRun struct {
	Project    string
	PipelineID string // as text; GitLab sends a number
	// Events are what the run is stored as: the pipeline_result event first, then one
	// job_result per job and one build_result per build, in document order. All share the
	// run's created_at as ts, so a time range selects a run whole; the jobs' own times are
	// kept, as sent, under extra.
	Events []Event
	// UnknownFields names, as paths such as "jobs[0].lint", the fields the collector does
	// not define; their values are kept under the extra of the event they belong to.
	UnknownFields []string
}

// PipelineFacts are what GET /pipelines/stats needs of a pipeline_result or job_result
// event beyond its duration: the e2e part of the run's duration (pipeline_result only)
// and whether any job of the run was restarted.
type PipelineFacts struct {
	DurationE2E *float64 // seconds; nil when the document had none
	HasRestarts bool
}

// JobRunRestartsField is the member DecodePipelineRun adds to the extra of each
// job_result event of a run that has has_restarts true (and only then), so that a job
// says on its own whether its run restarted: the events of one run live in different
// shards and rollup rows, where no job can be joined to its run. A job that sent a field
// of that name keeps its own value.
const JobRunRestartsField = "pipeline_has_restarts"

// PipelineFactsOf reads the facts DecodePipelineRun keeps under the extra of a
// pipeline_result or job_result event. Missing or malformed values read as absent.
func PipelineFactsOf(e *Event) PipelineFacts {
	var facts PipelineFacts
	if len(e.Extra) == 0 {
		return facts
	}
	var extra struct {
		DurationE2E    json.Number `json:"duration_e2e"`
		HasRestarts    bool        `json:"has_restarts"`
		RunHasRestarts bool        `json:"pipeline_has_restarts"`
	}
	if err := json.Unmarshal(e.Extra, &extra); err != nil {
		return facts
	}
	facts.HasRestarts = extra.HasRestarts
	if e.Kind == KindJobResult {
		facts.HasRestarts = extra.RunHasRestarts
		return facts
	}
	if f, err := extra.DurationE2E.Float64(); err == nil && extra.DurationE2E != "" {
		facts.DurationE2E = &f
	}
	return facts
}

// DecodePipelineRun decodes and validates one pipeline-run document, the body of POST
// /pipelines and POST /save_metrics (the pipeline-metrics-collector's format), and maps it
// to events of runtime, received at now.
//
// Every problem is reported at once, as for events: an *Error with CodeInvalid whose
// Fields name each problem by its path in the document (Index -1), such as "project" or
// "jobs[1].finished_at"; a body over MaxBodyBytes is CodeTooLarge. Required: project,
// pipeline_id and created_at (the collector refuses a document without it, and it places
// the run in time); durations are seconds ≥ 0; a job may not finish before it started; a
// name in jobs_failed must be a job of the document.
//
// Ids are derived from (project, pipeline_id) and the job's or build's name and
// occurrence, never from the other fields, so a resent run, changed or not, has the same
// ids and keys as the first.
func DecodePipelineRun(body []byte, runtime string, now time.Time) (PipelineRun, error) {
	if len(body) > MaxBodyBytes {
		return PipelineRun{}, &Error{Code: CodeTooLarge, Message: fmt.Sprintf(
			"The body is larger than %d bytes (6 MB), the most one request can carry.", MaxBodyBytes)}
	}
	body = bytes.TrimPrefix(body, utf8BOM)
	if err := pipelineSyntax(body); err != nil {
		return PipelineRun{}, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	d := &runDecoder{now: now}
	run := d.decode(body, runtime)
	if len(d.errs) > 0 {
		problems := make([]string, len(d.errs))
		for i, fe := range d.errs {
			problems[i] = fe.Field + " " + fe.Message
		}
		// Not InvalidProblems: its capital letter would change the first field's name.
		return PipelineRun{}, &Error{Code: CodeInvalid, Fields: d.errs, Message: "The pipeline run was not stored: " +
			strings.Join(problems, "; ") + ". Fix the fields listed in errors and resend."}
	}
	return run, nil
}

// pipelineSyntax refuses a body that is not one JSON object, saying what it is instead.
func pipelineSyntax(body []byte) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return Invalidf("The body is empty; send one pipeline run as a JSON object.")
	}
	if !utf8.Valid(body) {
		return Invalidf("The body is not valid UTF-8 (the first bad byte is at offset %d); send the document as UTF-8 JSON.",
			firstInvalidUTF8(body))
	}
	var v json.RawMessage
	if err := json.Unmarshal(body, &v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			pos := max(int(syn.Offset)-1, 0)
			line, col := lineColumn(body, pos)
			return Invalidf("The body is not valid JSON: %s at line %d, column %d (byte offset %d).", syn.Error(), line, col, pos)
		}
		return Invalidf("The body is not valid JSON.")
	}
	if trimmed[0] != '{' {
		return Invalidf("The body is %s; send one pipeline run as a JSON object.", describeJSON(trimmed))
	}
	return nil
}

// runDecoder collects every problem of a document, each under its path.
type runDecoder struct {
	now     time.Time
	errs    []FieldError
	unknown []string
}

func (d *runDecoder) fail(path, format string, args ...any) {
	d.errs = append(d.errs, FieldError{Index: -1, Field: path, Message: fmt.Sprintf(format, args...)})
}

// object splits a JSON object into its members, reporting repeated names and text that
// is not a character. It returns nil, having reported why, for anything else.
func (d *runDecoder) object(path string, raw []byte) map[string]json.RawMessage {
	if raw[0] != '{' {
		d.fail(path, "must be a JSON object, not %s", describeJSON(raw))
		return nil
	}
	if p := textProblem(raw); p != "" {
		d.fail(path, "%s", p)
		return nil
	}
	members := map[string]json.RawMessage{}
	var dups []string
	ok := eachMember(raw, func(nameText, value []byte) {
		name := unquoteJSON(nameText)
		if _, seen := members[name]; seen && !slices.Contains(dups, name) {
			dups = append(dups, name)
		}
		members[name] = value
	})
	if !ok {
		d.fail(path, "is not a JSON object pipetel can read")
		return nil
	}
	for _, name := range dups {
		d.fail(join(path, name), "appears more than once; send each field once")
	}
	return members
}

// failed reports whether a problem was already found at path.
func (d *runDecoder) failed(path string) bool {
	return slices.ContainsFunc(d.errs, func(fe FieldError) bool { return fe.Field == path })
}

// required reports path as missing when an optional read of it gave nothing and found
// nothing wrong either: absent, null or empty.
func (d *runDecoder) required(path, value, what string) {
	if value == "" && !d.failed(path) {
		d.fail(path, "is required, %s", what)
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func present(raw json.RawMessage) bool { return raw != nil && string(raw) != "null" }

// text reads an optional string of at most limit characters; "" when absent.
func (d *runDecoder) text(path string, raw json.RawMessage, limit int) string {
	if !present(raw) {
		return ""
	}
	if raw[0] != '"' {
		d.fail(path, "must be a string, not %s", describeJSON(raw))
		return ""
	}
	s := unquoteJSON(raw)
	if n := utf8.RuneCountInString(s); n > limit {
		d.fail(path, "must be at most %d characters, not %d", limit, n)
		return ""
	}
	return s
}

// seconds reads an optional duration: a number of seconds from 0 to MaxDurationSeconds,
// rounded to microseconds as event durations are.
func (d *runDecoder) seconds(path string, raw json.RawMessage) *float64 {
	if !present(raw) {
		return nil
	}
	if !isJSONNumber(raw) {
		d.fail(path, "must be a number of seconds, not %s", describeJSON(raw))
		return nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	switch {
	case f < 0:
		d.fail(path, "must be 0 or more seconds, not %s", raw)
		return nil
	case err != nil || f > MaxDurationSeconds:
		d.fail(path, "must be at most %d seconds", int64(MaxDurationSeconds))
		return nil
	}
	f = math.Round(f*1e6) / 1e6
	if f == 0 {
		f = 0 // not -0
	}
	return &f
}

// instant reads an optional ISO 8601 time; the zero time when absent or invalid.
func (d *runDecoder) instant(path string, raw json.RawMessage) time.Time {
	if !present(raw) {
		return time.Time{}
	}
	if raw[0] != '"' {
		d.fail(path, "must be a string such as 2023-06-13T14:11:24.029+07:00, not %s", describeJSON(raw))
		return time.Time{}
	}
	t, err := ParseTime(unquoteJSON(raw))
	if err != nil {
		d.fail(path, "%s", err.Error())
		return time.Time{}
	}
	return t.Truncate(time.Microsecond)
}

func (d *runDecoder) array(path string, raw json.RawMessage) []json.RawMessage {
	if !present(raw) {
		return nil
	}
	var elems []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
		d.fail(path, "must be a JSON array, not %s", describeJSON(raw))
		return nil
	}
	for i := range elems {
		elems[i] = bytes.TrimLeft(elems[i], " \t\r\n")
	}
	return elems
}

// extra encodes the members of m not named in omit as an event's extra, values as sent,
// with the members of added that m does not have, and names those of m not in known as
// unknown fields under path.
func (d *runDecoder) extra(path string, m map[string]json.RawMessage, omit, known []string, added map[string]any) json.RawMessage {
	kept := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(known, name) {
			d.unknown = append(d.unknown, join(path, name))
		}
		if slices.Contains(omit, name) {
			continue
		}
		var v any
		if err := decodeJSONValue(m[name], &v); err != nil {
			d.fail(join(path, name), "could not be read")
			continue
		}
		kept[name] = v
	}
	for name, v := range added {
		if _, sent := m[name]; !sent {
			kept[name] = v
		}
	}
	if len(kept) == 0 {
		return nil
	}
	enc, err := encodeCompactJSON(kept)
	if err != nil {
		d.fail(path, "could not be encoded")
		return nil
	}
	if len(enc) > maxExtraBytes {
		where := path
		if where == "" {
			where = "the document"
		}
		d.fail(path, "has %d bytes of fields kept under the event's extra (as compact JSON), more than the %d allowed; send fewer or shorter fields in %s",
			len(enc), maxExtraBytes, where)
		return nil
	}
	return enc
}

func (d *runDecoder) decode(body []byte, runtime string) PipelineRun {
	doc := d.object("", bytes.TrimLeft(body, " \t\r\n"))
	if doc == nil {
		return PipelineRun{}
	}
	if runtime == "" {
		d.fail("runtime", "is empty; name the CI system, such as %s", DefaultPipelineRuntime)
	} else if n := utf8.RuneCountInString(runtime); n > maxNameLen {
		d.fail("runtime", "must be at most %d characters, not %d", maxNameLen, n)
	}
	var run PipelineRun
	run.Project = d.text("project", doc["project"], maxStringLen)
	d.required("project", run.Project, `the project's path such as "test/project"`)
	run.PipelineID = d.pipelineID(doc["pipeline_id"])
	ref := d.text("ref", doc["ref"], maxStringLen)
	created := d.instant("created_at", doc["created_at"])
	switch {
	case !present(doc["created_at"]):
		d.fail("created_at", "is required, the time the pipeline was created, such as 2023-06-13T14:11:24.029+07:00")
	case !created.IsZero() && created.After(d.now.Add(MaxFutureSkew)):
		d.fail("created_at", "is more than 24 hours in the future (the server's time is %s)", FormatTime(d.now))
	}
	duration := d.seconds("duration", doc["duration"])
	d.seconds("duration_e2e", doc["duration_e2e"])
	build := d.seconds("build", doc["build"])
	if raw := doc["has_restarts"]; present(raw) && string(raw) != "true" && string(raw) != "false" {
		d.fail("has_restarts", "must be true or false, not %s", describeJSON(raw))
	}

	base := Event{
		Runtime: runtime, TS: created, Tree: run.Project, Branch: ref, NodeID: run.PipelineID,
		ReceivedAt: d.now,
	}
	jobs, names := d.jobs(base, doc["jobs"], string(doc["has_restarts"]) == "true")
	failed := d.jobsFailed(doc["jobs_failed"], names)
	for i := range jobs {
		if failed[jobs[i].JobName] {
			jobs[i].Result = ResultFail
		}
	}
	builds := d.builds(base, doc["builds"], build, present(doc["builds"]))

	pipeline := base
	pipeline.Kind = KindPipelineResult
	pipeline.Duration = duration
	pipeline.Result = ResultPass
	if len(failed) > 0 {
		pipeline.Result = ResultFail
	}
	pipeline.Extra = d.extra("", doc, []string{"project", "pipeline_id", "ref", "duration", "jobs", "builds"}, pipelineFields, nil)
	if len(d.errs) > 0 {
		return PipelineRun{}
	}
	pipeline.ID = pipelineEventID(run.Project, run.PipelineID)
	run.Events = append(append([]Event{pipeline}, jobs...), builds...)
	slices.Sort(d.unknown)
	run.UnknownFields = d.unknown
	return run
}

// pipelineID reads pipeline_id: a whole number, as GitLab sends, or a string.
func (d *runDecoder) pipelineID(raw json.RawMessage) string {
	const path = "pipeline_id"
	switch {
	case !present(raw):
		d.fail(path, "is required, the pipeline's id such as 1")
		return ""
	case raw[0] == '"':
		s := d.text(path, raw, maxStringLen)
		if s == "" && unquoteJSON(raw) == "" {
			d.fail(path, "is empty; give the pipeline's id")
		}
		return s
	case isJSONNumber(raw):
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || f < 0 || f != math.Trunc(f) || f > 1<<53 {
			d.fail(path, "must be a whole number from 0 to 2^53 or a string, not %s", raw)
			return ""
		}
		return strconv.FormatInt(int64(f), 10)
	}
	d.fail(path, "must be a whole number or a string, not %s", describeJSON(raw))
	return ""
}

// jobs maps jobs to job_result events and returns them with the set of job names. A name
// that occurs again (a restarted job) counts its occurrences in retry.
// A job of a run with restarts gets JobRunRestartsField under its extra.
func (d *runDecoder) jobs(base Event, raw json.RawMessage, restarts bool) ([]Event, map[string]bool) {
	names := map[string]bool{}
	var out []Event
	seen := map[string]int{}
	for i, elem := range d.array("jobs", raw) {
		path := fmt.Sprintf("jobs[%d]", i)
		job := d.object(path, elem)
		if job == nil {
			continue
		}
		e := base
		e.Kind = KindJobResult
		e.Result = ResultPass
		e.JobName = d.text(join(path, "name"), job["name"], maxStringLen)
		d.required(join(path, "name"), e.JobName, "the job's name")
		e.Duration = d.seconds(join(path, "duration"), job["duration"])
		for _, stage := range jobStageFields {
			d.seconds(join(path, stage), job[stage])
		}
		started := d.instant(join(path, "started_at"), job["started_at"])
		finished := d.instant(join(path, "finished_at"), job["finished_at"])
		if !started.IsZero() && !finished.IsZero() && finished.Before(started) {
			d.fail(join(path, "finished_at"), "is before started_at (%s); a job cannot finish before it starts",
				FormatTime(started))
		}
		var added map[string]any
		if restarts {
			added = map[string]any{JobRunRestartsField: true}
		}
		e.Extra = d.extra(path, job, []string{"name", "duration"}, jobFields, added)
		if e.JobName == "" {
			continue
		}
		names[e.JobName] = true
		e.Retry = seen[e.JobName]
		seen[e.JobName]++
		e.ID = PipelineJobID(base.Tree, base.NodeID, e.JobName, e.Retry)
		out = append(out, e)
	}
	return out, names
}

// jobsFailed reads jobs_failed, names as strings or the collector's {"name", "duration"}
// objects, each of which must name a job of the document.
func (d *runDecoder) jobsFailed(raw json.RawMessage, jobs map[string]bool) map[string]bool {
	failed := map[string]bool{}
	for i, elem := range d.array("jobs_failed", raw) {
		path := fmt.Sprintf("jobs_failed[%d]", i)
		var name string
		switch elem[0] {
		case '"':
			name = d.text(path, elem, maxStringLen)
			d.required(path, name, "the name of a job in jobs")
		case '{':
			m := d.object(path, elem)
			if m == nil {
				continue
			}
			d.seconds(join(path, "duration"), m["duration"])
			path = join(path, "name")
			name = d.text(path, m["name"], maxStringLen)
			d.required(path, name, "the name of a job in jobs")
		default:
			d.fail(path, `must be a job's name or an object {"name": ..., "duration": ...}, not %s`, describeJSON(elem))
			continue
		}
		if name == "" {
			continue
		}
		if !jobs[name] {
			d.fail(path, "names job %q, which is not in jobs; a failed job must be one of the pipeline's jobs", name)
			continue
		}
		failed[name] = true
	}
	return failed
}

// builds maps builds, a list of {"<name>": <seconds>} objects, to build_result events;
// without the list, the collector stores the "build" number as one build named build-e2e.
func (d *runDecoder) builds(base Event, raw json.RawMessage, build *float64, listed bool) []Event {
	type named struct {
		name     string
		duration *float64
	}
	var all []named
	if !listed {
		if build != nil {
			all = append(all, named{buildE2E, build})
		}
	}
	for i, elem := range d.array("builds", raw) {
		path := fmt.Sprintf("builds[%d]", i)
		m := d.object(path, elem)
		if m == nil {
			continue
		}
		if len(m) == 0 {
			d.fail(path, `is empty; give each build as {"<name>": <seconds>}`)
		}
		for _, name := range slices.Sorted(maps.Keys(m)) {
			p := join(path, name)
			if name == "" || utf8.RuneCountInString(name) > maxStringLen {
				d.fail(p, "is not a build name of 1 to %d characters", maxStringLen)
				continue
			}
			all = append(all, named{name, d.seconds(p, m[name])})
		}
	}
	var out []Event
	seen := map[string]int{}
	for _, b := range all {
		e := base
		e.Kind = KindBuildResult
		e.JobName = b.name
		e.Duration = b.duration
		e.Retry = seen[b.name]
		seen[b.name]++
		e.ID = pipelineEventID(base.Tree, base.NodeID, KindBuildResult, b.name, strconv.Itoa(e.Retry))
		out = append(out, e)
	}
	return out
}

// pipelineEncoding opens every key pipelineEventID hashes; changing it changes every id
// and so breaks duplicate detection against runs stored before.
const pipelineEncoding = "pipetel-pipeline/1\n"

// pipelineEventID is the id of an event of run (project, pipelineID): 24 lowercase hex
// characters (shaped like KernelCI's ObjectId) of the SHA-256 of the length-prefixed
// parts, so no two different runs, jobs or builds share one.
// IsPipelineJob reports whether e is a job of a pipeline run posted to POST /pipelines:
// its id is the one the mapping derives from the run's project and pipeline_id and the
// job's name and retry, which a job_result from any other client (KernelCI's) does not
// carry. GET /pipelines/stats counts only these jobs.
func IsPipelineJob(e *Event) bool {
	return e.Kind == KindJobResult && e.ID == PipelineJobID(e.Tree, e.NodeID, e.JobName, e.Retry)
}

// PipelineJobID is the id of the job event of a pipeline run: project and pipelineID are
// the run's (the event's tree and node_id), retry counts the earlier jobs of that name.
func PipelineJobID(project, pipelineID, job string, retry int) string {
	return pipelineEventID(project, pipelineID, KindJobResult, job, strconv.Itoa(retry))
}

func pipelineEventID(project, pipelineID string, parts ...string) string {
	buf := []byte(pipelineEncoding)
	for _, p := range append([]string{project, pipelineID}, parts...) {
		buf = strconv.AppendInt(buf, int64(len(p)), 10)
		buf = append(buf, ' ')
		buf = append(buf, p...)
		buf = append(buf, '\n')
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:12])
}
