package rollup_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestDemoSilencedLab is `make dev` with `make demo`'s silenced lab, on a fake clock: the
// demo's lab has sent nothing for two hours, so the scheduled rollup's first tick finds it
// silent, and over several ticks exactly one open alert goes out for the lab's silence and
// one per anomaly of the broken devices, none twice.
func TestDemoSilencedLab(t *testing.T) {
	now := time.Date(2026, 7, 21, 6, 0, 0, 0, time.UTC)
	e := newEnv(t, now)
	const lab = "lava-broonie"
	evs, err := simulate.Generate(simulate.Options{Seed: 1, Events: 1500, Start: now.Add(-12 * time.Hour), End: now,
		SilentLab: lab, SilentFrom: now.Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		evs[i].ReceivedAt = now
	}
	e.put(t, evs)
	alerts := &alertLog{}
	deps := api.Deps{Events: e.events, Summary: e.summary, Now: e.clock.Now, Retention: retention,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Alerts: alerts,
		RollupAnomalyWindows: []time.Duration{6 * time.Hour}, RollupAnomalyThreshold: 0.5}
	tick := rollup.NewScheduled(deps)
	opened := map[string]int{}
	for i := range 3 {
		at := now.Add(time.Duration(i+1) * time.Minute)
		e.clock.Set(at)
		if err := tick(t.Context()); err != nil {
			t.Fatalf("tick at %s: %v", at, err)
		}
		for _, a := range alerts.take() {
			if strings.Contains(a, " "+rollup.AlertOpen+" ") {
				opened[a]++
			}
		}
	}
	snap, _, found, err := rollup.ReadSnapshot(t.Context(), e.summary, now.Add(3*time.Minute))
	if err != nil || !found {
		t.Fatalf("snapshot: %v %v", found, err)
	}
	silent := false
	for _, s := range snap.Silent {
		if s.Level == "runtime" && s.Runtime == lab {
			silent = s.LastSeen < telemetry.FormatTime(now.Add(-2*time.Hour))
		}
	}
	if !silent {
		t.Errorf("%s is not silent (last seen before the silence) in the summary: %+v", lab, snap.Silent)
	}
	labOpen, brokenOpen := 0, 0
	for a, n := range opened {
		if n != 1 {
			t.Errorf("%q opened %d times, want once", a, n)
		}
		if a == "pipetel anomaly silence open runtime//silence/"+lab+"///" {
			labOpen++
		} else if strings.HasPrefix(a, "pipetel anomaly silence open ") && strings.Contains(a, lab) {
			t.Errorf("%q: a group of the silent lab alerted on its own", a)
		}
		for _, id := range brokenDevices {
			if strings.HasPrefix(a, "pipetel anomaly result open ") && strings.Contains(a, id) {
				brokenOpen++
			}
		}
	}
	if labOpen != 1 || brokenOpen == 0 {
		t.Errorf("open alerts %v: want one of %s's silence and those of the broken devices", opened, lab)
	}
	// /metrics counts the summary's silent groups by level, as an operator's alert rule
	// reads them.
	perLevel := map[string]float64{}
	for _, s := range snap.Silent {
		perLevel[s.Level]++
	}
	for _, m := range e.scrape(t)["pipetel_silent_groups"].GetMetric() {
		level := m.GetLabel()[0].GetValue()
		if got := m.GetGauge().GetValue(); got != perLevel[level] {
			t.Errorf("pipetel_silent_groups{level=%q} = %v, want the summary's %v", level, got, perLevel[level])
		}
		delete(perLevel, level)
	}
	if len(perLevel) != 0 {
		t.Errorf("levels with silent groups and no pipetel_silent_groups series: %v", perLevel)
	}
}
