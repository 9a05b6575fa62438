package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/pipetel/pipetel/internal/browser"
)

// screenshots is where each view's picture goes, for people to look at: .local/web/ at
// the top of the repository.
var screenshots = filepath.Join("..", "..", ".local", "web")

// findChromium returns the browser to drive. Without one the test fails in CI, where
// .ci/run installs Debian's chromium, and skips elsewhere.
func findChromium(t *testing.T) string {
	t.Helper()
	p, err := browser.Find(os.Getenv)
	if err != nil && os.Getenv("CI") == "true" {
		t.Fatal(err)
	}
	if err != nil {
		t.Skip(err)
	}
	return p
}

// console collects what a page reports as broken: console errors and warnings, uncaught
// exceptions, and failed loads.
type console struct {
	mu       sync.Mutex
	problems []string
}

func (c *console) listen(ctx context.Context) error {
	return chromedp.Listen(ctx, func(ev any) {
		var p string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range ev.Args {
					args = append(args, strings.Trim(string(a.Value), `"`)+a.Description)
				}
				p = "console." + string(ev.Type) + ": " + strings.Join(args, " ")
			}
		case *runtime.EventExceptionThrown:
			p = "uncaught: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				p += " " + ev.ExceptionDetails.Exception.Description
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				p = "log: " + ev.Entry.Text + " " + ev.Entry.URL
			}
		}
		if p != "" {
			c.mu.Lock()
			c.problems = append(c.problems, p)
			c.mu.Unlock()
		}
	})
}

func (c *console) check(t *testing.T, view string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.problems {
		t.Errorf("%s: %s", view, p)
	}
	c.problems = nil
}

// checkExcept is check, but the browser's own lines about loads answered with status are
// expected.
func (c *console) checkExcept(t *testing.T, view string, status int) {
	t.Helper()
	c.mu.Lock()
	expected := fmt.Sprintf("log: Failed to load resource: the server responded with a status of %d", status)
	kept := c.problems[:0]
	for _, p := range c.problems {
		if !strings.HasPrefix(p, expected) {
			kept = append(kept, p)
		}
	}
	c.problems = kept
	c.mu.Unlock()
	c.check(t, view)
}

// tab is one browser tab and what its console reported.
type tab struct {
	ctx     context.Context
	console *console
}

// newTab opens a tab that holds token in sessionStorage before any page script runs, as
// if its person had typed it into the dashboard's token entry.
func newTab(t *testing.T, parent context.Context, token string) tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent)
	t.Cleanup(cancel)
	c := &console{}
	if err := c.listen(ctx); err != nil {
		t.Fatal(err)
	}
	if err := browser.HoldToken(ctx, token); err != nil {
		t.Fatal(err)
	}
	return tab{ctx: ctx, console: c}
}

// eval runs a JavaScript expression in the tab and decodes its value.
func eval[T any](t *testing.T, tb tab, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// wait polls a JavaScript predicate until it holds.
func wait(t *testing.T, tb tab, what, predicate string) {
	t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		t.Fatalf("waiting for %s (%s): %v; notice: %q", what, predicate, err,
			eval[string](t, tb, `document.getElementById("notice") ? document.getElementById("notice").textContent : ""`))
	}
}

func screenshot(t *testing.T, tb tab, name string) {
	t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(screenshots, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(screenshots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// Predicates and reads of the dashboard's DOM.
const (
	loaded        = `Number(document.body.dataset.loaded || 0) >= 1`
	anomalyRows   = `document.getElementById("result-anomalies").innerText`
	eventsShown   = `Number(document.getElementById("events-table").dataset.rows || 0) > 0`
	eventsRows    = `Number(document.getElementById("events-table").dataset.rows || 0)`
	eventsText    = `document.getElementById("events-table").innerText`
	eventsFilter  = `document.getElementById("events-filter").textContent`
	chartPoints   = `[...document.querySelectorAll(".chart")].map(c => Number(c.dataset.points || 0) * (c.querySelector("canvas") ? 1 : 0))`
	summaryHidden = `document.getElementById("summary").hidden`
)

// checkDashboard drives the dashboard in headless Chromium over s: the broken device shows
// as an anomaly, the charts have points, a row drills down to its events with cursor
// paging, the URL reopens the same view in another tab, and nothing reaches the console.
func checkDashboard(t *testing.T, s *server) {
	alloc, cancel := chromedp.NewExecAllocator(t.Context(), browser.Options(findChromium(t), t.TempDir())...)
	t.Cleanup(cancel)

	first := newTab(t, alloc, s.token)
	view := s.URL + "/?window=48h&scope=device&threshold=0.5&refresh=0"
	if err := chromedp.Do(first.ctx, chromedp.Navigate(view)); err != nil {
		t.Fatal(err)
	}
	wait(t, first, "the first load", loaded)
	t.Logf("first view with data after %s ms, first contentful paint after %s ms (Performance API, from navigation start, on a shared test machine)",
		eval[string](t, first, `document.body.dataset.firstDataMs`),
		eval[string](t, first, `String(Math.round((performance.getEntriesByName("first-contentful-paint")[0] || {startTime: -1}).startTime))`))
	rows := eval[string](t, first, anomalyRows)
	if !strings.Contains(rows, brokenDevice) {
		t.Errorf("anomalies do not show %s:\n%s", brokenDevice, rows)
	}
	for i, n := range eval[[]int](t, first, chartPoints) {
		if n == 0 {
			t.Errorf("chart %d has no points", i)
		}
	}
	checkSummary(t, first)
	checkWhy(t, s, first)
	screenshot(t, first, "dashboard")
	first.console.check(t, "dashboard")

	// Drill down from the broken device's row, then page on with the cursor.
	eval[bool](t, first, fmt.Sprintf(`(() => { const r = [...document.querySelectorAll("#result-anomalies tr.row")].find(r => r.innerText.includes(%q)); r.click(); return true })()`, brokenDevice))
	wait(t, first, "the drill-down", eventsShown)
	if got := eval[string](t, first, eventsText); !strings.Contains(got, brokenDevice) {
		t.Errorf("drill-down does not list the device's events:\n%.500s", got)
	}
	if eval[bool](t, first, `!document.getElementById("events-more").hidden`) {
		before := eval[int](t, first, eventsRows)
		eval[bool](t, first, `(document.getElementById("events-more").click(), true)`)
		wait(t, first, "the next page", fmt.Sprintf(`%s > %d`, eventsRows, before))
	} else {
		t.Errorf("the drill-down of %s has a single page; the simulation gives it more than %d events", brokenDevice, 50)
	}
	screenshot(t, first, "dashboard-events")
	first.console.check(t, "drill-down")

	// The URL now holds the view; another tab opening it shows the same.
	shared, err := chromedp.Run(first.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shared, "e.device_id="+brokenDevice) {
		t.Errorf("the URL does not hold the drill-down: %s", shared)
	}
	// Tabs of one browser: a context made from the allocator would start another browser
	// on the same profile directory.
	second := newTab(t, first.ctx, s.token)
	if err := chromedp.Do(second.ctx, chromedp.Navigate(shared)); err != nil {
		t.Fatal(err)
	}
	wait(t, second, "the shared view", loaded+` && `+eventsShown)
	for what, expr := range map[string]string{"filters": eventsFilter, "scope": `document.querySelector("[name=scope]").value`, "window": `document.querySelector("[name=window]").value`} {
		if a, b := eval[string](t, first, expr), eval[string](t, second, expr); a != b {
			t.Errorf("shared URL: %s %q, the original view %q", what, b, a)
		}
	}
	screenshot(t, second, "dashboard-shared")
	second.console.check(t, "shared view")

	// The trend charts, from the rollups, over each range the dashboard offers.
	trends := newTab(t, first.ctx, s.token)
	for _, r := range []string{"24h", "7d", "30d", "400d"} {
		if err := chromedp.Do(trends.ctx, chromedp.Navigate(s.URL+"/?window=48h&refresh=0&trend="+r)); err != nil {
			t.Fatal(err)
		}
		wait(t, trends, "the trends over "+r, loaded)
		if got := eval[string](t, trends, `document.querySelector("[name=trend]").value`); got != r {
			t.Errorf("trend range %q after opening ?trend=%s", got, r)
		}
		for i, n := range eval[[]int](t, trends, chartPoints) {
			if n == 0 {
				t.Errorf("trends over %s: chart %d has no points", r, i)
			}
		}
		screenshot(t, trends, "dashboard-trends-"+r)
	}
	trends.console.check(t, "trends")

	docs := newTab(t, first.ctx, s.token)
	if err := chromedp.Do(docs.ctx, chromedp.Navigate(s.URL+"/docs")); err != nil {
		t.Fatal(err)
	}
	wait(t, docs, "the API reference", `document.querySelectorAll(".opblock").length >= 6`)
	screenshot(t, docs, "docs")
	docs.console.check(t, "docs")

	checkRefusals(t, s, first)
}

// checkRefusals: a tab without a token is asked for one, with the token entry focused
// and marked; a server fault is told with its status and request id. The browser itself
// logs each refused load; nothing else may reach the console.
func checkRefusals(t *testing.T, s *server, parent tab) {
	anon := newTab(t, parent.ctx, "")
	if err := chromedp.Do(anon.ctx, chromedp.Navigate(s.URL+"/?refresh=0")); err != nil {
		t.Fatal(err)
	}
	wait(t, anon, "the page without a token", loaded)
	if got := eval[string](t, anon, `document.getElementById("notice").textContent`); !strings.Contains(got, "wants a bearer token") || !strings.Contains(got, "read scope") {
		t.Errorf("without a token the notice says %q; want it to ask for a token with the read scope", got)
	}
	if !eval[bool](t, anon, `document.getElementById("auth").classList.contains("wanted") && document.activeElement.name === "token"`) {
		t.Error("without a token the token entry is not marked and focused")
	}
	screenshot(t, anon, "dashboard-no-token")
	anon.console.checkExcept(t, "without a token", 401)

	s.faults.mode.Store(int32(faultBreak))
	defer s.faults.mode.Store(int32(faultNone))
	broken := newTab(t, parent.ctx, s.token)
	if err := chromedp.Do(broken.ctx, chromedp.Navigate(s.URL+"/?refresh=0&window=6h")); err != nil {
		t.Fatal(err)
	}
	wait(t, broken, "the page over a failing store", loaded)
	got := eval[string](t, broken, `document.getElementById("notice").textContent`)
	if !regexp.MustCompile(`^The server failed \(HTTP 500\): .+ Request id [A-Za-z0-9+/=_-]{8,}\.`).MatchString(got) {
		t.Errorf("over a failing store the notice says %q; want the status and the request id", got)
	}
	screenshot(t, broken, "dashboard-server-error")
	broken.console.checkExcept(t, "over a failing store", 500)
}

// checkSummary: the rollup the server ran once gives GET /telemetry/summary a snapshot,
// so the summary section shows first: the broken device among the open anomalies with
// the snapshot that opened it, the newly broken device's type above its baseline with
// observed and expected, the silenced lab with when it was last seen and for how long,
// and each runtime's health against its 7 days.
func checkSummary(t *testing.T, tb tab) {
	t.Helper()
	if eval[bool](t, tb, summaryHidden) {
		t.Fatal("the summary section is hidden although GET /telemetry/summary answers 200")
	}
	if first := eval[string](t, tb, `document.querySelector("main > section:not([hidden])").id`); first != "summary" {
		t.Errorf("the first section shown is %q; the summary comes first", first)
	}
	snapshot := eval[string](t, tb, `document.getElementById("summary-at").textContent`)
	taken, _, ok := strings.Cut(strings.TrimPrefix(snapshot, "snapshot "), " (")
	if !ok || !strings.HasPrefix(snapshot, "snapshot ") {
		t.Fatalf("summary heading %q does not give the snapshot's time", snapshot)
	}
	// The server's rollup ran once, so whatever is open opened at that snapshot.
	broken := summaryRow(t, tb, "summary-open", brokenDevice, "result")
	if broken == nil {
		t.Fatalf("open anomalies lack %s at scope device:\n%s", brokenDevice, eval[string](t, tb, `document.getElementById("summary-open").innerText`))
	}
	if !strings.HasPrefix(broken["open since"], taken) || !strings.Contains(broken["why"], "always infra") || !strings.Contains(broken["windows"], "24h") {
		t.Errorf("open anomaly of %s: %v; want open since %s, why \"always infra\", among the windows 24h", brokenDevice, broken, taken)
	}
	base := summaryRow(t, tb, "summary-baseline", newlyBrokenType, "device type")
	if base == nil {
		t.Fatalf("no baseline anomaly of %s:\n%s", newlyBrokenType, eval[string](t, tb, `document.getElementById("summary-baseline").innerText`))
	}
	if base["metric"] != "infra rate" || !regexp.MustCompile(`^\d+ of \d+ \(\d+\.\d%\)$`).MatchString(base["observed"]) ||
		!strings.HasSuffix(base["expected"], "%") || !strings.HasPrefix(base["open since"], taken) {
		t.Errorf("baseline anomaly of %s: %v; want the infra rate observed as n of m (r%%), expected as a rate, open since %s", newlyBrokenType, base, taken)
	}
	silent := summaryRow(t, tb, "summary-silent", silencedLab, "runtime")
	if silent == nil {
		t.Fatalf("%s is not among the silent:\n%s", silencedLab, eval[string](t, tb, `document.getElementById("summary-silent").innerText`))
	}
	// Its last event is at most a few minutes before the cut silencedFor ago.
	if !regexp.MustCompile(`^(8|9) h( \d+ min)?$`).MatchString(silent["silent for"]) || silent["last seen"] == "" || !strings.HasPrefix(silent["open since"], taken) {
		t.Errorf("silence of %s: %v; want silent for 8 to 9 h, a last seen, open since %s", silencedLab, silent, taken)
	}
	health := summaryRow(t, tb, "summary-health", "lava-collabora", "lava-collabora")
	if health == nil || !strings.Contains(health["fail rate (7 d)"], "(") {
		t.Errorf("health of lava-collabora against its 7 days: %v", health)
	}
	// The error signatures and the flaky and broken tests are rendered, rows or "none".
	for _, id := range []string{"summary-signatures", "summary-flaky"} {
		if rows := eval[string](t, tb, fmt.Sprintf(`document.getElementById(%q).dataset.rows || ""`, id)); rows == "" {
			t.Errorf("%s was not rendered", id)
		}
	}
}

// summaryRow returns the cells, by column heading, of the first row of table id whose
// text contains what and whose first cell is first; nil when there is none.
func summaryRow(t *testing.T, tb tab, id, what, first string) map[string]string {
	t.Helper()
	return eval[map[string]string](t, tb, fmt.Sprintf(`(() => {
		const t = document.getElementById(%q);
		const heads = [...t.querySelectorAll("th")].map((h) => h.textContent);
		const row = [...t.querySelectorAll("tr.row")].find((r) => r.innerText.includes(%q) && r.cells[0].textContent === %q);
		if (!row) return null;
		return Object.fromEntries(heads.map((h, i) => [h, row.cells[i].textContent]));
	})()`, id, what, first))
}

// checkWhy: an open anomaly merged over KernelCI's windows says each window's own counts
// (the summary holds one record per window, and the simulation gives some group two
// windows with different counts), and at a narrow width every "why" cell wraps and
// shows its whole text rather than cutting it.
func checkWhy(t *testing.T, s *server, tb tab) {
	t.Helper()
	resp, err := s.client.Get(s.URL + "/telemetry/summary")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	type row struct {
		Runtime    string  `json:"runtime"`
		DeviceType *string `json:"device_type"`
		DeviceID   *string `json:"device_id"`
		ErrorType  *string `json:"error_type"`
		Total      int64   `json:"total"`
		Count      int64   `json:"count"`
	}
	var summary struct {
		Open []struct {
			Kind, Scope, Window string
			Row                 row
		} `json:"open_anomalies"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&summary); err != nil {
		t.Fatal(err)
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	// Per thing found (the dashboard's merge: kind, scope but for errors, the group), per
	// window the figure its why gives: a result's total, an error's count.
	type group struct {
		kind, what string
		figures    map[string]int64
	}
	groups := map[string]*group{}
	for _, a := range summary.Open {
		r, scope := a.Row, a.Scope
		var what string
		var figure int64
		switch a.Kind {
		case "result":
			what, figure = r.Runtime+" / "+str(r.DeviceID), r.Total
			if r.DeviceID == nil {
				what = r.Runtime + " / " + str(r.DeviceType)
			}
		case "error":
			what, figure, scope = r.Runtime+" · "+str(r.ErrorType), r.Count, ""
		default:
			continue
		}
		key := a.Kind + "|" + scope + "|" + what
		if groups[key] == nil {
			groups[key] = &group{kind: a.Kind, what: what, figures: map[string]int64{}}
		}
		groups[key].figures[a.Window] = figure
	}
	checked := 0
	for _, g := range groups {
		distinct := map[int64]bool{}
		for _, f := range g.figures {
			distinct[f] = true
		}
		if len(distinct) < 2 {
			continue
		}
		checked++
		cells := summaryRow(t, tb, "summary-open", g.what, g.kind)
		if cells == nil {
			t.Errorf("no open anomaly row of %s %s", g.kind, g.what)
			continue
		}
		why := cells["why"]
		for w, f := range g.figures {
			// The window's own figure, under its label.
			want := `(^|; )` + regexp.QuoteMeta(w) + `: [^;]*? of ` + fmt.Sprint(f) + `($|;| )`
			if g.kind == "error" {
				want = `× ` + fmt.Sprint(f) + ` in ` + regexp.QuoteMeta(w) + `($|,)`
			}
			if !regexp.MustCompile(want).MatchString(why) {
				t.Errorf("why of %s %s says %q; want the %s window's figure, %d, under its label", g.kind, g.what, why, w, f)
			}
		}
	}
	if checked == 0 {
		t.Fatalf("no open anomaly has windows with different counts; the simulation gives some: %+v", summary.Open)
	}
	t.Logf("%d open anomalies merged over windows with different counts", checked)

	narrow := newTab(t, tb.ctx, s.token)
	if err := chromedp.Do(narrow.ctx, chromedp.EmulateViewport(480, 900), chromedp.Navigate(s.URL+"/?window=48h&scope=device&threshold=0.5&refresh=0")); err != nil {
		t.Fatal(err)
	}
	wait(t, narrow, "the narrow view", loaded)
	cells := eval[[]map[string]float64](t, narrow, `[...document.querySelectorAll("#summary-open tr.row")].map((r) => {
		const c = r.cells[[...document.querySelectorAll("#summary-open th")].findIndex((h) => h.textContent === "why")];
		return {hidden: c.scrollWidth - c.clientWidth, lines: c.getBoundingClientRect().height / parseFloat(getComputedStyle(c).lineHeight)};
	})`)
	if len(cells) == 0 {
		t.Fatal("no open anomaly at the narrow width")
	}
	wrapped := false
	for i, c := range cells {
		if c["hidden"] > 1 {
			t.Errorf("at 480 px the why of open anomaly %d hides %.0f px of its text", i, c["hidden"])
		}
		wrapped = wrapped || c["lines"] >= 2
	}
	if !wrapped {
		t.Errorf("at 480 px no why cell wraps (lines %v); the longest reasons are wider than 480 px", cells)
	}
	screenshot(t, narrow, "dashboard-narrow")
	narrow.console.check(t, "narrow view")
}
