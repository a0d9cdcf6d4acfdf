// Shared imports and helpers for the examples (run with tsx from the repository root).
import * as fs from 'node:fs';
import * as path from 'node:path';

export * from '../lib';
export { random } from '../lib/random';

/** Rows of a numeric CSV with a header line. */
export function readCsv(file: string): { header: string[]; rows: number[][] } {
  const lines = fs.readFileSync(path.join(__dirname, 'data', file), 'utf8').trim().split(/\r?\n/);
  return { header: lines[0]!.split(','), rows: lines.slice(1).map((l) => l.split(',').map(Number)) };
}

/**
 * Yearly sunspot numbers (1700-2008) as one-year-ahead windows: inputs `xs` are the previous
 * `window` years, targets `ys` the year after, both divided by `scale` (the series' maximum).
 * `split` windows train (the first 80%, chronologically), windows split…n-1 are the test years;
 * X(a, b) and Y(a, b) give windows a…b-1 as model inputs and targets; testErrors(p) the MAE and
 * RMSE of test-year forecasts p (scaled), naive the "same as last year" forecasts.
 */
export function sunspotWindows(window: number) {
  const series = readCsv('sunspots_yearly.csv').rows.map((r) => r[1]!);
  const scale = Math.max(...series);
  const xs: number[] = [], ys: number[] = [];
  for (let t = window; t < series.length; t++) {
    for (let k = t - window; k < t; k++) xs.push(series[k]! / scale);
    ys.push(series[t]! / scale);
  }
  const n = ys.length;
  const X = (a: number, b: number) => ({ data: Float32Array.from(xs.slice(a * window, b * window)), shape: [b - a, window, 1] });
  const Y = (a: number, b: number) => ({ data: Float32Array.from(ys.slice(a, b)), shape: [b - a, 1] });
  const split = Math.floor(n * 0.8);
  /** Test errors (in sunspot numbers) of forecasts `p` (scaled) against the test years. */
  const testErrors = (p: ArrayLike<number>): { mae: number; rmse: number } => {
    let abs = 0, sq = 0;
    for (let i = 0; i < n - split; i++) {
      const e = p[i]! * scale - ys[split + i]! * scale;
      abs += Math.abs(e);
      sq += e * e;
    }
    return { mae: abs / (n - split), rmse: Math.sqrt(sq / (n - split)) };
  };
  /** The naive forecast of the test years (scaled): the same as the year before. */
  const naive = Array.from({ length: n - split }, (_, i) => xs[(split + i) * window + window - 1]!);
  return { n, split, X, Y, testErrors, naive };
}

export const outputDir = path.join(__dirname, 'output');
