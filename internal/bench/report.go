package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Report is everything one run measured. Its JSON keys are a contract: scripts compare
// .local/bench.json across runs, so a key is added, never renamed.
type Report struct {
	Date      string               `json:"date"` // RFC 3339, when the run started
	Machine   Machine              `json:"machine"`
	Sizes     Sizes                `json:"sizes"`
	Ingest    Ingest               `json:"ingest"`
	Query     Query                `json:"query"`
	Paging    Paging               `json:"paging"`
	Stats     Growth               `json:"stats"`
	Anomalies Growth               `json:"anomalies"`
	Pipelines Pipelines            `json:"pipelines"`
	ColdStart map[string]ColdStart `json:"cold_start"` // by function name
	Memory    Memory               `json:"memory"`
	// Authorizer is what the authorizer adds to a request (measured with cold starts).
	Authorizer Authorizer `json:"authorizer"`
	// HotKeys is the hot-key simulation: the hottest key value of every table and index.
	HotKeys HotKeys `json:"hot_keys"`
	// Reads is what each read request costs in DynamoDB, against what it returns.
	Reads Reads `json:"reads"`
	// Rollup is the rollup job's throughput against a raw read of the same events.
	Rollup Rollup `json:"rollup"`
	// Snapshot is the summary snapshot's cost against the number of open anomalies.
	Snapshot SnapshotGrowth `json:"snapshot"`
	// Dashboard is the web dashboard's first view with data, in headless Chromium.
	Dashboard Dashboard `json:"dashboard"`
	Goals     []Goal    `json:"goals"`
	Seconds   float64   `json:"seconds"` // the whole run
}

// Machine says where the figures come from; they mean little without it.
type Machine struct {
	OS            string  `json:"os"`
	Arch          string  `json:"arch"`
	CPU           string  `json:"cpu"`
	CPUs          int     `json:"cpus"`
	MemoryGB      float64 `json:"memory_gb"`
	Go            string  `json:"go"`
	Java          string  `json:"java"`
	DynamoDBLocal string  `json:"dynamodb_local"`
}

// Sizes are the data sizes the run used.
type Sizes struct {
	Seed          int64 `json:"seed"`
	IngestEvents  int   `json:"ingest_events"`
	StoredEvents  int   `json:"stored_events"`
	SmallEvents   int   `json:"small_events"`
	PagingEvents  int   `json:"paging_events"`
	ClientWorkers int   `json:"client_workers"`
}

// Ingest compares POST /telemetry through the local gateway with the ceiling.
type Ingest struct {
	Batch50   IngestRun `json:"batch50"`
	Batch1000 IngestRun `json:"batch1000"`
	// Backfill1000 is batches of 1,000 whose events spread over 23 hours, as a backfill of
	// history sends them: each batch marks hundreds of rollup units, not one per shard.
	Backfill1000 IngestRun `json:"backfill1000"`
	// WithIDs1000 is Batch1000's events, each sent with its id: each batch of 25 then
	// claims its ids with one TransactWriteItems of conditional guard puts per probe of 50.
	WithIDs1000 IngestRun `json:"with_ids1000"`
	Ceiling     Ceiling   `json:"ceiling"`
}

// IngestRun is one batch size through the gateway.
type IngestRun struct {
	Events            int     `json:"events"`
	BatchSize         int     `json:"batch_size"`
	Workers           int     `json:"workers"`
	Seconds           float64 `json:"seconds"`
	EventsPerS        float64 `json:"events_per_s"`
	CeilingEventsPerS float64 `json:"ceiling_events_per_s"`
	Ratio             float64 `json:"ratio"` // ours / ceiling
	// ProbingRatio is ours / the ceiling that probes first (Ceiling.WithProbeEventsPerS):
	// how near ingest comes to its protocol's own limit. Goal ≥ 0.95 at batches of 1,000.
	ProbingRatio float64 `json:"ratio_to_probing"`
	// ProtocolRatio is ours / the ceiling that also puts each request's staleness marks
	// (Ceiling.ProtocolEventsPerS): the probe and the marks are both ingest's protocol since
	// the rollups, so this is how near ingest comes to all of it.
	ProtocolRatio float64 `json:"ratio_to_protocol"`
	Tries         int     `json:"tries"` // the best try counts, as for the ceiling
}

// Ceiling is the raw BatchWriteItem loop: the most the same DynamoDB Local takes.
type Ceiling struct {
	Events         int                `json:"events"`
	BestWorkers    int                `json:"best_workers"`
	EventsPerS     float64            `json:"events_per_s"`
	ByWorkers      map[string]float64 `json:"events_per_s_by_workers"`
	BatchWriteSize int                `json:"batch_write_size"`
	// WithProbe is the same raw loop at BestWorkers, each 100 items first probed for with
	// a BatchGetItem of their keys, as the store does: what ingest could reach with its
	// protocol and no other overhead.
	WithProbeEventsPerS float64 `json:"with_probe_events_per_s"`
	WithProbeRatio      float64 `json:"with_probe_ratio"`
	// Protocol is the probing loop that also puts, after each request's 1,000 items, the
	// staleness marks ingest puts for them (captured from the store, 25 to a call).
	ProtocolEventsPerS float64 `json:"protocol_events_per_s"`
	ProtocolRatio      float64 `json:"protocol_ratio"`
}

// Query is the latency of GET /telemetry for the newest page.
type Query struct {
	StoredEvents int     `json:"stored_events"`
	Indexed      Latency `json:"indexed_runtime"`
	NonIndexed   Latency `json:"non_indexed_test_name"`
	// Ratio is the non-indexed p50 over the indexed p50.
	Ratio float64 `json:"non_indexed_to_indexed_p50_ratio"`
}

// Latency is one request repeated.
type Latency struct {
	Request          string  `json:"request"`
	Samples          int     `json:"samples"`
	Matching         int     `json:"matching_events"` // the answer's total
	MatchingExact    bool    `json:"matching_exact"`  // false: total is a lower bound
	P50Ms            float64 `json:"p50_ms"`
	P95Ms            float64 `json:"p95_ms"`
	ItemsReadPerCall float64 `json:"items_read_per_request"`
}

// Paging is a full offset pagination against a full cursor pagination of one filter.
type Paging struct {
	Request  string    `json:"request"`
	Matching int       `json:"matching_events"`
	Limit    int       `json:"limit"`
	Offset   PagingRun `json:"offset"`
	Cursor   PagingRun `json:"cursor"`
	// Ratios of offset paging's cost to cursor paging's over the whole pagination.
	TimeRatio  float64 `json:"offset_to_cursor_time_ratio"`
	ItemsRatio float64 `json:"offset_to_cursor_items_ratio"`
}

// PagingRun is one way of paging through every matching event.
type PagingRun struct {
	Pages     int     `json:"pages"`
	Events    int     `json:"events"`
	TotalMs   float64 `json:"total_ms"`
	ItemsRead int     `json:"items_read"`
	// FirstPage is the first page alone: for the cursor it also counts the total.
	FirstPage PageCost `json:"first_page"`
	First10   PageCost `json:"pages_2_to_11"`
	Last10    PageCost `json:"last_10_pages"`
	// Growth is items read per page in the last ten pages over pages 2–11: about 1 when
	// the cost of a page does not depend on how deep it is.
	Growth float64 `json:"last_to_first_items_ratio"`
}

// PageCost is the mean cost of one page over a run of pages.
type PageCost struct {
	ItemsReadPerPage float64 `json:"items_read_per_page"`
	MsPerPage        float64 `json:"ms_per_page"`
}

// Growth is one request timed over a small and a large data set with the same window.
type Growth struct {
	Request string        `json:"request"`
	Small   WindowLatency `json:"small"`
	Large   WindowLatency `json:"large"`
	Ratio   float64       `json:"growth_ratio"`   // large p50 / small p50
	Per10x  float64       `json:"growth_per_10x"` // the same, per tenfold events
	// Rollups is inferred from what the handler read: a request served from rollups
	// reads far fewer raw events than its window holds.
	Rollups bool `json:"served_from_rollups"`
}

// Pipelines compares POST /pipelines with POST /telemetry of the same events, one run
// per request either way, and GET /pipelines/stats with GET /telemetry/stats over them.
type Pipelines struct {
	Runs                int     `json:"runs"`
	Events              int     `json:"events"` // what the runs became
	Workers             int     `json:"workers"`
	Tries               int     `json:"tries"` // the best try counts, each way
	RunsPerS            float64 `json:"runs_per_s"`
	EventsPerS          float64 `json:"events_per_s"`
	TelemetryEventsPerS float64 `json:"telemetry_events_per_s"`
	Ratio               float64 `json:"ratio"` // POST /pipelines / POST /telemetry, events/s
	StatsRequest        string  `json:"stats_request"`
	StatsP50Ms          float64 `json:"stats_p50_ms"`
	TelemetryStatsP50Ms float64 `json:"telemetry_stats_p50_ms"` // GET /telemetry/stats?group_by=tree,kind
	StatsRatio          float64 `json:"stats_ratio"`            // the two p50s
	StatsEventsRead     int     `json:"stats_events_read_per_request"`
}

// WindowLatency is a request's latency with a given number of events in its window.
type WindowLatency struct {
	Events     int     `json:"events"`
	Samples    int     `json:"samples"`
	P50Ms      float64 `json:"p50_ms"`
	P95Ms      float64 `json:"p95_ms"`
	EventsRead int     `json:"events_read_per_request"`
}

// maxBootstrapBytes is the size goal of a deployable bootstrap, 8 MB (10⁶ bytes each),
// judged on the exact size: the two-decimal MB figure rounds 8,004,999 bytes to 8.00.
const maxBootstrapBytes = 8_000_000

// ColdStart is one function's deployable size and cold start.
type ColdStart struct {
	BootstrapBytes  int64   `json:"bootstrap_bytes"`
	BootstrapMB     float64 `json:"bootstrap_mb"`
	Runs            int     `json:"runs"`
	FirstResponseMs float64 `json:"first_response_ms"` // median
	MinMs           float64 `json:"first_response_min_ms"`
	MaxMs           float64 `json:"first_response_max_ms"`
	InitMs          float64 `json:"init_ms"` // median: exec to first request for an event
	Status          int     `json:"status"`  // of the sample event's answer
	// RatioToHello is the first response over the hello-world baseline's in the same
	// run (cold_start.hello); InitRatioToHello the same of init.
	RatioToHello     float64 `json:"first_response_to_hello"`
	InitRatioToHello float64 `json:"init_to_hello"`
	// Calls are the DynamoDB requests of the function's first invocation, captured in a
	// cold start of its own before the measured ones, and Rounds how many times it waited
	// on them (bench.callRounds): machine-independent counts of what a first response
	// must wait on.
	Calls  int `json:"first_invocation_calls"`
	Rounds int `json:"first_invocation_rounds"`
	// FloorMs is the median first response of the replay bootstrap (testdata/replay)
	// sending those very requests in those rounds and doing nothing else, measured in
	// turn with the function; FloorToHello is it over hello-world's, the least any code
	// making those reads scores against the goal on this emulator, and RatioToFloor the
	// function's first response over it: what the function's own code adds.
	FloorMs      float64 `json:"reads_replayed_ms"`
	FloorToHello float64 `json:"reads_replayed_to_hello"`
	RatioToFloor float64 `json:"first_response_to_reads_replayed"`
}

// Authorizer is the cost of the token check per request, warm, under the emulator: a
// request whose Authorization value API Gateway has not cached waits for one authorizer
// invocation (a GetItem on the tokens table) before the route's function runs; a cached
// one waits for nothing. Ratio compares it with the query function's warm answer to its
// sample event, measured in turn with it.
type Authorizer struct {
	Samples      int     `json:"samples"`
	WarmP50Ms    float64 `json:"warm_p50_ms"`
	WarmP95Ms    float64 `json:"warm_p95_ms"`
	QueryP50Ms   float64 `json:"query_warm_p50_ms"`
	RatioToQuery float64 `json:"ratio_to_query"`
}

// Memory is the ingest function's peak resident memory on the largest batch allowed.
type Memory struct {
	PeakRSSMB  float64 `json:"ingest_6mb_peak_rss_mb"`
	BodyBytes  int     `json:"body_bytes"`
	Events     int     `json:"events"`
	Inserted   int     `json:"inserted"`
	Status     int     `json:"status"`
	Source     string  `json:"source"` // where the figure was read: VmHWM or rusage
	DurationMs float64 `json:"duration_ms"`
}

// HotKeys is the hot-key simulation: simulated traffic at EventsPerS for
// SimulatedSeconds (crossing midnight UTC), each write counted at the key value the store
// writes it to, with the shard counts a deployment has by default.
type HotKeys struct {
	EventsPerS       int              `json:"events_per_s"`
	SimulatedSeconds int              `json:"simulated_seconds"`
	Start            string           `json:"simulated_start"` // RFC 3339
	EventShards      int              `json:"event_shards"`
	RuntimeShards    int              `json:"runtime_shards"`
	KindShards       int              `json:"kind_shards"`
	GoalWritesPerS   int              `json:"goal_writes_per_s"` // per key value, every second
	Scenarios        []HotKeyScenario `json:"scenarios"`
	Met              bool             `json:"met"` // every key of every scenario
}

// HotKeyScenario is one kind of traffic.
type HotKeyScenario struct {
	Name      string   `json:"name"` // realistic, worst_case
	Traffic   string   `json:"traffic"`
	Events    int64    `json:"events"`
	Requests  int64    `json:"requests"`
	Instances int      `json:"ingest_instances"` // warm ingest functions sharing the requests
	Seconds   float64  `json:"seconds"`          // real time the simulation took
	Keys      []HotKey `json:"keys"`             // one per table, index or item kind
}

// HotKey is the hottest key value of one target: the most writes it took in one
// simulated second, and the highest mean rate any key value of the target had.
type HotKey struct {
	Target         string  `json:"target"`
	Key            string  `json:"key"`
	PeakWritesPerS int     `json:"peak_writes_per_s"`
	PeakAt         string  `json:"peak_at"` // the simulated second, RFC 3339
	MeanKey        string  `json:"mean_key"`
	MeanWritesPerS float64 `json:"mean_writes_per_s"`
	Writes         int64   `json:"writes"` // to the whole target, in the simulation
	Goal           string  `json:"goal"`
	Met            bool    `json:"met"`
}

// Reads is the cost of each read request over the large data set, rolled up, as
// DynamoDB reports it (ReturnConsumedCapacity on every read the store makes).
type Reads struct {
	StoredEvents int        `json:"stored_events"`
	Shards       int        `json:"event_shards"`
	Goal         string     `json:"goal"`
	Requests     []ReadCost `json:"requests"`
	// NewestGoalItems is the most items a newest-50 page may read: 2 × shards × limit.
	NewestGoalItems int `json:"newest_50_goal_items"`
	// Live is stats by runtime and anomalies again under steady traffic at the data set's
	// rate, where Requests see quiet edges (no goal: what exact edges cost).
	Live LiveReads `json:"live_edges"`
}

// LiveReads is what a refresh of the last 24 hours reads when 5 minutes of traffic
// lie in the window's two partial buckets, the newest not rolled up yet.
type LiveReads struct {
	EventsPerMinute float64    `json:"events_per_minute"` // the data set's rate
	EdgeEvents      int        `json:"edge_events"`       // put in the two partial buckets
	Requests        []ReadCost `json:"requests"`
}

// ReadCost is one request's cost, per request (the mean of Samples).
type ReadCost struct {
	Request   string  `json:"request"`
	Samples   int     `json:"samples"`
	Returned  int     `json:"items_returned"` // rows of the answer (a page's items, a report's rows)
	Calls     float64 `json:"dynamodb_calls"`
	ItemsRead float64 `json:"items_read"` // items DynamoDB examined (a Query's ScannedCount)
	ReadUnits float64 `json:"read_capacity_units"`
	Ratio     float64 `json:"items_read_per_item_returned"`
	Met       bool    `json:"met"`
	P50Ms     float64 `json:"p50_ms"`
}

// Rollup is the rollup job's throughput, measured on SmallEvents events of one hour
// against a raw read (EachEvent) of the same events in the same run, and on the large
// data set, whose 23 hours of events are sparse (a unit of 5 minutes × 1 shard holds a
// few events), so that its per-unit cost shows.
type Rollup struct {
	Events        int     `json:"events"`
	Units         int     `json:"units"`
	Runs          int     `json:"runs"`
	Seconds       float64 `json:"seconds"`
	EventsPerS    float64 `json:"events_per_s"`
	RawEvents     int     `json:"raw_events"`
	RawSeconds    float64 `json:"raw_seconds"`
	RawEventsPerS float64 `json:"raw_events_per_s"`
	// CostRatio is the raw read's events/s over the rollup's: what rolling up an event
	// costs in raw reads of it.
	CostRatio       float64 `json:"rollup_cost_in_raw_reads"`
	LargeEvents     int     `json:"large_events"`
	LargeUnits      int     `json:"large_units"`
	LargeSeconds    float64 `json:"large_seconds"`
	LargeEventsPerS float64 `json:"large_events_per_s"`
	// The rollup run over the small data set once nothing is stale, so that a run is its
	// summary snapshot alone, median of SnapshotSamples runs each: with KernelCI's rules
	// and health only; with baselines and silence too; and with those, error signatures
	// and flaky tests recomputed (as the run every 10 minutes does; the others carry
	// flaky tests over). SnapshotAllRatio is the last over the first.
	SnapshotSamples    int     `json:"snapshot_samples"`
	SnapshotBareMs     float64 `json:"snapshot_bare_ms"`
	SnapshotBaselineMs float64 `json:"snapshot_baseline_ms"`
	SnapshotAllMs      float64 `json:"snapshot_all_ms"`
	SnapshotAllRatio   float64 `json:"snapshot_all_over_bare"`
	// Raw events the analyses read in the last of those runs (each within its bound).
	SignatureEventsRead int `json:"signature_events_read"`
	FlakyEventsRead     int `json:"flaky_events_read"`
}

// SnapshotGrowth is a rollup run with nothing to roll up (its summary snapshot alone),
// median of Samples runs, over a table with SmallOpen open anomalies and one with about
// ten times as many, LargeOpen. IdleRatio is the second's time over the first's; the goal
// is that it grow at most as the anomalies do (OpenRatio), i.e. linearly.
type SnapshotGrowth struct {
	Samples     int     `json:"samples"`
	SmallOpen   int     `json:"small_open_anomalies"`
	LargeOpen   int     `json:"large_open_anomalies"`
	OpenRatio   float64 `json:"open_anomalies_ratio"`
	SmallIdleMs float64 `json:"small_idle_ms"`
	LargeIdleMs float64 `json:"large_idle_ms"`
	IdleRatio   float64 `json:"idle_ratio"`
	Met         bool    `json:"met"`
}

// Goal is one target the issue sets, beside what was measured.
type Goal struct {
	Name     string  `json:"name"`
	Measured float64 `json:"measured"`
	Unit     string  `json:"unit"`
	Target   string  `json:"target"`
	Met      bool    `json:"met"`
}

// goals judges r against the goals. A goal whose figure was not measured in
// this run (its section skipped) is left out rather than reported as missed.
func (r *Report) goals() []Goal {
	var gs []Goal
	add := func(name string, v float64, unit, target string, met bool) {
		gs = append(gs, Goal{Name: name, Measured: round(v, 3), Unit: unit, Target: target, Met: met})
	}
	if r.Ingest.Batch1000.Events > 0 && r.Ingest.Ceiling.EventsPerS > 0 {
		add("ingest ratio at batch 1000", r.Ingest.Batch1000.Ratio, "× ceiling", "≥ 0.9", r.Ingest.Batch1000.Ratio >= 0.9)
		if r.Ingest.Ceiling.WithProbeEventsPerS > 0 {
			add("ingest ratio at batch 1000 to the probing ceiling", r.Ingest.Batch1000.ProbingRatio, "× probing ceiling", "≥ 0.95", r.Ingest.Batch1000.ProbingRatio >= 0.95)
		}
	}
	if r.Paging.Cursor.Pages > 0 {
		add("cursor paging: page cost, last 10 / first 10", r.Paging.Cursor.Growth, "×", "≤ 1.1 (linear in pages)", r.Paging.Cursor.Growth <= 1.1)
	}
	if r.Stats.Small.Samples > 0 && r.Stats.Large.Samples > 0 {
		add("stats growth per 10× events", r.Stats.Per10x, "×", "≤ 1.1", r.Stats.Per10x <= 1.1)
	}
	if r.Anomalies.Small.Samples > 0 && r.Anomalies.Large.Samples > 0 {
		add("anomalies growth per 10× events", r.Anomalies.Per10x, "×", "≤ 1.1", r.Anomalies.Per10x <= 1.1)
	}
	if sg := r.Snapshot; sg.Samples > 0 {
		add("snapshot time at ~10× open anomalies", sg.IdleRatio, "×", fmt.Sprintf("≤ %.2f (the anomalies' ratio: linear)", sg.OpenRatio), sg.Met)
	}
	for _, fn := range sortedKeys(r.ColdStart) {
		c := r.ColdStart[fn]
		if fn == helloFunction {
			continue // the baseline
		}
		if c.BootstrapBytes > 0 {
			add(fn+" bootstrap (arm64, stripped)", c.BootstrapMB, "MB", "≤ 8", c.BootstrapBytes <= maxBootstrapBytes)
		}
		if c.Runs > 0 && c.RatioToHello > 0 {
			add(fn+" first response / hello-world's", c.RatioToHello, "×", "≤ 2", c.RatioToHello <= coldStartGoal)
		}
	}
	for _, rc := range r.Reads.Requests {
		add("reads of "+rc.Request, rc.Ratio, "× items returned", "≤ 5", rc.Met)
		if isNewest50(rc.Request) {
			add("newest-50 items read, "+rc.Request, rc.ItemsRead, "items", fmt.Sprintf("≤ %d (2 × shards × limit)", r.Reads.NewestGoalItems),
				rc.ItemsRead <= float64(r.Reads.NewestGoalItems))
		}
	}
	for _, sc := range r.HotKeys.Scenarios {
		for _, k := range sc.Keys {
			add("hot key, "+sc.Name+", "+k.Target, float64(k.PeakWritesPerS), "writes/s", k.Goal, k.Met)
		}
	}
	for _, d := range r.Dashboard.Runs {
		add(fmt.Sprintf("dashboard first view with data, %s data set", d.DataSet), d.FirstDataMs, "ms", fmt.Sprintf("≤ %d", firstViewGoalMs), firstViewMet(d.FirstDataMs))
	}
	if r.Memory.PeakRSSMB > 0 {
		add("ingest of a 6 MB batch, peak RSS", r.Memory.PeakRSSMB, "MB", "≤ 64", r.Memory.PeakRSSMB <= 64)
	}
	return gs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// WriteJSON writes r as .local/bench.json holds it.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // requests hold & and read better as they were sent
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable prints r for a person: every figure with its ratio, then the goals.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cols ...string) { fmt.Fprintln(tw, strings.Join(cols, "\t")) }
	m := r.Machine
	fmt.Fprintf(w, "pipetel bench %s — %s/%s, %d CPUs (%s), %.0f GB, %s, DynamoDB Local %s\n\n",
		r.Date, m.OS, m.Arch, m.CPUs, m.CPU, m.MemoryGB, m.Go, m.DynamoDBLocal)
	row("FIGURE", "VALUE", "RATIO", "GOAL", "MET")

	if in := r.Ingest; in.Ceiling.Events > 0 || in.Batch50.Events > 0 {
		c := in.Ceiling
		row(fmt.Sprintf("ingest ceiling: raw BatchWriteItem×%d, best of %s workers (%d)", c.BatchWriteSize, workerList(c.ByWorkers), c.BestWorkers),
			fmt.Sprintf("%.0f events/s", c.EventsPerS), "1", "", "")
		if c.WithProbeEventsPerS > 0 {
			row(fmt.Sprintf("  the same, probing each 100 keys first (BatchGetItem), %d workers", c.BestWorkers),
				fmt.Sprintf("%.0f events/s", c.WithProbeEventsPerS), fmt.Sprintf("%.2f", c.WithProbeRatio), "", "")
		}
		if c.ProtocolEventsPerS > 0 {
			row("  the same, and each 1,000's staleness marks put after them (the whole protocol)",
				fmt.Sprintf("%.0f events/s", c.ProtocolEventsPerS), fmt.Sprintf("%.2f", c.ProtocolRatio), "", "")
		}
		for _, run := range []IngestRun{in.Batch50, in.Batch1000} {
			if run.Events == 0 {
				continue
			}
			goal, met := "", ""
			if run.BatchSize == 1000 {
				goal, met = "≥ 0.9", yesNo(run.Ratio >= 0.9)
			}
			row(fmt.Sprintf("ingest HTTP, batches of %d, %d clients (%d events)", run.BatchSize, run.Workers, run.Events),
				fmt.Sprintf("%.0f events/s", run.EventsPerS), fmt.Sprintf("%.2f", run.Ratio), goal, met)
			if run.BatchSize == 1000 && c.WithProbeEventsPerS > 0 {
				row("  the same, against the probing ceiling", "", fmt.Sprintf("%.2f", run.ProbingRatio), "≥ 0.95", yesNo(run.ProbingRatio >= 0.95))
			}
			if run.BatchSize == 1000 && c.ProtocolEventsPerS > 0 {
				row("  the same, against the whole protocol's ceiling", "", fmt.Sprintf("%.2f", run.ProtocolRatio), "", "")
			}
		}
		if run := in.WithIDs1000; run.Events > 0 {
			row(fmt.Sprintf("ingest HTTP, batches of %d, every event with its id (guards claimed in a transaction per 50), %d clients", run.BatchSize, run.Workers),
				fmt.Sprintf("%.0f events/s", run.EventsPerS), fmt.Sprintf("%.2f (%.2f of probing)", run.Ratio, run.ProbingRatio), "", "")
		}
		if run := in.Backfill1000; run.Events > 0 {
			row(fmt.Sprintf("ingest HTTP, batches of %d spread over 23 h (a backfill), %d clients", run.BatchSize, run.Workers),
				fmt.Sprintf("%.0f events/s", run.EventsPerS), fmt.Sprintf("%.2f (%.2f of probing)", run.Ratio, run.ProbingRatio), "", "")
		}
	}
	if q := r.Query; q.Indexed.Samples > 0 {
		for _, l := range []Latency{q.Indexed, q.NonIndexed} {
			atLeast := ""
			if !l.MatchingExact {
				atLeast = "≥ "
			}
			row(fmt.Sprintf("query %s (%d stored, %s%d match)", l.Request, q.StoredEvents, atLeast, l.Matching),
				fmt.Sprintf("p50 %.1f ms, p95 %.1f ms, %.0f items read", l.P50Ms, l.P95Ms, l.ItemsReadPerCall), "", "", "")
		}
		row("  non-indexed / indexed p50", "", fmt.Sprintf("%.2f", q.Ratio), "", "")
	}
	if p := r.Paging; p.Cursor.Pages > 0 || p.Offset.Pages > 0 {
		for _, run := range []struct {
			name string
			p    PagingRun
		}{{"offset", p.Offset}, {"cursor", p.Cursor}} {
			goal, met := "", ""
			if run.name == "cursor" {
				goal, met = "≤ 1.1", yesNo(run.p.Growth <= 1.1)
			}
			row(fmt.Sprintf("paging %s, %d×%d over %d events", run.name, run.p.Pages, p.Limit, p.Matching),
				fmt.Sprintf("%.0f ms, %d items read", run.p.TotalMs, run.p.ItemsRead), "", "", "")
			row(fmt.Sprintf("  %s: items read/page, first page; pages 2–11 → last 10", run.name),
				fmt.Sprintf("%.0f; %.0f → %.0f (%.1f → %.1f ms)", run.p.FirstPage.ItemsReadPerPage, run.p.First10.ItemsReadPerPage, run.p.Last10.ItemsReadPerPage, run.p.First10.MsPerPage, run.p.Last10.MsPerPage),
				fmt.Sprintf("%.2f", run.p.Growth), goal, met)
		}
		row("  offset / cursor, whole pagination", "", fmt.Sprintf("time %.2f, items %.2f", p.TimeRatio, p.ItemsRatio), "", "")
	}
	for _, g := range []struct {
		name string
		g    Growth
	}{{"stats", r.Stats}, {"anomalies", r.Anomalies}} {
		if g.g.Small.Samples == 0 {
			continue
		}
		for _, l := range []WindowLatency{g.g.Small, g.g.Large} {
			row(fmt.Sprintf("%s, %d events in window", g.name, l.Events),
				fmt.Sprintf("p50 %.0f ms, p95 %.0f ms", l.P50Ms, l.P95Ms), "", "", "")
		}
		source := "from rollups"
		if !g.g.Rollups {
			source = fmt.Sprintf("reads every event: %d per request", g.g.Large.EventsRead)
		}
		row(fmt.Sprintf("  %s growth, %d → %d events (%s)", g.name, g.g.Small.Events, g.g.Large.Events, source), "",
			fmt.Sprintf("%.2f (%.2f per 10×)", g.g.Ratio, g.g.Per10x), "≤ 1.1 per 10×", yesNo(g.g.Per10x <= 1.1))
	}
	if p := r.Pipelines; p.Runs > 0 {
		row(fmt.Sprintf("POST /telemetry, one run's events per request, %d clients (%d events)", p.Workers, p.Events),
			fmt.Sprintf("%.0f events/s", p.TelemetryEventsPerS), "1", "", "")
		row(fmt.Sprintf("  POST /pipelines, one run per request (%d runs)", p.Runs),
			fmt.Sprintf("%.0f events/s, %.0f runs/s", p.EventsPerS, p.RunsPerS), fmt.Sprintf("%.2f", p.Ratio), "", "")
		row(fmt.Sprintf("%s (%d runs, reads %d events)", p.StatsRequest, p.Runs, p.StatsEventsRead),
			fmt.Sprintf("p50 %.0f ms (telemetry/stats by tree,kind: %.0f ms)", p.StatsP50Ms, p.TelemetryStatsP50Ms), fmt.Sprintf("%.2f", p.StatsRatio), "", "")
	}
	for _, fn := range sortedKeys(r.ColdStart) {
		c := r.ColdStart[fn]
		if c.BootstrapBytes > 0 {
			row(fmt.Sprintf("%s bootstrap, linux/arm64 stripped", fn), fmt.Sprintf("%.2f MB (%d bytes)", c.BootstrapMB, c.BootstrapBytes), "", "≤ 8 MB", yesNo(c.BootstrapBytes <= maxBootstrapBytes))
		}
		if c.Runs > 0 {
			goal, met := "≤ 2× hello", yesNo(c.RatioToHello <= coldStartGoal)
			if fn == helloFunction {
				goal, met = "", ""
			}
			row(fmt.Sprintf("%s first response, median of %d (status %d)", fn, c.Runs, c.Status),
				fmt.Sprintf("%.1f ms (init %.1f, %.2f× hello's; range %.1f–%.1f)", c.FirstResponseMs, c.InitMs, c.InitRatioToHello, c.MinMs, c.MaxMs),
				fmt.Sprintf("%.2f× hello", c.RatioToHello), goal, met)
		}
		if c.FloorMs > 0 {
			row(fmt.Sprintf("  its %d DynamoDB calls in %d rounds, replayed alone", c.Calls, c.Rounds),
				fmt.Sprintf("%.1f ms (%.2f× hello: the least these reads allow)", c.FloorMs, c.FloorToHello),
				fmt.Sprintf("first response %.2f× these", c.RatioToFloor), "", "")
		}
	}
	if a := r.Authorizer; a.Samples > 0 {
		row(fmt.Sprintf("authorizer, warm, per uncached request (%d samples)", a.Samples),
			fmt.Sprintf("p50 %.1f ms, p95 %.1f ms", a.WarmP50Ms, a.WarmP95Ms),
			fmt.Sprintf("%.2f of a warm query (%.1f ms)", a.RatioToQuery, a.QueryP50Ms), "", "")
	}
	for _, sc := range r.HotKeys.Scenarios {
		h := r.HotKeys
		row(fmt.Sprintf("hot keys, %s: %d events/s, %d simulated s from %s, %d requests, shards %d/%d/%d",
			sc.Name, h.EventsPerS, h.SimulatedSeconds, h.Start, sc.Requests, h.EventShards, h.RuntimeShards, h.KindShards), "", "", "", "")
		for _, k := range sc.Keys {
			row(fmt.Sprintf("  %s, hottest second: %s", k.Target, k.Key),
				fmt.Sprintf("%d writes/s (hottest mean %.1f/s)", k.PeakWritesPerS, k.MeanWritesPerS), "", k.Goal, yesNo(k.Met))
		}
	}
	if rl := r.Rollup; rl.Events > 0 {
		row(fmt.Sprintf("rollup of %d events of one hour (%d units, %d runs)", rl.Events, rl.Units, rl.Runs),
			fmt.Sprintf("%.0f events/s (raw read of %d: %.0f events/s)", rl.EventsPerS, rl.RawEvents, rl.RawEventsPerS),
			fmt.Sprintf("%.2f raw reads", rl.CostRatio), "", "")
		row(fmt.Sprintf("rollup of the large data set (%d events, %d units)", rl.LargeEvents, rl.LargeUnits),
			fmt.Sprintf("%.0f events/s, %.1f s", rl.LargeEventsPerS, rl.LargeSeconds), "", "", "")
		if rl.SnapshotSamples > 0 {
			row(fmt.Sprintf("rollup run, snapshot only (small data set, p50 of %d): KernelCI rules + health / + baselines, silence / + signatures, flaky tests", rl.SnapshotSamples),
				fmt.Sprintf("%.0f / %.0f / %.0f ms (signatures read %d events, flaky tests %d)", rl.SnapshotBareMs, rl.SnapshotBaselineMs, rl.SnapshotAllMs, rl.SignatureEventsRead, rl.FlakyEventsRead),
				fmt.Sprintf("%.2f×", rl.SnapshotAllRatio), "", "")
		}
	}
	if sg := r.Snapshot; sg.Samples > 0 {
		row(fmt.Sprintf("rollup run with nothing to roll up (its snapshot), p50 of %d: %d / %d open anomalies", sg.Samples, sg.SmallOpen, sg.LargeOpen),
			fmt.Sprintf("%.0f / %.0f ms", sg.SmallIdleMs, sg.LargeIdleMs),
			fmt.Sprintf("%.2f× for %.2f× the anomalies", sg.IdleRatio, sg.OpenRatio), fmt.Sprintf("≤ %.2f×", sg.OpenRatio), yesNo(sg.Met))
	}
	for _, rc := range r.Reads.Requests {
		row(fmt.Sprintf("reads: %s", rc.Request),
			fmt.Sprintf("%.0f items read, %d returned, %.1f RCU, %.1f calls, p50 %.1f ms", rc.ItemsRead, rc.Returned, rc.ReadUnits, rc.Calls, rc.P50Ms),
			fmt.Sprintf("%.1f×", rc.Ratio), "≤ 5×", yesNo(rc.Met))
		if isNewest50(rc.Request) {
			row("  newest-50 items read", fmt.Sprintf("%.0f", rc.ItemsRead), "", fmt.Sprintf("≤ %d", r.Reads.NewestGoalItems), yesNo(rc.ItemsRead <= float64(r.Reads.NewestGoalItems)))
		}
	}
	for _, rc := range r.Reads.Live.Requests {
		row(fmt.Sprintf("reads under live traffic (%.1f events a minute, %d at the edges): %s", r.Reads.Live.EventsPerMinute, r.Reads.Live.EdgeEvents, rc.Request),
			fmt.Sprintf("%.0f items read, %d returned, %.1f calls", rc.ItemsRead, rc.Returned, rc.Calls),
			fmt.Sprintf("%.1f×", rc.Ratio), "", "")
	}
	for _, d := range r.Dashboard.Runs {
		row(fmt.Sprintf("dashboard, %s data set (%d events): first view with data, median of %d (max %.0f)", d.DataSet, d.Events, d.Loads, d.FirstDataMax),
			fmt.Sprintf("%.0f ms", d.FirstDataMs), "", fmt.Sprintf("≤ %d ms", firstViewGoalMs), yesNo(firstViewMet(d.FirstDataMs)))
		row(fmt.Sprintf("  first paint %.0f, summary %.0f, health %.0f, anomalies %.0f, trends %.0f ms; page %d bytes, %d API requests",
			d.FirstPaintMs, d.SummaryMs, d.HealthMs, d.AnomaliesMs, d.TrendsMs, d.PageBytes, len(d.Requests)), fmt.Sprintf("all %.0f ms", d.AllDataMs), "", "", "")
		row("  GET /telemetry/trends?range=400d alone", fmt.Sprintf("%.0f ms", d.Trends400dMs), "", "", "")
	}
	if r.Dashboard.Skipped != "" {
		row("dashboard: skipped, "+r.Dashboard.Skipped, "", "", "", "")
	}
	if mem := r.Memory; mem.PeakRSSMB > 0 {
		row(fmt.Sprintf("ingest peak RSS, %.1f MB body, %d events (%s)", float64(mem.BodyBytes)/1e6, mem.Events, mem.Source),
			fmt.Sprintf("%.1f MB", mem.PeakRSSMB), "", "≤ 64 MB", yesNo(mem.PeakRSSMB <= 64))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	met := 0
	for _, g := range r.Goals {
		if g.Met {
			met++
		}
	}
	_, err := fmt.Fprintf(w, "\n%d of %d goals met; run took %.0f s.\n", met, len(r.Goals), r.Seconds)
	return err
}

// isNewest50 tells the newest-page requests, whose items read have a goal of their own.
func isNewest50(request string) bool {
	return strings.HasPrefix(request, "GET /telemetry?") && strings.Contains(request, "limit=50&order=desc")
}

func workerList(by map[string]float64) string {
	return strings.Join(sortedNumericKeys(by), "/")
}

func sortedNumericKeys(m map[string]float64) []string {
	keys := sortedKeys(m)
	// "8" before "16": numbers as strings sort by length first.
	slices.SortStableFunc(keys, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	return keys
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}
