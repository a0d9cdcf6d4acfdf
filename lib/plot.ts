// History curves as a standalone SVG (no dependencies): one line per metric over the epochs.
import * as fs from 'node:fs';
import { describe } from './backend';
import type { History } from './models/sequential';
import { checkOptions } from './options';

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

export interface PlotOptions {
  keys?: string[];
  title?: string;
  width?: number;
  height?: number;
  logScale?: boolean;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The series to plot and the 0-based epoch of each point: a History's own `epoch` list (a resumed
 * run starts later than 0), or 0, 1, ... for a plain record.
 */
function seriesAndEpochs(fn: string, history: unknown): { series: Record<string, number[]>; epochs: number[] } {
  if (typeof history !== 'object' || history === null) throw new TypeError(`${fn}: argument 'history' must be a History or a record of number arrays, got ${describe(history)}`);
  const isHistory = 'history' in history && 'epoch' in history;
  const series = (isHistory ? (history as History).history : history) as Record<string, unknown>;
  for (const [k, v] of Object.entries(series)) {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw new TypeError(`${fn}: series '${k}' must be an array of numbers, got ${describe(v)}`);
  }
  const n = Math.max(1, ...Object.values(series).map((v) => (v as number[]).length));
  const epochs = isHistory ? [...(history as History).epoch] : Array.from({ length: n }, (_, i) => i);
  return { series: series as Record<string, number[]>, epochs };
}

/**
 * An SVG document plotting `keys` (default: every series but learning_rate) of a History or a plain
 * record of series. The x-axis is the epoch, numbered from 1 as Keras' progress output does, taken
 * from `history.epoch`: a run resumed at epoch index 10 is drawn over epochs 11, 12, ...
 */
export function historyToSvg(history: History | Record<string, number[]>, options: PlotOptions = {}): string {
  const fn = 'historyToSvg';
  checkOptions(fn, options, ['keys', 'title', 'width', 'height', 'logScale']);
  const { series, epochs } = seriesAndEpochs(fn, history);
  if (options.keys !== undefined && (!Array.isArray(options.keys) || !options.keys.every((k) => typeof k === 'string' && k in series))) {
    throw new TypeError(`${fn}: 'keys' must name series of the history (${Object.keys(series).join(', ')}), got ${describe(options.keys)}`);
  }
  for (const k of ['width', 'height'] as const) {
    if (options[k] !== undefined && !(Number.isInteger(options[k]) && options[k]! >= 200)) throw new TypeError(`${fn}: '${k}' must be an integer ≥ 200 (pixels), got ${describe(options[k])}`);
  }
  const keys = options.keys ?? Object.keys(series).filter((k) => k !== 'learning_rate');
  for (const k of keys) {
    if (series[k]!.length > epochs.length) throw new TypeError(`${fn}: series '${k}' has ${series[k]!.length} values for ${epochs.length} epochs; choose the series to plot with 'keys'`);
  }
  const W = options.width ?? 640, H = options.height ?? 400;
  const m = { l: 64, r: 150, t: 36, b: 44 };
  const tf = (v: number) => (options.logScale ? Math.log10(Math.max(v, 1e-12)) : v);
  const values = keys.flatMap((k) => (series[k] ?? []).filter(Number.isFinite).map(tf));
  let lo = values.length ? Math.min(...values) : 0, hi = values.length ? Math.max(...values) : 1;
  if (hi === lo) { hi += 1; lo -= 1; }
  const first = epochs.length ? Math.min(...epochs) : 0;
  const last = epochs.length ? Math.max(...epochs) : 0;
  const x = (epoch: number) => m.l + (last === first ? 0 : ((epoch - first) / (last - first)) * (W - m.l - m.r));
  const y = (v: number) => m.t + (1 - (tf(v) - lo) / (hi - lo)) * (H - m.t - m.b);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  if (options.title) parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(options.title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = lo + ((hi - lo) * i) / 5;
    const yy = m.t + (1 - i / 5) * (H - m.t - m.b);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`, `<text x="${m.l - 6}" y="${yy + 4}" text-anchor="end">${esc((options.logScale ? 10 ** v : v).toPrecision(3))}</text>`);
  }
  const ticks = Math.min(last - first + 1, 10);
  for (let i = 0; i < ticks; i++) {
    const e = first + Math.round((i * (last - first)) / Math.max(1, ticks - 1));
    parts.push(`<text x="${x(e)}" y="${H - m.b + 16}" text-anchor="middle">${e + 1}</text>`);
  }
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" text-anchor="middle">epoch</text>`);
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#333"/>`);
  keys.forEach((k, j) => {
    const pts = (series[k] ?? []).map((v, i) => (Number.isFinite(v) ? `${x(epochs[i]!).toFixed(1)},${y(v).toFixed(1)}` : null)).filter(Boolean);
    const color = COLORS[j % COLORS.length];
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`);
    parts.push(`<line x1="${W - m.r + 12}" x2="${W - m.r + 32}" y1="${m.t + 10 + j * 18}" y2="${m.t + 10 + j * 18}" stroke="${color}" stroke-width="2"/>`, `<text x="${W - m.r + 38}" y="${m.t + 14 + j * 18}">${esc(k)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Writes historyToSvg() to `path`. */
export function saveHistoryPlot(history: History | Record<string, number[]>, path: string, options: PlotOptions = {}): void {
  if (typeof path !== 'string' || !path) throw new TypeError(`saveHistoryPlot: argument 'path' must be a file path, got ${describe(path)}`);
  fs.writeFileSync(path, historyToSvg(history, options));
}
