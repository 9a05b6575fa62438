package rollup_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// mergeAttempts counts the merged rows a job tries to write, by bucket.
type mergeAttempts struct {
	*store.Summary
	mu sync.Mutex
	n  map[string]int
}

func (m *mergeAttempts) PutMerged(ctx context.Context, row telemetry.RollupRow, gen string) (bool, error) {
	m.mu.Lock()
	m.n[row.Resolution+" "+row.Start.Format(time.RFC3339)]++
	m.mu.Unlock()
	return m.Summary.PutMerged(ctx, row, gen)
}

func (m *mergeAttempts) count(res string, start time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[res+" "+start.Format(time.RFC3339)]
}

// TestMergeTooLargeIsNotRetriedUntilItsRowsChange: a burst of events with distinct
// 1,024-character values in seven dimensions makes the day's merged row larger than one
// transaction (4 MB), so it is left unmerged. Each commit sets the merged row aside, even
// one that rewrote the same shard rows (a resend of the same events marks their units
// stale again), and the old merge read, merged and encoded the day's several MB again
// on every such run. The day is tried once for the burst, not again for the resend, and
// again once a new event changes one of its shard rows.
func TestMergeTooLargeIsNotRetriedUntilItsRowsChange(t *testing.T) {
	now := time.Date(2026, 6, 8, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, now)
	// Eight shards, so that each commit (one shard's rows of an hour, its 6 hours and its
	// day) stays well within a transaction while the merges of the burst's hour, 6 hours
	// and day do not.
	const shards = 8
	summary := store.NewSummary(e.client, store.SummaryOptions{Table: e.tables.Summary, EventsTable: e.tables.Events, EventShards: shards, Now: e.clock.Now})
	events := store.NewEvents(e.client, store.EventsOptions{
		Table: e.tables.Events, EventShards: shards, RuntimeShards: 2, KindShards: 2,
		Retention: retention, CursorSecret: []byte("k"), Stale: summary, Now: e.clock.Now,
	})
	counted := &mergeAttempts{Summary: summary, n: map[string]int{}}
	rng := rand.New(rand.NewPCG(7, 11))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	long := func() string { // 6 bits a character, which gzip cannot shrink
		b := make([]byte, 1024)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	day := now.Truncate(24 * time.Hour)
	var evs []telemetry.Event
	for i := range 1000 {
		ts := day.Add(2*time.Hour + time.Duration(i)*3*time.Second)
		evs = append(evs, telemetry.Event{ID: fmt.Sprint("long-", i), Kind: telemetry.KindJobResult, Runtime: "lava-long",
			DeviceType: long(), DeviceID: long(), JobName: long(), Tree: long(), Branch: long(), Arch: long(), ErrorType: long(),
			Result: telemetry.ResultFail, TS: ts, ReceivedAt: ts})
	}
	put := func(evs []telemetry.Event) {
		t.Helper()
		outcomes, err := events.PutEvents(t.Context(), evs)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range outcomes {
			if o == telemetry.NotStored || o == telemetry.Unmarked {
				t.Fatalf("event %d: %v", i, o)
			}
		}
	}
	run := func(step string) {
		t.Helper()
		r, err := rollup.NewJob(counted, rollup.JobOptions{Now: e.clock.Now, Budget: time.Hour}).Run(t.Context())
		if err != nil || r.Left > 0 || r.Units == 0 {
			t.Fatalf("%s: rolled up %d units, %d left, %v", step, r.Units, r.Left, err)
		}
	}
	steps := []struct {
		name  string
		evs   []telemetry.Event
		tries [2]int // attempts to write the merged rows of the day and of the burst's hour so far
	}{
		{"the burst", evs, [2]int{1, 1}},
		{"the same events resent", evs, [2]int{1, 1}},
		{"one new event in the day", []telemetry.Event{{ID: "new", Kind: telemetry.KindJobResult, Runtime: "lava-long",
			DeviceType: "rk3399", DeviceID: "rk-1", Result: telemetry.ResultPass, TS: day.Add(9 * time.Hour), ReceivedAt: day.Add(9 * time.Hour)}}, [2]int{2, 1}},
	}
	for _, s := range steps {
		put(s.evs)
		run(s.name)
		got := [2]int{counted.count(rollup.Day.Name, day), counted.count(rollup.Hour.Name, day.Add(2*time.Hour))}
		if got != s.tries {
			t.Errorf("after %s, the merged rows of the day and the burst's hour were tried %v times, want %v", s.name, got, s.tries)
		}
	}
	merged, _, err := summary.MergedRows(t.Context(), []telemetry.RollupBucket{{Resolution: rollup.Day.Name, Start: day}, {Resolution: rollup.Hour.Name, Start: day.Add(2 * time.Hour)}})
	if err != nil || merged[0].State == telemetry.MergedCurrent || merged[1].State == telemetry.MergedCurrent {
		t.Fatalf("merged rows read: %v; want none for the day and the burst's hour (too large), their shard rows read instead", err)
	}
	// Readers still count every event, from the shard rows.
	reader := rollup.Reader{Summary: summary, Events: events, Retention: retention, Now: e.clock.Now}
	acc, _, ok, err := reader.Stats(t.Context(), telemetry.Filter{Since: day}, []string{"runtime"})
	if err != nil || !ok || len(acc.Rows()) != 1 || acc.Rows()[0].Total != int64(len(evs)+1) {
		t.Fatalf("stats: ok %v, %v", ok, err)
	}
}
