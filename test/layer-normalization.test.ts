// layers.layerNormalization against Keras 3 (test/fixtures/gen_layer_norm_fixtures.py: forward,
// and the gradients of Σ y·w for the input, gamma and beta), whole-model central differences,
// save/load, option checks and memory.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { layers, loadModel, memory, ops, optimizers, sequential, setSeed, tensor, tidy, type Sequential, type Tensor } from '../lib';
import { globalRng } from '../lib/random';
import { rand } from './io-helpers/reference';
import { checkModelGradients } from './support/grad-check';
import { disposeModelsAfterEach } from './support/models';
import { tempDir } from './support/temp-dir';

interface Case {
  name: string;
  shape: number[];
  options: { epsilon: number; center: boolean; scale: boolean };
  x: number[];
  weights: Record<string, number[]>;
  w: number[];
  y: number[];
  dx: number[];
  grads: Record<string, number[]>;
}
const fixtures = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures/layer_norm/cases.json'), 'utf8')) as { cases: Case[] };

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

describe('layers.layerNormalization', () => {
  const made = disposeModelsAfterEach();

  for (const c of fixtures.cases) {
    it(`matches Keras 3: ${c.name} (forward, d input, d gamma, d beta)`, () => {
      const layer = layers.layerNormalization({ inputShape: c.shape.slice(1), ...c.options });
      // Σ yTrue·yPred: the loss gradient w.r.t. the output is the fixture's weights w.
      const dot = (yTrue: Tensor, yPred: Tensor) => ops.sum(ops.mul(yTrue, yPred));
      const m = sequential([layer]);
      made.push(m);
      m.compile({ optimizer: 'sgd', loss: dot });
      m.setWeights(m.params.map((p) => Float32Array.from(c.weights[p.name.split('/')[1]!]!)));
      const x = { data: Float32Array.from(c.x), shape: c.shape };
      const y = m.predict(x) as Tensor;
      close(y.dataSync(), c.y, 1e-5, 'y');
      y.dispose();
      const { grads } = m.computeGradients(x, { data: Float32Array.from(c.w), shape: c.shape });
      m.params.forEach((p, i) => close(grads[i]!, c.grads[p.name.split('/')[1]!]!, 1e-4, `d ${p.name}`));
      tidy(() => {
        const out = layer.forward(tensor(Float32Array.from(c.x), c.shape), { training: true, lengths: null, rng: globalRng });
        close(out.dataSync(), c.y, 1e-5, 'forward');
        close(layer.backward(tensor(Float32Array.from(c.w), c.shape)).dataSync(), c.dx, 1e-4, 'dx');
      });
    });
  }

  it('whole-model gradients (dense → layerNormalization → dense, and on a sequence) agree with central differences', () => {
    let s = 17;
    const pick = () => ((s = (s * 1103515245 + 12345) % 2 ** 31), s / 2 ** 31);
    setSeed(4);
    const m = sequential([layers.dense({ units: 5, inputShape: [3] }), layers.layerNormalization({}), layers.dense({ units: 2 })]);
    made.push(m);
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    checkModelGradients(m, { data: rand(12, 61, 1.5), shape: [4, 3] }, { data: rand(8, 62, 1), shape: [4, 2] }, { samples: Infinity, pick });
    setSeed(5);
    const seq = sequential([layers.gru({ units: 4, returnSequences: true, inputShape: [3, 2] }), layers.layerNormalization({ center: false }), layers.timeDistributed({ layer: layers.dense({ units: 1 }) })]);
    made.push(seq);
    seq.compile({ optimizer: 'sgd', loss: 'mse' });
    checkModelGradients(seq, { data: rand(18, 63, 1), shape: [3, 3, 2] }, { data: rand(9, 64, 1), shape: [3, 3, 1] }, { samples: 6, pick });
  });

  it('trains, saves and loads (options and weights kept)', async () => {
    setSeed(6);
    const m = sequential([layers.dense({ units: 4, inputShape: [3] }), layers.layerNormalization({ epsilon: 1e-4, center: false }), layers.dense({ units: 1 })]);
    made.push(m);
    m.compile({ optimizer: optimizers.adam({ learningRate: 0.05 }), loss: 'mse' });
    const x = { data: rand(30, 71, 1), shape: [10, 3] }, y = { data: rand(10, 72, 1), shape: [10, 1] };
    const h = await m.fit(x, y, { epochs: 5, batchSize: 5, verbose: 0 });
    assert.ok(h.history.loss![4]! < h.history.loss![0]!);
    const dir = path.join(tempDir(), 'ln');
    m.save(dir);
    const back = loadModel(dir);
    made.push(back);
    const ln = back.layers[1] as InstanceType<typeof layers.LayerNormalization>;
    assert.ok(ln instanceof layers.LayerNormalization);
    assert.deepEqual([ln.epsilon, ln.center, ln.scale], [1e-4, false, true]);
    assert.deepEqual(back.params.map((p) => p.name.split('/')[1]), ['kernel', 'bias', 'gamma', 'kernel', 'bias']);
    const [p1, p2] = [m.predict(x) as Tensor, back.predict(x) as Tensor];
    assert.deepEqual(p2.dataSync(), p1.dataSync());
    p1.dispose();
    p2.dispose();
  });

  it('rows with a large mean (|mean| ≫ std: float32 rounding of the mean) normalise as in float64', () => {
    const [B, T, D, eps] = [2, 3, 16, 1e-6];
    const m = sequential([layers.layerNormalization({ inputShape: [T, D], epsilon: eps })]);
    made.push(m);
    for (const offset of [1e4, -1e6]) {
      const x = rand(B * T * D, 83, 1).map((v) => offset + v); // std ≈ 0.6, ulp(1e6) = 1/16
      const y = m.predict({ data: x, shape: [B, T, D] }) as Tensor;
      const want = new Float64Array(x.length);
      for (let r = 0; r < B * T; r++) {
        const row = Array.from(x.subarray(r * D, (r + 1) * D));
        const mean = row.reduce((a, v) => a + v, 0) / D;
        const sd = Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / D + eps);
        row.forEach((v, j) => (want[r * D + j] = (v - mean) / sd));
      }
      close(y.dataSync(), want, 1e-5, `offset ${offset}`);
      y.dispose();
    }
  });

  it('inference frees its intermediates', () => {
    setSeed(7);
    const m = sequential([layers.layerNormalization({ inputShape: [4] })]);
    made.push(m);
    const x = { data: rand(8, 81, 1), shape: [2, 4] };
    (m.predict(x) as Tensor).dispose();
    const before = memory().numTensors;
    (m.predict(x) as Tensor).dispose();
    assert.equal(memory().numTensors, before);
  });

  it('refuses unsupported options with reasons', () => {
    assert.throws(() => layers.layerNormalization({ axis: 1 }), /layerNormalization: 'axis' must be -1 \(the last axis; other axes are not implemented\), got number 1/);
    assert.throws(() => layers.layerNormalization({ epsilon: 0 }), /layerNormalization: 'epsilon' must be a positive number, got number 0/);
    assert.throws(() => layers.layerNormalization({ center: 1 as never }), /layerNormalization: 'center' must be true or false/);
    assert.throws(() => layers.layerNormalization({ rmsScaling: true } as never), /rmsScaling.*RMS scaling is not implemented/);
    assert.throws(() => layers.layerNormalization({ gammaRegularizer: 'l2' } as never), /regularizers are not implemented/);
    const m: Sequential = sequential([layers.layerNormalization({ inputShape: [null, 3] as never })]);
    made.push(m);
    assert.throws(() => m.predict({ data: rand(8, 1, 1), shape: [2, 4] }), /shape/);
  });
});
