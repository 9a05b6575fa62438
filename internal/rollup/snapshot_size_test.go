package rollup_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// TestSnapshotOverTheItemLimitIsStoredAndAlertsGoOutOnce: 400 devices failing 3 times each
// with infrastructure errors, their device type, device id and error type ~720 characters
// and a 16 KB error message, open hundreds of anomalies whose snapshot is far over
// DynamoDB's 400 KB item limit. The run stores it, and the next run, starting from it,
// publishes no opening again (alerts go out before the snapshot is stored, so a snapshot
// that cannot be stored republishes every opening on every run).
func TestSnapshotOverTheItemLimitIsStoredAndAlertsGoOutOnce(t *testing.T) {
	now := time.Date(2026, 6, 8, 12, 30, 0, 0, time.UTC)
	e := newEnv(t, now)
	long := func(what string, d int) string {
		return (fmt.Sprintf("%s-%03d-", what, d) + strings.Repeat("lava-collabora-", 60))[:720]
	}
	msg := strings.Repeat("Traceback: connection to the dispatcher lost\n", 16<<10/45+1)[:16<<10]
	var evs []telemetry.Event
	for d := range 400 {
		for i := range 3 {
			ts := now.Add(-time.Duration(50-i*10) * time.Minute).Add(time.Duration(d) * time.Millisecond)
			evs = append(evs, telemetry.Event{
				ID: fmt.Sprintf("big-%d-%d", d, i), Kind: telemetry.KindJobResult, Runtime: "lava-big",
				DeviceType: long("type", d), DeviceID: long("device", d), ErrorType: long("error", d),
				ErrorMsg: msg, IsInfraError: true, Result: telemetry.ResultFail, TS: ts, ReceivedAt: ts,
			})
		}
	}
	e.put(t, evs)
	alerts := &alertLog{}
	bp := analytics.BaselineParams{Baseline: 2 * time.Hour}
	first := e.runSnapshot(t, now, bp, alerts)
	opened := alerts.take()
	if len(first.OpenAnomalies) < 400 || len(opened) < 400 {
		t.Fatalf("the first run opened %d anomalies and published %d alerts, want at least one per device (400)", len(first.OpenAnomalies), len(opened))
	}
	if _, body, _, err := e.summary.Snapshot(t.Context(), now); err != nil || len(body) < 2<<20 {
		t.Fatalf("the snapshot is %d bytes (%v), want it over 2 MB, several times the item limit", len(body), err)
	}
	second := e.runSnapshot(t, now.Add(time.Minute), bp, alerts)
	if again := alerts.take(); len(again) > 0 {
		t.Errorf("the next run published %d alerts again (%.200q), want none", len(again), again)
	}
	if len(second.OpenAnomalies) != len(first.OpenAnomalies) {
		t.Errorf("the next run has %d open anomalies, the first %d", len(second.OpenAnomalies), len(first.OpenAnomalies))
	}
}
