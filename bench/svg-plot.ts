import { CeilingPoint } from './ceiling';

const COLOURS = ['#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e'];

/** A measured rate drawn across the plot (the service, the pipeline), to read against the ceiling. */
export interface RateMark {
  label: string;
  texts_per_s: number;
}

/**
 * texts/s (solid, left axis) and p99 batch latency (dashed, right axis) against batch size (log2),
 * one pair of lines per session layout, as SVG. Each mark is a grey dotted line at its rate: the
 * service and the pipeline, whose batches vary in size, against the ceiling at every fixed size.
 */
export function ceilingPlot(points: CeilingPoint[], title: string, marks: RateMark[] = []): string {
  const W = 720,
    H = 420,
    L = 70,
    R = 70,
    T = 40,
    B = 70;
  const sizes = [...new Set(points.map((p) => p.batch_size))].sort((a, b) => a - b);
  const lo = Math.log2(sizes[0]);
  const hi = Math.log2(sizes[sizes.length - 1]);
  const x = (size: number) => L + ((Math.log2(size) - lo) / Math.max(1e-9, hi - lo)) * (W - L - R);
  const maxRate = Math.max(...points.map((p) => p.texts_per_s), ...marks.map((m) => m.texts_per_s)) * 1.1;
  const maxLat = Math.max(...points.map((p) => p.p99_batch_ms)) * 1.1;
  const yRate = (v: number) => H - B - (v / maxRate) * (H - T - B);
  const yLat = (v: number) => H - B - (v / maxLat) * (H - T - B);
  const path = (ps: CeilingPoint[], y: (p: CeilingPoint) => number) =>
    ps.map((p, i) => `${i ? 'L' : 'M'}${x(p.batch_size).toFixed(1)},${y(p).toFixed(1)}`).join(' ');
  const ticks = (max: number, f: (v: number) => number, side: 'l' | 'r') =>
    [0, 0.25, 0.5, 0.75, 1]
      .map((t) => {
        const v = max * t;
        const xPos = side === 'l' ? L - 8 : W - R + 8;
        return `<text x="${xPos}" y="${f(v) + 4}" text-anchor="${side === 'l' ? 'end' : 'start'}" font-size="11">${v.toFixed(0)}</text>`;
      })
      .join('');
  const layouts = [...new Set(points.map((p) => p.sessions))];
  const series = layouts.map((sessions, i) => {
    const ps = points.filter((p) => p.sessions === sessions);
    const c = COLOURS[i % COLOURS.length];
    const label = `${ps[0].provider}, ${sessions} session${sessions > 1 ? 's' : ''}`;
    return `<path d="${path(ps, (p) => yRate(p.texts_per_s))}" fill="none" stroke="${c}" stroke-width="2"/>
<path d="${path(ps, (p) => yLat(p.p99_batch_ms))}" fill="none" stroke="${c}" stroke-width="1.5" stroke-dasharray="6 4"/>
${ps.map((p) => `<circle cx="${x(p.batch_size)}" cy="${yRate(p.texts_per_s)}" r="3" fill="${c}"/>`).join('')}
<rect x="${L + i * 200}" y="${H - 22}" width="14" height="4" fill="${c}"/><text x="${L + i * 200 + 20}" y="${H - 16}" font-size="11">${label}</text>`;
  });
  // The highest mark's label sits above its line and the others below theirs, so two close rates
  // stay readable.
  const markLines = [...marks]
    .sort((a, b) => b.texts_per_s - a.texts_per_s)
    .map((m, i) => {
      const y = yRate(m.texts_per_s);
      return `<line x1="${L}" y1="${y.toFixed(1)}" x2="${W - R}" y2="${y.toFixed(1)}" stroke="#777" stroke-width="1" stroke-dasharray="2 3"/>
<text x="${W - R - 4}" y="${(i === 0 ? y - 4 : y + 12).toFixed(1)}" text-anchor="end" font-size="11" fill="#555">${m.label} ${m.texts_per_s.toFixed(1)}</text>`;
    });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${title}</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/>
<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>
<line x1="${W - R}" y1="${T}" x2="${W - R}" y2="${H - B}" stroke="#333"/>
${sizes.map((s) => `<text x="${x(s)}" y="${H - B + 18}" text-anchor="middle" font-size="11">${s}</text>`).join('')}
<text x="${W / 2}" y="${H - B + 36}" text-anchor="middle" font-size="12">batch size</text>
${ticks(maxRate, yRate, 'l')}${ticks(maxLat, yLat, 'r')}
<text x="16" y="${(H - B + T) / 2}" transform="rotate(-90 16 ${(H - B + T) / 2})" text-anchor="middle" font-size="12">texts/s (solid)</text>
<text x="${W - 14}" y="${(H - B + T) / 2}" transform="rotate(90 ${W - 14} ${(H - B + T) / 2})" text-anchor="middle" font-size="12">p99 batch latency, ms (dashed)</text>
${markLines.join('\n')}
${series.join('\n')}
</svg>
`;
}
