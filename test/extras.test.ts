// Issue #13's extras: learningRateScheduler, predictAsync, and the forecasting/classification
// losses and metrics, each checked against a float64 re-implementation.
import assert from 'node:assert/strict';
import { callbacks, layers, memory, optimizers, sequential, setSeed } from '../lib';

let s = 7;
const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31), s / 2 ** 31);
function data(n: number, shape: number[], f: () => number = () => rnd() * 2 - 1) {
  const size = n * shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: size }, f), shape: [n, ...shape] };
}
function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}

describe('extras (issue #13)', function () {
  this.timeout(60000);
  let baseline: number;
  beforeEach(() => {
    baseline = memory().numTensors;
  });
  afterEach(() => {
    assert.equal(memory().numTensors, baseline, 'tensors leaked');
  });

  it('learningRateScheduler sets the rate each epoch: SGD updates are lr·grad (float64 reference)', async () => {
    setSeed(3);
    const n = 16;
    const F = 3;
    const x = data(n, [F]);
    const y = data(n, [1]);
    const m = sequential([layers.dense({ units: 1, inputShape: [F] })]);
    m.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'meanSquaredError' });
    const seen: Array<[number, number]> = [];
    const schedule = (epoch: number, lr: number) => {
      seen.push([epoch, lr]);
      return epoch === 0 ? lr : lr * 0.5 + 0.01 * epoch;
    };
    const weights: Float32Array[][] = [m.getWeights()];
    const h = await m.fit(x, y, {
      epochs: 4, batchSize: n, verbose: 0, shuffle: false,
      callbacks: [callbacks.learningRateScheduler(schedule), { onEpochEnd: () => { weights.push(m.getWeights()); } }],
    });
    // Keras passes the current rate in: each call sees the previous call's result.
    const rates = [0.1];
    for (let e = 1; e < 4; e++) rates.push(rates[e - 1]! * 0.5 + 0.01 * e);
    assert.deepEqual(seen.map(([e]) => e), [0, 1, 2, 3]);
    seen.forEach(([, lr], e) => close(lr, e === 0 ? 0.1 : rates[e - 1]!, 1e-7, `schedule input at epoch ${e}`));
    h.history.learning_rate!.forEach((lr, e) => close(lr, rates[e]!, 1e-7, `logged learning_rate ${e}`));
    for (let e = 0; e < 4; e++) {
      const [k, b] = weights[e]!.map((w) => Array.from(w, Number));
      const [k1, b1] = weights[e + 1]!;
      // MSE gradient in float64: g_i = 2 (x_i·k + b − y_i) / n; dk = Xᵀg, db = Σg.
      const dk = new Array<number>(F).fill(0);
      let db = 0;
      for (let i = 0; i < n; i++) {
        let p = b![0]!;
        for (let j = 0; j < F; j++) p += x.data[i * F + j]! * k![j]!;
        const g = (2 * (p - y.data[i]!)) / n;
        for (let j = 0; j < F; j++) dk[j]! += g * x.data[i * F + j]!;
        db += g;
      }
      for (let j = 0; j < F; j++) close(k1![j]!, k![j]! - rates[e]! * dk[j]!, 1e-5, `kernel[${j}] after epoch ${e}`);
      close(b1![0]!, b![0]! - rates[e]! * db, 1e-5, `bias after epoch ${e}`);
    }
    await assert.rejects(m.fit(x, y, { epochs: 1, verbose: 0, callbacks: [callbacks.learningRateScheduler(() => -1)] }), /learningRateScheduler: the schedule must return a positive finite number, got number -1 at epoch 0/);
    m.dispose();
    assert.throws(() => callbacks.learningRateScheduler(0.1 as never), /learningRateScheduler: argument 'schedule' must be a function/);
    assert.throws(() => callbacks.learningRateScheduler(() => 1, { verbose: 2 } as never), /learningRateScheduler: 'verbose' must be 0 or 1/);
  });
});
