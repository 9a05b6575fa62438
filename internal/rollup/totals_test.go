package rollup_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/pipetel/pipetel/infra/grafana"
	"github.com/pipetel/pipetel/internal/api/metrics"
	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// scrape renders /metrics at the env's clock and parses it with Prometheus's own text
// parser, failing on any label outside metrics.Labels (and le).
func (e *env) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	body, err := metrics.Render(t.Context(), e.summary, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}
	// And the parser a Prometheus server scrapes with.
	scraped, err := textparse.New(body, string(expfmt.NewFormat(expfmt.TypeTextPlain)), labels.NewSymbolTable(), textparse.ParserOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := scraped.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("Prometheus's scrape parser refuses the exposition: %v\n%q", err, body)
		}
	}
	allowed := append(slices.Clone(metrics.Labels), "le")
	contract := grafana.Metrics()
	for name, mf := range families {
		want, ok := contract[name]
		if !ok || !strings.EqualFold(want.Type, mf.GetType().String()) {
			t.Errorf("%s (%s) is not in infra/grafana/README.md's table as such (%+v)", name, mf.GetType(), want)
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if strings.ContainsFunc(l.GetValue(), unicode.IsControl) {
					t.Errorf("%s has label %s=%q, with a control character", name, l.GetName(), l.GetValue())
				}
				if !slices.Contains(allowed, l.GetName()) || !slices.Contains(append(want.Labels, "le"), l.GetName()) {
					t.Errorf("%s has label %s=%q, outside %v and README.md's %v", name, l.GetName(), l.GetValue(), allowed, want.Labels)
				}
			}
		}
	}
	return families
}

// counters flattens every counter and histogram series (count, sum, each bucket) of
// families into one value per series name.
func counters(families map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, mf := range families {
		for _, m := range mf.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := fmt.Sprint(name, labels)
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.Counter.GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key+" count"] = float64(m.Histogram.GetSampleCount())
				out[key+" sum"] = m.Histogram.GetSampleSum()
				for _, b := range m.Histogram.Bucket {
					out[fmt.Sprint(key, " le=", b.GetUpperBound())] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

func noneDecreased(t *testing.T, stage string, before, after map[string]float64) {
	t.Helper()
	for k, v := range before {
		if after[k] < v {
			t.Errorf("%s: %s went from %v down to %v", stage, k, v, after[k])
		}
	}
}

func eventsTotal(c map[string]float64) float64 {
	var sum float64
	for k, v := range c {
		if len(k) > len("pipetel_events_total") && k[:len("pipetel_events_total")] == "pipetel_events_total" {
			sum += v
		}
	}
	return sum
}

// TestMetricCountersNeverDecrease: /metrics counts every rolled-up event once, a rerun of
// the rollup over the same events changes no counter, and neither does a recompute of a
// bucket whose raw events expired, which leaves its rollup row counting fewer.
func TestMetricCountersNeverDecrease(t *testing.T) {
	end := dataStart.Add(30 * time.Hour)
	e := newEnv(t, end)
	evs := generate(t, 5, 400, dataStart, end, end)
	// Runtimes are any text clients send; these are counted, but not named in a label.
	evs[0].Runtime, evs[1].Runtime = "lab\x00nul", "lab\u0085next-line"
	e.put(t, evs)
	e.runAll(t, e.summary, "")
	first := counters(e.scrape(t))
	if got := eventsTotal(first); got != float64(len(evs)) {
		t.Fatalf("pipetel_events_total sums to %v over %d events", got, len(evs))
	}
	hasDurations := false
	for k, v := range first {
		if v > 0 && bytes.Contains([]byte(k), []byte("pipetel_event_duration_seconds")) {
			hasDurations = true
		}
	}
	if !hasDurations {
		t.Fatal("no duration histogram counts anything; the simulated events carry durations")
	}

	// Trends read the same rows: over 400 days every event, over 24 h those of its hours.
	for _, r := range rollup.TrendRanges {
		tr, err := rollup.ReadTrends(t.Context(), e.summary, nil, r, nil, end)
		if err != nil {
			t.Fatal(err)
		}
		from, _ := time.Parse(time.RFC3339, tr.Starts[0])
		var want, got int64
		for _, ev := range evs {
			if !ev.TS.Before(from) {
				want++
			}
		}
		for _, s := range tr.Series {
			for _, n := range s.Events {
				got += n
			}
		}
		if len(tr.Starts) != r.Points || got != want || want == 0 {
			t.Errorf("trends over %s: %d points counting %d events; want %d points and the %d events since %s", r.Name, len(tr.Starts), got, r.Points, want, from)
		}
	}

	// A run that also takes the summary snapshot: its open anomalies become gauges.
	if _, err := rollup.NewJob(e.summary, rollup.JobOptions{Now: e.clock.Now, Reader: &e.reader}).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, body, found, err := e.summary.Snapshot(t.Context(), e.clock.Now())
	if err != nil || !found {
		t.Fatal("no snapshot", err)
	}
	var snap rollup.Snapshot
	if err := json.Unmarshal(body, &snap); err != nil {
		t.Fatal(err)
	}
	var open float64
	if mf := e.scrape(t)["pipetel_open_anomalies"]; mf != nil {
		for _, m := range mf.Metric {
			open += m.Gauge.GetValue()
		}
	}
	if len(snap.OpenAnomalies) == 0 || open != float64(len(snap.OpenAnomalies)) {
		t.Errorf("pipetel_open_anomalies sums to %v; the snapshot has %d open (the simulation breaks a device)", open, len(snap.OpenAnomalies))
	}

	// A rerun over the same events: every unit marked again and recomputed.
	if _, err := e.events.PutEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	e.runAll(t, e.summary, "")
	rerun := counters(e.scrape(t))
	noneDecreased(t, "after a rerun", first, rerun)
	if eventsTotal(rerun) != eventsTotal(first) {
		t.Errorf("a rerun over the same events moved pipetel_events_total from %v to %v", eventsTotal(first), eventsTotal(rerun))
	}

	// Raw events expire; a backfilled event makes an old bucket stale, and its recompute
	// from what raw events are left counts far fewer than the row it replaces.
	e.clock.Set(end.Add(retention + time.Hour))
	window := telemetry.Filter{Since: dataStart, Until: end}
	before, _, _, err := e.reader.Stats(t.Context(), window, []string{"kind"})
	if err != nil {
		t.Fatal(err)
	}
	late := evs[0]
	late.ID, late.ReceivedAt = "late-backfill", e.clock.Now()
	e.put(t, []telemetry.Event{late})
	e.runAll(t, e.summary, "")
	after, _, _, err := e.reader.Stats(t.Context(), window, []string{"kind"})
	if err != nil {
		t.Fatal(err)
	}
	if total(after.Rows()) >= total(before.Rows())+1 {
		t.Fatalf("the recompute after expiry kept every expired event (%d, then %d): the test no longer shows a row shrinking",
			total(before.Rows()), total(after.Rows()))
	}
	expired := counters(e.scrape(t))
	noneDecreased(t, "after a recompute over expired raw events", rerun, expired)

	// New events still count.
	fresh := generate(t, 6, 50, e.clock.Now().Add(-time.Hour), e.clock.Now(), e.clock.Now())
	e.put(t, fresh)
	e.runAll(t, e.summary, "")
	grown := counters(e.scrape(t))
	noneDecreased(t, "after new events", expired, grown)
	if got, want := eventsTotal(grown), eventsTotal(expired)+float64(len(fresh)); got != want {
		t.Errorf("after %d new events pipetel_events_total is %v, want %v", len(fresh), got, want)
	}
	if lag := e.scrape(t)["pipetel_rollup_lag_seconds"]; lag == nil || lag.Metric[0].Gauge.GetValue() != 0 {
		t.Errorf("rollup lag right after a run that caught up: %v, want 0 (the fake clock stood still)", lag)
	}
}

func total(rows []analytics.StatsRow) int64 {
	var n int64
	for _, r := range rows {
		n += r.Total
	}
	return n
}

// TestTotalsBoundRuntimes: past rollup.MaxRuntimeLabels runtimes, new ones are counted as
// "other", and a runtime once named keeps its name.
func TestTotalsBoundRuntimes(t *testing.T) {
	var totals rollup.Totals
	delta := func(runtimes ...string) map[rollup.SeriesKey]*rollup.Series {
		d := map[rollup.SeriesKey]*rollup.Series{}
		for _, r := range runtimes {
			d[rollup.SeriesKey{Runtime: r, Kind: "job_result"}] = &rollup.Series{Results: [5]int64{1}}
		}
		return d
	}
	var first []string
	for i := range rollup.MaxRuntimeLabels + 10 {
		first = append(first, fmt.Sprintf("lab-%03d", i))
	}
	totals.Add(delta("lab\x00nul", "lab\tab"))
	totals.Add(delta(first...))
	totals.Add(delta("lab-000", "lab-new"))
	runtimes := map[string]int64{}
	for _, k := range totals.Keys() {
		runtimes[k.Runtime] += totals.Series[k].Results[0]
	}
	if len(runtimes) != rollup.MaxRuntimeLabels+1 {
		t.Errorf("%d runtime label values, want %d and other", len(runtimes), rollup.MaxRuntimeLabels)
	}
	// The two with control characters are other, and take no name from the first 50.
	if runtimes["lab-000"] != 2 || runtimes[rollup.OtherLabel] != 13 || runtimes["lab-new"] != 0 || runtimes["lab-049"] != 1 {
		t.Errorf("lab-000 %d (want 2), other %d (want 13), lab-new %d (want 0, counted as other), lab-049 %d (want 1)",
			runtimes["lab-000"], runtimes[rollup.OtherLabel], runtimes["lab-new"], runtimes["lab-049"])
	}
	body, err := totals.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := rollup.DecodeTotals(body)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.Encode()
	if !bytes.Equal(body, again) {
		t.Error("totals do not survive an encode and decode unchanged")
	}
}

// TestLagEMF: the rollup's log line is CloudWatch embedded metric format that publishes
// the lag under the names template.yaml's alarm watches: "_aws" names the metric and its
// dimension, and top-level members of those names hold the value and the dimension's.
func TestLagEMF(t *testing.T) {
	var line bytes.Buffer
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	slog.New(slog.NewJSONHandler(&line, nil)).Info("rollup", rollup.LagEMF(now, now.Add(-90*time.Second), "pipetel-RollupFunction-x")...)
	var got struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Function string  `json:"FunctionName"`
		Lag      float64 `json:"RollupLagSeconds"`
	}
	if err := json.Unmarshal(line.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, line.Bytes())
	}
	m := got.AWS.CloudWatchMetrics
	if got.AWS.Timestamp != now.UnixMilli() || len(m) != 1 || m[0].Namespace != rollup.LagNamespace ||
		len(m[0].Metrics) != 1 || m[0].Metrics[0].Name != rollup.LagMetric || m[0].Metrics[0].Unit != "Seconds" ||
		len(m[0].Dimensions) != 1 || !slices.Equal(m[0].Dimensions[0], []string{rollup.LagDimension}) ||
		got.Function != "pipetel-RollupFunction-x" || got.Lag != 90 || rollup.LagMetric != "RollupLagSeconds" || rollup.LagDimension != "FunctionName" {
		t.Errorf("not the embedded metric format the alarm reads: %s", line.Bytes())
	}
}
