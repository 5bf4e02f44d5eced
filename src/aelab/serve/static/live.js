// A run still training: its loss curves, its epoch and the time left, its latest reconstruction
// strip, polled from /api/status until the run has its model; then the explorer (run.js) takes
// the page. A run that stopped without finishing says so (and how to continue it).
"use strict";

const POLL_MS = 1500, STOPPED_POLL_MS = 5000;  // a stopped run may be resumed: still looked at
const LIVE_SKIP = new Set(["epoch", "seconds", "learning_rate", "beta"]);

function sleep(ms) { return new Promise(done => setTimeout(done, ms)); }

// Resolves when the run is finished: at once for a finished run (or one the server does not
// know: the explorer then says so), else when its training ends.
async function untilFinished(run) {
  const q = `run=${encodeURIComponent(run)}`;
  let rows = [], shown = false;
  for (;;) {
    const since = rows.length ? rows[rows.length - 1].epoch : 0;
    let status;
    try {
      status = await getJSON(`/api/status?${q}&since=${since}`);
    } catch (e) {
      if (!shown) return;
      showError(e.message); await sleep(POLL_MS); continue;
    }
    if (status.state === "finished") break;
    if (status.epoch < since) { rows = []; continue; }  // its history was written anew (resumed): all again
    rows = rows.concat(status.history);
    if (!shown) { setLive(true); shown = true; }
    showError("");
    drawLive(q, status, rows);
    await sleep(status.state === "training" ? POLL_MS : STOPPED_POLL_MS);
  }
  if (shown) setLive(false);
}

function setLive(on) {
  document.getElementById("live").hidden = !on;
  document.getElementById("explorer").hidden = on;
  if (!on) delete document.body.dataset.live;
}

function drawLive(q, status, rows) {
  document.body.dataset.live = status.state;
  const badge = document.getElementById("live-badge");
  badge.textContent = status.state; badge.className = `badge ${status.state}`;
  let progress = status.epochs ? `epoch ${status.epoch} of ${status.epochs}` : `epoch ${status.epoch}`;
  if (status.seconds_left !== null && status.seconds_left !== undefined && status.state === "training" && !status.message)
    progress += `, about ${duration(status.seconds_left)} left`;
  document.getElementById("live-progress").textContent = progress;
  document.getElementById("summary").textContent = status.state === "training" ? "still training" : status.state;
  const last = rows[rows.length - 1];
  document.getElementById("live-note").textContent = status.message ||
    (last ? `last epoch ${ago(status.seconds_since_epoch)}` +
            (Number.isFinite(last.seconds) ? `, ${last.seconds.toPrecision(2)} s of training` : "") +
            "; the time left is the epochs to go at the last epochs' pace (early stopping may end it sooner; " +
            "the evaluation after training is not counted)"
          : "preparing the data and the model");
  drawLiveCurves(rows);
  latestTable(rows[rows.length - 1]);
  const box = document.getElementById("live-snapshot-box"), img = document.getElementById("live-snapshot");
  if (status.snapshot !== null && status.snapshot !== undefined) {
    const src = `/api/snapshot?${q}&epoch=${status.snapshot}`;
    if (img.getAttribute("src") !== src) img.src = src;
    box.hidden = false;
  }
  document.getElementById("live-next").hidden = status.state !== "training";
  document.getElementById("live-snapshot-hint").hidden = status.snapshot_every !== null || status.state !== "training";
}

function drawLiveCurves(rows) {
  const series = [], legend = [];
  for (const [key, label, k, dash] of [["loss", "training loss", 0, "5,4"], ["val_loss", "validation loss", 1, ""]]) {
    const pts = rows.filter(row => Number.isFinite(row[key])).map(row => [row.epoch, row[key]]);
    if (!pts.length) continue;
    series.push({pts, colour: colour(k), dash});
    legend.push({label, colour: colour(k)});
  }
  lineChart(document.getElementById("live-curves"), series, legend);
}

// The last epoch's terms: training and validation side by side (the validation's own metrics below).
function latestTable(row) {
  const table = document.getElementById("live-latest");
  table.replaceChildren();
  if (!row) return;
  const names = [];
  for (const key of Object.keys(row)) {
    const name = key.startsWith("val_") ? key.slice(4) : key;
    if (!LIVE_SKIP.has(key) && !names.includes(name)) names.push(name);
  }
  const head = document.createElement("tr");
  for (const text of [`epoch ${row.epoch}`, "training", "validation"]) {
    const th = document.createElement("th"); th.textContent = text; th.className = "num"; head.append(th);
  }
  table.append(head);
  for (const name of names) {
    const tr = document.createElement("tr");
    const th = document.createElement("th"); th.textContent = name; tr.append(th);
    for (const value of [row[name], row[`val_${name}`]]) {
      const td = document.createElement("td"); td.className = "num"; td.textContent = formatNumber(value); tr.append(td);
    }
    table.append(tr);
  }
}

function ago(seconds) { return seconds === null || seconds === undefined || seconds < 1 ? "just now" : `${duration(seconds)} ago`; }

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "?";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}
