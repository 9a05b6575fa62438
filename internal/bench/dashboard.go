package bench

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sort"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pipetel/pipetel/internal/browser"
)

// firstViewGoalMs is the dashboard's goal (issue 13): the first view with data within a
// second of navigation on `make dev`.
const firstViewGoalMs = 1000

// firstViewMet judges a first view with data against its goal; 0 is not measured.
func firstViewMet(ms float64) bool { return ms > 0 && ms <= firstViewGoalMs }

// dashboardLoads is how many times each data set's dashboard is opened and timed, after
// one untimed opening that warms the server's paths.
const dashboardLoads = 5

// Dashboard is the web dashboard opened in headless Chromium over the rolled-up data
// sets, served as `make dev` serves it (the local gateway, the authorizer, every route in
// process), each time in a new tab holding the run's token.
type Dashboard struct {
	// Skipped says why nothing was measured (no browser on this machine).
	Skipped string         `json:"skipped,omitempty"`
	Runs    []DashboardRun `json:"data_sets"`
}

// DashboardRun is one data set's dashboard: medians over Loads openings of the times from
// navigation (the Performance API's origin) to the frame that first shows each section's
// data, and what one opening asked of the API.
type DashboardRun struct {
	DataSet      string  `json:"data_set"` // small, large
	Events       int     `json:"events"`
	Loads        int     `json:"loads"`
	FirstDataMs  float64 `json:"first_data_ms"` // the first section with data, whichever
	FirstDataMax float64 `json:"first_data_max_ms"`
	FirstPaintMs float64 `json:"first_contentful_paint_ms"` // the page's first paint, no data yet
	SummaryMs    float64 `json:"summary_ms"`
	HealthMs     float64 `json:"health_ms"`
	AnomaliesMs  float64 `json:"anomalies_ms"`
	TrendsMs     float64 `json:"trends_ms"`
	AllDataMs    float64 `json:"all_data_ms"` // every section
	PageBytes    int     `json:"page_bytes"`  // the page as sent (gzip)
	// Trends400dMs is GET /telemetry/trends?range=400d alone, median of Loads: the
	// dashboard's longest range: 406 day buckets, read as merged rows in BatchGetItem
	// calls of 100.
	Trends400dMs float64 `json:"trends_400d_ms"`
	// Requests are the API requests of one opening, each from its start to its last byte.
	Requests []DashboardRequest `json:"requests"`
	Met      bool               `json:"met"` // FirstDataMs ≤ 1000
}

// DashboardRequest is one API request of an opening of the dashboard.
type DashboardRequest struct {
	Path    string  `json:"path"`
	StartMs float64 `json:"start_ms"`
	EndMs   float64 `json:"end_ms"`
	Bytes   int     `json:"bytes"` // the body as sent
}

// opening is what the page reports about one opening (see mark in static/app.js).
type opening struct {
	First, FCP, Summary, Health, Anomalies, Trends, All float64
	Page                                                int
	Requests                                            []DashboardRequest
}

const openingJS = `(() => {
	const d = document.body.dataset, n = (k) => Number(d[k]) || 0;
	const nav = performance.getEntriesByType("navigation")[0] || {};
	const fcp = performance.getEntriesByName("first-contentful-paint")[0];
	return {First: n("firstDataMs"), FCP: fcp ? fcp.startTime : 0, Summary: n("summaryMs"), Health: n("healthMs"),
		Anomalies: n("anomaliesMs"), Trends: n("trendsMs"), All: n("allDataMs"), Page: nav.encodedBodySize || 0,
		Requests: performance.getEntriesByType("resource").filter((r) => r.initiatorType === "fetch").map((r) => {
			const u = new URL(r.name);
			return {path: u.pathname + u.search, start_ms: r.startTime, end_ms: r.responseEnd, bytes: r.encodedBodySize};
		})};
})()`

// dashboard opens the dashboard over the small data set (the size of `make demo`'s) and
// the large one.
func (b *bench) dashboard(ctx context.Context) (Dashboard, error) {
	b.section("dashboard: first view with data in headless Chromium, %d openings per data set", dashboardLoads)
	path, err := browser.Find(os.Getenv)
	if err != nil {
		fmt.Fprintf(b.progress, "  skipped: %v\n", err)
		return Dashboard{Skipped: err.Error()}, nil
	}
	dir, err := os.MkdirTemp("", "pipetel-bench-chromium-")
	if err != nil {
		return Dashboard{}, err
	}
	defer os.RemoveAll(dir)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, browser.Options(path, dir)...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browserCtx); err != nil { // starts the browser
		return Dashboard{}, fmt.Errorf("start %s: %w", path, err)
	}
	var out Dashboard
	for _, set := range []struct {
		name, table string
		events      int
	}{{"small", b.small, b.o.SmallEvents}, {"large", b.large, b.o.StoredEvents}} {
		run, err := b.dashboardRun(ctx, browserCtx, set.table)
		if err != nil {
			return out, fmt.Errorf("%s data set: %w", set.name, err)
		}
		run.DataSet, run.Events = set.name, set.events
		fmt.Fprintf(b.progress, "  %s (%d events): first data %.0f ms (max %.0f), first paint %.0f, summary %.0f, health %.0f, anomalies %.0f, trends %.0f, all %.0f ms; %d requests; trends over 400 d alone %.0f ms\n",
			set.name, set.events, run.FirstDataMs, run.FirstDataMax, run.FirstPaintMs, run.SummaryMs, run.HealthMs, run.AnomaliesMs, run.TrendsMs, run.AllDataMs, len(run.Requests), run.Trends400dMs)
		for _, r := range run.Requests {
			fmt.Fprintf(b.progress, "    %6.0f–%6.0f ms %8d bytes  %s\n", r.StartMs, r.EndMs, r.Bytes, r.Path)
		}
		out.Runs = append(out.Runs, run)
	}
	return out, nil
}

func (b *bench) dashboardRun(ctx, browserCtx context.Context, table string) (DashboardRun, error) {
	svc, err := startService(ctx, b.endpoint, table)
	if err != nil {
		return DashboardRun{}, err
	}
	defer svc.close()
	// The view of a person opening the page: the default window and trend, no refresh.
	page := svc.url + "/?" + url.Values{"refresh": {"0"}}.Encode()
	var openings []opening
	for i := range dashboardLoads + 1 {
		o, err := b.open(browserCtx, page)
		if err != nil {
			return DashboardRun{}, err
		}
		if i > 0 {
			openings = append(openings, o)
		}
	}
	med := func(f func(o opening) float64) float64 {
		var v []float64
		for _, o := range openings {
			v = append(v, f(o))
		}
		return round(median(v), 0)
	}
	last := openings[len(openings)-1]
	sort.Slice(last.Requests, func(i, j int) bool { return last.Requests[i].StartMs < last.Requests[j].StartMs })
	for i := range last.Requests {
		r := &last.Requests[i]
		r.StartMs, r.EndMs = round(r.StartMs, 0), round(r.EndMs, 0)
	}
	run := DashboardRun{
		Loads:        len(openings),
		FirstDataMs:  med(func(o opening) float64 { return o.First }),
		FirstPaintMs: med(func(o opening) float64 { return o.FCP }),
		SummaryMs:    med(func(o opening) float64 { return o.Summary }),
		HealthMs:     med(func(o opening) float64 { return o.Health }),
		AnomaliesMs:  med(func(o opening) float64 { return o.Anomalies }),
		TrendsMs:     med(func(o opening) float64 { return o.Trends }),
		AllDataMs:    med(func(o opening) float64 { return o.All }),
		PageBytes:    last.Page,
		Requests:     last.Requests,
	}
	hc := httpClient(1, b.token)
	var trends []float64
	for range dashboardLoads {
		took, err := get(ctx, hc, svc.url+"/telemetry/trends?range=400d", nil)
		if err != nil {
			return DashboardRun{}, err
		}
		trends = append(trends, ms(took))
	}
	run.Trends400dMs = round(median(trends), 0)
	for _, o := range openings {
		run.FirstDataMax = max(run.FirstDataMax, round(o.First, 0))
	}
	run.Met = firstViewMet(run.FirstDataMs)
	return run, nil
}

// open opens page in a new tab that holds the run's token, waits until every section
// has answered, and reads what the page measured.
func (b *bench) open(browserCtx context.Context, page string) (opening, error) {
	tab, cancel := chromedp.NewContext(browserCtx)
	defer cancel()
	if err := browser.HoldToken(tab, b.token); err != nil {
		return opening{}, err
	}
	if err := chromedp.Do(tab, chromedp.Navigate(page)); err != nil {
		return opening{}, err
	}
	done := `(Number(document.body.dataset.loaded) || 0) >= 1 && Number(document.body.dataset.allDataMs) > 0`
	if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](done, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		return opening{}, fmt.Errorf("waiting for the dashboard's sections: %w", err)
	}
	notice, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById("notice").textContent`))
	if err != nil {
		return opening{}, err
	}
	if notice != "" {
		return opening{}, fmt.Errorf("the dashboard says: %s", notice)
	}
	return chromedp.Run(tab, chromedp.Evaluate[opening](openingJS))
}
