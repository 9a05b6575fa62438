package analytics

import (
	"errors"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// Scopes of GET /telemetry/anomalies.
const (
	// AnomalyScopeDeviceType groups job and test results by runtime and device type.
	AnomalyScopeDeviceType = "device_type"
	// AnomalyScopeDevice groups job results by physical device. Test results are left out
	// so that a job with hundreds of tests does not outweigh the jobs around it.
	AnomalyScopeDevice = "device"
)

// AnomalyWindows are the windows GET /telemetry/anomalies accepts, as KernelCI names them.
var AnomalyWindows = []string{"1h", "3h", "6h", "12h", "24h", "48h"}

// AnomalyParams are the parameters of GET /telemetry/anomalies.
type AnomalyParams struct {
	Window    time.Duration // one of AnomalyWindows
	Threshold float64       // 0..1
	MinTotal  int           // ≥ 1
	Scope     string        // AnomalyScopeDeviceType or AnomalyScopeDevice
}

// DefaultAnomalyParams are KernelCI's defaults.
func DefaultAnomalyParams() AnomalyParams {
	return AnomalyParams{Window: 6 * time.Hour, Threshold: 0.5, MinTotal: 3, Scope: AnomalyScopeDeviceType}
}

// WindowName is the window as the API names it, e.g. "6h".
func (p AnomalyParams) WindowName() string {
	return strconv.FormatInt(int64(p.Window/time.Hour), 10) + "h"
}

// ParseAnomalyParams reads window, threshold, min_total and scope from query parameters;
// absent ones take their defaults. Other parameters are left to the caller, which knows
// which ones the route accepts. Every bad value is reported, each with what is accepted.
func ParseAnomalyParams(values map[string]string) (AnomalyParams, error) {
	p := DefaultAnomalyParams()
	var problems []telemetry.FieldError
	bad := func(field, message string) {
		problems = append(problems, telemetry.FieldError{Index: -1, Field: field, Message: message})
	}
	if v, ok := values["window"]; ok {
		if d, found := windowDuration(v); found {
			p.Window = d
		} else {
			bad("window", "window "+strconv.Quote(v)+" is not one of "+strings.Join(AnomalyWindows, ", "))
		}
	}
	if v, ok := values["threshold"]; ok {
		t, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(t) || t < 0 || t > 1 {
			bad("threshold", "threshold "+strconv.Quote(v)+" is not a number from 0 to 1, such as 0.5")
		} else {
			if t == 0 {
				t = 0 // -0 too: the threshold is echoed back, and "-0.0" reads as a typo
			}
			p.Threshold = t
		}
	}
	if v, ok := values["min_total"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			bad("min_total", "min_total "+strconv.Quote(v)+" is not a whole number of at least 1, such as 3")
		} else {
			p.MinTotal = n
		}
	}
	if v, ok := values["scope"]; ok {
		if v == AnomalyScopeDeviceType || v == AnomalyScopeDevice {
			p.Scope = v
		} else {
			bad("scope", "scope "+strconv.Quote(v)+" is not one of "+AnomalyScopeDeviceType+", "+AnomalyScopeDevice)
		}
	}
	if len(problems) > 0 {
		messages := make([]string, len(problems))
		for i, fe := range problems {
			messages[i] = fe.Message
		}
		return AnomalyParams{}, telemetry.InvalidProblems(messages, problems)
	}
	return p, nil
}

func windowDuration(name string) (time.Duration, bool) {
	for _, w := range AnomalyWindows {
		if w == name {
			hours, _ := strconv.Atoi(strings.TrimSuffix(w, "h"))
			return time.Duration(hours) * time.Hour, true
		}
	}
	return 0, false
}

// AnomalySince is the start of the window ending at now: now − window, truncated to the
// microsecond precision of timestamps so that an event stamped exactly then is inside.
func AnomalySince(p AnomalyParams, now time.Time) time.Time {
	return now.Add(-p.Window).UTC().Truncate(time.Microsecond)
}

// anomalyResultKinds returns the kinds counted in result anomalies for the scope.
func anomalyResultKinds(scope string) []string {
	if scope == AnomalyScopeDevice {
		return []string{telemetry.KindJobResult}
	}
	return []string{telemetry.KindJobResult, telemetry.KindTestResult}
}

// anomalyErrorKinds are the kinds counted in error anomalies, whatever the scope.
var anomalyErrorKinds = []string{telemetry.KindRuntimeError, telemetry.KindJobSkip}

// AnomalyFilters are the filters that select every event the anomalies for p at now are
// computed from: one per kind, so that each can be read through the kind index.
func AnomalyFilters(p AnomalyParams, now time.Time) []telemetry.Filter {
	since := AnomalySince(p, now)
	var filters []telemetry.Filter
	for _, kind := range append(anomalyResultKinds(p.Scope), anomalyErrorKinds...) {
		filters = append(filters, telemetry.Filter{Equals: map[string]string{"kind": kind}, Since: since})
	}
	return filters
}

// AnomalyAccumulator builds the answer of GET /telemetry/anomalies from the events of the
// window, given in any order and in as many pieces as convenient: accumulators for the
// same parameters and now merge into the same answer. It ignores events that do not count,
// so it can be fed a superset of AnomalyFilters.
type AnomalyAccumulator struct {
	params  AnomalyParams
	since   time.Time
	results map[resultAnomalyKey]*resultAnomalyGroup
	errors  map[errorAnomalyKey]int64
}

type resultAnomalyKey struct {
	runtime, deviceType, deviceID string
}

type resultAnomalyGroup struct {
	counts Counts
	latest newestEvent
	// latestFailure is the newest failed (fail, incomplete) or infrastructure-error event:
	// the reason an operator is looking for, which the newest event may not carry.
	latestFailure newestEvent
}

// newestEvent is what a result anomaly reports of the newest event of its group.
type newestEvent struct {
	ts                  time.Time
	id                  string
	errorType, errorMsg string
}

// newerThan reports whether n is newer than o: a later ts, or on the same ts a greater
// id, so that the newest event of a group does not depend on the order events arrive in.
// The zero newestEvent is older than any event.
func (n newestEvent) newerThan(o newestEvent) bool {
	if !n.ts.Equal(o.ts) {
		return n.ts.After(o.ts)
	}
	return n.id > o.id
}

type errorAnomalyKey struct {
	runtime, errorType string
}

// NewAnomalyAccumulator returns an empty accumulator for the window of p ending at now.
func NewAnomalyAccumulator(p AnomalyParams, now time.Time) *AnomalyAccumulator {
	return &AnomalyAccumulator{
		params:  p,
		since:   AnomalySince(p, now),
		results: map[resultAnomalyKey]*resultAnomalyGroup{},
		errors:  map[errorAnomalyKey]int64{},
	}
}

// Since is the start of the window: events at or after it count.
func (a *AnomalyAccumulator) Since() time.Time { return a.since }

// Add counts e if it is in the window and of a kind that counts. There is no upper bound:
// like KernelCI, an event stamped after now (ingest accepts up to 24 h ahead) counts.
func (a *AnomalyAccumulator) Add(e *telemetry.Event) {
	if e.TS.Before(a.since) {
		return
	}
	if slices.Contains(anomalyErrorKinds, e.Kind) {
		a.errors[errorAnomalyKey{runtime: e.Runtime, errorType: e.ErrorType}]++
		return
	}
	if !slices.Contains(anomalyResultKinds(a.params.Scope), e.Kind) {
		return
	}
	key := resultAnomalyKey{runtime: e.Runtime, deviceType: e.DeviceType}
	if a.params.Scope == AnomalyScopeDevice {
		if e.DeviceID == "" {
			return // without a device there is nothing to blame
		}
		key.deviceID = e.DeviceID
	}
	g, ok := a.results[key]
	if !ok {
		g = &resultAnomalyGroup{}
		a.results[key] = g
	}
	g.counts.Add(e)
	n := newestEvent{ts: e.TS, id: e.ID, errorType: e.ErrorType, errorMsg: e.ErrorMsg}
	if n.newerThan(g.latest) {
		g.latest = n
	}
	if Failed(e) && n.newerThan(g.latestFailure) {
		g.latestFailure = n
	}
}

// Merge adds everything o has accumulated. Both must have the same parameters and window.
func (a *AnomalyAccumulator) Merge(o *AnomalyAccumulator) error {
	if a.params != o.params || !a.since.Equal(o.since) {
		return errors.New("merge anomalies of another window or other parameters")
	}
	for key, og := range o.results {
		g, ok := a.results[key]
		if !ok {
			g = &resultAnomalyGroup{}
			a.results[key] = g
		}
		g.counts.Merge(og.counts)
		if og.latest.newerThan(g.latest) {
			g.latest = og.latest
		}
		if og.latestFailure.newerThan(g.latestFailure) {
			g.latestFailure = og.latestFailure
		}
	}
	for key, n := range o.errors {
		a.errors[key] += n
	}
	return nil
}

// AnomalyReport is the answer of GET /telemetry/anomalies.
type AnomalyReport struct {
	Window          string          `json:"window"`
	Threshold       Float           `json:"threshold"`
	MinTotal        int             `json:"min_total"`
	Scope           string          `json:"scope"`
	Since           string          `json:"since"`
	ResultAnomalies []ResultAnomaly `json:"result_anomalies"`
	ErrorAnomalies  []ErrorAnomaly  `json:"error_anomalies"`
}

// ResultAnomaly is a runtime and device type (or device) whose results in the window fail,
// or fail for infrastructure reasons, at least as often as the threshold.
type ResultAnomaly struct {
	Runtime    string  `json:"runtime"`
	Lab        string  `json:"lab"` // the runtime again, under the name KernelCI's dashboard reads
	DeviceType *string `json:"device_type"`
	DeviceID   *string `json:"device_id,omitempty"` // only with scope=device, where it is never null
	Counts
	InfraRate Float `json:"infra_rate"` // infra_error/total
	FailRate  Float `json:"fail_rate"`  // (fail+incomplete)/total
	// ConstantFailure: every result in the window was a fail or an incomplete.
	ConstantFailure bool `json:"constant_failure"`
	// ConstantInfraFailure: every result in the window was an infrastructure error.
	ConstantInfraFailure bool    `json:"constant_infra_failure"`
	LastSeen             string  `json:"last_seen"`         // ts of the newest event
	LatestErrorType      *string `json:"latest_error_type"` // of the newest event, null if it had none
	LatestErrorMsg       *string `json:"latest_error_msg"`  // of the newest event, null if it had none
	// LatestFailure is the newest failed or infrastructure-error event of the group (our
	// addition); null when none failed.
	LatestFailure *Failure `json:"latest_failure"`
}

// Failure is what a result anomaly shows of one failed event.
type Failure struct {
	TS        string  `json:"ts"`
	ErrorType *string `json:"error_type"`
	ErrorMsg  *string `json:"error_msg"`
}

// ErrorAnomaly is a runtime and error type that runtime errors and job skips in the window
// reported at least min_total times.
type ErrorAnomaly struct {
	Runtime   string  `json:"runtime"`
	ErrorType *string `json:"error_type"`
	Count     int64   `json:"count"`
}

// Report returns the anomalies: result groups with at least min_total events whose fail
// rate or infra rate (rounded, as shown) reaches the threshold, sorted by infra rate, then
// fail rate, descending, then by total descending and by runtime, device type and device
// ascending (nulls last); and error groups with at least min_total events, sorted by count
// descending, then runtime and error type ascending (nulls last).
func (a *AnomalyAccumulator) Report() AnomalyReport {
	report := AnomalyReport{
		Window:          a.params.WindowName(),
		Threshold:       Float(a.params.Threshold),
		MinTotal:        a.params.MinTotal,
		Scope:           a.params.Scope,
		Since:           telemetry.FormatTime(a.since),
		ResultAnomalies: []ResultAnomaly{},
		ErrorAnomalies:  []ErrorAnomaly{},
	}
	minTotal := int64(a.params.MinTotal)
	for key, g := range a.results {
		c := g.counts
		if c.Total < minTotal {
			continue
		}
		row := ResultAnomaly{
			Runtime:              key.runtime,
			Lab:                  key.runtime,
			DeviceType:           telemetry.Nullable(key.deviceType),
			Counts:               c,
			InfraRate:            Float(c.InfraRate()),
			FailRate:             Float(c.FailRate()),
			ConstantFailure:      c.Fail+c.Incomplete == c.Total,
			ConstantInfraFailure: c.InfraError == c.Total,
			LastSeen:             telemetry.FormatTime(g.latest.ts),
			LatestErrorType:      telemetry.Nullable(g.latest.errorType),
			LatestErrorMsg:       telemetry.Nullable(g.latest.errorMsg),
		}
		if a.params.Scope == AnomalyScopeDevice {
			row.DeviceID = telemetry.Nullable(key.deviceID)
		}
		if f := g.latestFailure; !f.ts.IsZero() {
			row.LatestFailure = &Failure{TS: telemetry.FormatTime(f.ts),
				ErrorType: telemetry.Nullable(f.errorType), ErrorMsg: telemetry.Nullable(f.errorMsg)}
		}
		if float64(row.FailRate) >= a.params.Threshold || float64(row.InfraRate) >= a.params.Threshold {
			report.ResultAnomalies = append(report.ResultAnomalies, row)
		}
	}
	sort.Slice(report.ResultAnomalies, func(i, j int) bool {
		x, y := report.ResultAnomalies[i], report.ResultAnomalies[j]
		switch {
		case x.InfraRate != y.InfraRate:
			return x.InfraRate > y.InfraRate
		case x.FailRate != y.FailRate:
			return x.FailRate > y.FailRate
		case x.Total != y.Total:
			return x.Total > y.Total
		}
		return compareNullable(
			[]*string{&x.Runtime, x.DeviceType, x.DeviceID},
			[]*string{&y.Runtime, y.DeviceType, y.DeviceID},
		) < 0
	})
	for key, n := range a.errors {
		if n >= minTotal {
			report.ErrorAnomalies = append(report.ErrorAnomalies, ErrorAnomaly{
				Runtime: key.runtime, ErrorType: telemetry.Nullable(key.errorType), Count: n,
			})
		}
	}
	sort.Slice(report.ErrorAnomalies, func(i, j int) bool {
		x, y := report.ErrorAnomalies[i], report.ErrorAnomalies[j]
		if x.Count != y.Count {
			return x.Count > y.Count
		}
		return compareNullable([]*string{&x.Runtime, x.ErrorType}, []*string{&y.Runtime, y.ErrorType}) < 0
	})
	return report
}

// Float is a number KernelCI's API writes as a Python float: always with a decimal point
// (1.0, not 1), so a client comparing the JSON KernelCI writes sees the same text.
type Float float64

// MarshalJSON writes f in the shortest form that reads back exactly, with ".0" added to
// a whole number.
func (f Float) MarshalJSON() ([]byte, error) {
	b := strconv.AppendFloat(nil, float64(f), 'f', -1, 64)
	if math.Trunc(float64(f)) == float64(f) && !math.IsInf(float64(f), 0) {
		b = append(b, ".0"...)
	}
	return b, nil
}
