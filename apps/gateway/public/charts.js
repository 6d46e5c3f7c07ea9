'use strict';
// A small line chart on a canvas: no library, nothing fetched. Each series keeps the last `max` points;
// a missing value (null) leaves a gap. The canvas's data-points / data-last / data-values attributes say
// what it shows (for tests and for the curious).
 
class LineChart {
  constructor(canvas, series, { max = 60 } = {}) {
    this.canvas = canvas;
    this.series = series.map((s) => ({ ...s, values: [] }));
    this.max = max;
  }

  push(values) {
    this.series.forEach((s, i) => {
      s.values.push(values[i] === undefined || Number.isNaN(values[i]) ? null : values[i]);
      if (s.values.length > this.max) s.values.shift();
    });
    const first = this.series[0].values;
    this.canvas.dataset.points = String(first.filter((v) => v !== null).length);
    this.canvas.dataset.last = String(first[first.length - 1] ?? '');
    this.canvas.dataset.values = first.map((v) => (v === null ? '' : v.toFixed(3))).join(',');
    this.draw();
  }

  draw() {
    const { canvas } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || canvas.width;
    const height = canvas.clientHeight || canvas.height;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const all = this.series.flatMap((s) => s.values).filter((v) => v !== null);
    const top = niceMax(all.length ? Math.max(...all) : 1);
    const pad = { l: 36, r: 6, t: 8, b: 14 };
    const w = width - pad.l - pad.r;
    const h = height - pad.t - pad.b;
    g.strokeStyle = '#e5e7eb';
    g.fillStyle = '#6b7280';
    g.font = '10px system-ui, sans-serif';
    for (let i = 0; i <= 2; i++) {
      const y = pad.t + (h * i) / 2;
      g.beginPath();
      g.moveTo(pad.l, y);
      g.lineTo(pad.l + w, y);
      g.stroke();
      g.fillText(format(top * (1 - i / 2)), 2, y + 3);
    }
    const x = (i) => pad.l + (w * i) / Math.max(1, this.max - 1);
    const y = (v) => pad.t + h - (h * v) / top;
    for (const s of this.series) {
      const offset = this.max - s.values.length;
      g.strokeStyle = s.color;
      g.lineWidth = 2;
      g.beginPath();
      let drawing = false;
      s.values.forEach((v, i) => {
        if (v === null) {
          drawing = false;
          return;
        }
        if (drawing) g.lineTo(x(i + offset), y(v));
        else g.moveTo(x(i + offset), y(v));
        drawing = true;
      });
      g.stroke();
      g.fillStyle = s.color;
      s.values.forEach((v, i) => {
        const alone = v !== null && (s.values[i - 1] ?? null) === null && (s.values[i + 1] ?? null) === null;
        if (alone) g.fillRect(x(i + offset) - 2, y(v) - 2, 4, 4);
      });
    }
    let lx = pad.l + 4;
    for (const s of this.series) {
      if (this.series.length < 2) break;
      g.fillStyle = s.color;
      g.fillText(s.label, lx, height - 3);
      lx += g.measureText(s.label).width + 12;
    }
  }
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function format(v) {
  if (v >= 1000) return `${(v / 1000).toFixed(1)}k`;
  if (v >= 10) return v.toFixed(0);
  return v.toFixed(v >= 1 ? 1 : 2);
}
