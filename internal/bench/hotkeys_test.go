package bench

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// One key, a known rate: 100 events a second of one lab and one kind for 10 s, with one
// shard everywhere, put every one of them on the same key value of the table and of each
// index, 100 writes a second; the staleness mark takes one write per request.
func TestHotKeysOfOneKeyAtAKnownRate(t *testing.T) {
	start := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	cfg := config.Config{EventShards: 1, RuntimeShards: 1, KindShards: 1, Retention: 14 * 24 * time.Hour}
	o := hotOptions{eventsPerS: 100, seconds: 10, start: start, cfg: cfg}
	for _, tt := range []struct {
		batch          int
		marksPerS      int
		wantRequests   int64
		wantRegistered int
	}{
		{batch: 1, marksPerS: 100, wantRequests: 1000},
		{batch: 10, marksPerS: 10, wantRequests: 100},
	} {
		traffic := hotTraffic{name: "one key", batch: tt.batch, each: func(fn func(telemetry.Event) error) error {
			for i := 0; ; i++ {
				e := telemetry.Event{ID: "e" + string(rune('a'+i%26)) + time.Duration(i).String(), Kind: "test_result",
					Runtime: "lab", TS: start.Add(time.Duration(i) * 10 * time.Millisecond), IsInfraError: i%2 == 0}
				if err := fn(e); err != nil {
					return err
				}
			}
		}}
		sc, err := simulateHotKeys(context.Background(), o, traffic)
		if err != nil {
			t.Fatal(err)
		}
		if sc.Events != 1000 || sc.Requests != tt.wantRequests {
			t.Errorf("batch %d: %d events in %d requests, want 1000 in %d", tt.batch, sc.Events, sc.Requests, tt.wantRequests)
		}
		want := map[string]struct {
			key  string
			peak int
			mean float64
		}{
			targetEvents:    {"E#20261129#0", 100, 100},
			targetByRuntime: {"lab#0", 100, 100},
			targetByKind:    {"test_result#0", 100, 100},
			targetByInfra:   {"infra#0", 50, 50}, // every other event
			targetMarks:     {store.MarkPK(telemetry.RollupUnit{}), tt.marksPerS, float64(tt.marksPerS)},
			targetDays:      {"", 0, 0}, // every instance made sure of today in the hour before
			targetGuards:    {"", 0, 0}, // no client ids
			targetLeases:    {"", 0, 0}, // no schedule tick in 10 s from 12:00:00
		}
		for _, k := range sc.Keys {
			w, ok := want[k.Target]
			if !ok {
				continue
			}
			if k.Key != w.key || k.PeakWritesPerS != w.peak || k.MeanWritesPerS != w.mean || k.Met != (w.peak <= hotKeyGoal) {
				t.Errorf("batch %d, %s: hottest %q at %d/s (mean %v), want %q at %d/s (mean %v)",
					tt.batch, k.Target, k.Key, k.PeakWritesPerS, k.MeanWritesPerS, w.key, w.peak, w.mean)
			}
			if k.Target == targetTokens && k.PeakWritesPerS != 1 {
				t.Errorf("batch %d: the token, last used an hour ago, was written %d times in a second, want once", tt.batch, k.PeakWritesPerS)
			}
		}
	}
}

// A key the simulation counts is the key the store writes: the items PutEvents builds
// carry exactly store.Keys' values.
func TestHotKeysCountTheStoresKeys(t *testing.T) {
	b := &bench{endpoint: "http://127.0.0.1:1", now: time.Date(2026, 8, 20, 12, 0, 0, 0, time.UTC)}
	events, err := b.generate(5, 200, b.now.Add(-30*time.Hour), b.now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.capture(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(b.endpoint, "capture")
	if err != nil {
		t.Fatal(err)
	}
	keys := store.NewKeys(store.EventsOptions{EventShards: cfg.EventShards, RuntimeShards: cfg.RuntimeShards, KindShards: cfg.KindShards})
	str := func(av types.AttributeValue) string {
		s, _ := av.(*types.AttributeValueMemberS)
		if s == nil {
			return ""
		}
		return s.Value
	}
	shards := map[string]bool{}
	infra := 0
	for i, it := range c.items {
		k := keys.Event(&events[i])
		if str(it[store.AttrPK]) != k.PK || str(it[store.AttrRuntimeKey]) != k.RuntimeKey || str(it[store.AttrKindKey]) != k.KindKey ||
			str(it[store.AttrInfraKey]) != k.InfraKey {
			t.Fatalf("event %d stored at %s / %s / %s / %q, counted at %s / %s / %s / %q", i,
				str(it[store.AttrPK]), str(it[store.AttrRuntimeKey]), str(it[store.AttrKindKey]), str(it[store.AttrInfraKey]),
				k.PK, k.RuntimeKey, k.KindKey, k.InfraKey)
		}
		if k.InfraKey != "" {
			infra++
		}
		shards[k.PK] = true
	}
	if infra == 0 {
		t.Error("no simulated event is an infrastructure error, so the by_infra_error key was not compared")
	}
	if len(shards) < cfg.EventShards {
		t.Errorf("200 events over two days fell in %d partitions only", len(shards))
	}
}
