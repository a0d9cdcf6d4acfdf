// What the benchmark scripts share: timing, medians, reproducible inputs, the machine's
// description and PyTorch's presence.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';

export type Cell = 'gru' | 'lstm' | 'rnn';

/** One benchmark shape of one cell. */
export interface Config {
  name: string;
  cell: Cell;
  batch: number;
  seqLen: number;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
}

/** The GRU shapes of the benchmarks (tiny: one step, where the calls' overhead shows). */
export const GRU_CONFIGS: Config[] = [
  { name: 'c1', cell: 'gru', batch: 32, seqLen: 50, inputSize: 32, hiddenSize: 128, numLayers: 1 },
  { name: 'c2', cell: 'gru', batch: 64, seqLen: 100, inputSize: 128, hiddenSize: 256, numLayers: 1 },
  { name: 'c3', cell: 'gru', batch: 64, seqLen: 100, inputSize: 256, hiddenSize: 512, numLayers: 2 },
  { name: 'tiny', cell: 'gru', batch: 32, seqLen: 1, inputSize: 20, hiddenSize: 20, numLayers: 1 },
];

export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// Warm-up before timing: two runs, and at least this long (the first thousand calls of a fast
// config run on V8's baseline code: a batch-1 predict took 0.6 ms for 50 ms, 0.12 once optimised).
// No cap on the repetitions within the time budget, so every config is timed for that long.
export const WARMUP_MS = 100;

export function timed(fn: () => void, budgetMs: number, minReps = 5, warmupMs = WARMUP_MS): number[] {
  for (let n = 0, t = performance.now(); n < 2 || performance.now() - t < warmupMs; n++) fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || performance.now() - start < budgetMs) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return times;
}

export async function timedAsync(fn: () => Promise<void>, budgetMs: number, minReps = 5, warmupMs = WARMUP_MS): Promise<number[]> {
  for (let n = 0, t = performance.now(); n < 2 || performance.now() - t < warmupMs; n++) await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || performance.now() - start < budgetMs) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return times;
}

/** n values uniform in [-scale, scale) from a linear congruential stream (the same for a seed). */
export function random(n: number, scale: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * scale;
  });
}

/** PyTorch's version, or null when python3 cannot import torch. */
export function torchAvailable(): string | null {
  const r = spawnSync('python3', ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export function cpuModel(): string {
  try {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line) return line.split(':')[1]!.trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

/** The CPU's AVX-512 and AMX flags (Linux), for the results file. */
export function cpuFlags(): string {
  try {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return line ? line.split(':')[1]!.trim().split(' ').filter((f) => /^(avx512|amx)/.test(f)).join(' ') : '';
  } catch {
    return '';
  }
}

export const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));

/** A results file's first lines: the date, the CPU (with its AVX-512/AMX flags) and the load average before and after each round. */
export function machineHeader(loadAvg: number[][]): string[] {
  const flags = cpuFlags();
  return [
    `- Date: ${new Date().toISOString()}`,
    `- CPU: ${cpuModel()}, ${os.cpus().length} logical cores visible${flags ? `; AVX-512/AMX flags: ${flags}` : ''}`,
    `- Load average (1 min) before and after each round: ${loadAvg.map((l) => l[0]!.toFixed(2)).join(', ')}`,
  ];
}
