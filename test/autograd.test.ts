// The op-level gradient tape (lib/ops/tape.ts, lib/autograd.ts): each differentiable op's value
// against a float64 re-implementation and its backward against central differences of that
// float64 reference; the new kernels (reduceSum, broadcast binary) and the tape's refusals.
import assert from 'node:assert/strict';
import { memory, ops, tensor, tidy, type Tensor } from '../lib';
import { valueAndGrad } from '../lib/autograd';
import { native } from '../lib/native';
import { rand } from './io-helpers/reference';
import { testDevices } from './support/devices';

type F64 = (x: Float64Array) => Float64Array;
const map = (f: (v: number) => number): F64 => (x) => x.map(f);
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** x in (lo, hi) at least `gap` away from each of `kinks` (so central differences see a smooth function). */
function inputs(n: number, seed: number, lo: number, hi: number, kinks: number[] = [], gap = 0.05): Float32Array {
  return rand(n, seed, 1).map((u) => {
    let v = lo + ((u + 1) / 2) * (hi - lo);
    for (const k of kinks) if (Math.abs(v - k) < gap) v = k + (v < k ? -gap : gap);
    return v;
  });
}

for (const device of testDevices) {
  describe(`gradient tape on ${device} (float64 references, central differences)`, () => {
    const t = (data: Float32Array | number[], shape: number[]): Tensor => tensor(Float32Array.from(data), shape, 'float32', { device });
    let before: number;
    beforeEach(() => {
      before = memory().numTensors;
    });
    afterEach(() => assert.equal(memory().numTensors, before, 'tensor leak'));

    /**
     * f built from ops, and ref its float64 re-implementation (same output shape, flattened): the
     * value of Σ r ∘ f(x) and its gradient against central differences of Σ r ∘ ref(x).
     */
    function check(what: string, shape: number[], x0: Float32Array, f: (x: Tensor) => Tensor, ref: F64, tol = 2e-4): void {
      tidy(() => {
        const x = t(x0, shape);
        const y = f(x);
        const r = rand(y.size, 99, 1).map((v) => v + 1.5); // weights keep every output's gradient distinct
        const { value, grad } = valueAndGrad('test', what, (p) => ops.sum(ops.mul(f(p), t(r, [...y.shape]))), x);
        const weighted = (v: Float64Array) => ref(v).reduce((s, e, i) => s + e * r[i]!, 0);
        const x64 = Float64Array.from(x0);
        const want = ref(x64);
        assert.equal(want.length, y.size, `${what}: reference size`);
        y.dataSync().forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= 1e-5 * Math.max(1, Math.abs(want[i]!)), `${what} value[${i}]: ${v} vs ${want[i]}`));
        assert.deepEqual(value.shape, []);
        assert.ok(Math.abs(value.dataSync()[0]! - weighted(x64)) <= 1e-5 * Math.max(1, Math.abs(weighted(x64))), `${what}: Σ value`);
        assert.deepEqual(grad.shape, shape);
        const g = grad.dataSync();
        const h = 1e-6;
        for (let i = 0; i < x0.length; i++) {
          const plus = x64.slice(), minus = x64.slice();
          plus[i] += h;
          minus[i] -= h;
          const fd = (weighted(plus) - weighted(minus)) / (2 * h);
          assert.ok(Math.abs(g[i]! - fd) <= tol * Math.max(1, Math.abs(fd)), `${what} grad[${i}]: tape ${g[i]} vs finite difference ${fd}`);
        }
      });
    }

    const shape = [3, 4];
    const n = 12;
    const other = inputs(n, 7, 0.5, 2); // a positive constant operand
    const c = Float64Array.from(other);

    it('add, sub, mul, div with a constant tensor on either side, a number, or x itself', () => {
      const x0 = inputs(n, 1, -2, 2);
      const k = (x: Tensor) => t(other, shape);
      check('add(x, c)', shape, x0, (x) => ops.add(x, k(x)), (x) => x.map((v, i) => v + c[i]!));
      check('add(c, x)', shape, x0, (x) => ops.add(k(x), x), (x) => x.map((v, i) => c[i]! + v));
      check('sub(x, c)', shape, x0, (x) => ops.sub(x, k(x)), (x) => x.map((v, i) => v - c[i]!));
      check('sub(c, x)', shape, x0, (x) => ops.sub(k(x), x), (x) => x.map((v, i) => c[i]! - v));
      check('mul(x, c)', shape, x0, (x) => ops.mul(x, k(x)), (x) => x.map((v, i) => v * c[i]!));
      check('div(x, c)', shape, x0, (x) => ops.div(x, k(x)), (x) => x.map((v, i) => v / c[i]!));
      check('add(x, 0.5)', shape, x0, (x) => ops.add(x, 0.5), map((v) => v + 0.5));
      check('sub(1, x)', shape, x0, (x) => ops.sub(1, x), map((v) => 1 - v));
      check('mul(-3, x)', shape, x0, (x) => ops.mul(-3, x), map((v) => -3 * v));
      check('div(x, 4)', shape, x0, (x) => ops.div(x, 4), map((v) => v / 4));
      check('mul(x, x)', shape, x0, (x) => ops.mul(x, x), map((v) => v * v));
      check('add(x, x)', shape, x0, (x) => ops.add(x, x), map((v) => 2 * v));
      check('sub(x, x·x)', shape, x0, (x) => ops.sub(x, ops.mul(x, x)), map((v) => v - v * v));
      const pos = inputs(n, 2, 0.5, 2);
      check('div(c, x)', shape, pos, (x) => ops.div(k(x), x), (x) => x.map((v, i) => c[i]! / v));
      check('div(2, x)', shape, pos, (x) => ops.div(2, x), map((v) => 2 / v));
      check('div(x, x + 1)', shape, pos, (x) => ops.div(x, ops.add(x, 1)), map((v) => v / (v + 1)));
    });

    it('maximum and minimum (away from ties), with tensors and numbers', () => {
      const x0 = inputs(n, 3, 0, 2.5, Array.from(other));
      const k = () => t(other, shape);
      const x1 = inputs(n, 3, -1, 1, [0.25]);
      check('maximum(x, c)', shape, x0, (x) => ops.maximum(x, k()), (x) => x.map((v, i) => Math.max(v, c[i]!)));
      check('maximum(c, x)', shape, x0, (x) => ops.maximum(k(), x), (x) => x.map((v, i) => Math.max(c[i]!, v)));
      check('minimum(x, c)', shape, x0, (x) => ops.minimum(x, k()), (x) => x.map((v, i) => Math.min(v, c[i]!)));
      check('minimum(c, x)', shape, x0, (x) => ops.minimum(k(), x), (x) => x.map((v, i) => Math.min(c[i]!, v)));
      check('maximum(x, 0.25)', shape, x1, (x) => ops.maximum(x, 0.25), map((v) => Math.max(v, 0.25)));
      check('minimum(0.25, x)', shape, x1, (x) => ops.minimum(0.25, x), map((v) => Math.min(0.25, v)));
      check('maximum(x, 2x)', shape, inputs(n, 4, -1, 1, [0]), (x) => ops.maximum(x, ops.mul(x, 2)), map((v) => Math.max(v, 2 * v)));
    });

    it('ties of maximum/minimum send the gradient to the first argument (as TensorFlow)', () => {
      tidy(() => {
        const x = t([1, 2, 3], [3]);
        const viaMax = valueAndGrad('test', 'f', (p) => ops.sum(ops.maximum(p, t([1, 5, 3], [3]))), x).grad.dataSync();
        assert.deepEqual(Array.from(viaMax), [1, 0, 1]);
        const viaMin = valueAndGrad('test', 'f', (p) => ops.sum(ops.minimum(t([1, 0, 3], [3]), p)), x).grad.dataSync();
        assert.deepEqual(Array.from(viaMin), [0, 0, 0]);
      });
    });

    it('maximum/minimum propagate a NaN from either argument (as TensorFlow)', () => {
      tidy(() => {
        const a = t([NaN, 1, NaN, -2], [4]), b = t([1, NaN, NaN, 3], [4]);
        for (const [what, v] of [['maximum(a, b)', ops.maximum(a, b)], ['maximum(b, a)', ops.maximum(b, a)], ['minimum(a, b)', ops.minimum(a, b)], ['minimum(b, a)', ops.minimum(b, a)]] as const) {
          assert.deepEqual(Array.from(v.dataSync()).map((e) => Number.isNaN(e)), [true, true, true, false], what);
        }
        assert.deepEqual(Array.from(ops.maximum(t([1, NaN], [2]), 0).dataSync()), [1, NaN]);
        assert.deepEqual(Array.from(ops.minimum(0, t([1, NaN], [2])).dataSync()), [0, NaN]);
      });
    });

    it('unary functions: neg, scale, abs, square, sqrt, exp, log, log1p, sigmoid, tanh, relu, softplus, activation', () => {
      const x0 = inputs(n, 5, -2, 2, [0]);
      const pos = inputs(n, 6, 0.3, 3);
      check('neg', shape, x0, ops.neg, map((v) => -v));
      check('scale', shape, x0, (x) => ops.scale(x, 2.5), map((v) => 2.5 * v));
      check('abs', shape, x0, ops.abs, map(Math.abs));
      check('square', shape, x0, ops.square, map((v) => v * v));
      check('sqrt', shape, pos, ops.sqrt, map(Math.sqrt));
      check('exp', shape, x0, ops.exp, map(Math.exp));
      check('log', shape, pos, ops.log, map(Math.log));
      check('log1p', shape, x0.map((v) => Math.abs(v) + 0.1 - 0.9), ops.log1p, map(Math.log1p));
      check('sigmoid', shape, x0, ops.sigmoid, map(sigmoid));
      check('tanh', shape, x0, ops.tanh, map(Math.tanh));
      check('relu', shape, x0, ops.relu, map((v) => Math.max(v, 0)));
      check('softplus', shape, x0, ops.softplus, map((v) => Math.log1p(Math.exp(v))));
      check('activation(elu)', shape, x0, (x) => ops.activation('elu', x), map((v) => (v > 0 ? v : Math.expm1(v))));
      const softmax: F64 = (x) => {
        const out = new Float64Array(x.length);
        for (let r = 0; r < 3; r++) {
          const row = x.subarray(r * 4, r * 4 + 4);
          const m = Math.max(...row);
          const s = row.reduce((a, v) => a + Math.exp(v - m), 0);
          row.forEach((v, j) => (out[r * 4 + j] = Math.exp(v - m) / s));
        }
        return out;
      };
      check('activation(softmax)', shape, x0, (x) => ops.activation('softmax', x), softmax);
    });

    it('clipByValue passes the gradient inside [lo, hi] only', () => {
      check('clipByValue', shape, inputs(n, 8, -2, 2, [-0.5, 1]), (x) => ops.clipByValue(x, -0.5, 1), map((v) => Math.min(Math.max(v, -0.5), 1)));
    });

    it('sum and mean over all elements, the first and the last axis, keepDims', () => {
      const s3 = [2, 3, 4];
      const x0 = inputs(24, 9, -2, 2);
      const sumAxis = (x: Float64Array, dims: number[], axis: number | null, scale = 1): Float64Array => {
        if (axis === null) return Float64Array.of(x.reduce((a, v) => a + v, 0) * scale);
        const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1), m = dims[axis]!, inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
        const out = new Float64Array(outer * inner);
        for (let o = 0; o < outer; o++) for (let k = 0; k < m; k++) for (let j = 0; j < inner; j++) out[o * inner + j] += x[(o * m + k) * inner + j]! * scale;
        return out;
      };
      check('sum', s3, x0, (x) => ops.sum(x), (x) => sumAxis(x, s3, null));
      check('sum(0)', s3, x0, (x) => ops.sum(x, 0), (x) => sumAxis(x, s3, 0));
      check('sum(-1)', s3, x0, (x) => ops.sum(x, -1), (x) => sumAxis(x, s3, 2));
      check('sum(2, keepDims)', s3, x0, (x) => ops.sum(x, 2, true), (x) => sumAxis(x, s3, 2));
      check('mean', s3, x0, (x) => ops.mean(x), (x) => sumAxis(x, s3, null, 1 / 24));
      check('mean(0)', s3, x0, (x) => ops.mean(x, 0), (x) => sumAxis(x, s3, 0, 1 / 2));
      check('mean(-1)', s3, x0, (x) => ops.mean(x, -1), (x) => sumAxis(x, s3, 2, 1 / 4));
      tidy(() => {
        const x = t(x0, s3);
        assert.deepEqual(ops.sum(x).shape, []);
        assert.deepEqual(ops.sum(x, undefined, true).shape, [1, 1, 1]);
        assert.deepEqual(ops.mean(x, 0, true).shape, [1, 3, 4]);
        assert.deepEqual(ops.mean(x, -1).shape, [2, 3]);
        assert.throws(() => ops.sum(x, 1), /sum: argument 'axis' = 1 is not supported for \[2,3,4\]: reduce over all elements \(axis omitted\), the first \(0\) or the last \(-1\) axis/);
        assert.throws(() => ops.mean(x, 3), /mean: argument 'axis' must be an integer in \[-3, 2\], got number 3/);
        assert.ok(Number.isNaN(ops.mean(t([], [0])).dataSync()[0]!), 'the mean of nothing is NaN');
        assert.throws(() => ops.sum(t([2], []), 5), /sum: argument 'axis' = number 5 given for a scalar, which has no axes \(as TensorFlow\); omit it/);
        assert.deepEqual(Array.from(ops.mean(t([2], []), undefined, true).dataSync()), [2]);
      });
    });

    it('sum and mean over an empty axis: zeros and NaN of the reduced shape (as TensorFlow); gradients of empty tensors', () => {
      tidy(() => {
        const rows = t([], [0, 3]), cols = t([], [3, 0]);
        assert.deepEqual(Array.from(ops.sum(rows, 0).dataSync()), [0, 0, 0]);
        assert.deepEqual(Array.from(ops.sum(cols, -1, true).dataSync()), [0, 0, 0]);
        assert.deepEqual(ops.sum(cols, -1, true).shape, [3, 1]);
        assert.ok(Array.from(ops.mean(rows, 0).dataSync()).every(Number.isNaN));
        assert.ok(Array.from(ops.mean(cols, -1).dataSync()).every(Number.isNaN));
        assert.deepEqual(ops.sum(rows, -1).shape, [0]);
        for (const [what, x, f] of [['sum', t([], [0]), (p: Tensor) => ops.sum(p)], ['sum(mean(-1))', cols, (p: Tensor) => ops.sum(ops.mean(p, -1))], ['sum(sum(0))', rows, (p: Tensor) => ops.sum(ops.sum(p, 0))]] as const) {
          const { grad } = valueAndGrad('test', what, f, x);
          assert.deepEqual(grad.shape, x.shape, what);
        }
      });
    });

    it('compositions: reshape views carry the gradient; a value used twice accumulates', () => {
      const x0 = inputs(n, 10, -1.5, 1.5, [0]);
      // Huber written with ops: ½q² + δ(|e| − q), q = min(|e|, δ).
      const huber = (x: Tensor) => {
        const a = ops.abs(x);
        const q = ops.minimum(a, 1);
        return ops.add(ops.mul(ops.square(q), 0.5), ops.sub(a, q));
      };
      check('huber', shape, inputs(n, 11, -3, 3, [-1, 0, 1]), huber, map((v) => (Math.abs(v) <= 1 ? 0.5 * v * v : Math.abs(v) - 0.5)));
      check('x.reshape → mean(-1)', shape, x0, (x) => ops.mean(ops.square(x.reshape([4, 3])), -1), (x) => Float64Array.from({ length: 4 }, (_, r) => (x[3 * r]! ** 2 + x[3 * r + 1]! ** 2 + x[3 * r + 2]! ** 2) / 3));
      check('ops.reshape', shape, x0, (x) => ops.exp(ops.reshape(x, [n])), map(Math.exp));
      check('tanh(x)·sigmoid(x) − x/2', shape, x0, (x) => ops.sub(ops.mul(ops.tanh(x), ops.sigmoid(x)), ops.div(x, 2)), map((v) => Math.tanh(v) * sigmoid(v) - v / 2));
      check('log(1 + exp(x)) via log1p', shape, x0, (x) => ops.log1p(ops.exp(x)), map((v) => Math.log1p(Math.exp(v))));
    });

    it('comparisons are constants: 1 where true, no gradient through them', () => {
      tidy(() => {
        const a = t([1, 2, 3, 4], [4]), b = t([2, 2, 2, 2], [4]);
        assert.deepEqual(Array.from(ops.greater(a, b).dataSync()), [0, 0, 1, 1]);
        assert.deepEqual(Array.from(ops.greaterEqual(a, 2).dataSync()), [0, 1, 1, 1]);
        assert.deepEqual(Array.from(ops.less(a, b).dataSync()), [1, 0, 0, 0]);
        assert.deepEqual(Array.from(ops.lessEqual(2, a).dataSync()), [0, 1, 1, 1]);
        // mask·x: only x's own path carries a gradient.
        const { grad } = valueAndGrad('test', 'f', (p) => ops.sum(ops.mul(ops.greater(p, 2.5), p)), a);
        assert.deepEqual(Array.from(grad.dataSync()), [0, 0, 1, 1]);
      });
    });

    it('the reduceSum and broadcasting kernels against float64 loops', () => {
      tidy(() => {
        const [o, m, k] = [3, 5, 4];
        const x0 = rand(o * m * k, 12, 2);
        const x = t(x0, [o * m * k]);
        const out = ops.empty([o * k], device);
        native.opsReduceSum(x.handle(), o, m, k, out.handle(), 0.5);
        const want = new Float64Array(o * k);
        for (let a = 0; a < o; a++) for (let b = 0; b < m; b++) for (let c = 0; c < k; c++) want[a * k + c] += 0.5 * x0[(a * m + b) * k + c]!;
        out.dataSync().forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= 1e-6 * Math.max(1, Math.abs(want[i]!)), `reduceSum[${i}]`));
        const rows = t([1, 2, 3], [3]), cols = t([10, 20, 30, 40], [4]);
        const grid = t(Array.from({ length: 12 }, (_, i) => i), [3, 4]);
        assert.deepEqual(Array.from(ops.broadcastOp('sub', grid, rows, 'rows').dataSync()), Array.from({ length: 12 }, (_, i) => i - (Math.floor(i / 4) + 1)));
        assert.deepEqual(Array.from(ops.broadcastOp('mul', grid, cols, 'columns').dataSync()), Array.from({ length: 12 }, (_, i) => i * 10 * ((i % 4) + 1)));
        assert.throws(() => ops.broadcastOp('add', grid, cols, 'rows'), /broadcastOp: argument 'v' \[4\] must have 3 elements \(one per row of x \[3,4\]\)/);
        assert.throws(() => native.opsReduceSum(x.handle(), o, m, k, x.handle(), 1), /opsReduceSum: argument 'out' must have 12 elements/);
        assert.throws(() => native.opsBinary('add', grid.handle(), rows.handle(), rows.handle(), 1, 4), /opsBinary: .*out/);
        assert.throws(() => native.opsBinary('add', grid.handle(), ops.empty([0], device).handle(), grid.handle(), 1, 1), /opsBinary: argument 'b' must not be empty when 'out' is not/);
      });
    });

    it('refuses: ops without a backward on derived tensors, results not derived from the source, two numbers', () => {
      tidy(() => {
        const x = t([1, 2, 3, 4], [2, 2]);
        assert.throws(() => valueAndGrad('fit', "custom loss 'l'", (p) => ops.matMul(p, p), x), /matMul: argument 'a' derives from yPred of a custom loss, and matMul has no backward; use the differentiable ops \(add, sub, mul/);
        assert.throws(() => valueAndGrad('fit', "custom loss 'l'", (p) => ops.clipValue_(p, 0, 1), x), /clipValue_: argument 'x' derives from yPred/);
        assert.throws(() => valueAndGrad('fit', "custom loss 'l'", () => t([1], [1]), x), /fit: custom loss 'l' returned a tensor that does not derive from yPred/);
        assert.throws(() => valueAndGrad('fit', "custom loss 'l'", () => 3, x), /fit: custom loss 'l' must return a Tensor, got number 3/);
        assert.throws(() => valueAndGrad('fit', "custom loss 'l'", (p) => ops.sum(p.clone()), x), /does not derive from yPred/);
        assert.throws(() => valueAndGrad('fit', 'outer', () => valueAndGrad('fit', 'inner', (q) => q, x).value, x), /a gradient tape is already open/);
        assert.throws(() => ops.add(1, 2 as never), /add: arguments 'a' and 'b' are both numbers; at least one must be a Tensor/);
        assert.throws(() => ops.less(x, 'a' as never), /less: argument 'b' must be a Tensor or a number, got the string 'a'/);
        assert.throws(() => ops.lessEqual(x, t([1, 2, 3], [3])), /lessEqual: arguments 'a' \[2,2\] and 'b' \[3\] must have identical shapes/);
        assert.throws(() => ops.clipByValue(x, 2, 1), /^RangeError: clipByValue: argument 'lo' \(2\) must not exceed 'hi' \(1\)$/);
        assert.throws(() => ops.clipByValue(x, NaN, 1), /^TypeError: clipByValue: argument 'lo' must be a number, got number NaN$/);
        assert.throws(() => ops.sub(x, '1' as never), /sub: argument 'b' must be a Tensor or a number, got the string '1'/);
        assert.throws(() => ops.mul(x, t([1, 2], [2])), /mul: arguments 'a' \[2,2\] and 'b' \[2\] must have identical shapes/);
        // Outside a tape every op takes the same tensors again.
        assert.deepEqual(ops.matMul(x, x).shape, [2, 2]);
      });
    });
  });
}
