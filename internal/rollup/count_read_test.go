package rollup_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/rollup/walk"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestCountFromRollupsReportsTheItemsItRead: a total counted from rollups says how many
// items it read (the figure logs and benchmarks compare), the raw events of a stale unit
// included.
func TestCountFromRollupsReportsTheItemsItRead(t *testing.T) {
	now := time.Date(2026, 6, 8, 6, 30, 0, 0, time.UTC)
	e := newEnv(t, now)
	at := now.Add(-3 * time.Hour)
	var evs []telemetry.Event
	for i := range 9 {
		evs = append(evs, errorEvent(fmt.Sprint("c-", i), "lava-c", at.Add(time.Duration(i)*time.Second), "boot failed"))
	}
	e.put(t, evs[:5])
	e.runAll(t, e.summary, "")
	e.put(t, evs[5:]) // their unit is stale now: counted from its raw events
	c := &walk.Counter{Summary: e.summary, Now: e.clock.Now, MaxStaleUnits: 1 << 30}
	raw := func(context.Context, telemetry.Filter) (telemetry.Total, error) {
		return telemetry.Total{Exact: true}, nil
	}
	total, ok, err := c.CountEvents(t.Context(), telemetry.Filter{Since: now.Add(-24 * time.Hour).Truncate(24 * time.Hour)}, raw)
	if err != nil || !ok {
		t.Fatalf("count: ok %v, %v", ok, err)
	}
	if total.N != 9 || total.ItemsRead < 4 {
		t.Errorf("counted %d events reading %d items; want 9, reading at least the 4 events written after the rollup", total.N, total.ItemsRead)
	}
}
