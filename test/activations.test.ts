// The activations added for Keras parity (gelu, swish/silu, hardSigmoid, relu6): native values and
// gradients against float64 re-implementations and finite differences on every device, in dense
// and activation layers (whole-model gradients), and exported to ONNX (with selectTimestep), run
// in onnxruntime-node against the same references and our predict().
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { layers, memory, ops, sequential, setSeed, tensor, tidy, type Sequential, type Tensor } from '../lib';
import { native } from '../lib/native';
import { rand } from './io-helpers/reference';
import { testDevices } from './support/devices';
import { checkModelGradients } from './support/grad-check';
import { tempDir } from './support/temp-dir';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort: typeof import('onnxruntime-node') | null = (() => { try { return require('onnxruntime-node'); } catch { return null; } })();

/** erf in float64: its Maclaurin series for |x| ≤ 3, else 1 − erfc from erfc's continued fraction. */
function erf(x: number): number {
  const a = Math.abs(x);
  if (a <= 3) {
    let term = a, sum = a;
    for (let n = 1; n < 100; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return (Math.sign(x) * 2 * sum) / Math.sqrt(Math.PI);
  }
  let k = a;
  for (let n = 80; n >= 1; n--) k = a + n / 2 / k;
  return Math.sign(x) * (1 - Math.exp(-a * a) / (Math.sqrt(Math.PI) * k));
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const relu6 = (x: number) => Math.min(Math.max(x, 0), 6);
/** Float64 definitions (Keras 3): gelu approximate=False, hard_sigmoid = relu6(x + 3) / 6. */
const REFERENCE: Record<'gelu' | 'swish' | 'hardSigmoid' | 'relu6', (x: number) => number> = {
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  swish: (x) => x * sigmoid(x),
  hardSigmoid: (x) => relu6(x + 3) / 6,
  relu6,
};
/** Their derivatives, written independently of the kernels' formulas. */
const DERIVATIVE: Record<keyof typeof REFERENCE, (x: number) => number> = {
  gelu: (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI),
  swish: (x) => sigmoid(x) * (1 + x * (1 - sigmoid(x))),
  hardSigmoid: (x) => (x > -3 && x < 3 ? 1 / 6 : 0),
  relu6: (x) => (x > 0 && x < 6 ? 1 : 0),
};
const KINDS = Object.keys(REFERENCE) as Array<keyof typeof REFERENCE>;
/** Where the functions have kinks (finite differences are meaningless there). */
const KINKS = [-3, 0, 3, 6];

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol * Math.max(1, Math.abs(expected[i]!)), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('activations gelu, swish, hardSigmoid, relu6', () => {
  let baseline = 0;
  beforeEach(() => {
    baseline = memory().numTensors;
  });
  afterEach(() => assert.equal(memory().numTensors, baseline, 'tensor leak'));

  it('the float64 erf used as reference is right (known values)', () => {
    // erf(0.5), erf(1), erf(2), erf(3.5) from tables (15 digits).
    close([erf(0.5), erf(1), erf(-2), erf(3.5)], [0.520499877813047, 0.842700792949715, -0.995322265018953, 0.999999256901628], 1e-13, 'erf');
  });

  // Inputs across the interesting ranges: both tails, the kinks and their neighbourhoods.
  const xs = Float32Array.from([...rand(200, 31, 8), -7, -3, -2.9999, -3.0001, 0, 1e-4, -1e-4, 3, 2.9999, 3.0001, 6, 5.9999, 6.0001, 12, -12]);
  for (const device of testDevices) {
    for (const kind of KINDS) {
      it(`${kind} on ${device}: values and gradients (beta 0 and 1) against float64 and finite differences`, () => {
        tidy(() => {
          const x = tensor(xs, [xs.length / 5, 5], 'float32', { device });
          const y = ops.activation(kind, x);
          close(y.dataSync(), Array.from(xs, REFERENCE[kind]), 2e-6, `${kind}(x)`);
          const dy = tensor(rand(xs.length, 32, 1), x.shape, 'float32', { device });
          const dyv = dy.dataSync();
          const dx = ops.activationGrad(kind, x, y, dy).dataSync();
          close(dx, Array.from(xs, (v, i) => dyv[i]! * DERIVATIVE[kind](v)), 2e-6, `${kind}'(x)`);
          const h = 1e-5;
          xs.forEach((v, i) => {
            if (KINKS.some((k) => Math.abs(v - k) < 2 * h)) return;
            const fd = (dyv[i]! * (REFERENCE[kind](v + h) - REFERENCE[kind](v - h))) / (2 * h);
            assert.ok(Math.abs(dx[i]! - fd) <= 1e-4 * Math.max(1, Math.abs(fd)), `${kind}'(${v}): ${dx[i]} vs finite difference ${fd}`);
          });
          const acc = tensor(rand(xs.length, 33, 1), x.shape, 'float32', { device });
          const before = acc.dataSync();
          ops.activationGrad(kind, x, y, dy, acc, 1);
          close(acc.dataSync(), Array.from(dx, (g, i) => g + before[i]!), 1e-6, `${kind}' accumulated`);
        });
      });
    }
  }

  it('gradients that need the input refuse a missing x, naming the kernel', () => {
    tidy(() => {
      const x = tensor([[1, 2]]);
      for (const kind of ['gelu', 'swish', 'hardSigmoid'] as const) {
        assert.throws(() => ops.activationGrad(kind, null, ops.activation(kind, x), x), /opsUnaryGrad: argument 'x' must be a tensor handle \(this activation's gradient needs its input\), got null/);
      }
    });
  });

  it('the kernel itself refuses an unknown kind, listing every kind it has', () => {
    tidy(() => {
      const x = tensor([[1, 2]]);
      const y = tensor([[0, 0]]);
      const call = native.opsUnary as (...a: unknown[]) => void;
      assert.throws(() => call('gelu2', x.handle(), y.handle(), 2),
        /^TypeError: opsUnary: argument 'kind' must be one of 'linear', 'relu', 'sigmoid', .*, 'hardSigmoid', 'relu6', 'sqrt', 'log', 'log1p', got the string 'gelu2'$/);
      assert.throws(() => call(7, x.handle(), y.handle(), 2), /^TypeError: opsUnary: argument 'kind' must be one of 'linear', .*'log1p', got the number 7$/);
      call('relu6', x.handle(), y.handle(), 2);
      assert.deepEqual(Array.from(y.dataSync()), [1, 2]);
    });
  });

  it("layers take them ('silu' is swish, as in Keras) and whole-model gradients match finite differences", () => {
    assert.equal(layers.activation({ activation: 'silu' }).activation, 'swish');
    setSeed(3);
    const model = sequential([
      layers.dense({ units: 6, activation: 'gelu', inputShape: [4] }),
      layers.activation({ activation: 'relu6' }),
      layers.dense({ units: 5, activation: 'silu' }),
      layers.dense({ units: 2, activation: 'hardSigmoid' }),
    ]);
    model.compile({ optimizer: 'sgd', loss: 'mse' });
    const x = { data: rand(8 * 4, 4, 3), shape: [8, 4] };
    const y = { data: rand(8 * 2, 5, 1), shape: [8, 2] };
    let s = 17;
    checkModelGradients(model, x, y, { samples: Infinity, pick: () => ((s = (s * 1103515245 + 12345) % 2 ** 31), s / 2 ** 31) });
    model.dispose();
  });
});

(ort ? describe : describe.skip)('ONNX export of gelu, swish, hardSigmoid, relu6 and selectTimestep (onnxruntime-node)', () => {
  const made: Sequential[] = [];
  afterEach(() => {
    for (const m of made.splice(0)) m.dispose();
  });

  async function runOrt(file: string, x: Float32Array, dims: number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
    const session = await ort!.InferenceSession.create(file);
    const out = (await session.run({ input: new ort!.Tensor('float32', x, dims) })).output;
    return { data: out.data as Float32Array, dims: out.dims };
  }

  function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
    assert.equal(a.length, b.length);
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
    return m;
  }

  const B = 3, T = 6, F = 4;
  const x = rand(B * T * F, 41, 2.5);

  it('dense per timestep (gelu) → selectTimestep(2) on batch-major data → dense hardSigmoid → relu6, swish: equals a float64 reference and predict()', async () => {
    setSeed(11);
    const model = sequential([
      layers.dense({ units: 5, activation: 'gelu', inputShape: [T, F] }),
      layers.selectTimestep({ index: 2 }),
      layers.dense({ units: 4, activation: 'hardSigmoid' }),
      layers.activation({ activation: 'relu6' }),
      layers.activation({ activation: 'swish' }),
    ]);
    made.push(model);
    const file = path.join(tempDir('cdcgru-act-onnx-'), 'm.onnx');
    model.exportOnnx(file);
    const out = await runOrt(file, x, [B, T, F]);
    assert.deepEqual([...out.dims], [B, 4]);
    // Float64 reference from the model's weights.
    const [k1, b1, k2, b2] = model.getWeights() as [Float32Array, Float32Array, Float32Array, Float32Array];
    const ref: number[] = [];
    for (let b = 0; b < B; b++) {
      const h = Array.from({ length: 5 }, (_, o) => {
        let a = b1[o]!;
        for (let i = 0; i < F; i++) a += x[(b * T + 2) * F + i]! * k1[i * 5 + o]!;
        return REFERENCE.gelu(a);
      });
      for (let o = 0; o < 4; o++) {
        let a = b2[o]!;
        for (let i = 0; i < 5; i++) a += h[i]! * k2[i * 4 + o]!;
        ref.push(REFERENCE.swish(REFERENCE.relu6(REFERENCE.hardSigmoid(a))));
      }
    }
    assert.ok(maxDiff(out.data, ref) < 1e-5, `max |ort − float64| = ${maxDiff(out.data, ref)}`);
    const ours = tidy(() => model.predict({ data: x, shape: [B, T, F] }).dataSync());
    assert.ok(maxDiff(out.data, ours) < 1e-5, `max |ort − predict| = ${maxDiff(out.data, ours)}`);
  });

  for (const index of [-1, -3, 0]) {
    it(`GRU sequences (time-major in the graph) → selectTimestep(${index}) → dense relu6: equals predict()`, async () => {
      setSeed(12);
      const model = sequential([
        layers.gru({ units: 5, returnSequences: true, inputShape: [null, F] }),
        layers.selectTimestep({ index }),
        layers.dense({ units: 3, activation: 'relu6' }),
      ]);
      made.push(model);
      const file = path.join(tempDir('cdcgru-act-onnx-'), 'm.onnx');
      model.exportOnnx(file);
      const out = await runOrt(file, x, [B, T, F]);
      assert.deepEqual([...out.dims], [B, 3]);
      const ours = tidy(() => model.predict({ data: x, shape: [B, T, F] }).dataSync());
      assert.ok(maxDiff(out.data, ours) < 1e-5, `max |ort − predict| = ${maxDiff(out.data, ours)}`);
      // The selected step really is that one: the last state differs from an earlier step's.
      const all = tidy(() => {
        const seq = sequential([layers.gru({ units: 5, returnSequences: true, inputShape: [null, F] })]);
        seq.setWeights(model.getWeights().slice(0, 4));
        const r = (seq.predict({ data: x, shape: [B, T, F] }) as Tensor).dataSync();
        seq.dispose();
        return r;
      });
      const t = index < 0 ? T + index : index;
      const [kernel, bias] = model.getWeights().slice(4) as [Float32Array, Float32Array];
      const ref: number[] = [];
      for (let b = 0; b < B; b++) {
        for (let o = 0; o < 3; o++) {
          let a = bias[o]!;
          for (let i = 0; i < 5; i++) a += all[(b * T + t) * 5 + i]! * kernel[i * 3 + o]!;
          ref.push(REFERENCE.relu6(a));
        }
      }
      assert.ok(maxDiff(out.data, ref) < 1e-5, `max |ort − reference at step ${t}| = ${maxDiff(out.data, ref)}`);
    });
  }
});
