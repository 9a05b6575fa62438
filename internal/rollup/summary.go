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
	Key           string          `json:"key"`  // scope/window/kind/runtime/device_type/device_id/error_type
	Kind          string          `json:"kind"` // "result" or "error"
	Scope         string          `json:"scope"`
	Window        string          `json:"window"`
	Since         string          `json:"since"`
	LastConfirmed string          `json:"last_confirmed"`
	ResolvedAt    *string         `json:"resolved_at"`
	Row           json.RawMessage `json:"row"` // the result_anomalies or error_anomalies row
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

// TakeSnapshot evaluates the anomaly rules and runtime health at now through r and
// carries each anomaly's life over from prev (nil for the first snapshot).
func TakeSnapshot(ctx context.Context, r *Reader, evals []analytics.AnomalyParams, prev *Snapshot, now time.Time) (*Snapshot, error) {
	snap := &Snapshot{TakenAt: telemetry.FormatTime(now), OpenAnomalies: []AnomalyRecord{}, RecentlyResolved: []AnomalyRecord{}, Health: []RuntimeHealth{}}
	stamp := telemetry.FormatTime(now)
	open := map[string]AnomalyRecord{}
	if prev != nil {
		for _, a := range prev.OpenAnomalies {
			open[a.Key] = a
		}
	}
	seen := map[string]bool{}
	for _, p := range evals {
		snap.Evaluations = append(snap.Evaluations, Evaluation{Scope: p.Scope, Window: p.WindowName(), Threshold: p.Threshold, MinTotal: p.MinTotal})
		acc, _, err := r.Anomalies(ctx, p, now)
		if err != nil {
			return nil, err
		}
		report := acc.Report()
		found := map[string]json.RawMessage{}
		for _, row := range report.ResultAnomalies {
			key := strings.Join([]string{p.Scope, p.WindowName(), "result", row.Runtime, deref(row.DeviceType), deref(row.DeviceID), ""}, "/")
			found[key], _ = json.Marshal(row)
		}
		for _, row := range report.ErrorAnomalies {
			key := strings.Join([]string{p.Scope, p.WindowName(), "error", row.Runtime, "", "", deref(row.ErrorType)}, "/")
			found[key], _ = json.Marshal(row)
		}
		for key, row := range found {
			seen[key] = true
			rec, ok := open[key]
			if !ok {
				kind := strings.Split(key, "/")[2]
				rec = AnomalyRecord{Key: key, Kind: kind, Scope: p.Scope, Window: p.WindowName(), Since: stamp}
			}
			rec.LastConfirmed, rec.Row = stamp, row
			snap.OpenAnomalies = append(snap.OpenAnomalies, rec)
		}
	}
	for key, rec := range open {
		if !seen[key] {
			rec.ResolvedAt = &stamp
			snap.RecentlyResolved = append(snap.RecentlyResolved, rec)
		}
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

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
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
	snap, err := TakeSnapshot(ctx, j.opts.Reader, j.opts.Evaluations, prev, now)
	if err != nil {
		return err
	}
	out, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	return j.store.PutSnapshot(ctx, now, out)
}
