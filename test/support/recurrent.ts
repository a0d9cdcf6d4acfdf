// Test support for the recurrent ops (ops.gru, ops.lstm, ops.rnn): a float64 reference of every cell
// written here from the equations (independent of the engine), central differences on it,
// PyTorch fixture loading and tolerance checks.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ops, tensor, type DeviceName, type Tensor } from '../../lib';

export type Mode = 'gru' | 'lstm' | 'rnn_tanh' | 'rnn_relu';
export const GATES: Record<Mode, number> = { gru: 3, lstm: 4, rnn_tanh: 1, rnn_relu: 1 };

// ------------------------------------------------------------------ checks

/** max|a − b| / max(max|b|, 1e-3): the error relative to the reference's scale. */
export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length, 'length');
  let diff = 0;
  let scale = 1e-3;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return Number.isNaN(diff) ? Infinity : diff / scale;
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  const e = relError(actual, expected);
  assert.ok(e <= tol, `${what}: relative error ${e.toExponential(2)} > ${tol}`);
}

/** Deterministic uniform numbers in [-scale, scale) (xorshift32). */
export function rng(seed: number): (scale?: number) => number {
  let s = seed >>> 0 || 1;
  return (scale = 1) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return ((s / 4294967296) * 2 - 1) * scale;
  };
}

/** Disposes every tensor (or object with dispose) found in the arguments, recursively. */
export function disposeAll(...items: unknown[]): void {
  for (const item of items) {
    if (!item) continue;
    if (typeof (item as Tensor).dispose === 'function') (item as Tensor).dispose();
    else if (typeof item === 'object') disposeAll(...Object.values(item as object));
  }
}

// ------------------------------------------------------------------ PyTorch fixtures

export interface FixtureTensor {
  shape: number[];
  data: number[];
}

/** What gen_rnn_fixtures.py writes; the c fields are the LSTM's. */
export interface Fixture {
  name: string;
  mode: Mode;
  config: { inputSize: number; hiddenSize: number; numLayers: number; bidirectional: boolean; batch: number; seqLen: number };
  h0Given: boolean;
  lengths: number[] | null;
  x: FixtureTensor;
  h0: FixtureTensor;
  c0?: FixtureTensor;
  params: Record<string, FixtureTensor>;
  dy: FixtureTensor;
  dhN: FixtureTensor;
  dcN?: FixtureTensor;
  y: FixtureTensor;
  hN: FixtureTensor;
  cN?: FixtureTensor;
  dx: FixtureTensor;
  dh0: FixtureTensor;
  dc0?: FixtureTensor;
  dParams: Record<string, FixtureTensor>;
}

/** The fixtures under test/fixtures/<folder>; `mode` for files that do not say (the GRU's). */
export function loadFixtures(folder: string, mode?: Mode): Fixture[] {
  const dir = path.join(__dirname, '..', 'fixtures', folder);
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ mode, ...JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) }) as Fixture);
}

export function fixtureTensor(ft: FixtureTensor, device: DeviceName): Tensor {
  return tensor(Float32Array.from(ft.data), ft.shape, 'float32', { device });
}

// ------------------------------------------------------------------ float64 reference

export interface RefProblem {
  mode: Mode;
  I: number;
  H: number;
  L: number;
  D: number;
  B: number;
  T: number;
  lengths: number[] | null;
  x: Float64Array;
  h0: Float64Array | null;
  c0: Float64Array | null;
  params: Record<string, Float64Array>;
  dy: Float64Array;
  dhN: Float64Array;
  dcN: Float64Array;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/**
 * One step of one sample from gi = W_ih x + b_ih and gh = W_hh h + b_hh (G·H each; only the GRU
 * needs them apart), h and c updated in place.
 */
function cellStep(mode: Mode, H: number, gi: Float64Array, gh: Float64Array, h: Float64Array, c: Float64Array): void {
  for (let j = 0; j < H; j++) {
    if (mode === 'gru') {
      const r = sigmoid(gi[j]! + gh[j]!);
      const z = sigmoid(gi[H + j]! + gh[H + j]!);
      const n = Math.tanh(gi[2 * H + j]! + r * gh[2 * H + j]!);
      h[j] = (1 - z) * n + z * h[j]!;
    } else if (mode === 'lstm') {
      const i = sigmoid(gi[j]! + gh[j]!);
      const f = sigmoid(gi[H + j]! + gh[H + j]!);
      const g = Math.tanh(gi[2 * H + j]! + gh[2 * H + j]!);
      const o = sigmoid(gi[3 * H + j]! + gh[3 * H + j]!);
      c[j] = f * c[j]! + i * g;
      h[j] = o * Math.tanh(c[j]!);
    } else {
      const a = gi[j]! + gh[j]!;
      h[j] = mode === 'rnn_tanh' ? Math.tanh(a) : Math.max(0, a);
    }
  }
}

/** y [B,T,D·H], hN and cN [L·D,B,H] in float64, with the variable-length semantics of core/gru.h. */
export function refForward(p: RefProblem): { y: Float64Array; hN: Float64Array; cN: Float64Array } {
  const { I, H, L, D, B, T } = p;
  const G = GATES[p.mode];
  let input = p.x;
  let inSize = I;
  const hN = new Float64Array(L * D * B * H);
  const cN = new Float64Array(L * D * B * H);
  let y = new Float64Array(0);
  for (let l = 0; l < L; l++) {
    y = new Float64Array(B * T * D * H);
    for (let d = 0; d < D; d++) {
      const sfx = `_l${l}${d ? '_reverse' : ''}`;
      const wih = p.params[`weight_ih${sfx}`]!;
      const whh = p.params[`weight_hh${sfx}`]!;
      const bih = p.params[`bias_ih${sfx}`]!;
      const bhh = p.params[`bias_hh${sfx}`]!;
      const slot = l * D + d;
      for (let b = 0; b < B; b++) {
        const len = p.lengths ? p.lengths[b]! : T;
        const at = (slot * B + b) * H;
        const h = p.h0 ? p.h0.slice(at, at + H) : new Float64Array(H);
        const c = p.c0 ? p.c0.slice(at, at + H) : new Float64Array(H);
        for (let s = 0; s < len; s++) {
          const t = d === 0 ? s : len - 1 - s;
          const xr = (b * T + t) * inSize;
          const gi = new Float64Array(G * H);
          const gh = new Float64Array(G * H);
          for (let g = 0; g < G * H; g++) {
            let a = bih[g]!;
            for (let k = 0; k < inSize; k++) a += wih[g * inSize + k]! * input[xr + k]!;
            gi[g] = a;
            let b2 = bhh[g]!;
            for (let k = 0; k < H; k++) b2 += whh[g * H + k]! * h[k]!;
            gh[g] = b2;
          }
          cellStep(p.mode, H, gi, gh, h, c);
          y.set(h, (b * T + t) * D * H + d * H);
        }
        hN.set(h, at);
        cN.set(c, at);
      }
    }
    input = y;
    inSize = D * H;
  }
  return { y, hN, cN };
}

function refLoss(p: RefProblem): number {
  const { y, hN, cN } = refForward(p);
  let loss = 0;
  for (let i = 0; i < y.length; i++) loss += y[i]! * p.dy[i]!;
  for (let i = 0; i < hN.length; i++) loss += hN[i]! * p.dhN[i]!;
  if (p.mode === 'lstm') for (let i = 0; i < cN.length; i++) loss += cN[i]! * p.dcN[i]!;
  return loss;
}

/** Central differences of the reference loss with respect to every entry of `v` (modified in place, restored). */
export function numericGrad(p: RefProblem, v: Float64Array, eps = 1e-6): Float64Array {
  const g = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const orig = v[i]!;
    v[i] = orig + eps;
    const plus = refLoss(p);
    v[i] = orig - eps;
    const minus = refLoss(p);
    v[i] = orig;
    g[i] = (plus - minus) / (2 * eps);
  }
  return g;
}

export interface ProblemShape {
  I: number;
  H: number;
  L: number;
  bidirectional: boolean;
  B: number;
  T: number;
  lengths?: number[];
  h0: boolean;
  /** Parameters uniform in [-paramScale, paramScale); default 0.6. */
  paramScale?: number;
}

/** A random problem whose values are float32-exact, so the engine and the reference see the same inputs. */
export function randomProblem(mode: Mode, seed: number, o: ProblemShape, paramShapes: Record<string, number[]>): RefProblem {
  const r = rng(seed);
  const f32 = (n: number, scale: number) => Float64Array.from(Float32Array.from({ length: n }, () => r(scale)));
  const D = o.bidirectional ? 2 : 1;
  const params: Record<string, Float64Array> = {};
  for (const [name, shape] of Object.entries(paramShapes)) params[name] = f32(shape.reduce((a, b) => a * b, 1), o.paramScale ?? 0.6);
  const stateSize = o.L * D * o.B * o.H;
  return {
    mode,
    I: o.I,
    H: o.H,
    L: o.L,
    D,
    B: o.B,
    T: o.T,
    lengths: o.lengths ?? null,
    x: f32(o.B * o.T * o.I, 1),
    h0: o.h0 ? f32(stateSize, 0.8) : null,
    c0: o.h0 && mode === 'lstm' ? f32(stateSize, 0.8) : null,
    params,
    dy: f32(o.B * o.T * D * o.H, 1),
    dhN: f32(stateSize, 1),
    dcN: f32(stateSize, 1),
  };
}

export interface EngineInputs {
  x: Tensor;
  h0?: Tensor;
  c0?: Tensor;
  params: Record<string, Tensor>;
  dy: Tensor;
  dhN: Tensor;
  dcN: Tensor;
}

/** The problem's values as float32 tensors on `device`. */
export function toEngine(p: RefProblem, device: DeviceName): EngineInputs {
  const t = (v: Float64Array, shape: number[]) => tensor(Float32Array.from(v), shape, 'float32', { device });
  const G = GATES[p.mode];
  const params: Record<string, Tensor> = {};
  for (const [name, v] of Object.entries(p.params)) {
    const layer = Number(/_l(\d+)/.exec(name)![1]);
    const inSize = layer === 0 ? p.I : p.D * p.H;
    params[name] = t(v, name.startsWith('weight_ih') ? [G * p.H, inSize] : name.startsWith('weight_hh') ? [G * p.H, p.H] : [G * p.H]);
  }
  const state = [p.L * p.D, p.B, p.H];
  return {
    x: t(p.x, [p.B, p.T, p.I]),
    ...(p.h0 ? { h0: t(p.h0, state) } : {}),
    ...(p.c0 ? { c0: t(p.c0, state) } : {}),
    params,
    dy: t(p.dy, [p.B, p.T, p.D * p.H]),
    dhN: t(p.dhN, state),
    dcN: t(p.dcN, state),
  };
}

// ------------------------------------------------------------------ shared suites

/** What one op call returns, whichever op it is (cN, dc0: the LSTM's). */
interface AnyResult {
  output: Tensor;
  hN: Tensor;
  cN?: Tensor;
  state?: { bytes: number; isDisposed: boolean; dispose(): void };
  backward(dOutput?: Tensor | null, dhN?: Tensor | null, dcN?: Tensor | null): { dx: Tensor; dh0: Tensor; dc0?: Tensor; dParams: Record<string, Tensor> };
}

/** Calls the op of `mode` (ops.gru, ops.lstm, or ops.rnn with its activation). */
export function runMode(mode: Mode, x: Tensor, params: Record<string, Tensor>, options: Record<string, unknown>): AnyResult {
  if (mode === 'gru') return ops.gru(x, params, options) as AnyResult;
  if (mode === 'lstm') return ops.lstm(x, params, options) as AnyResult;
  return ops.rnn(x, params, { ...options, activation: mode === 'rnn_tanh' ? 'tanh' : 'relu' }) as AnyResult;
}

/** PyTorch fixtures of these modes: outputs and every gradient within 1e-5 relative. */
export function describeFixtures(fixtures: Fixture[], device: DeviceName): void {
  describe('PyTorch fixtures (outputs and every gradient, relative error <= 1e-5)', () => {
    for (const fx of fixtures) {
      it(fx.name, () => {
        const c = fx.config;
        const lstm = fx.mode === 'lstm';
        const t = (ft: FixtureTensor) => fixtureTensor(ft, device);
        const params: Record<string, Tensor> = {};
        for (const [k, v] of Object.entries(fx.params)) params[k] = t(v);
        const x = t(fx.x);
        const h0 = fx.h0Given ? t(fx.h0) : undefined;
        const c0 = fx.h0Given && lstm ? t(fx.c0!) : undefined;
        const dy = t(fx.dy);
        const dhN = t(fx.dhN);
        const dcN = lstm ? t(fx.dcN!) : null;
        const opts = { hiddenSize: c.hiddenSize, numLayers: c.numLayers, bidirectional: c.bidirectional, h0, lengths: fx.lengths ?? undefined, ...(lstm ? { c0 } : {}) };
        const inference = runMode(fx.mode, x, params, opts);
        const train = runMode(fx.mode, x, params, { ...opts, training: true });
        assertClose(inference.output.dataSync(), fx.y.data, 1e-5, 'y (inference)');
        assertClose(inference.hN.dataSync(), fx.hN.data, 1e-5, 'hN (inference)');
        if (lstm) assertClose(inference.cN!.dataSync(), fx.cN!.data, 1e-5, 'cN (inference)');
        else assert.equal(inference.cN, undefined, 'no cell state');
        assert.deepEqual(train.output.dataSync(), inference.output.dataSync(), 'training forward == inference forward');
        assert.deepEqual(train.hN.dataSync(), inference.hN.dataSync());
        assert.deepEqual(train.output.shape, [c.batch, c.seqLen, (c.bidirectional ? 2 : 1) * c.hiddenSize]);
        const g = train.backward(dy, dhN, dcN);
        assertClose(g.dx.dataSync(), fx.dx.data, 1e-5, 'dx');
        assertClose(g.dh0.dataSync(), fx.dh0.data, 1e-5, 'dh0');
        if (lstm) assertClose(g.dc0!.dataSync(), fx.dc0!.data, 1e-5, 'dc0');
        assert.deepEqual(Object.keys(g.dParams), Object.keys(fx.dParams));
        for (const [k, v] of Object.entries(fx.dParams)) {
          assert.deepEqual(g.dParams[k]!.shape, v.shape, `${k} shape`);
          assertClose(g.dParams[k]!.dataSync(), v.data, 1e-5, `d${k}`);
        }
        if (fx.lengths) {
          const y = inference.output.dataSync();
          const dx = g.dx.dataSync();
          const DH = (c.bidirectional ? 2 : 1) * c.hiddenSize;
          fx.lengths.forEach((len, b) => {
            for (let tt = len; tt < c.seqLen; tt++) {
              for (let j = 0; j < DH; j++) assert.equal(y[(b * c.seqLen + tt) * DH + j], 0, 'padded output');
              for (let j = 0; j < c.inputSize; j++) assert.equal(dx[(b * c.seqLen + tt) * c.inputSize + j], 0, 'padded dx');
            }
          });
        }
        disposeAll(inference, train, g, params, x, h0, c0, dy, dhN, dcN);
      });
    }
  });
}

/** Engine vs the float64 reference (forward) and its central differences (every gradient). */
export function describeFiniteDifferences(mode: Mode, cases: (ProblemShape & { name: string })[], paramShapes: (o: ProblemShape) => Record<string, number[]>, device: DeviceName): void {
  describe(`finite differences against a float64 reference (${mode})`, () => {
    cases.forEach((cs, i) => {
      it(cs.name, () => {
        const p = randomProblem(mode, 2000 + 31 * i, cs, paramShapes(cs));
        const e = toEngine(p, device);
        const res = runMode(mode, e.x, e.params, { hiddenSize: cs.H, numLayers: cs.L, bidirectional: cs.bidirectional, h0: e.h0, lengths: cs.lengths, training: true, ...(mode === 'lstm' ? { c0: e.c0 } : {}) });
        const ref = refForward(p);
        assertClose(res.output.dataSync(), ref.y, 1e-5, 'y vs float64 reference');
        assertClose(res.hN.dataSync(), ref.hN, 1e-5, 'hN vs float64 reference');
        if (mode === 'lstm') assertClose(res.cN!.dataSync(), ref.cN, 1e-5, 'cN vs float64 reference');
        const g = res.backward(e.dy, e.dhN, mode === 'lstm' ? e.dcN : null);
        assertClose(g.dx.dataSync(), numericGrad(p, p.x), 1e-5, 'dx vs central differences');
        if (p.h0) assertClose(g.dh0.dataSync(), numericGrad(p, p.h0), 1e-5, 'dh0 vs central differences');
        if (p.c0) assertClose(g.dc0!.dataSync(), numericGrad(p, p.c0), 1e-5, 'dc0 vs central differences');
        for (const name of Object.keys(p.params)) {
          assertClose(g.dParams[name]!.dataSync(), numericGrad(p, p.params[name]!), 1e-5, `d${name} vs central differences`);
        }
        disposeAll(res, g, e);
      });
    });
  });
}

/**
 * The gradient of layer 1's W_ih through the dropout masks, against central differences on the
 * float32 engine itself (same seed, so the same masks): layer 1 reads x1 = mask·y0/(1−p).
 */
export function itDropoutGradient(mode: Mode, paramShapes: (o: ProblemShape) => Record<string, number[]>, device: DeviceName): void {
  it('backward matches finite differences through the dropout masks (same seed, same masks)', () => {
    const o = { I: 3, H: 4, L: 2, bidirectional: false, B: 2, T: 3, h0: true };
    const q = randomProblem(mode, 9, o, paramShapes(o));
    const e = toEngine(q, device);
    const lstm = mode === 'lstm';
    const opts = { hiddenSize: 4, numLayers: 2, h0: e.h0, training: true, dropout: 0.3, seed: 11, ...(lstm ? { c0: e.c0 } : {}) };
    const dot = (t: Tensor | undefined, v: Float64Array) => {
      let s = 0;
      if (t) t.dataSync().forEach((x: number, i: number) => (s += x * v[i]!));
      return s;
    };
    const loss = (res: AnyResult) => dot(res.output, q.dy) + dot(res.hN, q.dhN) + dot(res.cN, q.dcN);
    const res = runMode(mode, e.x, e.params, opts);
    const g = res.backward(e.dy, e.dhN, lstm ? e.dcN : null);
    // float32 needs a large step and a loose tolerance.
    const w = e.params.weight_ih_l1!;
    const wData = w.dataSync();
    const analytic = g.dParams.weight_ih_l1!.dataSync();
    const eps = 1e-2;
    let worst = 0;
    let scale = 1e-3;
    for (let i = 0; i < wData.length; i++) {
      const run = (delta: number) => {
        const mod = Float32Array.from(wData);
        mod[i] = wData[i]! + delta;
        const wt = tensor(mod, w.shape, 'float32', { device });
        // The training forward (inference would skip dropout).
        const rt = runMode(mode, e.x, { ...e.params, weight_ih_l1: wt }, opts);
        const l = loss(rt);
        disposeAll(rt, wt);
        return l;
      };
      const numeric = (run(eps) - run(-eps)) / (2 * eps);
      worst = Math.max(worst, Math.abs(numeric - analytic[i]!));
      scale = Math.max(scale, Math.abs(analytic[i]!));
    }
    assert.ok(worst / scale < 2e-3, `dW_ih_l1 with dropout vs central differences: ${worst / scale}`);
    disposeAll(res, g, e);
  });
}
