package web_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// EnvChromium names the browser binary; empty: the first of chromiumNames on PATH.
const EnvChromium = "PIPETEL_CHROMIUM"

var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// screenshots is where each view's picture goes, for people to look at: .local/web/ at
// the top of the repository.
var screenshots = filepath.Join("..", "..", ".local", "web")

// findChromium returns the browser to drive. Without one the test fails in CI, where
// .ci/run installs Debian's chromium, and skips elsewhere.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(EnvChromium); p != "" {
		return p
	}
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("no browser: none of %s is on PATH and %s is unset; install Debian's chromium (apt-get install chromium), as .ci/run does",
		strings.Join(chromiumNames, ", "), EnvChromium)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
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

// tab is one browser tab and what its console reported.
type tab struct {
	ctx     context.Context
	console *console
}

// tokenKey is where the dashboard keeps the token its header's entry is given
// (TOKEN_KEY in static/app.js); sessionStorage is per tab and per origin.
const tokenKey = "pipetel-token"

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
	setToken := fmt.Sprintf(`sessionStorage.setItem(%q, %q)`, tokenKey, token)
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: setToken})
		return err
	})); err != nil {
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
	flags := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(findChromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	alloc, cancel := chromedp.NewExecAllocator(t.Context(), flags...)
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
}

// checkSummary: the rollup the server ran once gives GET /telemetry/summary a snapshot,
// so the summary section shows first, with the broken device among the open anomalies
// and each runtime's health against its 7 days.
func checkSummary(t *testing.T, tb tab) {
	t.Helper()
	if eval[bool](t, tb, summaryHidden) {
		t.Fatal("the summary section is hidden although GET /telemetry/summary answers 200")
	}
	text := eval[string](t, tb, `document.getElementById("summary").innerText`)
	for _, want := range []string{"snapshot ", "open anomalies", brokenDevice, "health", "lava-collabora", "last 24h fail rate", "last 7d events"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary section lacks %q:\n%s", want, text)
		}
	}
	if first := eval[string](t, tb, `document.querySelector("main > section:not([hidden])").id`); first != "summary" {
		t.Errorf("the first section shown is %q; the summary comes first", first)
	}
}
