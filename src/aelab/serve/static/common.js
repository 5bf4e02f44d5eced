// Shared by both pages: JSON requests with one-line errors, and painting packed pixels.
"use strict";

async function getJSON(url) {
  const response = await fetch(url);
  return unpack(response);
}

async function postJSON(url, body) {
  const response = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify(body)});
  return unpack(response);
}

async function postBlob(url, blob) {
  const response = await fetch(url, {method: "POST", body: blob,
                                     headers: {"Content-Type": blob.type || "application/octet-stream"}});
  return unpack(response);
}

async function unpack(response) {
  let data;
  try { data = await response.json(); } catch (e) { data = {error: `HTTP ${response.status}`}; }
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function showError(message) {
  const box = document.getElementById("error");
  if (!box) return;
  box.textContent = message || "";
  box.hidden = !message;
}

// {"shape": [N, H, W, C], "data": base64 uint8} -> a function painting image k onto a canvas.
function pixels(packed) {
  const [n, h, w, c] = packed.shape;
  const raw = atob(packed.data);
  const bytes = new Uint8ClampedArray(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return {
    count: n, height: h, width: w,
    paint(canvas, k) {
      canvas.width = w; canvas.height = h;
      const image = new ImageData(w, h);
      const base = k * h * w * c;
      for (let p = 0; p < h * w; p++) {
        const src = base + p * c;
        image.data[4 * p] = bytes[src];
        image.data[4 * p + 1] = bytes[src + (c === 3 ? 1 : 0)];
        image.data[4 * p + 2] = bytes[src + (c === 3 ? 2 : 0)];
        image.data[4 * p + 3] = 255;
      }
      canvas.getContext("2d").putImageData(image, 0, 0);
    },
  };
}

// A row of small image canvases (captions optional) in `container`.
function imageRow(container, packed, captions, size) {
  container.replaceChildren();
  const images = pixels(packed);
  for (let k = 0; k < images.count; k++) {
    const figure = document.createElement("figure");
    const canvas = document.createElement("canvas");
    canvas.className = "pixelated";
    canvas.style.width = `${size}px`;
    canvas.style.height = `${Math.round(size * images.height / images.width)}px`;
    images.paint(canvas, k);
    figure.append(canvas);
    if (captions && captions[k] !== undefined) {
      const caption = document.createElement("figcaption");
      caption.textContent = captions[k];
      figure.append(caption);
    }
    container.append(figure);
  }
  return images;
}

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];

function colour(k) {
  if (k === null || k === undefined) return "#4a6fa5";
  return k < PALETTE.length ? PALETTE[k] : `hsl(${(k * 47) % 360}, 65%, 45%)`;
}

function formatNumber(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
}

// Curves over epochs in an <svg>: series [{pts: [[epoch, value], ...], colour, dash}], and a legend
// [{label, colour}] on the right. The axis stops at the 95th percentile of the values: the first
// epochs' spikes are clipped, not allowed to flatten the rest.
function lineChart(svg, series, legend) {
  const W = Number(svg.getAttribute("width")), H = Number(svg.getAttribute("height"));
  const left = 60, right = 200, top = 10, bottom = 30;
  const all = series.flatMap(s => s.pts);
  svg.replaceChildren();
  if (!all.length) return;
  const xs = all.map(p => p[0]), ys = all.map(p => p[1]).sort((a, b) => a - b);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
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
                     stroke: s.colour, "stroke-width": 1.5, "stroke-dasharray": s.dash || "", class: "curve"});
    if (s.pts.length === 1) add("circle", {cx: sx(s.pts[0][0]), cy: sy(s.pts[0][1]), r: 3, fill: s.colour});  // one epoch: a dot
  }
  legend.forEach((item, k) => {
    add("rect", {x: W - right + 10, y: top + 16 * k, width: 10, height: 10, fill: item.colour});
    add("text", {x: W - right + 25, y: top + 16 * k + 9},
        item.label.length > 28 ? "…" + item.label.slice(-27) : item.label);
  });
}
