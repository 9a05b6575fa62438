package analytics_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

func TestParseAnomalyParams(t *testing.T) {
	defaults := analytics.AnomalyParams{Window: 6 * time.Hour, Threshold: 0.5, MinTotal: 3, Scope: "device_type"}
	for _, c := range []struct {
		in   map[string]string
		want analytics.AnomalyParams
	}{
		{map[string]string{}, defaults},
		{map[string]string{"window": "1h"}, analytics.AnomalyParams{Window: time.Hour, Threshold: 0.5, MinTotal: 3, Scope: "device_type"}},
		{map[string]string{"window": "48h", "threshold": "1.0", "min_total": "3", "scope": "device"},
			analytics.AnomalyParams{Window: 48 * time.Hour, Threshold: 1, MinTotal: 3, Scope: "device"}},
		{map[string]string{"window": "12h", "threshold": "0", "min_total": "1"},
			analytics.AnomalyParams{Window: 12 * time.Hour, Threshold: 0, MinTotal: 1, Scope: "device_type"}},
		{map[string]string{"threshold": "0.25", "min_total": "250"},
			analytics.AnomalyParams{Window: 6 * time.Hour, Threshold: 0.25, MinTotal: 250, Scope: "device_type"}},
		{map[string]string{"limit": "5"}, defaults}, // not ours to judge
	} {
		got, err := analytics.ParseAnomalyParams(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseAnomalyParams(%v) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, w := range analytics.AnomalyWindows {
		p, err := analytics.ParseAnomalyParams(map[string]string{"window": w})
		if err != nil || p.WindowName() != w {
			t.Errorf("window %s parsed as %v (%v), named %s", w, p.Window, err, p.WindowName())
		}
	}

	for _, c := range []struct {
		in       map[string]string
		field    string
		mentions string
	}{
		{map[string]string{"window": "2h"}, "window", "1h, 3h, 6h, 12h, 24h, 48h"},
		{map[string]string{"window": ""}, "window", "1h, 3h, 6h, 12h, 24h, 48h"},
		{map[string]string{"window": "6H"}, "window", "1h, 3h, 6h, 12h, 24h, 48h"},
		{map[string]string{"threshold": "1.5"}, "threshold", "from 0 to 1"},
		{map[string]string{"threshold": "-0.1"}, "threshold", "from 0 to 1"},
		{map[string]string{"threshold": "NaN"}, "threshold", "from 0 to 1"},
		{map[string]string{"threshold": "half"}, "threshold", "from 0 to 1"},
		{map[string]string{"min_total": "0"}, "min_total", "at least 1"},
		{map[string]string{"min_total": "2.5"}, "min_total", "at least 1"},
		{map[string]string{"min_total": "99999999999999999999"}, "min_total", "at least 1"},
		{map[string]string{"scope": "lab"}, "scope", "device_type, device"},
		{map[string]string{"scope": ""}, "scope", "device_type, device"},
	} {
		_, err := analytics.ParseAnomalyParams(c.in)
		var e *telemetry.Error
		if !errors.As(err, &e) || e.Code != telemetry.CodeInvalid {
			t.Errorf("ParseAnomalyParams(%v) error = %v, want a CodeInvalid *Error", c.in, err)
			continue
		}
		if !strings.Contains(e.Message, c.mentions) || len(e.Fields) != 1 || e.Fields[0].Field != c.field {
			t.Errorf("ParseAnomalyParams(%v) = %q %+v, want one problem with %s naming %q", c.in, e.Message, e.Fields, c.field, c.mentions)
		}
	}

	_, err := analytics.ParseAnomalyParams(map[string]string{"scope": "lab", "window": "2h", "min_total": "0", "threshold": "2"})
	var e *telemetry.Error
	if !errors.As(err, &e) || len(e.Fields) != 4 {
		t.Fatalf("four bad parameters gave %v, want all four reported", err)
	}
	for i, field := range []string{"window", "threshold", "min_total", "scope"} {
		if e.Fields[i].Field != field {
			t.Errorf("problem %d is about %s, want %s", i, e.Fields[i].Field, field)
		}
	}
}

var anomalyNow = time.Date(2026, 7, 21, 12, 0, 0, 0, time.UTC)

func result(runtime, deviceType, deviceID, kind, res string, ts time.Time) telemetry.Event {
	return telemetry.Event{
		ID: runtime + "/" + deviceID + "/" + telemetry.FormatTime(ts), Kind: kind, Runtime: runtime,
		DeviceType: deviceType, DeviceID: deviceID, Result: res, TS: ts,
	}
}

func report(t *testing.T, params map[string]string, now time.Time, events []telemetry.Event) analytics.AnomalyReport {
	t.Helper()
	p, err := analytics.ParseAnomalyParams(params)
	if err != nil {
		t.Fatal(err)
	}
	acc := analytics.NewAnomalyAccumulator(p, now)
	for i := range events {
		acc.Add(&events[i])
	}
	return acc.Report()
}

func TestAnomalyWindowEdges(t *testing.T) {
	since := anomalyNow.Add(-6 * time.Hour)
	events := []telemetry.Event{
		result("lava-a", "x", "x-1", "job_result", "fail", since),                         // exactly at since: in
		result("lava-a", "x", "x-1", "job_result", "fail", since.Add(-time.Microsecond)),  // just before: out
		result("lava-a", "x", "x-1", "job_result", "fail", anomalyNow),                    // now: in
		result("lava-a", "x", "x-1", "job_result", "pass", anomalyNow.Add(2*time.Hour)),   // stamped ahead: in, as in KernelCI
		result("lava-a", "x", "x-1", "job_result", "fail", since.Add(-48*time.Hour)),      // long ago: out
		result("lava-a", "x", "x-1", "runtime_error", "", since.Add(-time.Microsecond)),   // errors obey the window too
		result("lava-a", "x", "x-1", "runtime_error", "", since),                          //
		result("lava-a", "x", "x-1", "job_skip", "", since.Add(time.Hour)),                //
		result("lava-a", "x", "x-1", "runtime_warning", "", since.Add(time.Hour)),         // not an error anomaly
		result("lava-a", "x", "x-1", "job_submission", "", since.Add(time.Hour)),          // not a result
		result("lava-a", "x", "x-1", "build_result", "fail", since.Add(time.Hour)),        // not a test result
		result("lava-a", "x", "", "test_result", "incomplete", since.Add(30*time.Minute)), // device_type scope counts tests
	}
	r := report(t, map[string]string{"min_total": "1"}, anomalyNow, events)
	if r.Since != "2026-07-21T06:00:00.000000Z" {
		t.Errorf("since = %s", r.Since)
	}
	if len(r.ResultAnomalies) != 1 || r.ResultAnomalies[0].Total != 4 || r.ResultAnomalies[0].Fail != 2 || r.ResultAnomalies[0].Incomplete != 1 {
		t.Fatalf("result anomalies = %+v, want one group of 4 (2 fail, 1 incomplete, 1 pass)", r.ResultAnomalies)
	}
	if got := r.ResultAnomalies[0].LastSeen; got != "2026-07-21T14:00:00.000000Z" {
		t.Errorf("last_seen = %s, want the event stamped ahead", got)
	}
	if len(r.ErrorAnomalies) != 1 || r.ErrorAnomalies[0].Count != 2 {
		t.Errorf("error anomalies = %+v, want 2 (the error at since and the skip)", r.ErrorAnomalies)
	}

	// A clock with nanoseconds: since is truncated to microseconds, the precision of ts,
	// so an event stamped at the truncated instant is in.
	now := anomalyNow.Add(999)
	acc := analytics.NewAnomalyAccumulator(analytics.DefaultAnomalyParams(), now)
	if want := since; !acc.Since().Equal(want) {
		t.Errorf("since for %s = %s, want %s", now, acc.Since(), want)
	}
}

func TestAnomalyEmptyWindow(t *testing.T) {
	events := []telemetry.Event{result("lava-a", "x", "x-1", "job_result", "fail", anomalyNow.Add(-2*time.Hour))}
	r := report(t, map[string]string{"window": "1h", "min_total": "1"}, anomalyNow, events)
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"window":"1h","threshold":0.5,"min_total":1,"scope":"device_type","since":"2026-07-21T11:00:00.000000Z","result_anomalies":[],"error_anomalies":[]}`
	if string(got) != want {
		t.Errorf("empty window:\n got %s\nwant %s", got, want)
	}
}

func TestAnomalyRowFields(t *testing.T) {
	at := func(minutes int) time.Time { return anomalyNow.Add(-time.Duration(minutes) * time.Minute) }
	withError := func(e telemetry.Event, infra bool, errorType, msg string) telemetry.Event {
		e.IsInfraError, e.ErrorType, e.ErrorMsg = infra, errorType, msg
		return e
	}
	events := []telemetry.Event{
		withError(result("lava-a", "board", "board-01", "job_result", "incomplete", at(30)), true, "Infrastructure", "bootloader-commands timed out after 180 seconds"),
		withError(result("lava-a", "board", "board-01", "job_result", "incomplete", at(90)), true, "Infrastructure", "auto-login-action timed out"),
		withError(result("lava-a", "board", "board-01", "job_result", "fail", at(60)), false, "Kernel", "Kernel panic"),
		// The newest event of board-02 has no error: latest_error_* are null although
		// older events had errors, because they are the newest event's, as in KernelCI.
		withError(result("lava-a", "board", "board-02", "job_result", "fail", at(100)), true, "Infrastructure", "old"),
		withError(result("lava-a", "board", "board-02", "job_result", "fail", at(80)), true, "Infrastructure", "old"),
		result("lava-a", "board", "board-02", "job_result", "fail", at(10)),
		// A skip breaks constancy.
		result("lava-a", "board", "board-03", "job_result", "fail", at(10)),
		result("lava-a", "board", "board-03", "job_result", "fail", at(20)),
		result("lava-a", "board", "board-03", "job_result", "skip", at(30)),
	}
	// board-01 and board-02 tie on both rates and total: the device id decides.
	r := report(t, map[string]string{"scope": "device", "threshold": "0.5"}, anomalyNow, events)
	got, err := json.Marshal(r.ResultAnomalies)
	if err != nil {
		t.Fatal(err)
	}
	want := `[` +
		`{"runtime":"lava-a","lab":"lava-a","device_type":"board","device_id":"board-01","total":3,"pass":0,"fail":1,"incomplete":2,"skip":0,"infra_error":2,"infra_rate":0.667,"fail_rate":1.0,"constant_failure":true,"constant_infra_failure":false,"last_seen":"2026-07-21T11:30:00.000000Z","latest_error_type":"Infrastructure","latest_error_msg":"bootloader-commands timed out after 180 seconds",` +
		`"latest_failure":{"ts":"2026-07-21T11:30:00.000000Z","error_type":"Infrastructure","error_msg":"bootloader-commands timed out after 180 seconds"}},` +
		`{"runtime":"lava-a","lab":"lava-a","device_type":"board","device_id":"board-02","total":3,"pass":0,"fail":3,"incomplete":0,"skip":0,"infra_error":2,"infra_rate":0.667,"fail_rate":1.0,"constant_failure":true,"constant_infra_failure":false,"last_seen":"2026-07-21T11:50:00.000000Z","latest_error_type":null,"latest_error_msg":null,` +
		`"latest_failure":{"ts":"2026-07-21T11:50:00.000000Z","error_type":null,"error_msg":null}},` +
		`{"runtime":"lava-a","lab":"lava-a","device_type":"board","device_id":"board-03","total":3,"pass":0,"fail":2,"incomplete":0,"skip":1,"infra_error":0,"infra_rate":0.0,"fail_rate":0.667,"constant_failure":false,"constant_infra_failure":false,"last_seen":"2026-07-21T11:50:00.000000Z","latest_error_type":null,"latest_error_msg":null,` +
		`"latest_failure":{"ts":"2026-07-21T11:50:00.000000Z","error_type":null,"error_msg":null}}` +
		`]`
	if string(got) != want {
		t.Errorf("rows:\n got %s\nwant %s", got, want)
	}

	// The newest event passed, so latest_error_* are null (KernelCI's), but latest_failure
	// still names the reason the group is failing.
	events = []telemetry.Event{
		withError(result("lava-a", "board", "board-04", "job_result", "fail", at(20)), true, "Infrastructure", "bootloader timed out"),
		withError(result("lava-a", "board", "board-04", "job_result", "fail", at(15)), false, "Kernel", "Kernel panic"),
		result("lava-a", "board", "board-04", "job_result", "pass", at(10)),
	}
	r = report(t, map[string]string{"scope": "device", "min_total": "3"}, anomalyNow, events)
	if len(r.ResultAnomalies) != 1 || r.ResultAnomalies[0].LatestErrorMsg != nil || r.ResultAnomalies[0].LatestFailure == nil ||
		*r.ResultAnomalies[0].LatestFailure.ErrorMsg != "Kernel panic" || r.ResultAnomalies[0].LatestFailure.TS != "2026-07-21T11:45:00.000000Z" {
		t.Errorf("latest_failure: %+v", r.ResultAnomalies)
	}

	// KernelCI's own example: three incomplete infrastructure errors on one board.
	events = events[:0]
	for i := range 3 {
		events = append(events, withError(result("lava-test", "board", "board-01", "job_result", "incomplete", at(10*i)), true, "Infrastructure", "bootloader-commands timed out after 180 seconds"))
	}
	r = report(t, map[string]string{"scope": "device", "window": "48h", "threshold": "1.0", "min_total": "3"}, anomalyNow, events)
	if len(r.ResultAnomalies) != 1 || !r.ResultAnomalies[0].ConstantFailure || !r.ResultAnomalies[0].ConstantInfraFailure ||
		r.ResultAnomalies[0].InfraRate != 1 || r.ResultAnomalies[0].FailRate != 1 {
		t.Errorf("KernelCI's example gave %+v", r.ResultAnomalies)
	}
}

func TestAnomalyScopes(t *testing.T) {
	at := anomalyNow.Add(-time.Hour)
	events := []telemetry.Event{
		result("lava-a", "board", "board-01", "job_result", "fail", at),
		result("lava-a", "board", "board-01", "job_result", "fail", at),
		result("lava-a", "board", "board-01", "test_result", "pass", at),
		result("lava-a", "board", "board-01", "test_result", "pass", at),
		result("lava-a", "board", "board-01", "test_result", "pass", at),
		result("lava-a", "board", "", "job_result", "fail", at), // no device: left out of device scope
		result("k8s", "", "", "test_result", "fail", at),        // no device type: a null group
		result("k8s", "", "", "test_result", "fail", at),
	}
	device := report(t, map[string]string{"scope": "device", "min_total": "1"}, anomalyNow, events)
	if len(device.ResultAnomalies) != 1 || *device.ResultAnomalies[0].DeviceID != "board-01" || device.ResultAnomalies[0].Total != 2 {
		t.Errorf("device scope: %+v, want board-01 with its 2 job results only", device.ResultAnomalies)
	}
	// Device type scope counts board's 3 job and 3 test results (0.5 reaches the
	// threshold), has no device_id key, and keeps the group without a device type.
	byType := report(t, map[string]string{"min_total": "1"}, anomalyNow, events)
	rows, _ := json.Marshal(byType.ResultAnomalies)
	want := `[` +
		`{"runtime":"k8s","lab":"k8s","device_type":null,"total":2,"pass":0,"fail":2,"incomplete":0,"skip":0,"infra_error":0,"infra_rate":0.0,"fail_rate":1.0,"constant_failure":true,"constant_infra_failure":false,"last_seen":"2026-07-21T11:00:00.000000Z","latest_error_type":null,"latest_error_msg":null,` +
		`"latest_failure":{"ts":"2026-07-21T11:00:00.000000Z","error_type":null,"error_msg":null}},` +
		`{"runtime":"lava-a","lab":"lava-a","device_type":"board","total":6,"pass":3,"fail":3,"incomplete":0,"skip":0,"infra_error":0,"infra_rate":0.0,"fail_rate":0.5,"constant_failure":false,"constant_infra_failure":false,"last_seen":"2026-07-21T11:00:00.000000Z","latest_error_type":null,"latest_error_msg":null,` +
		`"latest_failure":{"ts":"2026-07-21T11:00:00.000000Z","error_type":null,"error_msg":null}}` +
		`]`
	if string(rows) != want {
		t.Errorf("device_type scope:\n got %s\nwant %s", rows, want)
	}
}

func TestAnomalyInclusionAndOrder(t *testing.T) {
	at := anomalyNow.Add(-time.Hour)
	var events []telemetry.Event
	add := func(runtime, deviceType string, results ...string) {
		for _, r := range results {
			e := result(runtime, deviceType, "", "job_result", r, at)
			if r == "infra" {
				e.Result, e.IsInfraError = "pass", true // an infra error that still passed
			}
			events = append(events, e)
		}
	}
	add("lava-a", "two-of-three", "fail", "incomplete", "pass")             // 0.667
	add("lava-a", "too-few", "fail", "fail")                                // below min_total
	add("lava-a", "infra-only", "infra", "infra", "pass", "pass")           // infra 0.5, fail 0
	add("lava-b", "two-of-three", "fail", "fail", "pass")                   // same rates as lava-a's: runtime breaks the tie
	add("lava-a", "bigger", "fail", "fail", "fail", "fail", "pass", "pass") // 0.667 too, on more events
	add("lava-a", "healthy", "pass", "pass", "pass", "fail")

	names := func(r analytics.AnomalyReport) string {
		var out []string
		for _, row := range r.ResultAnomalies {
			out = append(out, row.Runtime+"/"+*row.DeviceType)
		}
		return strings.Join(out, " ")
	}
	// infra_rate first, then fail_rate, then more events first, then runtime.
	if got, want := names(report(t, map[string]string{}, anomalyNow, events)), "lava-a/infra-only lava-a/bigger lava-a/two-of-three lava-b/two-of-three"; got != want {
		t.Errorf("threshold 0.5: %s\nwant %s", got, want)
	}
	// The rounded rate, as shown, is compared: 0.667 ≥ 0.667 but not ≥ 0.668.
	if got, want := names(report(t, map[string]string{"threshold": "0.667"}, anomalyNow, events)), "lava-a/bigger lava-a/two-of-three lava-b/two-of-three"; got != want {
		t.Errorf("threshold 0.667: %s\nwant %s", got, want)
	}
	if got := names(report(t, map[string]string{"threshold": "0.668"}, anomalyNow, events)); got != "" {
		t.Errorf("threshold 0.668: %s, want none", got)
	}
	if got, want := names(report(t, map[string]string{"threshold": "0", "min_total": "5"}, anomalyNow, events)), "lava-a/bigger"; got != want {
		t.Errorf("min_total 5: %s\nwant %s", got, want)
	}
}

func TestErrorAnomalies(t *testing.T) {
	at := anomalyNow.Add(-time.Hour)
	var events []telemetry.Event
	add := func(n int, kind, runtime, errorType string) {
		for range n {
			events = append(events, telemetry.Event{Kind: kind, Runtime: runtime, ErrorType: errorType, TS: at})
		}
	}
	add(2, "runtime_error", "lava-cip", "online_check")
	add(2, "job_skip", "lava-cip", "online_check") // skips and errors count together
	add(3, "job_skip", "lava-a", "")               // no error type: a null group, last among equals
	add(3, "runtime_error", "lava-a", "submit_error")
	add(3, "runtime_error", "lava-0", "submit_error")
	add(2, "runtime_error", "lava-b", "submit_error") // too few
	add(5, "runtime_warning", "lava-b", "queue_depth")
	r := report(t, map[string]string{}, anomalyNow, events)
	got, _ := json.Marshal(r.ErrorAnomalies)
	want := `[{"runtime":"lava-cip","error_type":"online_check","count":4},{"runtime":"lava-0","error_type":"submit_error","count":3},{"runtime":"lava-a","error_type":"submit_error","count":3},{"runtime":"lava-a","error_type":null,"count":3}]`
	if string(got) != want {
		t.Errorf("error anomalies:\n got %s\nwant %s", got, want)
	}
}

// TestAnomalyAnswerIgnoresOrderAndSharding feeds the dataset in reverse, split in shards,
// with the events of equal timestamps, and expects the very same answer.
func TestAnomalyAnswerIgnoresOrderAndSharding(t *testing.T) {
	events := simulated(t, 8000)
	// Twins: same group and ts as an existing event, another id and error. Which is the
	// newest must not depend on arrival order.
	for i := range 40 {
		twin := events[i*97]
		twin.ID += "-twin"
		twin.ErrorType, twin.ErrorMsg = "twin", "same instant"
		events = append(events, twin)
	}
	now := events[len(events)/2].TS.Add(12 * time.Hour)
	for _, scope := range []string{analytics.AnomalyScopeDeviceType, analytics.AnomalyScopeDevice} {
		p := analytics.AnomalyParams{Window: 24 * time.Hour, Threshold: 0.2, MinTotal: 2, Scope: scope}
		forward := analytics.NewAnomalyAccumulator(p, now)
		for i := range events {
			forward.Add(&events[i])
		}
		shards := make([]*analytics.AnomalyAccumulator, 5)
		for i := range shards {
			shards[i] = analytics.NewAnomalyAccumulator(p, now)
		}
		for i := len(events) - 1; i >= 0; i-- {
			shards[i%len(shards)].Add(&events[i])
		}
		merged := analytics.NewAnomalyAccumulator(p, now)
		for _, s := range shards {
			if err := merged.Merge(s); err != nil {
				t.Fatal(err)
			}
		}
		want, _ := json.Marshal(forward.Report())
		got, _ := json.Marshal(merged.Report())
		if string(got) != string(want) {
			t.Errorf("scope %s: reversed and sharded differs:\n%s", scope, firstDifference(want, got))
		}
		if len(forward.Report().ResultAnomalies) == 0 {
			t.Errorf("scope %s: no anomalies, the comparison proves nothing", scope)
		}

		// Only what AnomalyFilters selects is needed for the same answer.
		filtered := analytics.NewAnomalyAccumulator(p, now)
		for _, f := range analytics.AnomalyFilters(p, now) {
			if !f.Since.Equal(filtered.Since()) {
				t.Errorf("filter since %s, window since %s", f.Since, filtered.Since())
			}
			for i := range events {
				if f.Matches(&events[i]) {
					filtered.Add(&events[i])
				}
			}
		}
		if got, _ := json.Marshal(filtered.Report()); string(got) != string(want) {
			t.Errorf("scope %s: events selected by AnomalyFilters give another answer:\n%s", scope, firstDifference(want, got))
		}
	}

	other := analytics.NewAnomalyAccumulator(analytics.DefaultAnomalyParams(), now.Add(time.Second))
	if err := analytics.NewAnomalyAccumulator(analytics.DefaultAnomalyParams(), now).Merge(other); err == nil {
		t.Error("merging anomalies of another window succeeded")
	}
}

func TestAnomalyFiltersAskForTheKindsThatCount(t *testing.T) {
	for scope, want := range map[string]string{
		analytics.AnomalyScopeDeviceType: "job_result test_result runtime_error job_skip",
		analytics.AnomalyScopeDevice:     "job_result runtime_error job_skip",
	} {
		p := analytics.DefaultAnomalyParams()
		p.Scope = scope
		var kinds []string
		for _, f := range analytics.AnomalyFilters(p, anomalyNow) {
			kinds = append(kinds, f.Equals["kind"])
			if !f.Since.Equal(anomalyNow.Add(-6*time.Hour)) || !f.Until.IsZero() || len(f.Equals) != 1 {
				t.Errorf("filter %+v, want kind only, since 6 h before now, no until", f)
			}
		}
		if got := strings.Join(kinds, " "); got != want {
			t.Errorf("scope %s kinds %s, want %s", scope, got, want)
		}
	}
}
