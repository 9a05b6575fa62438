package rollup

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// Snapshot is the answer of GET /telemetry/summary: what an operator opens first.
type Snapshot struct {
	TakenAt          string          `json:"snapshot_at"`
	Evaluations      []Evaluation    `json:"evaluations"`
	OpenAnomalies    []AnomalyRecord `json:"open_anomalies"`
	RecentlyResolved []AnomalyRecord `json:"recently_resolved"` // resolved within ResolvedKept
	Health           []RuntimeHealth `json:"health"`
	// Baseline and Silent are the baseline anomalies and silent groups found now (each
	// also has a record among the open anomalies, for its since); empty when not computed.
	Baseline []analytics.BaselineAnomaly `json:"baseline_anomalies"`
	Silent   []analytics.SilentGroup     `json:"silent"`
	// Signatures are the error signatures of the current window and those remembered
	// (see Reader.Signatures); NewSignatures those new now, each also an open anomaly of
	// KindNewSignature. Flaky are the flaky and broken tests. Nil when not computed.
	Signatures    *analytics.ErrorSignatures `json:"error_signatures,omitempty"`
	NewSignatures []analytics.NewSignature   `json:"new_signatures,omitempty"`
	Flaky         *analytics.FlakyTests      `json:"flaky_tests,omitempty"`
}

// The kinds of AnomalyRecord beyond KernelCI's "result" and "error".
const (
	KindBaseline = "baseline" // an analytics.BaselineAnomaly; Scope is its scope
	KindSilence  = "silence"  // an analytics.SilentGroup; Scope is its level, Window empty
)

func record(key, kind, scope, window string, row any) AnomalyRecord {
	body, _ := json.Marshal(row)
	return AnomalyRecord{Key: key, Kind: kind, Scope: scope, Window: window, Row: body}
}

// Evaluation is one set of anomaly parameters each run evaluates.
type Evaluation struct {
	Scope     string  `json:"scope"`
	Window    string  `json:"window"`
	Threshold float64 `json:"threshold"`
	MinTotal  int     `json:"min_total"`
}

// AnomalyRecord is one anomaly's life: KernelCI's row as last seen, when it opened, when
// a run last confirmed it and, once gone, when it resolved.
type AnomalyRecord struct {
	Key           string  `json:"key"`  // scope/window/kind/runtime/device_type/device_id/error_type, metric or signature id
	Kind          string  `json:"kind"` // "result", "error", KindBaseline, KindSilence or KindNewSignature
	Scope         string  `json:"scope"`
	Window        string  `json:"window"`
	Since         string  `json:"since"`
	LastConfirmed string  `json:"last_confirmed"`
	ResolvedAt    *string `json:"resolved_at"`
	// ClearRuns counts the evaluations in a row since LastConfirmed that have not found
	// it; it resolves when they reach the configured number (hysteresis).
	ClearRuns int             `json:"clear_runs"`
	Row       json.RawMessage `json:"row"` // the result_anomalies or error_anomalies row
}

// RuntimeHealth compares one runtime's last 24 hours with its last 7 days.
type RuntimeHealth struct {
	Runtime string       `json:"runtime"`
	Last24h HealthFigure `json:"last_24h"`
	Last7d  HealthFigure `json:"last_7d"`
}

// HealthFigure is the health of a runtime over one period; rates are shares of events,
// rounded to 3 places, durations in seconds (nil without durations).
type HealthFigure struct {
	Events      int64    `json:"events"`
	PassRate    float64  `json:"pass_rate"`
	FailRate    float64  `json:"fail_rate"`
	InfraRate   float64  `json:"infra_rate"`
	DurationP50 *float64 `json:"duration_p50"`
	DurationP95 *float64 `json:"duration_p95"`
}

// ResolvedKept is how long a resolved anomaly stays in the summary.
const ResolvedKept = 24 * time.Hour

// DefaultEvaluations are evaluated when none are configured: both scopes, 6 h and 24 h,
// at KernelCI's default threshold and min_total.
func DefaultEvaluations() []analytics.AnomalyParams {
	return Evaluations([]time.Duration{6 * time.Hour, 24 * time.Hour}, analytics.DefaultAnomalyParams().Threshold)
}

// Evaluations are KernelCI's anomaly rules in both scopes over each of windows (each one
// of analytics.AnomalyWindows) at threshold, with KernelCI's default min_total: what an
// operator configures through ROLLUP_ANOMALY_WINDOWS and ROLLUP_ANOMALY_THRESHOLD.
func Evaluations(windows []time.Duration, threshold float64) []analytics.AnomalyParams {
	var out []analytics.AnomalyParams
	for _, scope := range []string{analytics.AnomalyScopeDeviceType, analytics.AnomalyScopeDevice} {
		for _, w := range windows {
			p := analytics.DefaultAnomalyParams()
			p.Scope, p.Window, p.Threshold = scope, w, threshold
			out = append(out, p)
		}
	}
	return out
}

// SnapshotOptions say what a snapshot evaluates.
type SnapshotOptions struct {
	Evaluations []analytics.AnomalyParams // KernelCI's rule, once per entry
	// Baseline, unless nil, adds baseline anomalies and silence.
	Baseline *analytics.BaselineParams
	// ResolveAfter is how many evaluations in a row must not find an open anomaly for it
	// to resolve (analytics.StepEpisodes); 0 or 1: the first that does not.
	ResolveAfter int
	// Signatures, unless nil, adds error signatures and new-signature anomalies; Flaky,
	// unless nil, flaky and broken tests (see analyses.go for what each reads).
	Signatures *analytics.SignatureParams
	Flaky      *analytics.FlakyParams
}

// DefaultResolveAfter: an anomaly resolves after three clear evaluations in a row, three
// minutes at the rollup's schedule, so a group that flaps every minute pages once.
const DefaultResolveAfter = 3

// TakeSnapshot evaluates at now through r what o says, and carries each anomaly's life
// over from prev (nil for the first snapshot).
func TakeSnapshot(ctx context.Context, r *Reader, o SnapshotOptions, prev *Snapshot, now time.Time) (*Snapshot, error) {
	evals, bp := o.Evaluations, o.Baseline
	snap := &Snapshot{Baseline: []analytics.BaselineAnomaly{}, Silent: []analytics.SilentGroup{}, TakenAt: telemetry.FormatTime(now), OpenAnomalies: []AnomalyRecord{}, RecentlyResolved: []AnomalyRecord{}, Health: []RuntimeHealth{}}
	stamp := telemetry.FormatTime(now)
	open := map[string]AnomalyRecord{}
	if prev != nil {
		for _, a := range prev.OpenAnomalies {
			open[a.Key] = a
		}
	}
	found := map[string]AnomalyRecord{}
	for _, p := range evals {
		snap.Evaluations = append(snap.Evaluations, Evaluation{Scope: p.Scope, Window: p.WindowName(), Threshold: p.Threshold, MinTotal: p.MinTotal})
		acc, _, err := r.Anomalies(ctx, p, now)
		if err != nil {
			return nil, err
		}
		report := acc.Report()
		for _, row := range report.ResultAnomalies {
			key := strings.Join([]string{p.Scope, p.WindowName(), "result", row.Runtime, deref(row.DeviceType), deref(row.DeviceID), ""}, "/")
			found[key] = record(key, "result", p.Scope, p.WindowName(), row)
		}
		for _, row := range report.ErrorAnomalies {
			key := strings.Join([]string{p.Scope, p.WindowName(), "error", row.Runtime, "", "", deref(row.ErrorType)}, "/")
			found[key] = record(key, "error", p.Scope, p.WindowName(), row)
		}
	}
	if bp != nil {
		p := *bp
		p.Exclude = append(p.Exclude[:len(p.Exclude):len(p.Exclude)], baselineExclusions(prev, p.WithDefaults().Window, now)...)
		h, _, err := r.History(ctx, p, now)
		if err != nil {
			return nil, err
		}
		window := windowName(bp.WithDefaults().Window)
		snap.Baseline = h.BaselineAnomalies()
		for _, row := range snap.Baseline {
			key := strings.Join([]string{row.Scope, window, KindBaseline, row.Runtime, deref(row.DeviceType), deref(row.DeviceID), row.Metric}, "/")
			found[key] = record(key, KindBaseline, row.Scope, window, row)
		}
		snap.Silent = h.Silent()
		for _, row := range snap.Silent {
			key := strings.Join([]string{row.Level, "", KindSilence, row.Runtime, deref(row.DeviceType), deref(row.DeviceID), ""}, "/")
			found[key] = record(key, KindSilence, row.Level, "", row)
		}
	}
	if err := analyses(ctx, r, o, prev, snap, found, now); err != nil {
		return nil, err
	}
	var episodes []analytics.Episode
	for _, rec := range open {
		episodes = append(episodes, analytics.Episode{Key: rec.Key, Since: rec.Since, Confirmed: rec.LastConfirmed, ClearRuns: rec.ClearRuns})
	}
	seen := map[string]bool{}
	for key := range found {
		seen[key] = true
	}
	step := analytics.StepEpisodes(episodes, seen, stamp, o.ResolveAfter)
	for _, ep := range step.Open {
		rec, ok := found[ep.Key]
		if !ok {
			rec = open[ep.Key] // not found now, not yet clear for long enough: its last row
		}
		rec.Since, rec.LastConfirmed, rec.ClearRuns = ep.Since, ep.Confirmed, ep.ClearRuns
		snap.OpenAnomalies = append(snap.OpenAnomalies, rec)
	}
	for _, ep := range step.Resolved {
		rec := open[ep.Key]
		rec.ResolvedAt, rec.ClearRuns = &stamp, 0
		snap.RecentlyResolved = append(snap.RecentlyResolved, rec)
	}
	if prev != nil {
		for _, rec := range prev.RecentlyResolved {
			resolved, err := time.Parse(telemetry.TimeLayout, deref(rec.ResolvedAt))
			if err == nil && now.Sub(resolved) < ResolvedKept && !seen[rec.Key] {
				snap.RecentlyResolved = append(snap.RecentlyResolved, rec)
			}
		}
	}
	sort.Slice(snap.OpenAnomalies, func(i, j int) bool { return snap.OpenAnomalies[i].Key < snap.OpenAnomalies[j].Key })
	sort.Slice(snap.RecentlyResolved, func(i, j int) bool { return snap.RecentlyResolved[i].Key < snap.RecentlyResolved[j].Key })

	health := map[string]*RuntimeHealth{}
	for _, period := range []time.Duration{24 * time.Hour, 7 * 24 * time.Hour} {
		acc, _, _, err := r.Stats(ctx, telemetry.Filter{Since: now.Add(-period).Truncate(time.Microsecond)}, []string{"runtime"})
		if err != nil {
			return nil, err
		}
		for _, row := range acc.Rows() {
			name := deref(row.Keys[0].Value)
			h, ok := health[name]
			if !ok {
				h = &RuntimeHealth{Runtime: name}
				health[name] = h
			}
			fig := figure(row)
			if period == 24*time.Hour {
				h.Last24h = fig
			} else {
				h.Last7d = fig
			}
		}
	}
	for _, h := range health {
		snap.Health = append(snap.Health, *h)
	}
	sort.Slice(snap.Health, func(i, j int) bool { return snap.Health[i].Runtime < snap.Health[j].Runtime })
	return snap, nil
}

func figure(row analytics.StatsRow) HealthFigure {
	f := HealthFigure{Events: row.Total, FailRate: row.FailRate, InfraRate: row.InfraRate}
	if row.Total > 0 {
		f.PassRate = analytics.Rate(row.Pass, row.Total)
	}
	if row.Duration != nil {
		p50, p95 := row.Duration.P50, row.Duration.P95
		f.DurationP50, f.DurationP95 = &p50, &p95
	}
	return f
}

// windowName names a window in whole hours ("1h") as KernelCI's windows are named, or
// in minutes ("30m") when it is not one.
func windowName(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprint(int64(d/time.Hour), "h")
	}
	return fmt.Sprint(int64(d/time.Minute), "m")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ReadSnapshot returns the newest snapshot taken at or before at (within the day before
// it), and when it was taken; found is false when there is none.
func ReadSnapshot(ctx context.Context, store telemetry.RollupStore, at time.Time) (snap *Snapshot, taken time.Time, found bool, err error) {
	taken, body, found, err := store.Snapshot(ctx, at)
	if err != nil || !found {
		return nil, taken, found, err
	}
	snap = &Snapshot{}
	if err := json.Unmarshal(body, snap); err != nil {
		return nil, taken, false, fmt.Errorf("summary snapshot of %s: %w", taken.Format(time.RFC3339), err)
	}
	return snap, taken, true, nil
}

// OpenByKind counts the open anomalies of snap by kind ("result", "error", KindBaseline,
// KindSilence, KindNewSignature; every kind present, 0 when none), as a metrics exporter
// reports them;
// len(snap.Silent) is the number of silent groups.
func OpenByKind(snap *Snapshot) map[string]int {
	out := map[string]int{"result": 0, "error": 0, KindBaseline: 0, KindSilence: 0, KindNewSignature: 0}
	for _, a := range snap.OpenAnomalies {
		out[a.Kind]++
	}
	return out
}

// snapshot takes this run's summary snapshot from the previous one and stores it.
func (j *Job) snapshot(ctx context.Context) error {
	now := j.opts.Now().UTC().Truncate(time.Microsecond)
	var prev *Snapshot
	_, body, found, err := j.store.Snapshot(ctx, now)
	if err != nil {
		return err
	}
	if found {
		prev = &Snapshot{}
		if err := json.Unmarshal(body, prev); err != nil {
			return fmt.Errorf("previous summary snapshot: %w", err)
		}
	}
	o := SnapshotOptions{Evaluations: j.opts.Evaluations, ResolveAfter: j.opts.ResolveAfter}
	if !j.opts.NoBaseline {
		o.Baseline = &j.opts.Baseline
	}
	if !j.opts.NoSignatures {
		o.Signatures = &j.opts.Signatures
	}
	if !j.opts.NoFlaky {
		o.Flaky = &j.opts.Flaky
	}
	snap, err := TakeSnapshot(ctx, j.opts.Reader, o, prev, now)
	if err != nil {
		return err
	}
	// Alerts go out before the snapshot is stored: if they fail, the next run starts from
	// the same previous snapshot, finds the same changes and sends them again.
	if alerts := Alerts(snap); len(alerts) > 0 && j.opts.Alerts != nil {
		if err := j.opts.Alerts.Publish(ctx, alerts); err != nil {
			return fmt.Errorf("publish %d alerts: %w", len(alerts), err)
		}
	}
	out, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	return j.store.PutSnapshot(ctx, now, out)
}

// Alert states, the "state" of an alert's detail.
const (
	AlertOpen     = "open"
	AlertResolved = "resolved"
)

// AlertDetailType is the detail type of the alerts of one kind of anomaly.
func AlertDetailType(kind string) string { return "pipetel anomaly " + kind }

// Alerts are the alerts of what changed in snap, one per group (see alertSubject): an
// open when a group with no anomaly open before has one now, and a resolved when a group's
// last open anomaly resolved in snap; opened first, each by key. The detail is the
// record of the anomaly that opened or resolved with "state" added (the first by key when
// several did at once).
func Alerts(snap *Snapshot) []telemetry.Alert {
	var out []telemetry.Alert
	add := func(state string, rec AnomalyRecord) {
		detail, _ := json.Marshal(struct {
			State string `json:"state"`
			AnomalyRecord
		}{state, rec})
		out = append(out, telemetry.Alert{DetailType: AlertDetailType(rec.Kind), Detail: detail})
	}
	opened := func(rec AnomalyRecord) bool { return rec.Since == snap.TakenAt && rec.LastConfirmed == snap.TakenAt }
	resolved := func(rec AnomalyRecord) bool { return rec.ResolvedAt != nil && *rec.ResolvedAt == snap.TakenAt }
	openNow, openBefore := map[string]bool{}, map[string]bool{}
	for _, rec := range snap.OpenAnomalies {
		openNow[alertSubject(rec)] = true
		if !opened(rec) {
			openBefore[alertSubject(rec)] = true
		}
	}
	for _, rec := range snap.RecentlyResolved {
		if resolved(rec) {
			openBefore[alertSubject(rec)] = true
		}
	}
	sent := map[string]bool{}
	for _, rec := range snap.OpenAnomalies {
		if s := alertSubject(rec); opened(rec) && !openBefore[s] && !sent[s] {
			sent[s] = true
			add(AlertOpen, rec)
		}
	}
	for _, rec := range snap.RecentlyResolved {
		if s := alertSubject(rec); resolved(rec) && !openNow[s] && !sent[s] {
			sent[s] = true
			add(AlertResolved, rec)
		}
	}
	return out
}

// alertSubject is the group an anomaly is about, which an operator is paged for once:
// KernelCI's rules, evaluated over each configured window, find one group once per
// window, and its error rule, which looks at runtime and error type alone, once per
// scope as well. Other kinds are about their own key.
func alertSubject(rec AnomalyRecord) string {
	group := strings.TrimPrefix(rec.Key, rec.Scope+"/"+rec.Window+"/")
	switch rec.Kind {
	case "result":
		return rec.Scope + "/" + group
	case "error":
		return group
	}
	return rec.Key
}
