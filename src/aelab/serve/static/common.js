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
