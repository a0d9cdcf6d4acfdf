// History curves as a standalone SVG (no dependencies): one line per metric over the epochs.
import * as fs from 'node:fs';
import type { History } from './models/sequential';

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An SVG document plotting `keys` (default: every series) of a History or a plain record of series. */
export function historyToSvg(history: History | Record<string, number[]>, options: { keys?: string[]; title?: string; width?: number; height?: number; logScale?: boolean } = {}): string {
  const series = history instanceof Object && 'history' in history ? (history as History).history : (history as Record<string, number[]>);
  const keys = options.keys ?? Object.keys(series).filter((k) => k !== 'learning_rate');
  const W = options.width ?? 640, H = options.height ?? 400;
  const m = { l: 64, r: 150, t: 36, b: 44 };
  const tf = (v: number) => (options.logScale ? Math.log10(Math.max(v, 1e-12)) : v);
  const values = keys.flatMap((k) => (series[k] ?? []).filter(Number.isFinite).map(tf));
  let lo = values.length ? Math.min(...values) : 0, hi = values.length ? Math.max(...values) : 1;
  if (hi === lo) { hi += 1; lo -= 1; }
  const n = Math.max(1, ...keys.map((k) => (series[k] ?? []).length));
  const x = (i: number) => m.l + (n === 1 ? 0 : (i / (n - 1)) * (W - m.l - m.r));
  const y = (v: number) => m.t + (1 - (tf(v) - lo) / (hi - lo)) * (H - m.t - m.b);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  if (options.title) parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(options.title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = lo + ((hi - lo) * i) / 5;
    const yy = m.t + (1 - i / 5) * (H - m.t - m.b);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`, `<text x="${m.l - 6}" y="${yy + 4}" text-anchor="end">${esc((options.logScale ? 10 ** v : v).toPrecision(3))}</text>`);
  }
  const ticks = Math.min(n, 10);
  for (let i = 0; i < ticks; i++) {
    const e = Math.round((i * (n - 1)) / Math.max(1, ticks - 1));
    parts.push(`<text x="${x(e)}" y="${H - m.b + 16}" text-anchor="middle">${e + 1}</text>`);
  }
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" text-anchor="middle">epoch</text>`);
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#333"/>`);
  keys.forEach((k, j) => {
    const pts = (series[k] ?? []).map((v, i) => (Number.isFinite(v) ? `${x(i).toFixed(1)},${y(v).toFixed(1)}` : null)).filter(Boolean);
    const color = COLORS[j % COLORS.length];
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`);
    parts.push(`<line x1="${W - m.r + 12}" x2="${W - m.r + 32}" y1="${m.t + 10 + j * 18}" y2="${m.t + 10 + j * 18}" stroke="${color}" stroke-width="2"/>`, `<text x="${W - m.r + 38}" y="${m.t + 14 + j * 18}">${esc(k)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Writes historyToSvg() to `path`. */
export function saveHistoryPlot(history: History | Record<string, number[]>, path: string, options: Parameters<typeof historyToSvg>[1] = {}): void {
  fs.writeFileSync(path, historyToSvg(history, options));
}
