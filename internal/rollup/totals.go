package rollup

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// Totals are the cumulative counters GET /metrics exposes: per bounded label set, every
// event the rollups have ever counted. They only grow. Each commit of fine rows adds, per
// label set and counter, how much the new rows exceed the ones they replace, and nothing
// where they fall short: a rerun adds nothing (same rows), and a row recomputed after its
// raw events expired, which counts fewer, takes nothing back. Rows may be dropped after
// 400 days; the totals, kept apart, are not.
type Totals struct {
	Series map[SeriesKey]*Series
}

// SeriesKey is one label set of the event counters: a runtime (or OtherLabel) and a kind
// (a known kind or OtherLabel).
type SeriesKey struct {
	Runtime string
	Kind    string
}

// Series are the counters of one label set.
type Series struct {
	// Results counts events by ResultLabels: success, failure, error, skip, other.
	Results [5]int64
	Infra   int64 // events with is_infra_error
	// Buckets counts durations per DurationBuckets (seconds), not cumulative; the last
	// holds durations above the last bound.
	Buckets [len(DurationBuckets) + 1]int64
	// SumMicros is the sum of every duration counted in Buckets, in microseconds: whole
	// numbers, so totals added up in any order are the same to the last bit.
	SumMicros int64
}

// MaxRuntimeLabels bounds the runtime label: the first this many runtimes the rollup sees
// keep their name for good, every later one is counted as OtherLabel. First come rather
// than the busiest: a runtime moving in or out of a top list would move counts between
// series, and a counter would then go down.
const MaxRuntimeLabels = 50

// OtherLabel is the label value of runtimes past MaxRuntimeLabels and of kinds not in
// telemetry's known kinds.
const OtherLabel = "other"

// ResultLabels are the values of the result label, as OpenTelemetry's
// cicd.pipeline.result names them where it has a name: pass is success, fail failure,
// incomplete error (the job could not finish), skip skip; any other result, or none, is
// other.
var ResultLabels = [5]string{"success", "failure", "error", "skip", OtherLabel}

// KnownKinds are the kind label's values besides OtherLabel.
var KnownKinds = []string{
	telemetry.KindJobSubmission, telemetry.KindJobSkip, telemetry.KindJobResult, telemetry.KindTestResult,
	telemetry.KindBuildResult, telemetry.KindRuntimeError, telemetry.KindRuntimeWarning,
}

// DurationBuckets are the upper bounds of the duration histogram, in seconds: a second to
// a day, as CI jobs run.
var DurationBuckets = [...]float64{1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400}

// KindLabel bounds a kind to KnownKinds and OtherLabel.
func KindLabel(kind string) string {
	if slices.Contains(KnownKinds, kind) {
		return kind
	}
	return OtherLabel
}

// seriesOf projects a row on (runtime, kind label): counters summed over every other
// dimension. Runtimes are not bounded yet; Totals.Add does that.
func seriesOf(r *Row) map[SeriesKey]*Series {
	out := map[SeriesKey]*Series{}
	for _, g := range r.Groups {
		k := SeriesKey{Runtime: g.Dims.Runtime, Kind: KindLabel(g.Dims.Kind)}
		s, ok := out[k]
		if !ok {
			s = &Series{}
			out[k] = s
		}
		c := g.Agg.Counts
		s.Results[0] += c.Pass
		s.Results[1] += c.Fail
		s.Results[2] += c.Incomplete
		s.Results[3] += c.Skip
		s.Results[4] += c.Total - c.Pass - c.Fail - c.Incomplete - c.Skip
		s.Infra += c.InfraError
		if d := g.Agg.Durations; d != nil {
			for i, n := range d.BucketCounts(DurationBuckets[:]) {
				s.Buckets[i] += n
			}
			s.SumMicros += int64(math.Round(d.Sum() * 1e6))
		}
	}
	return out
}

// growth is, per label set and counter, how much after exceeds before, where it does.
func growth(before, after *Row) map[SeriesKey]*Series {
	was, is := seriesOf(before), seriesOf(after)
	out := map[SeriesKey]*Series{}
	for k, now := range is {
		prev := was[k]
		if prev == nil {
			prev = &Series{}
		}
		var d Series
		grew := false
		up := func(a, b int64) int64 {
			if a > b {
				grew = true
				return a - b
			}
			return 0
		}
		for i := range now.Results {
			d.Results[i] = up(now.Results[i], prev.Results[i])
		}
		d.Infra = up(now.Infra, prev.Infra)
		for i := range now.Buckets {
			d.Buckets[i] = up(now.Buckets[i], prev.Buckets[i])
		}
		d.SumMicros = up(now.SumMicros, prev.SumMicros)
		if grew {
			out[k] = &d
		}
	}
	return out
}

// Add adds delta, whose runtimes are not bounded yet, bounding them to the runtimes the
// totals already name and, while there are fewer than MaxRuntimeLabels, new ones.
func (t *Totals) Add(delta map[SeriesKey]*Series) {
	if t.Series == nil {
		t.Series = map[SeriesKey]*Series{}
	}
	named := map[string]bool{}
	for k := range t.Series {
		if k.Runtime != OtherLabel {
			named[k.Runtime] = true
		}
	}
	// New runtimes are named in sorted order, so the same delta bounds the same way.
	keys := make([]SeriesKey, 0, len(delta))
	for k := range delta {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return lessKey(keys[i], keys[j]) })
	for _, k := range keys {
		d, bounded := delta[k], k
		if !labelSafe(k.Runtime) {
			bounded.Runtime = OtherLabel
		} else if !named[k.Runtime] {
			if len(named) < MaxRuntimeLabels && k.Runtime != OtherLabel {
				named[k.Runtime] = true
			} else {
				bounded.Runtime = OtherLabel
			}
		}
		s, ok := t.Series[bounded]
		if !ok {
			s = &Series{}
			t.Series[bounded] = s
		}
		s.add(d)
	}
}

// labelSafe reports whether a runtime can be a label value as sent. Prometheus takes any
// UTF-8, but a control character (NUL, tab, a line separator) shows as nothing or breaks
// the line in a Grafana legend and cannot be typed into a PromQL matcher; no lab's name
// has one, so a runtime with any is counted as OtherLabel.
func labelSafe(runtime string) bool { return !strings.ContainsFunc(runtime, unicode.IsControl) }

func (s *Series) add(d *Series) {
	for i := range d.Results {
		s.Results[i] += d.Results[i]
	}
	s.Infra += d.Infra
	for i := range d.Buckets {
		s.Buckets[i] += d.Buckets[i]
	}
	s.SumMicros += d.SumMicros
}

// Clone returns an independent copy.
func (t *Totals) Clone() *Totals {
	out := &Totals{Series: make(map[SeriesKey]*Series, len(t.Series))}
	for k, s := range t.Series {
		c := *s
		out.Series[k] = &c
	}
	return out
}

func lessKey(a, b SeriesKey) bool {
	if a.Runtime != b.Runtime {
		return a.Runtime < b.Runtime
	}
	return a.Kind < b.Kind
}

// Keys returns the label sets in order.
func (t *Totals) Keys() []SeriesKey {
	keys := make([]SeriesKey, 0, len(t.Series))
	for k := range t.Series {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return lessKey(keys[i], keys[j]) })
	return keys
}

type encodedSeries struct {
	Runtime string  `json:"runtime"`
	Kind    string  `json:"kind"`
	Results []int64 `json:"results"`
	Infra   int64   `json:"infra"`
	Buckets []int64 `json:"buckets"`
	Sum     int64   `json:"sum_us"`
}

const totalsEncodingVersion = 1

// Encode writes the totals as stored: gzip of a version byte and a JSON array of series
// in label order, so the same totals always encode to the same bytes.
func (t *Totals) Encode() ([]byte, error) {
	list := make([]encodedSeries, 0, len(t.Series))
	for _, k := range t.Keys() {
		s := t.Series[k]
		list = append(list, encodedSeries{Runtime: k.Runtime, Kind: k.Kind, Results: s.Results[:],
			Infra: s.Infra, Buckets: s.Buckets[:], Sum: s.SumMicros})
	}
	js, err := json.Marshal(list)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(append([]byte{totalsEncodingVersion}, js...)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// DecodeTotals reads totals written by Encode; an empty body is no totals yet.
func DecodeTotals(body []byte) (*Totals, error) {
	t := &Totals{Series: map[SeriesKey]*Series{}}
	if len(body) == 0 {
		return t, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("decode metric totals: %w", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decode metric totals: %w", err)
	}
	if len(b) == 0 || b[0] != totalsEncodingVersion {
		return nil, fmt.Errorf("decode metric totals: unknown encoding version")
	}
	var list []encodedSeries
	if err := json.Unmarshal(b[1:], &list); err != nil {
		return nil, fmt.Errorf("decode metric totals: %w", err)
	}
	for _, e := range list {
		s := &Series{Infra: e.Infra, SumMicros: e.Sum}
		copy(s.Results[:], e.Results)
		copy(s.Buckets[:], e.Buckets)
		t.Series[SeriesKey{Runtime: e.Runtime, Kind: e.Kind}] = s
	}
	return t, nil
}
