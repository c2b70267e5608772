// servq dashboard: fills the server-rendered pages from /api/v1. No framework, no CDN: the
// charting library (Apache ECharts) is served from /static/vendor when it was installed.
// servq 仪表盘脚本：从 /api/v1 读取数据并渲染页面。
"use strict";

const S = window.SERVQ || { lang: "zh", m: {}, perms: [], csrf: "" };
const M = (k) => (S.m && S.m[k]) || k;
const EN = S.lang === "en";
const $ = (sel, root) => (root || document).querySelector(sel);
const can = (p) => (S.perms || []).includes(p);

// -- HTTP ------------------------------------------------------------------------------------
async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  opts.credentials = "same-origin";
  if (opts.json !== undefined) {
    opts.body = JSON.stringify(opts.json);
    opts.headers["Content-Type"] = "application/json";
    delete opts.json;
  }
  if (opts.method && opts.method !== "GET") opts.headers["X-CSRF-Token"] = S.csrf;
  const res = await fetch("/api/v1" + path, opts);
  if (res.status === 401 && document.body.dataset.page !== "login") {
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    throw new Error("401");
  }
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) throw new Error((body && (body.error || body.detail)) || res.statusText);
  return body;
}

function notice(text, kind) {
  const el = $("#notice");
  if (!el) return;
  el.textContent = text;
  el.className = "notice " + (kind || "error");
  el.hidden = !text;
}

// -- formatting ------------------------------------------------------------------------------
function fmtNumber(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Number(v).toLocaleString(EN ? "en-GB" : "zh-CN", { maximumFractionDigits: digits === undefined ? 1 : digits });
}

function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const sign = seconds < 0 ? "−" : "";
  let s = Math.abs(seconds);
  if (s < 60) return sign + Math.round(s) + (EN ? " " : "") + M("seconds");
  s = Math.round(s / 60) * 60;  // whole minutes, so 59.9 minutes shows as 1 h, not 60 m
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.round(s / 60);
  const sep = EN ? " " : "";
  const parts = [];
  if (d) parts.push(d + sep + M("days"));
  if (h) parts.push(h + sep + M("hours"));
  if (m && !d) parts.push(m + sep + M("minutes"));
  return sign + (parts.join(" ") || "0" + sep + M("minutes"));
}

function fmtValue(v, unit) {
  if (v === null || v === undefined) return "–";
  if (unit === "seconds") return fmtDuration(v);
  if (unit === "percent") return fmtNumber(v, 1) + "%";
  if (unit === "ratio" || unit === "score") return fmtNumber(v, 2);
  return fmtNumber(v, 0);
}

const nameOf = (m) => (EN ? m.name_en : m.name_zh) || m.id;

// -- tables ----------------------------------------------------------------------------------
function table(container, columns, rows, opts) {
  const o = opts || {};
  const el = typeof container === "string" ? $(container) : container;
  if (!el) return;
  el.innerHTML = "";
  if (!rows || rows.length === 0) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = M("no_data");
    el.appendChild(p);
    return;
  }
  const t = document.createElement("table");
  t.className = "data";
  const head = t.createTHead().insertRow();
  columns.forEach((c) => {
    const th = document.createElement("th");
    th.textContent = (o.labels && o.labels[c]) || c;
    head.appendChild(th);
  });
  if (o.actions) head.appendChild(Object.assign(document.createElement("th"), { textContent: M("actions") }));
  const body = t.createTBody();
  rows.forEach((r, i) => {
    const tr = body.insertRow();
    if (o.rowClass) tr.className = o.rowClass(r, i) || "";
    columns.forEach((c, j) => {
      const td = tr.insertCell();
      const v = Array.isArray(r) ? r[j] : r[c];
      const shown = o.format && o.format[c] ? o.format[c](v, r) : v;
      if (shown instanceof Node) td.appendChild(shown);
      else td.textContent = shown === null || shown === undefined ? "" : String(shown);
      if (typeof v === "number") td.className = "num";
    });
    if (o.actions) {
      const td = tr.insertCell();
      o.actions(r, i).forEach((b) => td.appendChild(b));
    }
    if (o.onClick) { tr.classList.add("clickable"); tr.addEventListener("click", (e) => { if (e.target.tagName !== "BUTTON") o.onClick(r); }); }
  });
  el.appendChild(t);
}

function button(text, onClick, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

function badge(text, cls) {
  const s = document.createElement("span");
  s.className = "badge " + (cls || "");
  s.textContent = text;
  return s;
}

function csvDownload(name, columns, rows) {
  const esc = (v) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  const text = "\ufeff" + [columns.map(esc).join(",")].concat(rows.map((r) => r.map(esc).join(","))).join("\n");
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

// -- charts ----------------------------------------------------------------------------------
const charts = [];
function chart(el, option) {
  if (!el) return null;
  if (!window.echarts) {
    el.classList.add("nochart");
    el.textContent = M("charts_missing");
    return null;
  }
  let c = window.echarts.getInstanceByDom(el);
  if (!c) { c = window.echarts.init(el, null, { renderer: "svg" }); charts.push(c); }
  c.setOption(Object.assign({ animation: false, textStyle: { fontFamily: "inherit" } }, option), true);
  return c;
}
window.addEventListener("resize", () => charts.forEach((c) => c.resize()));

function sparkline(el, values) {
  chart(el, {
    grid: { left: 2, right: 2, top: 4, bottom: 2 },
    xAxis: { type: "category", show: false, data: values.map((_, i) => i) },
    yAxis: { type: "value", show: false, scale: true },
    series: [{ type: "line", data: values, symbol: "none", lineStyle: { width: 2 }, areaStyle: { opacity: 0.08 } }],
  });
}

// -- pages -----------------------------------------------------------------------------------
function setAsOf(text) {
  const el = $("#asof");
  if (el && text) el.textContent = (EN ? "data as of " : "数据截至 ") + text.replace("T", " ");
}

async function overviewPage() {
  const grainSel = $("#grain");
  const params = new URLSearchParams(location.search);
  if (params.get("grain")) grainSel.value = params.get("grain");
  async function load() {
    notice("");
    $("#cards").textContent = M("loading");
    const o = await api("/overview?grain=" + grainSel.value);
    setAsOf(o.as_of);
    $("#period").textContent = o.current[0] + " – " + o.current[1];
    document.querySelectorAll("a.report").forEach((a) => {
      a.href = "/api/v1/reports?" + new URLSearchParams({ period: o.current[0] + ".." + o.current[1], format: a.dataset.format, lang: S.lang }).toString();
    });
    const cards = $("#cards");
    cards.innerHTML = "";
    o.cards.forEach((c) => {
      const a = document.createElement("a");
      a.className = "card " + (c.status || "");
      a.dataset.metric = c.id;
      a.dataset.testid = "kpi-card";
      const [s, e] = [o.periods[0][0], o.current[1]];
      a.href = "/explorer?metric=" + c.id + "&grain=" + o.grain + "&start=" + s + "&end=" + e;
      const change = c.change_pct === null ? "" : (c.change_pct > 0 ? "▲ " : c.change_pct < 0 ? "▼ " : "") + fmtNumber(Math.abs(c.change_pct), 1) + "% " + M("vs_previous");
      a.innerHTML = '<div class="name"></div><div class="value"></div><div class="change"></div><div class="target"></div><div class="spark"></div>';
      a.querySelector(".name").textContent = nameOf(c);
      a.querySelector(".value").textContent = fmtValue(c.value, c.unit);
      const ch = a.querySelector(".change");
      ch.textContent = change;
      if (c.better === true) ch.classList.add("good");
      if (c.better === false) ch.classList.add("bad");
      a.querySelector(".target").textContent = c.target === null ? M("previous") + " " + fmtValue(c.previous, c.unit)
        : M("target") + " " + fmtValue(c.target, c.unit) + (c.status ? " · " + M("status_" + c.status) : "");
      cards.appendChild(a);
      sparkline(a.querySelector(".spark"), c.trend);
    });
    tiles($("#sla-tiles"), o.sla, "/sla");
    $("#alert-count").textContent = o.alerts.open;
    alertTable($("#alerts"), o.alerts.latest, false, load);
  }
  grainSel.addEventListener("change", () => load().catch((e) => notice(e.message)));
  await load();
}

function tiles(el, counts, href) {
  el.innerHTML = "";
  ["open", "breached", "at_risk", "on_track", "paused"].forEach((k) => {
    if (counts[k] === undefined) return;
    const a = document.createElement(href ? "a" : "div");
    if (href) a.href = href;
    a.className = "tile " + k;
    a.innerHTML = '<div class="n"></div><div class="l"></div>';
    a.querySelector(".n").textContent = fmtNumber(counts[k], 0);
    a.querySelector(".l").textContent = M(k);
    el.appendChild(a);
  });
}

function alertTable(el, alerts, withActions, reload) {
  const rows = alerts.map((a) => [a.id, a.severity, a.rule, EN ? a.summary_en : a.summary_zh, (a.starts_at || "").replace("T", " ").slice(0, 16), a.state]);
  table(el, ["id", "severity", "rule", "summary", "started", "state"], rows, {
    labels: { id: "#", severity: M("severity"), rule: M("rule"), summary: M("summary"), started: M("started") + " (UTC)", state: M("state") },
    format: { state: (v) => badge(M(v), v), severity: (v) => badge(v, "sev-" + v) },
    actions: withActions && can("alerts_write") ? (r) => {
      const out = [];
      if (r[5] === "firing") out.push(button(M("ack"), () => act(r[0], "ack"), "small"));
      if (r[5] !== "resolved") out.push(button(M("resolve"), () => act(r[0], "resolve"), "small secondary"));
      out.push(button(M("open_problem"), async () => {
        try { const res = await api("/alerts/" + r[0] + "/problem", { method: "POST" }); location.href = "/improve/" + res.problem.id; }
        catch (e) { notice(e.message); }
      }, "small secondary"));
      return out;
    } : null,
    onClick: withActions ? (r) => showHistory(r[0]) : null,
    rowClass: (r) => "alert-" + r[0],
  });
  async function act(id, action) {
    try { await api("/alerts/" + id + "/" + action, { method: "POST", json: { note: "" } }); await reload(); }
    catch (e) { notice(e.message); }
  }
}

async function showHistory(id) {
  const body = await api("/alerts/" + id);
  $("#history-box").hidden = false;
  $("#history-id").textContent = "#" + id;
  table("#history", ["from_state", "to_state", "who", "at", "note"], body.history, {
    labels: { from_state: M("from_state"), to_state: M("to_state"), who: M("who"), at: M("when") + " (UTC)", note: M("note") },
    format: { at: (v) => (v || "").replace("T", " ").slice(0, 19), from_state: (v) => (v ? M(v) : ""), to_state: (v) => M(v) },
  });
}

async function alertsPage() {
  const sel = $("#state");
  async function load() {
    const body = await api("/alerts?limit=500&state=" + sel.value);
    alertTable($("#alerts"), body.alerts, true, load);
    const sil = await api("/silences");
    table("#silences", ["id", "matchers", "ends_at", "created_by", "reason"], sil.silences.map((s) => ({ ...s, matchers: Object.entries(s.matchers).map(([k, v]) => k + "=" + v).join("; ") })), {
      actions: can("alerts_write") ? (s) => [button(M("end"), async () => { await api("/silences/" + s.id, { method: "DELETE" }); load(); }, "small secondary")] : null,
    });
  }
  sel.addEventListener("change", () => load().catch((e) => notice(e.message)));
  const form = $("#silence-form");
  if (form) form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const matchers = {};
    String(f.get("matchers")).split(";").forEach((p) => { const [k, v] = p.split("="); if (k && v) matchers[k.trim()] = v.trim(); });
    try {
      await api("/silences", { method: "POST", json: { matchers, duration: f.get("duration"), reason: f.get("reason") } });
      form.reset(); notice(M("done"), "ok"); await load();
    } catch (e) { notice(e.message); }
  });
  await load();
}

function parseFilter(text) {
  const where = {};
  (text || "").split(";").forEach((part) => {
    const i = part.indexOf("=");
    if (i > 0) where[part.slice(0, i).trim()] = part.slice(i + 1).split(",").map((s) => s.trim()).filter(Boolean);
  });
  return where;
}

async function explorerPage() {
  const form = $("#explorer-form");
  const params = new URLSearchParams(location.search);
  // the built-in catalogue first, then industry presets and the workspace's own
  const cat = (await api("/metrics")).metrics.sort((a, b) => (a.origin.includes("presets") - b.origin.includes("presets")) || a.source.localeCompare(b.source) || a.id.localeCompare(b.id));
  const byId = Object.fromEntries(cat.map((m) => [m.id, m]));
  const metricSel = $("#metric");
  cat.forEach((m) => metricSel.appendChild(new Option(nameOf(m) + " · " + m.id, m.id)));
  ["metric", "by", "grain", "start", "end", "filter"].forEach((k) => { if (params.get(k) !== null) form.elements[k].value = params.get(k); });
  if (params.get("metric")) metricSel.value = params.get("metric");
  else { metricSel.value = "first_reply_time"; form.elements.grain.value = "week"; }
  function fillDims() {
    const m = byId[metricSel.value];
    const bySel = $("#by");
    const keep = params.get("by") || bySel.value;
    bySel.length = 1;
    (m ? m.dimensions : []).forEach((d) => bySel.appendChild(new Option(d, d)));
    bySel.value = keep && [...bySel.options].some((o) => o.value === keep) ? keep : "";
  }
  metricSel.addEventListener("change", fillDims);
  fillDims();
  let last = null;
  async function run() {
    notice("");
    const m = byId[metricSel.value];
    const q = { metrics: [m.id], by: form.elements.by.value ? [form.elements.by.value] : [], grain: form.elements.grain.value || null,
      start: form.elements.start.value || null, end: form.elements.end.value || null, where: parseFilter(form.elements.filter.value) };
    const usp = new URLSearchParams({ metric: m.id, by: form.elements.by.value, grain: form.elements.grain.value, start: form.elements.start.value, end: form.elements.end.value, filter: form.elements.filter.value });
    window.history.replaceState(null, "", "/explorer?" + usp.toString());
    $("#definition").textContent = (EN ? m.definition_en : m.definition_zh) || "";
    $("#table").textContent = M("loading");
    const res = await api("/metrics/compute", { method: "POST", json: q });
    last = { m, q, res };
    const cols = res.columns;
    const idx = (c) => cols.indexOf(c);
    const fmt = {};
    cols.forEach((c) => { if (c === m.id || c.startsWith(m.id + "_")) fmt[c] = (v) => fmtValue(v, m.unit); });
    if (idx("period") >= 0) fmt.period = (v) => (v || "").slice(0, 10);
    table("#table", cols, res.rows, { format: fmt, labels: { [m.id]: nameOf(m) } });
    drawExplorer(m, q, res);
    const exp = new URLSearchParams({ start: q.start || "", end: q.end || "", where: JSON.stringify(q.where) });
    const csv = $("#export-csv"), xlsx = $("#export-xlsx");
    if (csv) csv.href = "/api/v1/metrics/" + m.id + "/rows?format=csv&" + exp.toString();
    if (xlsx) xlsx.href = "/api/v1/metrics/" + m.id + "/rows?format=xlsx&" + exp.toString();
  }
  function drawExplorer(m, q, res) {
    const cols = res.columns, rows = res.rows, vi = cols.indexOf(m.id);
    const el = $("#chart");
    const scale = m.unit === "seconds" ? 1 / 3600 : 1;
    const unitLabel = m.unit === "seconds" ? (EN ? "hours" : "小时") : m.unit === "percent" ? "%" : "";
    if (q.grain) {
      const pi = cols.indexOf("period");
      const periods = [...new Set(rows.map((r) => (r[pi] || "").slice(0, 10)))].sort();
      const groups = q.by.length ? [...new Set(rows.map((r) => r[cols.indexOf(q.by[0])]))] : [null];
      const series = groups.map((g) => ({
        name: g === null ? nameOf(m) : String(g), type: "line", connectNulls: false,
        data: periods.map((p) => { const r = rows.find((x) => (x[pi] || "").slice(0, 10) === p && (g === null || x[cols.indexOf(q.by[0])] === g)); return r && r[vi] !== null ? +(r[vi] * scale).toFixed(2) : null; }),
      }));
      chart(el, { tooltip: { trigger: "axis" }, legend: { type: "scroll" }, grid: { left: 50, right: 20, top: 40, bottom: 30 },
        xAxis: { type: "category", data: periods }, yAxis: { type: "value", name: unitLabel, scale: true }, series });
    } else if (q.by.length) {
      const bi = cols.indexOf(q.by[0]);
      chart(el, { tooltip: {}, grid: { left: 50, right: 20, top: 20, bottom: 60 },
        xAxis: { type: "category", data: rows.map((r) => String(r[bi])), axisLabel: { rotate: 30 } },
        yAxis: { type: "value", name: unitLabel }, series: [{ type: "bar", name: nameOf(m), data: rows.map((r) => (r[vi] === null ? null : +(r[vi] * scale).toFixed(2))) }] });
    } else if (window.echarts) {
      el.classList.remove("nochart");
      const c = window.echarts.getInstanceByDom(el); if (c) c.clear();
      el.innerHTML = '<div class="big"></div>';
      el.querySelector(".big").textContent = fmtValue(rows[0] ? rows[0][vi] : null, m.unit);
    }
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); run().catch((e) => notice(e.message)); });
  $("#export-table").addEventListener("click", () => { if (last) csvDownload(last.m.id + ".csv", last.res.columns, last.res.rows); });
  const opener = $("#open-problem");
  if (opener) opener.addEventListener("click", async () => {
    if (!last) return;
    const title = prompt(M("problem_title"), nameOf(last.m));
    if (!title) return;
    const teams = last.q.where.team || [];
    const dept = teams.length === 1 ? teams[0] : (S.user.role === "department_owner" ? (S.user.departments || [])[0] : null);
    const evidence = { metric: { query: last.q, columns: last.res.columns, rows: last.res.rows.slice(0, 200) } };
    try {
      const res = await api("/improve/problems", { method: "POST", json: { title, source: "metric", source_ref: location.search, evidence, department: dept } });
      location.href = "/improve/" + res.problem.id;
    } catch (e) { notice(e.message); }
  });
  await run();
}

async function slaPage() {
  const hours = $("#risk-hours");
  async function load() {
    const b = await api("/sla/board?risk_hours=" + hours.value);
    setAsOf(b.as_of);
    tiles($("#sla-tiles"), b.counts, null);
    const labels = { breached: M("breached"), at_risk: M("at_risk"), on_track: M("on_track"), paused: M("paused") };
    table("#by-team", b.by_team.columns, b.by_team.rows, { labels });
    table("#sla-cases", b.cases.columns, b.cases.rows, {
      labels: { seconds_left: M("time_left"), state: M("state") },
      format: { seconds_left: (v) => fmtDuration(v), state: (v) => badge(M(v), v), created_at: (v) => (v || "").replace("T", " "), due_at: (v) => (v || "").replace("T", " ") },
      rowClass: (r) => r[b.cases.columns.indexOf("state")],
    });
  }
  hours.addEventListener("change", () => load().catch((e) => notice(e.message)));
  await load();
}

async function vocPage() {
  async function load() {
    const usp = new URLSearchParams();
    if ($("#start").value) usp.set("start", $("#start").value);
    if ($("#end").value) usp.set("end", $("#end").value);
    const v = await api("/text/insights?" + usp.toString());
    setAsOf(v.as_of);
    $("#start").value = v.start; $("#end").value = v.end;
    const cols = v.trend.columns, rows = v.trend.rows;
    const col = (c) => rows.map((r) => (r[cols.indexOf(c)] === null ? null : +r[cols.indexOf(c)].toFixed(3)));
    chart($("#chart"), { tooltip: { trigger: "axis" }, legend: {}, grid: { left: 50, right: 50, top: 40, bottom: 30 },
      xAxis: { type: "category", data: rows.map((r) => (r[0] || "").slice(0, 10)) },
      yAxis: [{ type: "value", name: "%", min: 0 }, { type: "value", name: M("sentiment_score"), min: 0, max: 1 }],
      series: [{ name: M("negative_share"), type: "bar", data: col("negative_share") },
        { name: M("csat"), type: "line", data: col("csat") },
        { name: M("sentiment_score"), type: "line", yAxisIndex: 1, data: col("sentiment_score") }] });
    table("#trend", cols, rows, { labels: { period: M("period"), feedback_count: M("count"), sentiment_score: M("sentiment_score"), negative_share: M("negative_share"), csat: M("csat") },
      format: { period: (x) => (x || "").slice(0, 10), feedback_count: (x) => fmtNumber(x, 0), sentiment_score: (x) => fmtNumber(x, 3), negative_share: (x) => fmtNumber(x, 1), csat: (x) => fmtNumber(x, 1) } });
    const box = $("#issues");
    box.innerHTML = "";
    if (!v.issues.length) box.textContent = M("no_data");
    v.issues.forEach((i) => {
      const d = document.createElement("details");
      d.className = "issue";
      const s = document.createElement("summary");
      s.textContent = (EN ? i.label_en : i.label_zh) + " · " + i.count + " (" + fmtNumber(100 * i.share, 1) + "%)";
      d.appendChild(s);
      const ul = document.createElement("ul");
      (i.examples || []).forEach((x) => { const li = document.createElement("li"); li.textContent = x; ul.appendChild(li); });
      d.appendChild(ul);
      if (can("ingest")) d.appendChild(button(M("open_problem"), async () => {
        const evidence = { texts: (i.examples || []).slice(0, 5), metric: { issue: i.topic, count: i.count, share: i.share, period: [v.start, v.end] } };
        try {
          const res = await api("/improve/problems", { method: "POST", json: { title: (EN ? i.label_en : i.label_zh) || i.topic, source: "text", source_ref: i.topic, evidence } });
          location.href = "/improve/" + res.problem.id;
        } catch (e) { notice(e.message); }
      }, "small secondary"));
      box.appendChild(d);
    });
    table("#risks", v.risks.columns, v.risks.rows, { format: { submitted_at: (x) => (x || "").replace("T", " ") } });
  }
  $("#run").addEventListener("click", () => load().catch((e) => notice(e.message)));
  await load();
}

async function dataPage() {
  async function load() {
    const b = await api("/ingest/batches");
    table("#batches", b.columns, b.rows, { format: { started_at: (x) => (x || "").replace("T", " "), finished_at: (x) => (x || "").replace("T", " ") } });
    const q = await api("/quarantine");
    $("#q-count").textContent = q.total;
    const box = $("#q-reasons");
    box.innerHTML = "";
    Object.entries(q.by_reason).forEach(([k, n]) => { const d = document.createElement("div"); d.className = "tile"; d.innerHTML = '<div class="n"></div><div class="l"></div>'; d.querySelector(".n").textContent = n; d.querySelector(".l").textContent = k; box.appendChild(d); });
    table("#quarantine", q.columns, q.rows);
  }
  if (can("ingest")) {
    const names = (await api("/profiles")).profiles;
    document.querySelectorAll("select.profiles").forEach((sel) => names.forEach((n) => sel.appendChild(new Option(n, n))));
    const up = $("#upload-form");
    up.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const res = await api("/ingest", { method: "POST", body: new FormData(up) });
        const r = res.result;
        const out = $("#upload-result");
        out.hidden = false;
        out.textContent = r.source + ": " + r.loaded + " " + M("loaded") + ", " + r.quarantined + " " + M("quarantined") + " (" + r.batch_id + ")";
        await load();
      } catch (e) { notice(e.message); }
    });
    const rp = $("#replay-form");
    rp.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = new FormData(rp);
      try { await api("/quarantine/" + encodeURIComponent(f.get("batch")) + "/replay", { method: "POST", json: { profile: f.get("profile") } }); notice(M("done"), "ok"); await load(); }
      catch (e) { notice(e.message); }
    });
  }
  await load();
}

function loginPage() {
  const form = $("#login-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const err = $("#login-error");
    err.textContent = "";
    try {
      await api("/auth/login", { method: "POST", json: { username: f.get("username"), password: f.get("password") } });
      const next = String(f.get("next") || "/");
      location.href = next.startsWith("/") && !next.startsWith("//") ? next : "/";
    } catch (e) { err.textContent = e.message; }
  });
}


// -- improvement loop ------------------------------------------------------------------------
const STAGES = ["monitor", "analyse", "improve", "verify", "closed"];
const PLAN_STATUSES = ["draft", "approved", "in_progress", "done", "verified", "not_effective"];
const PLAN_NEXT = { draft: ["approved"], approved: ["in_progress"], in_progress: ["done"], done: ["verified", "not_effective"], not_effective: ["in_progress"], verified: [] };
const canEdit = (dept) => can("ingest") || (S.user && S.user.role === "department_owner" && (S.user.departments || []).includes(dept));
const day = (v) => (v ? String(v).replace("T", " ").slice(0, 16) : "");

function stageSteps(el, stage) {
  el.innerHTML = "";
  const at = STAGES.indexOf(stage);
  STAGES.slice(0, 4).forEach((st, i) => {
    const li = document.createElement("li");
    li.textContent = M("stage_" + st);
    li.className = i < at || stage === "closed" ? "done" : i === at ? "current" : "";
    el.appendChild(li);
  });
}

function fmtVerdictValue(v, unit) {
  return unit ? fmtValue(v, unit) : fmtNumber(v, 2);
}

function verdictTable(el, criteria) {
  table(el, ["criterion", "status", "before", "after", "effect", "ci", "test", "p"], criteria.map((v) => ({
    criterion: EN ? v.criterion : v.criterion_zh || v.criterion, status: v.status,
    before: fmtVerdictValue(v.before, v.unit), after: fmtVerdictValue(v.after, v.unit),
    effect: v.effect === null || v.effect === undefined ? "" : (v.effect_kind === "relative" ? fmtNumber(100 * v.effect, 1) + "%" : fmtNumber(v.effect, 2)),
    ci: v.ci_low === null || v.ci_low === undefined ? "" : (v.effect_kind === "relative" ? fmtNumber(100 * v.ci_low, 1) + "% … " + fmtNumber(100 * v.ci_high, 1) + "%" : fmtNumber(v.ci_low, 2) + " … " + fmtNumber(v.ci_high, 2)),
    test: v.test || "", p: v.p_value === null || v.p_value === undefined ? "" : v.p_value < 0.0001 ? "< 0.0001" : fmtNumber(v.p_value, 4),
    mix: v.mix_warning,
  })), {
    labels: { criterion: M("title"), status: M("state"), before: M("before"), after: M("after"), effect: M("effect"), ci: M("ci"), test: M("test"), p: M("p_value") },
    format: { status: (x, r) => { const b = badge(M(x), x === "met" ? "resolved" : x === "pending" ? "paused" : "firing"); if (r.mix) b.title = r.mix; return b; } },
  });
  criteria.filter((v) => v.mix_warning).forEach((v) => { const p = document.createElement("p"); p.className = "error"; p.textContent = M("mix_warning") + ": " + v.mix_warning; el.appendChild(p); });
}

async function improvePage() {
  const sel = $("#p-state");
  async function load() {
    const ps = (await api("/improve/problems" + (sel.value ? "?state=" + sel.value : ""))).problems;
    table("#problems", ["id", "title", "stage", "state", "department", "severity", "claim_due_at"], ps, {
      labels: { id: "#", title: M("title"), stage: M("stage"), state: M("state"), department: M("department"), severity: M("severity"), claim_due_at: M("due") },
      format: {
        id: (v) => Object.assign(document.createElement("a"), { href: "/improve/" + v, textContent: v }),
        stage: (v) => badge(M("stage_" + v), "stage-" + v), claim_due_at: (v) => day(v),
      },
      actions: (p) => (p.state === "open" || p.state === "escalated") && (can("ingest") || (S.user && S.user.role === "department_owner"))
        ? [button(M("claim"), async () => {
          const dept = can("ingest") ? (p.department || prompt(M("department"))) : (S.user.departments || [])[0];
          if (!dept) return;
          try { await api("/improve/problems/" + p.id + "/claim", { method: "POST", json: { department: dept } }); await load(); } catch (e) { notice(e.message); }
        }, "small")] : [],
    });
    const plans = (await api("/improve/plans")).plans;
    const board = $("#board");
    board.innerHTML = "";
    PLAN_STATUSES.forEach((st) => {
      const col = document.createElement("div");
      col.className = "column";
      col.dataset.status = st;
      const h = document.createElement("h3");
      const mine = plans.filter((x) => x.status === st);
      h.textContent = M(st) + " · " + mine.length;
      col.appendChild(h);
      mine.forEach((x) => {
        const a = document.createElement("a");
        a.className = "plan " + x.tier;
        a.href = "/improve/" + x.problem_id;
        a.innerHTML = '<div class="pid"></div><div class="ptitle"></div><div class="pmeta muted"></div>';
        a.querySelector(".pid").textContent = x.id + " · " + x.problem_id;
        a.querySelector(".ptitle").textContent = x.title;
        a.querySelector(".pmeta").textContent = (x.department || "") + " · " + (x.owner || "") + (x.due_at ? " · " + M("due") + " " + day(x.due_at) : "");
        col.appendChild(a);
      });
      board.appendChild(col);
    });
    const ss = (await api("/improve/suggestions")).suggestions;
    table("#suggestions", ["id", "title", "text", "votes", "status"], ss, {
      labels: { title: M("title"), votes: M("votes"), status: M("state") },
      actions: (x) => [button(M("vote"), async () => { await api("/improve/suggestions/" + x.id + "/vote", { method: "POST" }); await load(); }, "small secondary"),
        ...(can("ingest") && x.status !== "became_problem" ? [button(M("to_problem"), async () => {
          try { const res = await api("/improve/suggestions/" + x.id + "/problem", { method: "POST" }); location.href = "/improve/" + res.problem.id; } catch (e) { notice(e.message); }
        }, "small secondary")] : [])],
    });
  }
  sel.addEventListener("change", () => load().catch((e) => notice(e.message)));
  const pform = $("#problem-form");
  if (pform) pform.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(pform);
    try {
      const res = await api("/improve/problems", { method: "POST", json: { title: f.get("title"), department: f.get("department") || null, severity: f.get("severity"), description: f.get("description") || "" } });
      location.href = "/improve/" + res.problem.id;
    } catch (e) { notice(e.message); }
  });
  const form = $("#suggest-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    try { await api("/improve/suggestions", { method: "POST", json: { title: f.get("title"), text: f.get("text") } }); form.reset(); await load(); }
    catch (e) { notice(e.message); }
  });
  await load();
}

function retroTree(el, retro) {
  el.innerHTML = "";
  if (!retro || !retro.nodes || !retro.nodes.length) { el.textContent = M("no_data"); return; }
  const p = document.createElement("p");
  p.className = "muted";
  p.textContent = M("participants") + ": " + retro.participants.map((x) => x.name + " (" + x.department + ")").join(", ");
  el.appendChild(p);
  function branch(parent) {
    const kids = retro.nodes.filter((n) => (n.parent || null) === parent);
    if (!kids.length) return null;
    const ul = document.createElement("ul");
    ul.className = "why";
    kids.forEach((n) => {
      const li = document.createElement("li");
      li.textContent = (EN ? "Why? " : "为什么？") + n.why + " → " + n.because;
      if (n.root_cause) li.appendChild(badge(M("root_cause") + (n.layer ? " · " + M("layer_" + n.layer) : ""), "firing"));
      const sub = branch(n.id);
      if (sub) li.appendChild(sub);
      ul.appendChild(li);
    });
    return ul;
  }
  const tree = branch(null);
  if (tree) el.appendChild(tree);
  if (retro.conclusions && retro.conclusions.length) {
    const h = document.createElement("h3"); h.textContent = M("conclusions"); el.appendChild(h);
    const ol = document.createElement("ol");
    retro.conclusions.forEach((c) => { const li = document.createElement("li"); li.textContent = c; ol.appendChild(li); });
    el.appendChild(ol);
  }
}

function showEvidence(el, e) {
  el.innerHTML = "";
  const line = (label, text) => { const d = document.createElement("p"); const b = document.createElement("b"); b.textContent = label + ": "; d.appendChild(b); d.appendChild(document.createTextNode(text)); el.appendChild(d); };
  if (e.alert) line(EN ? "Alert" : "告警", "#" + e.alert.id + " " + (e.alert.rule || "") + " · " + (e.alert.summary_en || ""));
  const numbers = e.metric && e.metric.numbers;
  if (numbers) {
    const metrics = [...new Set(Object.values(numbers).flatMap((v) => Object.keys(v)))];
    const box = document.createElement("div");
    el.appendChild(box);
    table(box, ["period", ...metrics], Object.entries(numbers).map(([per, v]) => [per, ...metrics.map((m) => v[m])]), { labels: { period: M("period") },
      format: Object.fromEntries(metrics.map((m) => [m, (x) => (m.endsWith("_time") ? fmtDuration(x) : fmtNumber(x, 1))])) });
  }
  if (e.metric && e.metric.columns && e.metric.rows) {
    if (e.metric.query) line(EN ? "Query" : "查询", JSON.stringify(e.metric.query));
    const box = document.createElement("div");
    el.appendChild(box);
    table(box, e.metric.columns, e.metric.rows, { format: { period: (x) => (x || "").slice(0, 10) } });
  } else if (e.metric && !numbers) line(EN ? "Metric" : "指标", JSON.stringify(e.metric));
  if (e.cases && e.cases.length) line(EN ? "Cases" : "案件", e.cases.join(", "));
  (e.texts || []).forEach((x) => line(EN ? "Text" : "文本", x));
  const rest = Object.fromEntries(Object.entries(e).filter(([k]) => !["alert", "metric", "cases", "texts"].includes(k)));
  if (Object.keys(rest).length) { const pre = document.createElement("pre"); pre.className = "result"; pre.textContent = JSON.stringify(rest, null, 2); el.appendChild(pre); }
  if (!el.childNodes.length) el.textContent = M("no_data");
}

const brief = (v) => { if (v === null || v === undefined) return ""; const t = typeof v === "object" ? JSON.stringify(v) : String(v); return t.length > 120 ? t.slice(0, 117) + "…" : t; };

async function problemPage() {
  const id = $("#problem-head").dataset.problem;
  async function load() {
    const p = (await api("/improve/problems/" + encodeURIComponent(id))).problem;
    const head = $("#problem-head");
    head.innerHTML = '<h2 class="ptitle"></h2><p class="muted pmeta"></p><p class="pdesc"></p>';
    head.querySelector(".ptitle").textContent = p.id + " · " + p.title;
    head.querySelector(".pmeta").textContent = [p.department, p.owner, M("severity") + " " + p.severity, p.state].filter(Boolean).join(" · ");
    head.querySelector(".pdesc").textContent = p.description || "";
    stageSteps($("#stages"), p.stage);
    showEvidence($("#evidence"), p.evidence || {});
    retroTree($("#retro"), p.retro);
    const box = $("#plans");
    box.innerHTML = "";
    (p.plans || []).forEach((plan) => {
      const d = document.createElement("div");
      d.className = "planbox";
      d.dataset.plan = plan.id;
      const h = document.createElement("h3");
      h.textContent = plan.id + " · " + plan.title + " ";
      h.appendChild(badge(M(plan.status), plan.status === "verified" ? "resolved" : plan.status === "not_effective" ? "firing" : "paused"));
      d.appendChild(h);
      const meta = document.createElement("p");
      meta.className = "muted";
      meta.textContent = [M("tier") + " " + plan.tier, plan.department, plan.owner, plan.due_at ? M("due") + " " + day(plan.due_at) : ""].filter(Boolean).join(" · ");
      d.appendChild(meta);
      if (canEdit(plan.department)) {
        const bar = document.createElement("div");
        bar.className = "toolbar";
        (PLAN_NEXT[plan.status] || []).filter((n) => n !== "verified" && n !== "not_effective").forEach((n) => bar.appendChild(button("→ " + M(n), async () => {
          try { await api("/improve/plans/" + plan.id + "/status", { method: "POST", json: { status: n } }); await load(); } catch (e) { notice(e.message); }
        }, "small")));
        if (plan.status === "done" || plan.status === "not_effective" || plan.status === "verified") bar.appendChild(button(M("verify"), async () => {
          try { const r = await api("/improve/plans/" + plan.id + "/verify", { method: "POST" }); if (!r.recorded) notice(M("pending"), "ok"); await load(); } catch (e) { notice(e.message); }
        }, "small"));
        d.appendChild(bar);
      }
      if (canEdit(plan.department) && plan.status === "verified") {
        d.appendChild(button(M("publish_sop"), async () => {
          const title = prompt(M("sop_title"), plan.title);
          if (!title) return;
          const body = prompt(M("sop_body"), "");
          if (!body) return;
          try { await api("/improve/plans/" + plan.id + "/sop", { method: "POST", json: { title, body, effective_date: new Date().toISOString().slice(0, 10) } }); notice(M("saved"), "ok"); }
          catch (e) { notice(e.message); }
        }, "small secondary"));
      }
      const crit = (plan.verdict && plan.verdict.criteria) || [];
      if (crit.length) { const vt = document.createElement("div"); d.appendChild(vt); verdictTable(vt, crit); }
      else if (plan.acceptance && plan.acceptance.length) {
        const ul = document.createElement("ul");
        plan.acceptance.forEach((c) => { const li = document.createElement("li"); li.textContent = c.text || JSON.stringify(c); ul.appendChild(li); });
        d.appendChild(ul);
      }
      box.appendChild(d);
    });
    if (!(p.plans || []).length) box.textContent = M("no_data");
    const editable = canEdit(p.department);
    $("#retro-edit").hidden = !editable;
    $("#plan-edit").hidden = !editable;
    $("#revisit-form").hidden = !editable;
    if (editable) {
      const rf = $("#retro-form");
      if (!rf.dataset.filled) {
        const r = p.retro || { participants: [], nodes: [], conclusions: [] };
        rf.elements.participants.value = (r.participants || []).map((x) => x.name + ", " + x.department).join("\n");
        rf.elements.nodes.value = (r.nodes || []).map((n) => [n.id, n.parent || "", n.why, n.because, n.layer || "", n.root_cause ? "yes" : ""].join(" | ")).join("\n");
        rf.elements.conclusions.value = (r.conclusions || []).join("\n");
        rf.elements.participants.placeholder = "张三, 电话客服组";
        rf.dataset.filled = "1";
      }
    }
    const sat = p.revisit_satisfaction || {};
    table("#revisits", ["id", "case_id", "due_at", "outcome", "attempts"], p.revisits || [], {
      labels: { case_id: M("case"), due_at: M("due") },
      format: { due_at: day, outcome: (v) => (v ? M(v) : "") },
      actions: canEdit(p.department) ? (r) => (r.outcome === "satisfied" || r.outcome === "not_satisfied") ? [] : ["satisfied", "not_satisfied", "unreachable"].map((o) => button(M(o), async () => {
        try { await api("/improve/revisits/" + r.id, { method: "POST", json: { outcome: o } }); await load(); } catch (e) { notice(e.message); }
      }, "small secondary")) : null,
    });
    if (sat.satisfaction !== undefined && sat.satisfaction !== null) {
      const s = document.createElement("p");
      s.textContent = (EN ? "Revisit satisfaction " : "回访满意度 ") + fmtNumber(100 * sat.satisfaction, 1) + "%";
      $("#revisits").appendChild(s);
    }
    table("#history", ["at", "who", "entity_id", "action", "field", "old", "new", "note"], p.history || [], {
      labels: { at: M("when") + " (UTC)", who: M("who") }, format: { at: day, old: brief, new: brief, note: brief },
    });
  }
  const lines = (text) => String(text || "").split("\n").map((x) => x.trim()).filter(Boolean);
  $("#retro-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const participants = lines(f.get("participants")).map((l) => { const [name, ...rest] = l.split(/[,，]/); return { name: name.trim(), department: rest.join(",").trim() }; });
    const nodes = lines(f.get("nodes")).map((l) => {
      const [nid, parent, why, because, layer, root] = l.split("|").map((x) => (x || "").trim());
      return { id: nid, parent: parent || null, why, because, layer: layer || null, root_cause: /^(yes|y|是|true)$/i.test(root || "") };
    });
    try {
      const res = await api("/improve/problems/" + encodeURIComponent(id) + "/retro", { method: "PUT", json: { participants, nodes, conclusions: lines(f.get("conclusions")) } });
      notice(res.findings.length ? M("findings") + ": " + res.findings.join("; ") : M("saved"), res.findings.length ? "error" : "ok");
      await load();
    } catch (e) { notice(e.message); }
  });
  $("#plan-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const due = f.get("due_at");
    try {
      await api("/improve/problems/" + encodeURIComponent(id) + "/plans", { method: "POST", json: {
        title: f.get("title"), tier: f.get("tier"), owner: f.get("owner"), due_at: due ? new Date(String(due)).toISOString() : null, acceptance: lines(f.get("criteria")) } });
      ev.target.reset(); notice(M("saved"), "ok"); await load();
    } catch (e) { notice(e.message); }
  });
  $("#revisit-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try {
      await api("/improve/problems/" + encodeURIComponent(id) + "/revisits", { method: "POST", json: { case_id: f.get("case_id"), due_at: new Date(String(f.get("due_at"))).toISOString() } });
      ev.target.reset(); await load();
    } catch (e) { notice(e.message); }
  });
  await load();
}

async function resultsPage() {
  async function load() {
    const r = await api("/public/results");
    const wins = $("#wins");
    wins.innerHTML = "";
    if (!r.wins.length) wins.textContent = M("no_data");
    r.wins.forEach((w) => {
      const d = document.createElement("div");
      d.className = "win";
      const h = document.createElement("h3");
      h.textContent = w.problem;
      d.appendChild(h);
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = [w.plan, w.department, w.verified_at].filter(Boolean).join(" · ");
      d.appendChild(p);
      const t = document.createElement("div");
      d.appendChild(t);
      verdictTable(t, w.criteria.map((c) => ({ ...c, criterion: c.criterion_en, criterion_zh: c.criterion_zh, status: "met" })));
      wins.appendChild(d);
    });
    $("#month").textContent = r.month;
    const best = $("#best");
    best.innerHTML = "";
    if (r.best_of_month) { const b = document.createElement("p"); b.textContent = M("best_of_month") + ": " + r.best_of_month.title + " (" + r.best_of_month.votes + " " + M("votes") + ")"; best.appendChild(b); }
    table("#public-suggestions", ["title", "text", "votes"], r.suggestions, {
      labels: { title: M("title"), votes: M("votes") },
      actions: (x) => [button(M("vote"), async () => { await api("/public/suggestions/" + x.id + "/vote", { method: "POST" }); await load(); }, "small secondary")],
    });
  }
  const form = $("#public-suggest");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    try { await api("/public/suggestions", { method: "POST", json: { title: f.get("title"), text: f.get("text") } }); form.reset(); notice(M("thanks"), "ok"); await load(); }
    catch (e) { notice(e.message); }
  });
  await load();
}

const PAGES = { overview: overviewPage, explorer: explorerPage, sla: slaPage, alerts: alertsPage, voc: vocPage, data: dataPage, improve: improvePage, problem: problemPage, results: resultsPage };

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "login") { loginPage(); return; }
  const run = PAGES[page];
  if (run) run().then(() => document.body.classList.add("ready")).catch((e) => { if (e.message !== "401") notice(e.message); document.body.classList.add("ready"); });
});
