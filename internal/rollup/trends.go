package rollup

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/pipetel/pipetel/internal/rollup/walk"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// TrendRange is one span the dashboard charts trends over, and how it is cut into points.
type TrendRange struct {
	Name   string
	Res    Resolution // the rollup rows read
	Points int        // points charted
	Per    int        // rows merged into one point
}

// TrendRanges are the spans GET /telemetry/trends answers: a day by the hour, a week and
// a month by the day, 400 days (the rollups' retention) by the week.
var TrendRanges = []TrendRange{
	{Name: "24h", Res: Hour, Points: 24, Per: 1},
	{Name: "7d", Res: Day, Points: 7, Per: 1},
	{Name: "30d", Res: Day, Points: 30, Per: 1},
	{Name: "400d", Res: Day, Points: 58, Per: 7},
}

// Trends is the answer of GET /telemetry/trends: per runtime, one value per point (null
// where the runtime had no event). Rates are shares of events rounded to 3 places,
// durations are seconds.
type Trends struct {
	Range  string        `json:"range"`
	Step   string        `json:"step"`   // the width of a point, e.g. "1h", "1d", "7d"
	Starts []string      `json:"starts"` // each point's start, oldest first
	Series []TrendSeries `json:"series"` // by events over the range, descending
}

// TrendSeries are one runtime's points.
type TrendSeries struct {
	Runtime     string     `json:"runtime"`
	Events      []int64    `json:"events"`
	PassRate    []*float64 `json:"pass_rate"`
	FailRate    []*float64 `json:"fail_rate"`
	InfraRate   []*float64 `json:"infra_rate"`
	DurationP50 []*float64 `json:"duration_p50"`
	DurationP95 []*float64 `json:"duration_p95"`
}

// ReadTrends answers GET /telemetry/trends for r at now from the rollup rows alone
// (walk.Rolled: each bucket's merged row, read in BatchGetItem calls of 100 buckets, or
// its shard rows where it has none current), so it spans the rollups' retention, long
// after raw events expire, and shows what the rollup has rolled up: its lag behind the
// newest events, and the current bucket as far as it has got. runtime, when not nil,
// keeps that runtime only. Rows are decoded through rows (nil: each decoded anew).
func ReadTrends(ctx context.Context, s telemetry.RollupStore, rows *RowCache, r TrendRange, runtime *string, now time.Time) (*Trends, error) {
	width := r.Res.Width * time.Duration(r.Per)
	last := BucketOf(r.Res, now).Start
	first := last.Add(-time.Duration(r.Points*r.Per-1) * r.Res.Width)
	buckets := make([]Bucket, r.Points*r.Per)
	for i := range buckets {
		buckets[i] = Bucket{Res: r.Res, Start: first.Add(time.Duration(i) * r.Res.Width)}
	}
	byBucket := make([]map[string]*analytics.Aggregate, len(buckets)) // per bucket, per runtime
	var mu sync.Mutex
	_, err := walk.Rolled(ctx, s, buckets, func(b Bucket, row telemetry.RollupRow) error {
		decoded, err := rows.decode(row.Body, row.MinExpires)
		if err != nil {
			return err
		}
		i := int(b.Start.Sub(first) / r.Res.Width)
		mu.Lock()
		defer mu.Unlock()
		if byBucket[i] == nil {
			byBucket[i] = map[string]*analytics.Aggregate{}
		}
		for _, grp := range decoded.Groups {
			if runtime != nil && grp.Dims.Runtime != *runtime {
				continue
			}
			a, ok := byBucket[i][grp.Dims.Runtime]
			if !ok {
				a = &analytics.Aggregate{}
				byBucket[i][grp.Dims.Runtime] = a
			}
			a.Merge(&grp.Agg)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &Trends{Range: r.Name, Step: stepName(width), Series: []TrendSeries{}}
	points := make([]map[string]*analytics.Aggregate, r.Points)
	totals := map[string]int64{}
	for p := range r.Points {
		out.Starts = append(out.Starts, telemetry.FormatTime(first.Add(time.Duration(p)*width)))
		points[p] = map[string]*analytics.Aggregate{}
		for _, byRuntime := range byBucket[p*r.Per : (p+1)*r.Per] {
			for rt, a := range byRuntime {
				m, ok := points[p][rt]
				if !ok {
					m = &analytics.Aggregate{}
					points[p][rt] = m
				}
				m.Merge(a)
				totals[rt] += a.Total
			}
		}
	}
	runtimes := make([]string, 0, len(totals))
	for rt := range totals {
		runtimes = append(runtimes, rt)
	}
	sort.Slice(runtimes, func(i, j int) bool {
		if totals[runtimes[i]] != totals[runtimes[j]] {
			return totals[runtimes[i]] > totals[runtimes[j]]
		}
		return runtimes[i] < runtimes[j]
	})
	for _, rt := range runtimes {
		ts := TrendSeries{Runtime: rt}
		for _, pt := range points {
			a := pt[rt]
			if a == nil || a.Total == 0 {
				ts.Events = append(ts.Events, 0)
				ts.PassRate, ts.FailRate, ts.InfraRate = append(ts.PassRate, nil), append(ts.FailRate, nil), append(ts.InfraRate, nil)
				ts.DurationP50, ts.DurationP95 = append(ts.DurationP50, nil), append(ts.DurationP95, nil)
				continue
			}
			ts.Events = append(ts.Events, a.Total)
			ts.PassRate = append(ts.PassRate, ptr(analytics.Rate(a.Pass, a.Total)))
			ts.FailRate = append(ts.FailRate, ptr(a.FailRate()))
			ts.InfraRate = append(ts.InfraRate, ptr(a.InfraRate()))
			if a.Durations != nil && a.Durations.Count() > 0 {
				s := a.Durations.Summary()
				ts.DurationP50, ts.DurationP95 = append(ts.DurationP50, ptr(s.P50)), append(ts.DurationP95, ptr(s.P95))
			} else {
				ts.DurationP50, ts.DurationP95 = append(ts.DurationP50, nil), append(ts.DurationP95, nil)
			}
		}
		out.Series = append(out.Series, ts)
	}
	return out, nil
}

func ptr(f float64) *float64 { return &f }

func stepName(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return fmt.Sprintf("%dh", d/time.Hour)
}
