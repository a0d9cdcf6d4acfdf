// fit/evaluate/trainOnBatch sampleWeight and classWeight with Keras 3 semantics: each sample's
// loss times its weight, summed and divided by the number of samples (rows), not by the weights'
// sum; masked timesteps multiply in; metrics stay unweighted. Checked against float64
// re-implementations of the forward pass, the loss and an SGD step.
import assert from 'node:assert/strict';
import { layers, optimizers, sequential, setSeed, tidy, type Sequential } from '../lib';
import { rand } from './io-helpers/reference';
import { disposeModelsAfterEach } from './support/models';

const N = 6, F = 3, C = 3;
const x = rand(N * F, 71, 1.5);
const labels = Int32Array.from([0, 2, 1, 2, 0, 1]);
const oneHot = Float32Array.from({ length: N * C }, (_, i) => (labels[Math.floor(i / C)] === i % C ? 1 : 0));
const sw = Float32Array.from([0.5, 2, 0, 1, 3, 1.5]);

/** Float64 softmax cross-entropy of dense(x) per sample, and its gradient w.r.t. kernel and bias for weights w. */
function reference(kernel: Float32Array, bias: Float32Array, w: ArrayLike<number>): { loss: number; dK: Float64Array; dB: Float64Array } {
  const dK = new Float64Array(F * C), dB = new Float64Array(C);
  let loss = 0;
  for (let i = 0; i < N; i++) {
    const z = Array.from({ length: C }, (_, c) => {
      let a = bias[c]!;
      for (let f = 0; f < F; f++) a += x[i * F + f]! * kernel[f * C + c]!;
      return a;
    });
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b);
    const p = e.map((v) => v / s);
    loss += (w[i]! * -Math.log(p[labels[i]!]!)) / N;
    for (let c = 0; c < C; c++) {
      const g = (w[i]! * (p[c]! - (labels[i] === c ? 1 : 0))) / N;
      dB[c] += g;
      for (let f = 0; f < F; f++) dK[f * C + c] += g * x[i * F + f]!;
    }
  }
  return { loss, dK, dB };
}

describe('sampleWeight and classWeight (Keras semantics)', () => {
  const made = disposeModelsAfterEach();

  function classifier(loss: 'categoricalCrossentropy' | 'sparseCategoricalCrossentropy' = 'categoricalCrossentropy', metrics: string[] = []): Sequential {
    setSeed(21);
    const m = sequential([layers.dense({ units: C, activation: 'softmax', inputShape: [F] })]);
    m.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss, metrics });
    made.push(m);
    return m;
  }
  const closeTo = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

  it('trainOnBatch: the loss is Σ wᵢ·lossᵢ / n and the SGD step follows the weighted gradient (float64 reference)', () => {
    const m = classifier();
    const [kernel, bias] = m.getWeights() as [Float32Array, Float32Array];
    const ref = reference(kernel, bias, sw);
    const loss = m.trainOnBatch({ data: x, shape: [N, F] }, { data: oneHot, shape: [N, C] }, { sampleWeight: Array.from(sw) }) as number;
    closeTo(loss, ref.loss, 1e-5, 'loss');
    // Not the weights' sum: that would be 8/6 times larger.
    assert.ok(Math.abs(loss - (ref.loss * N) / 8) > 1e-3);
    const [k2, b2] = m.getWeights() as [Float32Array, Float32Array];
    k2.forEach((v, i) => closeTo(v, kernel[i]! - 0.5 * ref.dK[i]!, 1e-5, `kernel[${i}]`));
    b2.forEach((v, i) => closeTo(v, bias[i]! - 0.5 * ref.dB[i]!, 1e-5, `bias[${i}]`));
  });

  it('classWeight equals the matching sampleWeight for one-hot, sparse and binary targets; classes not listed weigh 1', () => {
    const classWeight = { 0: 0.25, 2: 4 };
    const fromClasses = Array.from(labels, (c) => (c === 0 ? 0.25 : c === 2 ? 4 : 1));
    const targets: Array<['categoricalCrossentropy' | 'sparseCategoricalCrossentropy', { data: Float32Array | Int32Array; shape: number[] }]> = [
      ['categoricalCrossentropy', { data: oneHot, shape: [N, C] }],
      ['sparseCategoricalCrossentropy', { data: labels, shape: [N] }],
    ];
    for (const [loss, y] of targets) {
      const a = classifier(loss), b = classifier(loss);
      const la = a.trainOnBatch({ data: x, shape: [N, F] }, y, { classWeight });
      const lb = b.trainOnBatch({ data: x, shape: [N, F] }, y, { sampleWeight: fromClasses });
      assert.equal(la, lb, loss);
      assert.deepEqual(a.getWeights(), b.getWeights());
    }
    setSeed(5);
    const bin = sequential([layers.dense({ units: 1, activation: 'sigmoid', inputShape: [F] })]);
    bin.compile({ optimizer: 'sgd', loss: 'binaryCrossentropy' });
    made.push(bin);
    const yb = Float32Array.from(labels, (c) => (c === 2 ? 1 : 0));
    const ev = (opts: object) => bin.evaluate({ data: x, shape: [N, F] }, { data: yb, shape: [N, 1] }, opts as never).loss!;
    const withClasses = tidy(() => {
      const w = Array.from(yb, (v) => (v === 1 ? 3 : 1));
      return [ev({ sampleWeight: w }), bin.trainOnBatch({ data: x, shape: [N, F] }, { data: yb, shape: [N, 1] }, { classWeight: { 1: 3 } }) as number];
    });
    closeTo(withClasses[1]!, withClasses[0]!, 1e-6, 'binary classWeight');
  });

  it('fit: one full batch equals trainOnBatch; validationSplit weights val_loss with the last part of sampleWeight', async () => {
    const a = classifier(), b = classifier();
    const h = await a.fit({ data: x, shape: [N, F] }, { data: oneHot, shape: [N, C] }, { epochs: 1, batchSize: N, shuffle: false, verbose: 0, sampleWeight: { data: sw, shape: [N] } });
    const l = b.trainOnBatch({ data: x, shape: [N, F] }, { data: oneHot, shape: [N, C] }, { sampleWeight: sw }) as number;
    closeTo(h.history.loss![0]!, l, 1e-6, 'loss');
    assert.deepEqual(a.getWeights(), b.getWeights());
    const c = classifier();
    const hv = await c.fit({ data: x, shape: [N, F] }, { data: oneHot, shape: [N, C] }, { epochs: 1, batchSize: 2, shuffle: false, verbose: 0, validationSplit: 0.5, sampleWeight: sw });
    const val = c.evaluate({ data: x.slice(3 * F), shape: [3, F] }, { data: oneHot.slice(3 * C), shape: [3, C] }, { sampleWeight: sw.slice(3) });
    closeTo(hv.history.val_loss![0]!, val.loss!, 1e-6, 'val_loss');
    const unweighted = c.evaluate({ data: x.slice(3 * F), shape: [3, F] }, { data: oneHot.slice(3 * C), shape: [3, C] });
    assert.ok(Math.abs(unweighted.loss! - val.loss!) > 1e-3, 'the validation weights matter');
    // validationData takes a third element.
    const hd = await c.fit({ data: x, shape: [N, F] }, { data: oneHot, shape: [N, C] }, { epochs: 1, verbose: 0, validationData: [{ data: x, shape: [N, F] }, { data: oneHot, shape: [N, C] }, sw] });
    closeTo(hd.history.val_loss![0]!, c.evaluate({ data: x, shape: [N, F] }, { data: oneHot, shape: [N, C] }, { sampleWeight: sw }).loss!, 1e-6, 'validationData weights');
  });

  it('masked sequences: weights multiply the mask (Σ wᵦ·lossᵦₜ over valid steps / valid steps); metrics stay unweighted', () => {
    setSeed(8);
    const T = 4, B = 3;
    const m = sequential([layers.masking({ inputShape: [T, 2] }), layers.gru({ units: 3, returnSequences: true }), layers.timeDistributed({ layer: layers.dense({ units: 2 }) })]);
    m.compile({ optimizer: 'sgd', loss: 'mse', metrics: ['mae'] });
    made.push(m);
    const lengths = [4, 2, 3];
    const xs = rand(B * T * 2, 9, 1);
    for (let b = 0; b < B; b++) for (let t = lengths[b]!; t < T; t++) xs.fill(0, (b * T + t) * 2, (b * T + t + 1) * 2);
    const ys = rand(B * T * 2, 10, 1);
    const w = [2, 0.5, 1];
    const pred = tidy(() => m.predict({ data: xs, shape: [B, T, 2] }).dataSync());
    let valid = 0, sumSq = 0, sumAbs = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < lengths[b]!; t++) {
        valid++;
        let sq = 0, ab = 0;
        for (let f = 0; f < 2; f++) {
          const d = pred[(b * T + t) * 2 + f]! - ys[(b * T + t) * 2 + f]!;
          sq += (d * d) / 2;
          ab += Math.abs(d) / 2;
        }
        sumSq += w[b]! * sq;
        sumAbs += ab;
      }
    }
    const logs = m.evaluate({ data: xs, shape: [B, T, 2] }, { data: ys, shape: [B, T, 2] }, { sampleWeight: w });
    closeTo(logs.loss!, sumSq / valid, 1e-5, 'weighted masked loss');
    closeTo(logs.mae!, sumAbs / valid, 1e-5, 'unweighted masked mae');
    assert.throws(() => m.trainOnBatch({ data: xs, shape: [B, T, 2] }, { data: ys, shape: [B, T, 2] }, { classWeight: { 0: 1 } }), /trainOnBatch: classWeight needs one class per sample, and this model outputs \[4, 2\] per sample; pass sampleWeight instead/);
  });

  it('bad weights are errors naming the function and the argument', async () => {
    const m = classifier();
    const xd = { data: x, shape: [N, F] }, yd = { data: oneHot, shape: [N, C] };
    assert.throws(() => m.trainOnBatch(xd, yd, { sampleWeight: [1, 2] }), /^TypeError: trainOnBatch: sampleWeight must have shape \[6\] \(one weight per sample\), got \[2\]/);
    assert.throws(() => m.evaluate(xd, yd, { sampleWeight: [1, 1, -1, 1, 1, 1] }), /^TypeError: evaluate: sampleWeight must be non-negative, got -1 at sample 2/);
    assert.throws(() => m.evaluate(xd, yd, { sampleWeight: [1, 1, NaN, 1, 1, 1] }), /^TypeError: evaluate: sampleWeight contains NaN at sample 2/);
    assert.throws(() => m.evaluate(xd, yd, { sampleWeight: 'heavy' as never }), /^TypeError: evaluate: sampleWeight must be a Tensor, nested arrays of numbers or \{data, shape\}/);
    await assert.rejects(m.fit(xd, yd, { verbose: 0, sampleWeight: sw, classWeight: { 0: 2 } }), /^TypeError: fit: give sampleWeight or classWeight, not both/);
    await assert.rejects(m.fit(xd, yd, { verbose: 0, classWeight: { 3: 2 } }), /^TypeError: fit: classWeight key '3' is not a class index of this model \(0 … 2\)/);
    await assert.rejects(m.fit(xd, yd, { verbose: 0, classWeight: { 1: 'x' } as never }), /^TypeError: fit: classWeight\[1\] must be a non-negative number, got the string 'x'/);
    await assert.rejects(m.fit(xd, yd, { verbose: 0, classWeight: [1, 2] as never }), /^TypeError: fit: classWeight must be an object \{classIndex: weight\}/);
    await assert.rejects(m.fit(xd, yd, { verbose: 0, validationData: [xd, yd, [1]] }), /^TypeError: fit: validationData: sampleWeight must have shape \[6\]/);
  });
});
