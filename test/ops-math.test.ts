// The tensor kernels (lib/ops/math.ts) against float64 JavaScript references, on every device
// this machine has (test/support/devices.ts).
import assert from 'node:assert/strict';
import { memory, ops, tensor, tidy, type Tensor } from '../lib';
import { native } from '../lib/native';
import { testDevices } from './support/devices';

let seed = 12345;
function rand(): number {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
}
function randn(n: number, s = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);
}
function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5, what = ''): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    assert.ok(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)), `${what}[${i}]: ${a} vs ${e}`);
  }
}
for (const device of testDevices) {
  describe(`tensor ops on ${device} (kernels vs float64 references)`, () => {
    const t = (data: Float32Array, shape: number[]): Tensor => tensor(data, shape, 'float32', { device });
    const ti = (data: Int32Array, shape?: number[]): Tensor<'int32'> => tensor(data, shape ?? [data.length], 'int32', { device });

    let before: number;
    beforeEach(() => {
      before = memory().numTensors;
    });
    afterEach(() => assert.equal(memory().numTensors, before, 'tensor leak'));

    it('allFinite finds a NaN or ±Inf anywhere (across the scan\'s blocks) and accepts the largest finite values', () => {
      tidy(() => {
        const n = 1000; // several of the host scan's blocks of 256, and a partial one
        const finite = randn(n, 3e38);
        finite[7] = 3.4028234663852886e38;
        finite[8] = -3.4028234663852886e38;
        finite[9] = 1e-45; // subnormal
        assert.equal(ops.allFinite(t(finite, [n])), true);
        assert.equal(ops.allFinite(t(new Float32Array(0), [0])), true);
        for (const bad of [Number.NaN, Infinity, -Infinity]) {
          for (const at of [0, 255, 256, 700, n - 1]) {
            const v = finite.slice();
            v[at] = bad;
            assert.equal(ops.allFinite(t(v, [10, 100])), false, `${bad} at ${at}`);
          }
        }
      });
      tidy(() => assert.throws(() => ops.allFinite(ti(new Int32Array(3))), /allFinite: argument 'x' must be a float32 Tensor/));
      assert.throws(() => ops.allFinite([1, 2] as never), /allFinite: argument 'x' must be a float32 Tensor/);
      const gone = t(new Float32Array(2), [2]);
      gone.dispose();
      assert.throws(() => ops.allFinite(gone), /disposed/);
    });

    it('matMul with every transpose combination', () => {
      tidy(() => {
        const m = 3, k = 4, n = 5;
        const a = randn(m * k), b = randn(k * n);
        const ref = new Float64Array(m * n);
        for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) ref[i * n + j] += a[i * k + p]! * b[p * n + j]!;
        close(ops.matMul(t(a, [m, k]), t(b, [k, n])).dataSync(), ref, 1e-5, 'ab');
        const at = new Float32Array(k * m), bt = new Float32Array(n * k);
        for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) at[p * m + i] = a[i * k + p]!;
        for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) bt[j * k + p] = b[p * n + j]!;
        close(ops.matMul(t(at, [k, m]), t(bt, [n, k]), true, true).dataSync(), ref, 1e-5, 'aTbT');
        close(ops.matMul(t(at, [k, m]), t(b, [k, n]), true, false).dataSync(), ref, 1e-5, 'aTb');
        assert.throws(() => ops.matMul(t(a, [m, k]), t(a, [m, k])), /inner dimensions/);
      });
    });

    it('biasAdd and columnSums', () => {
      tidy(() => {
        const x = randn(6), b = randn(3);
        close(ops.biasAdd(t(x, [2, 3]), t(b, [3])).dataSync(), Array.from(x, (v, i) => v + b[i % 3]!));
        close(ops.columnSums(t(x, [2, 3])).dataSync(), [0, 1, 2].map((c) => x[c]! + x[c + 3]!));
      });
    });

    const activations: Array<[ops.ActivationName, (x: number) => number]> = [
      ['linear', (x) => x],
      ['relu', (x) => Math.max(0, x)],
      ['sigmoid', (x) => 1 / (1 + Math.exp(-x))],
      ['tanh', Math.tanh],
      ['elu', (x) => (x > 0 ? x : Math.expm1(x))],
      ['selu', (x) => 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * Math.expm1(x))],
      ['softplus', (x) => Math.log1p(Math.exp(x))],
      ['exp', Math.exp],
      ['square', (x) => x * x],
      ['abs', Math.abs],
    ];
    for (const [kind, f] of activations) {
      it(`activation ${kind}: value and gradient`, () => {
        tidy(() => {
          const x = randn(12, 2);
          const dy = randn(12);
          const xt = t(x, [3, 4]);
          const y = ops.activation(kind, xt);
          close(y.dataSync(), Array.from(x, f), 1e-5, kind);
          const dx = ops.activationGrad(kind, xt, y, t(dy, [3, 4])).dataSync();
          const h = 1e-6;
          close(dx, Array.from(x, (v, i) => (dy[i]! * (f(v + h) - f(v - h))) / (2 * h)), 1e-3, `${kind}'`);
        });
      });
    }

    it('softmax and its gradient', () => {
      tidy(() => {
        const x = randn(8, 3), dy = randn(8);
        const sm = (row: number[]) => {
          const m = Math.max(...row);
          const e = row.map((v) => Math.exp(v - m));
          const s = e.reduce((a, b) => a + b, 0);
          return e.map((v) => v / s);
        };
        const ref = [...sm(Array.from(x.slice(0, 4))), ...sm(Array.from(x.slice(4)))];
        const y = ops.activation('softmax', t(x, [2, 4]));
        close(y.dataSync(), ref);
        const dx = ops.activationGrad('softmax', null, y, t(dy, [2, 4])).dataSync();
        const expected = ref.map((yi, i) => {
          const r = Math.floor(i / 4) * 4;
          let dot = 0;
          for (let c = 0; c < 4; c++) dot += dy[r + c]! * ref[r + c]!;
          return yi * (dy[i]! - dot);
        });
        close(dx, expected);
      });
    });

    it('binary ops, scale, axpy, slices and concatenation', () => {
      tidy(() => {
        const a = randn(6), b = randn(6);
        close(ops.add(t(a, [6]), t(b, [6])).dataSync(), Array.from(a, (v, i) => v + b[i]!));
        close(ops.sub(t(a, [6]), t(b, [6])).dataSync(), Array.from(a, (v, i) => v - b[i]!));
        close(ops.mul(t(a, [6]), t(b, [6])).dataSync(), Array.from(a, (v, i) => v * b[i]!));
        close(ops.scale(t(a, [6]), 3).dataSync(), Array.from(a, (v) => 3 * v));
        close(ops.axpy_(t(b, [6]), 2, t(a, [6])).dataSync(), Array.from(a, (v, i) => b[i]! + 2 * v));
        const x = t(a, [2, 3]);
        close(ops.sliceLast(x, 1, 2).dataSync(), [a[1]!, a[2]!, a[4]!, a[5]!]);
        close(ops.concatLast([ops.sliceLast(x, 0, 1), ops.sliceLast(x, 1, 2)]).dataSync(), a);
        close(ops.sliceFirst(x, 1, 1).dataSync(), a.slice(3));
        assert.throws(() => ops.writeLast_(x, x, 0), /opsCopyColumns: argument 'dst' must be a different tensor from src/);
        const seq = t(Float32Array.from({ length: 8 }, (_, i) => i), [2, 4, 1]);
        close(ops.reverseTime(seq).dataSync(), [3, 2, 1, 0, 7, 6, 5, 4]);
        close(ops.reverseTime(seq, Int32Array.from([2, 4])).dataSync(), [1, 0, 2, 3, 7, 6, 5, 4]);
      });
    });

    // Float64 reference losses (Keras formulas, mean over rows) and finite-difference gradients.
    const EPS = 1e-7;
    const refLoss: Record<string, (p: number[], t: number[], rows: number, cols: number) => number> = {
      meanSquaredError: (p, t) => p.reduce((s, v, i) => s + (v - t[i]!) ** 2, 0) / p.length,
      meanAbsoluteError: (p, t) => p.reduce((s, v, i) => s + Math.abs(v - t[i]!), 0) / p.length,
      binaryCrossentropy: (p, t) =>
        -p.reduce((s, v, i) => {
          const c = Math.min(Math.max(v, EPS), 1 - EPS);
          return s + t[i]! * Math.log(c + EPS) + (1 - t[i]!) * Math.log(1 - c + EPS);
        }, 0) / p.length,
      binaryCrossentropyLogits: (p, t) => p.reduce((s, x, i) => s + Math.max(x, 0) - x * t[i]! + Math.log1p(Math.exp(-Math.abs(x))), 0) / p.length,
      categoricalCrossentropy: (p, t, rows, cols) => {
        let s = 0;
        for (let r = 0; r < rows; r++) {
          const row = p.slice(r * cols, (r + 1) * cols);
          const sum = row.reduce((a, b) => a + b, 0);
          row.forEach((v, c) => (s -= t[r * cols + c]! * Math.log(Math.min(Math.max(v / sum, EPS), 1 - EPS))));
        }
        return s / rows;
      },
      categoricalCrossentropyLogits: (p, t, rows, cols) => {
        let s = 0;
        for (let r = 0; r < rows; r++) {
          const row = p.slice(r * cols, (r + 1) * cols);
          const m = Math.max(...row);
          const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
          row.forEach((v, c) => (s += t[r * cols + c]! * (lse - v)));
        }
        return s / rows;
      },
    };
    for (const kind of Object.keys(refLoss) as ops.LossKind[]) {
      it(`loss ${kind}: value and gradient`, () => {
        tidy(() => {
          const rows = 4, cols = 3;
          const probs = kind === 'binaryCrossentropy' || kind === 'categoricalCrossentropy';
          const p = Array.from(randn(rows * cols, 2), (v) => (probs ? 0.05 + 0.9 * rand() : v));
          const tg = kind.startsWith('categorical')
            ? Array.from({ length: rows * cols }, (_, i) => (i % cols === i % 2 ? 1 : 0))
            : Array.from({ length: rows * cols }, () => (kind.startsWith('binary') ? Math.round(rand()) : rand()));
          const out = ops.empty([2], device);
          const grad = ops.lossAndGrad(kind, t(Float32Array.from(p), [rows, cols]), t(Float32Array.from(tg), [rows, cols]), out, 1)!;
          const f = refLoss[kind]!;
          close([out.dataSync()[1]!], [f(p, tg, rows, cols)], 1e-5, kind);
          const h = 1e-6;
          const fd = p.map((_, i) => {
            const a = [...p], b = [...p];
            a[i] += h;
            b[i] -= h;
            return (f(a, tg, rows, cols) - f(b, tg, rows, cols)) / (2 * h);
          });
          close(grad.dataSync(), fd, 2e-3, `${kind} grad`);
        });
      });
    }

    it('sparse categorical cross-entropy equals the one-hot version; labels are checked', () => {
      tidy(() => {
        const p = randn(6, 2), labels = Int32Array.from([2, 0]);
        const onehot = Float32Array.from([0, 0, 1, 1, 0, 0]);
        for (const [sparse, dense] of [['sparseCategoricalCrossentropyLogits', 'categoricalCrossentropyLogits'], ['sparseCategoricalCrossentropy', 'categoricalCrossentropy']] as const) {
          const pp = sparse.endsWith('Logits') ? p : Float32Array.from(p, (v) => Math.abs(v) + 0.1);
          const o1 = ops.empty([1], device), o2 = ops.empty([1], device);
          const g1 = ops.lossAndGrad(sparse, t(pp, [2, 3]), ti(labels, [2]), o1)!;
          const g2 = ops.lossAndGrad(dense, t(pp, [2, 3]), t(onehot, [2, 3]), o2)!;
          close(o1.dataSync(), o2.dataSync());
          close(g1.dataSync(), g2.dataSync());
        }
        const o = ops.empty([1], device);
        assert.throws(() => ops.lossAndGrad('sparseCategoricalCrossentropy', t(p, [2, 3]), ti(Int32Array.from([3, 0]), [2]), o), /target\[0\] = 3 is not a class index in \[0, 3\)/);
      });
    });

    it('logit losses are stable for large logits', () => {
      tidy(() => {
        const out = ops.empty([2], device);
        ops.lossAndGrad('binaryCrossentropyLogits', t(Float32Array.from([1000, -1000]), [2, 1]), t(Float32Array.from([0, 1]), [2, 1]), out, 0);
        ops.lossAndGrad('categoricalCrossentropyLogits', t(Float32Array.from([1000, -1000]), [1, 2]), t(Float32Array.from([0, 1]), [1, 2]), out, 1);
        close(out.dataSync(), [1000, 2000]);
      });
    });

    it('accuracy metrics', () => {
      tidy(() => {
        const out = ops.empty([3], device);
        ops.metricInto('binaryAccuracy', t(Float32Array.from([0.9, 0.2, 0.6, 0.4]), [4, 1]), t(Float32Array.from([1, 0, 0, 0]), [4, 1]), out, 0);
        ops.metricInto('categoricalAccuracy', t(Float32Array.from([0.1, 0.9, 0.8, 0.2]), [2, 2]), t(Float32Array.from([0, 1, 0, 1]), [2, 2]), out, 1);
        ops.metricInto('sparseCategoricalAccuracy', t(Float32Array.from([0.1, 0.9, 0.8, 0.2]), [2, 2]), ti(Int32Array.from([1, 0])), out, 2);
        close(out.dataSync(), [0.75, 0.5, 1]);
      });
    });

    // 5 elements, and enough for the CPU engine's threads to split them (blocks of cache lines,
    // the last one short).
    for (const n of [5, (1 << 19) + 37]) it(`optimizer updates follow the Keras formulas (${n} elements)`, () => {
      tidy(() => {
        const p0 = randn(n), g = randn(n);
        // SGD with nesterov momentum, two steps.
        {
          const p = t(p0, [n]), v = ops.empty([n], device);
          const ref = Float64Array.from(p0), vel = new Float64Array(n);
          for (let s = 0; s < 2; s++) {
            ops.sgdUpdate_(p, t(g, [n]), v, 0.1, 0.9, true);
            for (let i = 0; i < n; i++) {
              vel[i] = 0.9 * vel[i]! - 0.1 * g[i]!;
              ref[i] += 0.9 * vel[i]! - 0.1 * g[i]!;
            }
          }
          close(p.dataSync(), ref, 1e-6, 'sgd');
        }
        // AdamW, three steps.
        {
          const p = t(p0, [n]), m = ops.empty([n], device), v = ops.empty([n], device);
          const ref = Float64Array.from(p0), mm = new Float64Array(n), vv = new Float64Array(n);
          const lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-7, wd = 0.004;
          for (let s = 1; s <= 3; s++) {
            const alpha = (lr * Math.sqrt(1 - b2 ** s)) / (1 - b1 ** s);
            ops.adamUpdate_(p, t(g, [n]), m, v, alpha, lr, b1, b2, eps, wd);
            for (let i = 0; i < n; i++) {
              ref[i] -= ref[i]! * wd * lr;
              mm[i] += (g[i]! - mm[i]!) * (1 - b1);
              vv[i] += (g[i]! ** 2 - vv[i]!) * (1 - b2);
              ref[i] -= (alpha * mm[i]!) / (Math.sqrt(vv[i]!) + eps);
            }
          }
          close(p.dataSync(), ref, 1e-5, 'adamw');
        }
        // RMSprop with momentum.
        {
          const p = t(p0, [n]), ms = ops.empty([n], device), mo = ops.empty([n], device);
          const ref = Float64Array.from(p0), v = new Float64Array(n), mom = new Float64Array(n);
          for (let s = 0; s < 2; s++) {
            ops.rmspropUpdate_(p, t(g, [n]), ms, mo, 0.01, 0.9, 0.5, 1e-7);
            for (let i = 0; i < n; i++) {
              v[i] = 0.9 * v[i]! + 0.1 * g[i]! ** 2;
              mom[i] = 0.5 * mom[i]! + (0.01 * g[i]!) / Math.sqrt(v[i]! + 1e-7);
              ref[i] -= mom[i]!;
            }
          }
          close(p.dataSync(), ref, 1e-5, 'rmsprop');
        }
      });
    });

    it('clipping by value, by norm and by global norm', () => {
      tidy(() => {
        close(ops.clipValue_(t(Float32Array.from([-3, 0.5, 3]), [3]), -1, 1).dataSync(), [-1, 0.5, 1]);
        const a = t(Float32Array.from([3, 4]), [2]), b = t(Float32Array.from([0, 12]), [2]);
        ops.clipNorm_([a, b], 6.5, true); // global norm 13
        close([...a.dataSync(), ...b.dataSync()], [1.5, 2, 0, 6]);
        const c = t(Float32Array.from([3, 4]), [2]), d = t(Float32Array.from([0, 1]), [2]);
        ops.clipNorm_([c, d], 1, false);
        close([...c.dataSync(), ...d.dataSync()], [0.6, 0.8, 0, 1]);
      });
    });

    it('dropout masks are seeded and scaled', () => {
      tidy(() => {
        const a = ops.dropoutMask([10000], 0.3, 7, device).dataSync();
        const b = ops.dropoutMask([10000], 0.3, 7, device).dataSync();
        const c = ops.dropoutMask([10000], 0.3, 8, device).dataSync();
        assert.deepEqual(a, b);
        assert.notDeepEqual(a, c);
        const zeros = a.filter((v) => v === 0).length;
        assert.ok(Math.abs(zeros / 10000 - 0.3) < 0.03, `${zeros}`);
        assert.ok(a.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-6));
      });
    });

    it('gather and scatterAdd (embedding)', () => {
      tidy(() => {
        const table = t(Float32Array.from([0, 1, 10, 11, 20, 21]), [3, 2]);
        const idx = ti(Int32Array.from([2, 0, 2]), [3]);
        close(ops.gather(table, idx).dataSync(), [20, 21, 0, 1, 20, 21]);
        const d = ops.empty([3, 2], device);
        ops.scatterAdd_(d, idx, t(Float32Array.from([1, 1, 2, 2, 3, 3]), [3, 2]));
        close(d.dataSync(), [2, 2, 0, 0, 4, 4]);
        assert.throws(() => ops.gather(table, ti(Int32Array.from([3]), [1])), /indices\[0\] = 3 is not a class index in \[0, 3\)/);
        assert.equal(ops.firstNonFinite(t(Float32Array.from([0, 1, NaN]), [3])), 2);
      });
    });

    it('label and index checks follow every write and copy of the int32 tensor', () => {
      tidy(() => {
        const pred = t(randn(6), [2, 3]);
        const out = ops.empty([1], device);
        const labels = ti(Int32Array.from([0, 2]));
        const loss = (l: Tensor) => ops.lossAndGrad('sparseCategoricalCrossentropy', pred, l, out, 0, false);
        const metric = (l: Tensor) => ops.metricInto('sparseCategoricalAccuracy', pred, l, out, 0);
        loss(labels);
        metric(labels);
        native.write(labels.handle(), Int32Array.from([0, 3]));
        assert.throws(() => loss(labels), /opsLoss: argument 'target' has target\[1\] = 3 is not a class index in \[0, 3\)/);
        assert.throws(() => metric(labels), /opsMetric: argument 'target' has target\[1\] = 3 is not a class index/);
        const copy = labels.clone();
        assert.throws(() => loss(copy), /target\[1\] = 3 is not a class index/);
        native.write(labels.handle(), Int32Array.from([-1, 1]));
        assert.throws(() => loss(labels), /target\[0\] = -1 is not a class index/);
        assert.throws(() => loss(copy), /target\[1\] = 3/, 'a copy keeps its own values');
        native.write(labels.handle(), Int32Array.from([2, 1]));
        loss(labels);
        const fresh = ops.empty([1], device);
        ops.lossAndGrad('sparseCategoricalCrossentropy', pred, ti(Int32Array.from([2, 1])), fresh, 0, false);
        close(out.dataSync(), fresh.dataSync(), 0, 'the rewritten labels are used');
        const table = t(randn(6), [3, 2]);
        const zeroIdx = ops.empty([4], device, 'int32');
        const row0 = Array.from(table.dataSync().slice(0, 2));
        close(ops.gather(table, zeroIdx).dataSync(), [...row0, ...row0, ...row0, ...row0]);
        native.write(zeroIdx.handle(), Int32Array.from([0, 1, 2, 3]));
        assert.throws(() => ops.gather(table, zeroIdx), /opsGather: argument 'indices' has indices\[3\] = 3 is not a class index in \[0, 3\)/);
        assert.throws(() => ops.scatterAdd_(ops.empty([3, 2], device), zeroIdx, t(randn(8), [4, 2])), /opsScatterAdd: argument 'indices' has indices\[3\] = 3/);
      });
    });

    it('bad arguments are clear errors', () => {
      tidy(() => {
        const x = t(randn(4), [4]);
        const i = ti(Int32Array.from([1, 2, 3, 4]), [4]);
        assert.throws(() => ops.add(x, i), /opsBinary: argument 'b' must be a float32 tensor, got a int32 tensor/);
        assert.throws(() => ops.add(x, t(randn(3), [3])), /shapes/);
      });
    });
  });
}

// Tensors of one call on two devices: a clear error naming the argument, before any kernel runs
// (never a device pointer read on the host or the other way round). Needs a second device.
for (const device of testDevices.filter((d) => d !== 'cpu')) {
  describe(`ops mixing cpu and ${device} tensors`, () => {
    it('are refused, naming the argument and both devices', () => {
      tidy(() => {
        const on = (d: 'cpu' | typeof device, n: number, shape = [n]) => tensor(randn(n), shape, 'float32', { device: d });
        const x = on(device, 4);
        assert.throws(() => ops.add(x, on('cpu', 4)), /opsBinary: argument 'b' is on cpu but 'a' is on cuda; all tensors of one op must be on one device/);
        assert.throws(() => ops.matMul(on('cpu', 6, [2, 3]), on(device, 6, [3, 2])), /opsGemm: argument 'b' is on cuda but 'a' is on cpu/);
        const pred = on(device, 6, [2, 3]);
        const cpuLabels = tensor(Int32Array.from([0, 2]), [2], 'int32', { device: 'cpu' });
        assert.throws(() => ops.lossAndGrad('sparseCategoricalCrossentropy', pred, cpuLabels, ops.empty([1], device)), /opsLoss: argument 'target' is on cpu but 'pred' is on cuda/);
        assert.throws(() => ops.lossAndGrad('meanSquaredError', pred, on(device, 6, [2, 3]), ops.empty([1], 'cpu')), /opsLoss: argument 'out' is on cpu/);
        assert.throws(() => ops.gather(on(device, 6, [3, 2]), cpuLabels), /opsGather: argument 'indices' is on cpu but 'table' is on cuda/);
        assert.throws(() => ops.clipNorm_([x, on('cpu', 3)], 1, true), /opsClipNorm: argument 'tensors\[1\]' is on cpu/);
        const params = { weight_ih_l0: on('cpu', 6 * 3, [6, 3]), weight_hh_l0: on(device, 12, [6, 2]), bias_ih_l0: on(device, 6), bias_hh_l0: on(device, 6) };
        assert.throws(() => ops.gru(on(device, 2 * 4 * 3, [2, 4, 3]), params), /params.weight_ih_l0 is on cpu but x is on cuda/);
        const h = (t: Tensor) => t.handle();
        const config = { inputSize: 3, hiddenSize: 2, numLayers: 1, bidirectional: false, dropout: 0, seed: 1, batch: 2, seqLen: 4 };
        assert.throws(() => native.gruForward(config, h(on(device, 24, [2, 4, 3])), null, null, Object.values(params).map(h), false), /gruForward: argument 'params\[0\] \(weight_ih_l0\)' is on cpu but 'x' is on cuda/);
      });
    });
  });
}
