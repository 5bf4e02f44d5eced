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
  const ticked = new Set(selected());  // kept when the list is refreshed
  body.replaceChildren();
  for (const run of rows) {
    const tr = document.createElement("tr");
    tr.dataset.id = run.id;
    const tick = document.createElement("td");
    const box = document.createElement("input");
    box.type = "checkbox"; box.value = run.id; box.checked = ticked.has(run.id);
    box.addEventListener("change", updateButton);
    tick.append(box); tr.append(tick);
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.href = `/run?run=${encodeURIComponent(run.id)}`; link.textContent = run.id;
    link.title = run.folder;  // where the run lives on disk
    name.append(link); tr.append(name);
    if (run.state && run.state !== "finished") name.append(" ", badge(run.state));
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

// "training" (a process holds the run folder) or "stopped" (no model, and nobody trains it any more)
function badge(state) {
  const span = document.createElement("span");
  span.className = `badge ${state}`; span.textContent = state;
  span.title = state === "training" ? "still training: its page follows it live"
                                    : "stopped without finishing: its page says how to continue";
  return span;
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
  const series = [];
  histories.forEach((h, k) => {
    for (const [key, dash] of [["val_loss", ""], ["loss", "5,4"]]) {
      const pts = h.history.filter(row => Number.isFinite(row[key])).map(row => [row.epoch, row[key]]);
      if (pts.length) series.push({colour: colour(k), dash, pts});
    }
  });
  lineChart(document.getElementById("curves"), series, histories.map((h, k) => ({label: h.run, colour: colour(k)})));
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
  await load();
}

// The list, and again every few seconds while a run trains (its epochs, then its metrics).
async function load() {
  try {
    RUNS = (await getJSON("/api/runs")).runs;
    document.getElementById("count").textContent = `${RUNS.length} run${RUNS.length === 1 ? "" : "s"}`;
    render();
    updateButton();
    showError("");
  } catch (e) { showError(e.message); }
  if (RUNS.some(run => run.state === "training")) setTimeout(load, 3000);
}

main();
