package analytics

import (
	"slices"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// Newest is what anomalies report of the newest event of a group: its ts, and its id to
// break ties between events of the same ts, as the raw computation does.
type Newest struct {
	TS        time.Time
	ID        string
	ErrorType string
	ErrorMsg  string
}

// NewestOf is the Newest of a group holding e alone.
func NewestOf(e *telemetry.Event) Newest {
	return Newest{TS: e.TS, ID: e.ID, ErrorType: e.ErrorType, ErrorMsg: e.ErrorMsg}
}

// Failed reports whether e is what latest_failure reports: a failed or incomplete result,
// or an infrastructure error.
func Failed(e *telemetry.Event) bool {
	return e.IsInfraError || e.Result == telemetry.ResultFail || e.Result == telemetry.ResultIncomplete
}

// NewerThan reports whether n is newer than o (a later ts, or the same ts and a greater
// id). The zero Newest is older than any event.
func (n Newest) NewerThan(o Newest) bool { return n.internal().newerThan(o.internal()) }

func (n Newest) internal() newestEvent {
	return newestEvent{ts: n.TS, id: n.ID, errorType: n.ErrorType, errorMsg: n.ErrorMsg}
}

// AddGroup counts the events of a rollup group as Add would count each of them: events
// that all have dimensions d, counted in c, the newest of which is n and the newest Failed
// one f (zero when none failed). The caller vouches that all of them are in the window (at
// or after Since).
func (a *AnomalyAccumulator) AddGroup(d Dimensions, c Counts, n, f Newest) {
	if c.Total == 0 {
		return
	}
	if slices.Contains(anomalyErrorKinds, d.Kind) {
		a.errors[errorAnomalyKey{runtime: d.Runtime, errorType: d.ErrorType}] += c.Total
		return
	}
	if !slices.Contains(anomalyResultKinds(a.params.Scope), d.Kind) {
		return
	}
	key := resultAnomalyKey{runtime: d.Runtime, deviceType: d.DeviceType}
	if a.params.Scope == AnomalyScopeDevice {
		if d.DeviceID == "" {
			return
		}
		key.deviceID = d.DeviceID
	}
	g, ok := a.results[key]
	if !ok {
		g = &resultAnomalyGroup{}
		a.results[key] = g
	}
	g.counts.Merge(c)
	if latest := n.internal(); latest.newerThan(g.latest) {
		g.latest = latest
	}
	if failure := f.internal(); failure.newerThan(g.latestFailure) {
		g.latestFailure = failure
	}
}

// Rate is part/total rounded to 3 places as KernelCI rounds its rates; 0 without events.
func Rate(part, total int64) float64 { return ratio(part, total) }
