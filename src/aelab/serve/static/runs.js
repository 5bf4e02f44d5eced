// The runs page: a sortable table of every served run, and a side-by-side comparison.
"use strict";

let RUNS = [];
let sortKey = "name", sortDir = 1;

function value(run, key) {
  if (key in run.metrics) return run.metrics[key];
  if (key === "data") return run.path ? `${run.dataset} (${run.path})` : run.dataset;
  return run[key];
}

function render() {
  const rows = [...RUNS].sort((a, b) => {
    const x = value(a, sortKey), y = value(b, sortKey);
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * sortDir;
  });
  const body = document.querySelector("#runs tbody");
  body.replaceChildren();
  for (const run of rows) {
    const tr = document.createElement("tr");
    tr.dataset.id = run.id;
    const tick = document.createElement("td");
    const box = document.createElement("input");
    box.type = "checkbox"; box.value = run.id; box.addEventListener("change", updateButton);
    tick.append(box); tr.append(tick);
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.href = `/run?run=${encodeURIComponent(run.id)}`; link.textContent = run.id;
    link.title = run.folder;  // where the run lives on disk
    name.append(link); tr.append(name);
    for (const key of ["type", "architecture", "data", "latent_dim", "test_loss", "validation_loss", "test_mse",
                       "epochs_run", "train_seconds"]) {
      const td = document.createElement("td");
      const v = value(run, key);
      td.textContent = formatNumber(v);
      if (typeof v === "number") td.className = "num";
      tr.append(td);
    }
    body.append(tr);
  }
  for (const th of document.querySelectorAll("th[data-key]")) {
    th.classList.toggle("sorted-asc", th.dataset.key === sortKey && sortDir === 1);
    th.classList.toggle("sorted-desc", th.dataset.key === sortKey && sortDir === -1);
  }
}

function selected() {
  return [...document.querySelectorAll("#runs tbody input:checked")].map(box => box.value);
}

function updateButton() {
  document.getElementById("compare").disabled = selected().length < 2;
}

async function compare() {
  const ids = selected();
  try {
    const histories = await Promise.all(ids.map(id => getJSON(`/api/history?run=${encodeURIComponent(id)}`)));
    drawCurves(histories);
    metricsTable(ids.map(id => RUNS.find(r => r.id === id)));
    document.getElementById("comparison").hidden = false;
    showError("");
  } catch (e) { showError(e.message); }
}

function drawCurves(histories) {
  const svg = document.getElementById("curves");
  const W = 720, H = 320, left = 60, right = 200, top = 10, bottom = 30;
  const series = [];
  histories.forEach((h, k) => {
    for (const [key, dash] of [["val_loss", ""], ["loss", "5,4"]]) {
      const pts = h.history.filter(row => Number.isFinite(row[key])).map(row => [row.epoch, row[key]]);
      if (pts.length) series.push({run: h.run, k, dash, pts});
    }
  });
  const all = series.flatMap(s => s.pts);
  svg.replaceChildren();
  if (!all.length) return;
  const xs = all.map(p => p[0]), ys = all.map(p => p[1]).sort((a, b) => a - b);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  // Clip the first epochs' spikes: the axis covers up to the 95th percentile of the losses.
  const y0 = ys[0], y1 = Math.max(ys[Math.floor(0.95 * (ys.length - 1))], y0 + 1e-9);
  const sx = x => left + (x - x0) / (x1 - x0) * (W - left - right);
  const sy = y => top + (1 - (Math.min(y, y1) - y0) / (y1 - y0)) * (H - top - bottom);
  const ns = "http://www.w3.org/2000/svg";
  const add = (tag, attrs, text) => {
    const el = document.createElementNS(ns, tag);
    for (const [a, v] of Object.entries(attrs)) el.setAttribute(a, v);
    if (text !== undefined) el.textContent = text;
    svg.append(el); return el;
  };
  add("line", {x1: left, y1: H - bottom, x2: W - right, y2: H - bottom, stroke: "#999"});
  add("line", {x1: left, y1: top, x2: left, y2: H - bottom, stroke: "#999"});
  for (const f of [0, 0.5, 1]) {
    const y = y0 + f * (y1 - y0);
    add("text", {x: left - 5, y: sy(y) + 4, "text-anchor": "end"}, formatNumber(y));
    const x = x0 + f * (x1 - x0);
    add("text", {x: sx(x), y: H - bottom + 15, "text-anchor": "middle"}, formatNumber(Math.round(x)));
  }
  add("text", {x: (left + W - right) / 2, y: H - 2, "text-anchor": "middle"}, "epoch");
  for (const s of series) {
    add("polyline", {points: s.pts.map(p => `${sx(p[0])},${sy(p[1])}`).join(" "), fill: "none",
                     stroke: colour(s.k), "stroke-width": 1.5, "stroke-dasharray": s.dash, class: "curve"});
  }
  histories.forEach((h, k) => {
    add("rect", {x: W - right + 10, y: top + 16 * k, width: 10, height: 10, fill: colour(k)});
    add("text", {x: W - right + 25, y: top + 16 * k + 9}, h.run.length > 28 ? "…" + h.run.slice(-27) : h.run);
  });
}

function metricsTable(runs) {
  const table = document.getElementById("metrics");
  table.replaceChildren();
  const head = document.createElement("tr");
  head.append(document.createElement("th"));
  for (const run of runs) { const th = document.createElement("th"); th.textContent = run.id; th.className = "num"; head.append(th); }
  table.append(head);
  const keys = [];
  for (const run of runs)
    for (const [split, values] of Object.entries(run.all_metrics))
      for (const key of Object.keys(values)) if (!keys.includes(`${split}.${key}`)) keys.push(`${split}.${key}`);
  const info = [["model", r => r.type], ["network", r => r.architecture], ["latent", r => r.latent_dim],
                ["data", r => value(r, "data")], ["epochs", r => r.metrics.epochs_run]];
  for (const [label, get] of info) addRow(table, label, runs.map(get));
  for (const key of keys) {
    const [split, name] = key.split(".");
    addRow(table, `${split} ${name}`, runs.map(r => (r.all_metrics[split] || {})[name]));
  }
}

function addRow(table, label, values) {
  const tr = document.createElement("tr");
  const th = document.createElement("th"); th.textContent = label; tr.append(th);
  for (const v of values) { const td = document.createElement("td"); td.className = "num"; td.textContent = formatNumber(v); tr.append(td); }
  table.append(tr);
}

async function main() {
  for (const th of document.querySelectorAll("th[data-key]")) {
    th.addEventListener("click", () => {
      sortDir = sortKey === th.dataset.key ? -sortDir : 1;
      sortKey = th.dataset.key;
      render();
    });
  }
  document.getElementById("compare").addEventListener("click", compare);
  try {
    RUNS = (await getJSON("/api/runs")).runs;
    document.getElementById("count").textContent = `${RUNS.length} run${RUNS.length === 1 ? "" : "s"}`;
    render();
  } catch (e) { showError(e.message); }
}

main();
