package rollup_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

func errorEvent(id, runtime string, ts time.Time, msg string) telemetry.Event {
	return telemetry.Event{ID: id, Kind: telemetry.KindJobResult, Runtime: runtime, DeviceType: "rk3399", DeviceID: "rk-1",
		Result: telemetry.ResultIncomplete, IsInfraError: true, ErrorType: "Infrastructure", ErrorMsg: msg, TS: ts, ReceivedAt: ts}
}

// kindOf keeps the alerts of one kind of anomaly.
func kindOf(alerts []string, kind string) []string {
	out := []string{}
	for _, a := range alerts {
		if strings.HasPrefix(a, rollup.AlertDetailType(kind)+" ") {
			out = append(out, a)
		}
	}
	return out
}

// TestNewSignatureScenario: a signature seen when tracking began is remembered; seven hours
// later a new one, frequent in the window, opens one new_signature anomaly (one alert, not
// one per evaluation), a rare new one none, and the remembered one is not new; once the
// window has moved past it, it resolves after three clear evaluations.
func TestNewSignatureScenario(t *testing.T) {
	t0 := time.Date(2026, 6, 8, 6, 0, 0, 0, time.UTC)
	t1 := t0.Add(7 * time.Hour)
	e := newEnv(t, t0)
	evs := []telemetry.Event{
		errorEvent("boot-0", "lava-a", t0.Add(-30*time.Minute), "bootloader-commands timed out after 180 seconds"),
		errorEvent("boot-1", "lava-a", t0.Add(-20*time.Minute), "bootloader-commands timed out after 240 seconds"),
		errorEvent("boot-2", "lava-b", t1.Add(-10*time.Minute), "bootloader-commands timed out after 300 seconds"),
		errorEvent("rare-0", "lava-a", t1.Add(-40*time.Minute), "lava-test-shell timed out after 60 seconds"),
		errorEvent("rare-1", "lava-a", t1.Add(-30*time.Minute), "lava-test-shell timed out after 90 seconds"),
	}
	for i := range 6 {
		runtime := []string{"lava-a", "lava-b"}[i%2]
		evs = append(evs, errorEvent(fmt.Sprint("panic-", i), runtime, t1.Add(time.Duration(-50+8*i)*time.Minute),
			fmt.Sprintf("Kernel panic - not syncing: Attempted to kill init! exitcode=0x%08x", 4+i)))
	}
	e.put(t, evs)
	bp := analytics.BaselineParams{Baseline: 2 * time.Hour}
	alerts := &alertLog{}

	first := e.runSnapshot(t, t0, bp, alerts)
	if got := kindOf(alerts.take(), rollup.KindNewSignature); len(got) != 0 || len(first.NewSignatures) != 0 {
		t.Errorf("new signatures when tracking begins: %v %v", got, first.NewSignatures)
	}
	jsonEqual(t, "signatures when tracking begins", first.Signatures, `{"window_from":"2026-06-08T05:00:00.000000Z",
	  "tracked_since":"2026-06-08T05:00:00.000000Z","events_read":2,"truncated":false,"signatures":[
	  {"id":"`+first.Signatures.Signatures[0].ID+`","template":"bootloader-commands timed out after <NUM> seconds","count":2,
	   "first_seen":"2026-06-08T05:30:00.000000Z","last_seen":"2026-06-08T05:40:00.000000Z","runtimes":["lava-a"],
	   "error_types":["Infrastructure"],"sample":"bootloader-commands timed out after 240 seconds"}]}`)
	boot := first.Signatures.Signatures[0].ID

	second := e.runSnapshot(t, t1, bp, alerts)
	if len(second.NewSignatures) != 1 {
		t.Fatalf("new signatures %+v, want the panic's", second.NewSignatures)
	}
	panicID := second.NewSignatures[0].ID
	key := "signature/1h/new_signature////" + panicID
	jsonEqual(t, "alerts when the panic appears", kindOf(alerts.take(), rollup.KindNewSignature), `["pipetel anomaly new_signature open `+key+`"]`)
	jsonEqual(t, "the new signature", second.NewSignatures[0], `{"id":"`+panicID+`",
	  "template":"Kernel panic - not syncing: Attempted to kill init! exitcode=<HEX>","count":6,
	  "first_seen":"2026-06-08T12:10:00.000000Z","last_seen":"2026-06-08T12:50:00.000000Z","runtimes":["lava-a","lava-b"],
	  "error_types":["Infrastructure"],"sample":"Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009","scope":"signature"}`)
	var summary []string
	for _, s := range second.Signatures.Signatures {
		summary = append(summary, fmt.Sprint(s.Count, " ", s.FirstSeen, " ", s.Template))
	}
	jsonEqual(t, "signatures seven hours on", summary, `[
	  "6 2026-06-08T12:10:00.000000Z Kernel panic - not syncing: Attempted to kill init! exitcode=<HEX>",
	  "2 2026-06-08T12:20:00.000000Z lava-test-shell timed out after <NUM> seconds",
	  "1 2026-06-08T05:30:00.000000Z bootloader-commands timed out after <NUM> seconds"]`)
	if second.Signatures.Signatures[2].ID != boot {
		t.Errorf("the bootloader timeout's id changed from %s to %s", boot, second.Signatures.Signatures[2].ID)
	}

	e.runSnapshot(t, t1.Add(time.Minute), bp, alerts)
	jsonEqual(t, "alerts a minute later", kindOf(alerts.take(), rollup.KindNewSignature), `[]`)
	for i, at := range []time.Time{t1.Add(time.Hour), t1.Add(time.Hour + time.Minute), t1.Add(time.Hour + 2*time.Minute)} {
		s := e.runSnapshot(t, at, bp, alerts)
		want := `[]`
		if i == 2 {
			want = `["pipetel anomaly new_signature resolved ` + key + `"]`
		}
		jsonEqual(t, fmt.Sprint("alerts at clear evaluation ", i+1), kindOf(alerts.take(), rollup.KindNewSignature), want)
		if n := len(s.Signatures.Signatures); n != 3 {
			t.Errorf("%d signatures remembered at %s, want 3", n, at)
		}
	}
}

// TestFlakyAndBrokenScenario: through the rollup's snapshot, a test that passes and fails
// by turns is flaky, one that always fails is broken, one that always passes is neither;
// the judgement is carried over between its computations (a result added meanwhile shows
// only at the next).
func TestFlakyAndBrokenScenario(t *testing.T) {
	now := time.Date(2026, 6, 8, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, now)
	test := func(name, results string, end time.Time) []telemetry.Event {
		var out []telemetry.Event
		for i, r := range results {
			ts := end.Add(time.Duration(i-len(results)) * time.Hour)
			result := telemetry.ResultPass
			if r == 'f' {
				result = telemetry.ResultFail
			}
			out = append(out, telemetry.Event{ID: fmt.Sprint(name, "-", end.Unix(), "-", i), Kind: telemetry.KindTestResult, Runtime: "lava-a",
				DeviceType: "rk3399", DeviceID: "rk-1", JobName: "kselftest-net", Tree: "next", Branch: "master", TestName: name,
				JobID: fmt.Sprint("job-", i), Result: result, TS: ts, ReceivedAt: ts})
		}
		return out
	}
	var evs []telemetry.Event
	evs = append(evs, test("net.tls", "pfppfp", now)...)
	evs = append(evs, test("net.udpgro", "ffffff", now)...)
	evs = append(evs, test("net.ok", "pppppp", now)...)
	e.put(t, evs)
	bp := analytics.BaselineParams{Baseline: 2 * time.Hour}
	classes := func(s rollup.Snapshot) string {
		var out []string
		for _, f := range append(append([]analytics.FlakyTest{}, s.Flaky.Flaky...), s.Flaky.Broken...) {
			out = append(out, fmt.Sprint(f.Class, " ", f.TestName, " ", f.History, " ", f.Transitions))
		}
		return strings.Join(out, ", ")
	}
	first := e.runSnapshot(t, now, bp, nil)
	if got, want := classes(first), "flaky net.tls PFPPFP 4, broken net.udpgro FFFFFF 0"; got != want {
		t.Errorf("at %s: %s, want %s", now, got, want)
	}
	jsonEqual(t, "the broken test's evidence", first.Flaky.Broken[0], `{"class":"broken","test_name":"net.udpgro","device_type":"rk3399",
	  "job_name":"kselftest-net","tree":"next","branch":"master","history":"FFFFFF","runs":6,"passes":0,"failures":6,"transitions":0,
	  "runtimes":["lava-a"],"last_pass":null,"last_fail":{"ts":"2026-06-08T11:00:00.000000Z","job_id":"job-5","runtime":"lava-a","device_id":"rk-1"}}`)
	if first.Flaky.EventsRead != 18 {
		t.Errorf("read %d test results, want 18", first.Flaky.EventsRead)
	}

	// net.ok fails now and then passes again: flaky from the next computation on.
	e.put(t, test("net.ok", "fp", now.Add(5*time.Minute)))
	carried := e.runSnapshot(t, now.Add(5*time.Minute), bp, nil)
	if carried.Flaky.ComputedAt != first.Flaky.ComputedAt || classes(carried) != classes(first) {
		t.Errorf("5 minutes on: computed at %s, %s; want carried over from %s", carried.Flaky.ComputedAt, classes(carried), first.Flaky.ComputedAt)
	}
	later := e.runSnapshot(t, now.Add(10*time.Minute), bp, nil)
	if got, want := classes(later), "flaky net.tls PFPPFP 4, flaky net.ok PPPPPFPP 2, broken net.udpgro FFFFFF 0"; got != want {
		t.Errorf("10 minutes on: %s, want %s", got, want)
	}
}

// TestBaselineKeepsOutOpenAnomalies: a device failing 20% of its results from one hour on
// stays anomalous against its 2% baseline for as long as it fails so, though the hours of
// its anomaly slide into the baseline window: they are left out of its baseline while it
// is open, so the expected rate stays the 2% of before.
func TestBaselineKeepsOutOpenAnomalies(t *testing.T) {
	now := time.Date(2026, 6, 8, 12, 30, 0, 0, time.UTC)
	e := newEnv(t, now)
	window := now.Add(-time.Hour)
	from := window.Add(-24 * time.Hour)
	var evs []telemetry.Event
	evs = append(evs, every("rk-base", "lava-a", "rk3399", "rk-1", from, window, 30*time.Minute, func(i int) bool { return i%48 == 47 })...)
	evs = append(evs, every("rk-now", "lava-a", "rk3399", "rk-1", window, now.Add(2*time.Hour+time.Second), time.Minute, func(i int) bool { return i%5 == 4 })...)
	e.put(t, evs)
	bp := analytics.BaselineParams{Baseline: 26 * time.Hour}
	for _, c := range []struct {
		at       time.Time
		expected string
	}{
		{now, `{"count":1,"total":48,"rate":0.031}`},
		// The hour from 11:00, whose second half was anomalous, and later ones are left out:
		// 47 of the 48 results, without the failure of 11:00. Were they not, the 12 failures
		// in 60 of 11:30 to 12:30 would make the expected rate 0.12, and 20% no anomaly.
		{now.Add(time.Hour), `{"count":0,"total":47,"rate":0.01}`},
		{now.Add(2 * time.Hour), `{"count":0,"total":47,"rate":0.01}`},
	} {
		s := e.runSnapshot(t, c.at, bp, nil)
		got := []analytics.RateCount{}
		for _, a := range s.Baseline {
			if a.Scope == analytics.LevelDevice && a.Metric == analytics.MetricFailRate {
				got = append(got, a.Expected)
			}
		}
		jsonEqual(t, fmt.Sprint("expected of rk-1's fail rate at ", c.at), got, "["+c.expected+"]")
	}
}
