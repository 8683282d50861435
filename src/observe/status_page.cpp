// The page served at "/": one HTML document with inline CSS and JS and no external resource.
// It polls /api/run every second (passing on a ?token= of its own URL as a Bearer header), draws
// the DAG by topological level as SVG, a stage table and one SVG chart per metric series, and
// stops polling once the run has finished. Every text from the run goes in through textContent,
// never as markup.
#include "trainflow/observe/status_server.hpp"

namespace trainflow::observe {
namespace {

constexpr std::string_view kPage = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>trainflow live status</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em 2em; color: #222; background: #fafafa; }
h1 { font-size: 1.3em; margin: 0 0 .3em; }
h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
#summary { margin-bottom: .5em; }
#state { font-weight: bold; }
#error { color: #b00; white-space: pre-wrap; }
.counters span { margin-right: 1.2em; color: #555; }
table { border-collapse: collapse; background: #fff; }
th, td { padding: 2px 8px; border-bottom: 1px solid #e4e4e4; text-align: left; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.err { color: #b00; white-space: normal; max-width: 40em; }
.bar { display: inline-block; width: 80px; height: 8px; background: #e4e4e4; vertical-align: middle; }
.bar > i { display: block; height: 100%; background: #4a90d9; }
.badge { padding: 0 6px; border-radius: 3px; color: #fff; }
svg text { font: 11px system-ui, sans-serif; }
#dag { background: #fff; border: 1px solid #e4e4e4; overflow: auto; max-width: 100%; }
#curves { display: flex; flex-wrap: wrap; gap: 12px; }
.chart { background: #fff; border: 1px solid #e4e4e4; padding: 4px; }
.chart div { font-size: 12px; color: #444; }
</style>
</head>
<body>
<h1>trainflow <span id="graph"></span> <small id="runid"></small></h1>
<div id="summary"><span id="state">connecting&hellip;</span> <span id="elapsed"></span></div>
<div class="counters" id="counters"></div>
<div id="error"></div>
<h2>DAG</h2>
<div id="dag"></div>
<h2>Stages</h2>
<table id="stages"><thead><tr><th>stage</th><th>kind</th><th>status</th><th>attempts</th>
<th>threads</th><th>worker</th><th>start s</th><th>wall s</th><th>cpu s</th><th>queue s</th>
<th>progress</th><th>error</th></tr></thead><tbody></tbody></table>
<h2>Training curves</h2>
<div id="curves"><i>no metrics yet</i></div>
<script>
"use strict";
const COLORS = { pending: "#bbb", running: "#4a90d9", succeeded: "#2e9d3a", cached: "#8cc98f",
                 failed: "#d33", skipped: "#999", cancelled: "#e69500" };
const SVG = "http://www.w3.org/2000/svg";
const token = new URLSearchParams(location.search).get("token");
const headers = token ? { "Authorization": "Bearer " + token } : {};
const $ = (id) => document.getElementById(id);

function el(tag, attrs, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4))
                                   : document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function fmt(x, digits) { return x === null || x === undefined ? "" : Number(x).toFixed(digits); }
function short(s, n) { return s.length > n ? s.slice(0, n - 1) + "\u2026" : s; }

function drawDag(doc) {
  const stages = doc.stages, n = stages.length;
  const preds = stages.map(() => []);
  for (const [a, b] of doc.edges) if (a < n && b < n) preds[b].push(a);
  const level = new Array(n).fill(-1);
  const depth = (i, seen) => {
    if (level[i] >= 0) return level[i];
    if (seen.has(i)) return 0;
    seen.add(i);
    let l = 0;
    for (const p of preds[i]) l = Math.max(l, depth(p, seen) + 1);
    return (level[i] = l);
  };
  for (let i = 0; i < n; ++i) depth(i, new Set());
  const rows = [];
  const pos = [];
  for (let i = 0; i < n; ++i) {
    const l = level[i];
    rows[l] = (rows[l] || 0) + 1;
    pos[i] = [l, rows[l] - 1];
  }
  const W = 170, H = 34, BW = 150, BH = 24;
  const width = Math.max(1, rows.length) * W + 10;
  const height = Math.max(1, ...rows.map((r) => r || 0)) * H + 10;
  const svg = el("svg:svg", { width, height, viewBox: `0 0 ${width} ${height}` });
  const xy = (i) => [5 + pos[i][0] * W, 5 + pos[i][1] * H];
  for (const [a, b] of doc.edges) {
    if (a >= n || b >= n) continue;
    const [x1, y1] = xy(a), [x2, y2] = xy(b);
    svg.appendChild(el("svg:path", { d: `M${x1 + BW},${y1 + BH / 2} C${x1 + BW + 12},${y1 + BH / 2}`
      + ` ${x2 - 12},${y2 + BH / 2} ${x2},${y2 + BH / 2}`, fill: "none", stroke: "#999" }));
  }
  stages.forEach((s, i) => {
    const [x, y] = xy(i);
    const g = el("svg:g", { "data-stage": s.name, "data-status": s.status });
    g.appendChild(el("svg:title", {}, `${s.name} (${s.kind}): ${s.status}`));
    g.appendChild(el("svg:rect", { x, y, width: BW, height: BH, rx: 4,
                                  fill: COLORS[s.status] || "#bbb", stroke: "#555" }));
    if (s.status === "running" && s.progress > 0) {
      g.appendChild(el("svg:rect", { x, y: y + BH - 3, width: BW * s.progress, height: 3,
                                    fill: "#124" }));
    }
    g.appendChild(el("svg:text", { x: x + 6, y: y + 16, fill: "#fff" }, short(s.name, 22)));
    svg.appendChild(g);
  });
  $("dag").replaceChildren(svg);
}

function drawTable(doc) {
  const body = $("stages").tBodies[0];
  const rows = doc.stages.map((s) => {
    const tr = el("tr", { "data-stage": s.name, "data-status": s.status });
    tr.appendChild(el("td", {}, s.name));
    tr.appendChild(el("td", {}, s.kind));
    const st = el("td");
    st.appendChild(el("span", { class: "badge", style: `background:${COLORS[s.status] || "#bbb"}` },
                      s.status));
    tr.appendChild(st);
    tr.appendChild(el("td", { class: "num" }, s.attempts));
    tr.appendChild(el("td", { class: "num" }, s.status === "running" ? s.threads : ""));
    tr.appendChild(el("td", { class: "num" }, s.worker));
    tr.appendChild(el("td", { class: "num" }, fmt(s.start_seconds, 2)));
    tr.appendChild(el("td", { class: "num" }, fmt(s.wall_seconds, 3)));
    tr.appendChild(el("td", { class: "num" }, fmt(s.cpu_seconds, 3)));
    tr.appendChild(el("td", { class: "num" }, fmt(s.queue_wait_seconds, 3)));
    const done = ["succeeded", "cached"].includes(s.status) ? 1 : s.progress;
    const pr = el("td");
    const bar = el("span", { class: "bar" });
    bar.appendChild(el("i", { style: `width:${Math.round(done * 100)}%` }));
    pr.appendChild(bar);
    tr.appendChild(pr);
    tr.appendChild(el("td", { class: "err" }, s.error || ""));
    return tr;
  });
  body.replaceChildren(...rows);
}

function drawCurves(doc) {
  const charts = [];
  for (const s of doc.stages) {
    for (const name in s.metrics) {
      const m = s.metrics[name];
      const pts = m.points.slice();
      const last = pts[pts.length - 1];
      if (m.latest && (!last || last[0] !== m.latest[0] || last[1] !== m.latest[1])) {
        pts.push(m.latest);
      }
      const finite = pts.filter((p) => p[1] !== null && isFinite(p[1]));
      if (finite.length === 0) continue;
      const W = 300, H = 120, P = 6;
      const xs = finite.map((p) => p[0]), ys = finite.map((p) => p[1]);
      const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
      const sx = (x) => P + (x1 > x0 ? (x - x0) / (x1 - x0) : 0.5) * (W - 2 * P);
      const sy = (y) => H - P - (y1 > y0 ? (y - y0) / (y1 - y0) : 0.5) * (H - 2 * P);
      const box = el("div", { class: "chart", "data-stage": s.name, "data-metric": name });
      const latest = m.latest ? m.latest[1] : ys[ys.length - 1];
      box.appendChild(el("div", {}, `${s.name} \u00b7 ${name} = ${Number(latest).toPrecision(5)}`
                                    + ` (${m.reported} points)`));
      const svg = el("svg:svg", { width: W, height: H });
      svg.appendChild(el("svg:rect", { x: 0, y: 0, width: W, height: H, fill: "#fff" }));
      svg.appendChild(el("svg:polyline", {
        points: finite.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" "),
        fill: "none", stroke: "#4a90d9", "stroke-width": 1.5 }));
      svg.appendChild(el("svg:text", { x: P, y: 12, fill: "#777" }, Number(y1).toPrecision(4)));
      svg.appendChild(el("svg:text", { x: P, y: H - P - 2, fill: "#777" }, Number(y0).toPrecision(4)));
      box.appendChild(svg);
      charts.push(box);
    }
  }
  if (charts.length) $("curves").replaceChildren(...charts);
}

function render(doc) {
  const run = doc.run;
  $("graph").textContent = run.graph;
  $("runid").textContent = run.id ? "run " + run.id : "";
  $("state").textContent = run.finished ? `run finished: ${run.status}` : run.status;
  $("state").style.color = run.finished ? (COLORS[run.status] || "#d33") : "#222";
  $("elapsed").textContent = `${fmt(run.elapsed_seconds, 1)} s`;
  $("error").textContent = run.error || "";
  const c = doc.counters;
  const parts = Object.entries(c.stages).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`);
  parts.push(`threads in use ${c.threads_in_use}`, `cache hits ${c.cache_hits}`,
             `retries ${c.retries}`);
  $("counters").replaceChildren(...parts.map((p) => el("span", {}, p)));
  drawDag(doc);
  drawTable(doc);
  drawCurves(doc);
  document.title = `trainflow: ${run.graph} ${run.finished ? run.status : "running"}`;
}

async function poll() {
  try {
    const r = await fetch("/api/run", { headers, cache: "no-store" });
    if (!r.ok) throw new Error(`/api/run answered ${r.status}: ${await r.text()}`);
    const doc = await r.json();
    render(doc);
    if (doc.run.finished) {
      document.body.setAttribute("data-finished", "true");
      return;
    }
  } catch (e) {
    $("error").textContent = `cannot reach the run: ${e.message}`;
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
)html";

}  // namespace

std::string_view status_page_html() noexcept {
  return kPage;
}

}  // namespace trainflow::observe
