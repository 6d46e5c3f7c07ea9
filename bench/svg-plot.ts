import { CeilingPoint } from './ceiling';

/** texts/s (left axis) and p99 batch latency (right axis) against batch size (log2), as SVG. */
export function ceilingPlot(points: CeilingPoint[], title: string): string {
  const W = 720,
    H = 400,
    L = 70,
    R = 70,
    T = 40,
    B = 50;
  const xs = points.map((p) => Math.log2(p.batch_size));
  const x = (v: number) =>
    L + ((v - Math.min(...xs)) / Math.max(1e-9, Math.max(...xs) - Math.min(...xs))) * (W - L - R);
  const maxRate = Math.max(...points.map((p) => p.texts_per_s)) * 1.1;
  const maxLat = Math.max(...points.map((p) => p.p99_batch_ms)) * 1.1;
  const yRate = (v: number) => H - B - (v / maxRate) * (H - T - B);
  const yLat = (v: number) => H - B - (v / maxLat) * (H - T - B);
  const path = (ys: number[]) => ys.map((y, i) => `${i ? 'L' : 'M'}${x(xs[i]).toFixed(1)},${y.toFixed(1)}`).join(' ');
  const ticks = (max: number, f: (v: number) => number, side: 'l' | 'r') =>
    [0, 0.25, 0.5, 0.75, 1]
      .map((t) => {
        const v = max * t;
        const xPos = side === 'l' ? L - 8 : W - R + 8;
        return `<text x="${xPos}" y="${f(v) + 4}" text-anchor="${side === 'l' ? 'end' : 'start'}" font-size="11">${v.toFixed(0)}</text>`;
      })
      .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${title}</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/>
<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#1f77b4"/>
<line x1="${W - R}" y1="${T}" x2="${W - R}" y2="${H - B}" stroke="#d62728"/>
${points.map((p, i) => `<text x="${x(xs[i])}" y="${H - B + 18}" text-anchor="middle" font-size="11">${p.batch_size}</text>`).join('')}
<text x="${W / 2}" y="${H - 12}" text-anchor="middle" font-size="12">batch size</text>
${ticks(maxRate, yRate, 'l')}${ticks(maxLat, yLat, 'r')}
<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle" font-size="12" fill="#1f77b4">texts/s</text>
<text x="${W - 14}" y="${H / 2}" transform="rotate(90 ${W - 14} ${H / 2})" text-anchor="middle" font-size="12" fill="#d62728">p99 batch latency (ms)</text>
<path d="${path(points.map((p) => yRate(p.texts_per_s)))}" fill="none" stroke="#1f77b4" stroke-width="2"/>
<path d="${path(points.map((p) => yLat(p.p99_batch_ms)))}" fill="none" stroke="#d62728" stroke-width="2" stroke-dasharray="6 4"/>
${points.map((p, i) => `<circle cx="${x(xs[i])}" cy="${yRate(p.texts_per_s)}" r="3" fill="#1f77b4"/><circle cx="${x(xs[i])}" cy="${yLat(p.p99_batch_ms)}" r="3" fill="#d62728"/>`).join('')}
</svg>
`;
}
