package analytics_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// TestAddGroupCountsAsAddEachEvent: a rollup group handed to AddGroup (its dimensions,
// counts, newest and newest failed event) makes the same report as its events handed to
// Add one by one, in both scopes, since anomalies from rollups must equal the raw
// computation byte for byte.
func TestAddGroupCountsAsAddEachEvent(t *testing.T) {
	events := loadDataset(t)
	// A device's job result without a device_id: counted in device_type scope, not in device.
	events = append(events, telemetry.Event{ID: "nodevice", Kind: "job_result", Runtime: "lava-collabora",
		DeviceType: "odd-board", Result: telemetry.ResultFail, TS: datasetEnd.Add(-time.Hour)})
	for _, scope := range []string{analytics.AnomalyScopeDeviceType, analytics.AnomalyScopeDevice} {
		p := analytics.AnomalyParams{Window: 48 * time.Hour, Threshold: 0.2, MinTotal: 2, Scope: scope}
		perEvent := analytics.NewAnomalyAccumulator(p, datasetEnd)
		perGroup := analytics.NewAnomalyAccumulator(p, datasetEnd)
		type group struct {
			counts         analytics.Counts
			newest, failed analytics.Newest
		}
		groups := map[analytics.Dimensions]*group{}
		for i := range events {
			e := &events[i]
			perEvent.Add(e)
			if e.TS.Before(perGroup.Since()) || e.TS.After(datasetEnd) {
				continue
			}
			d := analytics.DimensionsOf(e)
			g := groups[d]
			if g == nil {
				g = &group{}
				groups[d] = g
			}
			g.counts.Add(e)
			if n := analytics.NewestOf(e); n.NewerThan(g.newest) {
				g.newest = n
			}
			if n := analytics.NewestOf(e); analytics.Failed(e) && n.NewerThan(g.failed) {
				g.failed = n
			}
		}
		// A group with no events, as a rollup row of an empty bucket would be, adds nothing.
		perGroup.AddGroup(analytics.Dimensions{Runtime: "empty", Kind: "job_result", DeviceType: "none", DeviceID: "none"},
			analytics.Counts{}, analytics.Newest{}, analytics.Newest{})
		for d, g := range groups {
			perGroup.AddGroup(d, g.counts, g.newest, g.failed)
		}
		want, got := reportJSON(t, perEvent.Report()), reportJSON(t, perGroup.Report())
		if got != want {
			t.Errorf("scope %s: from groups\n%s\nwant, from each event\n%s", scope, got, want)
		}
	}
}

func reportJSON(t *testing.T, r analytics.AnomalyReport) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAggregateKeepsTheLargestCounter: a counter of math.MaxInt64 is read back as itself,
// and one beyond it is refused rather than read negative.
func TestAggregateKeepsTheLargestCounter(t *testing.T) {
	a := analytics.Aggregate{Counts: analytics.Counts{Total: math.MaxInt64, Pass: 1}}
	b, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back analytics.Aggregate
	if err := back.UnmarshalBinary(b); err != nil || back.Total != math.MaxInt64 || back.Pass != 1 {
		t.Errorf("round trip of total MaxInt64: %+v, %v", back.Counts, err)
	}
	over := append([]byte{b[0]}, binary.AppendUvarint(nil, math.MaxInt64+1)...)
	if err := back.UnmarshalBinary(over); err == nil {
		t.Error("a counter beyond MaxInt64 was accepted")
	}
}
