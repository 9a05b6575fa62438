package rollup_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
	"github.com/pipetel/pipetel/internal/telemetry/telemetrytest"
)

// every returns job results of one device every step in [from, to), failing where fail
// says so (by index).
func every(id, runtime, deviceType, device string, from, to time.Time, step time.Duration, fail func(i int) bool) []telemetry.Event {
	var out []telemetry.Event
	i := 0
	for ts := from; ts.Before(to); ts = ts.Add(step) {
		result := telemetry.ResultPass
		if fail(i) {
			result = telemetry.ResultFail
		}
		out = append(out, telemetry.Event{
			ID: fmt.Sprintf("%s-%d", id, i), Kind: telemetry.KindJobResult, Runtime: runtime,
			DeviceType: deviceType, DeviceID: device, Result: result, TS: ts, ReceivedAt: ts,
		})
		i++
	}
	return out
}

// alertLog records the alerts published, as "<detail type> <state> <key>".
type alertLog struct{ got []string }

func (l *alertLog) Publish(_ context.Context, alerts []telemetry.Alert) error {
	for _, a := range alerts {
		var d struct{ State, Key string }
		if err := json.Unmarshal(a.Detail, &d); err != nil {
			return err
		}
		l.got = append(l.got, a.DetailType+" "+d.State+" "+d.Key)
	}
	return nil
}

// take returns the alerts recorded since the last take.
func (l *alertLog) take() []string {
	got := l.got
	l.got = nil
	sort.Strings(got)
	return got
}

// runSnapshot runs the rollup with a reader at at, KernelCI's rule at scope device over
// 6 h only and the baselines of bp, and returns the snapshot it stored.
func (e *env) runSnapshot(t *testing.T, at time.Time, bp analytics.BaselineParams, alerts telemetry.AlertPublisher) rollup.Snapshot {
	t.Helper()
	e.clock.Set(at)
	reader := e.reader
	p := analytics.DefaultAnomalyParams()
	p.Scope = analytics.AnomalyScopeDevice
	o := rollup.JobOptions{Now: e.clock.Now, Reader: &reader, Baseline: bp, Alerts: alerts, Evaluations: []analytics.AnomalyParams{p}}
	if _, err := rollup.NewJob(e.summary, o).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, body, found, err := e.summary.Snapshot(t.Context(), at)
	if err != nil || !found {
		t.Fatalf("snapshot at %s: found %v, %v", at, found, err)
	}
	var s rollup.Snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBaselineAndSilenceScenario: a day of steady traffic, then a device whose failure
// rate goes from 2% to 20% (a baseline anomaly, at both its device and its device type, with
// its score), a device with 2 of 3 failed against the same 2% (none), a lab that stops
// (silent once zero events in the gap is below α, not before, as one row and one alert for
// the lab, not one more for each of its device types and devices) and a sparse
// lab (never silent); one alert for each opening and, after three clear evaluations, for
// each resolution. Retirement is TestSilenceThresholds'.
func TestBaselineAndSilenceScenario(t *testing.T) {
	now := time.Date(2026, 6, 8, 12, 30, 0, 0, time.UTC)
	e := newEnv(t, now)
	window := now.Add(-time.Hour)
	from := window.Add(-24 * time.Hour)
	twoPercent := func(i int) bool { return i%48 == 47 }
	var evs []telemetry.Event
	evs = append(evs, every("rk-base", "lava-a", "rk3399", "rk-1", from, window, 30*time.Minute, twoPercent)...)
	evs = append(evs, every("rk-now", "lava-a", "rk3399", "rk-1", window, now, time.Minute, func(i int) bool { return i%5 == 4 })...)
	evs = append(evs, every("qemu-base", "lava-a", "qemu", "qemu-2", from, window, 30*time.Minute, twoPercent)...)
	evs = append(evs, every("qemu-now", "lava-a", "qemu", "qemu-2", window.Add(10*time.Minute), now, 15*time.Minute, func(i int) bool { return i < 2 })...)
	// Every 15 minutes until an hour before now.
	evs = append(evs, every("quiet", "lava-quiet", "bbb", "bbb-1", from, now.Add(-time.Hour+time.Second), 15*time.Minute, func(int) bool { return false })...)
	evs = append(evs, every("sparse", "lava-sparse", "x86", "x86-1", from, now, 5*time.Hour, func(int) bool { return false })...)
	e.put(t, evs)

	// The baseline reaches back over the data and no further, to keep the reads few.
	bp := analytics.BaselineParams{Baseline: 26 * time.Hour}
	alerts := &alertLog{}
	ours := func() []string {
		var out []string
		for _, a := range alerts.take() {
			if strings.Contains(a, rollup.KindBaseline) || strings.Contains(a, rollup.KindSilence) {
				out = append(out, a)
			}
		}
		return out
	}
	first := e.runSnapshot(t, now, bp, alerts)
	// 12 of 60 against 1 of 48 (smoothed: 1.5/49): P(X ≥ 12) = 2.4e-7.
	row := func(scope, device string) string {
		return `{"scope":"` + scope + `","metric":"fail_rate","runtime":"lava-a","device_type":"rk3399",` + device +
			`"window_from":"2026-06-08T11:30:00.000000Z","observed":{"count":12,"total":60,"rate":0.2},
			"expected":{"count":1,"total":48,"rate":0.031},"basis":"all_hours",
			"p_value":2.4084416050243367e-7,"score":6.62,"last_seen":"2026-06-08T12:29:00.000000Z"}`
	}
	jsonEqual(t, "baseline anomalies at "+now.String(), first.Baseline,
		"["+row("device", `"device_id":"rk-1",`)+","+row("device_type", "")+"]")
	// The lab went quiet an hour ago: at four events an hour, none in an hour has a chance
	// of e^-4 ≈ 0.018, above α = 0.001.
	jsonEqual(t, "silent at "+now.String(), first.Silent, `[]`)
	jsonEqual(t, "alerts at "+now.String(), ours(), `[
	  "pipetel anomaly baseline open device/1h/baseline/lava-a/rk3399/rk-1/fail_rate",
	  "pipetel anomaly baseline open device_type/1h/baseline/lava-a/rk3399//fail_rate"]`)

	// Two hours: e^-8 ≈ 0.0003.
	later := now.Add(time.Hour)
	second := e.runSnapshot(t, later, bp, alerts)
	quiet := func(level, dt, dev string) string {
		s := fmt.Sprintf(`{"level":%q,"runtime":"lava-quiet",`, level)
		if dt != "" {
			s += fmt.Sprintf(`"device_type":%q,`, dt)
		}
		if dev != "" {
			s += fmt.Sprintf(`"device_id":%q,`, dev)
		}
		return s + `"last_seen":"2026-06-08T11:30:00.000000Z","silent_seconds":7200,"rate_per_hour":3.959,
		  "expected":7.918,"p_value":0.0003639961210141764,"events":97,"active_hours":25,"span_hours":25}`
	}
	jsonEqual(t, "silent at "+later.String(), second.Silent, "["+quiet("runtime", "", "")+"]")
	jsonEqual(t, "alerts at "+later.String(), ours(), `[
	  "pipetel anomaly silence open runtime//silence/lava-quiet///"]`)

	// Each silent group is an open anomaly with its since. The baseline anomalies, whose
	// window holds no result any more, stay open until three evaluations in a row are clear.
	openAt := func(s rollup.Snapshot) map[string]string {
		open := map[string]string{}
		for _, a := range s.OpenAnomalies {
			if a.Kind == rollup.KindSilence || a.Kind == rollup.KindBaseline {
				open[a.Key] = fmt.Sprint(a.Since, " clear ", a.ClearRuns)
			}
		}
		return open
	}
	jsonEqual(t, "open baseline and silence anomalies", openAt(second), `{
	  "device/1h/baseline/lava-a/rk3399/rk-1/fail_rate":"2026-06-08T12:30:00.000000Z clear 1",
	  "device_type/1h/baseline/lava-a/rk3399//fail_rate":"2026-06-08T12:30:00.000000Z clear 1",
	  "runtime//silence/lava-quiet///":"2026-06-08T13:30:00.000000Z clear 0"}`)

	// Three hours on the lab is still silent (no new alert of it), the sparse lab still is
	// not; lava-a, whose results stopped at the first evaluation, now is (rk-1 alone, at 4.3
	// an hour, has a chance of 3e-6 of none in 3 h), as one row for the lab.
	third := e.runSnapshot(t, now.Add(3*time.Hour), bp, alerts)
	for _, s := range third.Silent {
		if s.Runtime == "lava-sparse" {
			t.Errorf("sparse lab reported silent: %+v", s)
		}
	}
	if n := countRuntime(third.Silent, "lava-quiet"); n != 1 {
		t.Errorf("3 h later %d silent rows of lava-quiet, want 1", n)
	}
	jsonEqual(t, "alerts 3 h later", ours(), `[
	  "pipetel anomaly silence open runtime//silence/lava-a///"]`)
	fourth := e.runSnapshot(t, now.Add(3*time.Hour+time.Minute), bp, alerts)
	jsonEqual(t, "alerts at the third clear evaluation", ours(), `[
	  "pipetel anomaly baseline resolved device/1h/baseline/lava-a/rk3399/rk-1/fail_rate",
	  "pipetel anomaly baseline resolved device_type/1h/baseline/lava-a/rk3399//fail_rate"]`)
	if n := len(openAt(fourth)); n != 2 {
		t.Errorf("open baseline and silence anomalies after the third clear evaluation: %v, want the 2 silent labs", openAt(fourth))
	}
}

func countRuntime(rows []analytics.SilentGroup, runtime string) int {
	n := 0
	for _, r := range rows {
		if r.Runtime == runtime {
			n++
		}
	}
	return n
}

// jsonEqual compares got, encoded, with the JSON text want, whatever their spacing.
var jsonEqual = telemetrytest.JSONEqual
