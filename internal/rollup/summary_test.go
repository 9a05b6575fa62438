package rollup_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestSummaryAnomalyLifecycle: a device whose jobs all fail opens an anomaly in the run
// after its events, with since at that run; later runs confirm it without moving since;
// once its events leave every window it shows as resolved (at once: no hysteresis here, see
// TestBaselineAndSilenceScenario); ?at= finds each state again.
func TestSummaryAnomalyLifecycle(t *testing.T) {
	start := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, start)
	var broken []telemetry.Event
	for i := range 4 {
		broken = append(broken, telemetry.Event{
			ID: fmt.Sprint("broken-", i), Kind: telemetry.KindJobResult, Runtime: "lava-test",
			DeviceType: "qemu", DeviceID: "qemu-7", Result: telemetry.ResultFail, ErrorType: "boot",
			TS: start.Add(-time.Duration(i+1) * time.Minute), ReceivedAt: start,
		})
	}
	e.put(t, broken)
	run := func(at time.Time) rollup.Snapshot {
		t.Helper()
		e.clock.Set(at)
		reader := e.reader
		if _, err := rollup.NewJob(e.summary, rollup.JobOptions{Now: e.clock.Now, Reader: &reader, ResolveAfter: 1, NoBaseline: true}).Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		taken, body, found, err := e.summary.Snapshot(t.Context(), at)
		if err != nil || !found || !taken.Equal(at) {
			t.Fatalf("snapshot at %s: found %v at %s, %v", at, found, taken, err)
		}
		var s rollup.Snapshot
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	deviceOpen := func(s rollup.Snapshot) []rollup.AnomalyRecord {
		var out []rollup.AnomalyRecord
		for _, a := range s.OpenAnomalies {
			if strings.Contains(a.Key, "qemu-7") {
				out = append(out, a)
			}
		}
		return out
	}

	first := run(start)
	opened := deviceOpen(first)
	if len(opened) != 2 { // scope=device, in the 6 h and the 24 h window
		t.Fatalf("open anomalies of qemu-7: %+v, want one per window", first.OpenAnomalies)
	}
	for _, a := range opened {
		if a.Since != telemetry.FormatTime(start) || a.LastConfirmed != a.Since {
			t.Errorf("anomaly %s since %s confirmed %s, want both %s", a.Key, a.Since, a.LastConfirmed, telemetry.FormatTime(start))
		}
	}
	if len(first.Health) != 1 || first.Health[0].Last24h.Events != 4 || first.Health[0].Last24h.FailRate != 1 {
		t.Errorf("health %+v, want lava-test with 4 events all failed", first.Health)
	}

	later := start.Add(time.Hour)
	for _, a := range deviceOpen(run(later)) {
		if a.Since != telemetry.FormatTime(start) || a.LastConfirmed != telemetry.FormatTime(later) {
			t.Errorf("confirmed anomaly %s: since %s, last confirmed %s", a.Key, a.Since, a.LastConfirmed)
		}
	}

	// Past the 6 h window, not the 24 h one; then past both.
	mid := run(start.Add(7 * time.Hour))
	if n := len(deviceOpen(mid)); n != 1 {
		t.Errorf("7 h later %d anomalies of qemu-7 open, want the 24 h one", n)
	}
	gone := start.Add(25 * time.Hour)
	last := run(gone)
	if n := len(deviceOpen(last)); n != 0 {
		t.Errorf("25 h later %d anomalies of qemu-7 still open", n)
	}
	resolved := 0
	for _, a := range last.RecentlyResolved {
		if strings.Contains(a.Key, "qemu-7") && a.Since == telemetry.FormatTime(start) && a.ResolvedAt != nil {
			resolved++
		}
	}
	if resolved != 2 {
		t.Errorf("recently resolved %+v, want both windows' anomalies of qemu-7 with their start", last.RecentlyResolved)
	}

	// ?at= between runs finds the snapshot before it.
	taken, _, found, err := e.summary.Snapshot(t.Context(), later.Add(time.Minute))
	if err != nil || !found || !taken.Equal(later) {
		t.Errorf("snapshot at %s: %s %v %v, want the one taken at %s", later.Add(time.Minute), taken, found, err, later)
	}
}
