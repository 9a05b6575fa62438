package analytics_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

var baselineNow = time.Date(2026, 6, 8, 12, 30, 0, 0, time.UTC)

// results adds n job results of device d of lab-a spread evenly over [from, to), fails of
// them failed, spread evenly too.
func results(h *analytics.History, d string, from, to time.Time, n, fails int) {
	step := to.Sub(from) / time.Duration(n)
	for i := range n {
		e := telemetry.Event{ID: fmt.Sprint(d, from.Unix(), i), Kind: telemetry.KindJobResult, Runtime: "lab-a",
			DeviceType: "qemu", DeviceID: d, Result: telemetry.ResultPass, TS: from.Add(time.Duration(i) * step)}
		if i*fails/n != (i+1)*fails/n {
			e.Result = telemetry.ResultFail
		}
		h.Add(&e)
	}
}

// TestBaselineSmallCounts: the test is honest at small counts. Against a 2% baseline of a
// week, 2 failures in 3 results do not fire, 40 in 200 do, and a baseline smaller than
// MinBaseline is not compared at all.
func TestBaselineSmallCounts(t *testing.T) {
	window := baselineNow.Add(-time.Hour)
	for _, c := range []struct {
		name             string
		baseN, baseFails int
		n, fails         int
		wantScore        analytics.Float // 0: no anomaly
	}{
		{name: "2 of 3", baseN: 1000, baseFails: 20, n: 3, fails: 2},
		{name: "40 of 200", baseN: 1000, baseFails: 20, n: 200, fails: 40, wantScore: 20.79},
		{name: "3 of 3", baseN: 1000, baseFails: 20, n: 3, fails: 3, wantScore: 4.58},
		{name: "as usual", baseN: 1000, baseFails: 20, n: 200, fails: 5},
		{name: "baseline too small", baseN: 20, baseFails: 0, n: 200, fails: 40},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := analytics.NewHistory(analytics.BaselineParams{}, baselineNow)
			results(h, "qemu-1", window.Add(-7*24*time.Hour), window, c.baseN, c.baseFails)
			results(h, "qemu-1", window, baselineNow, c.n, c.fails)
			var got analytics.Float
			for _, a := range h.BaselineAnomalies() {
				if a.Scope == analytics.LevelDevice && a.Metric == analytics.MetricFailRate {
					got = a.Score
				}
			}
			if got != c.wantScore {
				t.Errorf("score %v, want %v (0: no anomaly)", got, c.wantScore)
			}
		})
	}
}

// TestBaselineHourOfDay: a device that fails 30% of the time at night and never by day is
// compared with its nights at night, where 30% is usual, and with all hours where its nights
// hold too few results.
func TestBaselineHourOfDay(t *testing.T) {
	night := time.Date(2026, 6, 8, 3, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		name      string
		perNight  int
		wantBasis string // "": no anomaly
	}{
		{name: "nights well known", perNight: 10},
		{name: "nights too few", perNight: 2, wantBasis: analytics.BasisAllHours},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := analytics.NewHistory(analytics.BaselineParams{}, night)
			for d := 1; d <= 7; d++ {
				day := night.Add(-time.Duration(d) * 24 * time.Hour)
				// Nights: 02:00-04:00; days: the 12 h from 08:00.
				results(h, "qemu-1", day.Add(-90*time.Minute), day.Add(30*time.Minute), c.perNight, c.perNight*3/10)
				results(h, "qemu-1", day.Add(270*time.Minute), day.Add(16*time.Hour+30*time.Minute), 100, 0)
			}
			results(h, "qemu-1", night.Add(-time.Hour), night, 20, 6)
			basis := ""
			for _, a := range h.BaselineAnomalies() {
				if a.Scope == analytics.LevelDevice {
					basis = a.Basis
				}
			}
			if basis != c.wantBasis {
				t.Errorf("anomaly basis %q, want %q", basis, c.wantBasis)
			}
		})
	}
}

// TestSilenceThresholds: a steady device is silent once e^-expected < α; a sparse one never
// is; a retired one is no longer reported.
func TestSilenceThresholds(t *testing.T) {
	for _, c := range []struct {
		name   string
		step   time.Duration // between events over the day before last
		gap    time.Duration // from the last event to now
		silent bool
	}{
		{name: "steady, short gap", step: 10 * time.Minute, gap: 60 * time.Minute},
		{name: "steady, past the expected gap", step: 10 * time.Minute, gap: 75 * time.Minute, silent: true},
		{name: "sparse", step: 5 * time.Hour, gap: 40 * time.Hour},
		{name: "retired", step: 10 * time.Minute, gap: 49 * time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			last := baselineNow.Add(-c.gap)
			h := analytics.NewHistory(analytics.BaselineParams{}, baselineNow)
			n := 0
			for ts := last.Add(-24 * time.Hour); !ts.After(last); ts = ts.Add(c.step) {
				h.Add(&telemetry.Event{ID: fmt.Sprint(n), Kind: telemetry.KindJobResult, Runtime: "lab-a", TS: ts})
				n++
			}
			got := h.Silent()
			if (len(got) == 1) != c.silent || len(got) > 1 {
				t.Fatalf("silent %+v, want silent=%v at level runtime", got, c.silent)
			}
			if c.silent && (got[0].LastSeen != telemetry.FormatTime(last) || got[0].Events != int64(n)) {
				t.Errorf("silent row %+v, want last_seen %s and %d events", got[0], last, n)
			}
		})
	}
}

// TestSilenceReportsTheOutermostGroup: a lab that stops sending is one silent row, not
// one per device type and device as well; a device type that stops in a lab still
// sending is its own row, without one per device of it.
func TestSilenceReportsTheOutermostGroup(t *testing.T) {
	h := analytics.NewHistory(analytics.BaselineParams{}, baselineNow)
	stopped := baselineNow.Add(-3 * time.Hour)
	n := 0
	for ts := baselineNow.Add(-27 * time.Hour); !ts.After(baselineNow); ts = ts.Add(5 * time.Minute) {
		for _, g := range []struct {
			runtime, deviceType, device string
			until                       time.Time
		}{
			{"lab-quiet", "qemu", "qemu-1", stopped}, {"lab-quiet", "rk3399", "rk-1", stopped},
			{"lab-busy", "qemu", "qemu-2", baselineNow}, {"lab-busy", "bcm2711", "rpi-1", stopped},
			{"lab-busy", "bcm2711", "rpi-2", stopped},
		} {
			if ts.After(g.until) {
				continue
			}
			h.Add(&telemetry.Event{ID: fmt.Sprint(n), Kind: telemetry.KindJobResult, Runtime: g.runtime,
				DeviceType: g.deviceType, DeviceID: g.device, TS: ts})
			n++
		}
	}
	var got []string
	for _, g := range h.Silent() {
		got = append(got, g.Level+" "+g.Runtime+" "+deref(g.DeviceType))
	}
	want := []string{"device_type lab-busy bcm2711", "runtime lab-quiet "}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("silent %q, want %q", got, want)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// BenchmarkHistory: the analyses' own work per rollup run, without the reads: a week of
// hourly rollup groups of 50 runtimes × 4 device types × 5 devices, then both evaluations.
func BenchmarkHistory(b *testing.B) {
	for b.Loop() {
		h := analytics.NewHistory(analytics.BaselineParams{}, baselineNow)
		for hour := time.Duration(0); hour < 7*24*time.Hour+time.Hour; hour += time.Hour {
			start := baselineNow.Add(-7*24*time.Hour - time.Hour).Truncate(time.Hour).Add(hour)
			for r := range 50 {
				for dt := range 4 {
					for dev := range 5 {
						d := analytics.Dimensions{Runtime: fmt.Sprint("lab-", r), DeviceType: fmt.Sprint("type-", dt),
							DeviceID: fmt.Sprint("dev-", r, "-", dt, "-", dev), Kind: telemetry.KindJobResult}
						h.AddGroup(start, d, analytics.Counts{Total: 6, Pass: 5, Fail: 1}, start)
					}
				}
			}
		}
		_ = h.BaselineAnomalies()
		_ = h.Silent()
	}
}
