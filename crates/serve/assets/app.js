// The trailsql console: three views (Event history, Dashboard, SQL) over the JSON API of
// `trailsql serve`. No framework and no build step: DOM calls and SVG we draw ourselves.
"use strict";

const $ = (sel) => document.querySelector(sel);
const $$ = (sel) => Array.from(document.querySelectorAll(sel));
const svgNS = "http://www.w3.org/2000/svg";

const FILTERS = ["username", "event_name", "event_source", "resource_type", "resource_name",
  "access_key_id", "event_id", "read_only", "region", "source_ip", "error_code", "account",
  "principal", "user_type"];
const DEFAULT_COLUMNS = ["event_time", "user", "event_name", "event_source", "region",
  "source_ip", "resources", "error"];

const state = {
  tab: "history",
  info: null,
  order: "desc",
  next: null,
  columns: [],
  rows: [],
  sortCol: null,
  visible: JSON.parse(localStorage.getItem("trailsql.columns") || "null") || DEFAULT_COLUMNS,
  sqlResult: null,
  sqlRunning: null,
  reports: [],
  dashKey: null,
  historyGen: 0,
  dashGen: 0,
};

// ---- HTTP --------------------------------------------------------------------------------

async function api(path, options) {
  const resp = await fetch(path, options);
  const type = resp.headers.get("content-type") || "";
  const body = type.includes("application/json") ? await resp.json() : await resp.text();
  if (!resp.ok) {
    const msg = body && body.error ? body.error : `${resp.status} ${resp.statusText}`;
    const err = new Error(msg);
    err.status = resp.status;
    throw err;
  }
  return body;
}

function post(path, payload) {
  return api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(payload) });
}

function qs(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  return p.toString();
}

function showError(el, err) {
  const box = $(el);
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  box.hidden = false;
  box.textContent = err.message || String(err);
}

// ---- Time window --------------------------------------------------------------------------

// datetime-local values are read and written as UTC.
function toInput(date) { return date.toISOString().slice(0, 19); }
function fromInput(v) { return v ? (v.length === 16 ? v + ":00" : v) + "Z" : ""; }
function windowParams() { return { since: fromInput($("#since").value), until: fromInput($("#until").value) }; }
function fmtTime(t) { return typeof t === "string" ? t.replace("T", " ").replace(/(\.\d+)?Z$/, "") : t; }

function setWindow(since, until) {
  $("#since").value = toInput(since);
  $("#until").value = toInput(until);
}

function presetEnd() {
  // Presets end at the lake's newest event (a lake of old logs is not empty "now").
  const last = state.info && state.info.last ? new Date(state.info.last) : new Date();
  return new Date(Math.ceil((last.getTime() + 1000) / 60000) * 60000);
}

function applyPreset(hours) {
  const end = presetEnd();
  setWindow(new Date(end.getTime() - hours * 3600e3), end);
  refresh();
}

// ---- Navigation ----------------------------------------------------------------------------

function showTab(tab) {
  state.tab = tab;
  for (const b of $$(".tab")) b.classList.toggle("active", b.dataset.tab === tab);
  for (const v of $$(".view")) v.hidden = v.id !== `view-${tab}`;
  $("#window-bar").hidden = tab === "sql";
  saveHash();
  refresh();
}

function saveHash() {
  const p = state.tab === "history" ? { ...windowParams(), ...filterValues() } : windowParams();
  history.replaceState(null, "", `#${state.tab}?${qs(p)}`);
}

function loadHash() {
  const m = location.hash.match(/^#(\w+)\??(.*)$/);
  if (!m) return false;
  const p = new URLSearchParams(m[2]);
  if (p.get("since")) $("#since").value = p.get("since").replace(/Z$/, "").slice(0, 19);
  if (p.get("until")) $("#until").value = p.get("until").replace(/Z$/, "").slice(0, 19);
  for (const f of FILTERS) if (p.get(f)) $("#filters").elements[f].value = p.get(f);
  state.tab = ["history", "dashboard", "sql"].includes(m[1]) ? m[1] : "history";
  return !!p.get("since");
}

function refresh() {
  if (state.tab === "history") loadHistory();
  else if (state.tab === "dashboard") loadDashboard();
}

// Event history with these filters (and optionally this window): from dashboard panels and
// the detail view's pivots.
function openHistory(filters, since, until) {
  for (const f of FILTERS) $("#filters").elements[f].value = filters[f] || "";
  if (since && until) setWindow(since, until);
  closeDetail();
  showTab("history");
}

// ---- Event history ------------------------------------------------------------------------

function filterValues() {
  const out = {};
  for (const f of FILTERS) {
    const v = $("#filters").elements[f].value.trim();
    if (v) out[f] = v;
  }
  return out;
}

// Each load has a generation: answers to a load that a newer one replaced are dropped, so
// the page never shows an older filter's rows or count.
async function loadHistory() {
  const gen = ++state.historyGen;
  saveHash();
  showError("#history-error", null);
  state.next = null;
  state.rows = [];
  state.sortCol = null;
  $("#event-count").textContent = "";
  $("#history-status").textContent = "loading…";
  const params = { ...windowParams(), ...filterValues() };
  const count = api(`/api/events/count?${qs(params)}`);
  count.catch(() => {});
  try {
    await loadPage(params, gen);
    const c = await count;
    if (gen !== state.historyGen) return;
    $("#event-count").textContent = `${Number(c.events).toLocaleString("en-US")} events`;
    $("#event-count").dataset.count = c.events;
  } catch (e) {
    if (gen !== state.historyGen) return;
    $("#history-status").textContent = "";
    showError("#history-error", e);
  }
}

async function loadPage(params, gen) {
  const started = performance.now();
  const p = { ...params, order: state.order, limit: 100 };
  if (state.next) Object.assign(p, state.next);
  const page = await api(`/api/events?${qs(p)}`);
  if (gen !== state.historyGen) return;
  state.columns = page.columns.map((c) => c.name);
  state.rows = state.rows.concat(page.rows);
  state.next = page.next;
  renderColumnChooser();
  renderEvents();
  $("#load-more").hidden = !page.next;
  $("#history-status").textContent =
    `${state.rows.length} shown · server ${page.elapsed_ms.toFixed(0)} ms, page ${(performance.now() - started).toFixed(0)} ms`;
}

function renderColumnChooser() {
  const list = $("#column-list");
  if (list.childElementCount === state.columns.length) return;
  list.replaceChildren(...state.columns.map((c) => {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = c;
    box.checked = state.visible.includes(c);
    box.addEventListener("change", () => {
      state.visible = $$("#column-list input:checked").map((b) => b.value);
      localStorage.setItem("trailsql.columns", JSON.stringify(state.visible));
      renderEvents();
    });
    label.append(box, " ", c);
    return label;
  }));
}

function renderEvents() {
  const cols = state.columns.filter((c) => state.visible.includes(c));
  const idx = cols.map((c) => state.columns.indexOf(c));
  const head = document.createElement("tr");
  for (const c of cols) {
    const th = document.createElement("th");
    let mark = "";
    if (c === "event_time" && !state.sortCol) mark = state.order === "desc" ? " ▼" : " ▲";
    if (state.sortCol && state.sortCol.name === c) mark = state.sortCol.dir > 0 ? " ▲" : " ▼";
    th.textContent = c + mark;
    th.title = c === "event_time" ? "sort by time (on the server: every page)" : "sort the loaded rows";
    th.addEventListener("click", () => sortEvents(c));
    head.append(th);
  }
  $("#events thead").replaceChildren(head);
  let rows = state.rows;
  if (state.sortCol) {
    const i = state.columns.indexOf(state.sortCol.name);
    const d = state.sortCol.dir;
    rows = rows.slice().sort((a, b) => (String(a[i] ?? "") < String(b[i] ?? "") ? -d : String(a[i] ?? "") > String(b[i] ?? "") ? d : 0));
  }
  const body = document.createDocumentFragment();
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const i of idx) {
      const td = document.createElement("td");
      td.textContent = cell(i === 0 ? fmtTime(r[i]) : r[i]);
      td.title = td.textContent;
      tr.append(td);
    }
    tr.addEventListener("click", () => openDetail(r));
    body.append(tr);
  }
  $("#events tbody").replaceChildren(body);
}

function sortEvents(col) {
  if (col === "event_time") {
    // Time order is the server's: the keyset pages run that way.
    state.order = state.sortCol ? "desc" : state.order === "desc" ? "asc" : "desc";
    loadHistory();
    return;
  }
  const dir = state.sortCol && state.sortCol.name === col ? -state.sortCol.dir : 1;
  state.sortCol = { name: col, dir };
  renderEvents();
}

function cell(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// ---- Event detail -------------------------------------------------------------------------

async function openDetail(row) {
  const get = (name) => row[state.columns.indexOf(name)];
  const id = get("event_id");
  const time = get("event_time");
  $("#detail").hidden = false;
  $("#detail-title").textContent = `${get("event_name")} · ${fmtTime(time)}`;
  $("#detail-meta").textContent = "loading…";
  $("#event-json").textContent = "";
  $("#detail-pivots").replaceChildren();
  try {
    const ev = await api(`/api/event/${encodeURIComponent(id)}?${qs({ time })}`);
    $("#event-json").textContent = JSON.stringify(ev.record, null, 2);
    const meta = $("#detail-meta");
    meta.replaceChildren();
    const line = (label, value, cls) => {
      const div = document.createElement("div");
      const b = document.createElement("b");
      b.textContent = label + ": ";
      const span = document.createElement("span");
      span.textContent = value;
      if (cls) span.className = cls;
      div.append(b, span);
      meta.append(div);
    };
    line("Source object", `${ev.source_object} (record ${ev.source_index})`);
    if (ev.verdict) {
      const v = ev.verdict;
      line("Digest verdict", `${v.verdict}${v.detail ? " — " + v.detail : ""} (verified ${v.verified_at})`,
        v.verdict === "valid" ? "verdict-valid" : "verdict-bad");
    }
    // One click to everything this principal / key / IP / resource did around that time.
    const t = new Date(time);
    const around = [new Date(t.getTime() - 3600e3), new Date(t.getTime() + 3600e3)];
    const rec = ev.record;
    const ui = rec.userIdentity || {};
    const pivots = [];
    if (ui.arn) pivots.push(["this principal", { principal: ui.arn }]);
    if (ui.accessKeyId) pivots.push(["this access key", { access_key_id: ui.accessKeyId }]);
    if (rec.sourceIPAddress) pivots.push(["this source IP", { source_ip: rec.sourceIPAddress }]);
    for (const r of (rec.resources || []).slice(0, 3)) {
      if (r.ARN) pivots.push([`resource ${r.ARN.split(/[:/]/).pop()}`, { resource_name: r.ARN }]);
    }
    for (const [label, f] of pivots) {
      const b = document.createElement("button");
      b.textContent = `Everything ${label} did ±1h`;
      b.addEventListener("click", () => openHistory(f, around[0], around[1]));
      $("#detail-pivots").append(b);
    }
  } catch (e) {
    $("#detail-meta").textContent = e.message;
  }
}

function closeDetail() { $("#detail").hidden = true; }

// ---- Dashboard ----------------------------------------------------------------------------

async function loadDashboard() {
  const params = windowParams();
  const key = qs(params);
  if (state.dashKey === key) return;
  state.dashKey = key;
  const gen = ++state.dashGen;
  saveHash();
  showError("#dash-error", null);
  $("#dash-status").textContent = "loading…";
  $("#dash-totals").textContent = "";
  const started = performance.now();
  const findings = api(`/api/findings?${key}`);
  findings.catch(() => {});
  try {
    const d = await api(`/api/dashboard?${key}`);
    if (gen !== state.dashGen) return;
    $("#dash-totals").textContent =
      `${d.events.toLocaleString("en-US")} events, ${d.errors.toLocaleString("en-US")} errors`;
    $("#dash-status").textContent =
      `server ${d.elapsed_ms.toFixed(0)} ms, page ${(performance.now() - started).toFixed(0)} ms`;
    drawHistogram(d);
    $("#panels").replaceChildren(...d.panels.map(renderPanel));
  } catch (e) {
    if (gen !== state.dashGen) return;
    state.dashKey = null;
    $("#dash-status").textContent = "";
    showError("#dash-error", e);
  }
  try {
    const f = await findings;
    if (gen === state.dashGen) renderFindings(f);
  } catch (e) {
    if (gen === state.dashGen) $("#findings").textContent = e.message;
  }
}

function renderPanel(p) {
  const div = document.createElement("div");
  div.className = "panel";
  div.id = `panel-${p.id}`;
  const h = document.createElement("h2");
  h.textContent = p.title;
  div.append(h);
  if (!p.rows.length) {
    const none = document.createElement("div");
    none.className = "muted";
    none.textContent = "none in this window";
    div.append(none);
    return div;
  }
  const table = document.createElement("table");
  const n = p.columns.length - 1;
  const max = Math.max(...p.rows.map((r) => r[n]));
  for (const r of p.rows) {
    const tr = document.createElement("tr");
    tr.className = "link";
    tr.title = "Event history of these events";
    for (let i = 0; i < n; i++) {
      const td = document.createElement("td");
      td.textContent = cell(r[i]);
      tr.append(td);
    }
    const bar = document.createElement("td");
    bar.className = "barcell";
    const fill = document.createElement("div");
    fill.style.width = `${(100 * r[n]) / max}%`;
    bar.append(fill);
    const num = document.createElement("td");
    num.className = "num";
    num.textContent = r[n].toLocaleString("en-US");
    tr.append(bar, num);
    tr.addEventListener("click", () => {
      const f = { ...p.fixed };
      p.columns.forEach((c, i) => { if (p.linked.includes(c.name)) f[c.name] = r[i]; });
      openHistory(f);
    });
    table.append(tr);
  }
  div.append(table);
  return div;
}

function renderFindings(f) {
  $("#findings-source").textContent = f.source === "detections"
    ? "(from the detections table of trailsql detect)"
    : "(the shipped detection reports over this window)";
  const box = $("#findings");
  const cols = document.createElement("div");
  cols.className = "findings-cols";
  const summary = (title, obj) => {
    const d = document.createElement("div");
    const h = document.createElement("h2");
    h.textContent = title;
    d.append(h);
    const entries = Object.entries(obj);
    if (!entries.length) d.append("none");
    for (const [k, v] of entries) {
      const line = document.createElement("div");
      line.className = `sev-${k}`;
      line.textContent = `${k}: ${v}`;
      d.append(line);
    }
    return d;
  };
  const list = document.createElement("div");
  const h = document.createElement("h2");
  h.textContent = "Rules with findings";
  list.append(h);
  const hits = f.findings.filter((x) => x.count > 0);
  if (!hits.length) list.append("none");
  for (const x of hits) {
    const line = document.createElement("div");
    const a = document.createElement("a");
    a.href = "#sql";
    a.textContent = `${x.title}`;
    a.className = `sev-${x.level}`;
    a.addEventListener("click", (e) => { e.preventDefault(); openReport(f.source, x); });
    line.append(a, ` — ${x.count} (${x.level}${x.tactics.length ? ", " + x.tactics.join(", ") : ""})`);
    list.append(line);
  }
  cols.append(summary("By level", f.by_level), summary("By ATT&CK tactic", f.by_tactic), list);
  box.replaceChildren(cols);
}

function openReport(source, finding) {
  showTab("sql");
  if (source === "reports") {
    $("#report-select").value = finding.id;
    renderReportParams();
    loadReport();
  } else {
    $("#report-select").value = "";
    renderReportParams();
    $("#sql-editor").value = finding.sql;
  }
  runSql();
}

function drawHistogram(d) {
  const svg = $("#histogram");
  const width = svg.clientWidth || 900;
  const height = 180;
  const pad = { l: 44, r: 8, t: 8, b: 22 };
  const t0 = new Date(d.since).getTime();
  const t1 = new Date(d.until).getTime();
  const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * (width - pad.l - pad.r);
  const max = Math.max(1, ...d.histogram.map((b) => b[1]));
  const y = (n) => height - pad.b - (n / max) * (height - pad.t - pad.b);
  const bw = Math.max(1, x(t0 + d.bucket_seconds * 1000) - x(t0) - 1);
  const nodes = [];
  const el = (name, attrs, text) => {
    const e = document.createElementNS(svgNS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    nodes.push(e);
    return e;
  };
  for (const [bucket, n, errors] of d.histogram) {
    const bx = x(new Date(bucket).getTime());
    const r = el("rect", { class: "bar", x: bx, y: y(n), width: bw, height: y(0) - y(n) });
    const title = document.createElementNS(svgNS, "title");
    title.textContent = `${fmtTime(bucket)}: ${n} events, ${errors} errors`;
    r.append(title);
    if (errors) el("rect", { class: "err", x: bx, y: y(errors), width: bw, height: y(0) - y(errors) });
  }
  el("text", { class: "axis", x: 2, y: pad.t + 8 }, max.toLocaleString("en-US"));
  el("text", { class: "axis", x: 2, y: y(0) }, "0");
  // Five time labels, never overlapping: evenly spaced, each centred on its tick.
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) * i) / 4;
    const anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
    el("text", { class: "axis", x: x(t), y: height - 6, "text-anchor": anchor }, fmtTime(new Date(t).toISOString()).slice(0, 16));
  }
  const sel = el("rect", { class: "sel", x: 0, y: pad.t, width: 0, height: height - pad.t - pad.b, visibility: "hidden" });
  svg.replaceChildren(...nodes);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  // Dragging over the chart selects a window; releasing applies it.
  const toTime = (px) => t0 + ((Math.min(Math.max(px, pad.l), width - pad.r) - pad.l) / (width - pad.l - pad.r)) * (t1 - t0);
  const local = (ev) => ev.clientX - svg.getBoundingClientRect().left;
  let start = null;
  svg.onmousedown = (ev) => { start = local(ev); sel.setAttribute("visibility", "visible"); sel.setAttribute("x", start); sel.setAttribute("width", 0); ev.preventDefault(); };
  svg.onmousemove = (ev) => {
    if (start === null) return;
    const cur = local(ev);
    sel.setAttribute("x", Math.min(start, cur));
    sel.setAttribute("width", Math.abs(cur - start));
  };
  svg.onmouseup = (ev) => {
    if (start === null) return;
    const a = toTime(Math.min(start, local(ev)));
    const b = toTime(Math.max(start, local(ev)));
    start = null;
    sel.setAttribute("visibility", "hidden");
    if (b - a < 1000) return;
    setWindow(new Date(Math.floor(a / 1000) * 1000), new Date(Math.ceil(b / 1000) * 1000));
    refresh();
  };
}

// ---- SQL ----------------------------------------------------------------------------------

async function loadReports() {
  state.reports = await api("/api/reports");
  const sel = $("#report-select");
  for (const kind of ["detection", "investigation"]) {
    const group = document.createElement("optgroup");
    group.label = kind === "detection" ? "Detections" : "Investigations";
    for (const r of state.reports.filter((r) => r.kind === kind)) {
      const o = document.createElement("option");
      o.value = r.id;
      o.textContent = `${r.title} (${r.severity})`;
      group.append(o);
    }
    sel.append(group);
  }
}

function currentReport() { return state.reports.find((r) => r.id === $("#report-select").value); }

function renderReportParams() {
  const r = currentReport();
  const box = $("#report-params");
  box.replaceChildren();
  $("#report-description").textContent = r ? r.description : "";
  if (!r) return;
  // The window shown elsewhere in the console, as the report's $since and $until.
  const w = windowParams();
  const end = presetEnd();
  const fields = [
    ["since", "since", w.since || toInput(new Date(end.getTime() - 30 * 86400e3)) + "Z"],
    ["until", "until", w.until || toInput(end) + "Z"],
  ];
  for (const p of r.params) fields.push([p.name, p.description, ""]);
  for (const [name, title, value] of fields) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.name = name;
    input.value = value;
    input.title = title;
    input.size = name === "since" || name === "until" ? 20 : 30;
    label.append(`$${name} `, input);
    box.append(label);
  }
}

function loadReport() {
  const r = currentReport();
  if (r) $("#sql-editor").value = r.sql;
}

function sqlParams() {
  const out = {};
  const r = currentReport();
  if (!r || $("#sql-editor").value !== r.sql) return out;
  for (const i of $$("#report-params input")) if (i.value) out[i.name] = i.value;
  return out;
}

async function runSql() {
  if (state.sqlRunning) return;
  const sql = $("#sql-editor").value;
  const id = `q${Date.now()}${Math.random().toString(16).slice(2, 8)}`;
  state.sqlRunning = id;
  $("#run-sql").disabled = true;
  $("#cancel-sql").disabled = false;
  $("#sql-status").textContent = "running…";
  showError("#sql-error", null);
  remember(sql);
  const started = performance.now();
  try {
    const r = await post("/api/sql", { sql, params: sqlParams(), id });
    state.sqlResult = r;
    $("#sql-status").textContent = `${r.rows.length.toLocaleString("en-US")} rows${r.truncated ? ` (cut at the console's cap of ${r.max_rows})` : ""} · server ${r.elapsed_ms.toFixed(0)} ms, page ${(performance.now() - started).toFixed(0)} ms`;
    renderSqlResult();
  } catch (e) {
    $("#sql-status").textContent = "";
    showError("#sql-error", e);
  } finally {
    state.sqlRunning = null;
    $("#run-sql").disabled = false;
    $("#cancel-sql").disabled = true;
  }
}

async function cancelSql() {
  if (state.sqlRunning) await post("/api/cancel", { id: state.sqlRunning });
}

function renderSqlResult() {
  const r = state.sqlResult;
  if (!r) return;
  const chart = $$("input[name=sql-view]").find((i) => i.checked).value === "chart";
  $("#sql-table-wrap").hidden = chart;
  $("#sql-chart").hidden = !chart;
  if (chart) { drawChart(r); return; }
  const head = document.createElement("tr");
  for (const c of r.columns) {
    const th = document.createElement("th");
    th.textContent = c.name;
    th.title = c.type;
    head.append(th);
  }
  $("#sql-result thead").replaceChildren(head);
  const body = document.createDocumentFragment();
  const numeric = r.columns.map((c) => /Int|Float|Decimal/.test(c.type));
  for (const row of r.rows) {
    const tr = document.createElement("tr");
    row.forEach((v, i) => {
      const td = document.createElement("td");
      td.textContent = cell(v);
      td.title = td.textContent;
      if (numeric[i]) td.className = "num";
      tr.append(td);
    });
    body.append(tr);
  }
  $("#sql-result tbody").replaceChildren(body);
}

// A bar chart of the first numeric column against the first other column (at most 50 bars).
function drawChart(r) {
  const svg = $("#sql-chart");
  const vi = r.columns.findIndex((c) => /Int|Float|Decimal/.test(c.type));
  const li = r.columns.findIndex((c, i) => i !== vi);
  const nodes = [];
  const add = (name, attrs, text) => {
    const e = document.createElementNS(svgNS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    nodes.push(e);
  };
  if (vi < 0) {
    add("text", { x: 10, y: 20 }, "no numeric column to chart");
    svg.replaceChildren(...nodes);
    return;
  }
  const rows = r.rows.slice(0, 50);
  const width = svg.clientWidth || 900;
  const rowH = 18;
  const height = Math.max(60, rows.length * rowH + 10);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const labelW = Math.min(360, width * 0.4);
  const max = Math.max(1, ...rows.map((row) => Number(row[vi]) || 0));
  rows.forEach((row, i) => {
    const v = Number(row[vi]) || 0;
    const label = li >= 0 ? cell(row[li]) : String(i + 1);
    add("text", { x: labelW - 6, y: 5 + i * rowH + 12, "text-anchor": "end" }, label.length > 52 ? label.slice(0, 51) + "…" : label);
    add("rect", { x: labelW, y: 5 + i * rowH + 2, width: Math.max(1, ((width - labelW - 80) * v) / max), height: rowH - 5 });
    add("text", { x: labelW + ((width - labelW - 80) * v) / max + 4, y: 5 + i * rowH + 12 }, v.toLocaleString("en-US"));
  });
  svg.replaceChildren(...nodes);
}

async function exportSql(format) {
  showError("#sql-error", null);
  try {
    const resp = await fetch("/api/export", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sql: $("#sql-editor").value, params: sqlParams(), format }),
    });
    if (!resp.ok) throw new Error((await resp.json()).error);
    const url = URL.createObjectURL(await resp.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = `trailsql-result.${format}`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    showError("#sql-error", e);
  }
}

function remember(sql) {
  const list = JSON.parse(localStorage.getItem("trailsql.history") || "[]").filter((s) => s !== sql);
  list.unshift(sql);
  localStorage.setItem("trailsql.history", JSON.stringify(list.slice(0, 50)));
  renderSqlHistory();
}

function renderSqlHistory() {
  const list = JSON.parse(localStorage.getItem("trailsql.history") || "[]");
  $("#sql-history").replaceChildren(...list.map((s) => {
    const li = document.createElement("li");
    li.textContent = s.replace(/\s+/g, " ");
    li.title = s;
    li.addEventListener("click", () => { $("#sql-editor").value = s; });
    return li;
  }));
}

// ---- Start --------------------------------------------------------------------------------

async function start() {
  for (const b of $$(".tab")) b.addEventListener("click", () => showTab(b.dataset.tab));
  for (const b of $$(".preset")) b.addEventListener("click", () => applyPreset(Number(b.dataset.hours)));
  $("#apply-window").addEventListener("click", () => { state.dashKey = null; refresh(); });
  $("#filters").addEventListener("submit", (e) => { e.preventDefault(); loadHistory(); });
  $("#clear-filters").addEventListener("click", () => { $("#filters").reset(); loadHistory(); });
  $("#load-more").addEventListener("click", async () => {
    try { await loadPage({ ...windowParams(), ...filterValues() }, state.historyGen); } catch (e) { showError("#history-error", e); }
  });
  $("#detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeDetail(); });
  $("#run-sql").addEventListener("click", runSql);
  $("#cancel-sql").addEventListener("click", cancelSql);
  $("#sql-editor").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); runSql(); } });
  for (const b of $$(".export")) b.addEventListener("click", () => exportSql(b.dataset.format));
  for (const i of $$("input[name=sql-view]")) i.addEventListener("change", renderSqlResult);
  $("#report-select").addEventListener("change", () => { renderReportParams(); loadReport(); });
  $("#load-report").addEventListener("click", loadReport);
  renderSqlHistory();
  try {
    state.info = await api("/api/info");
    $("#lake-info").textContent = `${state.info.lake} · ${Number(state.info.events).toLocaleString("en-US")} events` +
      (state.info.first ? ` · ${fmtTime(state.info.first).slice(0, 10)} to ${fmtTime(state.info.last).slice(0, 10)}` : "");
  } catch (e) {
    $("#lake-info").textContent = e.message;
  }
  loadReports().catch((e) => showError("#sql-error", e));
  const fromHash = loadHash();
  if (!fromHash) {
    const end = presetEnd();
    setWindow(new Date(end.getTime() - 30 * 86400e3), end);
  }
  showTab(state.tab);
}

start();
