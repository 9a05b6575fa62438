// Package bench is `make bench`: it starts its own in-memory DynamoDB Local, loads
// simulated KernelCI-shaped data, and measures what users of pipetel feel — ingest rate
// against the most DynamoDB Local takes, query and paging latency and cost, stats and
// anomalies as data grows, cold starts and the ingest function's memory — each beside its
// goal. Figures are compared as ratios measured in the same run, because the machines it
// runs on are shared and noisy and absolute times alone mean little.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/pipetel/pipetel/internal/dynamolocal"
	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// Sections of a run, in the order they run.
const (
	SectionIngest    = "ingest"
	SectionQuery     = "query"
	SectionPaging    = "paging"
	SectionStats     = "stats"
	SectionAnomalies = "anomalies"
	SectionPipelines = "pipelines"
	SectionColdStart = "cold_start"
	SectionMemory    = "memory"
	SectionHotKeys   = "hot_keys"
	SectionReads     = "reads"
	SectionRollup    = "rollup"
	SectionDashboard = "dashboard"
	SectionSnapshot  = "snapshot"
)

// Sections lists every section.
var Sections = []string{SectionIngest, SectionQuery, SectionPaging, SectionStats, SectionAnomalies, SectionPipelines, SectionColdStart, SectionMemory, SectionHotKeys, SectionReads, SectionRollup, SectionDashboard, SectionSnapshot}

// Options size a run. The defaults keep a whole run under ten minutes on two cores.
type Options struct {
	Seed           int64
	IngestEvents   int   // events per ingest measurement, ours and the ceiling's alike
	StoredEvents   int   // events in the window of the large data set (queries, stats)
	SmallEvents    int   // events in the window of the small data set (stats growth)
	PagingEvents   int   // events matching the paging filter
	PageLimit      int   // events per page when paging
	ClientWorkers  int   // POST /telemetry requests in flight
	CeilingWorkers []int // the ceiling is the best of these
	QuerySamples   int   // requests per query latency
	GrowthSamples  int   // requests per stats/anomalies latency
	ColdStarts     int   // cold starts per function
	MemoryBody     int   // bytes of the batch the memory figure ingests
	PipelineRuns   int   // pipeline runs posted, each way, by the pipelines figure
	// HotKeyEventsPerS and HotKeySeconds size the hot-key simulation (simulated time).
	HotKeyEventsPerS int
	HotKeySeconds    int
	Functions        []string
	Sections         []string // empty: all

	Go       string // the go command that builds the bootstraps
	BuildDir string // where they are built
	// EventsDir holds the sample invocation events (events/<function>.json).
	EventsDir string
	// Progress receives what a person watching wants to see while data loads.
	Progress io.Writer
	// Now is the clock data and windows are placed by; nil means time.Now.
	Now func() time.Time
}

// DefaultOptions are what `make bench` runs.
func DefaultOptions() Options {
	return Options{
		Seed:             1,
		IngestEvents:     20_000,
		StoredEvents:     100_000,
		SmallEvents:      10_000,
		PagingEvents:     5_000,
		PageLimit:        100,
		ClientWorkers:    4,
		CeilingWorkers:   []int{1, 2, 4, 8},
		QuerySamples:     20,
		GrowthSamples:    5,
		ColdStarts:       10,
		MemoryBody:       6_000_000,
		PipelineRuns:     400,
		HotKeyEventsPerS: 10_000,
		HotKeySeconds:    3600,
		Functions:        []string{"ingest", "query", "stats", "anomalies", "pipelines", "pipelinestats", "authorizer", "summary", "rollup"},
		Go:               "go",
		BuildDir:         ".cache/bench",
		EventsDir:        "events",
	}
}

// bench is the state of one run.
type bench struct {
	o        Options
	progress io.Writer
	endpoint string
	db       *dynamodb.Client
	tables   int
	now      time.Time

	// The large and small data sets, loaded once for the query, paging, stats and
	// anomalies sections.
	large, small string
	// token is the run's bearer token (ingest and read) in tokensTable.
	token string
	// windowStart is where the data sets' window begins: every stored event of either
	// set is at or after it, except the paging events, which are older.
	windowStart time.Time
}

// Run measures everything o asks for and returns the report. It stops what it started,
// DynamoDB Local and every bootstrap, before returning.
func Run(ctx context.Context, o Options) (r Report, err error) {
	started := time.Now()
	clock := o.Now
	if clock == nil {
		clock = time.Now
	}
	b := &bench{o: o, progress: o.Progress, now: clock().UTC()}
	if b.progress == nil {
		b.progress = io.Discard
	}
	r = Report{
		Date:    b.now.Format(time.RFC3339),
		Machine: machine(),
		Sizes: Sizes{
			Seed: o.Seed, IngestEvents: o.IngestEvents, StoredEvents: o.StoredEvents,
			SmallEvents: o.SmallEvents, PagingEvents: o.PagingEvents, ClientWorkers: o.ClientWorkers,
		},
		ColdStart: map[string]ColdStart{},
	}
	defer func() {
		r.Goals = r.goals()
		r.Seconds = round(time.Since(started).Seconds(), 1)
	}()

	want := func(s string) bool { return len(o.Sections) == 0 || slices.Contains(o.Sections, s) }
	// The hot-key simulation needs no database: it runs first, and alone if asked alone.
	if want(SectionHotKeys) {
		if r.HotKeys, err = b.hotKeys(ctx); err != nil {
			return r, fmt.Errorf("hot keys: %w", err)
		}
		if slices.Equal(o.Sections, []string{SectionHotKeys}) {
			return r, nil
		}
	}

	fmt.Fprintln(b.progress, "starting DynamoDB Local (in memory)")
	ddb, err := dynamolocal.Start(ctx, dynamolocal.Options{})
	if err != nil {
		return r, err
	}
	defer func() {
		if stopErr := ddb.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
	}()
	b.endpoint = ddb.Endpoint()
	b.db, err = store.NewClient(ctx, store.ClientOptions{Region: region, Endpoint: b.endpoint, MaxConns: 64})
	if err != nil {
		return r, err
	}

	if b.token, err = b.newToken(ctx); err != nil {
		return r, err
	}

	// The cold-start builds come first, so compiling never competes with a measurement.
	var builds map[string]bootstraps
	if want(SectionColdStart) || want(SectionMemory) {
		if builds, err = b.build(ctx, want(SectionColdStart)); err != nil {
			return r, err
		}
	}
	if want(SectionIngest) {
		if r.Ingest, err = b.ingest(ctx); err != nil {
			return r, fmt.Errorf("ingest: %w", err)
		}
	}
	// Stats, anomalies and summaries read rollups when deployed, so the data sets are
	// rolled up before any of them is measured.
	rolled := want(SectionStats) || want(SectionAnomalies) || want(SectionReads) || want(SectionRollup) || want(SectionDashboard)
	if want(SectionQuery) || want(SectionPaging) || rolled {
		if err := b.loadDataSets(ctx, rolled); err != nil {
			return r, fmt.Errorf("load data: %w", err)
		}
	}
	if rolled {
		if r.Rollup, err = b.rollupFigures(ctx); err != nil {
			return r, fmt.Errorf("rollup: %w", err)
		}
	}
	if want(SectionSnapshot) {
		if r.Snapshot, err = b.snapshotGrowth(ctx); err != nil {
			return r, fmt.Errorf("snapshot: %w", err)
		}
	}
	if want(SectionQuery) {
		if r.Query, err = b.query(ctx); err != nil {
			return r, fmt.Errorf("query: %w", err)
		}
	}
	if want(SectionPaging) {
		if r.Paging, err = b.paging(ctx); err != nil {
			return r, fmt.Errorf("paging: %w", err)
		}
	}
	if want(SectionStats) {
		if r.Stats, err = b.growth(ctx, "stats", b.statsRequest()); err != nil {
			return r, fmt.Errorf("stats: %w", err)
		}
	}
	if want(SectionAnomalies) {
		if r.Anomalies, err = b.growth(ctx, "anomalies", anomaliesRequest); err != nil {
			return r, fmt.Errorf("anomalies: %w", err)
		}
	}
	if want(SectionReads) {
		if r.Reads, err = b.reads(ctx); err != nil {
			return r, fmt.Errorf("reads: %w", err)
		}
	}
	if want(SectionDashboard) {
		if r.Dashboard, err = b.dashboard(ctx); err != nil {
			return r, fmt.Errorf("dashboard: %w", err)
		}
	}
	if want(SectionPipelines) {
		if r.Pipelines, err = b.pipelines(ctx); err != nil {
			return r, fmt.Errorf("pipelines: %w", err)
		}
	}
	if want(SectionColdStart) {
		if r.ColdStart, err = b.coldStarts(ctx, builds); err != nil {
			return r, fmt.Errorf("cold start: %w", err)
		}
		if r.Authorizer, err = b.authorizerCost(ctx, builds); err != nil {
			return r, fmt.Errorf("authorizer: %w", err)
		}
	}
	if want(SectionMemory) {
		if r.Memory, err = b.memory(ctx, builds["ingest"].host); err != nil {
			return r, fmt.Errorf("memory: %w", err)
		}
	}
	return r, nil
}

// section announces the start of a section.
func (b *bench) section(format string, args ...any) {
	fmt.Fprintf(b.progress, "\n== "+format+"\n", args...)
}

// generate is seed's simulated events with ts spread over [start, end), received now.
func (b *bench) generate(seed int64, n int, start, end time.Time) ([]telemetry.Event, error) {
	events, err := simulate.Generate(simulate.Options{Seed: seed, Events: n, Start: start, End: end})
	if err != nil {
		return nil, err
	}
	for i := range events {
		events[i].ReceivedAt = b.now
	}
	return events, nil
}

// machine describes this machine as well as it can without asking for privileges.
func machine() Machine {
	m := Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		for line := range strings.Lines(string(b)) {
			if _, err := fmt.Sscanf(line, "MemTotal: %g kB", &kb); err == nil {
				m.MemoryGB = round(kb/(1<<20), 1)
				break
			}
		}
	}
	m.Java = javaVersion()
	m.DynamoDBLocal = dynamoDBLocalVersion()
	return m
}
