package analytics_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// TestFlakyTestsClassify: each test's verdicts, oldest first, and its class ("" when
// neither flaky nor broken). Skips, incompletes and infra errors are not verdicts; only
// the last LastN count.
func TestFlakyTestsClassify(t *testing.T) {
	now := time.Date(2026, 7, 21, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name, results  string // p pass, f fail, s skip, i incomplete, x infra-error fail
		class, history string
		transitions    int
	}{
		{"alternating", "pfpfpf", analytics.ClassFlaky, "PFPFPF", 5},
		{"two changes", "ppfpp", analytics.ClassFlaky, "PPFPP", 2},
		{"always fails", "ffffff", analytics.ClassBroken, "FFFFFF", 0},
		{"fails, skips and infra errors between", "fsfxfif", analytics.ClassBroken, "FFFF", 0},
		{"infra errors are no verdict", "pxpxpxp", "", "PPPP", 0},
		{"a regression is one change", "ppppfff", "", "PPPPFFF", 1},
		{"too few verdicts", "pfp", "", "PFP", 2},
		{"only the last 10", "pfpfpfppppppppppp", "", "PPPPPPPPPP", 0},
		{"broken after flaky", "pfpfffffffffff", analytics.ClassBroken, "FFFFFFFFFF", 0},
		{"always passes", "pppppp", "", "PPPPPP", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := analytics.NewFlakyAccumulator(analytics.FlakyParams{}, now)
			// Given newest first: the accumulator orders by ts itself.
			for i := len(c.results) - 1; i >= 0; i-- {
				e := &telemetry.Event{ID: fmt.Sprint("e", i), Kind: telemetry.KindTestResult, Runtime: "lava-a", TestName: "baseline.dmesg",
					JobName: "baseline-arm64", Tree: "mainline", Branch: "master", DeviceType: "rk3399", JobID: fmt.Sprint("job-", i),
					TS: now.Add(time.Duration(i-len(c.results)) * time.Hour)}
				switch c.results[i] {
				case 'p':
					e.Result = telemetry.ResultPass
				case 'f':
					e.Result = telemetry.ResultFail
				case 's':
					e.Result = telemetry.ResultSkip
				case 'i':
					e.Result = telemetry.ResultIncomplete
				case 'x':
					e.Result, e.IsInfraError = telemetry.ResultFail, true
				}
				a.Add(e)
			}
			got := a.Result()
			var rows []analytics.FlakyTest
			rows = append(rows, got.Flaky...)
			rows = append(rows, got.Broken...)
			class := ""
			if len(rows) > 1 {
				t.Fatalf("%d rows for one test", len(rows))
			}
			if len(rows) == 1 {
				class = rows[0].Class
				if rows[0].History != c.history || rows[0].Transitions != c.transitions {
					t.Errorf("history %q with %d transitions, want %q with %d", rows[0].History, rows[0].Transitions, c.history, c.transitions)
				}
			}
			if class != c.class {
				t.Errorf("class %q, want %q", class, c.class)
			}
		})
	}
}

// TestFlakyTestsRankAndEvidence: flaky tests rank by transitions, then failures; each row
// names its test, its last pass and last fail; tests on another device type, job, tree or
// branch are other tests.
func TestFlakyTestsRankAndEvidence(t *testing.T) {
	now := time.Date(2026, 7, 21, 12, 0, 0, 0, time.UTC)
	a := analytics.NewFlakyAccumulator(analytics.FlakyParams{}, now)
	add := func(test, deviceType, branch, results string) {
		for i, r := range results {
			result := telemetry.ResultPass
			if r == 'f' {
				result = telemetry.ResultFail
			}
			a.Add(&telemetry.Event{ID: fmt.Sprint(test, deviceType, branch, i), Kind: telemetry.KindTestResult, Runtime: "lava-" + deviceType,
				TestName: test, JobName: "kselftest", Tree: "next", Branch: branch, DeviceType: deviceType, DeviceID: deviceType + "-1",
				JobID: fmt.Sprint(i), Result: result, TS: now.Add(time.Duration(i-len(results)) * time.Minute)})
		}
	}
	add("net.tls", "qemu", "master", "pfpfpf")
	add("net.tls", "rk3399", "master", "ppfpfp")
	add("net.tls", "rk3399", "stable", "ppppp")
	add("mm.hugetlb", "qemu", "master", "pffpfp")
	got := a.Result()
	jsonEqual(t, "flaky", got.Flaky, `[
	 {"class":"flaky","test_name":"net.tls","device_type":"qemu","job_name":"kselftest","tree":"next","branch":"master",
	  "history":"PFPFPF","runs":6,"passes":3,"failures":3,"transitions":5,"runtimes":["lava-qemu"],
	  "last_pass":{"ts":"2026-07-21T11:58:00.000000Z","job_id":"4","runtime":"lava-qemu","device_id":"qemu-1"},
	  "last_fail":{"ts":"2026-07-21T11:59:00.000000Z","job_id":"5","runtime":"lava-qemu","device_id":"qemu-1"}},
	 {"class":"flaky","test_name":"mm.hugetlb","device_type":"qemu","job_name":"kselftest","tree":"next","branch":"master",
	  "history":"PFFPFP","runs":6,"passes":3,"failures":3,"transitions":4,"runtimes":["lava-qemu"],
	  "last_pass":{"ts":"2026-07-21T11:59:00.000000Z","job_id":"5","runtime":"lava-qemu","device_id":"qemu-1"},
	  "last_fail":{"ts":"2026-07-21T11:58:00.000000Z","job_id":"4","runtime":"lava-qemu","device_id":"qemu-1"}},
	 {"class":"flaky","test_name":"net.tls","device_type":"rk3399","job_name":"kselftest","tree":"next","branch":"master",
	  "history":"PPFPFP","runs":6,"passes":4,"failures":2,"transitions":4,"runtimes":["lava-rk3399"],
	  "last_pass":{"ts":"2026-07-21T11:59:00.000000Z","job_id":"5","runtime":"lava-rk3399","device_id":"rk3399-1"},
	  "last_fail":{"ts":"2026-07-21T11:58:00.000000Z","job_id":"4","runtime":"lava-rk3399","device_id":"rk3399-1"}}]`)
	if len(got.Broken) != 0 || got.EventsRead != 23 || got.Truncated {
		t.Errorf("broken %v, read %d, truncated %v; want none, 23, false", got.Broken, got.EventsRead, got.Truncated)
	}
}
