package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// The hot-key simulation replays simulated KernelCI traffic through the store's own key
// functions (store.Keys, store.MarkPK, store.DaysToRegister, …), the authorizer's own
// decision to record a token's use, and the rollup job itself over a summary store that
// only counts, and counts the writes each partition key value takes in each simulated
// second. DynamoDB allows 1,000 write units a second per key value; the goal is half.

// hotKeyGoal is the most writes a second any key value may take (DESIGN §4).
const hotKeyGoal = 500

// Targets of the simulation: a table or index, and what in it.
const (
	targetEvents     = "events table"
	targetByRuntime  = "events by_runtime index"
	targetByKind     = "events by_kind index"
	targetByInfra    = "events by_infra_error index"
	targetDays       = "events table: day registry"
	targetGuards     = "events table: id guards"
	targetRuns       = "events table: pipeline run markers"
	targetMarks      = "summary table: staleness marks"
	targetLeases     = "summary table: rollup leases"
	targetRows       = "summary table: rollup rows"
	targetSnapshots  = "summary table: summary snapshots"
	targetTokens     = "tokens table: last used"
	targetMetrics    = "summary table: metric totals and watermark"
	requestSeconds   = 0.1 // how long an ingest request holds a Lambda instance
	kernelCIBatch    = 50  // KernelCI's TelemetryEmitter flushes every 50 events (buffer_size)
	hotKeyRunsPerMin = 6   // pipeline runs stored a minute (POST /pipelines) in the realistic mix
)

var hotTargets = []string{targetEvents, targetByRuntime, targetByKind, targetByInfra, targetDays, targetGuards, targetRuns,
	targetMarks, targetLeases, targetRows, targetSnapshots, targetTokens, targetMetrics}

// hotTraffic is one scenario: what is sent, in order, at EventsPerS.
type hotTraffic struct {
	name, describe string
	// each calls fn with every event of the scenario, in arrival order.
	each func(fn func(telemetry.Event) error) error
	// batch is how many events one client sends a request: 1 is a request per event.
	batch int
	// runsPerMinute pipeline runs are stored (POST /pipelines) beside the events.
	runsPerMinute int
}

// hotOptions size one simulation.
type hotOptions struct {
	eventsPerS int
	seconds    int
	start      time.Time
	cfg        config.Config // shard counts and retention, as deployed
}

// hotCounter counts writes per key value per simulated second.
type hotCounter struct {
	mu     sync.Mutex // the rollup job writes from its workers
	second map[string]map[string]int
	peak   map[string]HotKey
	total  map[string]map[string]int64
	writes map[string]int64
	at     time.Time // the second being counted
}

func newHotCounter() *hotCounter {
	c := &hotCounter{second: map[string]map[string]int{}, peak: map[string]HotKey{},
		total: map[string]map[string]int64{}, writes: map[string]int64{}}
	for _, t := range hotTargets {
		c.second[t], c.total[t] = map[string]int{}, map[string]int64{}
	}
	return c
}

func (c *hotCounter) write(target, key string, n int) {
	c.mu.Lock()
	c.second[target][key] += n
	c.writes[target] += int64(n)
	c.mu.Unlock()
}

// flush closes the second being counted and opens the one at next.
func (c *hotCounter) flush(next time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for target, keys := range c.second {
		p := c.peak[target]
		for k, n := range keys {
			if n > p.PeakWritesPerS {
				p = HotKey{Target: target, Key: k, PeakWritesPerS: n, PeakAt: c.at.Format(time.RFC3339)}
			}
			// Keys written once each (id guards, run markers) are never hot on average:
			// keeping their totals would only hold millions of strings.
			if target != targetGuards && target != targetRuns {
				c.total[target][k] += int64(n)
			}
		}
		c.peak[target] = p
		clear(keys)
	}
	c.at = next
}

// result is the hottest key value of every target.
func (c *hotCounter) result(seconds int) []HotKey {
	var out []HotKey
	for _, target := range hotTargets {
		p := c.peak[target]
		p.Target = target
		p.Writes = c.writes[target]
		var meanKey string
		var most int64
		for k, n := range c.total[target] {
			if n > most || n == most && k < meanKey {
				meanKey, most = k, n
			}
		}
		p.MeanKey, p.MeanWritesPerS = meanKey, round(float64(most)/float64(seconds), 1)
		p.Goal, p.Met = "≤ "+strconv.Itoa(hotKeyGoal)+" writes/s", p.PeakWritesPerS <= hotKeyGoal
		out = append(out, p)
	}
	return out
}

// simulateHotKeys runs one scenario for o.seconds simulated seconds at o.eventsPerS.
func simulateHotKeys(ctx context.Context, o hotOptions, tr hotTraffic) (HotKeyScenario, error) {
	s := newHotSim(o, tr)
	n := o.eventsPerS * o.seconds
	i := 0
	err := tr.each(func(e telemetry.Event) error {
		if i >= n {
			return errStop
		}
		at := o.start.Add(time.Duration(i) * time.Second / time.Duration(o.eventsPerS))
		if err := s.advance(ctx, at); err != nil {
			return err
		}
		i++
		e.ReceivedAt = at
		return s.event(ctx, e)
	})
	if err != nil && err != errStop {
		return HotKeyScenario{}, err
	}
	if err := s.advance(ctx, o.start.Add(time.Duration(o.seconds)*time.Second)); err != nil {
		return HotKeyScenario{}, err
	}
	return HotKeyScenario{Name: tr.name, Traffic: tr.describe, Events: int64(i), Requests: s.requests,
		Instances: len(s.instances), Keys: s.count.result(o.seconds)}, nil
}

var errStop = fmt.Errorf("enough events")

// hotSim is the state of one simulation: the clients' buffers, the ingest function's
// instances, API Gateway's authorizer cache, the marks waiting for the rollup.
type hotSim struct {
	o       hotOptions
	tr      hotTraffic
	keys    store.Keys
	count   *hotCounter
	now     time.Time
	nextRun time.Time // the rollup schedule's next tick

	buffers   map[string][]telemetry.Event // each lab's emitter buffer
	instances []map[string]int64           // each ingest instance's day registry memory
	next      int                          // round-robin over instances
	requests  int64
	runs      int64

	tokens     *countingTokens
	authorizer auth.Authorizer
	authCache  map[string]time.Time // token → until when API Gateway's cache answers
	tokenOf    map[string]string    // lab → its token

	summary *countingSummary
	job     *rollup.Job

	need  map[string]int64 // one request's days, reused
	units map[telemetry.RollupUnit]bool
}

func newHotSim(o hotOptions, tr hotTraffic) *hotSim {
	s := &hotSim{o: o, tr: tr, count: newHotCounter(), now: o.start, nextRun: o.start.Truncate(time.Minute).Add(time.Minute),
		keys:    store.NewKeys(store.EventsOptions{EventShards: o.cfg.EventShards, RuntimeShards: o.cfg.RuntimeShards, KindShards: o.cfg.KindShards}),
		buffers: map[string][]telemetry.Event{}, authCache: map[string]time.Time{}, tokenOf: map[string]string{},
		need: map[string]int64{}, units: map[telemetry.RollupUnit]bool{}}
	s.count.at = o.start
	// As many instances as the requests in flight: each request holds one for
	// requestSeconds. Each is warm, and last refreshed the registry of the day at a
	// point of the hour before the start spread evenly over the instances, as a
	// steady stream leaves them.
	perS := float64(o.eventsPerS) / float64(max(tr.batch, 1))
	n := max(1, int(perS*requestSeconds+0.5))
	for i := range n {
		refreshed := o.start.Add(-time.Duration(i+1) * store.RegistrySlack / time.Duration(n+1))
		need := map[string]int64{dayKey(refreshed): refreshed.Add(o.cfg.Retention).Unix()}
		s.instances = append(s.instances, store.DaysToRegister(nil, need, refreshed))
	}
	s.tokens = &countingTokens{count: s.count, byHash: map[string]auth.Token{}}
	s.authorizer = auth.Authorizer{Tokens: s.tokens, Now: func() time.Time { return s.now }}
	s.summary = &countingSummary{count: s.count, shards: o.cfg.EventShards, marks: map[telemetry.RollupUnit]int64{}}
	s.job = rollup.NewJob(s.summary, rollup.JobOptions{Owner: "bench", Now: func() time.Time { return s.now }})
	return s
}

func dayKey(t time.Time) string { return t.UTC().Format("20060102") }

// advance moves the clock to at, closing each second passed and running the rollup
// schedule's ticks on the way.
func (s *hotSim) advance(ctx context.Context, at time.Time) error {
	for !at.Before(s.now.Truncate(time.Second).Add(time.Second)) {
		next := s.now.Truncate(time.Second).Add(time.Second)
		s.now = next
		if !next.Before(s.nextRun) {
			if err := s.rollup(ctx); err != nil {
				return err
			}
			s.nextRun = s.nextRun.Add(time.Minute)
		}
		s.count.flush(next)
	}
	s.now = at
	return nil
}

// event hands e to its lab's emitter, which sends a request when its buffer is full.
func (s *hotSim) event(ctx context.Context, e telemetry.Event) error {
	buf := append(s.buffers[e.Runtime], e)
	if len(buf) < max(s.tr.batch, 1) {
		s.buffers[e.Runtime] = buf
		return nil
	}
	s.buffers[e.Runtime] = buf[:0]
	if err := s.request(ctx, e.Runtime, buf); err != nil {
		return err
	}
	if s.tr.runsPerMinute > 0 {
		// Pipeline runs at their rate, each its own marker.
		due := int64(s.now.Sub(s.o.start).Minutes() * float64(s.tr.runsPerMinute))
		for ; s.runs < due; s.runs++ {
			run := telemetry.Event{ID: fmt.Sprintf("%024x", mix(uint64(s.runs)+1<<40)), Kind: telemetry.KindPipelineResult}
			s.count.write(targetRuns, store.RunMarkerPK(&run), 1)
		}
	}
	return nil
}

// request is one POST /telemetry of batch from lab: the authorizer unless API Gateway's
// cache answers, then what PutEvents writes.
func (s *hotSim) request(ctx context.Context, lab string, batch []telemetry.Event) error {
	s.requests++
	tok, ok := s.tokenOf[lab]
	if !ok {
		tok = auth.NewToken()
		s.tokenOf[lab] = tok
		s.tokens.byHash[auth.Hash(tok)] = auth.Token{Name: lab, Hash: auth.Hash(tok), Scopes: []auth.Scope{auth.ScopeIngest},
			Created: s.o.start.Add(-24 * time.Hour), LastUsed: s.o.start.Add(-30 * time.Minute).Truncate(time.Hour)}
	}
	if !s.now.Before(s.authCache[tok]) {
		d, err := s.authorizer.Decide(ctx, "Bearer "+tok)
		if err != nil || d.Outcome != auth.OutcomeAllowed {
			return fmt.Errorf("authorizer: %v, %v", d.Outcome, err)
		}
		s.authCache[tok] = s.now.Add(api.AuthorizerCacheTTL)
	}

	known := s.instances[s.next]
	s.next = (s.next + 1) % len(s.instances)
	need, units := s.need, s.units
	clear(need)
	clear(units)
	for i := range batch {
		e := &batch[i]
		k := s.keys.Event(e)
		s.count.write(targetEvents, k.PK, 1)
		s.count.write(targetByRuntime, k.RuntimeKey, 1)
		s.count.write(targetByKind, k.KindKey, 1)
		if k.InfraKey != "" {
			s.count.write(targetByInfra, k.InfraKey, 1)
		}
		if k.GuardPK != "" {
			s.count.write(targetGuards, k.GuardPK, 1)
		}
		need[k.Day] = max(need[k.Day], e.ReceivedAt.Add(s.o.cfg.Retention).Unix())
		units[k.Unit] = true
	}
	for day, target := range store.DaysToRegister(known, need, s.now) {
		s.count.write(targetDays, store.DayRegistryPK, 1)
		known[day] = target
	}
	for u := range units {
		s.count.write(targetMarks, store.MarkPK(u), 1)
		s.summary.mark(u)
	}
	return nil
}

// rollup is one tick of the schedule: the rollup job itself, over the counting summary
// store, and the snapshot it ends with.
func (s *hotSim) rollup(ctx context.Context) error {
	if _, err := s.job.Run(ctx); err != nil {
		return fmt.Errorf("rollup at %s: %w", s.now.Format(time.RFC3339), err)
	}
	s.count.write(targetSnapshots, store.SnapshotPK(s.now), 1)
	return nil
}

// mix is splitmix64's finaliser: ids that look as random as content hashes do.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// hexID is x as 24 lowercase hex digits, the shape of a derived event id.
func hexID(x uint64) string {
	const digits = "0123456789abcdef"
	var b [24]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = digits[x&15]
		x = x>>4 | x<<60 // rotate, so all 24 digits vary
	}
	return string(b[:])
}

// countingTokens is the tokens table for the authorizer: it finds the simulation's
// tokens and counts each last-used write at the key the store writes it to.
type countingTokens struct {
	count  *hotCounter
	byHash map[string]auth.Token
}

func (c *countingTokens) TokenByHash(_ context.Context, hash string) (auth.Token, error) {
	t, ok := c.byHash[hash]
	if !ok {
		return auth.Token{}, auth.ErrNotFound
	}
	return t, nil
}

func (c *countingTokens) TouchToken(_ context.Context, hash string, t time.Time) error {
	tok := c.byHash[hash]
	tok.LastUsed = t
	c.byHash[hash] = tok
	c.count.write(targetTokens, store.TokenPK(hash), 1)
	return nil
}

// countingSummary is a summary table that holds the marks ingest made and counts every
// write the rollup job makes, at the keys store.Summary writes them to. It holds no
// events, so rows are as short as rows get: one item each.
type countingSummary struct {
	count  *hotCounter
	shards int
	mu     sync.Mutex
	marks  map[telemetry.RollupUnit]int64
}

var _ telemetry.RollupStore = (*countingSummary)(nil)

func (c *countingSummary) mark(u telemetry.RollupUnit) {
	c.mu.Lock()
	c.marks[u]++
	c.mu.Unlock()
}

func (c *countingSummary) Shards() int { return c.shards }

func (c *countingSummary) Retention() time.Duration { return store.DefaultRollupRetention }

func (c *countingSummary) StaleMarks(context.Context, time.Time, time.Time) ([]telemetry.StaleMark, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]telemetry.StaleMark, 0, len(c.marks))
	for u, seq := range c.marks {
		out = append(out, telemetry.StaleMark{RollupUnit: u, Seq: seq})
	}
	slices.SortFunc(out, func(a, b telemetry.StaleMark) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return a.Shard - b.Shard
	})
	return out, nil
}

func (c *countingSummary) Rows(context.Context, string, time.Time) ([]telemetry.RollupRow, error) {
	return nil, nil
}

func (c *countingSummary) EachUnitEvent(context.Context, telemetry.RollupUnit, time.Time, func(telemetry.Event, int64) error) error {
	return nil
}

func (c *countingSummary) ShardRows(context.Context, string, int, []time.Time) (map[int64]telemetry.RollupRow, error) {
	return map[int64]telemetry.RollupRow{}, nil
}

func (c *countingSummary) MergeSource(context.Context, telemetry.RollupBucket) (string, bool, []telemetry.RollupRow, error) {
	return "", false, nil, nil
}

func (c *countingSummary) PutMerged(_ context.Context, r telemetry.RollupRow, _ string) (bool, error) {
	c.count.write(targetRows, store.RowPK(r.Resolution, r.Start), telemetry.RollupRowParts(len(r.Body)))
	return true, nil
}

func (c *countingSummary) Claim(_ context.Context, l telemetry.RollupLease, _ string, _, _ time.Time) (bool, error) {
	c.count.write(targetLeases, store.LeasePK(l), 1)
	return true, nil
}

func (c *countingSummary) Release(_ context.Context, l telemetry.RollupLease, _ string) error {
	c.count.write(targetLeases, store.LeasePK(l), 1)
	return nil
}

func (c *countingSummary) Commit(_ context.Context, cm telemetry.RollupCommit) (int, error) {
	aside := map[string]bool{}
	for _, r := range cm.Rows {
		c.count.write(targetRows, store.RowPK(r.Resolution, r.Start), telemetry.RollupRowParts(len(r.Body)))
		aside[store.RowPK(r.Resolution, r.Start)] = true
	}
	for pk := range aside { // the bucket's merged row, set aside in the same transaction
		c.count.write(targetRows, pk, 1)
	}
	if cm.Totals != nil {
		c.count.write(targetMetrics, store.MetricsPK(), 1)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cleared := 0
	for _, m := range cm.Clear {
		c.count.write(targetMarks, store.MarkPK(m.RollupUnit), 1)
		if c.marks[m.RollupUnit] == m.Seq {
			delete(c.marks, m.RollupUnit)
			cleared++
		}
	}
	return cleared, nil
}

func (c *countingSummary) MetricsState(context.Context) (telemetry.RollupTotals, time.Time, error) {
	return telemetry.RollupTotals{}, time.Time{}, nil
}

func (c *countingSummary) AdvanceRolledUpTo(context.Context, time.Time) error {
	c.count.write(targetMetrics, store.MetricsPK(), 1)
	return nil
}

func (c *countingSummary) PutSnapshot(context.Context, time.Time, []byte) error { return nil }

func (c *countingSummary) Snapshot(context.Context, time.Time) (time.Time, []byte, bool, error) {
	return time.Time{}, nil, false, nil
}

// hotScenarios are the realistic mix and the worst case of issue 15.
func hotScenarios(o hotOptions, seed int64) []hotTraffic {
	const mainLab = "lava-collabora"
	burstFrom, burstTo := o.start.Add(20*time.Minute), o.start.Add(30*time.Minute)
	realistic := hotTraffic{
		name: "realistic",
		describe: fmt.Sprintf("simulated KernelCI traffic (test results dominate), 70%% of it from %s, "+
			"half of everything job_skip for 10 minutes; each lab's emitter sends batches of %d; %d pipeline runs a minute",
			mainLab, kernelCIBatch, hotKeyRunsPerMin),
		batch:         kernelCIBatch,
		runsPerMinute: hotKeyRunsPerMin,
		each: func(fn func(telemetry.Event) error) error {
			i := 0
			return simulate.Each(simulate.Options{Seed: seed, Events: o.eventsPerS * o.seconds, Start: o.start,
				End: o.start.Add(time.Duration(o.seconds) * time.Second)}, func(e telemetry.Event) error {
				if i%10 < 7 {
					e.Runtime = mainLab
				}
				if !e.TS.Before(burstFrom) && e.TS.Before(burstTo) && i%2 == 0 {
					e.Kind = telemetry.KindJobSkip
				}
				i++
				return fn(e)
			})
		},
	}
	worst := hotTraffic{
		name: "worst_case",
		describe: "every event a test_result and an infrastructure error from " + mainLab +
			", each its own request with its own id (an id guard each), from one token",
		batch: 1,
		each: func(fn func(telemetry.Event) error) error {
			for i := 0; ; i++ {
				at := o.start.Add(time.Duration(i) * time.Second / time.Duration(o.eventsPerS))
				e := telemetry.Event{ID: hexID(mix(uint64(i))), IDGiven: true, Kind: telemetry.KindTestResult,
					Runtime: mainLab, TS: at, Result: "fail", IsInfraError: true}
				if err := fn(e); err != nil {
					return err
				}
			}
		},
	}
	return []hotTraffic{realistic, worst}
}

// hotKeys is the section: both scenarios at HotKeyEventsPerS for HotKeySeconds, from a
// start that crosses midnight, when every day key and registry entry changes.
func (b *bench) hotKeys(ctx context.Context) (HotKeys, error) {
	cfg, err := loadConfig("http://127.0.0.1:1", "hotkeys")
	if err != nil {
		return HotKeys{}, err
	}
	start := b.now.UTC().Truncate(24 * time.Hour).Add(-time.Duration(b.o.HotKeySeconds/2) * time.Second)
	o := hotOptions{eventsPerS: b.o.HotKeyEventsPerS, seconds: b.o.HotKeySeconds, start: start, cfg: cfg}
	out := HotKeys{EventsPerS: o.eventsPerS, SimulatedSeconds: o.seconds, Start: start.Format(time.RFC3339),
		EventShards: cfg.EventShards, RuntimeShards: cfg.RuntimeShards, KindShards: cfg.KindShards,
		GoalWritesPerS: hotKeyGoal, Met: true}
	// The scenarios share nothing, so they run side by side, one a core.
	scenarios := hotScenarios(o, b.o.Seed)
	results := make([]HotKeyScenario, len(scenarios))
	errs := make([]error, len(scenarios))
	b.section("hot keys: %d scenarios at %d events/s for %d simulated s, from %s", len(scenarios), o.eventsPerS, o.seconds, out.Start)
	var wg sync.WaitGroup
	for i, tr := range scenarios {
		wg.Go(func() {
			began := time.Now()
			results[i], errs[i] = simulateHotKeys(ctx, o, tr)
			results[i].Seconds = round(time.Since(began).Seconds(), 1)
			fmt.Fprintf(b.progress, "  %s done in %.0f s\n", tr.name, results[i].Seconds)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return HotKeys{}, err
	}
	for _, sc := range results {
		for _, k := range sc.Keys {
			out.Met = out.Met && k.Met
		}
		out.Scenarios = append(out.Scenarios, sc)
	}
	return out, nil
}
