package bench

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// pagingRuntime is the lab whose events the paging figure pages through: a lab of its
// own, so that exactly PagingEvents events match and the pagination has a known end.
const pagingRuntime = "bench-paging-lab"

// loadDataSets stores the large data set (StoredEvents in the window, plus PagingEvents
// older ones of pagingRuntime) and, when the growth figures need it, the small one
// (SmallEvents in the same window), through the store rather than HTTP, which would
// only make loading slower.
func (b *bench) loadDataSets(ctx context.Context, withSmall bool) error {
	// Events end now and start 23 hours back, inside a 24-hour window that still holds
	// them all when the last request of the run is made.
	b.windowStart = b.now.Add(-24 * time.Hour)
	from := b.now.Add(-23 * time.Hour)

	b.section("data: %d events in the window, %d older ones for paging", b.o.StoredEvents, b.o.PagingEvents)
	events, err := b.generate(b.o.Seed, b.o.StoredEvents, from, b.now)
	if err != nil {
		return err
	}
	paging, err := b.generate(b.o.Seed+1000, b.o.PagingEvents, b.now.Add(-72*time.Hour), b.now.Add(-48*time.Hour))
	if err != nil {
		return err
	}
	for i := range paging {
		paging[i].Runtime = pagingRuntime
	}
	if b.large, err = b.newTable(ctx, "large"); err != nil {
		return err
	}
	m := startMeter(b.progress, "large data set", len(events)+len(paging))
	err = b.load(ctx, b.large, append(events, paging...), m)
	m.finish()
	if err != nil || !withSmall {
		return err
	}

	small, err := b.generate(b.o.Seed, b.o.SmallEvents, from, b.now)
	if err != nil {
		return err
	}
	if b.small, err = b.newTable(ctx, "small"); err != nil {
		return err
	}
	m = startMeter(b.progress, "small data set", len(small))
	err = b.load(ctx, b.small, small, m)
	m.finish()
	return err
}

// queryPage is the part of GET /telemetry's answer the bench checks.
type queryPage struct {
	Items []struct {
		ID string `json:"id"`
	} `json:"items"`
	Total      int     `json:"total"`
	TotalExact bool    `json:"total_exact"`
	Next       *string `json:"next"`
}

// query times the newest 50 events of a lab (the by_runtime index serves it) and of a
// test (no index does: the day buckets are read and filtered).
func (b *bench) query(ctx context.Context) (Query, error) {
	b.section("query: newest 50, %d samples each", b.o.QuerySamples)
	svc, err := startService(ctx, b.endpoint, b.large)
	if err != nil {
		return Query{}, err
	}
	defer svc.close()
	hc := httpClient(1, b.token)
	requests := []string{"/telemetry?runtime=lava-collabora&limit=50", "/telemetry?test_name=baseline.login&limit=50"}
	times := make([][]float64, len(requests))
	reads := make([][]float64, len(requests))
	totals := make([]queryPage, len(requests))
	// One untimed request each first, then the two in turn, so that drift in the
	// machine's speed falls on both alike.
	for round := -1; round < b.o.QuerySamples; round++ {
		for i, path := range requests {
			var page queryPage
			before, _ := svc.events.reads()
			took, err := get(ctx, hc, svc.url+path, &page)
			if err != nil {
				return Query{}, err
			}
			after, _ := svc.events.reads()
			if len(page.Items) != 50 {
				return Query{}, fmt.Errorf("GET %s: %d items, want 50", path, len(page.Items))
			}
			totals[i] = page
			if round >= 0 {
				times[i] = append(times[i], ms(took))
				reads[i] = append(reads[i], float64(after-before))
			}
		}
		if round >= 0 {
			fmt.Fprintf(b.progress, "  sample %d/%d: %.0f ms, %.0f ms\n", round+1, b.o.QuerySamples, times[0][round], times[1][round])
		}
	}
	lat := func(i int) Latency {
		return Latency{
			Request: "GET " + requests[i], Samples: len(times[i]),
			Matching: totals[i].Total, MatchingExact: totals[i].TotalExact,
			P50Ms: round(median(times[i]), 2), P95Ms: round(quantile(times[i], 0.95), 2),
			ItemsReadPerCall: round(mean(reads[i]), 0),
		}
	}
	q := Query{StoredEvents: b.o.StoredEvents + b.o.PagingEvents, Indexed: lat(0), NonIndexed: lat(1)}
	q.Ratio = round(ratio(q.NonIndexed.P50Ms, q.Indexed.P50Ms), 2)
	return q, nil
}

// pageStat is the cost of one page.
type pageStat struct {
	ms    float64
	items int
}

// paging pages through every event of pagingRuntime, KernelCI's way (offset += limit)
// and with the cursor, and checks that both return the same events in the same order.
func (b *bench) paging(ctx context.Context) (Paging, error) {
	limit := b.o.PageLimit
	base := "/telemetry?runtime=" + url.QueryEscape(pagingRuntime) + "&limit=" + strconv.Itoa(limit)
	b.section("paging: %d events, %d a page, offset against cursor", b.o.PagingEvents, limit)
	svc, err := startService(ctx, b.endpoint, b.large)
	if err != nil {
		return Paging{}, err
	}
	defer svc.close()
	hc := httpClient(1, b.token)
	if _, err := get(ctx, hc, svc.url+base, nil); err != nil { // untimed: warms the path
		return Paging{}, err
	}

	fetch := func(path string, stats *[]pageStat, ids *[]string) (queryPage, error) {
		var page queryPage
		before, _ := svc.events.reads()
		took, err := get(ctx, hc, svc.url+path, &page)
		if err != nil {
			return page, err
		}
		after, _ := svc.events.reads()
		*stats = append(*stats, pageStat{ms: ms(took), items: int(after - before)})
		for _, it := range page.Items {
			*ids = append(*ids, it.ID)
		}
		return page, nil
	}

	var offsetStats, cursorStats []pageStat
	var offsetIDs, cursorIDs []string
	m := startMeter(b.progress, "offset paging, events", b.o.PagingEvents)
	for offset := 0; ; offset += limit {
		page, err := fetch(base+"&offset="+strconv.Itoa(offset), &offsetStats, &offsetIDs)
		if err != nil {
			return Paging{}, err
		}
		m.set(len(offsetIDs))
		// KernelCI's client stops at a short page; next says the same one request sooner.
		if len(page.Items) < limit || page.Next == nil {
			break
		}
	}
	m.finish()
	m = startMeter(b.progress, "cursor paging, events", b.o.PagingEvents)
	for path := base; ; {
		page, err := fetch(path, &cursorStats, &cursorIDs)
		if err != nil {
			return Paging{}, err
		}
		m.set(len(cursorIDs))
		if page.Next == nil {
			break
		}
		path = base + "&cursor=" + url.QueryEscape(*page.Next)
	}
	m.finish()

	if len(offsetIDs) != b.o.PagingEvents || !slices.Equal(offsetIDs, cursorIDs) {
		return Paging{}, fmt.Errorf("offset paging returned %d events and cursor paging %d, not the same %d in the same order",
			len(offsetIDs), len(cursorIDs), b.o.PagingEvents)
	}
	p := Paging{
		Request: "GET " + base, Matching: b.o.PagingEvents, Limit: limit,
		Offset: pagingRun(offsetStats, len(offsetIDs)), Cursor: pagingRun(cursorStats, len(cursorIDs)),
	}
	p.TimeRatio = round(ratio(p.Offset.TotalMs, p.Cursor.TotalMs), 2)
	p.ItemsRatio = round(ratio(float64(p.Offset.ItemsRead), float64(p.Cursor.ItemsRead)), 2)
	return p, nil
}

func pagingRun(stats []pageStat, events int) PagingRun {
	run := PagingRun{Pages: len(stats), Events: events}
	var total float64
	for _, s := range stats {
		total += s.ms
		run.ItemsRead += s.items
	}
	run.TotalMs = round(total, 1)
	run.FirstPage = pageCost(stats[:min(1, len(stats))])
	// The first page alone counts the total for the cursor (later pages carry it), so it is
	// left out of the comparison: growth compares pages 2–11 with the last ten.
	rest := stats
	if len(stats) > 1 {
		rest = stats[1:]
	}
	k := min(10, len(rest))
	run.First10 = pageCost(rest[:k])
	run.Last10 = pageCost(rest[len(rest)-k:])
	run.Growth = round(ratio(run.Last10.ItemsReadPerPage, run.First10.ItemsReadPerPage), 2)
	return run
}

func pageCost(stats []pageStat) PageCost {
	var items, times []float64
	for _, s := range stats {
		items = append(items, float64(s.items))
		times = append(times, s.ms)
	}
	return PageCost{ItemsReadPerPage: round(mean(items), 1), MsPerPage: round(mean(times), 2)}
}

// The stats and anomalies requests the growth figures time: KernelCI's own, over the
// window the data sets fill.
const anomaliesRequest = "/telemetry/anomalies?window=24h&threshold=0.5&min_total=3"

func (b *bench) statsRequest() string {
	return "/telemetry/stats?group_by=runtime,device_type&since=" + url.QueryEscape(b.windowStart.Format(time.RFC3339))
}

// growth times the same request over the small and the large data set, in turn.
func (b *bench) growth(ctx context.Context, name, path string) (Growth, error) {
	b.section("%s: %d against %d events in the window, %d samples each", name, b.o.SmallEvents, b.o.StoredEvents, b.o.GrowthSamples)
	sets := []struct {
		table  string
		events int
	}{{b.small, b.o.SmallEvents}, {b.large, b.o.StoredEvents}}
	svcs := make([]*service, len(sets))
	for i, s := range sets {
		svc, err := startService(ctx, b.endpoint, s.table)
		if err != nil {
			return Growth{}, err
		}
		defer svc.close()
		svcs[i] = svc
	}
	hc := httpClient(1, b.token)
	times := make([][]float64, len(sets))
	read := make([]int64, len(sets))
	for round := -1; round < b.o.GrowthSamples; round++ {
		for i, svc := range svcs {
			_, before := svc.events.reads()
			took, err := get(ctx, hc, svc.url+path, nil)
			if err != nil {
				return Growth{}, err
			}
			_, after := svc.events.reads()
			read[i] = after - before
			if round >= 0 {
				times[i] = append(times[i], ms(took))
			}
		}
		if round >= 0 {
			fmt.Fprintf(b.progress, "  sample %d/%d: %.0f ms, %.0f ms\n", round+1, b.o.GrowthSamples, times[0][round], times[1][round])
		}
	}
	wl := func(i int) WindowLatency {
		return WindowLatency{Events: sets[i].events, Samples: len(times[i]),
			P50Ms: round(median(times[i]), 1), P95Ms: round(quantile(times[i], 0.95), 1), EventsRead: int(read[i])}
	}
	g := Growth{Request: "GET " + path, Small: wl(0), Large: wl(1)}
	g.Ratio = round(ratio(g.Large.P50Ms, g.Small.P50Ms), 2)
	g.Per10x = round(perTenfold(g.Ratio, g.Small.Events, g.Large.Events), 2)
	g.Rollups = g.Large.EventsRead < g.Large.Events/2
	return g, nil
}
