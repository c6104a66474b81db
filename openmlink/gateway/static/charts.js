// Plain SVG charts: points and lines on numeric axes, no library.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";

function niceTicks(lo, hi, n) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(f => f * mag).find(s => s >= raw) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(+v.toFixed(10));
  return out;
}

// tick labels with as many decimals as the tick step needs (scaled, e.g. 100 for percent)
function tickFormat(step, scale) {
  const s = step * scale;
  let d = 0;
  while (d < 6 && Math.abs(Math.round(s * 10 ** d) - s * 10 ** d) > 1e-6 * 10 ** d) d++;
  return v => (v * scale).toFixed(d);
}

function el(name, attrs, parent) {
  const e = document.createElementNS(SVGNS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

// series: [{kind: "points"|"line", cls, data: [[x, y, title?], ...], r?}]
function drawChart(container, series, opts) {
  const W = container.clientWidth || 600, H = 320;
  const m = {l: 52, r: 12, t: 20, b: 34};
  const pts = series.flatMap(s => s.data);
  container.textContent = "";
  const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none"}, container);
  if (!pts.length) {
    el("text", {x: W / 2, y: H / 2, "text-anchor": "middle"}, svg).textContent = opts.empty || "no data yet";
    return svg;
  }
  let x0 = Math.min(...pts.map(p => p[0])), x1 = Math.max(...pts.map(p => p[0]));
  let y0 = Math.min(...pts.map(p => p[1])), y1 = Math.max(...pts.map(p => p[1]));
  const dx = (x1 - x0) || Math.abs(x0) || 1, dy = (y1 - y0) || Math.abs(y0) || 0.1;
  x0 -= dx * 0.03; x1 += dx * 0.03; y0 -= dy * 0.08; y1 += dy * 0.08;
  const X = v => m.l + (v - x0) / (x1 - x0) * (W - m.l - m.r);
  const Y = v => H - m.b - (v - y0) / (y1 - y0) * (H - m.t - m.b);
  const yt = niceTicks(y0, y1, 5), xt = niceTicks(x0, x1, 8);
  const yfmt = tickFormat(yt.length > 1 ? yt[1] - yt[0] : 1, opts.yscale || 1);
  const xfmt = tickFormat(xt.length > 1 ? xt[1] - xt[0] : 1, 1);
  for (const t of yt) {
    el("line", {class: "grid", x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t)}, svg);
    el("text", {x: m.l - 6, y: Y(t) + 4, "text-anchor": "end"}, svg).textContent = yfmt(t);
  }
  for (const t of xt) {
    el("line", {class: "grid", x1: X(t), x2: X(t), y1: m.t, y2: H - m.b}, svg);
    el("text", {x: X(t), y: H - m.b + 14, "text-anchor": "middle"}, svg).textContent = xfmt(t);
  }
  el("line", {class: "axis", x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b}, svg);
  el("line", {class: "axis", x1: m.l, x2: m.l, y1: m.t, y2: H - m.b}, svg);
  if (opts.xlabel) el("text", {x: W - m.r, y: H - 4, "text-anchor": "end"}, svg).textContent = opts.xlabel;
  if (opts.ylabel) el("text", {x: 4, y: 11}, svg).textContent = opts.ylabel;
  for (const s of series) {
    if (s.kind === "line" && s.data.length > 1) {
      const d = s.data.map((p, i) => `${i ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join("");
      el("path", {class: s.cls, d: d}, svg);
    } else if (s.kind === "points") {
      for (const p of s.data) {
        const c = el("circle", {class: s.cls, cx: X(p[0]).toFixed(1), cy: Y(p[1]).toFixed(1), r: s.r || 3}, svg);
        if (p[2]) el("title", {}, c).textContent = p[2];
      }
    }
  }
  return svg;
}
