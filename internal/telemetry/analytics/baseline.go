package analytics

import (
	"math"
	"sort"
	"time"

	"gonum.org/v1/gonum/mathext"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// The levels baselines and silence are computed at. A runtime is a lab; a device type is
// one runtime's device type; a device is one runtime's device of one device type.
const (
	LevelRuntime    = "runtime"
	LevelDeviceType = "device_type"
	LevelDevice     = "device"
)

// The rates a baseline anomaly compares, named as KernelCI's anomaly rows name them.
const (
	MetricFailRate  = "fail_rate"  // (fail+incomplete)/total
	MetricInfraRate = "infra_rate" // infra_error/total
)

// BaselineParams configure baseline anomalies and silence. The zero value of a field means
// its default (DefaultBaselineParams).
type BaselineParams struct {
	// Window is the current window: its results are compared with the baseline.
	Window time.Duration
	// Baseline is how far the baseline reaches back before the window (7 days).
	Baseline time.Duration
	// Alpha is the significance a baseline anomaly needs: the chance of at least the
	// observed failures in the window, were the baseline rate still true, is below it. It is
	// small because every group is tested at every run (one a minute): 1e-4 keeps the false
	// alarms of a hundred groups to a few a week.
	Alpha float64
	// MinBaseline is the fewest baseline results a group needs to be compared at all;
	// below it KernelCI's threshold rule is the only one that applies.
	MinBaseline int64
	// SilenceAlpha: a group is silent when the chance of its silence so far, at its
	// baseline rate, is below it (Poisson: exp(−expected)).
	SilenceAlpha float64
	// SteadyShare is the least share of the hours of a group's active span (its first hour
	// in the baseline to its last event) that must hold events for it to count as steady;
	// a sparser group is never silent.
	SteadyShare float64
	// MinSteadyHours is the shortest active span, in hours, a silence is judged on.
	MinSteadyHours int
	// RetireAfter: a group silent longer is taken as retired and no longer reported.
	RetireAfter time.Duration
	// Exclude leaves hours out of groups' baselines: those in which the group was
	// anomalous, so an anomaly that lasts does not become its own baseline.
	Exclude []Exclusion
}

// Exclusion leaves the results of one group's hours that overlap [From, To] out of its
// baseline (its events still count for silence).
type Exclusion struct {
	Key      HistoryKey
	From, To time.Time
}

// DefaultBaselineParams: a 1 h window against the 7 days before it, α = 1e-4 with at
// least 30 baseline results; silence at α = 1e-3 for groups with events in half the hours
// of at least 6, retired after 48 h.
func DefaultBaselineParams() BaselineParams {
	return BaselineParams{
		Window: time.Hour, Baseline: 7 * 24 * time.Hour, Alpha: 1e-4, MinBaseline: 30,
		SilenceAlpha: 1e-3, SteadyShare: 0.5, MinSteadyHours: 6, RetireAfter: 48 * time.Hour,
	}
}

// WithDefaults fills the zero fields of p from DefaultBaselineParams.
func (p BaselineParams) WithDefaults() BaselineParams {
	d := DefaultBaselineParams()
	if p.Window <= 0 {
		p.Window = d.Window
	}
	if p.Baseline <= 0 {
		p.Baseline = d.Baseline
	}
	if p.Alpha <= 0 {
		p.Alpha = d.Alpha
	}
	if p.MinBaseline <= 0 {
		p.MinBaseline = d.MinBaseline
	}
	if p.SilenceAlpha <= 0 {
		p.SilenceAlpha = d.SilenceAlpha
	}
	if p.SteadyShare <= 0 {
		p.SteadyShare = d.SteadyShare
	}
	if p.MinSteadyHours <= 0 {
		p.MinSteadyHours = d.MinSteadyHours
	}
	if p.RetireAfter <= 0 {
		p.RetireAfter = d.RetireAfter
	}
	return p
}

// HistoryKey names one group of a History.
type HistoryKey struct {
	Level      string // LevelRuntime, LevelDeviceType or LevelDevice
	Runtime    string
	DeviceType string // empty at LevelRuntime
	DeviceID   string // empty unless LevelDevice
}

// History is what baselines and silence are computed from: per group, the events and the
// results of each hour of the baseline, the results of the current window, and the newest
// event. It is filled from rollup groups and raw events, in any order.
type History struct {
	params       BaselineParams
	now          time.Time
	since, split time.Time
	groups       map[HistoryKey]*historyGroup
	excluded     map[HistoryKey][]Exclusion
}

type historyGroup struct {
	hours   map[int64]*historyHour // by hour start, Unix seconds
	current Counts                 // results in the current window
	last    time.Time              // ts of the newest event
}

type historyHour struct {
	events  int64  // of every kind
	results Counts // of the kinds the level counts; baseline hours only
}

// NewHistory returns an empty history for the evaluation at now.
func NewHistory(p BaselineParams, now time.Time) *History {
	p = p.WithDefaults()
	split := now.Add(-p.Window).UTC().Truncate(time.Microsecond)
	h := &History{params: p, now: now, split: split, since: split.Add(-p.Baseline), groups: map[HistoryKey]*historyGroup{}, excluded: map[HistoryKey][]Exclusion{}}
	for _, x := range p.Exclude {
		h.excluded[x.Key] = append(h.excluded[x.Key], x)
	}
	return h
}

// excludes says whether the hour starting at hour (Unix seconds) is left out of k's
// baseline.
func (h *History) excludes(k HistoryKey, hour int64) bool {
	for _, x := range h.excluded[k] {
		if hour+3600 > x.From.Unix() && hour <= x.To.Unix() {
			return true
		}
	}
	return false
}

// Since is the start of the baseline; Split is the start of the current window, which
// ends at the evaluation time. Events before Split are baseline, the rest current.
func (h *History) Since() time.Time { return h.since }

// Split is the start of the current window.
func (h *History) Split() time.Time { return h.split }

// Add counts e.
func (h *History) Add(e *telemetry.Event) {
	var c Counts
	c.Add(e)
	h.AddGroup(e.TS, DimensionsOf(e), c, e.TS)
}

// AddGroup counts events with dimensions d, counted in c, whose newest is at last; start
// is the start of the rollup bucket holding them (the ts of a raw event), which must lie
// wholly before Split or wholly at or after it.
func (h *History) AddGroup(start time.Time, d Dimensions, c Counts, last time.Time) {
	if c.Total == 0 || start.Before(h.since) {
		return
	}
	current := !start.Before(h.split)
	hour := start.UTC().Truncate(time.Hour).Unix()
	for _, k := range historyKeys(d) {
		g, ok := h.groups[k]
		if !ok {
			g = &historyGroup{hours: map[int64]*historyHour{}}
			h.groups[k] = g
		}
		if last.After(g.last) {
			g.last = last
		}
		cell, ok := g.hours[hour]
		if !ok {
			cell = &historyHour{}
			g.hours[hour] = cell
		}
		cell.events += c.Total
		if !countsResults(k.Level, d.Kind) {
			continue
		}
		switch {
		case current:
			g.current.Merge(c)
		case !h.excludes(k, hour):
			cell.results.Merge(c)
		}
	}
}

// historyKeys are the groups events with dimensions d belong to.
func historyKeys(d Dimensions) []HistoryKey {
	keys := []HistoryKey{{Level: LevelRuntime, Runtime: d.Runtime}}
	if d.DeviceType != "" || d.DeviceID != "" {
		keys = append(keys, HistoryKey{Level: LevelDeviceType, Runtime: d.Runtime, DeviceType: d.DeviceType})
	} else if d.Kind == telemetry.KindTestResult || d.Kind == telemetry.KindJobResult {
		// KernelCI's device_type scope has a null device type group; so do baselines.
		keys = append(keys, HistoryKey{Level: LevelDeviceType, Runtime: d.Runtime})
	}
	if d.DeviceID != "" {
		keys = append(keys, HistoryKey{Level: LevelDevice, Runtime: d.Runtime, DeviceType: d.DeviceType, DeviceID: d.DeviceID})
	}
	return keys
}

// countsResults says which kinds a level's results count, as KernelCI's anomaly scopes
// do: job and test results per device type, job results alone per device.
func countsResults(level, kind string) bool {
	switch level {
	case LevelDeviceType:
		return kind == telemetry.KindJobResult || kind == telemetry.KindTestResult
	case LevelDevice:
		return kind == telemetry.KindJobResult
	}
	return false
}

// RateCount is a rate with the counts behind it.
type RateCount struct {
	Count int64 `json:"count"`
	Total int64 `json:"total"`
	Rate  Float `json:"rate"` // Count/Total, 3 places
}

// BaselineAnomaly is a group whose fail rate or infra rate in the current window is
// significantly above its own baseline.
type BaselineAnomaly struct {
	Scope      string    `json:"scope"`  // LevelDeviceType or LevelDevice
	Metric     string    `json:"metric"` // MetricFailRate or MetricInfraRate
	Runtime    string    `json:"runtime"`
	DeviceType *string   `json:"device_type"`
	DeviceID   *string   `json:"device_id,omitempty"` // only at scope device
	WindowFrom string    `json:"window_from"`         // start of the current window
	Observed   RateCount `json:"observed"`            // in the current window
	// Expected is the baseline: its counts, and Rate, the rate tested against, which is
	// the baseline's smoothed as (count+½)/(total+1) so an empty baseline rate is not 0.
	Expected RateCount `json:"expected"`
	// Basis says which baseline hours were used: "hour_of_day" (only the hours of day the
	// window covers, where the baseline has MinBaseline results in them) or "all_hours".
	Basis string `json:"basis"`
	// PValue is the chance of at least Observed.Count in Observed.Total at the expected
	// rate (binomial upper tail); Score is −log10 of it, 2 places, capped at 300.
	PValue   float64 `json:"p_value"`
	Score    Float   `json:"score"`
	LastSeen string  `json:"last_seen"`
}

// Baseline basis names.
const (
	BasisHourOfDay = "hour_of_day"
	BasisAllHours  = "all_hours"
)

// BaselineAnomalies returns the groups (device types and devices) whose fail rate or infra
// rate in the current window is above their baseline with a binomial upper-tail p-value
// below Alpha, highest score first, then by key. Small counts do not fire by themselves:
// 2 failures in 3 results have a p-value of about 1e-3 against a 2% baseline.
func (h *History) BaselineAnomalies() []BaselineAnomaly {
	out := []BaselineAnomaly{}
	hoursOfDay := map[int]bool{}
	for t := h.split.Truncate(time.Hour); !t.After(h.now); t = t.Add(time.Hour) {
		hoursOfDay[t.UTC().Hour()] = true
	}
	for k, g := range h.groups {
		if k.Level == LevelRuntime || g.current.Total == 0 {
			continue
		}
		var all, sameHours Counts
		for hour, cell := range g.hours {
			all.Merge(cell.results)
			if hoursOfDay[time.Unix(hour, 0).UTC().Hour()] {
				sameHours.Merge(cell.results)
			}
		}
		base, basis := sameHours, BasisHourOfDay
		if base.Total < h.params.MinBaseline {
			base, basis = all, BasisAllHours
		}
		if base.Total < h.params.MinBaseline {
			continue
		}
		for _, m := range []struct {
			name string
			part func(Counts) int64
		}{
			{MetricFailRate, func(c Counts) int64 { return c.Fail + c.Incomplete }},
			{MetricInfraRate, func(c Counts) int64 { return c.InfraError }},
		} {
			k0, n0 := m.part(base), base.Total
			kc, n := m.part(g.current), g.current.Total
			p0 := (float64(k0) + 0.5) / (float64(n0) + 1)
			if float64(kc)/float64(n) <= p0 {
				continue
			}
			pv := binomialUpperTail(kc, n, p0)
			if pv >= h.params.Alpha {
				continue
			}
			row := BaselineAnomaly{
				Scope: k.Level, Metric: m.name, Runtime: k.Runtime, DeviceType: telemetry.Nullable(k.DeviceType),
				WindowFrom: telemetry.FormatTime(h.split),
				Observed:   RateCount{Count: kc, Total: n, Rate: Float(ratio(kc, n))},
				Expected:   RateCount{Count: k0, Total: n0, Rate: Float(roundDecimal(p0, 3))},
				Basis:      basis, PValue: pv, Score: Float(score(pv)), LastSeen: telemetry.FormatTime(g.last),
			}
			if k.Level == LevelDevice {
				row.DeviceID = telemetry.Nullable(k.DeviceID)
			}
			out = append(out, row)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return baselineKey(out[i]) < baselineKey(out[j])
	})
	return out
}

func baselineKey(a BaselineAnomaly) string {
	return a.Scope + "\x00" + a.Runtime + "\x00" + deref(a.DeviceType) + "\x00" + deref(a.DeviceID) + "\x00" + a.Metric
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// binomialUpperTail is P(X ≥ k) for X ~ Binomial(n, p), through the regularized
// incomplete beta function I_p(k, n−k+1), which keeps its precision where 1 − CDF would
// round to 0.
func binomialUpperTail(k, n int64, p float64) float64 {
	if k <= 0 {
		return 1
	}
	return mathext.RegIncBeta(float64(k), float64(n-k+1), p)
}

// score is −log10 p, 2 places, capped at 300 (p underflows to 0 near 1e-308).
func score(p float64) float64 {
	if p <= 0 {
		return 300
	}
	return min(300, roundDecimal(-math.Log10(p), 2))
}

// SilentGroup is a runtime, device type or device that sent events steadily and has sent
// none for long enough that chance alone very unlikely explains it.
type SilentGroup struct {
	Level      string  `json:"level"` // LevelRuntime, LevelDeviceType or LevelDevice
	Runtime    string  `json:"runtime"`
	DeviceType *string `json:"device_type,omitempty"` // not at level runtime
	DeviceID   *string `json:"device_id,omitempty"`   // only at level device
	LastSeen   string  `json:"last_seen"`             // ts of its newest event
	// SilentSeconds is how long it has been silent: now − last_seen, whole seconds.
	SilentSeconds int64 `json:"silent_seconds"`
	// RatePerHour is its events per hour over its active span (first baseline hour to
	// last_seen); Expected is how many of them the silence should have brought, and
	// PValue = exp(−Expected) the Poisson chance of none.
	RatePerHour Float   `json:"rate_per_hour"`
	Expected    Float   `json:"expected"`
	PValue      float64 `json:"p_value"`
	Events      int64   `json:"events"`       // over the active span
	ActiveHours int     `json:"active_hours"` // hours of the span with events
	SpanHours   int     `json:"span_hours"`   // hours of the span
}

// Silent returns the steady groups silent beyond chance and not yet retired, longest
// silence first, then by level, runtime, device type and device. A group inside one that
// is silent itself (a device type of a silent runtime, a device of a silent device type
// or runtime) is left out: the lab's silence says it all, and one alert is raised, not
// one per device.
func (h *History) Silent() []SilentGroup {
	out := h.silent()
	silent := map[[2]string]bool{} // {runtime, ""} and {runtime, device type} that are silent
	for _, g := range out {
		if g.Level != LevelDevice {
			silent[[2]string{g.Runtime, deref(g.DeviceType)}] = true
		}
	}
	kept := out[:0]
	for _, g := range out {
		inSilentRuntime := g.Level != LevelRuntime && silent[[2]string{g.Runtime, ""}]
		inSilentType := g.Level == LevelDevice && silent[[2]string{g.Runtime, deref(g.DeviceType)}]
		if !inSilentRuntime && !inSilentType {
			kept = append(kept, g)
		}
	}
	return kept
}

func (h *History) silent() []SilentGroup {
	out := []SilentGroup{}
	for k, g := range h.groups {
		if len(g.hours) == 0 || (k.Level != LevelRuntime && k.DeviceType == "" && k.DeviceID == "") {
			// The null device type group stands for results without one, not for a thing
			// that could fall silent.
			continue
		}
		first := int64(math.MaxInt64)
		var events int64
		for hour, cell := range g.hours {
			first = min(first, hour)
			events += cell.events
		}
		firstHour := time.Unix(first, 0).UTC()
		span := int(g.last.Truncate(time.Hour).Sub(firstHour)/time.Hour) + 1
		if span < h.params.MinSteadyHours || float64(len(g.hours)) < h.params.SteadyShare*float64(span) {
			continue
		}
		gap := h.now.Sub(g.last)
		if gap <= 0 || gap >= h.params.RetireAfter {
			continue
		}
		rate := float64(events) / max(1, g.last.Sub(firstHour).Hours())
		expected := rate * gap.Hours()
		pv := math.Exp(-expected)
		if pv >= h.params.SilenceAlpha {
			continue
		}
		row := SilentGroup{
			Level: k.Level, Runtime: k.Runtime, LastSeen: telemetry.FormatTime(g.last),
			SilentSeconds: int64(gap / time.Second),
			RatePerHour:   Float(roundDecimal(rate, 3)), Expected: Float(roundDecimal(expected, 3)), PValue: pv,
			Events: events, ActiveHours: len(g.hours), SpanHours: span,
		}
		if k.Level != LevelRuntime {
			dt := k.DeviceType
			row.DeviceType = &dt
		}
		if k.Level == LevelDevice {
			row.DeviceID = telemetry.Nullable(k.DeviceID)
		}
		out = append(out, row)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].SilentSeconds != out[j].SilentSeconds {
			return out[i].SilentSeconds > out[j].SilentSeconds
		}
		a, b := out[i], out[j]
		return a.Level+"\x00"+a.Runtime+"\x00"+deref(a.DeviceType)+"\x00"+deref(a.DeviceID) <
			b.Level+"\x00"+b.Runtime+"\x00"+deref(b.DeviceType)+"\x00"+deref(b.DeviceID)
	})
	return out
}
