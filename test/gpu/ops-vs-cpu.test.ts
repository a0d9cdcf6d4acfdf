// `npm run test:gpu`: every tensor op (native/cuda/ops_cuda.cu) against the CPU kernels on fresh
// random inputs; FP32 maths, relative error <= 1e-5 (max|gpu − cpu| / max|cpu|). Dropout masks
// are compared by keep-rate, scaling and reproducibility; scatterAdd (atomicAdd on the GPU, so
// the order of additions varies) with a looser tolerance. Skips (saying why) when CUDA does not
// work here. `npm test` includes this file too.
import assert from 'node:assert/strict';
import { backendInfo, memory, ops, tensor, tidy, type DeviceName, type Tensor } from '../../lib';
import { rand } from '../io-helpers/reference';

const cuda = backendInfo().cuda;
const TOLERANCE = 1e-5;

function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length');
  let diff = 0;
  let mag = 1e-30;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) !== Number.isNaN(b[i])) return Infinity;
    if (Number.isNaN(b[i])) continue;
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    mag = Math.max(mag, Math.abs(b[i]));
  }
  return diff / mag;
}

/** Runs `f` on both devices (inside tidy) and compares every array it returns. */
function compare(what: string, f: (device: DeviceName) => ArrayLike<number>[], tolerance = TOLERANCE): void {
  const cpu = tidy(() => f('cpu'));
  const gpu = tidy(() => f('cuda'));
  assert.equal(gpu.length, cpu.length);
  cpu.forEach((c, i) => {
    const err = relativeError(gpu[i]!, c);
    assert.ok(err <= tolerance, `${what} [${i}]: relative error ${err.toExponential(2)} > ${tolerance}`);
  });
}

let seed = 1;
const fresh = (n: number, scale = 1) => rand(n, ++seed * 7919, scale);
const on = (device: DeviceName, data: Float32Array, shape: number[]): Tensor => tensor(data, shape, 'float32', { device });
const onInt = (device: DeviceName, data: Int32Array, shape: number[]): Tensor<'int32'> => tensor(data, shape, 'int32', { device });
const read = (t: Tensor): Float32Array => t.dataSync() as Float32Array;

const ACTIVATIONS: ops.ActivationName[] = ['linear', 'relu', 'sigmoid', 'tanh', 'elu', 'softmax', 'softplus', 'selu', 'exp', 'square', 'abs', 'gelu', 'swish', 'hardSigmoid', 'relu6'];
const LOSSES: ops.LossKind[] = [
  'meanSquaredError', 'meanAbsoluteError', 'binaryCrossentropy', 'binaryCrossentropyLogits', 'categoricalCrossentropy',
  'categoricalCrossentropyLogits', 'sparseCategoricalCrossentropy', 'sparseCategoricalCrossentropyLogits',
];

describe('GPU: tensor ops against the CPU kernels', function () {
  before(function () {
    if (!cuda.available) {
      console.log(`    (skipped: CUDA is not available: ${cuda.reason})`);
      this.skip();
    }
  });

  let baseline = 0;
  beforeEach(() => {
    baseline = memory().numTensors;
  });
  afterEach(() => assert.equal(memory().numTensors, baseline, 'tensor leak'));

  for (const [m, n, k] of [[3, 5, 4], [37, 53, 29], [128, 257, 300], [1, 1000, 64]] as const) {
    it(`gemm ${m}×${n}×${k}, every transpose, alpha and beta`, () => {
      const a = fresh(m * k), b = fresh(k * n), c = fresh(m * n);
      compare(`gemm ${m}×${n}×${k}`, (d) => {
        const out: Float32Array[] = [];
        for (const ta of [false, true]) {
          for (const tb of [false, true]) {
            const A = on(d, a, ta ? [k, m] : [m, k]), B = on(d, b, tb ? [n, k] : [k, n]);
            out.push(read(ops.matMul(A, B, ta, tb)));
            out.push(read(ops.gemm_(on(d, c, [m, n]), A, B, ta, tb, 0.5, 0.75)));
          }
        }
        return out;
      });
    });
  }

  it('biasAdd and columnSums (with beta), small and tall', () => {
    for (const [rows, cols] of [[3, 5], [1000, 37], [7, 3000]]) {
      const x = fresh(rows * cols), b = fresh(cols), acc = fresh(cols);
      compare(`bias/colsum ${rows}×${cols}`, (d) => [
        read(ops.biasAdd(on(d, x, [rows, cols]), on(d, b, [cols]))),
        read(ops.columnSums(on(d, x, [rows, cols]))),
        read(ops.columnSums(on(d, x, [rows, cols]), on(d, acc, [cols]), 0.5)),
      ]);
    }
  });

  for (const kind of ACTIVATIONS) {
    it(`activation ${kind}: value and gradient (beta 0 and 1)`, () => {
      for (const cols of [7, 300, 2049]) {
        const rows = 11, x = fresh(rows * cols, 3), dy = fresh(rows * cols), acc = fresh(rows * cols);
        compare(`${kind} cols ${cols}`, (d) => {
          const xt = on(d, x, [rows, cols]);
          const y = ops.activation(kind, xt);
          return [
            read(y),
            read(ops.activationGrad(kind, xt, y, on(d, dy, [rows, cols]))),
            read(ops.activationGrad(kind, xt, y, on(d, dy, [rows, cols]), on(d, acc, [rows, cols]), 1)),
          ];
        });
      }
    });
  }

  it('binary ops, scale, axpy, fill', () => {
    const n = 10007, a = fresh(n, 3), b = fresh(n, 3);
    compare('binary', (d) => {
      const A = on(d, a, [n]), B = on(d, b, [n]);
      return [
        read(ops.add(A, B)), read(ops.sub(A, B)), read(ops.mul(A, B)), read(ops.div(A, B)),
        read(ops.maximum(A, B)), read(ops.minimum(A, B)), read(ops.scale(A, -1.5)), read(ops.scale(A, 0)),
        read(ops.axpy_(on(d, b, [n]), 0.3, A)), read(ops.fill_(on(d, a, [n]), 2.5)),
      ];
    });
  });

  it('column slices, writes with beta, concatenation, rows', () => {
    const rows = 33, cols = 40, x = fresh(rows * cols), y = fresh(rows * 9);
    compare('columns', (d) => {
      const X = on(d, x, [rows, cols]);
      return [
        read(ops.sliceLast(X, 5, 9)),
        read(ops.writeLast_(on(d, x, [rows, cols]), on(d, y, [rows, 9]), 30, 0)),
        read(ops.writeLast_(on(d, x, [rows, cols]), on(d, y, [rows, 9]), 2, 0.5)),
        read(ops.concatLast([ops.sliceLast(X, 0, 3), ops.sliceLast(X, 10, 20)])),
        read(ops.sliceFirst(X, 4, 10)),
      ];
    });
  });

  it('reverseTime with and without lengths', () => {
    const B = 6, T = 9, F = 13, x = fresh(B * T * F);
    const lengths = Int32Array.from([9, 0, 1, 5, 8, 2]);
    compare('reverseTime', (d) => [read(ops.reverseTime(on(d, x, [B, T, F]))), read(ops.reverseTime(on(d, x, [B, T, F]), lengths))]);
  });

  for (const kind of LOSSES) {
    it(`loss ${kind}: value and gradient, with and without row weights`, () => {
      for (const [rows, cols] of [[5, 4], [300, 3], [17, 1000], [1, 1]]) {
        const sparse = kind.startsWith('sparse');
        const probs = kind === 'binaryCrossentropy' || kind === 'categoricalCrossentropy' || kind === 'sparseCategoricalCrossentropy';
        const p = probs ? Float32Array.from(fresh(rows * cols), (v) => 0.5 + 0.49 * v) : fresh(rows * cols, 4);
        const targetData = kind.startsWith('binary')
          ? Float32Array.from(fresh(rows * cols), (v) => (v > 0 ? 1 : 0))
          : kind.startsWith('categorical')
            ? Float32Array.from({ length: rows * cols }, (_, i) => (i % cols === (Math.floor(i / cols) * 7) % cols ? 1 : 0))
            : fresh(rows * cols);
        const labels = Int32Array.from({ length: rows }, (_, r) => (r * 5) % cols);
        const w = Float32Array.from(fresh(rows), (v) => (v > 0.5 ? 0 : 1 + v));
        compare(`${kind} ${rows}×${cols}`, (d) => {
          const pred = on(d, p, [rows, cols]);
          const target = sparse ? onInt(d, labels, [rows]) : on(d, targetData, [rows, cols]);
          const out = ops.empty([3], d);
          const g1 = ops.lossAndGrad(kind, pred, target, out, 0)!;
          const g2 = ops.lossAndGrad(kind, pred, target, out, 1, true, on(d, w, [rows]))!;
          ops.lossAndGrad(kind, pred, target, out, 2, false);
          return [read(out), read(g1), read(g2)];
        });
      }
    });
  }

  it('accuracy metrics, with and without row weights', () => {
    for (const [rows, cols] of [[9, 1], [300, 5], [4, 700]]) {
      const p = fresh(rows * cols), tb = Float32Array.from(fresh(rows * cols), (v) => (v > 0 ? 1 : 0));
      const onehot = Float32Array.from({ length: rows * cols }, (_, i) => (i % cols === (Math.floor(i / cols) * 3) % cols ? 1 : 0));
      const labels = Int32Array.from({ length: rows }, (_, r) => (r * 3) % cols);
      const w = Float32Array.from(fresh(rows), (v) => (v > 0.5 ? 0 : 1 + v));
      compare(`metrics ${rows}×${cols}`, (d) => {
        const out = ops.empty([6], d);
        const P = on(d, p, [rows, cols]);
        ops.metricInto('binaryAccuracy', P, on(d, tb, [rows, cols]), out, 0, 0.1);
        ops.metricInto('categoricalAccuracy', P, on(d, onehot, [rows, cols]), out, 1);
        ops.metricInto('sparseCategoricalAccuracy', P, onInt(d, labels, [rows]), out, 2);
        ops.metricInto('binaryAccuracy', P, on(d, tb, [rows, cols]), out, 3, 0.5, on(d, w, [rows]));
        ops.metricInto('categoricalAccuracy', P, on(d, onehot, [rows, cols]), out, 4, 0.5, on(d, w, [rows]));
        ops.metricInto('sparseCategoricalAccuracy', P, onInt(d, labels, [rows]), out, 5, 0.5, on(d, w, [rows]));
        return [read(out)];
      });
    }
  });

  it('optimizer updates (SGD, momentum, Nesterov, Adam/AdamW, RMSprop ± momentum), three steps', () => {
    const n = 4099, p0 = fresh(n), g = fresh(n, 0.1);
    compare('optimizers', (d) => {
      const results: Float32Array[] = [];
      const G = on(d, g, [n]);
      const sgd = on(d, p0, [n]);
      const mom = on(d, p0, [n]), vel = ops.empty([n], d);
      const nes = on(d, p0, [n]), vel2 = ops.empty([n], d);
      const adam = on(d, p0, [n]), m = ops.empty([n], d), v = ops.empty([n], d);
      const adamw = on(d, p0, [n]), m2 = ops.empty([n], d), v2 = ops.empty([n], d);
      const rms = on(d, p0, [n]), ms = ops.empty([n], d);
      const rmsm = on(d, p0, [n]), ms2 = ops.empty([n], d), mo = ops.empty([n], d);
      for (let s = 1; s <= 3; s++) {
        ops.sgdUpdate_(sgd, G, null, 0.1);
        ops.sgdUpdate_(mom, G, vel, 0.1, 0.9, false);
        ops.sgdUpdate_(nes, G, vel2, 0.1, 0.9, true);
        const alpha = (0.01 * Math.sqrt(1 - 0.999 ** s)) / (1 - 0.9 ** s);
        ops.adamUpdate_(adam, G, m, v, alpha, 0.01, 0.9, 0.999, 1e-7);
        ops.adamUpdate_(adamw, G, m2, v2, alpha, 0.01, 0.9, 0.999, 1e-7, 0.004);
        ops.rmspropUpdate_(rms, G, ms, null, 0.01, 0.9, 0, 1e-7);
        ops.rmspropUpdate_(rmsm, G, ms2, mo, 0.01, 0.9, 0.5, 1e-7);
      }
      for (const t of [sgd, mom, vel, nes, adam, m, v, adamw, rms, ms, rmsm, mo]) results.push(read(t));
      return results;
    });
  });

  it('clipping by value, by norm and by global norm', () => {
    const sizes = [5, 1000, 70000, 1];
    const data = sizes.map((s) => fresh(s, 2));
    for (const global of [false, true]) {
      for (const maxNorm of [0.5, 1e6]) {
        compare(`clipNorm global=${global} maxNorm=${maxNorm}`, (d) => {
          const xs = data.map((x, i) => on(d, x, [sizes[i]!]));
          ops.clipNorm_(xs, maxNorm, global);
          return xs.map(read);
        });
      }
    }
    compare('clipValue', (d) => [read(ops.clipValue_(on(d, data[2]!, [sizes[2]!]), -0.7, 0.3))]);
  });

  it('dropout masks: keep-rate, inverted scaling, reproducible for a seed', () => {
    const n = 200_000;
    for (const rate of [0.1, 0.5, 0.9]) {
      const a = tidy(() => read(ops.dropoutMask([n], rate, 42, 'cuda')));
      const b = tidy(() => read(ops.dropoutMask([n], rate, 42, 'cuda')));
      const c = tidy(() => read(ops.dropoutMask([n], rate, 43, 'cuda')));
      assert.deepEqual(a, b, 'same seed, same mask');
      assert.notDeepEqual(a, c, 'another seed, another mask');
      const dropped = a.filter((v) => v === 0).length / n;
      assert.ok(Math.abs(dropped - rate) < 0.01, `rate ${rate}: dropped ${dropped}`);
      const keep = Math.fround(1 / Math.fround(1 - Math.fround(rate)));
      assert.ok(a.every((v) => v === 0 || v === keep), 'kept entries are 1 / (1 − rate)');
      // The CUDA kernel uses the CPU's hash (splitmix64 of seed and index), so the masks agree.
      const cpu = tidy(() => read(ops.dropoutMask([n], rate, 42, 'cpu')));
      assert.deepEqual(a, cpu, 'same mask as the CPU');
    }
  });

  it('gather, scatterAdd (repeated indices; atomics, so a tolerance) and firstNonFinite', () => {
    const vocab = 50, dim = 33, count = 2000;
    const table = fresh(vocab * dim), dOut = fresh(count * dim);
    const idx = Int32Array.from({ length: count }, (_, i) => (i * 17 + (i >> 3)) % vocab);
    compare('gather', (d) => [read(ops.gather(on(d, table, [vocab, dim]), onInt(d, idx, [count])))]);
    compare('scatterAdd', (d) => [read(ops.scatterAdd_(ops.empty([vocab, dim], d), onInt(d, idx, [count]), on(d, dOut, [count, dim])))], 1e-4);
    for (const at of [-1, 0, 12345, 99_999]) {
      const x = fresh(100_000);
      if (at >= 0) x[at] = at % 2 ? Infinity : NaN;
      if (at >= 0 && at < 99_000) x[99_000] = NaN; // a later one must not win
      const found = tidy(() => ops.firstNonFinite(on('cuda', x, [x.length])));
      assert.equal(found, at);
    }
  });
});
