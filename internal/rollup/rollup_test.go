package rollup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/rollup/walk"
	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

const retention = 14 * 24 * time.Hour

var dataStart = time.Date(2026, 5, 3, 22, 0, 0, 0, time.UTC)

// clock is a settable fake clock shared by every part of one env.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// env is the stores of one fresh pair of tables, on DynamoDB Local, with a fake clock.
type env struct {
	client  *dynamodb.Client
	tables  store.Tables
	clock   *clock
	summary *store.Summary
	events  *store.Events
	reader  rollup.Reader
	// counted reads the same table with totals counted from rollups; events counts raw.
	counted *store.Events
	counter *walk.Counter
	// oldest is the earliest ts put, whose day is the oldest the day registry lists.
	oldest time.Time
}

func newEnv(t *testing.T, now time.Time) *env {
	t.Helper()
	e := &env{client: dynamotest.Client(t), tables: dynamotest.NewTables(t), clock: &clock{t: now}}
	e.summary = e.newSummary(e.client)
	e.events = store.NewEvents(e.client, store.EventsOptions{
		Table: e.tables.Events, EventShards: 3, RuntimeShards: 2, KindShards: 2,
		Retention: retention, CursorSecret: []byte("k"), Stale: e.summary, Now: e.clock.Now,
	})
	e.counter = &walk.Counter{Summary: e.summary, Now: e.clock.Now, MaxStaleUnits: 1 << 30}
	e.counted = store.NewEvents(e.client, store.EventsOptions{
		Table: e.tables.Events, EventShards: 3, RuntimeShards: 2, KindShards: 2,
		Retention: retention, CursorSecret: []byte("k"), Now: e.clock.Now, Totals: e.counter,
	})
	// Stale units are read one by one however many there are, so that every stage
	// exercises the mix of rows and raw units rather than the fallback to raw events.
	e.reader = rollup.Reader{Summary: e.summary, Events: e.events, Retention: retention, Now: e.clock.Now, MaxStaleUnits: 1 << 30}
	return e
}

func (e *env) newSummary(db store.SummaryAPI) *store.Summary {
	return store.NewSummary(db, store.SummaryOptions{
		Table: e.tables.Summary, EventsTable: e.tables.Events, EventShards: 3, Now: e.clock.Now,
	})
}

func (e *env) put(t *testing.T, evs []telemetry.Event) {
	t.Helper()
	for _, ev := range evs {
		if e.oldest.IsZero() || ev.TS.Before(e.oldest) {
			e.oldest = ev.TS
		}
	}
	outcomes, err := e.events.PutEvents(t.Context(), evs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outcomes {
		if o == telemetry.NotStored {
			t.Fatalf("event %d not stored", i)
		}
	}
}

// runAll runs the rollup until no mark is left, and returns how many units it committed.
func (e *env) runAll(t *testing.T, store telemetry.RollupStore, owner string) int {
	t.Helper()
	units := 0
	for range 10 {
		r, err := rollup.NewJob(store, rollup.JobOptions{Owner: owner, Now: e.clock.Now}).Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		units += r.Units
		if r.Left == 0 {
			return units
		}
	}
	t.Fatal("rollup did not catch up in 10 runs")
	return units
}

func (e *env) marks(t *testing.T) int {
	t.Helper()
	m, err := e.summary.StaleMarks(t.Context(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// rawStats is today's computation: every matching raw event into one accumulator.
func (e *env) rawStats(t *testing.T, f telemetry.Filter, groupBy []string) []byte {
	t.Helper()
	acc := analytics.NewStatsAccumulator(groupBy)
	if err := e.events.EachEvent(t.Context(), f, func(ev telemetry.Event) error {
		acc.Add(&ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return marshal(t, acc.Rows())
}

func (e *env) rawAnomalies(t *testing.T, p analytics.AnomalyParams) []byte {
	t.Helper()
	now := e.clock.Now()
	acc := analytics.NewAnomalyAccumulator(p, now)
	for _, f := range analytics.AnomalyFilters(p, now) {
		if err := e.events.EachEvent(t.Context(), f, func(ev telemetry.Event) error {
			acc.Add(&ev)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return marshal(t, acc.Report())
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var groupBys = [][]string{
	{"runtime"}, {"lab", "device_type"}, {"device_id"}, {"job_name", "arch"}, {"kind", "error_type"},
	{"tree", "branch"}, {"runtime", "device_type", "device_id", "kind"},
}

// queries are stats requests over the data: windows starting at random instants, on
// bucket edges and a microsecond either side of them, with and without until and filters.
func queries(rng *rand.Rand, now time.Time) []telemetry.Filter {
	span := now.Sub(dataStart)
	var out []telemetry.Filter
	for i := range 14 {
		since := dataStart.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Microsecond)
		switch i % 4 {
		case 1:
			since = since.Truncate(time.Hour)
		case 2:
			since = since.Truncate(5 * time.Minute).Add(-time.Microsecond)
		case 3:
			since = since.Truncate(24 * time.Hour)
		}
		f := telemetry.Filter{Since: since}
		if i%3 == 0 {
			until := since.Add(time.Duration(rng.Int64N(int64(now.Sub(since)) + 1))).Truncate(time.Microsecond)
			if i%2 == 0 {
				until = until.Truncate(5 * time.Minute).Add(-time.Microsecond)
			}
			f.Until = until
		}
		switch i % 5 {
		case 1:
			f.Equals = map[string]string{"kind": telemetry.KindTestResult}
		case 2:
			f.Equals = map[string]string{"runtime": "lava-collabora"}
		case 3:
			f.Equals = map[string]string{"kind": telemetry.KindJobResult, "arch": "arm64"}
		}
		out = append(out, f)
	}
	return out
}

var anomalyParams = []analytics.AnomalyParams{
	{Window: 6 * time.Hour, Threshold: 0.5, MinTotal: 3, Scope: analytics.AnomalyScopeDeviceType},
	{Window: 24 * time.Hour, Threshold: 0.3, MinTotal: 1, Scope: analytics.AnomalyScopeDevice},
	{Window: time.Hour, Threshold: 0, MinTotal: 1, Scope: analytics.AnomalyScopeDeviceType},
	{Window: 48 * time.Hour, Threshold: 0.5, MinTotal: 2, Scope: analytics.AnomalyScopeDevice},
}

// checkEqual asks every query of rollups and of raw events and wants the same bytes.
func (e *env) checkEqual(t *testing.T, stage string, rng *rand.Rand) (rows int) {
	t.Helper()
	now := e.clock.Now()
	for i, f := range queries(rng, now) {
		groupBy := groupBys[i%len(groupBys)]
		want := e.rawStats(t, f, groupBy)
		acc, ans, ok, err := e.reader.Stats(t.Context(), f, groupBy)
		if err != nil || !ok {
			t.Fatalf("%s: stats from rollups: ok %v, %v", stage, ok, err)
		}
		if ans.FromRollups {
			t.Fatalf("%s: since %s within retention answered from rollups alone", stage, f.Since)
		}
		rows += ans.Rows
		if got := marshal(t, acc.Rows()); !bytes.Equal(got, want) {
			t.Errorf("%s: stats since %s until %s %v by %v differ:\nrollups %.400s\nraw     %.400s", stage,
				telemetry.FormatTime(f.Since), f.Until, f.Equals, groupBy, got, want)
		}
	}
	for _, p := range anomalyParams {
		want := e.rawAnomalies(t, p)
		acc, ans, err := e.reader.Anomalies(t.Context(), p, now)
		if err != nil {
			t.Fatalf("%s: anomalies from rollups: %v", stage, err)
		}
		rows += ans.Rows
		if got := marshal(t, acc.Report()); !bytes.Equal(got, want) {
			t.Errorf("%s: anomalies %+v differ:\nrollups %.400s\nraw     %.400s", stage, p, got, want)
		}
	}
	e.checkTotals(t, stage, rng)
	return rows
}

// totalFilters are GET /telemetry filters: the stats windows, and filters with no since,
// on result and is_infra_error, and one rollups cannot count (test_name).
func totalFilters(rng *rand.Rand, now time.Time) []telemetry.Filter {
	yes, no := true, false
	// One of the stats windows in turn, as each costs a walk of the buckets.
	qs := queries(rng, now)
	f := qs[rng.IntN(len(qs))]
	filters := []telemetry.Filter{
		f,
		{},
		{Equals: map[string]string{"kind": telemetry.KindJobResult, "result": telemetry.ResultFail}},
		{Equals: map[string]string{"runtime": "lava-collabora"}, IsInfraError: &yes},
		{Equals: map[string]string{"result": telemetry.ResultPass}, Since: now.Add(-7 * time.Hour).Truncate(time.Hour), Until: now.Add(-3 * time.Hour)},
		{IsInfraError: &no, Since: now.Add(-7*time.Hour - time.Second)},
		{Equals: map[string]string{"test_name": "baseline.login"}},
	}
	return filters
}

// checkTotals wants the total of GET /telemetry counted from rollups to equal the raw
// count, exactly, and the counter to count every filter rollups can count. A query stops
// its count once its first page holds every match, so a sparse filter's total may never
// reach the counter through the query: the counter is also asked directly, for the window
// the query asks it for (from the oldest day stored when the filter has no since).
func (e *env) checkTotals(t *testing.T, stage string, rng *rand.Rand) {
	t.Helper()
	now := e.clock.Now()
	for _, f := range totalFilters(rng, now) {
		want, err := e.events.QueryEvents(t.Context(), f, telemetry.PageRequest{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.counted.QueryEvents(t.Context(), f, telemetry.PageRequest{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got.Total != want.Total || !got.TotalExact || !want.TotalExact {
			t.Errorf("%s: total of %+v: from rollups %d (exact %v), raw %d (exact %v)", stage, f, got.Total, got.TotalExact, want.Total, want.TotalExact)
		}
		cf := f
		if cf.Since.IsZero() {
			y, m, d := e.oldest.UTC().Date()
			cf.Since = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		}
		counted, ok, err := e.counter.CountEvents(t.Context(), cf, e.rawCount)
		if err != nil {
			t.Fatal(err)
		}
		if ok != walk.Countable(f) {
			t.Errorf("%s: total of %+v counted from rollups: %v, want %v", stage, f, ok, walk.Countable(f))
		}
		if ok && (counted.N != want.Total || !counted.Exact) {
			t.Errorf("%s: total of %+v asked of the counter: %d (exact %v), raw %d", stage, f, counted.N, counted.Exact, want.Total)
		}
	}
}

// rawCount is telemetry.RawCount over the raw store: the total of a page of one.
func (e *env) rawCount(ctx context.Context, f telemetry.Filter) (telemetry.Total, error) {
	p, err := e.events.QueryEvents(ctx, f, telemetry.PageRequest{Limit: 1})
	return telemetry.Total{N: p.Total, Exact: p.TotalExact, ItemsRead: p.ItemsRead}, err
}

func generate(t *testing.T, seed int64, n int, start, end, received time.Time) []telemetry.Event {
	t.Helper()
	evs, err := simulate.Generate(simulate.Options{Seed: seed, Events: n, Start: start, End: end})
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		evs[i].ReceivedAt = received
	}
	return evs
}

// variants are copies of some of evs under new ids, moved by shift and each put on a
// bucket edge or a microsecond before one when edge is set.
func variants(evs []telemetry.Event, rng *rand.Rand, n int, prefix string, shift time.Duration, edge bool, received time.Time) []telemetry.Event {
	out := make([]telemetry.Event, 0, n)
	for i := range n {
		e := evs[rng.IntN(len(evs))]
		e.ID = fmt.Sprintf("%s-%d", prefix, i)
		e.TS = e.TS.Add(shift)
		if edge {
			e.TS = e.TS.Truncate(5 * time.Minute)
			if i%2 == 1 {
				e.TS = e.TS.Add(-time.Microsecond)
			}
		}
		e.ReceivedAt = received
		out = append(out, e)
	}
	return out
}

// TestRollupsEqualRawAtEveryStage: for seeded random events, stats and anomalies from
// rollups equal the raw computation byte for byte before any rollup, after one, after
// backfills into rolled-up buckets, events on bucket edges, duplicates and expired events
// (between runs and after), after a run cut short by a fault, and after rolled-up events
// expire.
func TestRollupsEqualRawAtEveryStage(t *testing.T) {
	for _, seed := range []int64{1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			end := dataStart.Add(28 * time.Hour)
			e := newEnv(t, end)
			rng := rand.New(rand.NewPCG(uint64(seed), 9))
			all := generate(t, seed, 500, dataStart, end, end)
			first, rest := all[:330], all[330:]

			e.put(t, first)
			e.checkEqual(t, "before any rollup", rng)
			if units := e.runAll(t, e.summary, ""); units == 0 {
				t.Fatal("the rollup committed nothing")
			}
			if n := e.marks(t); n != 0 {
				t.Fatalf("%d marks left after catching up", n)
			}
			if rows := e.checkEqual(t, "after a rollup", rng); rows == 0 {
				t.Fatal("no answer used a rollup row")
			}
			// The newest page's total from rollups reads a fraction of what counting reads.
			newest := telemetry.PageRequest{Limit: 5, Desc: true}
			raw, err := e.events.QueryEvents(t.Context(), telemetry.Filter{}, newest)
			if err != nil {
				t.Fatal(err)
			}
			fromRollups, err := e.counted.QueryEvents(t.Context(), telemetry.Filter{}, newest)
			if err != nil {
				t.Fatal(err)
			}
			if 3*fromRollups.ItemsRead > raw.ItemsRead {
				t.Errorf("newest page read %d items with the total from rollups, %d counting raw events", fromRollups.ItemsRead, raw.ItemsRead)
			}

			// Backfills into rolled-up buckets, edges, duplicates of stored events, and
			// events received so long ago that they are expired on arrival.
			now := end.Add(30 * time.Minute)
			e.clock.Set(now)
			batch := append([]telemetry.Event(nil), rest...)
			batch = append(batch, variants(first, rng, 40, "backfill", -time.Duration(rng.IntN(20))*time.Hour, false, now)...)
			batch = append(batch, variants(first, rng, 20, "edge", 0, true, now)...)
			batch = append(batch, first[:50]...)
			batch = append(batch, variants(first, rng, 30, "expired", 0, false, now.Add(-retention-time.Hour))...)
			e.put(t, batch)
			e.checkEqual(t, "after backfills, before the next run", rng)

			// A run cut short by a fault at the client leaves a mix of fresh and stale.
			faulty := &failingCommits{SummaryAPI: e.client, after: 3}
			if _, err := rollup.NewJob(e.newSummary(faulty), rollup.JobOptions{Now: e.clock.Now, Workers: 1}).Run(t.Context()); err == nil {
				t.Fatal("the injected fault did not surface")
			}
			if e.marks(t) == 0 {
				t.Fatal("the faulty run cleared every mark")
			}
			e.checkEqual(t, "after a run cut short", rng)
			e.runAll(t, e.summary, "")
			e.checkEqual(t, "after catching up", rng)

			// Events received 14 days minus an hour ago, rolled up, then expired.
			aging := variants(first, rng, 40, "aging", 0, false, now.Add(-retention+time.Hour))
			e.put(t, aging)
			e.runAll(t, e.summary, "")
			e.checkEqual(t, "before rolled-up events expire", rng)
			e.clock.Set(now.Add(2 * time.Hour))
			e.checkEqual(t, "after rolled-up events expired", rng)
		})
	}
}

// failingCommits lets the first `after` transactions through and fails every later one,
// as a connection lost mid-run would.
type failingCommits struct {
	store.SummaryAPI
	after int

	mu    sync.Mutex
	calls int
}

func (f *failingCommits) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	f.mu.Lock()
	f.calls++
	fail := f.calls > f.after
	f.mu.Unlock()
	if fail {
		return nil, errors.New("injected: connection reset")
	}
	return f.SummaryAPI.TransactWriteItems(ctx, in, opts...)
}

// dump is the summary table's rollup rows and marks, as comparable text: leases are left
// out, as they name the run that held them.
func (e *env) dump(t *testing.T) string {
	t.Helper()
	var lines []string
	pages := dynamodb.NewScanPaginator(e.client, &dynamodb.ScanInput{TableName: aws.String(e.tables.Summary), ConsistentRead: aws.Bool(true)})
	for pages.HasMorePages() {
		out, err := pages.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range out.Items {
			pk := item[store.AttrPK].(*types.AttributeValueMemberS).Value
			if strings.HasPrefix(pk, "L#") {
				continue
			}
			keys := make([]string, 0, len(item))
			for k := range item {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var b strings.Builder
			for _, k := range keys {
				fmt.Fprintf(&b, "%s=%v ", k, attrText(item[k]))
			}
			lines = append(lines, b.String())
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func attrText(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	case *types.AttributeValueMemberB:
		return fmt.Sprintf("%x", v.Value)
	}
	return fmt.Sprintf("%T", v)
}

// TestRollupIsIdempotent: the same events rolled up once, then again after every unit is
// marked stale anew, by three runs at once, and by a run a fault cuts short and its
// successor, leave identical summary tables.
func TestRollupIsIdempotent(t *testing.T) {
	end := dataStart.Add(27 * time.Hour)
	evs := generate(t, 7, 300, dataStart, end, end)
	setup := func() *env {
		e := newEnv(t, end)
		e.put(t, evs)
		return e
	}

	once := setup()
	once.runAll(t, once.summary, "")
	want := once.dump(t)
	if !strings.Contains(want, "R#1d#") || strings.Contains(want, "D#") {
		t.Fatalf("the first rollup left no daily rows or left marks:\n%.300s", want)
	}

	// Every unit marked again (a resend of every event marks its unit): the recompute
	// rewrites the same bytes.
	if _, err := once.events.PutEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	if once.marks(t) == 0 {
		t.Fatal("resending marked nothing")
	}
	once.runAll(t, once.summary, "")
	if again := once.dump(t); again != want {
		t.Errorf("a second rollup changed the table:\n%s", firstDiff(again, want))
	}

	concurrent := setup()
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			if _, err := rollup.NewJob(concurrent.summary, rollup.JobOptions{Owner: fmt.Sprint("run-", i), Now: concurrent.clock.Now}).Run(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	concurrent.runAll(t, concurrent.summary, "") // whatever the busy leases left
	if got := concurrent.dump(t); got != want {
		t.Errorf("concurrent runs gave another table:\n%s", firstDiff(got, want))
	}

	faulted := setup()
	faulty := &failingCommits{SummaryAPI: faulted.client, after: 5}
	if _, err := rollup.NewJob(faulted.newSummary(faulty), rollup.JobOptions{Now: faulted.clock.Now}).Run(t.Context()); err == nil {
		t.Fatal("the injected fault did not surface")
	}
	faulted.runAll(t, faulted.summary, "")
	if got := faulted.dump(t); got != want {
		t.Errorf("a faulted run and its successor gave another table:\n%s", firstDiff(got, want))
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d:\ngot  %.300s\nwant %.300s", i, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}

// TestStatsOlderThanRetentionFromRollups: with a fake clock, raw events expire; stats over
// a range older than retention still answer, from rollups, widened to whole buckets.
func TestStatsOlderThanRetentionFromRollups(t *testing.T) {
	end := dataStart.Add(24 * time.Hour)
	e := newEnv(t, end)
	evs := generate(t, 11, 300, dataStart, end, end)
	e.put(t, evs)
	e.runAll(t, e.summary, "")
	f := telemetry.Filter{Since: dataStart.Add(time.Hour + 7*time.Second), Until: dataStart.Add(20*time.Hour + 3*time.Minute)}
	widened := telemetry.Filter{Since: dataStart.Add(time.Hour), Until: dataStart.Add(20*time.Hour + 5*time.Minute - time.Microsecond)}
	want := e.rawStats(t, widened, []string{"runtime", "kind"})
	wantAll := e.rawStats(t, telemetry.Filter{}, []string{"runtime", "kind"})

	e.clock.Set(end.Add(retention + time.Hour))
	if raw := e.rawStats(t, f, []string{"runtime", "kind"}); string(raw) != "[]" {
		t.Fatalf("raw events did not expire: %.200s", raw)
	}
	acc, ans, ok, err := e.reader.Stats(t.Context(), f, []string{"runtime", "kind"})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if !ans.FromRollups || !ans.Since.Equal(widened.Since) || !ans.Until.Equal(widened.Until) {
		t.Errorf("answer %+v, want from rollups over %s..%s", ans, widened.Since, widened.Until)
	}
	if got := marshal(t, acc.Rows()); !bytes.Equal(got, want) {
		t.Errorf("stats from rollups after expiry:\n%.400s\nwant (raw, before expiry, widened window)\n%.400s", got, want)
	}

	// A since before the rollups' own retention asks for all there is: the rows of the
	// retention, no more buckets than it holds. 0001-01-01T00:00:00Z, the earliest time
	// there is, is the zero time, told from no since by SinceGiven.
	oldest := walk.Floor(e.clock.Now().Add(-store.DefaultRollupRetention))
	for _, since := range []telemetry.Filter{{SinceGiven: true}, {Since: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), SinceGiven: true}} {
		acc, ans, ok, err := e.reader.Stats(t.Context(), since, []string{"runtime", "kind"})
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if !ans.FromRollups || !ans.Since.Equal(oldest) {
			t.Errorf("since %s: answer %+v, want from rollups since %s", since.Since, ans, oldest)
		}
		if got := marshal(t, acc.Rows()); !bytes.Equal(got, wantAll) {
			t.Errorf("since %s from rollups:\n%.400s\nwant every event\n%.400s", since.Since, got, wantAll)
		}
	}
	// A window wholly before the rollups' retention reads nothing, and says it covered the
	// window asked for, widened, never one whose end comes before its start.
	before := telemetry.Filter{Since: time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC), Until: time.Date(2001, 2, 4, 0, 2, 0, 0, time.UTC)}
	acc, ans, ok, err = e.reader.Stats(t.Context(), before, []string{"runtime"})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if got := marshal(t, acc.Rows()); string(got) != "[]" || ans.Rows != 0 {
		t.Errorf("a window in 2001: %d rows read, answer %s, want none", ans.Rows, got)
	}
	if want := time.Date(2001, 2, 3, 4, 5, 0, 0, time.UTC); !ans.FromRollups || !ans.Since.Equal(want) ||
		!ans.Until.Equal(time.Date(2001, 2, 4, 0, 5, 0, 0, time.UTC).Add(-time.Microsecond)) {
		t.Errorf("a window in 2001 answered over %s..%s, want %s..00:04:59.999999", ans.Since, ans.Until, want)
	}
	if _, _, ok, _ := e.reader.Stats(t.Context(), telemetry.Filter{}, []string{"runtime"}); ok {
		t.Error("stats without a since were answered from rollups; they are the raw events'")
	}
}
