package analytics_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// Golden files are rewritten with: go test ./internal/telemetry/analytics -run Golden -update
func init() {
	// Another test file of this binary may own the flag already; defining it twice panics.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files in testdata instead of comparing with them")
	}
}

func updatingGoldens() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// The fixed dataset: two days of simulated KernelCI activity, ending at datasetEnd.
var (
	datasetOptions = simulate.Options{
		Seed:   20260721,
		Events: 2500,
		Start:  time.Date(2026, 7, 19, 0, 0, 0, 0, time.UTC),
		End:    datasetEnd,
	}
	datasetEnd  = time.Date(2026, 7, 21, 0, 0, 0, 0, time.UTC)
	datasetPath = filepath.Join("testdata", "events.json")
)

// encodeDataset writes one event per line, so that a change to the simulation shows up in
// a diff as the events it changed.
func encodeDataset(t *testing.T, events []telemetry.Event) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, e := range events {
		line, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		if i < len(events)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]\n")
	return b.Bytes()
}

func TestGoldenDatasetIsWhatTheSimulationGenerates(t *testing.T) {
	events, err := simulate.Generate(datasetOptions)
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, datasetPath, encodeDataset(t, events))
}

// loadDataset returns the fixed dataset. TestGoldenDatasetIsWhatTheSimulationGenerates
// holds the committed file to the simulation, so generating it is reading it, and the
// aggregation tests do not depend on any decoder.
func loadDataset(t *testing.T) []telemetry.Event {
	t.Helper()
	events, err := simulate.Generate(datasetOptions)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// TestGoldenDatasetCoversTheIssue checks the dataset has what the stats and anomalies
// goldens are meant to exercise, so a change to the simulation cannot quietly drop it.
func TestGoldenDatasetCoversTheIssue(t *testing.T) {
	events := loadDataset(t)
	if len(events) < 2000 {
		t.Errorf("%d events, want at least 2,000", len(events))
	}
	runtimes, deviceTypes, devices, kinds, results := set{}, set{}, set{}, set{}, set{}
	var infra, noDevice, withDuration, withoutDuration, onlineChecks int
	byDevice := map[string]*analytics.Counts{}
	for i := range events {
		e := &events[i]
		runtimes.add(e.Runtime)
		deviceTypes.add(e.DeviceType)
		devices.add(e.DeviceID)
		kinds.add(e.Kind)
		results.add(e.Result)
		if e.IsInfraError {
			infra++
		}
		if e.DeviceID == "" {
			noDevice++
		}
		if e.Duration != nil {
			withDuration++
		} else {
			withoutDuration++
		}
		if e.Runtime == "lava-cip" && e.Kind == telemetry.KindRuntimeError && e.ErrorType == "online_check" {
			onlineChecks++
		}
		if e.Kind == telemetry.KindJobResult && e.DeviceID != "" {
			if byDevice[e.DeviceID] == nil {
				byDevice[e.DeviceID] = &analytics.Counts{}
			}
			byDevice[e.DeviceID].Add(e)
		}
	}
	if len(runtimes) < 5 {
		t.Errorf("runtimes %v, want at least 5", runtimes)
	}
	if len(deviceTypes) < 4 || len(devices) < 8 {
		t.Errorf("%d device types and %d devices, want several of each", len(deviceTypes), len(devices))
	}
	for _, k := range []string{telemetry.KindJobSubmission, telemetry.KindJobSkip, telemetry.KindJobResult, telemetry.KindTestResult, telemetry.KindBuildResult, telemetry.KindRuntimeError, telemetry.KindRuntimeWarning} {
		if !kinds.has(k) {
			t.Errorf("no %s event", k)
		}
	}
	for _, r := range []string{telemetry.ResultPass, telemetry.ResultFail, telemetry.ResultSkip, telemetry.ResultIncomplete, telemetry.ResultUnknown} {
		if !results.has(r) {
			t.Errorf("no event with result %s", r)
		}
	}
	if infra == 0 || noDevice == 0 || withDuration == 0 || withoutDuration == 0 {
		t.Errorf("infra errors %d, without device_id %d, with duration %d, without %d: want some of each", infra, noDevice, withDuration, withoutDuration)
	}
	if onlineChecks < 10 {
		t.Errorf("%d online-check errors from lava-cip, want a recurring failure", onlineChecks)
	}
	alwaysFailing := 0
	for _, c := range byDevice {
		if c.Total >= 3 && c.Fail+c.Incomplete == c.Total {
			alwaysFailing++
		}
	}
	if alwaysFailing == 0 {
		t.Error("no device whose every job failed")
	}
}

type set map[string]bool

func (s set) add(v string) {
	if v != "" {
		s[v] = true
	}
}
func (s set) has(v string) bool { return s[v] }

// statsCases are the stats goldens: every group_by field alone, combinations, and filters.
// Filters are applied with Filter.Matches, the reference the store's queries are tested
// against, before the events are added.
func statsCases() []struct {
	name    string
	groupBy string
	filter  telemetry.Filter
} {
	type statsCase = struct {
		name    string
		groupBy string
		filter  telemetry.Filter
	}
	var cases []statsCase
	for _, field := range analytics.StatsGroupFields {
		cases = append(cases, statsCase{name: "group_by-" + field, groupBy: field})
	}
	infra := true
	cases = append(cases,
		statsCase{name: "group_by-runtime,device_type", groupBy: "runtime,device_type"},
		statsCase{name: "group_by-lab,device_id", groupBy: "lab, device_id"},
		statsCase{name: "group_by-kind,runtime,arch", groupBy: "kind,runtime,arch"},
		statsCase{name: "group_by-runtime,lab", groupBy: "runtime,lab"},
		statsCase{name: "kind-job_result,group_by-runtime", groupBy: "runtime",
			filter: telemetry.Filter{Equals: map[string]string{"kind": telemetry.KindJobResult}}},
		statsCase{name: "runtime-lava-collabora,group_by-device_type", groupBy: "device_type",
			filter: telemetry.Filter{Equals: map[string]string{"runtime": "lava-collabora"}}},
		statsCase{name: "kind-job_result,lab-lava-baylibre,group_by-lab,device_id", groupBy: "lab,device_id",
			filter: telemetry.Filter{Equals: map[string]string{"kind": telemetry.KindJobResult, "runtime": "lava-baylibre"}}},
		statsCase{name: "since-24h,group_by-runtime", groupBy: "runtime",
			filter: telemetry.Filter{Since: datasetEnd.Add(-24 * time.Hour)}},
		statsCase{name: "since-until-6h,group_by-device_type", groupBy: "device_type",
			filter: telemetry.Filter{Since: datasetEnd.Add(-12 * time.Hour), Until: datasetEnd.Add(-6 * time.Hour)}},
		statsCase{name: "tree-mainline,kind-test_result,group_by-arch", groupBy: "arch",
			filter: telemetry.Filter{Equals: map[string]string{"tree": "mainline", "kind": telemetry.KindTestResult}}},
		statsCase{name: "branch-master,arch-arm64,group_by-job_name", groupBy: "job_name",
			filter: telemetry.Filter{Equals: map[string]string{"branch": "master", "arch": "arm64"}}},
		statsCase{name: "device_type-rk3399-gru-kevin,job_name-baseline-arm64,group_by-device_id", groupBy: "device_id",
			filter: telemetry.Filter{Equals: map[string]string{"device_type": "rk3399-gru-kevin", "job_name": "baseline-arm64"}}},
		statsCase{name: "device_id-mt8192-asurada-spherion-r0-cbg-1,group_by-error_type", groupBy: "error_type",
			filter: telemetry.Filter{Equals: map[string]string{"device_id": "mt8192-asurada-spherion-r0-cbg-1"}}},
		statsCase{name: "kind-build_result,group_by-tree,branch", groupBy: "tree,branch",
			filter: telemetry.Filter{Equals: map[string]string{"kind": telemetry.KindBuildResult}}},
		statsCase{name: "is_infra_error,group_by-kind,error_type", groupBy: "kind,error_type",
			filter: telemetry.Filter{IsInfraError: &infra}},
		statsCase{name: "no-match,group_by-runtime", groupBy: "runtime",
			filter: telemetry.Filter{Equals: map[string]string{"runtime": "lava-nowhere"}}},
	)
	return cases
}

func TestGoldenStats(t *testing.T) {
	events := loadDataset(t)
	for _, c := range statsCases() {
		t.Run(c.name, func(t *testing.T) {
			groupBy, err := analytics.ParseGroupBy(c.groupBy)
			if err != nil {
				t.Fatal(err)
			}
			acc := analytics.NewStatsAccumulator(groupBy)
			for i := range events {
				if c.filter.Matches(&events[i]) {
					acc.Add(&events[i])
				}
			}
			got := marshalIndent(t, acc.Rows())
			compareGolden(t, filepath.Join("testdata", "stats", c.name+".json"), got)

			// The next step serves stats from hourly rollups: the same answer must come from
			// hourly aggregates per dimensions, stored and read back, merged in any order.
			fromRollups := analytics.NewStatsAccumulator(groupBy)
			for _, r := range hourlyRollups(t, events, c.filter) {
				fromRollups.AddAggregate(r.dimensions, r.aggregate)
			}
			if again := marshalIndent(t, fromRollups.Rows()); !bytes.Equal(again, got) {
				t.Errorf("stats from hourly rollups differ from stats from events:\n%s", firstDifference(got, again))
			}
		})
	}
}

type rollup struct {
	dimensions analytics.Dimensions
	aggregate  *analytics.Aggregate
}

// hourlyRollups aggregates the matching events per hour and dimensions, and returns the
// aggregates after a round trip through their binary encoding, newest hour first.
func hourlyRollups(t *testing.T, events []telemetry.Event, f telemetry.Filter) []rollup {
	t.Helper()
	type key struct {
		hour time.Time
		dims analytics.Dimensions
	}
	aggs := map[key]*analytics.Aggregate{}
	var order []key
	for i := range events {
		e := &events[i]
		if !f.Matches(e) {
			continue
		}
		k := key{e.TS.Truncate(time.Hour), analytics.DimensionsOf(e)}
		if aggs[k] == nil {
			aggs[k] = &analytics.Aggregate{}
			order = append(order, k)
		}
		aggs[k].Add(e)
	}
	rollups := make([]rollup, 0, len(order))
	for i := len(order) - 1; i >= 0; i-- {
		stored, err := aggs[order[i]].MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var read analytics.Aggregate
		if err := read.UnmarshalBinary(stored); err != nil {
			t.Fatal(err)
		}
		rollups = append(rollups, rollup{order[i].dims, &read})
	}
	return rollups
}

func TestGoldenAnomalies(t *testing.T) {
	events := loadDataset(t)
	type anomalyCase struct {
		name   string
		params map[string]string
		now    time.Time
	}
	var cases []anomalyCase
	for _, w := range analytics.AnomalyWindows {
		for _, scope := range []string{analytics.AnomalyScopeDeviceType, analytics.AnomalyScopeDevice} {
			cases = append(cases, anomalyCase{
				name:   "window-" + w + ",scope-" + scope,
				params: map[string]string{"window": w, "scope": scope},
				now:    datasetEnd,
			})
		}
	}
	for _, threshold := range []string{"0", "0.3", "0.7", "1"} {
		cases = append(cases, anomalyCase{
			name:   "window-24h,threshold-" + threshold,
			params: map[string]string{"window": "24h", "threshold": threshold},
			now:    datasetEnd,
		})
	}
	for _, minTotal := range []string{"1", "10"} {
		for _, scope := range []string{analytics.AnomalyScopeDeviceType, analytics.AnomalyScopeDevice} {
			cases = append(cases, anomalyCase{
				name:   "window-24h,min_total-" + minTotal + ",scope-" + scope,
				params: map[string]string{"window": "24h", "min_total": minTotal, "scope": scope},
				now:    datasetEnd,
			})
		}
	}
	cases = append(cases,
		// The requests KernelCI's analytics page makes.
		anomalyCase{name: "kernelci-window-24h,threshold-0.5", params: map[string]string{"window": "24h", "threshold": "0.5"}, now: datasetEnd},
		anomalyCase{name: "kernelci-scope-device,window-48h,threshold-1.0,min_total-3",
			params: map[string]string{"scope": "device", "window": "48h", "threshold": "1.0", "min_total": "3"}, now: datasetEnd},
		anomalyCase{name: "defaults", params: map[string]string{}, now: datasetEnd},
		anomalyCase{name: "empty-window", params: map[string]string{"window": "1h"}, now: datasetEnd.Add(72 * time.Hour)},
	)
	// now such that the window starts exactly at a device's job result: it must count.
	atSince := firstEvent(t, events, func(e *telemetry.Event) bool {
		return e.Kind == telemetry.KindJobResult && e.DeviceID != "" && e.Result == telemetry.ResultIncomplete
	})
	cases = append(cases, anomalyCase{name: "window-6h,scope-device,min_total-1,event-at-since",
		params: map[string]string{"window": "6h", "scope": "device", "min_total": "1", "threshold": "0"},
		now:    atSince.TS.Add(6 * time.Hour)})
	t.Run("event-at-since-counts", func(t *testing.T) {
		p := analytics.AnomalyParams{Window: 6 * time.Hour, Threshold: 0, MinTotal: 1, Scope: analytics.AnomalyScopeDevice}
		with, without := analytics.NewAnomalyAccumulator(p, atSince.TS.Add(6*time.Hour)), analytics.NewAnomalyAccumulator(p, atSince.TS.Add(6*time.Hour))
		if !with.Since().Equal(atSince.TS) {
			t.Fatalf("since %s, want %s", with.Since(), atSince.TS)
		}
		for i := range events {
			with.Add(&events[i])
			if events[i].ID != atSince.ID {
				without.Add(&events[i])
			}
		}
		count := func(r analytics.AnomalyReport) int64 {
			for _, row := range r.ResultAnomalies {
				if *row.DeviceID == atSince.DeviceID {
					return row.Total
				}
			}
			return 0
		}
		if count(with.Report()) != count(without.Report())+1 {
			t.Errorf("the job result at since is not counted: %d with it, %d without", count(with.Report()), count(without.Report()))
		}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := analytics.ParseAnomalyParams(c.params)
			if err != nil {
				t.Fatal(err)
			}
			acc := analytics.NewAnomalyAccumulator(p, c.now)
			for i := range events {
				acc.Add(&events[i])
			}
			got := marshalIndent(t, acc.Report())
			compareGolden(t, filepath.Join("testdata", "anomalies", c.name+".json"), got)
		})
	}
}

func firstEvent(t *testing.T, events []telemetry.Event, match func(*telemetry.Event) bool) telemetry.Event {
	t.Helper()
	for i := range events {
		if match(&events[i]) {
			return events[i]
		}
	}
	t.Fatal("no event in the dataset matches")
	return telemetry.Event{}
}

func marshalIndent(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._,=-]`)

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	path = filepath.Join(filepath.Dir(path), unsafeFileChars.ReplaceAllString(filepath.Base(path), "_"))
	if updatingGoldens() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (write it with -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rewrite it with -update if the change is intended):\n%s", path, firstDifference(want, got))
	}
}

// firstDifference shows the first line that differs, which is enough to find the cause.
func firstDifference(want, got []byte) string {
	wantLines, gotLines := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(wantLines) || i < len(gotLines); i++ {
		var w, g string
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if i < len(gotLines) {
			g = gotLines[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return "(no line differs)"
}
