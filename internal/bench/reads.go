package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// readGoal is the most items a request may read per item it returns (issue 15).
const readGoal = 5.0

// readRequests are the requests whose cost the reads figure measures: what KernelCI's
// analytics page sends on every refresh (stats by runtime, tree, kind and device type,
// anomalies, the recent infrastructure errors), the newest pages of GET /telemetry, and
// the summary, all over the large data set's 24-hour window, and the dashboard's trends
// over each of their ranges (one merged row per bucket, 406 buckets for 400 days).
func (b *bench) readRequests() []string {
	since := url.QueryEscape(b.windowStart.Format(time.RFC3339))
	return []string{
		"/telemetry/stats?group_by=runtime&since=" + since,
		"/telemetry/stats?group_by=tree&since=" + since,
		"/telemetry/stats?group_by=kind&since=" + since,
		"/telemetry/stats?group_by=device_type&since=" + since,
		"/telemetry/anomalies",
		"/telemetry?is_infra_error=true&since=" + since + "&limit=50",
		"/telemetry?limit=50&order=desc",
		"/telemetry?runtime=lava-collabora&limit=50&order=desc",
		"/telemetry/summary",
		"/telemetry/trends?range=24h",
		"/telemetry/trends?range=7d",
		"/telemetry/trends?range=30d",
		"/telemetry/trends?range=400d",
	}
}

// reads sends each request of readRequests to the large data set, rolled up, through a
// proxy that counts what DynamoDB examined and charged for it.
func (b *bench) reads(ctx context.Context) (Reads, error) {
	requests := b.readRequests()
	b.section("reads: %d requests, items read and read units each, %d samples of latency", len(requests), b.o.GrowthSamples)
	proxy, err := startCapacityProxy(b.endpoint)
	if err != nil {
		return Reads{}, err
	}
	defer proxy.close()
	svc, err := startService(ctx, proxy.url, b.large)
	if err != nil {
		return Reads{}, err
	}
	defer svc.close()
	hc := httpClient(1, b.token)
	cfg, err := loadConfig(b.endpoint, b.large)
	if err != nil {
		return Reads{}, err
	}
	out := Reads{StoredEvents: b.o.StoredEvents + b.o.PagingEvents, Shards: cfg.EventShards, Goal: fmt.Sprintf("≤ %.0f× items returned", readGoal)}
	measure := func(path string) (ReadCost, error) {
		var body json.RawMessage
		if _, err := get(ctx, hc, svc.url+path, &body); err != nil { // untimed: warms the path
			return ReadCost{}, err
		}
		before := proxy.snapshot()
		var times []float64
		for range max(b.o.GrowthSamples, 1) {
			took, err := get(ctx, hc, svc.url+path, &body)
			if err != nil {
				return ReadCost{}, err
			}
			times = append(times, ms(took))
		}
		cost := proxy.snapshot().minus(before)
		samples := float64(len(times))
		r := ReadCost{
			Request: "GET " + path, Samples: len(times),
			Returned: returnedItems(body), Calls: round(float64(cost.Calls)/samples, 1),
			ItemsRead: round(float64(cost.Items)/samples, 1), ReadUnits: round(cost.Units/samples, 1),
			P50Ms: round(median(times), 1),
		}
		r.Ratio = round(float64(r.ItemsRead)/float64(max(r.Returned, 1)), 1)
		r.Met = r.Ratio <= readGoal
		fmt.Fprintf(b.progress, "  %-90s %6.0f items read, %4d returned, %7.1f RCU, %6.1f ms\n", r.Request, r.ItemsRead, r.Returned, r.ReadUnits, r.P50Ms)
		return r, nil
	}
	for _, path := range requests {
		r, err := measure(path)
		if err != nil {
			return Reads{}, err
		}
		out.Requests = append(out.Requests, r)
	}
	out.NewestGoalItems = 2 * cfg.EventShards * 50
	if out.Live, err = b.liveEdges(ctx, measure); err != nil {
		return Reads{}, err
	}
	return out, nil
}

// liveEdges measures a refresh of the last 24 hours under steady traffic at the data
// set's own rate, where the figures above see quiet edges: the partial bucket at the
// window's start holds its share of 5 minutes of traffic, rolled up as a day-old bucket
// is, and the bucket holding now the rest, not rolled up yet, as under live traffic it
// never is. The two always hold 5 minutes between them, whatever the minute, so the
// figure does not depend on when the run reads. Its events stay in the large data set.
func (b *bench) liveEdges(ctx context.Context, measure func(path string) (ReadCost, error)) (LiveReads, error) {
	perMinute := float64(b.o.StoredEvents) / (23 * 60)
	now := time.Now().UTC()
	since := now.Add(-24 * time.Hour)
	into := now.Sub(now.Truncate(telemetry.RollupFineBucket))
	atStart := int(math.Round(perMinute * (telemetry.RollupFineBucket - into).Minutes()))
	atEnd := int(math.Round(perMinute * into.Minutes()))
	live := LiveReads{EventsPerMinute: round(perMinute, 2), EdgeEvents: atStart + atEnd}
	b.section("reads under live traffic: %.1f events a minute, %d in the partial bucket at the window's start (rolled up), %d in the one holding now (not yet)",
		perMinute, atStart, atEnd)
	start, err := b.generate(b.o.Seed+2000, atStart, since, since.Truncate(telemetry.RollupFineBucket).Add(telemetry.RollupFineBucket))
	if err != nil {
		return live, err
	}
	end, err := b.generate(b.o.Seed+3000, atEnd, now.Truncate(telemetry.RollupFineBucket), now)
	if err != nil {
		return live, err
	}
	m := startMeter(b.progress, "window's start", len(start))
	err = b.load(ctx, b.large, start, m)
	m.finish()
	if err != nil {
		return live, err
	}
	if _, err := b.rollUp(ctx, b.large); err != nil {
		return live, err
	}
	m = startMeter(b.progress, "bucket holding now", len(end))
	err = b.load(ctx, b.large, end, m)
	m.finish()
	if err != nil {
		return live, err
	}
	for _, path := range []string{"/telemetry/stats?group_by=runtime&since=" + url.QueryEscape(since.Format(time.RFC3339Nano)), "/telemetry/anomalies"} {
		r, err := measure(path)
		if err != nil {
			return live, err
		}
		live.Requests = append(live.Requests, r)
	}
	return live, nil
}

// returnedItems counts what an answer returns: a bare array's rows, a page's items, the
// rows of every list in an object (anomalies, the summary).
func returnedItems(body json.RawMessage) int {
	var rows []json.RawMessage
	if json.Unmarshal(body, &rows) == nil {
		return len(rows)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return 0
	}
	if items, ok := obj["items"]; ok {
		return returnedItems(items)
	}
	n := 0
	for _, v := range obj {
		if json.Unmarshal(v, &rows) == nil {
			n += len(rows)
		} else if len(v) > 0 && v[0] == '{' {
			n += returnedItems(v)
		}
	}
	return n
}
