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
  // parsed resolves once the whole document, the chart library after this script
  // included, has been parsed and run.
  const parsed = new Promise((resolve) =>
    document.readyState === "loading" ? document.addEventListener("DOMContentLoaded", resolve) : resolve());
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

  // APIError is a refused or failed request: its HTTP status (0 when no answer came), the
  // answer's detail, and the request id (the body's request_id, else API Gateway's
  // apigw-requestid header) that finds it in the logs.
  class APIError extends Error {
    constructor(status, detail, requestId) {
      super(detail);
      this.status = status;
      this.requestId = requestId || "";
    }
  }

  async function get(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== "" && v != null) q.set(k, v);
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    let resp;
    try {
      resp = await fetch(path + (q.toString() ? "?" + q : ""), { headers });
    } catch (e) {
      throw new APIError(0, "The API did not answer (" + e.message + "); is the server running?");
    }
    let body = null;
    try {
      body = await resp.json();
    } catch (e) {
      body = null;
    }
    if (!resp.ok) {
      const detail = (body && (body.detail || body.message)) || resp.status + " " + resp.statusText;
      throw new APIError(resp.status, detail, (body && body.request_id) || resp.headers.get("apigw-requestid"));
    }
    return body;
  }

  function notice(text) {
    const n = $("notice");
    n.textContent = text || "";
    n.hidden = !text;
  }

  // failed tells the person what went wrong and what to do: a refused token asks for one
  // (the token entry is focused), a server fault gives the request id to report.
  function failed(e) {
    const auth = $("auth");
    auth.classList.toggle("wanted", e.status === 401);
    if (e.status === 401) {
      notice((sessionStorage.getItem(TOKEN_KEY) ? "The token was refused: " : "This deployment wants a bearer token: ") + e.message +
        " Enter a token with the read scope in the field at the top.");
      auth.elements.token.focus();
      return;
    }
    if (e.status === 403) {
      notice("The token lacks a scope this page needs: " + e.message + " Enter a token with the read scope.");
      auth.elements.token.focus();
      return;
    }
    if (!(e instanceof APIError)) {
      notice("The page failed: " + e.message);
      return;
    }
    const id = e.requestId ? " Request id " + e.requestId + "." : "";
    notice(e.status >= 500 ? "The server failed (HTTP " + e.status + "): " + e.message + id + " It retries at the next refresh."
      : e.status ? e.message + " (HTTP " + e.status + ")." + id : e.message);
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

  // ---- the summary: GET /telemetry/summary, what the rollup last found -------------------

  // ago says how long before now t was, coarsely: "3 min", "2 h 5 min", "3 d 4 h".
  function ago(t, now) {
    const s = Math.max(0, Math.round((now - Date.parse(t)) / 1000));
    if (s < 60) return s + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min";
    const h = Math.floor(m / 60);
    if (h < 48) return h + " h" + (m % 60 ? " " + (m % 60) + " min" : "");
    return Math.floor(h / 24) + " d" + (h % 24 ? " " + (h % 24) + " h" : "");
  }

  const since = (t, now) => (t ? fmtTime(t) + " (" + ago(t, now) + " ago)" : "");
  // subject names what an anomaly is about: its lab and its device, else its device type
  // (a device's id names its type already).
  const subject = (r) => [r.runtime, r.device_id || r.device_type].filter((x) => x != null && x !== "").join(" / ");
  const METRICS = { fail_rate: "fail rate", infra_rate: "infra rate" };
  const ratio = (c) => c.count + " of " + c.total + " (" + fmtRate(c.rate) + ")";

  // mergeWindows folds the records the rollup keeps per scope and window into one per
  // thing found, so a device failing over both 6 h and 24 h is one row: open since the
  // earliest, its windows listed, each window's own record kept (perWindow, shortest
  // first) so the row tells each window's counts, not the shortest one's for all.
  function mergeWindows(records) {
    const by = new Map();
    for (const a of records) {
      const r = a.row || {};
      // KernelCI's error anomalies are per runtime and error type in either scope.
      const key = [a.kind, a.kind === "error" ? "" : a.scope, r.runtime, r.device_type, r.device_id, r.error_type].join("\u0000");
      const hours = parseInt(a.window, 10) || 0;
      const m = by.get(key);
      if (!m) {
        by.set(key, Object.assign({}, a, { windows: [a.window], hours, perWindow: [{ window: a.window, hours, row: r }] }, a.kind === "error" ? { scope: "" } : {}));
        continue;
      }
      if (!m.windows.includes(a.window)) {
        m.windows.push(a.window);
        m.perWindow.push({ window: a.window, hours, row: r });
      }
      if (a.since < m.since) m.since = a.since;
      if (a.last_confirmed > m.last_confirmed) m.last_confirmed = a.last_confirmed;
      if (hours < m.hours) Object.assign(m, { row: a.row, hours, window: a.window });
    }
    const out = [...by.values()];
    for (const m of out) {
      m.windows.sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
      m.perWindow.sort((a, b) => a.hours - b.hours);
    }
    // Results before errors, then newest first: what just broke is what an operator opens
    // the page for.
    const rank = { result: 0, baseline: 1, silence: 2, error: 3 };
    return out.sort((a, b) => (rank[a.kind] ?? 4) - (rank[b.kind] ?? 4) || (a.since < b.since ? 1 : a.since > b.since ? -1 : 0));
  }

  // why says, in a few words, what made an anomaly open. A row merged over several
  // windows gives each window's counts, labelled with the window.
  function why(a) {
    const r = a.row || {};
    const per = a.perWindow && a.perWindow.length ? a.perWindow : [{ window: a.window, row: r }];
    const label = (w) => (per.length > 1 ? w.window + ": " : "");
    switch (a.kind) {
      case "result": {
        const parts = [per.map((w) => {
          const x = w.row || {};
          const flag = x.constant_infra_failure ? "always infra, " : x.constant_failure ? "always failing, " : "";
          return label(w) + flag + "fail " + fmtRate(x.fail_rate) + ", infra " + fmtRate(x.infra_rate) + " of " + x.total;
        }).join("; ")];
        const f = r.latest_failure;
        if (f && (f.error_type || f.error_msg)) parts.push([f.error_type, f.error_msg].filter(Boolean).join(": "));
        return parts.join(" · ");
      }
      case "error":
        return (r.error_type ?? "(no type)") + " " + per.map((w) => "× " + (w.row || {}).count + (per.length > 1 ? " in " + w.window : "")).join(", ");
      case "baseline":
        return (METRICS[r.metric] || r.metric) + " " + ratio(r.observed) + " against " + fmtRate(r.expected && r.expected.rate);
      case "silence":
        return "nothing since " + fmtTime(r.last_seen);
    }
    return "";
  }

  // Which events a summary row drills into: its group, and for an error its type.
  function groupFilter(r) {
    const f = { runtime: r.runtime ?? "" };
    if (r.device_type != null) f.device_type = r.device_type;
    if (r.device_id != null) f.device_id = r.device_id;
    if (r.error_type !== undefined) f.error_type = r.error_type ?? "";
    return f;
  }

  // worse marks a rate of the last 24 h against the 7 days: 5 points above is bad, 2 a
  // warning; "" when the 7 days have no events to compare with.
  function worse(now, base, bad, warn) {
    if (now == null || base == null) return "";
    return now - base >= bad ? "bad" : now - base >= warn ? "warn" : "";
  }

  function renderSummary(s, view) {
    const now = Date.now();
    const at = s.snapshot_at || "";
    $("summary-at").textContent = at ? "snapshot " + fmtTime(at) + " (" + ago(at, now) + " ago)" : "";
    const ev = s.evaluations || [];
    const windows = [...new Set(ev.map((e) => e.window))].join(", ");
    $("summary-rules").textContent = ev.length
      ? "Evaluated every minute: KernelCI's rule over " + windows + " at threshold " + ev[0].threshold + ", at least " + ev[0].min_total + " results; baselines and silence."
      : "";
    const mine = (a) => !view.runtime || (a.row && a.row.runtime === view.runtime);
    const open = (s.open_anomalies || []).filter(mine);
    const drillTo = (f, withSince) => (a) => drill(view, f(a.row || {}), withSince);
    const pending = (a) => (a.clear_runs ? "not found in the last " + a.clear_runs + " run" + (a.clear_runs > 1 ? "s" : "") : "");

    table($("summary-open"), [
      ["kind", (a) => a.kind],
      ["scope", (a) => a.scope.replace("_", " ")],
      ["what", (a) => subject(a.row || {}) + (a.kind === "error" ? " · " + ((a.row || {}).error_type ?? "(no type)") : "")],
      ["windows", (a) => a.windows.join(", ")],
      ["open since", (a) => since(a.since, now)],
      ["last confirmed", (a) => fmtTime(a.last_confirmed) + (a.clear_runs ? " · " + pending(a) : "")],
      ["why", (a) => why(a), () => "msg why bad"],
    ], mergeWindows(open.filter((a) => a.kind === "result" || a.kind === "error")), drillTo(groupFilter, true),
    "nothing fails at or above the threshold");

    table($("summary-baseline"), [
      ["scope", (a) => a.scope.replace("_", " ")],
      ["lab", (a) => a.row.runtime],
      ["device type", (a) => a.row.device_type ?? ""],
      ["device", (a) => a.row.device_id ?? ""],
      ["metric", (a) => METRICS[a.row.metric] || a.row.metric],
      ["observed", (a) => ratio(a.row.observed), () => "num bad"],
      ["expected", (a) => fmtRate(a.row.expected.rate), () => "num"],
      ["baseline", (a) => a.row.expected.count + " of " + a.row.expected.total + (a.row.basis === "hour_of_day" ? ", same hours of day" : ", all hours"), () => "muted"],
      ["score", (a) => a.row.score, () => "num"],
      ["open since", (a) => since(a.since, now)],
      ["last seen", (a) => fmtTime(a.row.last_seen) + (a.clear_runs ? " · " + pending(a) : "")],
    ], open.filter((a) => a.kind === "baseline" && a.row).sort((a, b) => b.row.score - a.row.score),
    drillTo((r) => groupFilter({ runtime: r.runtime, device_type: r.device_type, device_id: r.device_id }), true),
    "no group is above its own baseline");

    table($("summary-silent"), [
      ["level", (a) => a.scope.replace("_", " ")],
      ["lab", (a) => a.row.runtime],
      ["device type", (a) => a.row.device_type ?? ""],
      ["device", (a) => a.row.device_id ?? ""],
      ["last seen", (a) => fmtTime(a.row.last_seen)],
      ["silent for", (a) => ago(a.row.last_seen, now), () => "num bad"],
      ["usual rate", (a) => a.row.rate_per_hour + " / h", () => "num"],
      ["expected since", (a) => Math.round(a.row.expected) + " events", () => "num"],
      ["open since", (a) => since(a.since, now)],
    ], open.filter((a) => a.kind === "silence" && a.row).sort((a, b) => (a.row.last_seen < b.row.last_seen ? -1 : 1)),
    // A silent group's drill-down has no since: its newest events are its last.
    drillTo((r) => groupFilter({ runtime: r.runtime, device_type: r.device_type, device_id: r.device_id }), false),
    "every steady sender is sending");

    const isNew = new Set((s.new_signatures || []).map((n) => n.id));
    const onLab = (x) => !view.runtime || (x.runtimes || []).includes(view.runtime);
    table($("summary-signatures"), [
      ["signature", (g) => (isNew.has(g.id) ? "new · " : "") + g.template, (g) => "msg" + (isNew.has(g.id) ? " bad" : "")],
      ["count", (g) => g.count, () => "num"],
      ["labs", (g) => (g.runtimes || []).join(", ")],
      ["first seen", (g) => fmtTime(g.first_seen)],
      ["last seen", (g) => since(g.last_seen, now)],
      ["sample", (g) => g.sample, () => "msg muted"],
    ], ((s.error_signatures || {}).signatures || []).filter(onLab), null, "no error messages in the last hour");

    const flaky = s.flaky_tests || {};
    table($("summary-flaky"), [
      ["class", (f) => f.class, (f) => (f.class === "broken" ? "bad" : "warn")],
      ["test", (f) => f.test_name, () => "msg"],
      ["job", (f) => f.job_name ?? ""],
      ["device type", (f) => f.device_type ?? ""],
      ["tree / branch", (f) => (f.tree ?? "") + " / " + (f.branch ?? "")],
      ["results, oldest first", (f) => f.history, () => "mono"],
      ["fails", (f) => f.failures + " of " + f.runs, () => "num"],
      ["changes", (f) => f.transitions, () => "num"],
    ], [...(flaky.flaky || []), ...(flaky.broken || [])].filter(onLab),
    (f) => drill(view, { test_name: f.test_name, job_name: f.job_name ?? "", device_type: f.device_type ?? "" }, false),
    "no test both passes and fails, and none always fails");

    const th = Number(view.threshold);
    // The last 24 h beside the 7 days in brackets; a figure neither has (no durations) is blank.
    const pair = (k, f) => (h) => {
      const now = h.last_24h[k] == null ? "" : f(h.last_24h[k]);
      const base = h.last_7d[k] == null ? "" : f(h.last_7d[k]);
      return base === "" ? now : now + "  (" + base + ")";
    };
    table($("summary-health"), [
      ["runtime", (h) => h.runtime],
      ["events 24 h", (h) => h.last_24h.events, () => "num"],
      ["per day over 7 d", (h) => Math.round(h.last_7d.events / 7), () => "num"],
      ["fail rate (7 d)", pair("fail_rate", fmtRate), (h) => "num " + (worse(h.last_24h.fail_rate, h.last_7d.fail_rate, 0.05, 0.02) || rateClass(h.last_24h.fail_rate, th))],
      ["infra rate (7 d)", pair("infra_rate", fmtRate), (h) => "num " + (worse(h.last_24h.infra_rate, h.last_7d.infra_rate, 0.05, 0.02) || rateClass(h.last_24h.infra_rate, th))],
      ["pass rate (7 d)", pair("pass_rate", fmtRate), () => "num"],
      ["p50 s (7 d)", pair("duration_p50", fmtSecs), () => "num"],
      ["p95 s (7 d)", pair("duration_p95", fmtSecs), (h) => "num " + (h.last_24h.duration_p95 > 1.5 * h.last_7d.duration_p95 ? "warn" : "")],
    ], (s.health || []).filter((h) => !view.runtime || h.runtime === view.runtime),
    (h) => drill(view, { runtime: h.runtime }), "no events in the last 7 days");

    table($("summary-resolved"), [
      ["kind", (a) => a.kind],
      ["what", (a) => subject(a.row || {}) + (a.kind === "error" ? " · " + ((a.row || {}).error_type ?? "(no type)") : "")],
      ["windows", (a) => a.windows.join(", ")],
      ["open since", (a) => fmtTime(a.since)],
      ["resolved", (a) => since(a.resolved_at, now)],
    ], mergeWindows((s.recently_resolved || []).filter(mine)), drillTo(groupFilter, true), "none");
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
      if (e.status === 404) return false;
      throw e;
    }
    await parsed;
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

  // drill lists the events of filter f, within the view's window unless withSince is false.
  function drill(view, f, withSince) {
    view.drill = Object.assign({}, f);
    if (withSince !== false) view.drill.since = new Date(Date.now() - WINDOWS[view.window] * 1000).toISOString();
    writeView(view);
    openEvents(view.drill, true).catch(failed);
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

  // marks records, in data attributes of the body, the milliseconds from navigation to the
  // frame that first shows a section's data (make bench and the browser test read them).
  function mark(name) {
    if (document.body.dataset[name]) return;
    document.body.dataset[name] = "pending";
    requestAnimationFrame(() => (document.body.dataset[name] = String(Math.round(performance.now()))));
  }

  // load asks for every section at once and renders each as its answer comes: the summary
  // (one read of a snapshot) is usually first, and nothing waits on the trends.
  async function load() {
    clearTimeout(timer);
    const view = readView();
    syncForm(view);
    const now = Date.now();
    const since = new Date(now - WINDOWS[view.window] * 1000).toISOString();
    $("health-range").textContent = "last " + view.window;
    const errors = [];
    // A section that shows nothing (a route this deployment lacks) resolves to false.
    const part = (p, name) => p.then((shown) => shown !== false && name && (mark(name), mark("firstDataMs")), (e) => errors.push(e));
    await Promise.all([
      part(loadSummary(view), "summaryMs"),
      part(get("telemetry/stats", { group_by: "runtime", runtime: view.runtime, since }).then((health) => {
        const rt = filters.elements.runtime;
        for (const r of health) {
          const name = r.runtime ?? "";
          if (name && ![...rt.options].some((o) => o.value === name)) rt.add(new Option(name, name));
        }
        renderHealth(health, view);
      }), "healthMs"),
      part(get("telemetry/anomalies", { window: view.window, threshold: view.threshold, scope: view.scope })
        .then((report) => renderAnomalies(report, view)), "anomaliesMs"),
      part(loadTrends(view), "trendsMs"),
      view.drill && $("events").hidden ? part(openEvents(view.drill, true)) : null,
    ]);
    mark("allDataMs");
    if (errors.length) failed(errors.find((e) => e.status === 401) || errors[0]);
    else {
      notice("");
      $("auth").classList.remove("wanted");
      $("updated").textContent = "updated " + new Date(now).toLocaleTimeString();
    }
    document.body.dataset.loaded = String(++loads);
    if (view.refresh !== "0") timer = setTimeout(load, Number(view.refresh) * 1000);
  }

  // loadSummary fills the summary section when the deployment serves the route, and
  // hides it when it answers 404 (a deployment without rollups).
  async function loadSummary(view) {
    try {
      renderSummary(await get("telemetry/summary"), view);
    } catch (e) {
      $("summary").hidden = true;
      if (e.status !== 404) throw e;
      return false;
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
  $("events-more").addEventListener("click", () => openEvents(readView().drill || {}, false).catch(failed));
  $("events-close").addEventListener("click", () => {
    const view = readView();
    view.drill = null;
    writeView(view);
    $("events").hidden = true;
  });
  if (sessionStorage.getItem(TOKEN_KEY)) $("auth").elements.token.placeholder = "token set";
  load();
})();
