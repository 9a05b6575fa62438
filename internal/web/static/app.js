// pipetel's dashboard. It reads the API's own routes from the browser with the token the
// person gives (kept in sessionStorage only), and keeps its whole view in the query string
// so that a URL reopens the same view. No framework: the DOM is built with textContent, so
// nothing an event carries is ever parsed as HTML.
"use strict";

(function () {
  const WINDOWS = { "1h": 3600, "3h": 10800, "6h": 21600, "12h": 43200, "24h": 86400, "48h": 172800 };
  const TRENDS = ["24h", "7d", "30d", "400d"]; // ranges of GET /telemetry/trends
  const TOP_RUNTIMES = 8; // lines per chart; the rest would be unreadable
  const PAGE = 50;
  const TOKEN_KEY = "pipetel-token";
  const DRILL = "e."; // query-string prefix of the drill-down's filters
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

  const $ = (id) => document.getElementById(id);
  const filters = $("filters");
  let charts = [];
  let timer = 0;
  let drillNext = null;
  let loads = 0;

  // ---- view state, kept in the URL ---------------------------------------------------

  function readView() {
    const q = new URLSearchParams(location.search);
    const view = {
      window: WINDOWS[q.get("window")] ? q.get("window") : "24h",
      runtime: q.get("runtime") || "",
      threshold: q.get("threshold") || "0.5",
      scope: q.get("scope") === "device" ? "device" : "device_type",
      refresh: ["0", "30", "60", "300"].includes(q.get("refresh")) ? q.get("refresh") : "60",
      trend: TRENDS.includes(q.get("trend")) ? q.get("trend") : "24h",
      drill: null,
    };
    for (const [k, v] of q) {
      if (k.startsWith(DRILL)) {
        view.drill = view.drill || {};
        view.drill[k.slice(DRILL.length)] = v;
      }
    }
    return view;
  }

  function writeView(view) {
    const q = new URLSearchParams();
    for (const k of ["window", "runtime", "threshold", "scope", "refresh", "trend"]) {
      if (view[k] !== "") q.set(k, view[k]);
    }
    for (const [k, v] of Object.entries(view.drill || {})) q.set(DRILL + k, v);
    history.replaceState(null, "", "?" + q.toString());
  }

  function syncForm(view) {
    for (const k of ["window", "threshold", "scope", "refresh", "trend"]) filters.elements[k].value = view[k];
    const rt = filters.elements.runtime;
    if (view.runtime && ![...rt.options].some((o) => o.value === view.runtime)) rt.add(new Option(view.runtime, view.runtime));
    rt.value = view.runtime;
  }

  // ---- the API -----------------------------------------------------------------------

  class APIError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  async function get(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== "" && v != null) q.set(k, v);
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    const resp = await fetch(path + (q.toString() ? "?" + q : ""), { headers });
    let body = null;
    try {
      body = await resp.json();
    } catch (e) {
      body = null;
    }
    if (!resp.ok) throw new APIError(resp.status, (body && body.detail) || resp.status + " " + resp.statusText);
    return body;
  }

  function notice(text) {
    const n = $("notice");
    n.textContent = text || "";
    n.hidden = !text;
  }

  // ---- small DOM helpers ---------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  const fmtRate = (r) => (r == null ? "" : (100 * r).toFixed(1) + "%");
  const fmtSecs = (s) => (s == null ? "" : s < 10 ? s.toFixed(2) : s < 100 ? s.toFixed(1) : Math.round(s).toString());
  const fmtTime = (ts) => (ts ? new Date(ts).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/:\d\dZ$/, "Z") : "");
  const rateClass = (r, threshold) => (r >= threshold ? "bad" : r >= threshold / 2 ? "warn" : "");

  // table fills t with a header row and one row per item: columns are [title, value(item),
  // class(item)?]; onRow makes a row open its events.
  function table(t, columns, rows, onRow, empty) {
    t.replaceChildren();
    if (!rows.length) {
      t.append(el("tr", {}, el("td", { class: "empty" }, empty || "nothing in this window")));
      t.dataset.rows = "0";
      return;
    }
    t.append(el("tr", {}, ...columns.map((c) => el("th", {}, c[0]))));
    for (const r of rows) {
      const tr = el("tr", onRow ? { class: "row", title: "show its events", onclick: () => onRow(r) } : {});
      for (const [, value, cls] of columns) {
        const c = (cls && cls(r)) || "";
        const v = value(r);
        tr.append(el("td", c.includes("msg") ? { class: c, title: String(v) } : { class: c }, v));
      }
      t.append(tr);
    }
    t.dataset.rows = String(rows.length);
  }

  // ---- sections ------------------------------------------------------------------------

  function renderHealth(rows, view) {
    const th = Number(view.threshold);
    table($("health-table"), [
      ["runtime", (r) => r.runtime ?? "(none)"],
      ["events", (r) => r.total, () => "num"],
      ["pass", (r) => r.pass, () => "num"],
      ["fail", (r) => r.fail, () => "num"],
      ["incomplete", (r) => r.incomplete, () => "num"],
      ["skip", (r) => r.skip, () => "num"],
      ["infra", (r) => r.infra_error, () => "num"],
      ["fail rate", (r) => fmtRate(r.fail_rate), (r) => "num " + rateClass(r.fail_rate, th)],
      ["infra rate", (r) => fmtRate(r.infra_rate), (r) => "num " + rateClass(r.infra_rate, th)],
      ["p50 s", (r) => fmtSecs(r.duration && r.duration.p50), () => "num"],
      ["p95 s", (r) => fmtSecs(r.duration && r.duration.p95), () => "num"],
    ], rows, (r) => drill(view, { runtime: r.runtime ?? "" }));
  }

  function renderAnomalies(report, view) {
    $("anomalies-since").textContent = "since " + fmtTime(report.since) + ", threshold " + report.threshold + ", at least " + report.min_total + " results";
    const th = report.threshold;
    const rows = report.result_anomalies.filter((r) => !view.runtime || r.runtime === view.runtime);
    const cols = [
      ["lab", (r) => r.runtime],
      ["device type", (r) => r.device_type ?? ""],
    ];
    if (report.scope === "device") cols.push(["device", (r) => r.device_id ?? ""]);
    cols.push(
      ["", (r) => (r.constant_infra_failure ? "always infra" : r.constant_failure ? "always failing" : ""), () => "bad"],
      ["fail rate", (r) => fmtRate(r.fail_rate), (r) => "num " + rateClass(r.fail_rate, th)],
      ["infra rate", (r) => fmtRate(r.infra_rate), (r) => "num " + rateClass(r.infra_rate, th)],
      ["total", (r) => r.total, () => "num"],
      ["pass", (r) => r.pass, () => "num"],
      ["fail", (r) => r.fail, () => "num"],
      ["incomplete", (r) => r.incomplete, () => "num"],
      ["infra", (r) => r.infra_error, () => "num"],
      ["last seen", (r) => fmtTime(r.last_seen)],
      ["latest error", (r) => [r.latest_error_type, r.latest_error_msg].filter(Boolean).join(": "), () => "msg"],
    );
    table($("result-anomalies"), cols, rows, (r) => {
      const f = { runtime: r.runtime, device_type: r.device_type ?? "" };
      if (r.device_id) f.device_id = r.device_id;
      drill(view, f);
    }, "no device type fails at or above the threshold");
    const errs = report.error_anomalies.filter((r) => !view.runtime || r.runtime === view.runtime);
    table($("error-anomalies"), [
      ["lab", (r) => r.runtime],
      ["error type", (r) => r.error_type ?? "(none)"],
      ["count", (r) => r.count, () => "num bad"],
    ], errs, (r) => drill(view, { runtime: r.runtime, error_type: r.error_type ?? "" }), "no repeated runtime errors or skips");
  }

  // renderSummary shows GET /telemetry/summary's answer generically: its snapshot time as
  // a line, and each list of objects as a table of their scalar fields. A nested object of
  // figures only (numbers or null, such as a runtime's last_24h) becomes columns of its own;
  // other nested objects (an anomaly's KernelCI row) are left out, its key names it.
  function renderSummary(s) {
    const body = $("summary-body");
    body.replaceChildren();
    const at = s.snapshot_at || "";
    $("summary-at").textContent = at ? "snapshot " + fmtTime(at) : "";
    const scalar = (v) => v === null || typeof v !== "object";
    const figures = (v) => v !== null && typeof v === "object" && !Array.isArray(v) && Object.values(v).every((x) => x === null || typeof x === "number");
    const show = (name, v) => (v == null ? "" : /(_at|since|seen|until|confirmed)$/.test(name) ? fmtTime(v)
      : /_rate$/.test(name) ? fmtRate(v) : /^duration_/.test(name) ? fmtSecs(v) : v);
    for (const [k, v] of Object.entries(s)) {
      if (!Array.isArray(v) || !v.length || typeof v[0] !== "object") continue;
      const columns = [];
      for (const c of [...new Set(v.flatMap((r) => Object.keys(r)))]) {
        const sample = v.find((r) => r[c] != null);
        const first = sample ? sample[c] : null;
        if (scalar(first)) columns.push([c.replace(/_/g, " "), (r) => show(c, r[c])]);
        else if (figures(first)) {
          for (const f of Object.keys(first)) columns.push([(c + " " + f).replace(/_/g, " "), (r) => show(f, r[c] && r[c][f])]);
        }
      }
      const t = el("table");
      table(t, columns, v, null);
      body.append(el("h3", {}, k.replace(/_/g, " ")), t);
    }
    $("summary").hidden = false;
  }

  // ---- trend charts ----------------------------------------------------------------------

  // loadTrends charts the view's trend range from GET /telemetry/trends, which answers
  // from the rollups (hourly points over 24 h, daily over 7 and 30 days, weekly over 400),
  // for the busiest TOP_RUNTIMES runtimes of the range. A deployment without rollups
  // answers 404 and the section stays empty.
  async function loadTrends(view) {
    $("trends-range").textContent = "last " + view.trend;
    let t;
    try {
      t = await get("telemetry/trends", { range: view.trend, runtime: view.runtime });
    } catch (e) {
      if (e.status === 404) return;
      throw e;
    }
    const series = t.series.slice(0, TOP_RUNTIMES);
    const runtimes = series.map((s) => s.runtime);
    const xs = t.starts.map((s) => Date.parse(s) / 1000);
    const per = (k) => series.map((s) => s[k]);
    charts.forEach((c) => c.destroy());
    charts = [
      chart($("chart-events"), xs, runtimes, per("events"), (v) => v.toFixed(0)),
      chart($("chart-fail"), xs, runtimes, per("fail_rate"), fmtRate, [0, 1]),
      chart($("chart-infra"), xs, runtimes, per("infra_rate"), fmtRate, [0, 1]),
      chart($("chart-duration"), xs, runtimes.concat(runtimes.map((r) => r + " p50")),
        per("duration_p95").concat(per("duration_p50")), fmtSecs, null, runtimes.length),
    ];
  }

  // chart draws one uPlot line chart and records how many points it drew in data-points.
  function chart(box, xs, names, lines, fmt, range, dashedFrom) {
    box.replaceChildren();
    const series = [{}].concat(names.map((n, i) => ({
      label: n,
      stroke: COLORS[(dashedFrom ? i % dashedFrom : i) % COLORS.length],
      width: 2,
      dash: dashedFrom != null && i >= dashedFrom ? [4, 4] : undefined,
      value: (u, v) => (v == null ? "" : fmt(v)),
      spanGaps: false,
      points: { show: true, size: 4 },
    })));
    const opts = {
      width: Math.max(320, box.clientWidth || 460),
      height: 200,
      series,
      scales: { x: { time: true }, y: range ? { range: () => range } : { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{}, { values: (u, ticks) => ticks.map(fmt), size: 60 }],
      legend: { live: false },
    };
    const points = lines.reduce((n, l) => n + l.filter((v) => v != null).length, 0);
    box.dataset.points = String(points);
    return new uPlot(opts, [xs, ...lines], box);
  }

  // ---- drill-down: a row's events, paged with the cursor ---------------------------------

  function drill(view, f) {
    const since = new Date(Date.now() - WINDOWS[view.window] * 1000).toISOString();
    view.drill = Object.assign({}, f, { since });
    writeView(view);
    openEvents(view.drill, true);
  }

  async function openEvents(f, fresh) {
    const sec = $("events");
    sec.hidden = false;
    $("events-filter").textContent = Object.entries(f).map(([k, v]) => k + "=" + (v === "" ? '""' : v)).join(" ");
    // Newest first, as the count line says; the API's default is oldest first.
    const params = Object.assign({ limit: PAGE, order: "desc" }, f);
    if (!fresh && drillNext) params.cursor = drillNext;
    const page = await get("telemetry", params);
    drillNext = page.next;
    const t = $("events-table");
    const prior = fresh ? [] : t._items || [];
    t._items = prior.concat(page.items);
    table(t, [
      ["time", (e) => fmtTime(e.ts)],
      ["kind", (e) => e.kind],
      ["device", (e) => e.device_id ?? ""],
      ["job", (e) => e.job_name ?? ""],
      ["test", (e) => e.test_name ?? ""],
      ["result", (e) => e.result ?? "", (e) => (e.result === "fail" || e.result === "incomplete" ? "bad" : e.result === "pass" ? "ok" : "")],
      ["infra", (e) => (e.is_infra_error ? "yes" : ""), () => "bad"],
      ["retry", (e) => e.retry || "", () => "num"],
      ["duration s", (e) => fmtSecs(e.duration), () => "num"],
      ["error", (e) => [e.error_type, e.error_msg].filter(Boolean).join(": "), () => "msg"],
    ], t._items, null, "no events match");
    $("events-more").hidden = !page.next;
    $("events-count").textContent = t._items.length + " of " + (page.total_exact ? "" : "at least ") + page.total + ", newest first";
    sec.scrollIntoView({ block: "nearest" });
  }

  // ---- loading -------------------------------------------------------------------------

  async function load() {
    clearTimeout(timer);
    const view = readView();
    syncForm(view);
    const now = Date.now();
    const since = new Date(now - WINDOWS[view.window] * 1000).toISOString();
    $("health-range").textContent = "last " + view.window;
    try {
      // The summary is asked for alongside, but the first view does not wait for it or for
      // the trends: health and anomalies show as soon as they arrive.
      const summary = loadSummary();
      const [health, report] = await Promise.all([
        get("telemetry/stats", { group_by: "runtime", runtime: view.runtime, since }),
        get("telemetry/anomalies", { window: view.window, threshold: view.threshold, scope: view.scope }),
      ]);
      const rt = filters.elements.runtime;
      for (const r of health) {
        const name = r.runtime ?? "";
        if (name && ![...rt.options].some((o) => o.value === name)) rt.add(new Option(name, name));
      }
      renderHealth(health, view);
      renderAnomalies(report, view);
      // Milliseconds from navigation to the first view with data, for the browser test to report.
      if (!document.body.dataset.firstDataMs) document.body.dataset.firstDataMs = String(Math.round(performance.now()));
      await Promise.all([loadTrends(view), summary]);
      if (view.drill && $("events").hidden) await openEvents(view.drill, true);
      notice("");
      $("updated").textContent = "updated " + new Date(now).toLocaleTimeString();
    } catch (e) {
      notice(e.status === 401 || e.status === 403 ? "The API wants a token with the read scope: " + e.message : e.message);
    }
    document.body.dataset.loaded = String(++loads);
    if (view.refresh !== "0") timer = setTimeout(load, Number(view.refresh) * 1000);
  }

  // loadSummary fills the summary section when the deployment serves the route, and
  // hides it when it answers 404 (a deployment without rollups).
  async function loadSummary() {
    try {
      renderSummary(await get("telemetry/summary"));
    } catch (e) {
      $("summary").hidden = true;
      if (e.status !== 404) throw e;
    }
  }

  // ---- wiring ----------------------------------------------------------------------------

  filters.addEventListener("change", () => {
    const view = readView();
    for (const k of ["window", "runtime", "threshold", "scope", "refresh", "trend"]) view[k] = filters.elements[k].value;
    writeView(view);
    load();
  });
  filters.addEventListener("submit", (e) => e.preventDefault());
  $("auth").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = e.target.elements.token.value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    e.target.elements.token.value = "";
    e.target.elements.token.placeholder = token ? "token set" : "bearer token";
    load();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $("auth").elements.token.placeholder = "bearer token";
    load();
  });
  $("events-more").addEventListener("click", () => openEvents(readView().drill || {}, false).catch((e) => notice(e.message)));
  $("events-close").addEventListener("click", () => {
    const view = readView();
    view.drill = null;
    writeView(view);
    $("events").hidden = true;
  });
  if (sessionStorage.getItem(TOKEN_KEY)) $("auth").elements.token.placeholder = "token set";
  load();
})();
