// The run page: latent map with live decoding, sliders, interpolation, own images, samples
// (once the run has finished training: live.js shows it until then).
"use strict";

const RUN = new URLSearchParams(location.search).get("run") || "";
const Q = `run=${encodeURIComponent(RUN)}`;
const SIZE = 460, MARGIN = 20;
let INFO = null, MAP = null;
let cursor = null;        // map point of the decoded image
let marks = {};           // name -> map point (a, b, upload)
let path = null;          // interpolation path on the map
let pick = "a";           // which end a click on the map sets
const thumbs = new Map(); // test index -> packed pixels
// Round trips from pointer move (or slider move) to painted image, for the benchmark and the page.
window.aelabStats = {decodes: 0, latencies: []};

// ------------------------------------------------------------------------------ coordinates

function toCanvas(p) {
  const [lo, hi] = [MAP.lo, MAP.hi];
  return [MARGIN + (p[0] - lo[0]) / (hi[0] - lo[0]) * (SIZE - 2 * MARGIN),
          SIZE - MARGIN - (p[1] - lo[1]) / (hi[1] - lo[1]) * (SIZE - 2 * MARGIN)];
}

function toMap(x, y) {
  const [lo, hi] = [MAP.lo, MAP.hi];
  return [lo[0] + (x - MARGIN) / (SIZE - 2 * MARGIN) * (hi[0] - lo[0]),
          lo[1] + (SIZE - MARGIN - y) / (SIZE - 2 * MARGIN) * (hi[1] - lo[1])];
}

function nearestPoint(x, y, within) {
  let best = -1, bestD = within * within;
  MAP.points.forEach((p, k) => {
    const [px, py] = toCanvas(p);
    const d = (px - x) ** 2 + (py - y) ** 2;
    if (d < bestD) { bestD = d; best = k; }
  });
  return best;
}

// ---------------------------------------------------------------------------------- drawing

function drawMap() {
  const canvas = document.getElementById("map");
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, SIZE, SIZE);
  MAP.points.forEach((p, k) => {
    const [x, y] = toCanvas(p);
    g.fillStyle = colour(MAP.labels ? MAP.labels[k] : null);
    g.globalAlpha = 0.7;
    g.beginPath(); g.arc(x, y, 2.5, 0, 2 * Math.PI); g.fill();
  });
  g.globalAlpha = 1;
  if (path) {
    g.strokeStyle = "#000"; g.lineWidth = 1.5; g.beginPath();
    path.forEach((p, k) => { const [x, y] = toCanvas(p); k ? g.lineTo(x, y) : g.moveTo(x, y); });
    g.stroke();
  }
  for (const [name, p] of Object.entries(marks)) {
    const [x, y] = toCanvas(p);
    g.fillStyle = name === "upload" ? "#e00" : "#000";
    g.font = "bold 13px sans-serif";
    g.fillText(name === "upload" ? "★" : name.toUpperCase(), x + 5, y - 5);
    g.beginPath(); g.arc(x, y, 4, 0, 2 * Math.PI); g.fill();
  }
  if (cursor) {
    const [x, y] = toCanvas(cursor);
    g.strokeStyle = "#d00"; g.lineWidth = 1.5;
    g.beginPath(); g.moveTo(x - 8, y); g.lineTo(x + 8, y); g.moveTo(x, y - 8); g.lineTo(x, y + 8); g.stroke();
  }
}

function drawLegend() {
  const legend = document.getElementById("legend");
  legend.replaceChildren();
  if (!MAP.labels) { legend.textContent = "unlabelled data"; return; }
  INFO.label_names.forEach((name, k) => {
    const item = document.createElement("span");
    const dot = document.createElement("i"); dot.style.background = colour(k);
    item.append(dot, name); legend.append(item);
  });
}

function bigCanvas(canvas, size) {
  const [c, h, w] = INFO.shape;
  canvas.style.width = `${size}px`;
  canvas.style.height = `${Math.round(size * h / w)}px`;
}

// ---------------------------------------------------------------------------- live decoding

// Pointer moves arrive faster than decodes: keep one request in flight and send only the latest
// pending one when it returns, so the image follows the pointer without a queue building up.
function coalescing(send) {
  let pending = null, busy = false;
  async function pump() {
    busy = true;
    while (pending) {
      const job = pending; pending = null;
      try { await send(job); showError(""); } catch (e) { showError(e.message); }
    }
    busy = false;
  }
  return job => { pending = job; if (!busy) pump(); };
}

const decodeLive = coalescing(async job => {
  const result = await postJSON(`/api/decode?${Q}`, withLabel(job.body));
  pixels(result.images).paint(document.getElementById("decoded"), 0);
  const ms = performance.now() - job.start;
  window.aelabStats.decodes += 1;
  window.aelabStats.latencies.push(ms);
  document.getElementById("latency").textContent = `${ms.toFixed(0)} ms round trip`;
  if (result.points && MAP.invertible) cursor = result.points[0];  // (t-SNE: no place for a code)
  if (job.source !== "slider") setSliders(result.codes[0]);
  drawMap();
});

function decodeAtPointer(event) {
  const rect = event.target.getBoundingClientRect();
  const x = event.clientX - rect.left, y = event.clientY - rect.top;
  const start = performance.now();
  const near = nearestPoint(x, y, 12);
  if (near >= 0) showThumb(MAP.index[near]);
  if (MAP.invertible) {
    decodeLive({start, body: {points: [toMap(x, y)], method: MAP.method}, source: "map"});
  } else if (near >= 0) {  // t-SNE has no inverse: decode the nearest test image's code
    decodeLive({start, body: {indices: [MAP.index[near]], method: "tsne"}, source: "map"});
  }
}

async function showThumb(index) {
  if (!thumbs.has(index)) {
    thumbs.set(index, null);
    try { thumbs.set(index, (await getJSON(`/api/images?${Q}&index=${index}`)).images); }
    catch (e) { thumbs.delete(index); return; }
  }
  const packed = thumbs.get(index);
  if (!packed) return;
  pixels(packed).paint(document.getElementById("thumb"), 0);
  const k = MAP.index.indexOf(index);
  const label = MAP.labels && k >= 0 ? ` (${INFO.label_names[MAP.labels[k]]})` : "";
  document.getElementById("thumb-caption").textContent = `test #${index}${label}`;
}

// -------------------------------------------------------------------------------- sliders

function buildSliders() {
  const box = document.getElementById("sliders");
  box.replaceChildren();
  for (let d = 0; d < INFO.latent_dim; d++) {
    const label = document.createElement("label");
    label.textContent = `z[${d}]`;
    const slider = document.createElement("input");
    slider.type = "range"; slider.min = INFO.slider_lo[d]; slider.max = INFO.slider_hi[d];
    slider.step = (INFO.slider_hi[d] - INFO.slider_lo[d]) / 200; slider.value = 0; slider.dataset.dim = d;
    const shown = document.createElement("span");
    shown.className = "num"; shown.textContent = "0";
    slider.addEventListener("input", () => {
      shown.textContent = Number(slider.value).toFixed(2);
      decodeLive({start: performance.now(), body: {codes: [sliderCode()], method: mapMethod()}, source: "slider"});
    });
    box.append(label, slider, shown);
  }
}

function sliderCode() {
  return [...document.querySelectorAll("#sliders input")].map(s => Number(s.value));
}

function setSliders(code) {
  document.querySelectorAll("#sliders input").forEach((slider, d) => {
    slider.value = code[d];
    slider.nextElementSibling.textContent = code[d].toFixed(2);
  });
}

function mapMethod() { return MAP.method === "tsne" ? "auto" : MAP.method; }

async function resetSliders() {
  const ref = document.getElementById("reset-ref").value;
  try {
    const found = await getJSON(`/api/code?${Q}&ref=${encodeURIComponent(ref)}`);
    setSliders(found.code);
    decodeLive({start: performance.now(), body: {codes: [found.code], method: mapMethod()}, source: "reset"});
  } catch (e) { showError(e.message); }
}

async function showFirstCode() {  // the decoded image is never empty, even before the pointer moves
  try {
    const ref = encodeURIComponent(document.getElementById("reset-ref").value);
    const found = await getJSON(`/api/code?${Q}&ref=${ref}`);
    const result = await postJSON(`/api/decode?${Q}`, withLabel({codes: [found.code], method: mapMethod()}));
    pixels(result.images).paint(document.getElementById("decoded"), 0);
    setSliders(found.code);
    if (result.points && MAP.invertible) { cursor = result.points[0]; drawMap(); }
  } catch (e) { showError(e.message); }
}

// ------------------------------------------------------------------- a conditional model's label

function chosenLabel() { return document.getElementById("label").value; }

// A conditional model (a CVAE) decodes a code only with a label: every request carries the picked one.
function withLabel(body) { return INFO.conditional ? {...body, label: chosenLabel()} : body; }

function setUpLabels() {
  const picker = document.getElementById("label");
  for (const name of INFO.labels) {
    const option = document.createElement("option");
    option.value = name; option.textContent = name;
    picker.append(option);
  }
  picker.addEventListener("change", () => {  // redraw what was decoded with the previous label
    decodeLive({start: performance.now(), body: {codes: [sliderCode()], method: mapMethod()}, source: "label"});
    sample();
    if (!document.getElementById("scrub").disabled) interpolate();
  });
  document.getElementById("label-box").hidden = false;
}

// ---------------------------------------------------------------------------- interpolation

async function interpolate() {
  const a = document.getElementById("from").value, b = document.getElementById("to").value;
  const method = document.getElementById("interp-method").value;
  try {
    const found = await postJSON(`/api/interpolate?${Q}`, withLabel({a, b, method, steps: 11}));
    const strip = document.getElementById("strip");
    const ends = pixels(found.ends);
    imageRow(strip, found.images, found.t.map(t => `t=${t.toFixed(1)}`), 48);
    for (const [k, where] of [[0, "prepend"], [1, "append"]]) {
      const figure = document.createElement("figure");
      const canvas = document.createElement("canvas");
      canvas.className = "pixelated"; canvas.style.width = "48px";
      ends.paint(canvas, k);
      const caption = document.createElement("figcaption");
      caption.textContent = k ? found.b_label : found.a_label;
      figure.append(canvas, caption);
      strip[where](figure);
    }
    document.getElementById("interp-note").textContent = `${method} from ${found.a_label} to ${found.b_label}`;
    path = MAP.invertible ? found.points : null;
    const scrub = document.getElementById("scrub");
    scrub.disabled = false;
    scrub.dataset.a = `#${found.a}`; scrub.dataset.b = `#${found.b}`; scrub.dataset.method = method;
    scrubTo();
    showError("");
  } catch (e) { showError(e.message); }
}

const scrubLive = coalescing(async job => {
  const found = await postJSON(`/api/interpolate?${Q}`, withLabel(job.body));
  pixels(found.images).paint(document.getElementById("scrubbed"), 0);
  document.getElementById("scrub-caption").textContent = `t=${job.body.t[0].toFixed(2)}`;
  if (found.points && MAP.invertible) { cursor = found.points[0]; drawMap(); }
});

function scrubTo() {
  const scrub = document.getElementById("scrub");
  scrubLive({body: {a: scrub.dataset.a, b: scrub.dataset.b, method: scrub.dataset.method, t: [scrub.value / 1000]}});
}

function clickMap(event) {
  const rect = event.target.getBoundingClientRect();
  const near = nearestPoint(event.clientX - rect.left, event.clientY - rect.top, 12);
  if (near < 0) return;
  marks[pick] = MAP.points[near];
  document.getElementById(pick === "a" ? "from" : "to").value = `#${MAP.index[near]}`;
  if (pick === "b") interpolate();
  pick = pick === "a" ? "b" : "a";
  drawMap();
}

// ------------------------------------------------------------------------- your own image

async function analyse(blob) {
  try {
    const label = INFO.conditional ? `&label=${encodeURIComponent(chosenLabel())}` : "";
    const found = await postBlob(`/api/encode?${Q}${label}`, blob);
    const input = document.getElementById("upload-input"), recon = document.getElementById("upload-recon");
    pixels(found.input).paint(input, 0); bigCanvas(input, 112);
    pixels(found.reconstruction).paint(recon, 0); bigCanvas(recon, 112);
    imageRow(document.getElementById("nearest"), found.nearest, found.distance.map(d => d.toFixed(3)), 56);
    const flagged = found.score > found.threshold;
    document.getElementById("anomaly").textContent =
      `anomaly score ${found.score.toFixed(2)}: above ${found.percentile.toFixed(0)}% of the training images` +
      (flagged ? " (flagged: above the 95% threshold)" : "");
    document.getElementById("upload-result").hidden = false;
    if (found.point && MAP.invertible) { marks.upload = found.point; drawMap(); }
    setSliders(found.code);
    showError("");
  } catch (e) { showError(e.message); }
}

function setUpPad() {
  const pad = document.getElementById("pad");
  const g = pad.getContext("2d");
  const ink = INFO.dark_background ? "#fff" : "#000", paper = INFO.dark_background ? "#000" : "#fff";
  const clear = () => { g.fillStyle = paper; g.fillRect(0, 0, pad.width, pad.height); };
  clear();
  let last = null;
  pad.addEventListener("pointerdown", e => { last = [e.offsetX, e.offsetY]; pad.setPointerCapture(e.pointerId); });
  pad.addEventListener("pointermove", e => {
    if (!last) return;
    // A pen about a pixel and a half of the model's images wide: digits' strokes, whatever the size.
    g.strokeStyle = ink; g.lineWidth = Math.max(16, 1.5 * pad.width / INFO.shape[2]); g.lineCap = "round";
    g.beginPath(); g.moveTo(...last); g.lineTo(e.offsetX, e.offsetY); g.stroke();
    last = [e.offsetX, e.offsetY];
  });
  pad.addEventListener("pointerup", () => { last = null; pad.toBlob(blob => analyse(blob), "image/png"); });
  document.getElementById("clear").addEventListener("click", clear);
  document.getElementById("draw-box").hidden = false;
}

// --------------------------------------------------------------------------------- samples

let sampleSeed = 0;

async function sample() {
  const temperature = Number(document.getElementById("temperature").value);
  document.getElementById("temperature-value").textContent = temperature.toFixed(1);
  try {
    const sampler = document.getElementById("sampler").value;
    const found = await postJSON(`/api/sample?${Q}`, withLabel({n: 16, temperature, seed: sampleSeed, sampler}));
    imageRow(document.getElementById("samples"), found.images, null, 56);
    document.getElementById("sample-source").textContent = `from ${found.source}`;
  } catch (e) { showError(e.message); }
}

// ------------------------------------------------------------------------------------ start

async function loadMap(method) {
  MAP = await getJSON(`/api/map?${Q}&method=${method}`);
  MAP.method = method;
  document.getElementById("map-note").textContent = MAP.note ? `(${MAP.note})` : `(${MAP.axes.join(", ")})`;
  document.getElementById("map-hint").textContent = MAP.invertible
    ? "move over the map: the decoder's image follows; click two points to interpolate"
    : "t-SNE has no inverse: hovering shows the nearest test image's reconstruction";
  cursor = null; path = null; marks = {};
  drawMap(); drawLegend();
}

async function main() {
  document.getElementById("title").textContent = RUN;
  await untilFinished(RUN);  // live.js: a run still training is followed until it has its model
  try {
    INFO = await getJSON(`/api/info?${Q}`);
  } catch (e) { showError(e.message); return; }
  const [c, h, w] = INFO.shape;
  document.getElementById("summary").textContent =
    `${INFO.kind} (${INFO.architecture}), ${INFO.latent_dim}-D latent, ${INFO.data} ${w}x${h}` +
    `${c === 3 ? " RGB" : " grey"}, ${INFO.test_size} test images`;
  document.getElementById("method").addEventListener("change", async e => {
    try { await loadMap(e.target.value); showError(""); } catch (err) { showError(err.message); }
  });
  for (const id of ["decoded", "thumb", "scrubbed"]) bigCanvas(document.getElementById(id), id === "thumb" ? 96 : 160);
  buildSliders();
  if (INFO.conditional) setUpLabels();
  document.getElementById("from").value = INFO.labelled ? INFO.label_names[0] : "0";
  document.getElementById("to").value = INFO.labelled ? INFO.label_names[INFO.label_names.length - 1] : "-1";
  const map = document.getElementById("map");
  map.addEventListener("pointermove", decodeAtPointer);
  map.addEventListener("click", clickMap);
  document.getElementById("reset").addEventListener("click", resetSliders);
  document.getElementById("interpolate").addEventListener("click", interpolate);
  document.getElementById("scrub").addEventListener("input", scrubTo);
  document.getElementById("upload").addEventListener("change", e => { if (e.target.files[0]) analyse(e.target.files[0]); });
  const sampler = document.getElementById("sampler");
  for (const name of INFO.samplers) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = {prior: "the prior", gaussian: "a Gaussian fitted to the training codes",
                          gmm: "a Gaussian mixture fitted to the training codes",
                          flow: "a normalizing flow fitted to the training codes",
                          two_stage: "a second-stage VAE fitted to the training codes",
                          diffusion: "a diffusion model fitted to the training codes"}[name] || name;
    sampler.append(option);
  }
  sampler.value = INFO.sampler;  // the run's model.sampler
  // learned samplers are drawn from only when the run has them stored: say how to add the others
  document.getElementById("sampler-hint").textContent = INFO.samplers_to_fit.length
    ? `(${INFO.samplers_to_fit.join(", ")}: ${INFO.fit_sampler_command.replace("NAME", INFO.samplers_to_fit[0])})` : "";
  sampler.addEventListener("change", sample);
  // a mixture is fitted on first use: while one is drawn, only the slider's latest value waits
  const sampleLatest = coalescing(sample);
  document.getElementById("temperature").addEventListener("input", () => sampleLatest({}));
  document.getElementById("sample").addEventListener("click", () => { sampleSeed += 1; sample(); });
  if (c === 1) setUpPad();
  try { await loadMap("auto"); } catch (e) { showError(e.message); return; }
  await Promise.all([sample(), interpolate(), showFirstCode()]);
  document.body.dataset.ready = "1";
}

main();
