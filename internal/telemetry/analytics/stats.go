// Package analytics is the stats and anomaly arithmetic of the domain: pure functions over
// telemetry.Event and mergeable partial aggregates. It is kept apart from package telemetry
// so that functions which only ingest or list events do not carry the duration sketch's
// dependencies.
package analytics

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// StatsGroupFields are the fields GET /telemetry/stats accepts in group_by, in the order
// KernelCI documents them. "lab" groups by runtime but names the output key "lab".
var StatsGroupFields = []string{
	"runtime", "lab", "device_type", "device_id", "job_name", "tree", "branch", "arch",
	"kind", "error_type",
}

// ParseGroupBy reads the group_by parameter: field names separated by commas, spaces
// around them ignored. Every name must be one of StatsGroupFields, at most once.
func ParseGroupBy(s string) ([]string, error) {
	accepted := strings.Join(StatsGroupFields, ", ")
	if strings.TrimSpace(s) == "" {
		return nil, groupByError("group_by is required: give one or more of %s, separated by commas", accepted)
	}
	var fields []string
	seen := map[string]bool{}
	for _, raw := range strings.Split(s, ",") {
		name := strings.TrimSpace(raw)
		switch {
		case name == "":
			return nil, groupByError("group_by has an empty field name: give one or more of %s, separated by commas", accepted)
		case !slices.Contains(StatsGroupFields, name):
			return nil, groupByError("group_by field %q is not one of %s", name, accepted)
		case seen[name]:
			return nil, groupByError("group_by names %q twice: name each of %s at most once", name, accepted)
		}
		seen[name] = true
		fields = append(fields, name)
	}
	return fields, nil
}

func groupByError(format string, args ...any) *telemetry.Error {
	message := fmt.Sprintf(format, args...)
	return telemetry.InvalidProblems([]string{message}, []telemetry.FieldError{{Index: -1, Field: "group_by", Message: message}})
}

// Dimensions are the values of every field stats can group or filter by, for one event or
// for one rollup row that stands for many events alike in all of them. Empty means absent.
// Because every group_by field and every stats filter is a dimension, partial aggregates
// keyed by Dimensions can be regrouped by any group_by and filtered by any stats filter.
type Dimensions struct {
	Runtime    string
	DeviceType string
	DeviceID   string
	JobName    string
	Tree       string
	Branch     string
	Arch       string
	Kind       string
	ErrorType  string
}

// DimensionsOf returns the dimensions of e.
func DimensionsOf(e *telemetry.Event) Dimensions {
	return Dimensions{
		Runtime: e.Runtime, DeviceType: e.DeviceType, DeviceID: e.DeviceID,
		JobName: e.JobName, Tree: e.Tree, Branch: e.Branch, Arch: e.Arch,
		Kind: e.Kind, ErrorType: e.ErrorType,
	}
}

// Field returns the value of one of StatsGroupFields ("lab" reads the runtime). The
// second result is false for a name that is not a dimension.
func (d Dimensions) Field(name string) (string, bool) {
	switch name {
	case "runtime", "lab":
		return d.Runtime, true
	case "device_type":
		return d.DeviceType, true
	case "device_id":
		return d.DeviceID, true
	case "job_name":
		return d.JobName, true
	case "tree":
		return d.Tree, true
	case "branch":
		return d.Branch, true
	case "arch":
		return d.Arch, true
	case "kind":
		return d.Kind, true
	case "error_type":
		return d.ErrorType, true
	}
	return "", false
}

// Counts are the counters KernelCI reports for a set of events: Total counts every event,
// Pass/Fail/Incomplete/Skip count events by result (an "unknown" or absent result counts
// only in Total) and InfraError counts events with is_infra_error set.
type Counts struct {
	Total      int64 `json:"total"`
	Pass       int64 `json:"pass"`
	Fail       int64 `json:"fail"`
	Incomplete int64 `json:"incomplete"`
	Skip       int64 `json:"skip"`
	InfraError int64 `json:"infra_error"`
}

// Add counts e.
func (c *Counts) Add(e *telemetry.Event) {
	c.Total++
	switch e.Result {
	case telemetry.ResultPass:
		c.Pass++
	case telemetry.ResultFail:
		c.Fail++
	case telemetry.ResultIncomplete:
		c.Incomplete++
	case telemetry.ResultSkip:
		c.Skip++
	}
	if e.IsInfraError {
		c.InfraError++
	}
}

// Merge adds the counters of o.
func (c *Counts) Merge(o Counts) {
	c.Total += o.Total
	c.Pass += o.Pass
	c.Fail += o.Fail
	c.Incomplete += o.Incomplete
	c.Skip += o.Skip
	c.InfraError += o.InfraError
}

// FailRate is (fail+incomplete)/total rounded to 3 decimal places, 0 when there are no
// events. Incomplete counts as a failure because KernelCI's anomalies define it so, and
// stats use the same definition so that the two routes agree on the same events.
func (c Counts) FailRate() float64 { return ratio(c.Fail+c.Incomplete, c.Total) }

// InfraRate is infra_error/total rounded to 3 decimal places, 0 when there are no events.
func (c Counts) InfraRate() float64 { return ratio(c.InfraError, c.Total) }

func ratio(part, total int64) float64 {
	if total == 0 {
		return 0
	}
	return roundDecimal(float64(part)/float64(total), 3)
}

// roundDecimal rounds x to places decimal places as Python's round() and MongoDB's $round
// do (the exact binary value, ties to even), so 0.0625 becomes 0.062 as it does in
// KernelCI, where math.Round(x*1000)/1000 would give 0.063.
func roundDecimal(x float64, places int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	rounded, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', places, 64), 64)
	return rounded
}

// DurationRelativeAccuracy is the relative accuracy of the duration percentiles: a reported
// percentile is within 1% of the exact one.
const DurationRelativeAccuracy = 0.01

// durationPlaces is how many decimal places of a second durations are reported with:
// microseconds, the precision of timestamps. The rounding hides last-bit differences in
// math.Log/math.Exp between architectures, so golden outputs are the same everywhere.
const durationPlaces = 6

// DurationSketch summarises durations in bounded memory, mergeable without loss: merging
// the sketches of two sets of events gives the sketch of their union. Count, max and min
// are exact; quantiles are within DurationRelativeAccuracy of the exact value at the
// nearest rank ⌈q·n⌉ of the sorted durations. The zero value is not usable: use
// NewDurationSketch.
type DurationSketch struct {
	sketch *ddsketch.DDSketchWithExactSummaryStatistics
}

// NewDurationSketch returns an empty sketch.
func NewDurationSketch() *DurationSketch {
	s, err := ddsketch.NewDefaultDDSketchWithExactSummaryStatistics(DurationRelativeAccuracy)
	if err != nil {
		// Only an accuracy outside (0, 1) fails, and ours is a constant inside it.
		panic(err)
	}
	return &DurationSketch{sketch: s}
}

// Add records one duration in seconds. Negative, NaN and infinite values are ignored:
// validation rejects them at ingest, and one of them must not poison a whole rollup.
func (d *DurationSketch) Add(seconds float64) {
	if !validDuration(seconds) {
		return
	}
	// The only error is for values beyond ~1e308 s, which are not durations.
	_ = d.sketch.Add(seconds)
}

func validDuration(seconds float64) bool {
	return seconds >= 0 && !math.IsInf(seconds, 1)
}

// Merge adds every duration recorded in o.
func (d *DurationSketch) Merge(o *DurationSketch) {
	if o == nil {
		return
	}
	// Both sketches use the same mapping, the only case MergeWith rejects.
	_ = d.sketch.MergeWith(o.sketch)
}

// Copy returns an independent copy.
func (d *DurationSketch) Copy() *DurationSketch {
	return &DurationSketch{sketch: d.sketch.Copy()}
}

// Count is the number of durations recorded.
func (d *DurationSketch) Count() int64 { return int64(d.sketch.GetCount()) }

// Max is the largest duration recorded, exactly; 0 when none was.
func (d *DurationSketch) Max() float64 {
	v, err := d.sketch.GetMaxValue()
	if err != nil {
		return 0
	}
	return v
}

// Quantile returns the duration at quantile q (0..1) by nearest rank, unrounded: the
// value at rank ⌈q·n⌉ (1-based) of the sorted durations, within DurationRelativeAccuracy
// and never outside the exact min and max; 0 when none was recorded. So p99 of two
// values is the larger one, as an operator reading "99% took at most" expects.
func (d *DurationSketch) Quantile(q float64) float64 {
	n := d.sketch.GetCount()
	if n == 0 {
		return 0
	}
	rank := max(math.Ceil(q*n), 1) - 1 // 0-based
	// The sketch returns the value whose bucket's cumulative count first exceeds
	// q'·(n−1); aiming half an element past rank lands on rank whatever the rounding.
	sq := 1.0
	if n > 1 {
		sq = min((rank+0.5)/(n-1), 1)
	}
	v, err := d.sketch.GetValueAtQuantile(sq)
	if err != nil {
		return 0
	}
	lo, _ := d.sketch.GetMinValue()
	hi, _ := d.sketch.GetMaxValue()
	return min(max(v, lo), hi)
}

// DurationSummary is the duration object of a stats row, in seconds.
type DurationSummary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P80   float64 `json:"p80"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// Summary returns the percentiles a stats row reports, rounded to microseconds.
func (d *DurationSketch) Summary() DurationSummary {
	return DurationSummary{
		Count: d.Count(),
		P50:   roundDecimal(d.Quantile(0.50), durationPlaces),
		P80:   roundDecimal(d.Quantile(0.80), durationPlaces),
		P95:   roundDecimal(d.Quantile(0.95), durationPlaces),
		P99:   roundDecimal(d.Quantile(0.99), durationPlaces),
		Max:   roundDecimal(d.Max(), durationPlaces),
	}
}

// MarshalBinary encodes the sketch in sketches-go's compact binary format, index mapping
// included, so that a reader needs nothing else to decode and merge it.
func (d *DurationSketch) MarshalBinary() ([]byte, error) {
	var b []byte
	d.sketch.Encode(&b, false)
	return b, nil
}

// UnmarshalBinary replaces d with the sketch encoded in b by MarshalBinary.
func (d *DurationSketch) UnmarshalBinary(b []byte) error {
	// The decoder skips bytes it does not understand, so a sketch is only trusted if it
	// names its mapping, and that mapping is ours: a sketch of another accuracy is
	// rejected here rather than failing a merge later, far from the cause.
	s, err := ddsketch.DecodeDDSketchWithExactSummaryStatistics(b, store.DefaultProvider, nil)
	if err != nil {
		return fmt.Errorf("decode duration sketch: %w", err)
	}
	ours, err := mapping.NewDefaultMapping(DurationRelativeAccuracy)
	if err != nil {
		panic(err) // as in NewDurationSketch
	}
	if !s.IndexMapping.Equals(ours) {
		return fmt.Errorf("decode duration sketch: relative accuracy %v, want %v", s.RelativeAccuracy(), DurationRelativeAccuracy)
	}
	d.sketch = s
	return nil
}

// Aggregate is the mergeable summary of a set of events: the counters of a stats row and
// the sketch of the durations the events carried. It is what an hourly rollup stores per
// Dimensions, and what stats rows are made of, so answers from rollups and from raw events
// are computed by the same code.
type Aggregate struct {
	Counts
	Durations *DurationSketch // nil until an event with a duration is added
}

// Add records e.
func (a *Aggregate) Add(e *telemetry.Event) {
	a.Counts.Add(e)
	if e.Duration != nil && validDuration(*e.Duration) {
		if a.Durations == nil {
			a.Durations = NewDurationSketch()
		}
		a.Durations.Add(*e.Duration)
	}
}

// Merge adds everything recorded in o; o is left unchanged and shares nothing with a.
func (a *Aggregate) Merge(o *Aggregate) {
	a.Counts.Merge(o.Counts)
	switch {
	case o.Durations == nil:
	case a.Durations == nil:
		a.Durations = o.Durations.Copy()
	default:
		a.Durations.Merge(o.Durations)
	}
}

// aggregateEncodingVersion leads every encoded Aggregate, so the format can change while
// rollups written in the old one are still read.
const aggregateEncodingVersion = 1

// MarshalBinary encodes a for storage: a version byte, the six counters as uvarints in
// Counts field order, then the duration sketch (nothing when no duration was recorded).
func (a *Aggregate) MarshalBinary() ([]byte, error) {
	b := []byte{aggregateEncodingVersion}
	for _, n := range []int64{a.Total, a.Pass, a.Fail, a.Incomplete, a.Skip, a.InfraError} {
		b = binary.AppendUvarint(b, uint64(n))
	}
	if a.Durations != nil {
		a.Durations.sketch.Encode(&b, false)
	}
	return b, nil
}

// UnmarshalBinary replaces a with the aggregate encoded in b by MarshalBinary.
func (a *Aggregate) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != aggregateEncodingVersion {
		return errors.New("decode aggregate: unknown encoding version")
	}
	b = b[1:]
	var decoded Aggregate
	for _, n := range []*int64{&decoded.Total, &decoded.Pass, &decoded.Fail, &decoded.Incomplete, &decoded.Skip, &decoded.InfraError} {
		v, size := binary.Uvarint(b)
		if size <= 0 || v > math.MaxInt64 {
			return errors.New("decode aggregate: truncated or oversized counter")
		}
		*n = int64(v)
		b = b[size:]
	}
	if len(b) > 0 {
		decoded.Durations = &DurationSketch{}
		if err := decoded.Durations.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("decode aggregate: %w", err)
		}
	}
	*a = decoded
	return nil
}

// StatsAccumulator builds the answer of GET /telemetry/stats for one group_by, from events
// or from partial aggregates, in any order and in as many pieces as convenient: pieces
// built separately (one per shard, one per hour) merge into the same answer.
type StatsAccumulator struct {
	groupBy []string
	groups  map[string]*statsGroup
}

type statsGroup struct {
	values []*string // in group_by order; nil where the events lack the field
	agg    Aggregate
}

// NewStatsAccumulator returns an empty accumulator grouping by groupBy, a result of
// ParseGroupBy.
func NewStatsAccumulator(groupBy []string) *StatsAccumulator {
	return &StatsAccumulator{groupBy: append([]string(nil), groupBy...), groups: map[string]*statsGroup{}}
}

// Add counts e in its group.
func (a *StatsAccumulator) Add(e *telemetry.Event) {
	a.group(DimensionsOf(e)).agg.Add(e)
}

// AddAggregate merges agg, the aggregate of events that all have dimensions d, into their
// group. agg is not retained.
func (a *StatsAccumulator) AddAggregate(d Dimensions, agg *Aggregate) {
	a.group(d).agg.Merge(agg)
}

// Merge adds everything o has accumulated. Both must group by the same fields.
func (a *StatsAccumulator) Merge(o *StatsAccumulator) error {
	if strings.Join(a.groupBy, ",") != strings.Join(o.groupBy, ",") {
		return fmt.Errorf("merge stats grouped by %v into stats grouped by %v", o.groupBy, a.groupBy)
	}
	for key, og := range o.groups {
		g, ok := a.groups[key]
		if !ok {
			g = &statsGroup{values: og.values}
			a.groups[key] = g
		}
		g.agg.Merge(&og.agg)
	}
	return nil
}

func (a *StatsAccumulator) group(d Dimensions) *statsGroup {
	var key strings.Builder
	values := make([]*string, len(a.groupBy))
	for i, field := range a.groupBy {
		v, _ := d.Field(field)
		// Length-prefixed so that no two distinct value lists share a key, whatever bytes
		// the values hold; "-" marks an absent value, which sorts and groups as null.
		if v == "" {
			key.WriteString("-;")
			continue
		}
		values[i] = &v
		key.WriteString(strconv.Itoa(len(v)))
		key.WriteByte(':')
		key.WriteString(v)
	}
	k := key.String()
	g, ok := a.groups[k]
	if !ok {
		g = &statsGroup{values: values}
		a.groups[k] = g
	}
	return g
}

// GroupKey is one group_by field of a stats row and the group's value of it; Value is nil
// for the events that lack the field, which KernelCI reports as null.
type GroupKey struct {
	Field string
	Value *string
}

// StatsRow is one element of the GET /telemetry/stats answer.
type StatsRow struct {
	Keys []GroupKey // in group_by order
	Counts
	FailRate  float64          // (fail+incomplete)/total, see Counts.FailRate
	InfraRate float64          // infra_error/total
	Duration  *DurationSummary // nil when no event of the group carried a duration
}

// Rows returns one row per group, sorted by total descending and then by the group values
// in group_by order, ascending byte-wise with nulls last, so equal totals always come out
// in the same order.
func (a *StatsAccumulator) Rows() []StatsRow {
	groups := make([]*statsGroup, 0, len(a.groups))
	for _, g := range a.groups {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool {
		if groups[i].agg.Total != groups[j].agg.Total {
			return groups[i].agg.Total > groups[j].agg.Total
		}
		return compareNullable(groups[i].values, groups[j].values) < 0
	})
	rows := make([]StatsRow, len(groups))
	for i, g := range groups {
		keys := make([]GroupKey, len(a.groupBy))
		for k, field := range a.groupBy {
			keys[k] = GroupKey{Field: field, Value: g.values[k]}
		}
		rows[i] = StatsRow{
			Keys:      keys,
			Counts:    g.agg.Counts,
			FailRate:  g.agg.FailRate(),
			InfraRate: g.agg.InfraRate(),
		}
		if g.agg.Durations != nil {
			summary := g.agg.Durations.Summary()
			rows[i].Duration = &summary
		}
	}
	return rows
}

// compareNullable orders value lists element by element, nulls after every string.
func compareNullable(a, b []*string) int {
	for i := range a {
		switch {
		case a[i] == nil && b[i] == nil:
			continue
		case a[i] == nil:
			return 1
		case b[i] == nil:
			return -1
		}
		if c := strings.Compare(*a[i], *b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// MarshalJSON writes the row as KernelCI does, group keys first in group_by order, then
// the counters, then our additions; duration is null for a group without durations, so
// every row has the same keys.
func (r StatsRow) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for _, k := range r.Keys {
		name, _ := json.Marshal(k.Field)
		value, err := json.Marshal(k.Value)
		if err != nil {
			return nil, err
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(value)
		b.WriteByte(',')
	}
	rest, err := json.Marshal(struct {
		Counts
		FailRate  float64          `json:"fail_rate"`
		InfraRate float64          `json:"infra_rate"`
		Duration  *DurationSummary `json:"duration"`
	}{r.Counts, r.FailRate, r.InfraRate, r.Duration})
	if err != nil {
		return nil, err
	}
	b.Write(rest[1:]) // the counters' object, without its opening brace
	return b.Bytes(), nil
}
